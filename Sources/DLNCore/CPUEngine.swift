import Dispatch
import Foundation

/// The native engine: the same arithmetic as the OpenCL kernels, vectorised over the 16 replicas of a block
/// (`SIMD16`), multi-threaded over blocks. Replicas are independent, so a block runs all the steps between
/// two observations on its own, its state and data staying in cache.
public final class CPUEngine: Engine {
    // Concrete cases (not an existential) so that the optimiser specialises the hot loops for each type.
    private enum Storage {
        case float(CPUBatch<Float>)
        case double(CPUBatch<Double>)
    }
    private var impl: Storage?
    /// Worker threads (default: all cores).
    public let threads: Int

    /// A CPU engine using `threads` worker threads (nil: one per core).
    public init(threads: Int? = nil) {
        self.threads = max(1, threads ?? System.coreCount)
    }

    public var deviceDescription: String { "CPU engine (\(threads) thread\(threads == 1 ? "" : "s"), SIMD16 over replicas)" }

    public func initialize(_ batch: Batch) throws(DLNError) {
        switch batch.precision {
        case .float32: impl = .float(try CPUBatch<Float>(batch, threads: threads))
        case .float64: impl = .double(try CPUBatch<Double>(batch, threads: threads))
        }
    }

    public func step(count: Int) throws(DLNError) {
        switch impl {
        case .float(let b): b.step(count: count)
        case .double(let b): b.step(count: count)
        case nil: preconditionFailure("initialize the engine first")
        }
    }

    public func observe() throws(DLNError) -> Observation {
        switch impl {
        case .float(let b): return b.observe()
        case .double(let b): return b.observe()
        case nil: preconditionFailure("initialize the engine first")
        }
    }

    public func advance(to time: Double) throws(DLNError) {
        switch impl {
        case .float(let b): b.advance(to: time)
        case .double(let b): b.advance(to: time)
        case nil: preconditionFailure("initialize the engine first")
        }
    }

    public func flowCounters() throws(DLNError) -> FlowCounters {
        switch impl {
        case .float(let b): return b.flow.map { b.flowCounters(flow: $0) } ?? FlowCounters(replicas: b.layout.replicas)
        case .double(let b): return b.flow.map { b.flowCounters(flow: $0) } ?? FlowCounters(replicas: b.layout.replicas)
        case nil: preconditionFailure("initialize the engine first")
        }
    }

    public func state() throws(DLNError) -> EngineState {
        switch impl {
        case .float(let b): return b.state()
        case .double(let b): return b.state()
        case nil: preconditionFailure("initialize the engine first")
        }
    }
}

/// Host facts.
public enum System {
    /// Number of online cores.
    public static var coreCount: Int { max(1, ProcessInfo.processInfo.activeProcessorCount) }
}

/// Storage for one precision. All arrays use `Layout`; the loops below are the twins of Kernels/*.cl.
/// The arrays are raw allocations owned by this object: workers write disjoint blocks of them concurrently,
/// which Swift arrays (copy-on-write, exclusive access) do not allow.
final class CPUBatch<T: DLNReal>: @unchecked Sendable {  // blocks touch disjoint slices
    typealias V = SIMD16<T>
    let layout: Layout
    let model: Parameterization
    let update: UpdateRule
    let threads: Int
    let gradientScale: T
    let lossScale: T
    let layers: UnsafeMutablePointer<T>  // layers·coordinateCount
    let w: UnsafeMutablePointer<T>  // coordinateCount
    let r: UnsafeMutablePointer<T>  // sampleCount
    let x: UnsafeMutablePointer<T>  // data sets concatenated, n·d each, row-major
    let y: UnsafeMutablePointer<T>  // n each
    let eta: UnsafeMutablePointer<T>  // paddedReplicas (padding: 0)
    let lambda: UnsafeMutablePointer<T>
    let dataset: [Int]  // paddedReplicas (padding: the block's first replica's data set)
    let shared: [Int?]  // per block: the data set all 16 lanes use, if they share one
    /// Blocks whose lanes use different data sets get X and y interleaved over the lanes,
    /// X[i][j][lane] and y[i][lane], so that the 16 lanes load as one vector (independent data).
    let interleaved: [UnsafeMutablePointer<T>?]
    let initial: UnsafeMutablePointer<T>  // the initial layers (layers·coordinateCount), for the conservation laws
    let teacher: UnsafeMutablePointer<T>  // w* per data set (d each; 0 where unknown)
    let hasTeacher: [Bool]  // per data set
    let xTest: UnsafeMutablePointer<T>?  // held-out test sets, n_test·d each
    let yTest: UnsafeMutablePointer<T>?
    let testSamples: Int
    let observables: ObservableSet
    let designVariance: Double?
    let decayOf: @Sendable (Int) -> [Double]
    let decayAt: @Sendable ([Double]) -> [Double]
    var stepsTaken = 0
    /// The integrator (update flow) or the log representation's state; nil for the plain updates.
    var flow: FlowState<T>? = nil

