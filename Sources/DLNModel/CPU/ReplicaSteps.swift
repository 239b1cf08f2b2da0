import DLNVector
import Dispatch
import Foundation

/// Independent data (every replica its own data set, regime I) one replica at a time: a replica runs all the
/// steps of a call while its own X stays in the core's cache, instead of a block streaming the 16 lane-interleaved
/// copies of X from memory at every step.
///
/// The sums are the block path's, in the same order, so both paths give the same bits (EngineTests):
/// - r_i = (Σ_j X_ij·w_j, one fused multiply-add per term in ascending j) − y_i, vectorised over 16 rows i at a
///   time from a copy of Xᵀ (each lane is one row's chain);
/// - g_j = Σ_i X_ij·r_i, fused multiply-adds in ascending i from 0, vectorised over 16 coordinates j at a time;
/// - the family's update with η·s_k, λ and the scale of the replica, on 16 coordinates at a time: the family's
///   arithmetic is element-wise, so lanes holding coordinates instead of replicas change no operation.
///
/// In the strided summation order (`SummationOrder.strided`) every block takes this path, whatever its data and step
/// count, and r and g come from one pass over a single row-major copy of X (`StridedCopy`, `Kernels.stridedProducts`):
/// r_i from 16 partial sums along the row and a fixed tree, g_j still one chain over ascending i.
///
/// The copies (Xᵀ with rows padded to a multiple of 16, X with rows padded likewise, y padded) are built once per
/// data set, on the first call, and kept: 2·n·d elements per data set (n·d in the strided order). Padding is zero, so the padded rows and
/// coordinates add nothing: the padded layers stay 0 and are never copied back.
final class ReplicaData<T: DLNReal>: @unchecked Sendable {  // built before the workers start, then read only
    /// Per data set: Xᵀ (d rows of n16), X (n rows of d16), y (n16); in the strided order X (n rows of d16) and y.
    private(set) var copies: [Int: UnsafeMutablePointer<T>] = [:]
    let n16: Int
    let d16: Int
    /// The strided summation order's single copy (`StridedCopy`) instead of the two strip copies.
    let strided: Bool

    init(samples n: Int, dimension d: Int, strided: Bool = false) {
        n16 = (n + 15) / 16 * 16
        d16 = (d + 15) / 16 * 16
        self.strided = strided
    }

    /// The copies of data set s (built by `prepare`); in the strided order xt is X row-major and xp is unused.
    func pointers(_ s: Int) -> (xt: UnsafeMutablePointer<T>, xp: UnsafeMutablePointer<T>, y: UnsafeMutablePointer<T>) {
        let p = copies[s]!
        return strided ? (p, p, p + n16 * d16) : (p, p + n16 * d16, p + 2 * n16 * d16)
    }

    /// The strips the loops take 16-wide vectors in (`stripWidths`: 128 columns while they last, then 64, then 16);
    /// (first column, width) each. The copies store each strip contiguously (its rows one after another), so that
    /// every pass reads memory in sequence.
    static func strips(_ total: Int) -> [(Int, Int)] { stripWidths(total) }

    /// Builds the missing copies of `sets`, `fill` writing one (zeroed, 2·n16·d16 + n16 elements) per data set,
    /// on up to `threads` threads.
    private func build(
        _ sets: Set<Int>, threads: Int, fill: @escaping @Sendable (Int, UnsafeMutablePointer<T>) -> Void
    ) {
        let missing = sets.sorted().filter { copies[$0] == nil }
        let size = (strided ? 1 : 2) * n16 * d16 + n16
        let slots = SharedSlots<Int>(count: missing.count)  // the copies' addresses
        let work: @Sendable (Int) -> Void = { k in
            let p = UnsafeMutablePointer<T>.allocate(capacity: size)
            p.initialize(repeating: 0, count: size)
            fill(missing[k], p)
            slots[k] = Int(bitPattern: p)
        }
        if threads <= 1 || missing.count <= 1 {
            for k in missing.indices { work(k) }
        } else {
            DispatchQueue.concurrentPerform(iterations: missing.count, execute: work)
        }
        for (k, s) in missing.enumerated() { copies[s] = UnsafeMutablePointer(bitPattern: slots[k]!)! }
    }

