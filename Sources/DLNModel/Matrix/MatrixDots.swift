/// The products of the matrix model's CPU engine (MatrixCPU.swift): every output is one fma chain over k, ascending
/// from its start value, whichever register tile computes it, so the results are the bits of Kernels/matrix.cl.
/// Operands are SIMD16 vectors (one per 16-replica block and element); A(r, k) is at a[r·ar + k·ak] and B(c, k) at
/// b[c·br + k·bk], so one function serves the forward chain, back-propagation and the layer gradients.

/// out(r, c) = start(r, c) + Σ_{k<K} A(r, k)·B(c, k) for r < R, c < C, handed to `store(r, c, out)`. Float runs
/// 5×5 tiles (edges 5×1, 1×5, 1×1), Double (two registers per vector) 2×4 tiles. Rows of tiles outer, columns
/// inner: a tile row's A stays in L1 while B streams from L2. Specialised (not inlined): `start` and `store` are
/// called once per output, not per term.
@_specialize(where T == Float)
@_specialize(where T == Double)
func matrixDots<T: DLNReal>(
    rows R: Int, columns C: Int, depth K: Int,
    _ a: UnsafePointer<SIMD16<T>>, _ ar: Int, _ ak: Int,
    _ b: UnsafePointer<SIMD16<T>>, _ br: Int, _ bk: Int,
    start: (Int, Int) -> SIMD16<T>, store: (Int, Int, SIMD16<T>) -> Void
) {
    let wide = MemoryLayout<T>.size == 4
    let tr = wide ? 5 : 2
    let tc = wide ? 5 : 4
    var r = 0
    while r < R {
        let r0 = r
        let ra = a + r0 * ar
        var c = 0
        if r0 + tr <= R {
            while c + tc <= C {
                let c0 = c
                let s = { (i: Int, j: Int) in start(r0 + i, c0 + j) }
                let o = { (i: Int, j: Int, v: SIMD16<T>) in store(r0 + i, c0 + j, v) }
                if wide {
                    tile5x5(K, ra, ar, ak, b + c0 * br, br, bk, start: s, store: o)
                } else {
                    tile2x4(K, ra, ar, ak, b + c0 * br, br, bk, start: s, store: o)
                }
                c += tc
            }
            while c < C {
                let c0 = c
                let s = { (i: Int, j: Int) in start(r0 + i, c0 + j) }
                let o = { (i: Int, j: Int, v: SIMD16<T>) in store(r0 + i, c0 + j, v) }
                if wide {
                    tile5x1(K, ra, ar, ak, b + c0 * br, br, bk, start: s, store: o)
                } else {
                    tile2x1(K, ra, ar, ak, b + c0 * br, br, bk, start: s, store: o)
                }
                c += 1
            }
            r += tr
        } else {
            while c + tc <= C {
                let c0 = c
                let s = { (i: Int, j: Int) in start(r0 + i, c0 + j) }
                let o = { (i: Int, j: Int, v: SIMD16<T>) in store(r0 + i, c0 + j, v) }
                if wide {
                    tile1x5(K, ra, ar, ak, b + c0 * br, br, bk, start: s, store: o)
                } else {
                    tile1x4(K, ra, ar, ak, b + c0 * br, br, bk, start: s, store: o)
                }
                c += tc
            }
            while c < C {
                let c0 = c
                tile1x1(
                    K, ra, ar, ak, b + c0 * br, br, bk, start: { start(r0 + $0, c0 + $1) },
                    store: { store(r0 + $0, c0 + $1, $2) })
                c += 1
            }
            r += 1
        }
    }
}

