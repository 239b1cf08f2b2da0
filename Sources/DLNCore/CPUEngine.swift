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

    /// Replicas that fit in half of the machine's physical memory.
    public func replicaCapacity(_ batch: Batch) -> Int {
        let (per, shared) = batch.memoryFootprint
        let budget = Double(ProcessInfo.processInfo.physicalMemory) / 2 - Double(shared)
        return max(Layout.lanes, Int(budget / Double(per)))
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

    public func snapshot() throws(DLNError) -> EngineSnapshot {
        switch impl {
        case .float(let b): return b.snapshot()
        case .double(let b): return b.snapshot()
        case nil: preconditionFailure("initialize the engine first")
        }
    }

    public func restore(_ snapshot: EngineSnapshot, replicas: [Int]?) throws(DLNError) {
        switch impl {
        case .float(let b): try b.restore(snapshot, replicas: replicas)
        case .double(let b): try b.restore(snapshot, replicas: replicas)
        case nil: preconditionFailure("initialize the engine first")
        }
    }
}

/// One array of an engine's state as `EngineSnapshot` holds it: element k of replica b lives at `index(b, k)`
/// of the engine's own (laid-out) array.
public struct StateArray: Sendable {
    public let name: String
    public let width: Int
    public let integer: Bool
    /// Coordinate arrays: components × d values per replica in `Layout` order, component c at c·stride;
    /// nil: one value per replica at index b.
    @usableFromInline let coordinates: (components: Int, d: Int, stride: Int)?

    /// One value per replica (not a coordinate array).
    public var perReplica: Bool { coordinates == nil }

    /// The element of replica b, value k in the engine's array.
    public func index(_ b: Int, _ k: Int) -> Int {
        guard let c = coordinates else { return b }
        return (k / c.d) * c.stride + Layout.index(replica: b, element: k % c.d, length: c.d)
    }

    /// Elements of the engine's array that hold replicas 0..<B.
    public func extent(replicas B: Int) -> Int { index(B - 1, width - 1) + 1 }

    /// Replicas 0..<B of an engine array, replica-major (block by block, so the reads are contiguous).
    @inlinable public func gather<E>(_ src: UnsafePointer<E>, replicas B: Int, _ convert: (E) -> Double) -> [Double] {
        var out = [Double](repeating: 0, count: B * width)
        out.withUnsafeMutableBufferPointer { dst in visit(replicas: B) { i, o in dst[o] = convert(src[i]) } }
        return out
    }

    /// Writes replicas 0..<B (or only those listed) of replica-major values into an engine array (padding
    /// untouched).
    @inlinable public func scatter<E>(_ values: [Double], into dst: UnsafeMutablePointer<E>, replicas B: Int, only: [Int]? = nil,
                                      _ convert: (Double) -> E) {
        values.withUnsafeBufferPointer { src in
            guard let only else { visit(replicas: B) { i, o in dst[i] = convert(src[o]) }; return }
            for b in only { for k in 0..<width { dst[index(b, k)] = convert(src[b * width + k]) } }
        }
    }

    /// Calls body(engine index, snapshot index) for every element of replicas 0..<B.
    @inlinable @inline(__always) func visit(replicas B: Int, _ body: (Int, Int) -> Void) {
        guard let c = coordinates else {
            for b in 0..<B { body(b, b) }
            return
        }
        let L = Layout.lanes
        for blk in 0..<((B + L - 1) / L) {
            let lanes = min(L, B - blk * L)
            for comp in 0..<c.components {
                let base = comp * c.stride + blk * c.d * L
                for j in 0..<c.d {
                    let row = base + j * L, k = comp * c.d + j
                    for lane in 0..<lanes { body(row + lane, (blk * L + lane) * width + k) }
                }
            }
        }
    }

    /// The arrays of a batch's state, in snapshot order: the layers, w, and with the integrator or the log
    /// representation its state z (log), the first-same-as-last derivative and the per-replica controller state.
    public static func arrays(layout: Layout, flowComponents: Int?, log: Bool) -> [StateArray] {
        let d = layout.dimension, stride = layout.coordinateCount
        func coordinates(_ name: String, _ components: Int) -> StateArray {
            StateArray(name: name, width: components * d, integer: false, coordinates: (components, d, stride))
        }
        var out = [coordinates("layers", layout.layers), coordinates("w", 1)]
        if let comps = flowComponents {
            if log { out.append(coordinates("z", 1)) }
            out.append(coordinates("derivative", comps))
            for name in ["t", "hdes", "errprev", "frozen_at"] { out.append(StateArray(name: name, width: 1, integer: false, coordinates: nil)) }
            for name in ["last_rejected", "status", "evaluations", "rejected", "attempts"] {
                out.append(StateArray(name: name, width: 1, integer: true, coordinates: nil))
            }
        }
        return out
    }
}

extension CPUBatch {
    /// The state arrays paired with their storage.
    private var stateStorage: [(StateArray, UnsafeMutablePointer<T>?, UnsafeMutablePointer<Int32>?)] {
        let arrays = StateArray.arrays(layout: layout, flowComponents: flow?.components, log: flow?.log ?? false)
        var reals: [UnsafeMutablePointer<T>] = [layers, w]
        var ints: [UnsafeMutablePointer<Int32>] = []
        if let fs = flow {
            if fs.log { reals.append(fs.y) }
            reals += [fs.f, fs.t, fs.hdes, fs.errprev, fs.frozenAt]
            ints = [fs.lastRejected, fs.status, fs.evaluations, fs.rejected, fs.attempts]
        }
        var ri = 0, ii = 0
        return arrays.map { a in
            if a.integer { ii += 1; return (a, nil, ints[ii - 1]) }
            ri += 1
            return (a, reals[ri - 1], nil)
        }
    }

