import VectorAccess

/// The products of one block of 16 replicas that share one data set, from packed panels of it (`Kernels.panelWidth`
/// rows or columns side by side, zero beyond the matrix): the residual reads six rows of X as one stream of 24-byte
/// groups, the gradient six columns, instead of six streams a row apart. The register tiles are those of GEMM
/// micro-kernels (six × 16 lanes: 12 AVX2 accumulators). Twins of Kernels/residual.cl, gradient.cl and
/// products_v16.cl: every r_i and g_j is one chain of fused multiply-adds in ascending index, as there; the panels
/// only move where the terms are read from, never their order.
extension Kernels {
    /// The rows (residual) or columns (gradient) of one panel.
    public static let panelWidth = 6

    /// The residual's panels of a rows × columns row-major matrix M: panel p holds rows 6p…6p+5 column by column,
    /// out[(p·columns + j)·6 + c] = M[6p + c][j] (0 past the last row). ⌈rows/6⌉·6·columns values.
    @inlinable
    public static func rowPanels<T>(_ m: UnsafePointer<T>, rows: Int, columns: Int, into out: UnsafeMutablePointer<T>)
    where T: BinaryFloatingPoint {
        let w = panelWidth
        for p in 0..<((rows + w - 1) / w) {
            for j in 0..<columns {
                for c in 0..<w {
                    let i = p * w + c
                    out[(p * columns + j) * w + c] = i < rows ? m[i * columns + j] : 0
                }
            }
        }
    }

    /// The gradient's panels of a rows × columns row-major matrix M: panel q holds columns 6q…6q+5 row by row,
    /// out[(q·rows + i)·6 + c] = M[i][6q + c] (0 past the last column). rows·⌈columns/6⌉·6 values.
    @inlinable
    public static func columnPanels<T>(
        _ m: UnsafePointer<T>, rows: Int, columns: Int, into out: UnsafeMutablePointer<T>
    ) where T: BinaryFloatingPoint {
        let w = panelWidth
        for q in 0..<((columns + w - 1) / w) {
            for i in 0..<rows {
                for c in 0..<w {
                    let j = q * w + c
                    out[(q * rows + i) * w + c] = j < columns ? m[i * columns + j] : 0
                }
            }
        }
    }

    /// out_i = (Σ_j M_ij·w_j, fused multiply-adds in ascending j) − t_i for the `rows` rows of M given as
    /// `rowPanels`, w being one block's d·16 weights. Twin of `dln_residual`.
    public static func panelResidual(
        double: Bool, rows: Int, d: Int, panels: UnsafeMutableRawPointer, targets: UnsafeMutableRawPointer,
        w: UnsafeMutableRawPointer, out: UnsafeMutableRawPointer
    ) {
        if double {
            panelLoop(Double.self, rows, d, panels, targets, w, out)
        } else {
            panelLoop(Float.self, rows, d, panels, targets, w, out)
        }
    }

    /// g_j = Σ_i X_ij·r_i (fused multiply-adds in ascending i) for the d columns of X given as `columnPanels` and one
    /// block's residuals r (n·16). Twin of `dln_gradient`.
    public static func panelGradient(
        double: Bool, n: Int, d: Int, panels: UnsafeMutableRawPointer, r: UnsafeMutableRawPointer,
        g: UnsafeMutableRawPointer
    ) {
        if double {
            panelLoop(Double.self, d, n, panels, nil, r, g)
        } else {
            panelLoop(Float.self, d, n, panels, nil, r, g)
        }
    }
}

/// The accumulators' sums over `length` terms: a_c = Σ_k a[k·6 + c]·b_k (fused multiply-adds in ascending k), a being
/// one panel and b_k vectors of V 16 elements apart (16 replicas' lanes, or 8 of them), for c < `width` (2, 4 or 6, a
/// constant where this is inlined; the others stay 0). The last panel of a matrix whose rows or columns are not a
/// multiple of six sums only as many as it holds (rounded up to even): at n = 250 and d = 500 the padding cost 0.8% of
/// each product.
@inline(__always)
private func panelSums<V: SIMD>(
    _: V.Type, _ a: UnsafeMutablePointer<V.Scalar>, _ b: UnsafeMutablePointer<V.Scalar>, _ length: Int, width: Int
) -> (V, V, V, V, V, V) where V.Scalar: Scalar {
    var a0 = V(repeating: 0)
    var (a1, a2, a3, a4, a5) = (a0, a0, a0, a0, a0)
    var p = a
    for k in 0..<length {
        let bk = UnsafeRawPointer(b + k * 16).loadUnaligned(as: V.self)
        a0 = a0.addingProduct(V(repeating: p[0]), bk)
        a1 = a1.addingProduct(V(repeating: p[1]), bk)
        if width > 2 {
            a2 = a2.addingProduct(V(repeating: p[2]), bk)
            a3 = a3.addingProduct(V(repeating: p[3]), bk)
        }
        if width > 4 {
            a4 = a4.addingProduct(V(repeating: p[4]), bk)
            a5 = a5.addingProduct(V(repeating: p[5]), bk)
        }
        p += 6
    }
    return (a0, a1, a2, a3, a4, a5)
}

