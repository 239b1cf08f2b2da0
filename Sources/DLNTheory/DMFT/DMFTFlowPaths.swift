import DLNModel
import Foundation

/// The gradient-flow effective process on a non-uniform grid (docs/theory.md, "Gradient-flow DMFT"), run for many
/// paths on the CPU. Per path, in the ρ representation of the pm network: m = uv = α²e^{−2λt} exactly, w = m·sinh 2ρ,
/// q = m·cosh 2ρ, ρ̇ = −g, stepped by the θ-method ρ_{i+1} = ρ_i − h_i[(1 − θ)g_i + θg_{i+1}] (implicit in g_{i+1},
/// solved per path by safeguarded Newton), g_i = ξ_i + δ[Δ_i + Σ_{j≤i} R_r(i, j)Δ_j]. The response to a field at
/// every grid point by forward-mode tangents of the first N_r paths.
final class DMFTFlowPaths: @unchecked Sendable {  // buffers are written by disjoint chunks only
    let problem: DMFTProblem
    let settings: DMFTSettings
    let grid: DMFTFlowGrid
    let K: Int, N: Int, Nr: Int
    /// Common random numbers Z, `[j][p]`, and the teacher of every path.
    let z: [Double], wstar: [Double]
    /// ln m(t_i) = 2 ln α − 2λt_i.
    let logM: [Double]
    /// Δ of every path after the last `iterate`, `[i][p]`; q of the response paths, `[p][i]`.
    let deltaBuffer: UnsafeMutablePointer<Double>
    let qBuffer: UnsafeMutablePointer<Double>

    init(problem: DMFTProblem, settings: DMFTSettings, grid: DMFTFlowGrid) {
        self.problem = problem
        self.settings = settings
        self.grid = grid
        K = grid.count
        N = settings.paths
        Nr = min(settings.responsePaths, settings.paths)
        z = DMFTLayout.noise(gridSize: K, paths: N, seed: settings.seed)
        let rng = CounterRNG(seed: UInt64(settings.seed))
        wstar = (0..<N).map { DMFTLayout.teacher(path: $0, density: problem.density, values: problem.values, rng: rng) }
        logM = grid.times.map { 2 * log(problem.alpha) - 2 * problem.lambda * $0 }
        deltaBuffer = .allocate(capacity: K * N)
        deltaBuffer.initialize(repeating: 0, count: K * N)
        qBuffer = .allocate(capacity: K * max(1, Nr))
        qBuffer.initialize(repeating: 0, count: K * max(1, Nr))
    }

    deinit {
        deltaBuffer.deallocate()
        qBuffer.deallocate()
    }

    /// Δ of every path after the last `iterate` (K×N, `[i][p]`).
    var deviations: [Double] { Array(UnsafeBufferPointer(start: deltaBuffer, count: K * N)) }

    /// Runs every path under the noise factor (ξ_i = Σ_j factor[i·rank + j]·Z_j) and memory R_r (K×K, lower with
    /// its diagonal); returns C_Δ = mean ΔΔᵀ and R_Δ(i, s) = mean ∂Δ_i/∂h_s (K×K, zero for s > i).
    func iterate(factor: [Double], rank: Int, memory matrix: [Double]) -> (
        correlation: [Double], response: [Double]
    ) {
        let copy = UnsafeMutablePointer<Double>.allocate(capacity: matrix.count)
        copy.initialize(from: matrix, count: matrix.count)
        defer { copy.deallocate() }
        let memory = UnsafeSendablePointer(copy)
        let C = DMFTLayout.chunk
        let chunks = (N + C - 1) / C
        let slots = SharedSlots<[Double]>(count: chunks)
        let out = UnsafeSendablePointer(deltaBuffer)
        let qs = UnsafeSendablePointer(qBuffer)
        DispatchQueue.concurrentPerform(iterations: chunks) { c in
            slots[c] = forward(
                p0: c * C, count: min(C, N - c * C), factor: factor, rank: rank, memory: memory,
                out: out, qs: qs)
        }
        var corr = [Double](repeating: 0, count: K * K)
        for s in slots.values { for i in corr.indices { corr[i] += s[i] } }
        for i in corr.indices { corr[i] /= Double(N) }
        let RC = DMFTLayout.responseChunk
        let rchunks = (Nr + RC - 1) / RC
        let rslots = SharedSlots<[Double]>(count: rchunks)
        DispatchQueue.concurrentPerform(iterations: rchunks) { c in
            rslots[c] = tangents(p0: c * RC, count: min(RC, Nr - c * RC), memory: memory, qs: qs)
        }
        var resp = [Double](repeating: 0, count: K * K)
        for s in rslots.values { for i in resp.indices { resp[i] += s[i] } }
        for i in resp.indices { resp[i] /= Double(Nr) }
        return (corr, resp)
    }

