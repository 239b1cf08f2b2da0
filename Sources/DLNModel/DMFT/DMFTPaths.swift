import Foundation

/// The CPU engine of the DMFT effective process: paths in chunks of `DMFTLayout.chunk`, the paths of a chunk as
/// contiguous lanes (the inner loops run over paths and vectorise), chunks in parallel. Twin of Kernels/dmft.cl:
/// the same operations in the same order (fused multiply-adds exactly where the kernels call fma()).
public final class DMFTCPUPaths: DMFTPathEngine, @unchecked Sendable {  // buffers are written by disjoint chunks only
    public let problem: DMFTProblem
    public let settings: DMFTSettings
    let K: Int, N: Int, Nr: Int
    /// Common random numbers Z, `[j][p]`.
    public let z: [Double]
    /// The teacher of each path.
    public let wstar: [Double]
    var delta: [Double]
    /// The response paths' a_k, b_k (linear: w_k) and g_k, `[k][p]` for p < N_r.
    var histA: [Double], histB: [Double], histG: [Double]

    public var description: String { "CPU (\(ProcessInfo.processInfo.activeProcessorCount) threads)" }

    /// Draws the common random numbers and the teachers of every path.
    public init(problem: DMFTProblem, settings: DMFTSettings) {
        self.problem = problem
        self.settings = settings
        K = problem.gridSize
        N = settings.paths
        Nr = min(settings.responsePaths, settings.paths)
        z = DMFTLayout.noise(gridSize: K, paths: N, seed: settings.seed)
        let rng = CounterRNG(seed: UInt64(settings.seed))
        wstar = (0..<N).map { DMFTLayout.teacher(path: $0, density: problem.density, values: problem.values, rng: rng) }
        delta = [Double](repeating: 0, count: K * N)
        histA = [Double](repeating: 0, count: K * Nr)
        histB = histA
        histG = histA
    }

    public func deviations() -> [Double] { delta }

