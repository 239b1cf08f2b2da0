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
/// u_l ← u_l + √(2ηT)·ξ_{l,j} and w from the layers: b·d multiply-adds per row of the batch.
extension CPUBatch {
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    func stochasticStep(count: Int, state st: StochasticState<T>) {
        let first = UInt64(stepsTaken)
        forEachBlock { blk in self.stochasticBlock(blk, steps: first..<(first + UInt64(count)), state: st) }
        stepsTaken += count
    }

    /// The steps of one block: the 16 lanes' rows first, then the products as SIMD16 over the lanes with the rows of
    /// X gathered per lane, or broadcast (four rows per pass) when every lane has the same rows (each lane's sums
    /// keep their order either way: r_k over ascending j, g_j over ascending k). A lane
    /// whose batch is shorter adds 0·x to its g_j past its last row, which leaves the sum as it is (the sum starts at
    /// +0 and is never −0).
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    func stochasticBlock(_ blk: Int, steps: Range<UInt64>, state st: StochasticState<T>) {
        let (n, d, depth) = (layout.samples, layout.dimension, layout.layers)
        let L = Layout.lanes
        let g = UnsafeMutablePointer<V>.allocate(capacity: d)
        let scratch = UnsafeMutablePointer<V>.allocate(capacity: 2 * depth)
        let rows = UnsafeMutablePointer<Int32>.allocate(capacity: n * L)
        let rk = UnsafeMutablePointer<V>.allocate(capacity: n)
        let xrow = UnsafeMutablePointer<UnsafePointer<T>>.allocate(capacity: n * L)  // [k][lane]
        defer {
            g.deallocate()
            scratch.deallocate()
            rows.deallocate()
            rk.deallocate()
            xrow.deallocate()
        }
        let wb = w + blk * d * L
        let lb = layers + blk * d * L
        let stride = layout.coordinateCount
        let eta0 = load(eta, blk * L)
        let lamV = load(lambda, blk * L)
        var counts = [Int](repeating: 0, count: L)
        for step in steps {
            let f = rateFactor(step: Int(step))
            if let ms = momentum, ms.nesterov { lookahead(block: blk, state: ms) }
            var scale = V(repeating: 0)
            for lane in 0..<L {
                let b = blk * L + lane
                guard b < layout.replicas else {
                    counts[lane] = 0
                    continue
                }
                let size = st.batchSize[b]
                counts[lane] = BatchSampler.indices(
                    key: st.keys[b], step: step, n: n, b: size, sampling: st.sampling, perm: st.perm + b * n,
                    permEpoch: &st.permEpoch[b], into: rows + lane * n)
                scale[lane] = counts[lane] == size ? st.scaleFull[b] : st.scaleLast[b]
            }
            let kmax = counts.max() ?? 0
            // One row list for the whole block (full-batch GD with noise, or the same draws on shared data): X is
            // broadcast instead of gathered lane by lane. The same values enter the same operations, so the bits are
            // the gather's (lanes past the replicas have r = 0, so their g stays +0 either way).
            var uniform: [UnsafePointer<T>]? = nil
            if let first = (0..<L).first(where: { blk * L + $0 < layout.replicas }) {
                let b0 = blk * L + first
                var same = true
                for lane in 0..<L where blk * L + lane < layout.replicas && lane != first {
                    let b = blk * L + lane
                    if dataset[b] != dataset[b0] || counts[lane] != counts[first] {
                        same = false
                        break
                    }
                    for k in 0..<counts[lane] where rows[lane * n + k] != rows[first * n + k] {
                        same = false
                        break
                    }
                    if !same { break }
                }
                if same {
                    let s0 = dataset[b0]
                    uniform = (0..<kmax).map { UnsafePointer(x + s0 * n * d + Int(rows[first * n + $0]) * d) }
                }
            }
            for k in 0..<kmax {
                for lane in 0..<L {
                    let s = dataset[blk * L + lane]
                    let i = k < counts[lane] ? Int(rows[lane * n + k]) : 0
                    xrow[k * L + lane] = UnsafePointer(x + s * n * d + i * d)
                }
            }
            // r_k = (Σ_j X_{i_k j}·w_j, ascending j) − (y_{i_k} + σ_ℓ·ξ_{i_k}); 0 past a lane's batch.
            func residual(_ k: Int, _ acc: V) {
                var r = V(repeating: 0)
                for lane in 0..<L where k < counts[lane] {
                    let b = blk * L + lane
                    let i = Int(rows[lane * n + k])
                    var yi = y[dataset[b] * n + i]
                    let sigma = st.labelNoise[b]
                    if sigma != 0 {
                        let xi: T = StochasticRandom.gaussian(
                            key: st.keys[b], stream: .labelNoise, step: step, index: UInt32(i))
                        yi = yi + sigma * xi
                    }
                    r[lane] = acc[lane] - yi
                }
                rk[k] = r
            }
            var k = 0
            if let u = uniform {
                // Four rows at once: four independent sums, each still over ascending j, so that the multiply-adds
                // overlap instead of waiting on one another.
                while k + 4 <= kmax {
                    let (x0, x1, x2, x3) = (u[k], u[k + 1], u[k + 2], u[k + 3])
                    var (a0, a1, a2, a3) = (V(repeating: 0), V(repeating: 0), V(repeating: 0), V(repeating: 0))
                    for j in 0..<d {
                        let wv = load(wb, j * L)
                        a0 = a0.addingProduct(V(repeating: x0[j]), wv)
                        a1 = a1.addingProduct(V(repeating: x1[j]), wv)
                        a2 = a2.addingProduct(V(repeating: x2[j]), wv)
                        a3 = a3.addingProduct(V(repeating: x3[j]), wv)
                    }
                    residual(k, a0)
                    residual(k + 1, a1)
                    residual(k + 2, a2)
                    residual(k + 3, a3)
                    k += 4
                }
            }
            while k < kmax {
                var acc = V(repeating: 0)
                if let u = uniform {
                    let x0 = u[k]
                    for j in 0..<d { acc = acc.addingProduct(V(repeating: x0[j]), load(wb, j * L)) }
                } else {
                    let xr = xrow + k * L
                    for j in 0..<d {
                        var xv = V(repeating: 0)
                        for lane in 0..<L { xv[lane] = xr[lane][j] }
                        acc = acc.addingProduct(xv, load(wb, j * L))
                    }
                }
                residual(k, acc)
                k += 1
            }
            // g_j = Σ_k X_{i_k j}·r_k in ascending k.
            for j in 0..<d { g[j] = V(repeating: 0) }
            k = 0
            if let u = uniform {
                // Four rows per pass over g: each g_j still adds them in ascending k, with one load and store.
                while k + 4 <= kmax {
                    let (x0, x1, x2, x3) = (u[k], u[k + 1], u[k + 2], u[k + 3])
                    let (r0, r1, r2, r3) = (rk[k], rk[k + 1], rk[k + 2], rk[k + 3])
                    for j in 0..<d {
                        var gj = g[j].addingProduct(V(repeating: x0[j]), r0)
                        gj = gj.addingProduct(V(repeating: x1[j]), r1)
                        gj = gj.addingProduct(V(repeating: x2[j]), r2)
                        g[j] = gj.addingProduct(V(repeating: x3[j]), r3)
                    }
                    k += 4
                }
            }
            for k in k..<kmax {
                let xr = xrow + k * L
                let r = rk[k]
                if let x0 = uniform?[k] {
                    for j in 0..<d { g[j] = g[j].addingProduct(V(repeating: x0[j]), r) }
                    continue
                }
                for j in 0..<d {
                    var xv = V(repeating: 0)
                    for lane in 0..<L { xv[lane] = xr[lane][j] }
                    g[j] = g[j].addingProduct(xv, r)
                }
            }
            if let ms = momentum {
                momentumUpdate(block: blk, g: g, scale: scale, scratch: scratch, state: ms, factor: f)
            } else {
                family.stepBlock(lb, wb, stride, depth, d, eta0 * V(repeating: f), lamV, scale, g, scratch, false)
            }
            if st.anyLangevin { langevin(block: blk, step: step, state: st) }
        }
    }

