import VectorAccess

/// One replica's gradient sums in the strided summation order (`SummationOrder.strided`, DLNModel), from one copy of
/// its data set: X row-major with rows padded to d₁₆ (a multiple of 16) by zeros, and y.
///
/// - r_i = tree(p) − y_i, where lane k of p is Σ over j ≡ k (mod 16), ascending, of X_ij·w_j (one fused multiply-add
///   per term from 0, the padding included), and tree(p) = (q₀ + q₂) + (q₁ + q₃), q_k = t_k + t_{k+4},
///   t_k = p_k + p_{k+8};
/// - g_j = Σ_i X_ij·r_i, one fused multiply-add per term in ascending i from 0 (the order of every other path), four
///   rows at a time while they sit in L1 after their residuals.
/// So each step reads X once, in sequence. Twin: `dln_replica_strided_v16` (Kernels/replica_v16.cl), and the
/// scalar kernels' `dln_row_strided` (Kernels/residual.cl).
extension Kernels {
    /// r (n values) and g (d₁₆ values) of one step from x (n rows of d₁₆), y (n) and w (d₁₆, zero past d).
    public static func stridedProducts(
        double: Bool, x: UnsafeMutableRawPointer, y: UnsafeMutableRawPointer, w: UnsafeMutableRawPointer,
        r: UnsafeMutableRawPointer, g: UnsafeMutableRawPointer, n: Int, d16: Int
    ) {
        // Four rows in both precisions: two rows of Double (whose four accumulators per row fit AVX2's registers
        // without spilling) measured no faster, 55–68k against 59–68k replica-steps/s at d = 500, n = 250.
        if double {
            stridedLoop(Double.self, rows: 4, x, y, w, r, g, n, d16)
        } else {
            stridedLoop(Float.self, rows: 4, x, y, w, r, g, n, d16)
        }
    }
}

/// The fixed tree of the strided order over the 16 partial sums.
@inline(__always)
private func tree<T: Scalar>(_ p: SIMD16<T>) -> T {
    let t = p.lowHalf + p.highHalf  // t_k = p_k + p_{k+8}
    let q = t.lowHalf + t.highHalf  // q_k = t_k + t_{k+4}
    return (q[0] + q[2]) + (q[1] + q[3])
}

@inline(__always)
private func stridedLoop<T: Scalar>(
    _: T.Type, rows R: Int, _ xRaw: UnsafeMutableRawPointer, _ yRaw: UnsafeMutableRawPointer,
    _ wRaw: UnsafeMutableRawPointer, _ rRaw: UnsafeMutableRawPointer, _ gRaw: UnsafeMutableRawPointer, _ n: Int,
    _ d16: Int
) {
    typealias V = SIMD16<T>
    let (x, y, w, r, g) = (
        typed(xRaw, T.self), typed(yRaw, T.self), typed(wRaw, T.self), typed(rRaw, T.self),
        typed(gRaw, T.self)
    )
    var i = 0
    if R == 4 {
        while i + 4 <= n {
            let (x0, x1, x2, x3) = (x + i * d16, x + (i + 1) * d16, x + (i + 2) * d16, x + (i + 3) * d16)
            var (a0, a1, a2, a3) = (V(repeating: 0), V(repeating: 0), V(repeating: 0), V(repeating: 0))
            var j = 0
            while j < d16 {
                let wv = load(w, j)
                a0 = a0.addingProduct(load(x0, j), wv)
                a1 = a1.addingProduct(load(x1, j), wv)
                a2 = a2.addingProduct(load(x2, j), wv)
                a3 = a3.addingProduct(load(x3, j), wv)
                j += 16
            }
            let (r0, r1, r2, r3) = (tree(a0) - y[i], tree(a1) - y[i + 1], tree(a2) - y[i + 2], tree(a3) - y[i + 3])
            (r[i], r[i + 1], r[i + 2], r[i + 3]) = (r0, r1, r2, r3)
            let (s0, s1, s2, s3) = (V(repeating: r0), V(repeating: r1), V(repeating: r2), V(repeating: r3))
            j = 0
            while j < d16 {
                var acc = i == 0 ? V(repeating: 0) : load(g, j)
                acc = acc.addingProduct(load(x0, j), s0)
                acc = acc.addingProduct(load(x1, j), s1)
                acc = acc.addingProduct(load(x2, j), s2)
                acc = acc.addingProduct(load(x3, j), s3)
                store(acc, g, j)
                j += 16
            }
            i += 4
        }
    }
    while i + 2 <= n {
        let (x0, x1) = (x + i * d16, x + (i + 1) * d16)
        var (a0, a1) = (V(repeating: 0), V(repeating: 0))
        var j = 0
        while j < d16 {
            let wv = load(w, j)
            a0 = a0.addingProduct(load(x0, j), wv)
            a1 = a1.addingProduct(load(x1, j), wv)
            j += 16
        }
        let (r0, r1) = (tree(a0) - y[i], tree(a1) - y[i + 1])
        (r[i], r[i + 1]) = (r0, r1)
        let (s0, s1) = (V(repeating: r0), V(repeating: r1))
        j = 0
        while j < d16 {
            var acc = i == 0 ? V(repeating: 0) : load(g, j)
            acc = acc.addingProduct(load(x0, j), s0)
            acc = acc.addingProduct(load(x1, j), s1)
            store(acc, g, j)
            j += 16
        }
        i += 2
    }
    if i < n {  // the last row
        let x0 = x + i * d16
        var a0 = V(repeating: 0)
        var j = 0
        while j < d16 {
            a0 = a0.addingProduct(load(x0, j), load(w, j))
            j += 16
        }
        let r0 = tree(a0) - y[i]
        r[i] = r0
        let s0 = V(repeating: r0)
        j = 0
        while j < d16 {
            store((i == 0 ? V(repeating: 0) : load(g, j)).addingProduct(load(x0, j), s0), g, j)
            j += 16
        }
    }
}
