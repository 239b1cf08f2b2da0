import VectorAccess

/// The products of the matrix model's CPU engine (DLNModel/Matrix/MatrixCPU.swift): every output is one fma chain
/// over k, ascending from its start value, whichever register tile computes it, so the results are the bits of
/// Kernels/matrix.cl.
/// Operands are SIMD16 vectors (one per 16-replica block and element); A(r, k) is at a[r·ar + k·ak] and B(c, k) at
/// b[c·br + k·bk], so one function serves the forward chain, back-propagation and the layer gradients.

/// Where the outputs of `dotsLoop` go: output (r, c) is element r·rs + c·cs of `out` (and of `resume` and
/// `layer` when given). Concrete (no closures), so that the tiles inline their loads and stores.
private struct DotsOutput<T: Scalar> {
    let out: UnsafeMutablePointer<SIMD16<T>>
    let rs: Int
    let cs: Int
    let kind: DotsKind
    /// η and λ of `.update`, λ of `.gradient`.
    let eta: SIMD16<T>
    let lambda: SIMD16<T>
    /// Partial sums to resume from (nil: start at 0).
    let resume: UnsafePointer<SIMD16<T>>?
    /// The layer W for `.gradient`.
    let layer: UnsafePointer<SIMD16<T>>?

    /// From `Kernels.matrixDots`' arguments.
    init(
        _ out: UnsafeMutableRawPointer, _ rs: Int, _ cs: Int, _ kind: DotsKind, _ eta: UnsafeRawPointer,
        _ lambda: UnsafeRawPointer, _ resume: UnsafeRawPointer?, _ layer: UnsafeRawPointer?
    ) {
        self.out = out.assumingMemoryBound(to: SIMD16<T>.self)
        (self.rs, self.cs) = (rs, cs)
        self.kind = kind
        self.eta = eta.loadUnaligned(as: SIMD16<T>.self)
        self.lambda = lambda.loadUnaligned(as: SIMD16<T>.self)
        self.resume = resume?.assumingMemoryBound(to: SIMD16<T>.self)
        self.layer = layer?.assumingMemoryBound(to: SIMD16<T>.self)
    }

    @inline(__always)
    func start(_ r: Int, _ c: Int) -> SIMD16<T> { resume.map { $0[r &* rs &+ c &* cs] } ?? SIMD16<T>() }

    @inline(__always)
    func store(_ r: Int, _ c: Int, _ s: SIMD16<T>) {
        let e = r &* rs &+ c &* cs
        switch kind {
        case .plain:
            out[e] = s
        case .update:
            let old = out[e]
            out[e] = old - eta * (s + lambda * old)
        case .gradient:
            out[e] = s + lambda * layer![e]
        }
    }
}

/// out(r, c) = start(r, c) + Σ_{k<K} A(r, k)·B(c, k) for r < R, c < C, stored as `output` says. Float runs 5×5
/// tiles (edges 5×1, 1×5, 1×1), Double (two registers per vector) 2×4 tiles. Rows of tiles outer, columns inner:
/// a tile row's A stays in L1 while B streams from L2.
private func dotsLoop<T: Scalar>(
    rows R: Int, columns C: Int, depth K: Int, _ aRaw: UnsafeRawPointer, _ ar: Int, _ ak: Int,
    _ bRaw: UnsafeRawPointer, _ br: Int, _ bk: Int, into output: DotsOutput<T>
) {
    let a = aRaw.assumingMemoryBound(to: SIMD16<T>.self)
    let b = bRaw.assumingMemoryBound(to: SIMD16<T>.self)
    let wide = MemoryLayout<T>.size == 4
    let tr = wide ? 5 : 2
    let tc = wide ? 5 : 4
    var r = 0
    while r < R {
        let ra = a + r * ar
        var c = 0
        if r + tr <= R {
            while c + tc <= C {
                if wide {
                    tile5x5(K, ra, ar, ak, b + c * br, br, bk, output, r, c)
                } else {
                    tile2x4(K, ra, ar, ak, b + c * br, br, bk, output, r, c)
                }
                c += tc
            }
            while c < C {
                if wide {
                    tile5x1(K, ra, ar, ak, b + c * br, br, bk, output, r, c)
                } else {
                    tile2x1(K, ra, ar, ak, b + c * br, br, bk, output, r, c)
                }
                c += 1
            }
            r += tr
        } else {
            while c + tc <= C {
                if wide {
                    tile1x5(K, ra, ar, ak, b + c * br, br, bk, output, r, c)
                } else {
                    tile1x4(K, ra, ar, ak, b + c * br, br, bk, output, r, c)
                }
                c += tc
            }
            while c < C {
                tile1x1(K, ra, ar, ak, b + c * br, br, bk, output, r, c)
                c += 1
            }
            r += 1
        }
    }
}

