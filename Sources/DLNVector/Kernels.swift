import VectorAccess

/// The CPU engine's hot loops: the products of a gradient step, the matrix model's register tiles and the fma peak
/// loop. This folder is compiled twice, as DLNVector (for the baseline instruction set: AVX2 + FMA on x86-64) and as
/// DLNVectorAVX512 (the same files, linked, compiled for AVX-512), and DLNModel picks one at start from the CPU's
/// features (DLNModel/CPU/VectorCode.swift). Both compute every result with the same operations in the same order,
/// one fused multiply-add per term, so they give the same bits: the instruction set only changes how many lanes one
/// instruction covers.
///
/// The entry points take raw pointers and a precision flag, so that both compilations expose the same signatures
/// (DLNModel's `VectorKernels` protocol) and the generic loops are specialised here, inside the module that carries
/// the instruction set's flags. Vectors are SIMD16 of the scalar type: 16 replicas, 16 rows or 16 coordinates.
public enum Kernels: Sendable {
    /// The two products for four blocks of 16 replicas that share a data set (x: n × d, y: n), w and r of the four
    /// blocks one after another (d·16 and n·16 elements each), g: 4·d vectors. See `quadProducts`.
    public static func quadProducts(
        double: Bool, x: UnsafeMutableRawPointer, y: UnsafeMutableRawPointer, w: UnsafeMutableRawPointer,
        r: UnsafeMutableRawPointer, g: UnsafeMutableRawPointer, n: Int, d: Int
    ) {
        if double {
            quadTiles(Double.self, x, y, w, r, g, n: n, d: d)
        } else {
            quadTiles(Float.self, x, y, w, r, g, n: n, d: d)
        }
    }

    /// The two products for two blocks (w and r of each, g and g2 their sums) that share a data set.
    public static func pairProducts(
        double: Bool, x: UnsafeMutableRawPointer, y: UnsafeMutableRawPointer, wa: UnsafeMutableRawPointer,
        wb: UnsafeMutableRawPointer, ra: UnsafeMutableRawPointer, rb: UnsafeMutableRawPointer,
        g: UnsafeMutableRawPointer, g2: UnsafeMutableRawPointer, n: Int, d: Int
    ) {
        if double {
            pairTiles(Double.self, x, y, (wa, wb), (ra, rb), (g, g2), n: n, d: d)
        } else {
            pairTiles(Float.self, x, y, (wa, wb), (ra, rb), (g, g2), n: n, d: d)
        }
    }

    /// out_i = Σ_j M_ij·w_j − t_i for `rows` rows of a d-column matrix, broadcast or lane-interleaved (`lanes`).
    public static func matVec(
        double: Bool, rows: Int, d: Int, matrix: UnsafeMutableRawPointer, targets: UnsafeMutableRawPointer,
        lanes: Bool, w: UnsafeMutableRawPointer, out: UnsafeMutableRawPointer
    ) {
        if double {
            matVecLoop(Double.self, rows, d, matrix, targets, lanes, w, out)
        } else {
            matVecLoop(Float.self, rows, d, matrix, targets, lanes, w, out)
        }
    }

    /// g_j = Σ_i X_ij·r_i (d vectors into g) for n rows of X, broadcast or lane-interleaved (`lanes`).
    public static func gradient(
        double: Bool, n: Int, d: Int, x: UnsafeMutableRawPointer, lanes: Bool, r: UnsafeMutableRawPointer,
        g: UnsafeMutableRawPointer
    ) {
        if double {
            gradientLoop(Double.self, n, d, x, lanes, r, g)
        } else {
            gradientLoop(Float.self, n, d, x, lanes, r, g)
        }
    }