    /// The Gram form (g = Σw − c, Σ = scale·XᵀX and c = scale·Xᵀy, `gram` holding d·d + d per data set): Σᵀ in
    /// strips of rows as Xᵀ above (g_i, like r_i, is one chain over ascending j), and c padded, in place of Xᵀ and
    /// y; no copy of X.
    func prepareGram(_ sets: Set<Int>, gram: UnsafeMutablePointer<T>, d: Int, threads: Int) {
        let (n16, d16) = (self.n16, self.d16)
        let gramAddress = Int(bitPattern: gram)
        build(sets, threads: threads) { s, p in
            let base = UnsafeMutablePointer<T>(bitPattern: gramAddress)! + s * (d * d + d)
            for (c, m) in Self.strips(d16) {
                for j in 0..<d { for i in c..<min(c + m, d) { p[c * d + j * m + i - c] = base[i * d + j] } }
            }
            for i in 0..<d { p[2 * n16 * d16 + i] = base[d * d + i] }
        }
    }

    /// Builds the copies of the data sets in `sets` that are missing, from X (row-major n·d each) and y:
    /// Xᵀ in strips of rows (strip (c, m): d rows of m, at c·d) and X in strips of coordinates ((c, m): n rows of m,
    /// at c·n).
    func prepare(
        _ sets: Set<Int>, x: UnsafeMutablePointer<T>, y: UnsafeMutablePointer<T>, n: Int, d: Int, threads: Int
    ) {
        let (xAddress, yAddress) = (Int(bitPattern: x), Int(bitPattern: y))
        let strided = self.strided
        build(sets, threads: threads) { s, p in
            if strided {
                StridedCopy.fill(
                    x: UnsafeMutablePointer<T>(bitPattern: xAddress)! + s * n * d,
                    y: UnsafeMutablePointer<T>(bitPattern: yAddress)! + s * n, samples: n, dimension: d, into: p)
                return
            }
            StripCopy.fill(
                x: UnsafeMutablePointer<T>(bitPattern: xAddress)! + s * n * d,
                y: UnsafeMutablePointer<T>(bitPattern: yAddress)! + s * n, samples: n, dimension: d, into: p)
        }
    }

    deinit { for p in copies.values { p.deallocate() } }
}

/// The copy of one data set that a replica steps from, one at a time (CPUBatch.replicaSteps, and the OpenCL kernel
/// dln_replica_steps_v16, Kernels/replica_v16.cl): 2·n₁₆·d₁₆ + n₁₆ elements, n₁₆ and d₁₆ being n and d rounded up to
/// multiples of 16:
/// - Xᵀ in strips over the rows i (`stripWidths` of n₁₆): strip (c, m) holds d rows of m elements at c·d, element
///   (j, i) at c·d + j·m + i − c;
/// - X in strips over the coordinates j, at n₁₆·d₁₆: strip (c, m) of d₁₆ holds n rows of m at c·n, element (i, j) at
///   c·n + i·m + j − c;
/// - y at 2·n₁₆·d₁₆.
/// Every strip is contiguous, so each pass of a step reads memory in sequence; the padding is zero.
public enum StripCopy {
    /// (n₁₆, d₁₆, elements of one copy).
    public static func size(samples n: Int, dimension d: Int) -> (n16: Int, d16: Int, count: Int) {
        let (n16, d16) = ((n + 15) / 16 * 16, (d + 15) / 16 * 16)
        return (n16, d16, 2 * n16 * d16 + n16)
    }