/// A register tile: out(r, c) = start(r, c) + Σ_k A(r, k)·B(c, k) for r, c < 5, k ascending from 0 to K, one
/// fma per term, with A(r, k) at a[r·ar + k·ak] and B(c, k) at b[c·br + k·bk]. For Float, the 25 accumulators and
/// the five B values of a k fit 31 of the 32 AVX-512 registers; per k, 10 loads feed 25 fmas.
@inline(__always)
func tile5x5<T: DLNReal>(
    _ K: Int, _ a: UnsafePointer<SIMD16<T>>, _ ar: Int, _ ak: Int, _ b: UnsafePointer<SIMD16<T>>, _ br: Int, _ bk: Int,
    start: (Int, Int) -> SIMD16<T>, store: (Int, Int, SIMD16<T>) -> Void
) {
    var s00 = start(0, 0)
    var s01 = start(0, 1)
    var s02 = start(0, 2)
    var s03 = start(0, 3)
    var s04 = start(0, 4)
    var s10 = start(1, 0)
    var s11 = start(1, 1)
    var s12 = start(1, 2)
    var s13 = start(1, 3)
    var s14 = start(1, 4)
    var s20 = start(2, 0)
    var s21 = start(2, 1)
    var s22 = start(2, 2)
    var s23 = start(2, 3)
    var s24 = start(2, 4)
    var s30 = start(3, 0)
    var s31 = start(3, 1)
    var s32 = start(3, 2)
    var s33 = start(3, 3)
    var s34 = start(3, 4)
    var s40 = start(4, 0)
    var s41 = start(4, 1)
    var s42 = start(4, 2)
    var s43 = start(4, 3)
    var s44 = start(4, 4)
    var a0 = a
    var a1 = a + 1 * ar
    var a2 = a + 2 * ar
    var a3 = a + 3 * ar
    var a4 = a + 4 * ar
    var b0 = b
    var b1 = b + 1 * br
    var b2 = b + 2 * br
    var b3 = b + 3 * br
    var b4 = b + 4 * br
    for _ in 0..<K {
        let y0 = b0.pointee
        let y1 = b1.pointee
        let y2 = b2.pointee
        let y3 = b3.pointee
        let y4 = b4.pointee
        let x0 = a0.pointee
        s00 = s00.addingProduct(x0, y0)
        s01 = s01.addingProduct(x0, y1)
        s02 = s02.addingProduct(x0, y2)
        s03 = s03.addingProduct(x0, y3)
        s04 = s04.addingProduct(x0, y4)
        let x1 = a1.pointee
        s10 = s10.addingProduct(x1, y0)
        s11 = s11.addingProduct(x1, y1)
        s12 = s12.addingProduct(x1, y2)
        s13 = s13.addingProduct(x1, y3)
        s14 = s14.addingProduct(x1, y4)
        let x2 = a2.pointee
        s20 = s20.addingProduct(x2, y0)
        s21 = s21.addingProduct(x2, y1)
        s22 = s22.addingProduct(x2, y2)
        s23 = s23.addingProduct(x2, y3)
        s24 = s24.addingProduct(x2, y4)
        let x3 = a3.pointee
        s30 = s30.addingProduct(x3, y0)
        s31 = s31.addingProduct(x3, y1)
        s32 = s32.addingProduct(x3, y2)
        s33 = s33.addingProduct(x3, y3)
        s34 = s34.addingProduct(x3, y4)
        let x4 = a4.pointee
        s40 = s40.addingProduct(x4, y0)
        s41 = s41.addingProduct(x4, y1)
        s42 = s42.addingProduct(x4, y2)
        s43 = s43.addingProduct(x4, y3)
        s44 = s44.addingProduct(x4, y4)
        a0 += ak
        a1 += ak
        a2 += ak
        a3 += ak
        a4 += ak
        b0 += bk
        b1 += bk
        b2 += bk
        b3 += bk
        b4 += bk
    }
    store(0, 0, s00)
    store(0, 1, s01)
    store(0, 2, s02)
    store(0, 3, s03)
    store(0, 4, s04)
    store(1, 0, s10)
    store(1, 1, s11)
    store(1, 2, s12)
    store(1, 3, s13)
    store(1, 4, s14)
    store(2, 0, s20)
    store(2, 1, s21)
    store(2, 2, s22)
    store(2, 3, s23)
    store(2, 4, s24)
    store(3, 0, s30)
    store(3, 1, s31)
    store(3, 2, s32)
    store(3, 3, s33)
    store(3, 4, s34)
    store(4, 0, s40)
    store(4, 1, s41)
    store(4, 2, s42)
    store(4, 3, s43)
    store(4, 4, s44)
}

