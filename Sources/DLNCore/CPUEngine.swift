import Dispatch
import Foundation

/// The native engine: the same arithmetic as the OpenCL kernels, vectorised over the 16 replicas of a block
/// (`SIMD16`), multi-threaded over blocks. Replicas are independent, so a block runs all the steps between
/// two observations on its own, its state and data staying in cache.
public final class CPUEngine: Engine {
    private var impl: (any CPUBatchRunner)?
    /// Worker threads (default: all cores).
    public let threads: Int

    /// A CPU engine using `threads` worker threads (nil: one per core).
    public init(threads: Int? = nil) {
        self.threads = max(1, threads ?? System.coreCount)
    }

    public var deviceDescription: String { "CPU engine (\(threads) thread\(threads == 1 ? "" : "s"), SIMD16 over replicas)" }

    public func initialize(_ batch: Batch) throws(DLNError) {
        switch batch.precision {
        case .float32: impl = CPUBatch<Float>(batch, threads: threads)
        case .float64: impl = CPUBatch<Double>(batch, threads: threads)
        }
    }

    public func step(count: Int) throws(DLNError) {
        guard let impl else { preconditionFailure("initialize the engine first") }
        impl.step(count: count)
    }

    public func observe() throws(DLNError) -> Observation {
        guard let impl else { preconditionFailure("initialize the engine first") }
        return impl.observe()
    }

    public func state() throws(DLNError) -> EngineState {
        guard let impl else { preconditionFailure("initialize the engine first") }
        return impl.state()
    }
}

/// Host facts.
public enum System {
    /// Number of online cores.
    public static var coreCount: Int { max(1, ProcessInfo.processInfo.activeProcessorCount) }
}

protocol CPUBatchRunner: AnyObject {
    func step(count: Int)
    func observe() -> Observation
    func state() -> EngineState
}

/// Storage for one precision. All arrays use `Layout`; the loops below are the twins of Kernels/*.cl.
final class CPUBatch<T: DLNReal>: CPUBatchRunner, @unchecked Sendable {  // blocks touch disjoint slices
    typealias V = SIMD16<T>
    let layout: Layout
    let model: Parameterization
    let update: UpdateRule
    let threads: Int
    let gradientScale: T
    let lossScale: T
    var layers: [T]  // layers·coordinateCount
    var w: [T]  // coordinateCount
    var r: [T]  // sampleCount
    var x: [[T]]  // per data set, n·d row-major
    var y: [[T]]
    var eta: [T]  // paddedReplicas (padding: 0)
    var lambda: [T]
    var dataset: [Int]  // paddedReplicas (padding: the block's first replica's data set)

    init(_ batch: Batch, threads: Int) {
        let lay = batch.layout
        layout = lay
        model = batch.parameterization
        update = batch.update
        self.threads = threads
        gradientScale = T(batch.gradientScale)
        lossScale = T(batch.lossScale)
        layers = []
        for a in batch.initialLayers { layers += lay.pack(a.values(as: T.self), length: lay.dimension, fill: 0) }
        w = [T](repeating: 0, count: lay.coordinateCount)
        r = [T](repeating: 0, count: lay.sampleCount)
        x = batch.datasets.map { $0.x.values(as: T.self) }
        y = batch.datasets.map { $0.y.values(as: T.self) }
        eta = [T](repeating: 0, count: lay.paddedReplicas)
        lambda = [T](repeating: 0, count: lay.paddedReplicas)
        dataset = [Int](repeating: 0, count: lay.paddedReplicas)
        for b in 0..<lay.paddedReplicas {
            if b < lay.replicas {
                eta[b] = T(batch.replicas[b].eta)
                lambda[b] = T(batch.replicas[b].lambdaU)
                dataset[b] = batch.replicas[b].dataset
            } else {
                dataset[b] = batch.replicas[(b / Layout.lanes) * Layout.lanes].dataset
            }
        }
        forEachBlock { blk in self.computeWeights(block: blk) }
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
        forEachBlock { blk in
            var g = [V](repeating: V(repeating: 0), count: self.layout.dimension)
            var u = [V](repeating: V(repeating: 0), count: self.layout.layers)
            var next = u
            for _ in 0..<count {
                self.residual(block: blk)
                self.gradientAndUpdate(block: blk, g: &g, u: &u, next: &next)
            }
        }
    }