    /// Writes the copy of X (row-major n·d) and y into `p`, which holds `size(...).count` zeros.
    public static func fill<T>(
        x xs: UnsafePointer<T>, y ys: UnsafePointer<T>, samples n: Int, dimension d: Int,
        into p: UnsafeMutablePointer<T>
    ) {
        let (n16, d16, _) = size(samples: n, dimension: d)
        let xp = p + n16 * d16
        for (c, m) in stripWidths(n16) {
            for j in 0..<d { for i in c..<min(c + m, n) { p[c * d + j * m + i - c] = xs[i * d + j] } }
        }
        for (c, m) in stripWidths(d16) {
            for i in 0..<n { for j in c..<min(c + m, d) { xp[c * n + i * m + j - c] = xs[i * d + j] } }
        }
        for i in 0..<n { p[2 * n16 * d16 + i] = ys[i] }
    }

    /// The Gram form's copy for the OpenCL kernel (d·d₁₆ + d₁₆ elements, zeroed in `p`): Σᵀ in strips over the rows
    /// (strip (c, m) of d₁₆: d rows of m at c·d, element (j, i) at c·d + j·m + i − c), then c at d·d₁₆; from Σ
    /// (row-major d·d) and c.
    public static func fillGram<T>(matrix: [T], vector: [T], dimension d: Int, into p: UnsafeMutablePointer<T>) {
        let d16 = (d + 15) / 16 * 16
        for (c, m) in stripWidths(d16) {
            for j in 0..<d { for i in c..<min(c + m, d) { p[c * d + j * m + i - c] = matrix[i * d + j] } }
        }
        for i in 0..<d { p[d * d16 + i] = vector[i] }
    }
}

/// The copy of one data set that a replica steps from in the strided summation order (CPUBatch.replicaSteps, and the
/// OpenCL kernel dln_replica_strided_v16, Kernels/replica_v16.cl): X row-major with its rows padded by zeros to d₁₆
/// (n rows of d₁₆), then y padded to n₁₆; n₁₆·d₁₆ + n₁₆ elements, the rows from n on zero.
public enum StridedCopy {
    /// (n₁₆, d₁₆, elements of one copy).
    public static func size(samples n: Int, dimension d: Int) -> (n16: Int, d16: Int, count: Int) {
        let (n16, d16) = ((n + 15) / 16 * 16, (d + 15) / 16 * 16)
        return (n16, d16, n16 * d16 + n16)
    }

    /// Writes the copy of X (row-major n·d) and y into `p`, which holds `size(...).count` zeros.
    public static func fill<T>(
        x xs: UnsafePointer<T>, y ys: UnsafePointer<T>, samples n: Int, dimension d: Int,
        into p: UnsafeMutablePointer<T>
    ) {
        let (n16, d16, _) = size(samples: n, dimension: d)
        for i in 0..<n { for j in 0..<d { p[i * d16 + j] = xs[i * d + j] } }
        for i in 0..<n { p[n16 * d16 + i] = ys[i] }
    }
}

extension CPUBatch {
    /// Whether block `blk` steps one replica at a time: the products form with independent data, and a data set of the size where that is faster (`CPUTuning`). Either path gives the same bits.
    func stepsPerReplica(block blk: Int) -> Bool {
        guard shared[blk] == nil, let rd = replicaData else { return false }
        let bytes = (gramData == nil ? 2 * rd.n16 : rd.d16) * rd.d16 * MemoryLayout<T>.size
        return bytes >= replicaMinBytes && bytes <= replicaBytes
    }

