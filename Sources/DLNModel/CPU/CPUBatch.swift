import Dispatch
import Foundation

/// Storage for one precision. All arrays use `Layout`; the loops below are the twins of Kernels/*.cl.
/// The arrays are raw allocations owned by this object: workers write disjoint blocks of them concurrently,
/// which Swift arrays (copy-on-write, exclusive access) do not allow.
final class CPUBatch<T: DLNReal>: @unchecked Sendable {  // blocks touch disjoint slices
    typealias V = SIMD16<T>
    let layout: Layout
    let model: Parameterization
    let update: UpdateRule
    /// The family's per-coordinate arithmetic (Families/), bound for this batch's parameterization and update.
    let family: FamilyOps<T>
    let threads: Int
    let gradientScale: T
    /// The loss's scale of its gradient, 1/n or 1, also in the Gram form (the curvature observables use X).
    let dataScale: T
    let lossScale: T
    let layers: UnsafeMutablePointer<T>  // layers·coordinateCount
    let w: UnsafeMutablePointer<T>  // coordinateCount
    let r: UnsafeMutablePointer<T>  // sampleCount
    let x: UnsafeMutablePointer<T>  // data sets concatenated, n·d each, row-major
    let y: UnsafeMutablePointer<T>  // n each
    let eta: UnsafeMutablePointer<T>  // paddedReplicas (padding: 0)
    let lambda: UnsafeMutablePointer<T>
    /// The learning-rate schedule: step k multiplies η by `rateFactor(step: k)`.
    let schedule: LearningRateSchedule
    let dataset: [Int]  // paddedReplicas (padding: the block's first replica's data set)
    let shared: [Int?]  // per block: the data set all 16 lanes use, if they share one
    /// Blocks whose lanes use different data sets get X and y interleaved over the lanes,
    /// X[i][j][lane] and y[i][lane], so that the 16 lanes load as one vector (independent data).
    let interleaved: [UnsafeMutablePointer<T>?]
    /// Per data set that a whole block shares, its packed panels (CPU/Products.swift, `SharedPanels`); nil for the
    /// others.
    let panels: [SharedPanels<T>?]
    let initial: UnsafeMutablePointer<T>  // the initial layers (layers·coordinateCount), for the conservation laws
    let teacher: UnsafeMutablePointer<T>  // w* per data set (d each; 0 where unknown)
    let hasTeacher: [Bool]  // per data set
    let xTest: UnsafeMutablePointer<T>?  // held-out test sets, n_test·d each
    let yTest: UnsafeMutablePointer<T>?
    let testSamples: Int
    let observables: ObservableSet
    let designVariance: Double?
    let inverseAlphaSquared: [T]  // per replica, for the effective_scale_sq observables
    let decayOf: @Sendable (Int) -> [Double]
    let decayAt: @Sendable ([Double]) -> [Double]
    var stepsTaken = 0
    /// The integrator (update flow) or the log representation's state; nil for the plain updates.
    var flow: FlowState<T>? = nil
    /// The stochastic steps' scalars and scratch (CPU/Stochastic.swift); nil for deterministic steps.
    let stochastic: StochasticState<T>?
    /// The momentum buffers (CPU/Momentum.swift); nil without momentum.
    let momentum: MomentumState<T>?
    /// The Gram form: scale·XᵀX and scale·Xᵀy per data set (d·d + d each), and lane-interleaved per block with
    /// independent data; nil for the products form.
    let gramData: UnsafeMutablePointer<T>?
    let gramInterleaved: [UnsafeMutablePointer<T>?]
    /// Independent data stepped one replica at a time (CPU/ReplicaSteps.swift): the per-data-set copies, built on
    /// first use; nil where every block shares its data.
    let replicaData: ReplicaData<T>?
    /// The data sets (both copies, bytes) stepped one replica at a time: replicaMinBytes...replicaBytes
    /// (`CPUTuning`); others stream lane-interleaved.
    let replicaMinBytes: Int
    let replicaBytes: Int
    /// Shared data: blocks per tile, `CPUTuning.tileBlocks` (4 only with enough blocks, else 2).
    let tileBlocks: Int
    /// The strided summation order (`SummationOrder.strided`): every block steps one replica at a time, from one
    /// row-major copy of its data set (CPU/ReplicaSteps.swift).
    let strided: Bool
    /// The hot loops compiled for the instruction set in use (CPU/VectorCode.swift).
    let kernels: any VectorKernels.Type
    /// Whether T is Double (the loops' precision flag).
    var isDouble: Bool { T.self == Double.self }