/// `panelSums` of width 6, or of the width the last panel needs when `left` (its rows or columns) is under six.
@inline(__always)
private func panelSums<V: SIMD>(
    _: V.Type, _ a: UnsafeMutablePointer<V.Scalar>, _ b: UnsafeMutablePointer<V.Scalar>, _ length: Int, left: Int
) -> (V, V, V, V, V, V) where V.Scalar: Scalar {
    if left > 4 { return panelSums(V.self, a, b, length, width: 6) }
    if left > 2 { return panelSums(V.self, a, b, length, width: 4) }
    return panelSums(V.self, a, b, length, width: 2)
}

/// Whether six SIMD16 accumulators of T fit the registers: Float (two AVX2 registers per vector, one AVX-512
/// register), and Double on AVX-512 (two). Double on AVX2 takes four registers per vector, and six would spill: it runs
/// each panel in two halves of eight lanes (S regime float64 on a Zen 3 core, d = 500, n = 250: 178–180k
/// replica-steps/s in halves against 138–141k with two accumulators of 16 lanes at a time). Each lane's sums are the
/// same either way.
@inline(__always)
private func wholeBlocks<T: Scalar>(_: T.Type) -> Bool {
    #if DLN_AVX512
        return true
    #else
        return MemoryLayout<T>.size == 4
    #endif
}

/// Stores six sums of one panel into rows `first`…`first` + 5 (16 elements apart, from lane `lane`) of `out`, minus
/// `targets[row]` when given; rows from `count` on are padding and are not stored.
@inline(__always)
private func putSix<V: SIMD>(
    _ s: (V, V, V, V, V, V), _ out: UnsafeMutablePointer<V.Scalar>, _ first: Int, _ lane: Int, _ count: Int,
    _ targets: UnsafeMutablePointer<V.Scalar>?
) where V.Scalar: Scalar {
    @inline(__always) func one(_ v: V, _ row: Int) {
        guard row < count else { return }
        let value = targets.map { v - V(repeating: $0[row]) } ?? v
        UnsafeMutableRawPointer(out + row * 16 + lane).storeBytes(of: value, as: V.self)
    }
    one(s.0, first)
    one(s.1, first + 1)
    one(s.2, first + 2)
    one(s.3, first + 3)
    one(s.4, first + 4)
    one(s.5, first + 5)
}

/// out_i = (Σ_j M_ij·w_j) − t_i (or g_j = Σ_i X_ij·r_i without targets) over every panel of `panels`: `count` outputs,
/// each a sum of `length` terms against b (16 lanes per term).
private func panelLoop<T: Scalar>(
    _: T.Type, _ count: Int, _ length: Int, _ panels: UnsafeMutableRawPointer, _ targets: UnsafeMutableRawPointer?,
    _ b: UnsafeMutableRawPointer, _ out: UnsafeMutableRawPointer
) {
    let xp = typed(panels, T.self)
    let t = targets.map { typed($0, T.self) }
    let bb = typed(b, T.self)
    let o = typed(out, T.self)
    var first = 0
    while first < count {
        let panel = xp + first * length
        if wholeBlocks(T.self) {
            putSix(panelSums(SIMD16<T>.self, panel, bb, length, left: count - first), o, first, 0, count, t)
        } else {
            putSix(panelSums(SIMD8<T>.self, panel, bb, length, left: count - first), o, first, 0, count, t)
            putSix(panelSums(SIMD8<T>.self, panel, bb + 8, length, left: count - first), o, first, 8, count, t)
        }
        first += 6
    }
}