    /// `count` steps of replica `b` (of a block that `stepsPerReplica`), from step `first`.
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    func replicaSteps(replica b: Int, first: Int, count: Int) {
        let rd = replicaData!
        let (n, d, depth) = (layout.samples, layout.dimension, layout.layers)
        let (n16, d16) = (rd.n16, rd.d16)
        let L = Layout.lanes
        let (xt, xp, yp) = rd.pointers(dataset[b])
        let stride = layout.coordinateCount
        let home = (b / L) * d * L + b % L  // coordinate j of layer l at home + l·stride + j·L
        let lt = UnsafeMutablePointer<T>.allocate(capacity: depth * d16)
        let wt = UnsafeMutablePointer<T>.allocate(capacity: d16)
        let rt = UnsafeMutablePointer<T>.allocate(capacity: n16)
        let g = UnsafeMutablePointer<V>.allocate(capacity: d16 / 16)
        let scratch = UnsafeMutablePointer<V>.allocate(capacity: 2 * depth)
        defer {
            for p in [lt, wt, rt] { p.deallocate() }
            g.deallocate()
            scratch.deallocate()
        }
        lt.initialize(repeating: 0, count: depth * d16)
        wt.initialize(repeating: 0, count: d16)
        for l in 0..<depth { for j in 0..<d { lt[l * d16 + j] = layers[home + l * stride + j * L] } }
        for j in 0..<d { wt[j] = w[home + j * L] }
        // Momentum buffers, gathered like the layers (padding 0).
        let mt = momentum.map { ms in
            let p = UnsafeMutablePointer<T>.allocate(capacity: depth * d16)
            p.initialize(repeating: 0, count: depth * d16)
            for l in 0..<depth { for j in 0..<d { p[l * d16 + j] = ms.m[home + l * stride + j * L] } }
            return p
        }
        defer { mt?.deallocate() }
        let scale = V(repeating: gradientScale)
        let lam = V(repeating: lambda[b])
        let beta = V(repeating: momentum?.beta[b] ?? 0)
        for step in first..<(first + count) {
            let etaV = V(repeating: eta[b] * rateFactor(step: step))
            if let ms = momentum, ms.nesterov { lookahead(lt, mt!, into: wt, stride: d16, d: d16 / 16, beta: beta) }
            let gT = UnsafeMutableRawPointer(g).assumingMemoryBound(to: T.self)
            if strided {  // r and g in one pass over X (the strided order)
                kernels.stridedProducts(
                    double: isDouble, x: .init(xt), y: .init(yp), w: .init(wt), r: .init(rt), g: .init(gT), n: n,
                    d16: d16)
            } else if gramData != nil {  // g = Σw − c
                stripProducts(xt, rows: d, columns: d16, by: wt, minus: yp, into: gT)
            } else {  // r = Xw − y, then g = Xᵀr
                stripProducts(xt, rows: d, columns: n16, by: wt, minus: yp, into: rt)
                stripProducts(xp, rows: n, columns: d16, by: rt, minus: nil, into: gT)
            }
            if let ms = momentum {
                momentumStep(
                    lt, wt, mt!, stride: d16, d: d16 / 16, eta: etaV, lambda: lam, beta: beta, scale: scale, g: g,
                    scratch: scratch, nesterov: ms.nesterov)
            } else {
                family.stepBlock(lt, wt, d16, depth, d16 / 16, etaV, lam, scale, g, scratch, family.multiplicative)
            }
        }
        for l in 0..<depth { for j in 0..<d { layers[home + l * stride + j * L] = lt[l * d16 + j] } }
        for j in 0..<d { w[home + j * L] = wt[j] }
        if let ms = momentum {
            for l in 0..<depth { for j in 0..<d { ms.m[home + l * stride + j * L] = mt![l * d16 + j] } }
        }
    }

    /// out = Av (− t), for A stored in strips as the copies are: out_col = Σ_k A_k,col·v_k, one chain of fused
    /// multiply-adds over ascending k from 0 per column; then minus t_col when given. With (Xᵀ, w, y) it is
    /// r = Xw − y, with (X, r) the gradient sums g = Xᵀr, with (Σᵀ, w, c) the Gram form's g = Σw − c.
    @inline(__always)
    func stripProducts(
        _ a: UnsafeMutablePointer<T>, rows: Int, columns: Int, by v: UnsafeMutablePointer<T>,
        minus t: UnsafeMutablePointer<T>?, into out: UnsafeMutablePointer<T>
    ) {
        kernels.stripProducts(
            double: isDouble, a: .init(a), rows: rows, columns: columns, v: .init(v), minus: t.map { .init($0) },
            into: .init(out))
    }
}