    public func iterate(factor: [Double], rank: Int, memory: [Double]) -> (correlation: [Double], response: [Double]) {
        let C = DMFTLayout.chunk
        let RC = DMFTLayout.responseChunk
        let chunks = (N + C - 1) / C
        let rchunks = (Nr + RC - 1) / RC
        var corr = [Double](repeating: 0, count: chunks * K * K)
        var resp = [Double](repeating: 0, count: rchunks * K * K)
        let (K, N, Nr) = (self.K, self.N, self.Nr)
        let pr = problem
        let linear = pr.process == .linear
        let (dl, eta, lam, alpha) = (pr.delta, pr.eta, pr.lambda, pr.alpha)
        z.withUnsafeBufferPointer { zb in
            wstar.withUnsafeBufferPointer { wb in
                factor.withUnsafeBufferPointer { fb in
                    memory.withUnsafeBufferPointer { mb in
                        delta.withUnsafeMutableBufferPointer { db in
                            histA.withUnsafeMutableBufferPointer { hab in
                                histB.withUnsafeMutableBufferPointer { hbb in
                                    histG.withUnsafeMutableBufferPointer { hgb in
                                        corr.withUnsafeMutableBufferPointer { cb in
                                            let zp = UnsafeSendablePointer(
                                                UnsafeMutablePointer(mutating: zb.baseAddress!))
                                            let wp = UnsafeSendablePointer(
                                                UnsafeMutablePointer(mutating: wb.baseAddress!))
                                            let fp = UnsafeSendablePointer(
                                                UnsafeMutablePointer(mutating: fb.baseAddress!))
                                            let mp = UnsafeSendablePointer(
                                                UnsafeMutablePointer(mutating: mb.baseAddress!))
                                            let dp = UnsafeSendablePointer(db.baseAddress!)
                                            let ha = UnsafeSendablePointer(hab.baseAddress!)
                                            let hbp = UnsafeSendablePointer(hbb.baseAddress!)
                                            let hg = UnsafeSendablePointer(hgb.baseAddress!)
                                            let cp = UnsafeSendablePointer(cb.baseAddress!)
                                            DispatchQueue.concurrentPerform(iterations: chunks) { c in
                                                let p0 = c * C
                                                let P = min(C, N - p0)
                                                Self.forward(
                                                    p0: p0, P: P, K: K, N: N, Nr: Nr, rank: rank, linear: linear,
                                                    delta: dl, eta: eta, lambda: lam, alpha: alpha,
                                                    z: zp.pointer, wstar: wp.pointer, factor: fp.pointer,
                                                    memory: mp.pointer, out: dp.pointer,
                                                    histA: ha.pointer, histB: hbp.pointer, histG: hg.pointer,
                                                    partial: cp.pointer + c * K * K)
                                            }
                                        }
                                        resp.withUnsafeMutableBufferPointer { rb in
                                            let ha = UnsafeSendablePointer(
                                                UnsafeMutablePointer(mutating: hab.baseAddress!))
                                            let hbp = UnsafeSendablePointer(
                                                UnsafeMutablePointer(mutating: hbb.baseAddress!))
                                            let hg = UnsafeSendablePointer(
                                                UnsafeMutablePointer(mutating: hgb.baseAddress!))
                                            let mp = UnsafeSendablePointer(
                                                UnsafeMutablePointer(mutating: mb.baseAddress!))
                                            let rp = UnsafeSendablePointer(rb.baseAddress!)
                                            DispatchQueue.concurrentPerform(iterations: rchunks) { c in
                                                let p0 = c * RC
                                                let P = min(RC, Nr - p0)
                                                Self.tangents(
                                                    p0: p0, P: P, K: K, Nr: Nr, linear: linear, delta: dl, eta: eta,
                                                    lambda: lam, histA: ha.pointer,
                                                    histB: hbp.pointer, histG: hg.pointer, memory: mp.pointer,
                                                    partial: rp.pointer + c * K * K)
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        _ = wstar
        return (corr, resp)
    }

    /// Paths p0 ..< p0+P: Δ_k, the response paths' histories, and the chunk's Σ_p Δ_kΔ_k′ (ascending p).
    @inline(__always)
    static func forward(
        p0: Int, P: Int, K: Int, N: Int, Nr: Int, rank: Int, linear: Bool, delta dl: Double, eta: Double,
        lambda lam: Double, alpha: Double, z: UnsafeMutablePointer<Double>, wstar: UnsafeMutablePointer<Double>,
        factor: UnsafeMutablePointer<Double>, memory: UnsafeMutablePointer<Double>, out: UnsafeMutablePointer<Double>,
        histA: UnsafeMutablePointer<Double>, histB: UnsafeMutablePointer<Double>, histG: UnsafeMutablePointer<Double>,
        partial: UnsafeMutablePointer<Double>
    ) {
        let a = UnsafeMutablePointer<Double>.allocate(capacity: P)
        let b = UnsafeMutablePointer<Double>.allocate(capacity: P)
        let xi = UnsafeMutablePointer<Double>.allocate(capacity: P)
        let mem = UnsafeMutablePointer<Double>.allocate(capacity: P)
        let col = UnsafeMutablePointer<Double>.allocate(capacity: K)
        defer {
            a.deallocate()
            b.deallocate()
            xi.deallocate()
            mem.deallocate()
            col.deallocate()
        }
        let ws = wstar + p0
        for p in 0..<P {
            a[p] = linear ? 0 : alpha
            b[p] = linear ? 0 : alpha
        }
        let responders = max(0, min(P, Nr - p0))
        for k in 0..<K {
            let row = out + k * N + p0
            if linear {
                for p in 0..<P { row[p] = a[p] - ws[p] }
            } else {
                for p in 0..<P { row[p] = (a[p] * a[p] - b[p] * b[p]) * 0.5 - ws[p] }
            }
            if k == K - 1 { break }
            for p in 0..<P {
                xi[p] = 0
                mem[p] = 0
            }
            for j in 0..<rank {
                let f = factor[k * rank + j]
                let zr = z + j * N + p0
                for p in 0..<P { xi[p] = xi[p].addingProduct(f, zr[p]) }
            }
            for kp in 0..<k {
                let r = memory[k * K + kp]
                let dr = out + kp * N + p0
                for p in 0..<P { mem[p] = mem[p].addingProduct(r, dr[p]) }
            }
            for p in 0..<responders {
                histA[k * Nr + p0 + p] = a[p]
                histB[k * Nr + p0 + p] = b[p]
            }
            if linear {
                for p in 0..<P {
                    let g = xi[p] + dl * (row[p] + mem[p])
                    if p < responders { histG[k * Nr + p0 + p] = g }
                    a[p] = a[p] - eta * (g + lam * a[p])
                }
            } else {
                for p in 0..<P {
                    let g = xi[p] + dl * (row[p] + mem[p])
                    if p < responders { histG[k * Nr + p0 + p] = g }
                    let fa = 1 - eta * (g + lam)
                    let fb = 1 + eta * (g - lam)
                    a[p] = a[p] * fa
                    b[p] = b[p] * fb
                }
            }
        }
        for p in 0..<responders {
            histA[(K - 1) * Nr + p0 + p] = a[p]
            histB[(K - 1) * Nr + p0 + p] = b[p]
        }
        // Σ_p Δ_kΔ_k′ for k′ ≤ k, one path at a time (ascending p), then mirrored.
        for i in 0..<(K * K) { partial[i] = 0 }
        for p in 0..<P {
            for k in 0..<K { col[k] = out[k * N + p0 + p] }
            for k in 0..<K {
                let x = col[k]
                let prow = partial + k * K
                for kp in 0...k { prow[kp] = prow[kp].addingProduct(x, col[kp]) }
            }
        }
        for k in 0..<K { for kp in 0..<k { partial[kp * K + k] = partial[k * K + kp] } }
    }

    /// Forward-mode tangents of the response paths p0 ..< p0+P, every source s at once: the chunk's
    /// Σ_p ∂Δ_k/∂h_s (ascending p).
    @inline(__always)
    static func tangents(
        p0: Int, P: Int, K: Int, Nr: Int, linear: Bool, delta dl: Double, eta: Double, lambda lam: Double,
        histA: UnsafeMutablePointer<Double>, histB: UnsafeMutablePointer<Double>, histG: UnsafeMutablePointer<Double>,
        memory: UnsafeMutablePointer<Double>, partial: UnsafeMutablePointer<Double>
    ) {
        let D = UnsafeMutablePointer<Double>.allocate(capacity: K * K)
        let dA = UnsafeMutablePointer<Double>.allocate(capacity: K)
        let dB = UnsafeMutablePointer<Double>.allocate(capacity: K)
        let M = UnsafeMutablePointer<Double>.allocate(capacity: K)
        defer {
            D.deallocate()
            dA.deallocate()
            dB.deallocate()
            M.deallocate()
        }
        for i in 0..<(K * K) { partial[i] = 0 }
        for p in (p0..<(p0 + P)) {
            for s in 0..<K {
                dA[s] = 0
                dB[s] = 0
            }
            for k in 0..<K {
                let ak = histA[k * Nr + p]
                let bk = histB[k * Nr + p]
                let Dk = D + k * K
                let pk = partial + k * K
                if linear {
                    for s in 0..<k { Dk[s] = dA[s] }
                } else {
                    for s in 0..<k { Dk[s] = ak * dA[s] - bk * dB[s] }
                }
                for s in 0..<k { pk[s] = pk[s] + Dk[s] }
                if k == K - 1 { break }
                for s in 0..<k { M[s] = 0 }
                if k >= 2 {
                    for kp in 1..<k {
                        let r = memory[k * K + kp]
                        let Dr = D + kp * K
                        for s in 0..<kp { M[s] = M[s].addingProduct(r, Dr[s]) }
                    }
                }
                let gk = histG[k * Nr + p]
                if linear {
                    for s in 0..<k {
                        let dg = dl * (Dk[s] + M[s])
                        dA[s] = dA[s] - eta * (dg + lam * dA[s])
                    }
                    dA[k] = dA[k] - eta * (1 + lam * dA[k])
                } else {
                    let fa = 1 - eta * (gk + lam)
                    let fb = 1 + eta * (gk - lam)
                    let ea = eta * ak
                    let eb = eta * bk
                    for s in 0..<k {
                        let dg = dl * (Dk[s] + M[s])
                        dA[s] = dA[s] * fa - ea * dg
                        dB[s] = dB[s] * fb + eb * dg
                    }
                    dA[k] = dA[k] * fa - ea * 1
                    dB[k] = dB[k] * fb + eb * 1
                }
            }
        }
    }
}