/// `tile5x5` for one column (the right edge).
@inline(__always)
func tile5x1<T: DLNReal>(
    _ K: Int, _ a: UnsafePointer<SIMD16<T>>, _ ar: Int, _ ak: Int, _ b: UnsafePointer<SIMD16<T>>, _ br: Int, _ bk: Int,
    start: (Int, Int) -> SIMD16<T>, store: (Int, Int, SIMD16<T>) -> Void
) {
    var s00 = start(0, 0)
    var s10 = start(1, 0)
    var s20 = start(2, 0)
    var s30 = start(3, 0)
    var s40 = start(4, 0)
    var a0 = a
    var a1 = a + 1 * ar
    var a2 = a + 2 * ar
    var a3 = a + 3 * ar
    var a4 = a + 4 * ar
    var b0 = b
    for _ in 0..<K {
        let y0 = b0.pointee
        let x0 = a0.pointee
        s00 = s00.addingProduct(x0, y0)
        let x1 = a1.pointee
        s10 = s10.addingProduct(x1, y0)
        let x2 = a2.pointee
        s20 = s20.addingProduct(x2, y0)
        let x3 = a3.pointee
        s30 = s30.addingProduct(x3, y0)
        let x4 = a4.pointee
        s40 = s40.addingProduct(x4, y0)
        a0 += ak
        a1 += ak
        a2 += ak
        a3 += ak
        a4 += ak
        b0 += bk
    }
    store(0, 0, s00)
    store(1, 0, s10)
    store(2, 0, s20)
    store(3, 0, s30)
    store(4, 0, s40)
}

/// `tile5x5` for one row (the bottom edge).
@inline(__always)
func tile1x5<T: DLNReal>(
    _ K: Int, _ a: UnsafePointer<SIMD16<T>>, _ ar: Int, _ ak: Int, _ b: UnsafePointer<SIMD16<T>>, _ br: Int, _ bk: Int,
    start: (Int, Int) -> SIMD16<T>, store: (Int, Int, SIMD16<T>) -> Void
) {
    var s00 = start(0, 0)
    var s01 = start(0, 1)
    var s02 = start(0, 2)
    var s03 = start(0, 3)
    var s04 = start(0, 4)
    var a0 = a
    var b0 = b
    var b1 = b + 1 * br
    var b2 = b + 2 * br
    var b3 = b + 3 * br
    var b4 = b + 4 * br
    for _ in 0..<K {
        let y0 = b0.pointee
        let y1 = b1.pointee
        let y2 = b2.pointee
        let y3 = b3.pointee
        let y4 = b4.pointee
        let x0 = a0.pointee
        s00 = s00.addingProduct(x0, y0)
        s01 = s01.addingProduct(x0, y1)
        s02 = s02.addingProduct(x0, y2)
        s03 = s03.addingProduct(x0, y3)
        s04 = s04.addingProduct(x0, y4)
        a0 += ak
        b0 += bk
        b1 += bk
        b2 += bk
        b3 += bk
        b4 += bk
    }
    store(0, 0, s00)
    store(0, 1, s01)
    store(0, 2, s02)
    store(0, 3, s03)
    store(0, 4, s04)
}