    /// Paths p0 ..< p0+P: Δ into `out`, q of the response paths into `qs`; returns the chunk's Σ_p Δ_iΔ_j.
    func forward(
        p0: Int, count P: Int, factor: [Double], rank: Int, memory: UnsafeSendablePointer<Double>,
        out: UnsafeSendablePointer<Double>, qs: UnsafeSendablePointer<Double>
    ) -> [Double] {
        let (K, N, Nr) = (self.K, self.N, self.Nr)
        let dl = problem.delta
        let th = DMFTFlowGrid.theta
        let t = grid.times
        // ξ of the chunk, [i][p].
        let xi = UnsafeMutablePointer<Double>.allocate(capacity: K * P)
        let partial = UnsafeMutablePointer<Double>.allocate(capacity: K * K)
        defer {
            xi.deallocate()
            partial.deallocate()
        }
        xi.initialize(repeating: 0, count: K * P)
        partial.initialize(repeating: 0, count: K * K)
        z.withUnsafeBufferPointer { zp in
            factor.withUnsafeBufferPointer { fp in
                Self.noise(K: K, rank: rank, P: P, factor: fp.baseAddress!, z: zp.baseAddress! + p0, N: N, out: xi)
            }
        }
        let mem = memory.pointer
        // Eight paths at a time: their memory sums Σ_j R_r(i+1, j)·Δ_j are eight independent chains (two vectors of
        // four on AVX2), each in ascending j as for one path alone (the same bits), which overlap instead of waiting
        // on one another.
        let hist8 = UnsafeMutablePointer<SIMD8<Double>>.allocate(capacity: K)
        let lanesT = UnsafeMutablePointer<Double>.allocate(capacity: 8 * K)
        defer {
            hist8.deallocate()
            lanesT.deallocate()
        }
        let (w0, q0) = Self.wq(0, logM[0])
        var p = 0
        while p < P {
            let lanes = min(8, P - p)
            var ws = SIMD8<Double>()
            var rho = SIMD8<Double>()
            var g = SIMD8<Double>()
            for l in 0..<lanes { ws[l] = wstar[p0 + p + l] }
            hist8[0] = SIMD8(repeating: w0) - ws
            for l in 0..<lanes {
                if p0 + p + l < Nr { qs.pointer[(p0 + p + l) * K] = q0 }
                g[l] = xi[p + l] + dl * (hist8[0][l] + mem[0] * hist8[0][l])
            }
            for i in 0..<(K - 1) {
                let h = t[i + 1] - t[i]
                var acc = SIMD8<Double>()
                let row = (i + 1) * K
                for j in 0...i { acc += SIMD8(repeating: mem[row + j]) * hist8[j] }
                let B = max(0, dl * (1 + mem[row + i + 1]))
                let lm = logM[i + 1]
                let half = exp(lm - M_LN2)
                let k = h * th * B
                var A = SIMD8<Double>()
                for l in 0..<lanes { A[l] = xi[(i + 1) * P + p + l] }
                A += dl * acc
                // F(ρ′) = ρ′ − c0 + hθB·w(ρ′) = 0, F′ = 1 + hθB·2q > 0; the root lies between 0 and c0.
                let c0 = rho - h * (1 - th) * g - h * th * (A - B * ws)
                let (x, w, qq) = Self.implicitSteps(from: rho, c0: c0, k: k, lm: lm, half: half, lanes: lanes)
                rho = x
                let next = w - ws
                for l in 0..<lanes where p0 + p + l < Nr { qs.pointer[(p0 + p + l) * K + i + 1] = qq[l] }
                g = A + B * next
                hist8[i + 1] = next
            }
            // Σ_p Δ_iΔ_j over these paths in one pass over the lower triangle: per entry the products of the paths
            // added in ascending p, as one pass per path would add them (the same bits).
            for l in 0..<lanes {
                for i in 0..<K {
                    lanesT[l * K + i] = hist8[i][l]
                    out.pointer[i * N + p0 + p + l] = hist8[i][l]
                }
            }
            for i in 0..<K {
                let row = partial + i * K
                for l in 0..<lanes {
                    let h = lanesT + l * K
                    let hi = h[i]
                    for j in 0...i { row[j] += hi * h[j] }
                }
            }
            p += lanes
        }
        for i in 0..<K { for j in 0..<i { partial[j * K + i] = partial[i * K + j] } }
        return Array(UnsafeBufferPointer(start: partial, count: K * K))
    }