/// A register tile: out(r + i, c + j) = start + Σ_k A(i, k)·B(j, k) for i, j < 5, k ascending from 0 to K, one
/// fma per term, with A(i, k) at a[i·ar + k·ak] and B(j, k) at b[j·br + k·bk]. For Float, the 25 accumulators and
/// the five B values of a k fit 31 of the 32 AVX-512 registers; per k, 10 loads feed 25 fmas.
@inline(__always)
private func tile5x5<T: Scalar>(
    _ K: Int, _ a: UnsafePointer<SIMD16<T>>, _ ar: Int, _ ak: Int, _ b: UnsafePointer<SIMD16<T>>, _ br: Int, _ bk: Int,
    _ output: DotsOutput<T>, _ r: Int, _ c: Int
) {
    var s00 = output.start(r, c)
    var s01 = output.start(r &+ 0, c &+ 1)
    var s02 = output.start(r &+ 0, c &+ 2)
    var s03 = output.start(r &+ 0, c &+ 3)
    var s04 = output.start(r &+ 0, c &+ 4)
    var s10 = output.start(r &+ 1, c &+ 0)
    var s11 = output.start(r &+ 1, c &+ 1)
    var s12 = output.start(r &+ 1, c &+ 2)
    var s13 = output.start(r &+ 1, c &+ 3)
    var s14 = output.start(r &+ 1, c &+ 4)
    var s20 = output.start(r &+ 2, c &+ 0)
    var s21 = output.start(r &+ 2, c &+ 1)
    var s22 = output.start(r &+ 2, c &+ 2)
    var s23 = output.start(r &+ 2, c &+ 3)
    var s24 = output.start(r &+ 2, c &+ 4)
    var s30 = output.start(r &+ 3, c &+ 0)
    var s31 = output.start(r &+ 3, c &+ 1)
    var s32 = output.start(r &+ 3, c &+ 2)
    var s33 = output.start(r &+ 3, c &+ 3)
    var s34 = output.start(r &+ 3, c &+ 4)
    var s40 = output.start(r &+ 4, c &+ 0)
    var s41 = output.start(r &+ 4, c &+ 1)
    var s42 = output.start(r &+ 4, c &+ 2)
    var s43 = output.start(r &+ 4, c &+ 3)
    var s44 = output.start(r &+ 4, c &+ 4)
    var a0 = a
    var a1 = a + 1 &* ar
    var a2 = a + 2 &* ar
    var a3 = a + 3 &* ar
    var a4 = a + 4 &* ar
    var b0 = b
    var b1 = b + 1 &* br
    var b2 = b + 2 &* br
    var b3 = b + 3 &* br
    var b4 = b + 4 &* br
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
    output.store(r, c, s00)
    output.store(r &+ 0, c &+ 1, s01)
    output.store(r &+ 0, c &+ 2, s02)
    output.store(r &+ 0, c &+ 3, s03)
    output.store(r &+ 0, c &+ 4, s04)
    output.store(r &+ 1, c &+ 0, s10)
    output.store(r &+ 1, c &+ 1, s11)
    output.store(r &+ 1, c &+ 2, s12)
    output.store(r &+ 1, c &+ 3, s13)
    output.store(r &+ 1, c &+ 4, s14)
    output.store(r &+ 2, c &+ 0, s20)
    output.store(r &+ 2, c &+ 1, s21)
    output.store(r &+ 2, c &+ 2, s22)
    output.store(r &+ 2, c &+ 3, s23)
    output.store(r &+ 2, c &+ 4, s24)
    output.store(r &+ 3, c &+ 0, s30)
    output.store(r &+ 3, c &+ 1, s31)
    output.store(r &+ 3, c &+ 2, s32)
    output.store(r &+ 3, c &+ 3, s33)
    output.store(r &+ 3, c &+ 4, s34)
    output.store(r &+ 4, c &+ 0, s40)
    output.store(r &+ 4, c &+ 1, s41)
    output.store(r &+ 4, c &+ 2, s42)
    output.store(r &+ 4, c &+ 3, s43)
    output.store(r &+ 4, c &+ 4, s44)
}