    func snapshot() -> EngineSnapshot {
        let B = layout.replicas
        let buffers = stateStorage.map { a, real, int in
            let values = real.map { p in a.gather(p, replicas: B) { Double($0) } } ?? a.gather(int!, replicas: B) { Double($0) }
            return EngineSnapshot.Buffer(name: a.name, width: a.width, integer: a.integer, values: values)
        }
        return EngineSnapshot(replicas: B, steps: stepsTaken, started: flow?.started ?? false, buffers: buffers)
    }

    func restore(_ s: EngineSnapshot, replicas only: [Int]?) throws(DLNError) {
        let storage = stateStorage
        try s.check(against: storage.map { ($0.0.name, $0.0.width) }, replicas: layout.replicas)
        for ((a, real, int), buffer) in zip(storage, s.buffers) {
            if let real { a.scatter(buffer.values, into: real, replicas: layout.replicas, only: only) { T($0) } }
            else { a.scatter(buffer.values, into: int!, replicas: layout.replicas, only: only) { Int32($0) } }
        }
        guard only == nil else { return }
        stepsTaken = s.steps
        flow?.started = s.started
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
    /// The Gram form: scale·XᵀX and scale·Xᵀy per data set (d·d + d each), and lane-interleaved per block with
    /// independent data; nil for the products form.
    let gramData: UnsafeMutablePointer<T>?
    let gramInterleaved: [UnsafeMutablePointer<T>?]

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
        gradientScale = batch.gradientForm == .gram ? 1 : T(batch.gradientScale)  // the Gram form carries the scale
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
        if batch.gradientForm == .gram {
            let slots = SharedSlots<[T]>(count: batch.datasets.count)
            DispatchQueue.concurrentPerform(iterations: batch.datasets.count) { k in
                let (g, c) = batch.gram(dataset: k)
                slots[k] = (g + c).map { T($0) }
            }
            let all = slots.values
            gramData = Self.allocate(all.flatMap { $0 })
            let size = d * d + d
            gramInterleaved = (0..<lay.blocks).map { blk -> UnsafeMutablePointer<T>? in
                guard sharedBlocks[blk] == nil else { return nil }
                let p = UnsafeMutablePointer<T>.allocate(capacity: size * Layout.lanes)
                for lane in 0..<Layout.lanes {
                    let src = all[ds[blk * Layout.lanes + lane]]
                    for k in 0..<size { p[k * Layout.lanes + lane] = src[k] }
                }
                return p
            }
        } else {
            gramData = nil
            gramInterleaved = Array(repeating: nil, count: lay.blocks)
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
        gramData?.deallocate()
        for p in gramInterleaved { p?.deallocate() }
    }

    /// The gradient sums of one block into g: the two products, or the Gram form.
    @inline(__always)
    func products(block blk: Int, g: UnsafeMutablePointer<V>) {
        if let gd = gramData {
            let d = layout.dimension
            if let s = shared[blk] {
                let base = gd + s * (d * d + d)
                matVec(block: blk, rows: d, matrix: base, targets: base + d * d, lanes: false, out: UnsafeMutableRawPointer(g).assumingMemoryBound(to: T.self))
            } else {
                let base = gramInterleaved[blk]!
                matVec(block: blk, rows: d, matrix: base, targets: base + d * d * Layout.lanes, lanes: true, out: UnsafeMutableRawPointer(g).assumingMemoryBound(to: T.self))
            }
        } else if shared[blk] == nil {
            fusedProducts(block: blk, g: g)  // independent data: one pass over each replica's X
        } else {
            residual(block: blk)
            gradient(block: blk, g: g)
        }
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
        // Work units: two neighbouring blocks that share one data set run together (32 replicas per tile: twice
        // the independent fma chains per load of X), every other block alone.
        // With enough blocks for every thread, four blocks share a tile (64 replicas).
        var units: [(Int, Int?)] = []
        var quads: Set<Int> = []
        let useQuads = gramData == nil && layout.blocks >= 8 * threads
        var blk = 0
        while blk < layout.blocks {
            if useQuads, blk + 3 < layout.blocks, let s = shared[blk], (1...3).allSatisfy({ self.shared[blk + $0] == s }) {
                quads.insert(units.count)
                units.append((blk, blk + 1)); blk += 4
            } else if gramData == nil, blk + 1 < layout.blocks, let s = shared[blk], shared[blk + 1] == s {
                units.append((blk, blk + 1)); blk += 2
            } else {
                units.append((blk, nil)); blk += 1
            }
        }
        let frozenQuads = quads
        let frozenUnits = units
        let workers = min(threads, units.count)
        let body: @Sendable (Int) -> Void = { k in
            let (a, b) = frozenUnits[k]
            let g = UnsafeMutablePointer<V>.allocate(capacity: 4 * d)
            let u = UnsafeMutablePointer<V>.allocate(capacity: depth)
            let next = UnsafeMutablePointer<V>.allocate(capacity: depth)
            defer { g.deallocate(); u.deallocate(); next.deallocate() }
            let quad = frozenQuads.contains(k)
            for _ in 0..<count {
                if quad {
                    self.quadProducts(a, g: g)
                    for q in 0..<4 { self.update(block: a + q, g: g + q * d, u: u, next: next) }
                } else if let b {
                    self.pairProducts(a, b, g: g, g2: g + d)
                    self.update(block: a, g: g, u: u, next: next)
                    self.update(block: b, g: g + d, u: u, next: next)
                } else {
                    self.products(block: a, g: g)
                    self.update(block: a, g: g, u: u, next: next)
                }
            }
        }
        if workers <= 1 {
            for k in 0..<units.count { body(k) }
        } else {
            DispatchQueue.concurrentPerform(iterations: workers) { t in
                var k = t
                while k < frozenUnits.count { body(k); k += workers }
            }
        }
        stepsTaken += count
    }

    /// The two products for four blocks that share a data set, four rows × 64 replicas at a time (16 accumulators):
    /// the same sums in the same order per replica as `residual` and `gradient`. g holds the four blocks' sums.
    func quadProducts(_ a: Int, g: UnsafeMutablePointer<V>) {
        let n = layout.samples, d = layout.dimension, L = Layout.lanes
        let s = shared[a]!
        let xs = x + s * n * d, ys = y + s * n
        let w0 = w + a * d * L, w1 = w0 + d * L, w2 = w1 + d * L, w3 = w2 + d * L
        let r0 = r + a * n * L, r1 = r0 + n * L, r2 = r1 + n * L, r3 = r2 + n * L
        let g0 = g, g1 = g + d, g2 = g + 2 * d, g3 = g + 3 * d
        var i = 0
        while i + 4 <= n {
            let x0 = xs + i * d, x1 = x0 + d, x2 = x1 + d, x3 = x2 + d
            let z = V(repeating: 0)
            var a00 = z, a01 = z, a02 = z, a03 = z, a10 = z, a11 = z, a12 = z, a13 = z
            var a20 = z, a21 = z, a22 = z, a23 = z, a30 = z, a31 = z, a32 = z, a33 = z
            for j in 0..<d {
                let v0 = load(w0, j * L), v1 = load(w1, j * L), v2 = load(w2, j * L), v3 = load(w3, j * L)
                let e0 = V(repeating: x0[j]), e1 = V(repeating: x1[j]), e2 = V(repeating: x2[j]), e3 = V(repeating: x3[j])
                a00 = a00.addingProduct(e0, v0); a01 = a01.addingProduct(e0, v1); a02 = a02.addingProduct(e0, v2); a03 = a03.addingProduct(e0, v3)
                a10 = a10.addingProduct(e1, v0); a11 = a11.addingProduct(e1, v1); a12 = a12.addingProduct(e1, v2); a13 = a13.addingProduct(e1, v3)
                a20 = a20.addingProduct(e2, v0); a21 = a21.addingProduct(e2, v1); a22 = a22.addingProduct(e2, v2); a23 = a23.addingProduct(e2, v3)
                a30 = a30.addingProduct(e3, v0); a31 = a31.addingProduct(e3, v1); a32 = a32.addingProduct(e3, v2); a33 = a33.addingProduct(e3, v3)
            }
            let y0 = V(repeating: ys[i]), y1 = V(repeating: ys[i + 1]), y2 = V(repeating: ys[i + 2]), y3 = V(repeating: ys[i + 3])
            store(a00 - y0, r0, i * L); store(a10 - y1, r0, (i + 1) * L); store(a20 - y2, r0, (i + 2) * L); store(a30 - y3, r0, (i + 3) * L)
            store(a01 - y0, r1, i * L); store(a11 - y1, r1, (i + 1) * L); store(a21 - y2, r1, (i + 2) * L); store(a31 - y3, r1, (i + 3) * L)
            store(a02 - y0, r2, i * L); store(a12 - y1, r2, (i + 1) * L); store(a22 - y2, r2, (i + 2) * L); store(a32 - y3, r2, (i + 3) * L)
            store(a03 - y0, r3, i * L); store(a13 - y1, r3, (i + 1) * L); store(a23 - y2, r3, (i + 2) * L); store(a33 - y3, r3, (i + 3) * L)
            i += 4
        }
        while i < n {
            let row = xs + i * d
            var c0 = V(repeating: 0), c1 = c0, c2 = c0, c3 = c0
            for j in 0..<d {
                let e = V(repeating: row[j])
                c0 = c0.addingProduct(e, load(w0, j * L)); c1 = c1.addingProduct(e, load(w1, j * L))
                c2 = c2.addingProduct(e, load(w2, j * L)); c3 = c3.addingProduct(e, load(w3, j * L))
            }
            let yi = V(repeating: ys[i])
            store(c0 - yi, r0, i * L); store(c1 - yi, r1, i * L); store(c2 - yi, r2, i * L); store(c3 - yi, r3, i * L)
            i += 1
        }
        for j in 0..<(4 * d) { g[j] = V(repeating: 0) }
        i = 0
        while i + 4 <= n {
            let q00 = load(r0, i * L), q10 = load(r0, (i + 1) * L), q20 = load(r0, (i + 2) * L), q30 = load(r0, (i + 3) * L)
            let q01 = load(r1, i * L), q11 = load(r1, (i + 1) * L), q21 = load(r1, (i + 2) * L), q31 = load(r1, (i + 3) * L)
            let q02 = load(r2, i * L), q12 = load(r2, (i + 1) * L), q22 = load(r2, (i + 2) * L), q32 = load(r2, (i + 3) * L)
            let q03 = load(r3, i * L), q13 = load(r3, (i + 1) * L), q23 = load(r3, (i + 2) * L), q33 = load(r3, (i + 3) * L)
            let x0 = xs + i * d, x1 = x0 + d, x2 = x1 + d, x3 = x2 + d
            for j in 0..<d {
                let e0 = V(repeating: x0[j]), e1 = V(repeating: x1[j]), e2 = V(repeating: x2[j]), e3 = V(repeating: x3[j])
                var h0 = g0[j], h1 = g1[j], h2 = g2[j], h3 = g3[j]
                h0 = h0.addingProduct(e0, q00); h1 = h1.addingProduct(e0, q01); h2 = h2.addingProduct(e0, q02); h3 = h3.addingProduct(e0, q03)
                h0 = h0.addingProduct(e1, q10); h1 = h1.addingProduct(e1, q11); h2 = h2.addingProduct(e1, q12); h3 = h3.addingProduct(e1, q13)
                h0 = h0.addingProduct(e2, q20); h1 = h1.addingProduct(e2, q21); h2 = h2.addingProduct(e2, q22); h3 = h3.addingProduct(e2, q23)
                h0 = h0.addingProduct(e3, q30); h1 = h1.addingProduct(e3, q31); h2 = h2.addingProduct(e3, q32); h3 = h3.addingProduct(e3, q33)
                g0[j] = h0; g1[j] = h1; g2[j] = h2; g3[j] = h3
            }
            i += 4
        }
        while i < n {
            let p0 = load(r0, i * L), p1 = load(r1, i * L), p2 = load(r2, i * L), p3 = load(r3, i * L)
            let row = xs + i * d
            for j in 0..<d {
                let e = V(repeating: row[j])
                g0[j] = g0[j].addingProduct(e, p0); g1[j] = g1[j].addingProduct(e, p1)
                g2[j] = g2[j].addingProduct(e, p2); g3[j] = g3[j].addingProduct(e, p3)
            }
            i += 1
        }
    }

    /// The two products for two blocks that share a data set, four rows × 32 replicas at a time: the same sums in
    /// the same order per replica as `residual` and `gradient` (twins of dln_residual and dln_gradient).
    func pairProducts(_ a: Int, _ b: Int, g: UnsafeMutablePointer<V>, g2: UnsafeMutablePointer<V>) {
        let n = layout.samples, d = layout.dimension, L = Layout.lanes
        let s = shared[a]!
        let xs = x + s * n * d, ys = y + s * n
        let wa = w + a * d * L, wb = w + b * d * L, ra = r + a * n * L, rb = r + b * n * L
        var i = 0
        while i + 6 <= n {
            let x0 = xs + i * d, x1 = x0 + d, x2 = x1 + d, x3 = x2 + d, x4 = x3 + d, x5 = x4 + d
            let z = V(repeating: 0)
            var a0 = z, a1 = z, a2 = z, a3 = z, a4 = z, a5 = z, c0 = z, c1 = z, c2 = z, c3 = z, c4 = z, c5 = z
            for j in 0..<d {
                let wj = load(wa, j * L), vj = load(wb, j * L)
                let e0 = V(repeating: x0[j]), e1 = V(repeating: x1[j]), e2 = V(repeating: x2[j])
                let e3 = V(repeating: x3[j]), e4 = V(repeating: x4[j]), e5 = V(repeating: x5[j])
                a0 = a0.addingProduct(e0, wj); c0 = c0.addingProduct(e0, vj)
                a1 = a1.addingProduct(e1, wj); c1 = c1.addingProduct(e1, vj)
                a2 = a2.addingProduct(e2, wj); c2 = c2.addingProduct(e2, vj)
                a3 = a3.addingProduct(e3, wj); c3 = c3.addingProduct(e3, vj)
                a4 = a4.addingProduct(e4, wj); c4 = c4.addingProduct(e4, vj)
                a5 = a5.addingProduct(e5, wj); c5 = c5.addingProduct(e5, vj)
            }
            let y0 = V(repeating: ys[i]), y1 = V(repeating: ys[i + 1]), y2 = V(repeating: ys[i + 2])
            let y3 = V(repeating: ys[i + 3]), y4 = V(repeating: ys[i + 4]), y5 = V(repeating: ys[i + 5])
            store(a0 - y0, ra, i * L); store(c0 - y0, rb, i * L)
            store(a1 - y1, ra, (i + 1) * L); store(c1 - y1, rb, (i + 1) * L)
            store(a2 - y2, ra, (i + 2) * L); store(c2 - y2, rb, (i + 2) * L)
            store(a3 - y3, ra, (i + 3) * L); store(c3 - y3, rb, (i + 3) * L)
            store(a4 - y4, ra, (i + 4) * L); store(c4 - y4, rb, (i + 4) * L)
            store(a5 - y5, ra, (i + 5) * L); store(c5 - y5, rb, (i + 5) * L)
            i += 6
        }
        while i + 4 <= n {
            let x0 = xs + i * d, x1 = x0 + d, x2 = x1 + d, x3 = x2 + d
            var a0 = V(repeating: 0), a1 = a0, a2 = a0, a3 = a0, c0 = a0, c1 = a0, c2 = a0, c3 = a0
            for j in 0..<d {
                let wj = load(wa, j * L), vj = load(wb, j * L)
                let e0 = V(repeating: x0[j]), e1 = V(repeating: x1[j]), e2 = V(repeating: x2[j]), e3 = V(repeating: x3[j])
                a0 = a0.addingProduct(e0, wj); c0 = c0.addingProduct(e0, vj)
                a1 = a1.addingProduct(e1, wj); c1 = c1.addingProduct(e1, vj)
                a2 = a2.addingProduct(e2, wj); c2 = c2.addingProduct(e2, vj)
                a3 = a3.addingProduct(e3, wj); c3 = c3.addingProduct(e3, vj)
            }
            let y0 = V(repeating: ys[i]), y1 = V(repeating: ys[i + 1]), y2 = V(repeating: ys[i + 2]), y3 = V(repeating: ys[i + 3])
            store(a0 - y0, ra, i * L); store(a1 - y1, ra, (i + 1) * L); store(a2 - y2, ra, (i + 2) * L); store(a3 - y3, ra, (i + 3) * L)
            store(c0 - y0, rb, i * L); store(c1 - y1, rb, (i + 1) * L); store(c2 - y2, rb, (i + 2) * L); store(c3 - y3, rb, (i + 3) * L)
            i += 4
        }
        while i < n {
            let row = xs + i * d
            var acc = V(repeating: 0), acc2 = V(repeating: 0)
            for j in 0..<d {
                let e = V(repeating: row[j])
                acc = acc.addingProduct(e, load(wa, j * L)); acc2 = acc2.addingProduct(e, load(wb, j * L))
            }
            store(acc - V(repeating: ys[i]), ra, i * L); store(acc2 - V(repeating: ys[i]), rb, i * L)
            i += 1
        }
        for j in 0..<d { g[j] = V(repeating: 0); g2[j] = V(repeating: 0) }
        i = 0
        while i + 6 <= n {
            let q0 = load(ra, i * L), q1 = load(ra, (i + 1) * L), q2 = load(ra, (i + 2) * L)
            let q3 = load(ra, (i + 3) * L), q4 = load(ra, (i + 4) * L), q5 = load(ra, (i + 5) * L)
            let p0 = load(rb, i * L), p1 = load(rb, (i + 1) * L), p2 = load(rb, (i + 2) * L)
            let p3 = load(rb, (i + 3) * L), p4 = load(rb, (i + 4) * L), p5 = load(rb, (i + 5) * L)
            let x0 = xs + i * d, x1 = x0 + d, x2 = x1 + d, x3 = x2 + d, x4 = x3 + d, x5 = x4 + d
            for j in 0..<d {
                let e0 = V(repeating: x0[j]), e1 = V(repeating: x1[j]), e2 = V(repeating: x2[j])
                let e3 = V(repeating: x3[j]), e4 = V(repeating: x4[j]), e5 = V(repeating: x5[j])
                var ga = g[j], gb = g2[j]
                ga = ga.addingProduct(e0, q0); gb = gb.addingProduct(e0, p0)
                ga = ga.addingProduct(e1, q1); gb = gb.addingProduct(e1, p1)
                ga = ga.addingProduct(e2, q2); gb = gb.addingProduct(e2, p2)
                ga = ga.addingProduct(e3, q3); gb = gb.addingProduct(e3, p3)
                ga = ga.addingProduct(e4, q4); gb = gb.addingProduct(e4, p4)
                ga = ga.addingProduct(e5, q5); gb = gb.addingProduct(e5, p5)
                g[j] = ga; g2[j] = gb
            }
            i += 6
        }
        while i + 4 <= n {
            let q0 = load(ra, i * L), q1 = load(ra, (i + 1) * L), q2 = load(ra, (i + 2) * L), q3 = load(ra, (i + 3) * L)
            let p0 = load(rb, i * L), p1 = load(rb, (i + 1) * L), p2 = load(rb, (i + 2) * L), p3 = load(rb, (i + 3) * L)
            let x0 = xs + i * d, x1 = x0 + d, x2 = x1 + d, x3 = x2 + d
            for j in 0..<d {
                let e0 = V(repeating: x0[j]), e1 = V(repeating: x1[j]), e2 = V(repeating: x2[j]), e3 = V(repeating: x3[j])
                var ga = g[j], gb = g2[j]
                ga = ga.addingProduct(e0, q0); gb = gb.addingProduct(e0, p0)
                ga = ga.addingProduct(e1, q1); gb = gb.addingProduct(e1, p1)
                ga = ga.addingProduct(e2, q2); gb = gb.addingProduct(e2, p2)
                ga = ga.addingProduct(e3, q3); gb = gb.addingProduct(e3, p3)
                g[j] = ga; g2[j] = gb
            }
            i += 4
        }
        while i < n {
            let qi = load(ra, i * L), pi = load(rb, i * L)
            let row = xs + i * d
            for j in 0..<d {
                let e = V(repeating: row[j])
                g[j] = g[j].addingProduct(e, qi); g2[j] = g2[j].addingProduct(e, pi)
            }
            i += 1
        }
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
        if let s = shared[blk] {
            matVec(block: blk, rows: n, matrix: x + s * n * d, targets: y + s * n, lanes: false, out: r + blk * n * L)
        } else {
            let xb = interleaved[blk]!
            matVec(block: blk, rows: n, matrix: xb, targets: xb + n * d * L, lanes: true, out: r + blk * n * L)
        }
    }

    /// out_i = (Σ_j M_ij·w_j, fused multiply-adds in ascending j) − t_i for `rows` rows of a d-column matrix M
    /// (broadcast, or lane-interleaved when `lanes`): the residual with (X, y), the Gram gradient with (Σ, b).
    /// Twin of `dln_residual` and `dln_residual_v16`.
    func matVec(block blk: Int, rows n: Int, matrix xs: UnsafeMutablePointer<T>, targets ys: UnsafeMutablePointer<T>,
                lanes: Bool, out rb: UnsafeMutablePointer<T>) {
        let d = layout.dimension, L = Layout.lanes
        let wb = w + blk * d * L
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
                    next[l] = u[l] - etaV * (gj * productExcept(depth, l) { u[$0] } + lamV * u[l])
                    store(next[l], lb, l * stride + o)
                    prod = l == 0 ? next[l] : prod * next[l]
                }
                store(prod, wb, o)
            case (.pm, _):
                preconditionFailure("unreachable")
            }
        }
    }

    /// ∏_{k≠l} u_k in ascending k (deep models). Twin of `dln_prod_except` in common.cl.
    @inline(__always)
    func productExcept(_ depth: Int, _ l: Int, _ u: (Int) -> V) -> V {
        var p = V(repeating: 1)
        var started = false
        for k in 0..<depth where k != l {
            p = started ? p * u(k) : u(k)
            started = true
        }
        return p
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

// MARK: gradient flow (Flow.swift), here so that the generic loops specialise with the rest of CPUBatch

extension CPUBatch {
    typealias Flow = FlowState<T>

    /// w of one block from a state vector at per-lane times τ. Twin of dln_flow_weights.
    func flowWeights(block blk: Int, state: UnsafeMutablePointer<T>, tau: V, flow fs: Flow) {
        let d = layout.dimension, L = Layout.lanes
        let base = blk * d * L
        if fs.log {
            let lam = load(lambda, blk * L)
            for j in 0..<d {
                let o = base + j * L
                let z = load(state, o), lb = load(fs.lnBeta, o)
                var out = V(repeating: 0)
                for lane in 0..<L { out[lane] = FlowMath.logWeight(z: z[lane], lnBeta: lb[lane], lambda: lam[lane], tau: tau[lane]) }
                store(out, w, o)
            }
        } else {
            let stride = layout.coordinateCount
            for j in 0..<d {
                let o = base + j * L
                let u0 = load(state, o), u1 = load(state, stride + o)
                switch model {
                case .pm: store((u0 * u0 - u1 * u1) * V(repeating: 0.5), w, o)
                case .uv: store(u0 * u1, w, o)
                case .deep:
                    var p = u0
                    for l in 1..<layout.layers { p = p * load(state, l * stride + o) }
                    store(p, w, o)
                }
            }
        }
    }

    /// F with ẏ = −F, from the state and the gradient sums. Log: F = g·scale. Layers: the gradient-descent
    /// direction: pm F_u = u(g+λ), F_v = v(λ−g); uv F_u = g·v + λu, F_v = g·u + λv; deep F_l = g·∏_{k≠l}u_k + λu_l.
    /// Twin of dln_flow_derivative.
    func flowDerivative(block blk: Int, state: UnsafeMutablePointer<T>, g: UnsafeMutablePointer<V>,
                        into out: UnsafeMutablePointer<T>, flow fs: Flow) {
        let d = layout.dimension, L = Layout.lanes, stride = layout.coordinateCount
        let base = blk * d * L
        let scale = V(repeating: gradientScale)
        let lam = load(lambda, blk * L)
        for j in 0..<d {
            let o = base + j * L
            let gj = g[j] * scale
            if fs.log { store(gj, out, o); continue }
            switch model {
            case .pm:
                store(load(state, o) * (gj + lam), out, o)
                store(load(state, stride + o) * (lam - gj), out, stride + o)
            case .uv:
                let u = load(state, o), v = load(state, stride + o)
                store(gj * v + lam * u, out, o)
                store(gj * u + lam * v, out, stride + o)
            case .deep:
                let depth = layout.layers
                for l in 0..<depth {
                    let p = productExcept(depth, l) { load(state, $0 * stride + o) }
                    store(gj * p + lam * load(state, l * stride + o), out, l * stride + o)
                }
            }
        }
    }

    /// One full derivative evaluation F(state, τ) of a block into `out`.
    func flowEvaluate(block blk: Int, state: UnsafeMutablePointer<T>, tau: V, into out: UnsafeMutablePointer<T>,
                      g: UnsafeMutablePointer<V>, flow fs: Flow) {
        flowWeights(block: blk, state: state, tau: tau, flow: fs)
        products(block: blk, g: g)
        flowDerivative(block: blk, state: state, g: g, into: out, flow: fs)
    }

    /// Per-lane Σ(x/(atol + rtol·|y|))² over a block's state, in ascending (component, coordinate).
    func flowNormSum(block blk: Int, _ x: UnsafeMutablePointer<T>, flow fs: Flow) -> V {
        let d = layout.dimension, L = Layout.lanes
        var acc = V(repeating: 0)
        for l in 0..<fs.components {
            for j in 0..<d {
                let o = l * fs.stride + blk * d * L + j * L
                let sc = V(repeating: fs.atol) + V(repeating: fs.rtol) * vabs(load(fs.y, o))
                let q = load(x, o) / sc
                acc = acc.addingProduct(q, q)
            }
        }
        return acc
    }

    /// F₁ = F(y₀, 0) and the first step of every replica. Twin of dln_flow_start.
    func flowStart(flow fs: Flow) {
        let L = Layout.lanes
        forEachBlock { blk in
            let g = UnsafeMutablePointer<V>.allocate(capacity: self.layout.dimension)
            defer { g.deallocate() }
            self.flowEvaluate(block: blk, state: fs.y, tau: V(repeating: 0), into: fs.f, g: g, flow: fs)
            let d0s = self.flowNormSum(block: blk, fs.y, flow: fs), d1s = self.flowNormSum(block: blk, fs.f, flow: fs)
            for lane in 0..<L {
                let b = blk * L + lane
                guard fs.status[b] == ReplicaStatus.ran.rawValue else { continue }
                let d0 = (d0s[lane] * fs.invM).squareRoot(), d1 = (d1s[lane] * fs.invM).squareRoot()
                var h: T = (d0 < T(1e-5) || d1 < T(1e-5)) ? T(1e-6) : (T(0.01) * d0) / d1
                if let h0 = fs.initialStep { h = h0 }
                if h > fs.hmax { h = fs.hmax }
                fs.hdes[b] = h
                fs.errprev[b] = T(1e-4)
                fs.evaluations[b] = 1
                if !(h > 0) { fs.status[b] = ReplicaStatus.nonFinite.rawValue; fs.frozenAt[b] = 0 }  // F(y₀) not finite
            }
        }
        fs.started = true
    }

    /// Advances every running replica to time `target` (exactly), each with its own steps.
    func flowAdvance(to target: T, flow fs: Flow) {
        if !fs.started { flowStart(flow: fs) }
        let d = layout.dimension, L = Layout.lanes, count = fs.components * fs.stride
        forEachBlock { blk in
            let g = UnsafeMutablePointer<V>.allocate(capacity: d)
            defer { g.deallocate() }
            while true {
                // Each lane's attempt: h = min(hdes, max_step, target − t); 0 for lanes that are done.
                var h = V(repeating: 0), tv = V(repeating: 0)
                var clamped = [Bool](repeating: false, count: L)
                var any = false
                for lane in 0..<L {
                    let b = blk * L + lane
                    tv[lane] = fs.t[b]
                    guard fs.status[b] == ReplicaStatus.ran.rawValue, fs.t[b] < target else { continue }
                    let rem = target - fs.t[b]
                    var hh = fs.hdes[b]
                    if hh > fs.hmax { hh = fs.hmax }
                    if !(hh < rem) { hh = rem; clamped[lane] = true }
                    h[lane] = hh
                    any = true
                }
                if !any { break }
                self.flowAttempt(block: blk, h: h, t: tv, g: g, flow: fs)
                // Error norm, controller, acceptance (twin of dln_flow_control).
                var sum = V(repeating: 0)
                for l in 0..<fs.components {
                    for j in 0..<d {
                        let o = l * fs.stride + blk * d * L + j * L
                        var acc = V(repeating: fs.e[0]) * load(fs.f, o)
                        for k in 1..<DormandPrince.stages { acc = acc + V(repeating: fs.e[k]) * load(fs.f, k * count + o) }
                        let err = h * acc
                        let ay = vabs(load(fs.y, o)), an = vabs(load(fs.ys, o))
                        let big = ay.replacing(with: an, where: an .> ay)
                        let sc = V(repeating: fs.atol) + V(repeating: fs.rtol) * big
                        let q = err / sc
                        sum = sum.addingProduct(q, q)
                    }
                }
                var accept = SIMDMask<SIMD16<T.SIMDMaskScalar>>(repeating: false)
                for lane in 0..<L {
                    let b = blk * L + lane
                    guard h[lane] > 0 else { continue }
                    fs.evaluations[b] &+= Int32(DormandPrince.evaluationsPerStep)
                    fs.attempts[b] &+= 1
                    let r = FlowMath.control(sum: sum[lane], invM: fs.invM, h: h[lane], hdes: fs.hdes[b], clamped: clamped[lane],
                                             errprev: fs.errprev[b], lastRejected: fs.lastRejected[b] != 0)
                    if r.accepted {
                        fs.t[b] = clamped[lane] ? target : fs.t[b] + h[lane]
                        accept[lane] = true
                    } else {
                        fs.rejected[b] &+= 1
                    }
                    fs.hdes[b] = r.hdes
                    fs.errprev[b] = r.errprev
                    fs.lastRejected[b] = r.rejected ? 1 : 0
                    if fs.t[b] < target {
                        if fs.attempts[b] >= fs.maxSteps {
                            fs.status[b] = ReplicaStatus.tooManySteps.rawValue; fs.frozenAt[b] = fs.t[b]
                        } else if r.hdes < FlowMath.floor(t: fs.t[b], minStep: fs.hmin) {
                            fs.status[b] = (r.finite ? ReplicaStatus.stepSizeCollapsed : .nonFinite).rawValue; fs.frozenAt[b] = fs.t[b]
                        }
                    }
                }
                // Accepted lanes take the new state, and F₇ becomes F₁ (first same as last).
                for l in 0..<fs.components {
                    for j in 0..<d {
                        let o = l * fs.stride + blk * d * L + j * L
                        store(load(fs.y, o).replacing(with: load(fs.ys, o), where: accept), fs.y, o)
                        store(load(fs.f, o).replacing(with: load(fs.f, 6 * count + o), where: accept), fs.f, o)
                    }
                }
            }
        }
    }

    /// Stages 2…7 of one attempted step of a block, lanes with h = 0 included (their results are dropped).
    /// Stage s: y_s = y − h·Σ_k a[s][k]·F_k, evaluated at τ = t + c_s·h. Twin of dln_flow_stage.
    func flowAttempt(block blk: Int, h: V, t: V, g: UnsafeMutablePointer<V>, flow fs: Flow) {
        let d = layout.dimension, L = Layout.lanes, count = fs.components * fs.stride
        for s in 1..<DormandPrince.stages {
            let row = fs.a[s]
            for l in 0..<fs.components {
                for j in 0..<d {
                    let o = l * fs.stride + blk * d * L + j * L
                    var acc = V(repeating: row[0]) * load(fs.f, o)
                    for k in 1..<s { acc = acc + V(repeating: row[k]) * load(fs.f, k * count + o) }
                    store(load(fs.y, o) - h * acc, fs.ys, o)
                }
            }
            let tau = t + V(repeating: fs.c[s]) * h
            flowEvaluate(block: blk, state: fs.ys, tau: tau, into: fs.f + s * count, g: g, flow: fs)
        }
    }

    /// `count` fixed steps y ← y − η·F(y, kη) in the log representation: the multiplicative update
    /// (ρ ← ρ − ηg, ln m exact). Twin of dln_flow_euler.
    func flowEuler(count: Int, flow fs: Flow) {
        let d = layout.dimension, L = Layout.lanes
        let first = stepsTaken
        forEachBlock { blk in
            let g = UnsafeMutablePointer<V>.allocate(capacity: d)
            defer { g.deallocate() }
            let etaV = load(self.eta, blk * L)
            for k in 0..<count {
                let tau = V(repeating: T(first + k)) * etaV
                self.flowEvaluate(block: blk, state: fs.y, tau: tau, into: fs.f, g: g, flow: fs)
                for j in 0..<d {
                    let o = blk * d * L + j * L
                    store(load(fs.y, o) - etaV * load(fs.f, o), fs.y, o)
                }
            }
            for lane in 0..<L where fs.status[blk * L + lane] == ReplicaStatus.ran.rawValue { fs.evaluations[blk * L + lane] &+= Int32(clamping: count) }
        }
    }

    /// Layers and w from the state at the replicas' current times (before observing or reading the state).
    /// Log: u, v rebuilt as pm u = s₀e^{h+z−λt}, v = s₁e^{h−z−λt}; uv p = u+v, q = u−v the same way.
    /// Twin of dln_flow_layers.
    func flowMaterialize(flow fs: Flow, times: [T]) {
        let d = layout.dimension, L = Layout.lanes, stride = layout.coordinateCount
        forEachBlock { blk in
            var tv = V(repeating: 0)
            for lane in 0..<L { tv[lane] = times[blk * L + lane] }
            self.flowWeights(block: blk, state: fs.y, tau: tv, flow: fs)
            guard fs.log else { return }
            let lt = load(self.lambda, blk * L) * tv
            for j in 0..<d {
                let o = blk * d * L + j * L
                let z = load(fs.y, o), hl = load(fs.lnHalf, o)
                var eu = V(repeating: 0), ev = V(repeating: 0)
                let xu = (hl + z) - lt, xv = (hl - z) - lt
                for lane in 0..<L { eu[lane] = T.exponential(xu[lane]); ev[lane] = T.exponential(xv[lane]) }
                let p = load(fs.sign0, o) * eu, q = load(fs.sign1, o) * ev
                if self.model == .pm {
                    store(p, self.layers, o); store(q, self.layers, stride + o)
                } else {
                    store((p + q) * V(repeating: 0.5), self.layers, o); store((p - q) * V(repeating: 0.5), self.layers, stride + o)
                }
            }
        }
    }

    /// The integrator's counters, per replica.
    func flowCounters(flow fs: Flow) -> FlowCounters {
        var out = FlowCounters(replicas: layout.replicas)
        for b in 0..<layout.replicas {
            out.evaluations[b] = Int(fs.evaluations[b])
            out.rejected[b] = Int(fs.rejected[b])
            out.status[b] = Int(fs.status[b])
            out.frozenAt[b] = Double(fs.frozenAt[b])
        }
        return out
    }
}

/// |x| per lane (sign bit cleared, as fabs).
@inline(__always) func vabs<T: DLNReal>(_ x: SIMD16<T>) -> SIMD16<T> {
    var r = x
    for i in 0..<16 { r[i] = Swift.abs(x[i]) }
    return r
}