    /// s_k rounded once to T: step k uses η·s_k in T (`eta[b] * factor`, as the kernels do).
    @inline(__always)
    func rateFactor(step k: Int) -> T { T(schedule.factor(step: k)) }

    /// √s_k rounded once to T: the Langevin noise of step k is (√(2ηT) in T)·√s_k·ξ.
    @inline(__always)
    func noiseFactor(step k: Int) -> T { T(schedule.factor(step: k).squareRoot()) }

    static func allocate(_ values: [T]) -> UnsafeMutablePointer<T> {
        let p = UnsafeMutablePointer<T>.allocate(capacity: max(1, values.count))
        p.initialize(from: values, count: values.count)
        return p
    }

    @_specialize(where T == Float)
    @_specialize(where T == Double)
    init(_ batch: Batch, threads: Int, tuning: CPUTuning? = nil, isa: VectorISA = .current) throws(DLNError) {
        kernels = isa.kernels
        let lay = batch.layout
        layout = lay
        model = batch.parameterization
        update = batch.update
        family = FamilyOps<T>(batch.parameterization, update: batch.update)
        self.threads = threads
        gradientScale = batch.gradientForm == .gram ? 1 : T(batch.gradientScale)  // the Gram form carries the scale
        lossScale = T(batch.lossScale)
        dataScale = T(batch.gradientScale)
        var packed: [T] = []
        for a in batch.initialLayers { packed += lay.pack(a.values(as: T.self), length: lay.dimension, fill: 0) }
        layers = Self.allocate(packed)
        initial = Self.allocate(packed)
        teacher = Self.allocate(
            batch.datasets.flatMap { ds in (ds.wStar ?? [Double](repeating: 0, count: lay.dimension)).map { T($0) } })
        hasTeacher = batch.datasets.map { $0.wStar != nil }
        testSamples = batch.testSamples
        xTest = testSamples > 0 ? Self.allocate(batch.datasets.flatMap { $0.test!.x.values(as: T.self) }) : nil
        yTest = testSamples > 0 ? Self.allocate(batch.datasets.flatMap { $0.test!.y.values(as: T.self) }) : nil
        observables = batch.observables
        designVariance = batch.designVariance
        inverseAlphaSquared = batch.inverseAlphaSquared.map { T($0) }
        decayOf = { [batch] steps in batch.decay(afterSteps: steps) }
        decayAt = { [batch] times in batch.decay(atTimes: times) }
        w = Self.allocate([T](repeating: 0, count: lay.coordinateCount))
        r = Self.allocate([T](repeating: 0, count: lay.sampleCount))
        x = Self.allocate(batch.datasets.flatMap { $0.x.values(as: T.self) })
        y = Self.allocate(batch.datasets.flatMap { $0.y.values(as: T.self) })
        var etas = [T](repeating: 0, count: lay.paddedReplicas)
        var lambdas = etas
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
        schedule = batch.schedule
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
        let sharedSets = Set(sharedBlocks.compactMap { $0 })
        let gramForm = batch.gradientForm == .gram
        panels = (0..<batch.datasets.count).map { s in
            sharedSets.contains(s) ? SharedPanels<T>(x: xs + s * n * d, n: n, d: d, columns: !gramForm) : nil
        }
        if gramForm {
            let slots = SharedSlots<[T]>(count: batch.datasets.count)
            DispatchQueue.concurrentPerform(iterations: batch.datasets.count) { k in
                let (g, c) = batch.gram(dataset: k)
                slots[k] = (g + c).map { T($0) }
            }
            let all = slots.values
            let gd = Self.allocate(all.flatMap { $0 })
            gramData = gd
            for s in sharedSets { panels[s]!.packGram(gd + s * (d * d + d), d: d) }
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
        strided = batch.summation == .strided
        replicaData =
            shared.contains(nil) || strided
            ? ReplicaData<T>(samples: batch.gradientForm == .gram ? d : n, dimension: d, strided: strided) : nil
        // The tuning in force only where it decides something: independent data, or shared blocks that could share a
        // tile (`step`: two blocks or more). Without it such blocks ran in pairs, the built-in default, whatever the
        // calibration found: at B = 64 and 128 on a Zen 3 core (where singles are faster) 0.6× the rate of B ≥ 256.
        let needed = replicaData != nil || (gramData == nil && lay.blocks >= 2 && shared.contains { $0 != nil })
        let tune = tuning ?? (needed ? .current : CPUTuning(replicaBytes: 0))
        (replicaMinBytes, replicaBytes) = (tune.replicaMinBytes, tune.replicaBytes)
        tileBlocks = tune.tileBlocks
        stochastic = batch.isStochastic ? StochasticState<T>(batch) : nil
        momentum = batch.hasMomentum ? MomentumState<T>(batch) : nil
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
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    func advance(to t: Double) {
        guard let fs = flow, fs.adaptive else { preconditionFailure("advance(to:) needs update flow") }
        flowAdvance(to: T(t), flow: fs)
    }

    /// `advance(to:)` in pieces of about 50 ms of work, asking `stop` between them; false when it stopped.
    func advance(to t: Double, stoppingIf stop: () -> Bool) -> Bool {
        guard let fs = flow, fs.adaptive else { preconditionFailure("advance(to:) needs update flow") }
        while !flowAdvance(to: T(t), flow: fs, deadline: DispatchTime.now().uptimeNanoseconds + 50_000_000) {
            if stop() { return false }
        }
        return true
    }

    deinit {
        for p in [layers, w, r, x, y, eta, lambda, initial, teacher] { p.deallocate() }
        xTest?.deallocate()
        yTest?.deallocate()
        for p in interleaved { p?.deallocate() }
        gramData?.deallocate()
        for p in gramInterleaved { p?.deallocate() }
    }

    /// Runs `body` on every block, spread over the worker threads.
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    func forEachBlock(_ body: @Sendable (Int) -> Void) {
        let blocks = layout.blocks
        if threads == 1 || blocks == 1 {
            for blk in 0..<blocks { body(blk) }
            return
        }
        let workers = min(threads, blocks)
        DispatchQueue.concurrentPerform(iterations: workers) { t in
            var blk = t
            while blk < blocks {
                body(blk)
                blk += workers
            }
        }
    }

    @_specialize(where T == Float)
    @_specialize(where T == Double)
    func state() -> EngineState {
        if let fs = flow { flowMaterialize(flow: fs, times: currentTimes) }
        let d = layout.dimension
        func wrap(_ p: UnsafeMutablePointer<T>, count: Int) -> RealArray {
            let a = layout.unpack(Array(UnsafeBufferPointer(start: p, count: count)), length: d)
            return T.self == Float.self ? .float(a as! [Float]) : .double(a as! [Double])
        }
        let ls = (0..<layout.layers).map { l in wrap(layers + l * layout.coordinateCount, count: layout.coordinateCount)
        }
        return EngineState(layers: ls, weights: wrap(w, count: layout.coordinateCount))
    }
}

@_specialize(where T == Float)
@_specialize(where T == Double)
@inline(__always) func load<T: DLNReal>(_ p: UnsafeMutablePointer<T>, _ offset: Int) -> SIMD16<T> {
    UnsafeRawPointer(p + offset).loadUnaligned(as: SIMD16<T>.self)
}

@_specialize(where T == Float)
@_specialize(where T == Double)
@inline(__always) func store<T: DLNReal>(_ v: SIMD16<T>, _ p: UnsafeMutablePointer<T>, _ offset: Int) {
    UnsafeMutableRawPointer(p + offset).storeBytes(of: v, as: SIMD16<T>.self)
}

/// |x| per lane (sign bit cleared, as fabs).
@_specialize(where T == Float)
@_specialize(where T == Double)
@inline(__always) func vabs<T: DLNReal>(_ x: SIMD16<T>) -> SIMD16<T> {
    var r = x
    for i in 0..<16 { r[i] = Swift.abs(x[i]) }
    return r
}