    func observe() -> Observation {
        let loss = SharedBuffer<Double>(count: layout.replicas)
        let n = layout.samples
        forEachBlock { blk in
            self.residual(block: blk)
            self.r.withUnsafeBufferPointer { rp in
                var acc = V(repeating: 0)
                let base = blk * n * Layout.lanes
                for i in 0..<n {
                    let ri = load(rp, base + i * Layout.lanes)
                    acc = acc.addingProduct(ri, ri)
                }
                acc = acc * V(repeating: self.lossScale)
                for lane in 0..<Layout.lanes where blk * Layout.lanes + lane < self.layout.replicas {
                    loss[blk * Layout.lanes + lane] = Double(acc[lane])
                }
            }
        }
        return Observation(trainLoss: loss.array)
    }

    func state() -> EngineState {
        let d = layout.dimension
        func wrap(_ a: [T]) -> RealArray { T.self == Float.self ? .float(a as! [Float]) : .double(a as! [Double]) }
        let ls = (0..<layout.layers).map { l in wrap(layout.unpack(layers, length: d, offset: l * layout.coordinateCount)) }
        return EngineState(layers: ls, weights: wrap(layout.unpack(w, length: d)))
    }

    // MARK: the arithmetic (twins of Kernels/*.cl)

    /// True when the 16 lanes of a block share one data set (then X is broadcast, not gathered).
    @inline(__always) func sharedData(_ blk: Int) -> Int? {
        let first = dataset[blk * Layout.lanes]
        for lane in 1..<Layout.lanes where dataset[blk * Layout.lanes + lane] != first { return nil }
        return first
    }

    /// r_i = (Σ_j X_ij·w_j, fused multiply-adds in ascending j) − y_i. Twin of `dln_residual`.
    func residual(block blk: Int) {
        let n = layout.samples, d = layout.dimension, L = Layout.lanes
        let wBase = blk * d * L, rBase = blk * n * L
        w.withUnsafeBufferPointer { wp in
            r.withUnsafeMutableBufferPointer { rp in
                if let s = sharedData(blk) {
                    x[s].withUnsafeBufferPointer { xp in
                        y[s].withUnsafeBufferPointer { yp in
                            for i in 0..<n {
                                var acc = V(repeating: 0)
                                let row = i * d
                                for j in 0..<d { acc = acc.addingProduct(V(repeating: xp[row + j]), load(wp, wBase + j * L)) }
                                store(acc - V(repeating: yp[i]), rp, rBase + i * L)
                            }
                        }
                    }
                } else {
                    for i in 0..<n {
                        var acc = V(repeating: 0)
                        var yv = V(repeating: 0)
                        for lane in 0..<L { yv[lane] = y[dataset[blk * L + lane]][i] }
                        for j in 0..<d {
                            var xv = V(repeating: 0)
                            for lane in 0..<L { xv[lane] = x[dataset[blk * L + lane]][i * d + j] }
                            acc = acc.addingProduct(xv, load(wp, wBase + j * L))
                        }
                        store(acc - yv, rp, rBase + i * L)
                    }
                }
            }
        }
    }

    /// g_j = (Σ_i X_ij·r_i, fused multiply-adds in ascending i)·scale, then the layer update and w.
    /// Twins of `dln_gradient` and `dln_update`.
    func gradientAndUpdate(block blk: Int, g: inout [V], u: inout [V], next: inout [V]) {
        let n = layout.samples, d = layout.dimension, L = Layout.lanes
        let wBase = blk * d * L, rBase = blk * n * L
        for j in 0..<d { g[j] = V(repeating: 0) }
        r.withUnsafeBufferPointer { rp in
            if let s = sharedData(blk) {
                x[s].withUnsafeBufferPointer { xp in
                    for i in 0..<n {
                        let ri = load(rp, rBase + i * L)
                        let row = i * d
                        for j in 0..<d { g[j] = g[j].addingProduct(V(repeating: xp[row + j]), ri) }
                    }
                }
            } else {
                for i in 0..<n {
                    let ri = load(rp, rBase + i * L)
                    for j in 0..<d {
                        var xv = V(repeating: 0)
                        for lane in 0..<L { xv[lane] = x[dataset[blk * L + lane]][i * d + j] }
                        g[j] = g[j].addingProduct(xv, ri)
                    }
                }
            }
        }
        let scale = V(repeating: gradientScale)
        let etaV = load(eta, blk * L), lamV = load(lambda, blk * L)
        let stride = layout.coordinateCount
        let depth = layout.layers
        let model = self.model, update = self.update
        layers.withUnsafeMutableBufferPointer { lp in
            w.withUnsafeMutableBufferPointer { wp in
                for j in 0..<d {
                    let gj = g[j] * scale
                    let o = wBase + j * L
                    for l in 0..<depth { u[l] = load(lp, l * stride + o) }
                    switch (model, update) {
                    case (.pm, .gd):
                        // u ← u·(1 − η(g+λ)), v ← v·(1 + η(g−λ))
                        let fu = V(repeating: 1) - etaV * (gj + lamV)
                        let fv = V(repeating: 1) + etaV * (gj - lamV)
                        u[0] = u[0] * fu
                        u[1] = u[1] * fv
                    case (.pm, .multiplicative):
                        // u ← u·exp(−η(g+λ)), v ← v·exp(η(g−λ))
                        let a = etaV * (gj + lamV), b = etaV * (gj - lamV)
                        var fu = V(repeating: 0), fv = V(repeating: 0)
                        for lane in 0..<L {
                            fu[lane] = T.exponential(-a[lane])
                            fv[lane] = T.exponential(b[lane])
                        }
                        u[0] = u[0] * fu
                        u[1] = u[1] * fv
                    case (.uv, _):
                        // u ← u − η(g·v + λu), v ← v − η(g·u + λv), from the old u, v
                        let nu = u[0] - etaV * (gj * u[1] + lamV * u[0])
                        let nv = u[1] - etaV * (gj * u[0] + lamV * u[1])
                        u[0] = nu
                        u[1] = nv
                    case (.deep, _):
                        // u_l ← u_l − η(g·∏_{k≠l} u_k + λu_l), products in ascending k, from the old layers
                        for l in 0..<depth {
                            var p = V(repeating: 1)
                            var started = false
                            for k in 0..<depth where k != l {
                                p = started ? p * u[k] : u[k]
                                started = true
                            }
                            next[l] = u[l] - etaV * (gj * p + lamV * u[l])
                        }
                        swap(&u, &next)
                    case (.pm, _):
                        preconditionFailure("unreachable")
                    }
                    for l in 0..<depth { store(u[l], lp, l * stride + o) }
                    storeRaw(Self.product(model, u), wp.baseAddress!, o)
                }
            }
        }
    }