    /// u_l ← u_l + (√(2ηT)·√s_k)·ξ_{l,j} on every replica of the block with T > 0, then w (√(2ηT) and √s_k each
    /// rounded once to T). Twin of `dln_sgd_langevin`.
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    func langevin(block blk: Int, step: UInt64, state st: StochasticState<T>) {
        let (d, depth) = (layout.dimension, layout.layers)
        let L = Layout.lanes
        let stride = layout.coordinateCount
        let lb = layers + blk * d * L
        let root = noiseFactor(step: Int(step))
        var moved = SIMDMask<SIMD16<T.SIMDMaskScalar>>()
        var c = SIMD16<T>()
        var keys: [(UInt32, UInt32)] = []
        for lane in 0..<L {
            let b = blk * L + lane
            keys.append(b < st.keys.count ? st.keys[b] : (0, 0))
            guard b < layout.replicas, st.langevin[b] != 0 else { continue }
            moved[lane] = true
            c[lane] = st.langevin[b] * root
        }
        let touched = any(moved)
        if touched {
            // All 16 lanes' ξ at once (StochasticLanes, the scalar generator's bits); lanes without noise keep theirs.
            let key = StochasticLanes.keys(keys)
            for l in 0..<depth {
                for j in 0..<d {
                    let xi = StochasticLanes.gaussian(
                        key: key, stream: .gradientNoise, step: step, index: UInt32(l * d + j), as: T.self)
                    let at = UnsafeMutableRawPointer(lb + l * stride + j * L)
                    var u = at.loadUnaligned(as: SIMD16<T>.self)
                    u.replace(with: u + c * xi, where: moved)
                    at.storeBytes(of: u, as: SIMD16<T>.self)
                }
            }
        }
        if touched { computeWeights(block: blk) }
    }
}
