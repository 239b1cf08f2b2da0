import VectorAccess

/// The two products for blocks of 16 replicas that share a data set, in register tiles of two or four blocks: twice
/// or four times the independent fma chains per load of X. Per replica the same sums in the same order as `matVecLoop`
/// and `gradientLoop` (r_i over ascending j, each g_j over ascending i), and as the pair kernels of
/// Kernels/products_v16.cl (`dln_residual_v16p`, `dln_gradient_v16p`).

/// Four blocks, four rows × 64 replicas at a time (16 accumulators). w and r hold the four blocks one after another
/// (d·16 and n·16 elements each), g the four blocks' sums (4·d vectors).
private func quadTiles<T: Scalar>(
    _: T.Type, _ x: UnsafeMutableRawPointer, _ y: UnsafeMutableRawPointer, _ w: UnsafeMutableRawPointer,
    _ r: UnsafeMutableRawPointer, _ gRaw: UnsafeMutableRawPointer, n: Int, d: Int
) {
    typealias V = SIMD16<T>
    let L = 16
    let xs = typed(x, T.self)
    let ys = typed(y, T.self)
    let g = typed(gRaw, V.self)
    let w0 = typed(w, T.self)
    let w1 = w0 + d * L
    let w2 = w1 + d * L
    let w3 = w2 + d * L
    let r0 = typed(r, T.self)
    let r1 = r0 + n * L
    let r2 = r1 + n * L
    let r3 = r2 + n * L
    let g0 = g
    let g1 = g + d
    let g2 = g + 2 * d
    let g3 = g + 3 * d
    var i = 0
    while i + 4 <= n {
        let x0 = xs + i * d
        let x1 = x0 + d
        let x2 = x1 + d
        let x3 = x2 + d
        let z = V(repeating: 0)
        var a00 = z
        var a01 = z
        var a02 = z
        var a03 = z
        var a10 = z
        var a11 = z
        var a12 = z
        var a13 = z
        var a20 = z
        var a21 = z
        var a22 = z
        var a23 = z
        var a30 = z
        var a31 = z
        var a32 = z
        var a33 = z
        for j in 0..<d {
            let v0 = load(w0, j * L)
            let v1 = load(w1, j * L)
            let v2 = load(w2, j * L)
            let v3 = load(w3, j * L)
            let e0 = V(repeating: x0[j])
            let e1 = V(repeating: x1[j])
            let e2 = V(repeating: x2[j])
            let e3 = V(repeating: x3[j])
            a00 = a00.addingProduct(e0, v0)
            a01 = a01.addingProduct(e0, v1)
            a02 = a02.addingProduct(e0, v2)
            a03 = a03.addingProduct(e0, v3)
            a10 = a10.addingProduct(e1, v0)
            a11 = a11.addingProduct(e1, v1)
            a12 = a12.addingProduct(e1, v2)
            a13 = a13.addingProduct(e1, v3)
            a20 = a20.addingProduct(e2, v0)
            a21 = a21.addingProduct(e2, v1)
            a22 = a22.addingProduct(e2, v2)
            a23 = a23.addingProduct(e2, v3)
            a30 = a30.addingProduct(e3, v0)
            a31 = a31.addingProduct(e3, v1)
            a32 = a32.addingProduct(e3, v2)
            a33 = a33.addingProduct(e3, v3)
        }
        let y0 = V(repeating: ys[i])
        let y1 = V(repeating: ys[i + 1])
        let y2 = V(repeating: ys[i + 2])
        let y3 = V(repeating: ys[i + 3])
        store(a00 - y0, r0, i * L)
        store(a10 - y1, r0, (i + 1) * L)
        store(a20 - y2, r0, (i + 2) * L)
        store(a30 - y3, r0, (i + 3) * L)
        store(a01 - y0, r1, i * L)
        store(a11 - y1, r1, (i + 1) * L)
        store(a21 - y2, r1, (i + 2) * L)
        store(a31 - y3, r1, (i + 3) * L)
        store(a02 - y0, r2, i * L)
        store(a12 - y1, r2, (i + 1) * L)
        store(a22 - y2, r2, (i + 2) * L)
        store(a32 - y3, r2, (i + 3) * L)
        store(a03 - y0, r3, i * L)
        store(a13 - y1, r3, (i + 1) * L)
        store(a23 - y2, r3, (i + 2) * L)
        store(a33 - y3, r3, (i + 3) * L)
        i += 4
    }
    while i < n {
        let row = xs + i * d
        var c0 = V(repeating: 0)
        var c1 = c0
        var c2 = c0
        var c3 = c0
        for j in 0..<d {
            let e = V(repeating: row[j])
            c0 = c0.addingProduct(e, load(w0, j * L))
            c1 = c1.addingProduct(e, load(w1, j * L))
            c2 = c2.addingProduct(e, load(w2, j * L))
            c3 = c3.addingProduct(e, load(w3, j * L))
        }
        let yi = V(repeating: ys[i])
        store(c0 - yi, r0, i * L)
        store(c1 - yi, r1, i * L)
        store(c2 - yi, r2, i * L)
        store(c3 - yi, r3, i * L)
        i += 1
    }
    for j in 0..<(4 * d) { g[j] = V(repeating: 0) }
    i = 0
    while i + 4 <= n {
        let q00 = load(r0, i * L)
        let q10 = load(r0, (i + 1) * L)
        let q20 = load(r0, (i + 2) * L)
        let q30 = load(r0, (i + 3) * L)
        let q01 = load(r1, i * L)
        let q11 = load(r1, (i + 1) * L)
        let q21 = load(r1, (i + 2) * L)
        let q31 = load(r1, (i + 3) * L)
        let q02 = load(r2, i * L)
        let q12 = load(r2, (i + 1) * L)
        let q22 = load(r2, (i + 2) * L)
        let q32 = load(r2, (i + 3) * L)
        let q03 = load(r3, i * L)
        let q13 = load(r3, (i + 1) * L)
        let q23 = load(r3, (i + 2) * L)
        let q33 = load(r3, (i + 3) * L)
        let x0 = xs + i * d
        let x1 = x0 + d
        let x2 = x1 + d
        let x3 = x2 + d
        for j in 0..<d {
            let e0 = V(repeating: x0[j])
            let e1 = V(repeating: x1[j])
            let e2 = V(repeating: x2[j])
            let e3 = V(repeating: x3[j])
            var h0 = g0[j]
            var h1 = g1[j]
            var h2 = g2[j]
            var h3 = g3[j]
            h0 = h0.addingProduct(e0, q00)
            h1 = h1.addingProduct(e0, q01)
            h2 = h2.addingProduct(e0, q02)
            h3 = h3.addingProduct(e0, q03)
            h0 = h0.addingProduct(e1, q10)
            h1 = h1.addingProduct(e1, q11)
            h2 = h2.addingProduct(e1, q12)
            h3 = h3.addingProduct(e1, q13)
            h0 = h0.addingProduct(e2, q20)
            h1 = h1.addingProduct(e2, q21)
            h2 = h2.addingProduct(e2, q22)
            h3 = h3.addingProduct(e2, q23)
            h0 = h0.addingProduct(e3, q30)
            h1 = h1.addingProduct(e3, q31)
            h2 = h2.addingProduct(e3, q32)
            h3 = h3.addingProduct(e3, q33)
            g0[j] = h0
            g1[j] = h1
            g2[j] = h2
            g3[j] = h3
        }
        i += 4
    }
    while i < n {
        let p0 = load(r0, i * L)
        let p1 = load(r1, i * L)
        let p2 = load(r2, i * L)
        let p3 = load(r3, i * L)
        let row = xs + i * d
        for j in 0..<d {
            let e = V(repeating: row[j])
            g0[j] = g0[j].addingProduct(e, p0)
            g1[j] = g1[j].addingProduct(e, p1)
            g2[j] = g2[j].addingProduct(e, p2)
            g3[j] = g3[j].addingProduct(e, p3)
        }
        i += 1
    }
}