    static func allocate(_ values: [T]) -> UnsafeMutablePointer<T> {
        let p = UnsafeMutablePointer<T>.allocate(capacity: max(1, values.count))
        p.initialize(from: values, count: values.count)
        return p
    }

    init(_ batch: Batch, threads: Int) throws(DLNError) {
        let lay = batch.layout
        layout = lay
        model = batch.parameterization
        update = batch.update
        self.threads = threads
        gradientScale = T(batch.gradientScale)
        lossScale = T(batch.lossScale)
        var packed: [T] = []
        for a in batch.initialLayers { packed += lay.pack(a.values(as: T.self), length: lay.dimension, fill: 0) }
        layers = Self.allocate(packed)
        initial = Self.allocate(packed)
        teacher = Self.allocate(batch.datasets.flatMap { ds in (ds.wStar ?? [Double](repeating: 0, count: lay.dimension)).map { T($0) } })
        hasTeacher = batch.datasets.map { $0.wStar != nil }
        testSamples = batch.testSamples
        xTest = testSamples > 0 ? Self.allocate(batch.datasets.flatMap { $0.test!.x.values(as: T.self) }) : nil
        yTest = testSamples > 0 ? Self.allocate(batch.datasets.flatMap { $0.test!.y.values(as: T.self) }) : nil
        observables = batch.observables
        designVariance = batch.designVariance
        decayOf = { [batch] steps in batch.decay(afterSteps: steps) }
        decayAt = { [batch] times in batch.decay(atTimes: times) }
        w = Self.allocate([T](repeating: 0, count: lay.coordinateCount))
        r = Self.allocate([T](repeating: 0, count: lay.sampleCount))
        x = Self.allocate(batch.datasets.flatMap { $0.x.values(as: T.self) })
        y = Self.allocate(batch.datasets.flatMap { $0.y.values(as: T.self) })
        var etas = [T](repeating: 0, count: lay.paddedReplicas), lambdas = etas
        var ds = [Int](repeating: 0, count: lay.paddedReplicas)
        for b in 0..<lay.paddedReplicas {
            if b < lay.replicas {
                etas[b] = T(batch.replicas[b].eta)
                lambdas[b] = T(batch.replicas[b].lambdaU)
                ds[b] = batch.replicas[b].dataset
            } else {
                ds[b] = batch.replicas[(b / Layout.lanes) * Layout.lanes].dataset
            }
        }
        eta = Self.allocate(etas)
        lambda = Self.allocate(lambdas)
        dataset = ds
        shared = (0..<lay.blocks).map { blk in
            let block = ds[(blk * Layout.lanes)..<((blk + 1) * Layout.lanes)]
            return block.allSatisfy { $0 == block.first! } ? block.first! : nil
        }
        let (n, d) = (lay.samples, lay.dimension)
        let (xs, ys, sharedBlocks) = (x, y, shared)
        interleaved = (0..<lay.blocks).map { blk -> UnsafeMutablePointer<T>? in
            guard sharedBlocks[blk] == nil else { return nil }
            let p = UnsafeMutablePointer<T>.allocate(capacity: (n * d + n) * Layout.lanes)
            for lane in 0..<Layout.lanes {
                let s = ds[blk * Layout.lanes + lane]
                for k in 0..<(n * d) { p[k * Layout.lanes + lane] = xs[s * n * d + k] }
                for i in 0..<n { p[(n * d + i) * Layout.lanes + lane] = ys[s * n + i] }
            }
            return p
        }
        forEachBlock { blk in self.computeWeights(block: blk) }
        if batch.update == .flow || batch.representation == .log {
            flow = try FlowState<T>(batch, layers: layers)
            flowMaterialize(flow: flow!, times: currentTimes)
        }
    }

