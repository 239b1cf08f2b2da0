import VectorAccess

/// The products of one block of 16 replicas, and of one replica whose data sit in strips. Twins of Kernels/residual.cl,
/// gradient.cl and products_v16.cl: the same sums in the same order.

/// out_i = (Σ_j M_ij·w_j, fused multiply-adds in ascending j) − t_i for `rows` rows of a d-column matrix M (broadcast,
/// or lane-interleaved when `lanes`), w being one block's d·16 weights: the residual with (X, y), the Gram gradient
/// with (Σ, b). Twin of `dln_residual` and `dln_residual_v16`.
private func matVecLoop<T: Scalar>(
    _: T.Type, _ n: Int, _ d: Int, _ matrix: UnsafeMutableRawPointer, _ targets: UnsafeMutableRawPointer,
    _ lanes: Bool, _ w: UnsafeMutableRawPointer, _ out: UnsafeMutableRawPointer
) {
    typealias V = SIMD16<T>
    let L = 16
    let xs = typed(matrix, T.self)
    let ys = typed(targets, T.self)
    let wb = typed(w, T.self)
    let rb = typed(out, T.self)
    // The loops twice, with `lanes` a constant in each copy (no test of it inside the sums).
    if lanes { matVecRows(T.self, n, d, xs, ys, true, wb, rb) } else { matVecRows(T.self, n, d, xs, ys, false, wb, rb) }
}

@inline(__always)
private func matVecRows<T: Scalar>(
    _: T.Type, _ n: Int, _ d: Int, _ xs: UnsafeMutablePointer<T>, _ ys: UnsafeMutablePointer<T>, _ lanes: Bool,
    _ wb: UnsafeMutablePointer<T>, _ rb: UnsafeMutablePointer<T>
) {
    typealias V = SIMD16<T>
    let L = 16
    let rowStride = lanes ? d * L : d
    @inline(__always) func xv(_ row: UnsafeMutablePointer<T>, _ j: Int) -> V {
        lanes ? load(row, j * L) : V(repeating: row[j])
    }
    @inline(__always) func yv(_ i: Int) -> V { lanes ? load(ys, i * L) : V(repeating: ys[i]) }
    // Four rows at a time share each load of w[j] (six with one data set: 12 accumulators and the broadcasts fit
    // AVX2's 16 registers); every row still sums in ascending j.
    var i = 0
    while !lanes && !wideDouble(T.self) && i + 2 <= n {  // Double on AVX2: 2 rows × 4 registers per vector
        let r0 = xs + i * rowStride
        let r1 = r0 + d
        var (a0, a1) = (V(repeating: 0), V(repeating: 0))
        for j in 0..<d {
            let wj = load(wb, j * L)
            a0 = a0.addingProduct(V(repeating: r0[j]), wj)
            a1 = a1.addingProduct(V(repeating: r1[j]), wj)
        }
        store(a0 - yv(i), rb, i * L)
        store(a1 - yv(i + 1), rb, (i + 1) * L)
        i += 2
    }
    while !lanes && i + 6 <= n {
        let r0 = xs + i * rowStride
        let (r1, r2, r3, r4, r5) = (r0 + d, r0 + 2 * d, r0 + 3 * d, r0 + 4 * d, r0 + 5 * d)
        var a0 = V(repeating: 0)
        var (a1, a2, a3, a4, a5) = (a0, a0, a0, a0, a0)
        for j in 0..<d {
            let wj = load(wb, j * L)
            a0 = a0.addingProduct(V(repeating: r0[j]), wj)
            a1 = a1.addingProduct(V(repeating: r1[j]), wj)
            a2 = a2.addingProduct(V(repeating: r2[j]), wj)
            a3 = a3.addingProduct(V(repeating: r3[j]), wj)
            a4 = a4.addingProduct(V(repeating: r4[j]), wj)
            a5 = a5.addingProduct(V(repeating: r5[j]), wj)
        }
        store(a0 - yv(i), rb, i * L)
        store(a1 - yv(i + 1), rb, (i + 1) * L)
        store(a2 - yv(i + 2), rb, (i + 2) * L)
        store(a3 - yv(i + 3), rb, (i + 3) * L)
        store(a4 - yv(i + 4), rb, (i + 4) * L)
        store(a5 - yv(i + 5), rb, (i + 5) * L)
        i += 6
    }
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
            a0 = a0.addingProduct(xv(r0, j), wj)
            a1 = a1.addingProduct(xv(r1, j), wj)
            a2 = a2.addingProduct(xv(r2, j), wj)
            a3 = a3.addingProduct(xv(r3, j), wj)
        }
        store(a0 - yv(i), rb, i * L)
        store(a1 - yv(i + 1), rb, (i + 1) * L)
        store(a2 - yv(i + 2), rb, (i + 2) * L)
        store(a3 - yv(i + 3), rb, (i + 3) * L)
        i += 4
    }
    while i < n {
        let row = xs + i * rowStride
        var acc = V(repeating: 0)
        for j in 0..<d { acc = acc.addingProduct(xv(row, j), load(wb, j * L)) }
        store(acc - yv(i), rb, i * L)
        i += 1
    }
}