    /// w from the layers. Twin of `dln_weight` in common.cl.
    @inline(__always) static func product(_ model: Parameterization, _ u: [V]) -> V {
        switch model {
        case .pm: return (u[0] * u[0] - u[1] * u[1]) * V(repeating: 0.5)
        case .uv: return u[0] * u[1]
        case .deep:
            var p = u[0]
            for l in 1..<u.count { p = p * u[l] }
            return p
        }
    }

    func computeWeights(block blk: Int) {
        let d = layout.dimension, L = Layout.lanes, stride = layout.coordinateCount
        layers.withUnsafeBufferPointer { lp in
            w.withUnsafeMutableBufferPointer { wp in
                for j in 0..<d {
                    let o = blk * d * L + j * L
                    let u = (0..<layout.layers).map { load(lp, $0 * stride + o) }
                    storeRaw(Self.product(model, u), wp.baseAddress!, o)
                }
            }
        }
    }
}

@inline(__always) func load<T: DLNReal>(_ p: UnsafeBufferPointer<T>, _ offset: Int) -> SIMD16<T> {
    UnsafeRawPointer(p.baseAddress! + offset).loadUnaligned(as: SIMD16<T>.self)
}

@inline(__always) func load<T: DLNReal>(_ p: UnsafeMutableBufferPointer<T>, _ offset: Int) -> SIMD16<T> {
    UnsafeRawPointer(p.baseAddress! + offset).loadUnaligned(as: SIMD16<T>.self)
}

@inline(__always) func load<T: DLNReal>(_ a: [T], _ offset: Int) -> SIMD16<T> {
    a.withUnsafeBufferPointer { load($0, offset) }
}

@inline(__always) func store<T: DLNReal>(_ v: SIMD16<T>, _ p: UnsafeMutableBufferPointer<T>, _ offset: Int) {
    UnsafeMutableRawPointer(p.baseAddress! + offset).storeBytes(of: v, as: SIMD16<T>.self)
}

@inline(__always) func storeRaw<T: DLNReal>(_ v: SIMD16<T>, _ p: UnsafeMutablePointer<T>, _ offset: Int) {
    UnsafeMutableRawPointer(p + offset).storeBytes(of: v, as: SIMD16<T>.self)
}

/// A fixed-size buffer that concurrent workers fill at disjoint indices.
final class SharedBuffer<T>: @unchecked Sendable {  // each index is written by one worker only
    private let pointer: UnsafeMutableBufferPointer<T>
    init(count: Int, fill: T) {
        pointer = .allocate(capacity: count)
        pointer.initialize(repeating: fill)
    }
    subscript(i: Int) -> T {
        get { pointer[i] }
        set { pointer[i] = newValue }
    }
    var array: [T] { Array(pointer) }
    deinit { pointer.deallocate() }
}

extension SharedBuffer where T: BinaryFloatingPoint {
    convenience init(count: Int) { self.init(count: count, fill: 0) }
}