/// `tile5x5` for one column (the right edge).
@inline(__always)
private func tile5x1<T: Scalar>(
    _ K: Int, _ a: UnsafePointer<SIMD16<T>>, _ ar: Int, _ ak: Int, _ b: UnsafePointer<SIMD16<T>>, _ br: Int, _ bk: Int,
    _ output: DotsOutput<T>, _ r: Int, _ c: Int
) {
    var s00 = output.start(r, c)
    var s10 = output.start(r &+ 1, c &+ 0)
    var s20 = output.start(r &+ 2, c &+ 0)
    var s30 = output.start(r &+ 3, c &+ 0)
    var s40 = output.start(r &+ 4, c &+ 0)
    var a0 = a
    var a1 = a + 1 &* ar
    var a2 = a + 2 &* ar
    var a3 = a + 3 &* ar
    var a4 = a + 4 &* ar
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
    output.store(r, c, s00)
    output.store(r &+ 1, c &+ 0, s10)
    output.store(r &+ 2, c &+ 0, s20)
    output.store(r &+ 3, c &+ 0, s30)
    output.store(r &+ 4, c &+ 0, s40)
}

/// `tile5x5` for one row (the bottom edge).
@inline(__always)
private func tile1x5<T: Scalar>(
    _ K: Int, _ a: UnsafePointer<SIMD16<T>>, _ ar: Int, _ ak: Int, _ b: UnsafePointer<SIMD16<T>>, _ br: Int, _ bk: Int,
    _ output: DotsOutput<T>, _ r: Int, _ c: Int
) {
    var s00 = output.start(r, c)
    var s01 = output.start(r &+ 0, c &+ 1)
    var s02 = output.start(r &+ 0, c &+ 2)
    var s03 = output.start(r &+ 0, c &+ 3)
    var s04 = output.start(r &+ 0, c &+ 4)
    var a0 = a
    var b0 = b
    var b1 = b + 1 &* br
    var b2 = b + 2 &* br
    var b3 = b + 3 &* br
    var b4 = b + 4 &* br
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
    output.store(r, c, s00)
    output.store(r &+ 0, c &+ 1, s01)
    output.store(r &+ 0, c &+ 2, s02)
    output.store(r &+ 0, c &+ 3, s03)
    output.store(r &+ 0, c &+ 4, s04)
}

/// `tile5x5` for two rows by four columns: the main tile for Double (16 registers of accumulators).
@inline(__always)
private func tile2x4<T: Scalar>(
    _ K: Int, _ a: UnsafePointer<SIMD16<T>>, _ ar: Int, _ ak: Int, _ b: UnsafePointer<SIMD16<T>>, _ br: Int, _ bk: Int,
    _ output: DotsOutput<T>, _ r: Int, _ c: Int
) {
    var s00 = output.start(r, c)
    var s01 = output.start(r &+ 0, c &+ 1)
    var s02 = output.start(r &+ 0, c &+ 2)
    var s03 = output.start(r &+ 0, c &+ 3)
    var s10 = output.start(r &+ 1, c &+ 0)
    var s11 = output.start(r &+ 1, c &+ 1)
    var s12 = output.start(r &+ 1, c &+ 2)
    var s13 = output.start(r &+ 1, c &+ 3)
    var a0 = a
    var a1 = a + 1 &* ar
    var b0 = b
    var b1 = b + 1 &* br
    var b2 = b + 2 &* br
    var b3 = b + 3 &* br
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
    output.store(r, c, s00)
    output.store(r &+ 0, c &+ 1, s01)
    output.store(r &+ 0, c &+ 2, s02)
    output.store(r &+ 0, c &+ 3, s03)
    output.store(r &+ 1, c &+ 0, s10)
    output.store(r &+ 1, c &+ 1, s11)
    output.store(r &+ 1, c &+ 2, s12)
    output.store(r &+ 1, c &+ 3, s13)
}