    /// Each replica's time: its own with the adaptive integrator, steps·η otherwise.
    var currentTimes: [T] {
        if let fs = flow, fs.adaptive { return (0..<layout.paddedReplicas).map { fs.t[$0] } }
        return (0..<layout.paddedReplicas).map { T(Double(stepsTaken) * Double(eta[$0])) }
    }

    /// Advances an adaptive-flow batch to time t.
    func advance(to t: Double) {
        guard let fs = flow, fs.adaptive else { preconditionFailure("advance(to:) needs update flow") }
        flowAdvance(to: T(t), flow: fs)
    }

    deinit {
        for p in [layers, w, r, x, y, eta, lambda, initial, teacher] { p.deallocate() }
        xTest?.deallocate()
        yTest?.deallocate()
        for p in interleaved { p?.deallocate() }
    }

    /// Runs `body` on every block, spread over the worker threads.
    func forEachBlock(_ body: @Sendable (Int) -> Void) {
        let blocks = layout.blocks
        if threads == 1 || blocks == 1 {
            for blk in 0..<blocks { body(blk) }
            return
        }
        let workers = min(threads, blocks)
        DispatchQueue.concurrentPerform(iterations: workers) { t in
            var blk = t
            while blk < blocks { body(blk); blk += workers }
        }
    }

    func step(count: Int) {
        guard count > 0 else { return }
        if let fs = flow {
            precondition(!fs.adaptive, "update flow advances in time: use advance(to:)")
            flowEuler(count: count, flow: fs)
            stepsTaken += count
            return
        }
        let d = layout.dimension, depth = layout.layers
        forEachBlock { blk in
            let g = UnsafeMutablePointer<V>.allocate(capacity: d)
            let u = UnsafeMutablePointer<V>.allocate(capacity: depth)
            let next = UnsafeMutablePointer<V>.allocate(capacity: depth)
            defer { g.deallocate(); u.deallocate(); next.deallocate() }
            for _ in 0..<count {
                if self.shared[blk] == nil {
                    self.fusedProducts(block: blk, g: g)  // independent data: one pass over each replica's X
                } else {
                    self.residual(block: blk)
                    self.gradient(block: blk, g: g)
                }
                self.update(block: blk, g: g, u: u, next: next)
            }
        }
        stepsTaken += count
    }

    func observe() -> Observation {
        let K = observables.count
        let values = SharedSlots<Double>(count: K * layout.replicas)
        let decay: [T]
        if let fs = flow {
            let times = currentTimes
            flowMaterialize(flow: fs, times: times)
            decay = fs.adaptive ? decayAt(times.prefix(layout.replicas).map { Double($0) }).map { T($0) } : decayOf(stepsTaken).map { T($0) }
        } else {
            decay = decayOf(stepsTaken).map { T($0) }
        }
        let n = layout.samples
        forEachBlock { blk in
            self.residual(block: blk)
            var acc = V(repeating: 0)
            let base = blk * n * Layout.lanes
            for i in 0..<n {
                let ri = load(self.r, base + i * Layout.lanes)
                acc = acc.addingProduct(ri, ri)
            }
            acc = acc * V(repeating: self.lossScale)
            for lane in 0..<Layout.lanes where blk * Layout.lanes + lane < self.layout.replicas {
                let b = blk * Layout.lanes + lane
                values[b] = Double(acc[lane])
                let more = self.observables(replica: b, decay: decay[b])
                for k in 1..<K { values[k * self.layout.replicas + b] = Double(more[k - 1]) }
            }
        }
        let all = values.values
        let B = layout.replicas
        return Observation(names: observables.names, values: (0..<K).map { Array(all[($0 * B)..<(($0 + 1) * B)]) })
    }

