import Dispatch
import Foundation

/// The per-replica scalars and scratch of the stochastic steps (`Batch.isStochastic`).
final class StochasticState<T: DLNReal>: @unchecked Sendable {  // blocks touch disjoint replicas
    let keys: [(UInt32, UInt32)]  // paddedReplicas (padding: key 0)
    let batchSize: [Int]  // b per replica (padding: 1)
    let sampling: Sampling
    /// 1/b and 1/(the epoch's remainder) rounded once from Double (mean loss), 1 (sum loss).
    let scaleFull: [T], scaleLast: [T]
    let labelNoise: [T]
    /// √(2ηT) per replica, rounded once from Double.
    let langevin: [T]
    let anyLangevin: Bool
    /// The current epoch's permutation per replica (n each) and its epoch (−1: none; not part of the state:
    /// redrawn after a restore).
    let perm: UnsafeMutablePointer<Int32>
    let permEpoch: UnsafeMutablePointer<Int64>

    init(_ batch: Batch) {
        let lay = batch.layout
        let n = lay.samples
        let P = lay.paddedReplicas
        let live = 0..<lay.replicas
        keys = (0..<P).map { live.contains($0) ? StochasticRandom.key(seed: batch.replicas[$0].seed) : (0, 0) }
        batchSize = (0..<P).map { live.contains($0) ? batch.batchSize(replica: $0) : 1 }
        sampling = batch.effectiveSampling
        let mean = batch.loss == .mean
        scaleFull = batchSize.map { T(mean ? 1 / Double($0) : 1) }
        scaleLast = batchSize.map { b in
            let last = n - (BatchSampler.stepsPerEpoch(n: n, b: b) - 1) * b
            return T(mean ? 1 / Double(last) : 1)
        }
        labelNoise = (0..<P).map { live.contains($0) ? T(batch.replicas[$0].labelNoise) : 0 }
        langevin = (0..<P).map { b in
            guard live.contains(b) else { return 0 }
            let r = batch.replicas[b]
            return T((2 * r.eta * r.gradientNoise).squareRoot())
        }
        anyLangevin = langevin.contains { $0 != 0 }
        perm = .allocate(capacity: max(1, P * n))
        permEpoch = .allocate(capacity: P)
        permEpoch.initialize(repeating: -1, count: P)
    }

    /// Forgets the cached permutations (after a restore).
    func invalidate(replicas P: Int) { for b in 0..<P { permEpoch[b] = -1 } }

    deinit {
        perm.deallocate()
        permEpoch.deallocate()
    }
}

/// The stochastic steps: mini-batch SGD, label noise and Langevin noise. Twin of Kernels/stochastic.cl: per replica
/// the batch's rows (`BatchSampler`), r_k = (Σ_j X_{i_k j}·w_j, fma in ascending j) − (y_{i_k} + σ_ℓ·ξ_{i_k}),
/// g_j = (Σ_k X_{i_k j}·r_k, fma in ascending k)·scale, the family's update (as `dln_update`), then
/// u_l ← u_l + √(2ηT)·ξ_{l,j} and w from the layers. The gradient rows are gathered: b·d multiply-adds each.
extension CPUBatch {
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    func stochasticStep(count: Int, state st: StochasticState<T>) {
        let first = UInt64(stepsTaken)
        forEachBlock { blk in self.stochasticBlock(blk, steps: first..<(first + UInt64(count)), state: st) }
        stepsTaken += count
    }

    @_specialize(where T == Float)
    @_specialize(where T == Double)
    func stochasticBlock(_ blk: Int, steps: Range<UInt64>, state st: StochasticState<T>) {
        let (n, d, depth) = (layout.samples, layout.dimension, layout.layers)
        let L = Layout.lanes
        let g = UnsafeMutablePointer<V>.allocate(capacity: d)
        let scratch = UnsafeMutablePointer<V>.allocate(capacity: 2 * depth)
        let rows = UnsafeMutablePointer<Int32>.allocate(capacity: n)
        let rk = UnsafeMutablePointer<T>.allocate(capacity: n)
        let acc = UnsafeMutablePointer<T>.allocate(capacity: d)
        defer {
            g.deallocate()
            scratch.deallocate()
            rows.deallocate()
            rk.deallocate()
            acc.deallocate()
        }
        let wb = w + blk * d * L
        let lb = layers + blk * d * L
        let stride = layout.coordinateCount
        let etaV = load(eta, blk * L)
        let lamV = load(lambda, blk * L)
        for step in steps {
            var scale = V(repeating: 0)
            for j in 0..<d { g[j] = V(repeating: 0) }
            for lane in 0..<L {
                let b = blk * L + lane
                guard b < layout.replicas else { continue }
                let key = st.keys[b]
                let size = st.batchSize[b]
                let rowsUsed = BatchSampler.indices(
                    key: key, step: step, n: n, b: size, sampling: st.sampling, perm: st.perm + b * n,
                    permEpoch: &st.permEpoch[b], into: rows)
                scale[lane] = rowsUsed == size ? st.scaleFull[b] : st.scaleLast[b]
                let s = dataset[b]
                let xs = x + s * n * d
                let sigma = st.labelNoise[b]
                for k in 0..<rowsUsed {
                    let i = Int(rows[k])
                    let row = xs + i * d
                    var a: T = 0
                    for j in 0..<d { a = a.addingProduct(row[j], wb[j * L + lane]) }
                    var yi = y[s * n + i]
                    if sigma != 0 {
                        let xi: T = StochasticRandom.gaussian(
                            key: key, stream: .labelNoise, step: step, index: UInt32(i))
                        yi = yi + sigma * xi
                    }
                    rk[k] = a - yi
                }
                for j in 0..<d { acc[j] = 0 }
                for k in 0..<rowsUsed {  // rows in ascending k: each g_j sums in ascending k
                    let row = xs + Int(rows[k]) * d
                    let r = rk[k]
                    for j in 0..<d { acc[j] = acc[j].addingProduct(row[j], r) }
                }
                for j in 0..<d { g[j][lane] = acc[j] }
            }
            family.stepBlock(lb, wb, stride, depth, d, etaV, lamV, scale, g, scratch, false)
            if st.anyLangevin { langevin(block: blk, step: step, state: st) }
        }
    }

    /// u_l ← u_l + √(2ηT)·ξ_{l,j} on every replica of the block with T > 0, then w. Twin of `dln_sgd_langevin`.
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    func langevin(block blk: Int, step: UInt64, state st: StochasticState<T>) {
        let (d, depth) = (layout.dimension, layout.layers)
        let L = Layout.lanes
        let stride = layout.coordinateCount
        let lb = layers + blk * d * L
        var touched = false
        for lane in 0..<L {
            let b = blk * L + lane
            guard b < layout.replicas, st.langevin[b] != 0 else { continue }
            touched = true
            let c = st.langevin[b]
            for l in 0..<depth {
                for j in 0..<d {
                    let xi: T = StochasticRandom.gaussian(
                        key: st.keys[b], stream: .gradientNoise, step: step, index: UInt32(l * d + j))
                    let o = l * stride + j * L + lane
                    lb[o] = lb[o] + c * xi
                }
            }
        }
        if touched { computeWeights(block: blk) }
    }
}