/// `tile2x4` for one column.
@inline(__always)
private func tile2x1<T: Scalar>(
    _ K: Int, _ a: UnsafePointer<SIMD16<T>>, _ ar: Int, _ ak: Int, _ b: UnsafePointer<SIMD16<T>>, _ br: Int, _ bk: Int,
    _ output: DotsOutput<T>, _ r: Int, _ c: Int
) {
    var s00 = output.start(r, c)
    var s10 = output.start(r &+ 1, c &+ 0)
    var a0 = a
    var a1 = a + 1 &* ar
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
    output.store(r, c, s00)
    output.store(r &+ 1, c &+ 0, s10)
}

/// `tile2x4` for one row.
@inline(__always)
private func tile1x4<T: Scalar>(
    _ K: Int, _ a: UnsafePointer<SIMD16<T>>, _ ar: Int, _ ak: Int, _ b: UnsafePointer<SIMD16<T>>, _ br: Int, _ bk: Int,
    _ output: DotsOutput<T>, _ r: Int, _ c: Int
) {
    var s00 = output.start(r, c)
    var s01 = output.start(r &+ 0, c &+ 1)
    var s02 = output.start(r &+ 0, c &+ 2)
    var s03 = output.start(r &+ 0, c &+ 3)
    var a0 = a
    var b0 = b
    var b1 = b + 1 &* br
    var b2 = b + 2 &* br
    var b3 = b + 3 &* br
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
    output.store(r, c, s00)
    output.store(r &+ 0, c &+ 1, s01)
    output.store(r &+ 0, c &+ 2, s02)
    output.store(r &+ 0, c &+ 3, s03)
}

/// One output.
@inline(__always)
private func tile1x1<T: Scalar>(
    _ K: Int, _ a: UnsafePointer<SIMD16<T>>, _ ar: Int, _ ak: Int, _ b: UnsafePointer<SIMD16<T>>, _ br: Int, _ bk: Int,
    _ output: DotsOutput<T>, _ r: Int, _ c: Int
) {
    var s00 = output.start(r, c)
    var a0 = a
    var b0 = b
    for _ in 0..<K {
        let y0 = b0.pointee
        let x0 = a0.pointee
        s00 = s00.addingProduct(x0, y0)
        a0 += ak
        b0 += bk
    }
    output.store(r, c, s00)
}

extension Kernels {
    /// out(r, c) = start(r, c) + Σ_{k<K} A(r, k)·B(c, k) over SIMD16 elements, then stored as `kind` says:
    /// 0 plain (out = s), 1 a layer update (out ← old − η·(s + λ·old)), 2 a gradient (out = s + λ·W, W in `layer`).
    /// A(r, k) is at a[r·ar + k·ak], B(c, k) at b[c·br + k·bk], output (r, c) at element r·rs + c·cs of out (and of
    /// `resume`, the partial sums to start from, when given). η and λ point at one SIMD16 each.
    public static func matrixDots(
        double: Bool, rows: Int, columns: Int, depth: Int, a: UnsafeRawPointer, ar: Int, ak: Int, b: UnsafeRawPointer,
        br: Int, bk: Int, out: UnsafeMutableRawPointer, rs: Int, cs: Int, kind: DotsKind, eta: UnsafeRawPointer,
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
}
