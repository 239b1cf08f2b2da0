import Foundation

/// The CPU engine's integrator state. Layout as everywhere (`Layout`); component l of a state vector at
/// l·stride. With the layers representation the state *is* the batch's layers.
final class FlowState<T: DLNReal>: @unchecked Sendable {  // blocks touch disjoint slices
    let log: Bool
    let adaptive: Bool
    let components: Int
    let stride: Int
    let y: UnsafeMutablePointer<T>
    let ownsY: Bool
    let f: UnsafeMutablePointer<T>  // 7 derivative buffers, components·stride each
    let ys: UnsafeMutablePointer<T>
    let lnBeta: UnsafeMutablePointer<T>, lnHalf: UnsafeMutablePointer<T>, sign0: UnsafeMutablePointer<T>,
        sign1: UnsafeMutablePointer<T>
    // Per (padded) replica.
    let t: UnsafeMutablePointer<T>, hdes: UnsafeMutablePointer<T>, errprev: UnsafeMutablePointer<T>,
        frozenAt: UnsafeMutablePointer<T>
    let lastRejected: UnsafeMutablePointer<Int32>, status: UnsafeMutablePointer<Int32>
    let evaluations: UnsafeMutablePointer<Int32>, rejected: UnsafeMutablePointer<Int32>,
        attempts: UnsafeMutablePointer<Int32>
    let a: [[T]], c: [T], e: [T]
    let rtol: T, atol: T, hmax: T, hmin: T, invM: T
    let initialStep: T?
    let maxSteps: Int32
    var started = false

    init(_ batch: Batch, layers: UnsafeMutablePointer<T>) throws(DLNError) {
        let lay = batch.layout
        log = batch.representation == .log
        adaptive = batch.update == .flow
        components = log ? 1 : lay.layers
        stride = lay.coordinateCount
        let count = components * stride
        func zeros(_ n: Int) -> UnsafeMutablePointer<T> { CPUBatch<T>.allocate([T](repeating: 0, count: max(1, n))) }
        if log {
            let k = try LogConstants(batch)
            y = CPUBatch<T>.allocate(lay.pack(k.z0.map { T($0) }, length: lay.dimension, fill: 0))
            lnBeta = CPUBatch<T>.allocate(lay.pack(k.lnBeta.map { T($0) }, length: lay.dimension, fill: 0))
            lnHalf = CPUBatch<T>.allocate(lay.pack(k.lnHalf.map { T($0) }, length: lay.dimension, fill: 0))
            sign0 = CPUBatch<T>.allocate(lay.pack(k.sign0.map { T($0) }, length: lay.dimension, fill: 0))
            sign1 = CPUBatch<T>.allocate(lay.pack(k.sign1.map { T($0) }, length: lay.dimension, fill: 0))
            ownsY = true
        } else {
            y = layers
            ownsY = false
            lnBeta = zeros(1)
            lnHalf = zeros(1)
            sign0 = zeros(1)
            sign1 = zeros(1)
        }
        f = zeros(DormandPrince.stages * count)
        ys = zeros(count)
        let P = lay.paddedReplicas
        t = zeros(P)
        hdes = zeros(P)
        errprev = zeros(P)
        frozenAt = CPUBatch<T>.allocate([T](repeating: .nan, count: P))
        func ints() -> UnsafeMutablePointer<Int32> {
            let p = UnsafeMutablePointer<Int32>.allocate(capacity: P)
            p.initialize(repeating: 0, count: P)
            return p
        }
        lastRejected = ints()
        status = ints()
        evaluations = ints()
        rejected = ints()
        attempts = ints()
        for b in lay.replicas..<P { status[b] = ReplicaStatus.notInShard.rawValue }  // padding lanes never step
        a = DormandPrince.a.map { $0.map { T($0) } }
        c = DormandPrince.c.map { T($0) }
        e = DormandPrince.e.map { T($0) }
        let s = batch.flow
        rtol = T(s.rtol)
        atol = T(s.atol)
        hmax = T(s.maxStep ?? .infinity)
        hmin = T(s.minStep)
        invM = T(1 / Double(components * lay.dimension))
        initialStep = s.initialStep.map { T($0) }
        maxSteps = Int32(clamping: s.maxSteps)
    }

    deinit {
        if ownsY { y.deallocate() }
        for p in [f, ys, lnBeta, lnHalf, sign0, sign1, t, hdes, errprev, frozenAt] { p.deallocate() }
        for p in [lastRejected, status, evaluations, rejected, attempts] { p.deallocate() }
    }
}