/// Whether 16 lanes of T fit the wide tiles of one data set (six rows or coordinates, each a SIMD16 accumulator): Float
/// (two AVX2 registers per vector, one AVX-512 register), and Double on AVX-512 (two). Double on AVX2 takes four
/// registers per vector, so six (or four) accumulators spill: it takes tiles of two (S regime float64 on a Zen 3 core,
/// d = 500, n = 250: 128–131k replica-steps/s against 67–75k with six rows).
@inline(__always)
private func wideDouble<T: Scalar>(_: T.Type) -> Bool {
    #if DLN_AVX512
        return true
    #else
        return MemoryLayout<T>.size == 4
    #endif
}

/// g_j = Σ_i X_ij·r_i, fused multiply-adds in ascending i from 0, for n rows of X (broadcast, or lane-interleaved
/// when `lanes`) and one block's residuals r (n·16). Twin of `dln_gradient`.
private func gradientLoop<T: Scalar>(
    _: T.Type, _ n: Int, _ d: Int, _ x: UnsafeMutableRawPointer, _ lanes: Bool, _ r: UnsafeMutableRawPointer,
    _ gRaw: UnsafeMutableRawPointer
) {
    typealias V = SIMD16<T>
    let L = 16
    let xs = typed(x, T.self)
    let rb = typed(r, T.self)
    let g = typed(gRaw, V.self)
    if !lanes {
        // One data set: four coordinates at a time, each sum in a register over every row (no load or store of g
        // inside the loop), X read four neighbouring columns per row: the shape of dln_gradient_v16.
        var j = 0
        while !wideDouble(T.self) && j + 2 <= d {  // Double on AVX2: two coordinates, 8 registers
            var (a0, a1) = (V(repeating: 0), V(repeating: 0))
            var row = xs + j
            for i in 0..<n {
                let ri = load(rb, i * L)
                a0 = a0.addingProduct(V(repeating: row[0]), ri)
                a1 = a1.addingProduct(V(repeating: row[1]), ri)
                row += d
            }
            (g[j], g[j + 1]) = (a0, a1)
            j += 2
        }
        while j + 6 <= d {  // six coordinates: 12 accumulators
            var a0 = V(repeating: 0)
            var (a1, a2, a3, a4, a5) = (a0, a0, a0, a0, a0)
            var row = xs + j
            for i in 0..<n {
                let ri = load(rb, i * L)
                a0 = a0.addingProduct(V(repeating: row[0]), ri)
                a1 = a1.addingProduct(V(repeating: row[1]), ri)
                a2 = a2.addingProduct(V(repeating: row[2]), ri)
                a3 = a3.addingProduct(V(repeating: row[3]), ri)
                a4 = a4.addingProduct(V(repeating: row[4]), ri)
                a5 = a5.addingProduct(V(repeating: row[5]), ri)
                row += d
            }
            (g[j], g[j + 1], g[j + 2], g[j + 3], g[j + 4], g[j + 5]) = (a0, a1, a2, a3, a4, a5)
            j += 6
        }
        while j + 4 <= d {
            var a0 = V(repeating: 0)
            var a1 = a0
            var a2 = a0
            var a3 = a0
            var row = xs + j
            for i in 0..<n {
                let ri = load(rb, i * L)
                a0 = a0.addingProduct(V(repeating: row[0]), ri)
                a1 = a1.addingProduct(V(repeating: row[1]), ri)
                a2 = a2.addingProduct(V(repeating: row[2]), ri)
                a3 = a3.addingProduct(V(repeating: row[3]), ri)
                row += d
            }
            g[j] = a0
            g[j + 1] = a1
            g[j + 2] = a2
            g[j + 3] = a3
            j += 4
        }
        while j < d {
            var acc = V(repeating: 0)
            for i in 0..<n { acc = acc.addingProduct(V(repeating: xs[i * d + j]), load(rb, i * L)) }
            g[j] = acc
            j += 1
        }
        return
    }
    for j in 0..<d { g[j] = V(repeating: 0) }
    // Lane-interleaved X (one data set per lane).
    let rowStride = d * L
    @inline(__always) func xv(_ row: UnsafeMutablePointer<T>, _ j: Int) -> V { load(row, j * L) }
    // Four rows at a time: each g[j] is loaded and stored once per four rows, still adding rows in ascending i.
    var i = 0
    while i + 4 <= n {
        let q0 = load(rb, i * L)
        let q1 = load(rb, (i + 1) * L)
        let q2 = load(rb, (i + 2) * L)
        let q3 = load(rb, (i + 3) * L)
        let r0 = xs + i * rowStride
        let r1 = r0 + rowStride
        let r2 = r1 + rowStride
        let r3 = r2 + rowStride
        for j in 0..<d {
            var gj = g[j]
            gj = gj.addingProduct(xv(r0, j), q0)
            gj = gj.addingProduct(xv(r1, j), q1)
            gj = gj.addingProduct(xv(r2, j), q2)
            gj = gj.addingProduct(xv(r3, j), q3)
            g[j] = gj
        }
        i += 4
    }
    while i < n {
        let qi = load(rb, i * L)
        let row = xs + i * rowStride
        for j in 0..<d { g[j] = g[j].addingProduct(xv(row, j), qi) }
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
}