/// `tile5x5` for two rows by four columns: the main tile for Double (16 registers of accumulators).
@inline(__always)
func tile2x4<T: DLNReal>(
    _ K: Int, _ a: UnsafePointer<SIMD16<T>>, _ ar: Int, _ ak: Int, _ b: UnsafePointer<SIMD16<T>>, _ br: Int, _ bk: Int,
    start: (Int, Int) -> SIMD16<T>, store: (Int, Int, SIMD16<T>) -> Void
) {
    var s00 = start(0, 0)
    var s01 = start(0, 1)
    var s02 = start(0, 2)
    var s03 = start(0, 3)
    var s10 = start(1, 0)
    var s11 = start(1, 1)
    var s12 = start(1, 2)
    var s13 = start(1, 3)
    var a0 = a
    var a1 = a + 1 * ar
    var b0 = b
    var b1 = b + 1 * br
    var b2 = b + 2 * br
    var b3 = b + 3 * br
    for _ in 0..<K {
        let y0 = b0.pointee
        let y1 = b1.pointee
        let y2 = b2.pointee
        let y3 = b3.pointee
        let x0 = a0.pointee
        s00 = s00.addingProduct(x0, y0)
        s01 = s01.addingProduct(x0, y1)
        s02 = s02.addingProduct(x0, y2)
        s03 = s03.addingProduct(x0, y3)
        let x1 = a1.pointee
        s10 = s10.addingProduct(x1, y0)
        s11 = s11.addingProduct(x1, y1)
        s12 = s12.addingProduct(x1, y2)
        s13 = s13.addingProduct(x1, y3)
        a0 += ak
        a1 += ak
        b0 += bk
        b1 += bk
        b2 += bk
        b3 += bk
    }
    store(0, 0, s00)
    store(0, 1, s01)
    store(0, 2, s02)
    store(0, 3, s03)
    store(1, 0, s10)
    store(1, 1, s11)
    store(1, 2, s12)
    store(1, 3, s13)
}

/// `tile2x4` for one column.
@inline(__always)
func tile2x1<T: DLNReal>(
    _ K: Int, _ a: UnsafePointer<SIMD16<T>>, _ ar: Int, _ ak: Int, _ b: UnsafePointer<SIMD16<T>>, _ br: Int, _ bk: Int,
    start: (Int, Int) -> SIMD16<T>, store: (Int, Int, SIMD16<T>) -> Void
) {
    var s00 = start(0, 0)
    var s10 = start(1, 0)
    var a0 = a
    var a1 = a + 1 * ar
    var b0 = b
    for _ in 0..<K {
        let y0 = b0.pointee
        let x0 = a0.pointee
        s00 = s00.addingProduct(x0, y0)
        let x1 = a1.pointee
        s10 = s10.addingProduct(x1, y0)
        a0 += ak
        a1 += ak
        b0 += bk
    }
    store(0, 0, s00)
    store(1, 0, s10)
}

/// `tile2x4` for one row.
@inline(__always)
func tile1x4<T: DLNReal>(
    _ K: Int, _ a: UnsafePointer<SIMD16<T>>, _ ar: Int, _ ak: Int, _ b: UnsafePointer<SIMD16<T>>, _ br: Int, _ bk: Int,
    start: (Int, Int) -> SIMD16<T>, store: (Int, Int, SIMD16<T>) -> Void
) {
    var s00 = start(0, 0)
    var s01 = start(0, 1)
    var s02 = start(0, 2)
    var s03 = start(0, 3)
    var a0 = a
    var b0 = b
    var b1 = b + 1 * br
    var b2 = b + 2 * br
    var b3 = b + 3 * br
    for _ in 0..<K {
        let y0 = b0.pointee
        let y1 = b1.pointee
        let y2 = b2.pointee
        let y3 = b3.pointee
        let x0 = a0.pointee
        s00 = s00.addingProduct(x0, y0)
        s01 = s01.addingProduct(x0, y1)
        s02 = s02.addingProduct(x0, y2)
        s03 = s03.addingProduct(x0, y3)
        a0 += ak
        b0 += bk
        b1 += bk
        b2 += bk
        b3 += bk
    }
    store(0, 0, s00)
    store(0, 1, s01)
    store(0, 2, s02)
    store(0, 3, s03)
}

/// One output.
@inline(__always)
func tile1x1<T: DLNReal>(
    _ K: Int, _ a: UnsafePointer<SIMD16<T>>, _ ar: Int, _ ak: Int, _ b: UnsafePointer<SIMD16<T>>, _ br: Int, _ bk: Int,
    start: (Int, Int) -> SIMD16<T>, store: (Int, Int, SIMD16<T>) -> Void
) {
    var s00 = start(0, 0)
    var a0 = a
    var b0 = b
    for _ in 0..<K {
        let y0 = b0.pointee
        let x0 = a0.pointee
        s00 = s00.addingProduct(x0, y0)
        a0 += ak
        b0 += bk
    }
    store(0, 0, s00)
}