    /// ξ_i(p) = Σ_j factor[i·rank + j]·z[j·N + p] for the K × P block `out` (`[i][p]`), each sum in ascending j from
    /// 0 by multiply and add (as an axpy over j would): four rows × eight paths at a time in registers, so each load
    /// of z feeds four multiply-adds.
    static func noise(
        K: Int, rank: Int, P: Int, factor f: UnsafePointer<Double>, z: UnsafePointer<Double>, N: Int,
        out: UnsafeMutablePointer<Double>
    ) {
        var i = 0
        while i + 4 <= K {
            let f0 = f + i * rank
            let f1 = f0 + rank
            let f2 = f1 + rank
            let f3 = f2 + rank
            var p = 0
            while p + 8 <= P {
                tile4x8(f0, f1, f2, f3, z + p, stride: N, 0..<rank, out: out + i * P + p, outStride: P, rows: 4)
                p += 8
            }
            for r in 0..<4 { noiseTail(i + r, from: p, rank: rank, P: P, f: f, z: z, N: N, out: out) }
            i += 4
        }
        while i < K {
            noiseTail(i, from: 0, rank: rank, P: P, f: f, z: z, N: N, out: out)
            i += 1
        }
    }

    /// Row i of `noise` for paths from `p0` on, one path at a time.
    @inline(__always)
    static func noiseTail(
        _ i: Int, from p0: Int, rank: Int, P: Int, f: UnsafePointer<Double>, z: UnsafePointer<Double>, N: Int,
        out: UnsafeMutablePointer<Double>
    ) {
        for p in p0..<max(p0, P) {
            var acc = 0.0
            for j in 0..<rank { acc += f[i * rank + j] * z[j * N + p] }
            out[i * P + p] = acc
        }
    }

    /// Forward-mode tangents of the response paths p0 ..< p0+P, every source s at once: the chunk's Σ_p ∂Δ_i/∂h_s.
    func tangents(p0: Int, count P: Int, memory: UnsafeSendablePointer<Double>, qs: UnsafeSendablePointer<Double>)
        -> [Double]
    {
        let K = self.K
        let dl = problem.delta
        let th = DMFTFlowGrid.theta
        let t = grid.times
        var partial = [Double](repeating: 0, count: K * K)
        let D = UnsafeMutablePointer<Double>.allocate(capacity: K * K)  // D[i][s] = ∂Δ_i/∂h_s, s ≤ i
        D.initialize(repeating: 0, count: K * K)
        // The memory terms M_i(s) = Σ_{j≤i} R_r(i+1, j)·D[j][s] of four consecutive steps i0 … i0+3 at once: their
        // sums over the rows j ≤ i0 already known share one pass over D (`memoryRows`), the rows computed inside the
        // block are added after, each sum still in ascending j from 0 (the same bits as one step at a time).
        let block = 4
        let Mb = UnsafeMutablePointer<Double>.allocate(capacity: block * K)
        Mb.initialize(repeating: 0, count: block * K)
        defer {
            D.deallocate()
            Mb.deallocate()
        }
        let mem = memory.pointer
        var drho = [Double](repeating: 0, count: K)
        var dg = [Double](repeating: 0, count: K)
        for p in p0..<(p0 + P) {
            for s in 0..<K {
                drho[s] = 0
                dg[s] = 0
            }
            for s in 0..<K { D[s] = 0 }
            dg[0] = 1
            var i0 = 0
            while i0 < K - 1 {
                let nb = min(block, K - 1 - i0)
                Self.memoryRows(K: K, i0: i0, rows: nb, memory: mem, D: D, out: Mb)
                for r in 0..<nb {
                    let i = i0 + r
                    let M = Mb + r * K
                    let row = (i + 1) * K
                    for s in (i0 + 1)...(i + 1) { M[s] = 0 }
                    if i > i0 { for j in (i0 + 1)...i { axpy(j + 1, mem[row + j], D + j * K, M) } }
                    let h = t[i + 1] - t[i]
                    let q1 = qs.pointer[p * K + i + 1]
                    let B = max(0, dl * (1 + mem[row + i + 1]))
                    let den = 1 / (1 + h * th * B * 2 * q1)
                    let Di = (i + 1) * K
                    for s in 0...(i + 1) {
                        let src: Double = s == i + 1 ? 1 : 0
                        let r = (drho[s] - h * (1 - th) * dg[s] - h * th * (dl * M[s] + src)) * den
                        drho[s] = r
                        D[Di + s] = 2 * q1 * r
                        dg[s] = dl * (D[Di + s] * (1 + mem[row + i + 1]) + M[s]) + src
                    }
                }
                i0 += nb
            }
            for i in 0..<(K * K) { partial[i] += D[i] }
        }
        return partial
    }
}