    /// Every observable but the train loss, for one replica. Twin of `dln_observe` (observe.cl).
    func observables(replica b: Int, decay: T) -> [T] {
        let d = layout.dimension, stride = layout.coordinateCount, depth = layout.layers
        let s = dataset[b]
        let ws = teacher + s * d
        let thresholds = observables.thresholds.map { T($0) }
        let nt = thresholds.count
        var dist: T = 0, ov: T = 0, nrm: T = 0, l1: T = 0, muv: T = 0, mq: T = 0, dev: T = 0, scale: T = 0, nstar: T = 0
        var cnt = [T](repeating: 0, count: nt), tp = [T](repeating: 0, count: nt)
        for j in 0..<d {
            let o = Layout.index(replica: b, element: j, length: d)
            let wj = w[o], wsj = ws[j]
            let diff = wj - wsj
            dist = dist.addingProduct(diff, diff)
            ov = ov.addingProduct(wj, wsj)
            nrm = nrm.addingProduct(wj, wj)
            l1 = l1 + abs(wj)
            if model == .deep {
                let a = layers[o], a0 = initial[o]
                for l in 1..<depth {
                    let c = layers[l * stride + o] * layers[l * stride + o] - a * a
                    let c0 = initial[l * stride + o] * initial[l * stride + o] - a0 * a0
                    dev = T.maximum(dev, abs(c - c0 * decay))
                    scale = T.maximum(scale, abs(c0))
                }
            } else {
                let u = layers[o], v = layers[stride + o], u0 = initial[o], v0 = initial[stride + o]
                muv = muv.addingProduct(u, v)
                mq = mq + (u * u + v * v) * 0.5
                let c = model == .pm ? u * v : u * u - v * v
                let c0 = model == .pm ? u0 * v0 : u0 * u0 - v0 * v0
                dev = T.maximum(dev, abs(c - c0 * decay))
                scale = T.maximum(scale, abs(c0))
            }
            let star: T = wsj != 0 ? 1 : 0
            nstar = nstar + star
            for t in 0..<nt where abs(wj) > thresholds[t] {
                cnt[t] = cnt[t] + 1
                tp[t] = tp[t] + star
            }
        }
        let invD = T(1 / Double(d))
        let known = hasTeacher[s]
        var testError = T.nan
        if testSamples > 0, let xt = xTest, let yt = yTest {
            let nT = testSamples
            var sse: T = 0
            for i in 0..<nT {
                var acc: T = 0
                let row = xt + (s * nT + i) * d
                for j in 0..<d { acc = acc.addingProduct(row[j], w[Layout.index(replica: b, element: j, length: d)]) }
                let ri = acc - yt[s * nT + i]
                sse = sse.addingProduct(ri, ri)
            }
            testError = sse * T(1 / Double(nT))
        } else if known, let v = designVariance {
            testError = dist * T(v)
        }
        var out: [T] = [testError, known ? ov * invD : .nan, nrm * invD,
                        model == .deep ? .nan : muv * invD, model == .deep ? .nan : mq * invD,
                        l1, nrm.squareRoot(), known ? dist : .nan, scale > 0 ? dev / scale : dev]
        for t in 0..<nt {
            out.append(cnt[t])
            out.append(known ? (cnt[t] > 0 ? tp[t] / cnt[t] : 1) : .nan)
            out.append(known ? (nstar > 0 ? tp[t] / nstar : 1) : .nan)
        }
        return out
    }

    func state() -> EngineState {
        if let fs = flow { flowMaterialize(flow: fs, times: currentTimes) }
        let d = layout.dimension
        func wrap(_ p: UnsafeMutablePointer<T>, count: Int) -> RealArray {
            let a = layout.unpack(Array(UnsafeBufferPointer(start: p, count: count)), length: d)
            return T.self == Float.self ? .float(a as! [Float]) : .double(a as! [Double])
        }
        let ls = (0..<layout.layers).map { l in wrap(layers + l * layout.coordinateCount, count: layout.coordinateCount) }
        return EngineState(layers: ls, weights: wrap(w, count: layout.coordinateCount))
    }

    // MARK: the arithmetic (twins of Kernels/*.cl)