/// Two blocks (w, r and g of each), four or six rows × 32 replicas at a time.
private func pairTiles<T: Scalar>(
    _: T.Type, _ x: UnsafeMutableRawPointer, _ y: UnsafeMutableRawPointer,
    _ w: (UnsafeMutableRawPointer, UnsafeMutableRawPointer), _ r: (UnsafeMutableRawPointer, UnsafeMutableRawPointer),
    _ gs: (UnsafeMutableRawPointer, UnsafeMutableRawPointer), n: Int, d: Int
) {
    typealias V = SIMD16<T>
    let L = 16
    let xs = typed(x, T.self)
    let ys = typed(y, T.self)
    let (wa, wb) = (typed(w.0, T.self), typed(w.1, T.self))
    let (ra, rb) = (typed(r.0, T.self), typed(r.1, T.self))
    let (g, g2) = (typed(gs.0, V.self), typed(gs.1, V.self))
    var i = 0
    while i + 6 <= n {
        let x0 = xs + i * d
        let x1 = x0 + d
        let x2 = x1 + d
        let x3 = x2 + d
        let x4 = x3 + d
        let x5 = x4 + d
        let z = V(repeating: 0)
        var a0 = z
        var a1 = z
        var a2 = z
        var a3 = z
        var a4 = z
        var a5 = z
        var c0 = z
        var c1 = z
        var c2 = z
        var c3 = z
        var c4 = z
        var c5 = z
        for j in 0..<d {
            let wj = load(wa, j * L)
            let vj = load(wb, j * L)
            let e0 = V(repeating: x0[j])
            let e1 = V(repeating: x1[j])
            let e2 = V(repeating: x2[j])
            let e3 = V(repeating: x3[j])
            let e4 = V(repeating: x4[j])
            let e5 = V(repeating: x5[j])
            a0 = a0.addingProduct(e0, wj)
            c0 = c0.addingProduct(e0, vj)
            a1 = a1.addingProduct(e1, wj)
            c1 = c1.addingProduct(e1, vj)
            a2 = a2.addingProduct(e2, wj)
            c2 = c2.addingProduct(e2, vj)
            a3 = a3.addingProduct(e3, wj)
            c3 = c3.addingProduct(e3, vj)
            a4 = a4.addingProduct(e4, wj)
            c4 = c4.addingProduct(e4, vj)
            a5 = a5.addingProduct(e5, wj)
            c5 = c5.addingProduct(e5, vj)
        }
        let y0 = V(repeating: ys[i])
        let y1 = V(repeating: ys[i + 1])
        let y2 = V(repeating: ys[i + 2])
        let y3 = V(repeating: ys[i + 3])
        let y4 = V(repeating: ys[i + 4])
        let y5 = V(repeating: ys[i + 5])
        store(a0 - y0, ra, i * L)
        store(c0 - y0, rb, i * L)
        store(a1 - y1, ra, (i + 1) * L)
        store(c1 - y1, rb, (i + 1) * L)
        store(a2 - y2, ra, (i + 2) * L)
        store(c2 - y2, rb, (i + 2) * L)
        store(a3 - y3, ra, (i + 3) * L)
        store(c3 - y3, rb, (i + 3) * L)
        store(a4 - y4, ra, (i + 4) * L)
        store(c4 - y4, rb, (i + 4) * L)
        store(a5 - y5, ra, (i + 5) * L)
        store(c5 - y5, rb, (i + 5) * L)
        i += 6
    }
    while i + 4 <= n {
        let x0 = xs + i * d
        let x1 = x0 + d
        let x2 = x1 + d
        let x3 = x2 + d
        var a0 = V(repeating: 0)
        var a1 = a0
        var a2 = a0
        var a3 = a0
        var c0 = a0
        var c1 = a0
        var c2 = a0
        var c3 = a0
        for j in 0..<d {
            let wj = load(wa, j * L)
            let vj = load(wb, j * L)
            let e0 = V(repeating: x0[j])
            let e1 = V(repeating: x1[j])
            let e2 = V(repeating: x2[j])
            let e3 = V(repeating: x3[j])
            a0 = a0.addingProduct(e0, wj)
            c0 = c0.addingProduct(e0, vj)
            a1 = a1.addingProduct(e1, wj)
            c1 = c1.addingProduct(e1, vj)
            a2 = a2.addingProduct(e2, wj)
            c2 = c2.addingProduct(e2, vj)
            a3 = a3.addingProduct(e3, wj)
            c3 = c3.addingProduct(e3, vj)
        }
        let y0 = V(repeating: ys[i])
        let y1 = V(repeating: ys[i + 1])
        let y2 = V(repeating: ys[i + 2])
        let y3 = V(repeating: ys[i + 3])
        store(a0 - y0, ra, i * L)
        store(a1 - y1, ra, (i + 1) * L)
        store(a2 - y2, ra, (i + 2) * L)
        store(a3 - y3, ra, (i + 3) * L)
        store(c0 - y0, rb, i * L)
        store(c1 - y1, rb, (i + 1) * L)
        store(c2 - y2, rb, (i + 2) * L)
        store(c3 - y3, rb, (i + 3) * L)
        i += 4
    }
    while i < n {
        let row = xs + i * d
        var acc = V(repeating: 0)
        var acc2 = V(repeating: 0)
        for j in 0..<d {
            let e = V(repeating: row[j])
            acc = acc.addingProduct(e, load(wa, j * L))
            acc2 = acc2.addingProduct(e, load(wb, j * L))
        }
        store(acc - V(repeating: ys[i]), ra, i * L)
        store(acc2 - V(repeating: ys[i]), rb, i * L)
        i += 1
    }
    for j in 0..<d {
        g[j] = V(repeating: 0)
        g2[j] = V(repeating: 0)
    }
    i = 0
    while i + 6 <= n {
        let q0 = load(ra, i * L)
        let q1 = load(ra, (i + 1) * L)
        let q2 = load(ra, (i + 2) * L)
        let q3 = load(ra, (i + 3) * L)
        let q4 = load(ra, (i + 4) * L)
        let q5 = load(ra, (i + 5) * L)
        let p0 = load(rb, i * L)
        let p1 = load(rb, (i + 1) * L)
        let p2 = load(rb, (i + 2) * L)
        let p3 = load(rb, (i + 3) * L)
        let p4 = load(rb, (i + 4) * L)
        let p5 = load(rb, (i + 5) * L)
        let x0 = xs + i * d
        let x1 = x0 + d
        let x2 = x1 + d
        let x3 = x2 + d
        let x4 = x3 + d
        let x5 = x4 + d
        for j in 0..<d {
            let e0 = V(repeating: x0[j])
            let e1 = V(repeating: x1[j])
            let e2 = V(repeating: x2[j])
            let e3 = V(repeating: x3[j])
            let e4 = V(repeating: x4[j])
            let e5 = V(repeating: x5[j])
            var ga = g[j]
            var gb = g2[j]
            ga = ga.addingProduct(e0, q0)
            gb = gb.addingProduct(e0, p0)
            ga = ga.addingProduct(e1, q1)
            gb = gb.addingProduct(e1, p1)
            ga = ga.addingProduct(e2, q2)
            gb = gb.addingProduct(e2, p2)
            ga = ga.addingProduct(e3, q3)
            gb = gb.addingProduct(e3, p3)
            ga = ga.addingProduct(e4, q4)
            gb = gb.addingProduct(e4, p4)
            ga = ga.addingProduct(e5, q5)
            gb = gb.addingProduct(e5, p5)
            g[j] = ga
            g2[j] = gb
        }
        i += 6
    }
    while i + 4 <= n {
        let q0 = load(ra, i * L)
        let q1 = load(ra, (i + 1) * L)
        let q2 = load(ra, (i + 2) * L)
        let q3 = load(ra, (i + 3) * L)
        let p0 = load(rb, i * L)
        let p1 = load(rb, (i + 1) * L)
        let p2 = load(rb, (i + 2) * L)
        let p3 = load(rb, (i + 3) * L)
        let x0 = xs + i * d
        let x1 = x0 + d
        let x2 = x1 + d
        let x3 = x2 + d
        for j in 0..<d {
            let e0 = V(repeating: x0[j])
            let e1 = V(repeating: x1[j])
            let e2 = V(repeating: x2[j])
            let e3 = V(repeating: x3[j])
            var ga = g[j]
            var gb = g2[j]
            ga = ga.addingProduct(e0, q0)
            gb = gb.addingProduct(e0, p0)
            ga = ga.addingProduct(e1, q1)
            gb = gb.addingProduct(e1, p1)
            ga = ga.addingProduct(e2, q2)
            gb = gb.addingProduct(e2, p2)
            ga = ga.addingProduct(e3, q3)
            gb = gb.addingProduct(e3, p3)
            g[j] = ga
            g2[j] = gb
        }
        i += 4
    }
    while i < n {
        let qi = load(ra, i * L)
        let pi = load(rb, i * L)
        let row = xs + i * d
        for j in 0..<d {
            let e = V(repeating: row[j])
            g[j] = g[j].addingProduct(e, qi)
            g2[j] = g2[j].addingProduct(e, pi)
        }
        i += 1
    }
}

extension Kernels {
    /// The two products for four blocks of 16 replicas that share a data set (x: n × d, y: n), w and r of the four
    /// blocks one after another (d·16 and n·16 elements each), g: 4·d vectors.
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
}
