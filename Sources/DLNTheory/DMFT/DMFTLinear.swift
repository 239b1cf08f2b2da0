import DLNModel
import Foundation

/// Plain linear regression under GD: the DMFT closes deterministically (docs/model.md §6.4, "linear-regression
/// variant"), and the d → ∞ answer is also a Marchenko–Pastur integral. Both serve as oracles for the solver.
public enum DMFTLinearOracle {
    /// The deterministic DMFT of w_{k+1} = w_k − ηg_k (λ = 0): iterates C_r, R_r with damping ½ to `tolerance`.
    /// Returns E_gen = C_Δ(k,k), L_tr = ½C_r(k,k), and R_r (K×K), for steps 0…T.
    public static func solve(_ p: DMFTProblem, tolerance: Double = 1e-13, maxIterations: Int = 2000)
        -> (testError: [Double], trainLoss: [Double], memory: [Double], iterations: Int)
    {
        let K = p.gridSize
        let eta = p.eta
        let dl = p.delta
        let rho = p.secondMoment
        let s2 = p.noise * p.noise
        var cr = [Double](repeating: rho + s2, count: K * K)
        var rr = [Double](repeating: 0, count: K * K)
        var cd = [Double](repeating: 0, count: K * K)
        var iterations = 0
        for it in 1...maxIterations {
            iterations = it
            // A (unit lower-triangular) and its inverse.
            var A = [Double](repeating: 0, count: K * K)
            for k in 0..<K {
                A[k * K + k] = 1
                if k >= 1 { A[k * K + k - 1] = eta * dl - 1 }
                if k >= 2 { for kp in 0..<(k - 1) { A[k * K + kp] = eta * dl * rr[(k - 1) * K + kp] } }
            }
            let Ai = lowerInverse(A, K)
            // M = A⁻¹J: column s of M is column s+1 of A⁻¹.
            var M = [Double](repeating: 0, count: K * K)
            for k in 0..<K { for s in 0..<(K - 1) { M[k * K + s] = Ai[k * K + s + 1] } }
            let MC = multiply(M, cr, K)
            let MCMt = multiplyTransposed(MC, M, K)
            for k in 0..<K {
                for l in 0..<K { cd[k * K + l] = rho * Ai[k * K] * Ai[l * K] + eta * eta * dl * MCMt[k * K + l] }
            }
            var rd = [Double](repeating: 0, count: K * K)
            for i in 0..<(K * K) { rd[i] = -eta * M[i] }
            let next = DMFTSolver.closure(cd: cd, rd: rd, K: K, sigma2: s2)
            var change = 0.0
            for i in 0..<(K * K) { change = max(change, abs(next.cr[i] - cr[i]), abs(next.rr[i] - rr[i])) }
            for i in 0..<(K * K) {
                cr[i] = 0.5 * cr[i] + 0.5 * next.cr[i]
                rr[i] = 0.5 * rr[i] + 0.5 * next.rr[i]
            }
            if change < tolerance {
                cr = next.cr
                rr = next.rr
                break
            }
        }
        return ((0..<K).map { cd[$0 * K + $0] }, (0..<K).map { 0.5 * cr[$0 * K + $0] }, rr, iterations)
    }

    /// The d → ∞ random-matrix answer: the spectrum of XᵀX (X_{μi} ~ N(0, 1/d), n = δd) is Marchenko–Pastur with
    /// an atom 1 − δ at 0 (δ < 1) and density √((λ₊−λ)(λ−λ₋))/(2πλ) on [(√δ−1)², (√δ+1)²]. With P = (1−ηλ)^k and
    /// S = (1−P)/λ: E_gen(k) = ρE[P²] + σ²E[S²λ], L_tr(k) = [ρE[λP²] + σ²(δ − E[λS(2 − λS)])]/(2δ).
    public static func randomMatrix(_ p: DMFTProblem, nodes: Int = 4000) -> (testError: [Double], trainLoss: [Double]) {
        let dl = p.delta
        let eta = p.eta
        let rho = p.secondMoment
        let s2 = p.noise * p.noise
        let c = dl + 1
        let h = 2 * dl.squareRoot()
        var lambdas: [Double] = []
        var weights: [Double] = []
        for i in 0..<nodes {
            let theta = Double.pi * (Double(i) + 0.5) / Double(nodes)
            let l = c + h * cos(theta)
            lambdas.append(l)
            weights.append(h * h * sin(theta) * sin(theta) / (2 * Double.pi * l) * Double.pi / Double(nodes))
        }
        let atom = max(0, 1 - dl)
        var te: [Double] = []
        var tl: [Double] = []
        for k in 0...p.steps {
            // λ = 0: P = 1, S = ηk, S²λ = 0, λS = 0.
            var eP2 = atom
            var eS2l = 0.0
            var elP2 = 0.0
            var elS = 0.0
            for (l, w) in zip(lambdas, weights) {
                let P = pow(1 - eta * l, Double(k))
                let S = (1 - P) / l
                eP2 += w * P * P
                eS2l += w * S * S * l
                elP2 += w * l * P * P
                elS += w * l * S * (2 - l * S)
            }
            te.append(rho * eP2 + s2 * eS2l)
            tl.append((rho * elP2 + s2 * (dl - elS)) / (2 * dl))
        }
        return (te, tl)
    }

    static func lowerInverse(_ a: [Double], _ K: Int) -> [Double] {
        var x = [Double](repeating: 0, count: K * K)
        for col in 0..<K {
            for k in col..<K {
                var acc = k == col ? 1.0 : 0.0
                for j in col..<k { acc -= a[k * K + j] * x[j * K + col] }
                x[k * K + col] = acc / a[k * K + k]
            }
        }
        return x
    }

    static func multiply(_ a: [Double], _ b: [Double], _ K: Int) -> [Double] {
        var out = [Double](repeating: 0, count: K * K)
        for i in 0..<K {
            for j in 0..<K {
                let x = a[i * K + j]
                if x == 0 { continue }
                for l in 0..<K { out[i * K + l] += x * b[j * K + l] }
            }
        }
        return out
    }

    /// a·bᵀ.
    static func multiplyTransposed(_ a: [Double], _ b: [Double], _ K: Int) -> [Double] {
        var out = [Double](repeating: 0, count: K * K)
        for i in 0..<K {
            for l in 0..<K {
                var acc = 0.0
                for j in 0..<K { acc += a[i * K + j] * b[l * K + j] }
                out[i * K + l] = acc
            }
        }
        return out
    }
}