    /// r_i = (Σ_j X_ij·w_j, fused multiply-adds in ascending j) − y_i. Twin of `dln_residual`.
    func residual(block blk: Int) {
        let n = layout.samples, d = layout.dimension, L = Layout.lanes
        let wb = w + blk * d * L, rb = r + blk * n * L
        // X rows for this block: broadcast scalars (shared data) or lane vectors (interleaved data).
        let xs: UnsafeMutablePointer<T>, ys: UnsafeMutablePointer<T>, lanes: Bool
        if let s = shared[blk] { (xs, ys, lanes) = (x + s * n * d, y + s * n, false) } else {
            let xb = interleaved[blk]!
            (xs, ys, lanes) = (xb, xb + n * d * L, true)
        }
        let rowStride = lanes ? d * L : d
        @inline(__always) func xv(_ row: UnsafeMutablePointer<T>, _ j: Int) -> V { lanes ? load(row, j * L) : V(repeating: row[j]) }
        @inline(__always) func yv(_ i: Int) -> V { lanes ? load(ys, i * L) : V(repeating: ys[i]) }
        // Four rows at a time share each load of w[j]; every row still sums in ascending j.
        var i = 0
        while i + 4 <= n {
            let r0 = xs + i * rowStride, r1 = r0 + rowStride, r2 = r1 + rowStride, r3 = r2 + rowStride
            var a0 = V(repeating: 0), a1 = a0, a2 = a0, a3 = a0
            for j in 0..<d {
                let wj = load(wb, j * L)
                a0 = a0.addingProduct(xv(r0, j), wj)
                a1 = a1.addingProduct(xv(r1, j), wj)
                a2 = a2.addingProduct(xv(r2, j), wj)
                a3 = a3.addingProduct(xv(r3, j), wj)
            }
            store(a0 - yv(i), rb, i * L)
            store(a1 - yv(i + 1), rb, (i + 1) * L)
            store(a2 - yv(i + 2), rb, (i + 2) * L)
            store(a3 - yv(i + 3), rb, (i + 3) * L)
            i += 4
        }
        while i < n {
            let row = xs + i * rowStride
            var acc = V(repeating: 0)
            for j in 0..<d { acc = acc.addingProduct(xv(row, j), load(wb, j * L)) }
            store(acc - yv(i), rb, i * L)
            i += 1
        }
    }

    /// g_j = (Σ_i X_ij·r_i, fused multiply-adds in ascending i)·scale, then the layer update and w.
    /// Twins of `dln_gradient` and `dln_update`.
    func gradient(block blk: Int, g: UnsafeMutablePointer<V>) {
        let n = layout.samples, d = layout.dimension, L = Layout.lanes
        let rb = r + blk * n * L
        for j in 0..<d { g[j] = V(repeating: 0) }
        let xs: UnsafeMutablePointer<T>, lanes: Bool
        if let s = shared[blk] { (xs, lanes) = (x + s * n * d, false) } else { (xs, lanes) = (interleaved[blk]!, true) }
        let rowStride = lanes ? d * L : d
        @inline(__always) func xv(_ row: UnsafeMutablePointer<T>, _ j: Int) -> V { lanes ? load(row, j * L) : V(repeating: row[j]) }
        // Four rows at a time: each g[j] is loaded and stored once per four rows, still adding rows in ascending i.
        var i = 0
        while i + 4 <= n {
            let q0 = load(rb, i * L), q1 = load(rb, (i + 1) * L), q2 = load(rb, (i + 2) * L), q3 = load(rb, (i + 3) * L)
            let r0 = xs + i * rowStride, r1 = r0 + rowStride, r2 = r1 + rowStride, r3 = r2 + rowStride
            for j in 0..<d {
                var gj = g[j]
                gj = gj.addingProduct(xv(r0, j), q0)
                gj = gj.addingProduct(xv(r1, j), q1)
                gj = gj.addingProduct(xv(r2, j), q2)
                gj = gj.addingProduct(xv(r3, j), q3)
                g[j] = gj
            }
            i += 4
        }
        while i < n {
            let qi = load(rb, i * L)
            let row = xs + i * rowStride
            for j in 0..<d { g[j] = g[j].addingProduct(xv(row, j), qi) }
            i += 1
        }
    }

    /// Residual and gradient in one pass over the rows of lane-interleaved data: row i (16 lanes × d) is
    /// read from memory once, for r_i and then for g += X_i·r_i while it sits in L1. The sums keep their
    /// order (r_i over ascending j, each g_j over ascending i), so the result is bit-identical to the
    /// two-pass form; the traffic from memory halves.
    func fusedProducts(block blk: Int, g: UnsafeMutablePointer<V>) {
        let n = layout.samples, d = layout.dimension, L = Layout.lanes
        let wb = w + blk * d * L, rb = r + blk * n * L
        let xb = interleaved[blk]!, yb = xb + n * d * L
        for j in 0..<d { g[j] = V(repeating: 0) }
        for i in 0..<n {
            let row = xb + i * d * L
            var acc = V(repeating: 0)
            for j in 0..<d { acc = acc.addingProduct(load(row, j * L), load(wb, j * L)) }
            let ri = acc - load(yb, i * L)
            store(ri, rb, i * L)
            for j in 0..<d { g[j] = g[j].addingProduct(load(row, j * L), ri) }
        }
    }