    /// Residual and gradient in one pass over lane-interleaved X (n rows of d·16) and y (n·16).
    public static func fusedProducts(
        double: Bool, n: Int, d: Int, x: UnsafeMutableRawPointer, y: UnsafeMutableRawPointer,
        w: UnsafeMutableRawPointer, r: UnsafeMutableRawPointer, g: UnsafeMutableRawPointer
    ) {
        if double {
            fusedLoop(Double.self, n, d, x, y, w, r, g)
        } else {
            fusedLoop(Float.self, n, d, x, y, w, r, g)
        }
    }

    /// out = A·v (− t) for A stored in strips (`stripWidths`), `rows` rows and `columns` columns.
    public static func stripProducts(
        double: Bool, a: UnsafeMutableRawPointer, rows: Int, columns: Int, v: UnsafeMutableRawPointer,
        minus t: UnsafeMutableRawPointer?, into out: UnsafeMutableRawPointer
    ) {
        if double {
            stripLoop(Double.self, a, rows, columns, v, t, out)
        } else {
            stripLoop(Float.self, a, rows, columns, v, t, out)
        }
    }

    /// out(r, c) = start(r, c) + Σ_{k<K} A(r, k)·B(c, k) over SIMD16 elements, then stored as `kind` says:
    /// 0 plain (out = s), 1 a layer update (out ← old − η·(s + λ·old)), 2 a gradient (out = s + λ·W, W in `layer`).
    /// A(r, k) is at a[r·ar + k·ak], B(c, k) at b[c·br + k·bk], output (r, c) at element r·rs + c·cs of out (and of
    /// `resume`, the partial sums to start from, when given). η and λ point at one SIMD16 each.
    public static func matrixDots(
        double: Bool, rows: Int, columns: Int, depth: Int, a: UnsafeRawPointer, ar: Int, ak: Int, b: UnsafeRawPointer,
        br: Int, bk: Int, out: UnsafeMutableRawPointer, rs: Int, cs: Int, kind: Int, eta: UnsafeRawPointer,
        lambda: UnsafeRawPointer, resume: UnsafeRawPointer?, layer: UnsafeRawPointer?
    ) {
        if double {
            let o = DotsOutput<Double>(out, rs, cs, kind, eta, lambda, resume, layer)
            dotsLoop(rows: rows, columns: columns, depth: depth, a, ar, ak, b, br, bk, into: o)
        } else {
            let o = DotsOutput<Float>(out, rs, cs, kind, eta, lambda, resume, layer)
            dotsLoop(rows: rows, columns: columns, depth: depth, a, ar, ak, b, br, bk, into: o)
        }
    }

    /// Eight independent SIMD16<Float> fma chains of `iterations` steps each (the fma peak's loop); returns their sum
    /// so that nothing is optimised away.
    @inline(never)
    public static func peakLoop(iterations: Int, seed: Float) -> Float {
        let m = SIMD16<Float>(repeating: 0.999999)
        let c = SIMD16<Float>(repeating: 1e-7)
        var a0 = SIMD16<Float>(repeating: seed)
        var a1 = a0 + 1
        var a2 = a0 + 2
        var a3 = a0 + 3
        var a4 = a0 + 4
        var a5 = a0 + 5
        var a6 = a0 + 6
        var a7 = a0 + 7
        for _ in 0..<iterations {
            a0 = a0.addingProduct(m, c)
            a1 = a1.addingProduct(m, c)
            a2 = a2.addingProduct(m, c)
            a3 = a3.addingProduct(m, c)
            a4 = a4.addingProduct(m, c)
            a5 = a5.addingProduct(m, c)
            a6 = a6.addingProduct(m, c)
            a7 = a7.addingProduct(m, c)
        }
        return (a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7).sum()
    }
}

/// The strips that `stripProducts` takes 16-wide vectors in: eight vectors (128 columns) while they last, then four,
/// then one; (first column, width) each. The CPU engine's copies store each strip contiguously, at c·rows.
public func stripWidths(_ total: Int) -> [(Int, Int)] {
    var out: [(Int, Int)] = []
    var c = 0
    for width in [128, 64, 16] {
        while c + width <= total {
            out.append((c, width))
            c += width
        }
    }
    return out
}