extension DMFTFlowPaths {
    /// out[r][s] = Σ_{j ≤ i0} R_r(i0 + r + 1, j)·D[j][s] for s ≤ i0 and r < rows (≤ 4), each sum in ascending j from
    /// 0 by multiply and add; D's upper triangle is zero, so its terms leave a sum at +0 until j = s, as a sum over
    /// j ≥ s alone would. Eight s at a time with the four rows' sums in registers: one load of D feeds four
    /// multiply-adds.
    static func memoryRows(
        K: Int, i0: Int, rows: Int, memory mem: UnsafePointer<Double>, D: UnsafePointer<Double>,
        out: UnsafeMutablePointer<Double>
    ) {
        // Rows past `rows` repeat the last one (computed, not stored).
        let c0 = mem + (i0 + 1) * K
        let c1 = mem + (i0 + min(1, rows - 1) + 1) * K
        let c2 = mem + (i0 + min(2, rows - 1) + 1) * K
        let c3 = mem + (i0 + min(3, rows - 1) + 1) * K
        var s0 = 0
        while s0 + 8 <= i0 + 1 {
            tile4x8(c0, c1, c2, c3, D + s0, stride: K, s0..<(i0 + 1), out: out + s0, outStride: K, rows: rows)
            s0 += 8
        }
        for r in 0..<rows {
            let cr = mem + (i0 + r + 1) * K
            for s in s0..<(i0 + 1) {
                var acc = 0.0
                for j in s...i0 { acc += cr[j] * D[j * K + s] }
                out[r * K + s] = acc
            }
        }
    }
}

extension DMFTFlowPaths {
    /// out[r·outStride + c] = Σ_{j ∈ js} coefficients_r[j]·m[j·stride + c] for c < 8 and r < rows (≤ 4), each sum in
    /// ascending j from 0 by multiply and add, the four rows' eight sums in registers: each load of m feeds four
    /// multiply-adds. The register tile of `noise` and `memoryRows`.
    @inline(__always)
    static func tile4x8(
        _ c0: UnsafePointer<Double>, _ c1: UnsafePointer<Double>, _ c2: UnsafePointer<Double>,
        _ c3: UnsafePointer<Double>, _ m: UnsafePointer<Double>, stride: Int, _ js: Range<Int>,
        out: UnsafeMutablePointer<Double>, outStride: Int, rows: Int
    ) {
        typealias V = SIMD4<Double>
        var a0 = V()
        var b0 = V()
        var a1 = V()
        var b1 = V()
        var a2 = V()
        var b2 = V()
        var a3 = V()
        var b3 = V()
        for j in js {
            let mr = UnsafeRawPointer(m + j * stride)
            let ma = mr.loadUnaligned(as: V.self)
            let mb = mr.loadUnaligned(fromByteOffset: 32, as: V.self)
            a0 += V(repeating: c0[j]) * ma
            b0 += V(repeating: c0[j]) * mb
            a1 += V(repeating: c1[j]) * ma
            b1 += V(repeating: c1[j]) * mb
            a2 += V(repeating: c2[j]) * ma
            b2 += V(repeating: c2[j]) * mb
            a3 += V(repeating: c3[j]) * ma
            b3 += V(repeating: c3[j]) * mb
        }
        let o = UnsafeMutableRawPointer(out)
        let row = outStride * MemoryLayout<Double>.stride
        o.storeBytes(of: a0, as: V.self)
        o.storeBytes(of: b0, toByteOffset: 32, as: V.self)
        if rows > 1 {
            o.storeBytes(of: a1, toByteOffset: row, as: V.self)
            o.storeBytes(of: b1, toByteOffset: row + 32, as: V.self)
        }
        if rows > 2 {
            o.storeBytes(of: a2, toByteOffset: 2 * row, as: V.self)
            o.storeBytes(of: b2, toByteOffset: 2 * row + 32, as: V.self)
        }
        if rows > 3 {
            o.storeBytes(of: a3, toByteOffset: 3 * row, as: V.self)
            o.storeBytes(of: b3, toByteOffset: 3 * row + 32, as: V.self)
        }
    }
}

/// y[i] += a·x[i] for i < n (a plain multiply and add: the flow solver is not matched to a device's fma).
@inline(__always)
private func axpy(_ n: Int, _ a: Double, _ x: UnsafePointer<Double>, _ y: UnsafeMutablePointer<Double>) {
    for i in 0..<n { y[i] += a * x[i] }
}