    /// The layer update and w from the gradient sums g (scaled here). Twin of `dln_update`.
    func update(block blk: Int, g: UnsafeMutablePointer<V>, u: UnsafeMutablePointer<V>, next: UnsafeMutablePointer<V>) {
        let d = layout.dimension, L = Layout.lanes
        let scale = V(repeating: gradientScale)
        let etaV = load(eta, blk * L), lamV = load(lambda, blk * L)
        let stride = layout.coordinateCount
        let depth = layout.layers
        let lb = layers + blk * d * L, wb = w + blk * d * L
        for j in 0..<d {
            let gj = g[j] * scale
            let o = j * L
            switch (model, update) {
            case (.pm, .gd):
                // u ← u·(1 − η(g+λ)), v ← v·(1 + η(g−λ))
                let fu = V(repeating: 1) - etaV * (gj + lamV)
                let fv = V(repeating: 1) + etaV * (gj - lamV)
                let nu = load(lb, o) * fu, nv = load(lb, stride + o) * fv
                store(nu, lb, o); store(nv, lb, stride + o)
                store((nu * nu - nv * nv) * V(repeating: 0.5), wb, o)
            case (.pm, .multiplicative):
                // u ← u·exp(−η(g+λ)), v ← v·exp(η(g−λ))
                let a = etaV * (gj + lamV), c = etaV * (gj - lamV)
                var fu = V(repeating: 0), fv = V(repeating: 0)
                for lane in 0..<L {
                    fu[lane] = T.exponential(-a[lane])
                    fv[lane] = T.exponential(c[lane])
                }
                let nu = load(lb, o) * fu, nv = load(lb, stride + o) * fv
                store(nu, lb, o); store(nv, lb, stride + o)
                store((nu * nu - nv * nv) * V(repeating: 0.5), wb, o)
            case (.uv, _):
                // u ← u − η(g·v + λu), v ← v − η(g·u + λv), from the old u, v
                let ou = load(lb, o), ov = load(lb, stride + o)
                let nu = ou - etaV * (gj * ov + lamV * ou)
                let nv = ov - etaV * (gj * ou + lamV * ov)
                store(nu, lb, o); store(nv, lb, stride + o)
                store(nu * nv, wb, o)
            case (.deep, _):
                // u_l ← u_l − η(g·∏_{k≠l} u_k + λu_l), products in ascending k, from the old layers
                for l in 0..<depth { u[l] = load(lb, l * stride + o) }
                var prod = V(repeating: 0)
                for l in 0..<depth {
                    var p = V(repeating: 1)
                    var started = false
                    for k in 0..<depth where k != l {
                        p = started ? p * u[k] : u[k]
                        started = true
                    }
                    next[l] = u[l] - etaV * (gj * p + lamV * u[l])
                    store(next[l], lb, l * stride + o)
                    prod = l == 0 ? next[l] : prod * next[l]
                }
                store(prod, wb, o)
            case (.pm, _):
                preconditionFailure("unreachable")
            }
        }
    }

    /// w from the layers. Twin of `dln_weight` in update.cl.
    func computeWeights(block blk: Int) {
        let d = layout.dimension, L = Layout.lanes, stride = layout.coordinateCount
        let lb = layers + blk * d * L, wb = w + blk * d * L
        for j in 0..<d {
            let o = j * L
            let u0 = load(lb, o), u1 = load(lb, stride + o)
            switch model {
            case .pm: store((u0 * u0 - u1 * u1) * V(repeating: 0.5), wb, o)
            case .uv: store(u0 * u1, wb, o)
            case .deep:
                var p = u0
                for l in 1..<layout.layers { p = p * load(lb, l * stride + o) }
                store(p, wb, o)
            }
        }
    }
}

@inline(__always) func load<T: DLNReal>(_ p: UnsafeMutablePointer<T>, _ offset: Int) -> SIMD16<T> {
    UnsafeRawPointer(p + offset).loadUnaligned(as: SIMD16<T>.self)
}

@inline(__always) func store<T: DLNReal>(_ v: SIMD16<T>, _ p: UnsafeMutablePointer<T>, _ offset: Int) {
    UnsafeMutableRawPointer(p + offset).storeBytes(of: v, as: SIMD16<T>.self)
}
