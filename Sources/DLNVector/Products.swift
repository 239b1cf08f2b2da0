import VectorAccess

/// The products of one block of 16 replicas with one data set per lane, and of one replica whose data sit in strips.
/// Twins of Kernels/residual.cl, gradient.cl and products_v16.cl: the same sums in the same order. (Blocks that share
/// one data set: Panels.swift.)

/// out_i = (Σ_j M_ij·w_j, fused multiply-adds in ascending j) − t_i for `rows` rows of a lane-interleaved d-column
/// matrix M (M[i][j][lane], t[i][lane]), w being one block's d·16 weights: the residual with (X, y), the Gram gradient
/// with (Σ, b), one data set per lane. Twin of `dln_residual_v16`.
private func matVecLoop<T: Scalar>(
    _: T.Type, _ n: Int, _ d: Int, _ matrix: UnsafeMutableRawPointer, _ targets: UnsafeMutableRawPointer,
    _ w: UnsafeMutableRawPointer, _ out: UnsafeMutableRawPointer
) {
    typealias V = SIMD16<T>
    let L = 16
    let xs = typed(matrix, T.self)
    let ys = typed(targets, T.self)
    let wb = typed(w, T.self)
    let rb = typed(out, T.self)
    let rowStride = d * L
    // Four rows at a time share each load of w[j]; every row still sums in ascending j.
    var i = 0
    while i + 4 <= n {
        let r0 = xs + i * rowStride
        let r1 = r0 + rowStride
        let r2 = r1 + rowStride
        let r3 = r2 + rowStride
        var a0 = V(repeating: 0)
        var a1 = a0
        var a2 = a0
        var a3 = a0
        for j in 0..<d {
            let wj = load(wb, j * L)
            a0 = a0.addingProduct(load(r0, j * L), wj)
            a1 = a1.addingProduct(load(r1, j * L), wj)
            a2 = a2.addingProduct(load(r2, j * L), wj)
            a3 = a3.addingProduct(load(r3, j * L), wj)
        }
        store(a0 - load(ys, i * L), rb, i * L)
        store(a1 - load(ys, (i + 1) * L), rb, (i + 1) * L)
        store(a2 - load(ys, (i + 2) * L), rb, (i + 2) * L)
        store(a3 - load(ys, (i + 3) * L), rb, (i + 3) * L)
        i += 4
    }
    while i < n {
        let row = xs + i * rowStride
        var acc = V(repeating: 0)
        for j in 0..<d { acc = acc.addingProduct(load(row, j * L), load(wb, j * L)) }
        store(acc - load(ys, i * L), rb, i * L)
        i += 1
    }
}

/// Residual and gradient in one pass over the rows of lane-interleaved data: row i (16 lanes × d) is read from memory
/// once, for r_i and then for g += X_i·r_i while it sits in L1. The sums keep their order (r_i over ascending j, each
/// g_j over ascending i), so the result is bit-identical to the two-pass form; the traffic from memory halves.
private func fusedLoop<T: Scalar>(
    _: T.Type, _ n: Int, _ d: Int, _ x: UnsafeMutableRawPointer, _ y: UnsafeMutableRawPointer,
    _ w: UnsafeMutableRawPointer, _ r: UnsafeMutableRawPointer, _ gRaw: UnsafeMutableRawPointer
) {
    typealias V = SIMD16<T>
    let L = 16
    let xb = typed(x, T.self)
    let yb = typed(y, T.self)
    let wb = typed(w, T.self)
    let rb = typed(r, T.self)
    let g = typed(gRaw, V.self)
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

/// out = Av (− t), for A stored in strips (strip (c, m) of `stripWidths`: `rows` rows of m columns, at c·rows):
/// out_col = Σ_k A_k,col·v_k, one chain of fused multiply-adds over ascending k from 0 per column, 16 columns per
/// vector and up to eight vectors at a time; then minus t_col when given. With (Xᵀ, w, y) it is r = Xw − y, with
/// (X, r) the gradient sums g = Xᵀr, with (Σᵀ, w, c) the Gram form's g = Σw − c.
private func stripLoop<T: Scalar>(
    _: T.Type, _ aRaw: UnsafeMutableRawPointer, _ rows: Int, _ columns: Int, _ vRaw: UnsafeMutableRawPointer,
    _ tRaw: UnsafeMutableRawPointer?, _ outRaw: UnsafeMutableRawPointer
) {
    typealias V = SIMD16<T>
    let a = typed(aRaw, T.self)
    let v = typed(vRaw, T.self)
    let t = tRaw.map { typed($0, T.self) }
    let out = typed(outRaw, T.self)
    @inline(__always) func put(_ acc: V, _ col: Int) { store(t.map { acc - load($0, col) } ?? acc, out, col) }
    for (c, m) in stripWidths(columns) {
        var row = a + c * rows
        if m == 128 {
            var a0 = V(repeating: 0)
            var (a1, a2, a3, a4, a5, a6, a7) = (a0, a0, a0, a0, a0, a0, a0)
            for k in 0..<rows {
                let vk = V(repeating: v[k])
                a0 = a0.addingProduct(load(row, 0), vk)
                a1 = a1.addingProduct(load(row, 16), vk)
                a2 = a2.addingProduct(load(row, 32), vk)
                a3 = a3.addingProduct(load(row, 48), vk)
                a4 = a4.addingProduct(load(row, 64), vk)
                a5 = a5.addingProduct(load(row, 80), vk)
                a6 = a6.addingProduct(load(row, 96), vk)
                a7 = a7.addingProduct(load(row, 112), vk)
                row += 128
            }
            put(a0, c)
            put(a1, c + 16)
            put(a2, c + 32)
            put(a3, c + 48)
            put(a4, c + 64)
            put(a5, c + 80)
            put(a6, c + 96)
            put(a7, c + 112)
        } else if m == 64 {
            var a0 = V(repeating: 0)
            var (a1, a2, a3) = (a0, a0, a0)
            for k in 0..<rows {
                let vk = V(repeating: v[k])
                a0 = a0.addingProduct(load(row, 0), vk)
                a1 = a1.addingProduct(load(row, 16), vk)
                a2 = a2.addingProduct(load(row, 32), vk)
                a3 = a3.addingProduct(load(row, 48), vk)
                row += 64
            }
            put(a0, c)
            put(a1, c + 16)
            put(a2, c + 32)
            put(a3, c + 48)
        } else {
            var a0 = V(repeating: 0)
            for k in 0..<rows {
                a0 = a0.addingProduct(load(row, 0), V(repeating: v[k]))
                row += 16
            }
            put(a0, c)
        }
    }
}

extension Kernels {
    /// out_i = Σ_j M_ij·w_j − t_i for `rows` rows of a lane-interleaved d-column matrix.
    public static func matVec(
        double: Bool, rows: Int, d: Int, matrix: UnsafeMutableRawPointer, targets: UnsafeMutableRawPointer,
        w: UnsafeMutableRawPointer, out: UnsafeMutableRawPointer
    ) {
        if double {
            matVecLoop(Double.self, rows, d, matrix, targets, w, out)
        } else {
            matVecLoop(Float.self, rows, d, matrix, targets, w, out)
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
}
