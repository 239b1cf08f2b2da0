import DLNModel
import Foundation

extension DMFTSolver {
    /// The model's own order parameters on every path, from the paths' deviations Δ_k: the layers u_k, v_k are
    /// replayed with the noise factor and memory kernel of the iteration that produced Δ (g_k = ξ_k + δ[Δ_k +
    /// Σ_{k′<k} R_r(k,k′)Δ_{k′}], the engines' update in the same order), and mean(u⊙v) (`mean_uv`) and
    /// mean((u² + v²)/2) (`mean_q`) are taken over the paths at every step, with their per-path standard errors.
    /// NaN for the linear process, which has no layers.
    static func orderParameters(
        _ problem: DMFTProblem, settings: DMFTSettings, correlation cr: [Double], memory rr: [Double],
        deviations delta: [Double]
    ) -> (mean: [String: [Double]], standardError: [String: [Double]]) {
        let K = problem.gridSize
        let N = settings.paths
        let nan = [Double](repeating: .nan, count: K)
        guard problem.process == .pm, delta.count == K * N, rr.count == K * K else {
            return (["mean_uv": nan, "mean_q": nan], ["mean_uv": nan, "mean_q": nan])
        }
        let (factor, rank) = noiseFactor(cr, K, scale: problem.delta, aligned: settings.alignedModes)
        let z = DMFTLayout.noise(gridSize: K, paths: N, seed: settings.seed)
        let C = DMFTLayout.chunk
        let chunks = (N + C - 1) / C
        // Per chunk and step: Σ uv, Σ (uv)², Σ q, Σ q².
        let slots = SharedSlots<[Double]>(count: chunks)
        let (dl, eta, lam, alpha) = (problem.delta, problem.eta, problem.lambda, problem.alpha)
        DispatchQueue.concurrentPerform(iterations: chunks) { c in
            let p0 = c * C
            let P = min(C, N - p0)
            var a = [Double](repeating: alpha, count: P)
            var b = a
            var sums = [Double](repeating: 0, count: 4 * K)
            for k in 0..<K {
                for p in 0..<P {
                    let m = a[p] * b[p]
                    let q = 0.5 * (a[p] * a[p] + b[p] * b[p])
                    sums[4 * k] += m
                    sums[4 * k + 1] += m * m
                    sums[4 * k + 2] += q
                    sums[4 * k + 3] += q * q
                }
                if k == K - 1 { break }
                for p in 0..<P {
                    var xi = 0.0
                    for j in 0..<rank { xi = xi.addingProduct(factor[k * rank + j], z[j * N + p0 + p]) }
                    var mem = 0.0
                    for kp in 0..<k { mem = mem.addingProduct(rr[k * K + kp], delta[kp * N + p0 + p]) }
                    let g = xi + dl * (delta[k * N + p0 + p] + mem)
                    a[p] *= 1 - eta * (g + lam)
                    b[p] *= 1 + eta * (g - lam)
                }
            }
            slots[c] = sums
        }
        var total = [Double](repeating: 0, count: 4 * K)
        for s in slots.values { for i in total.indices { total[i] += s[i] } }
        var mean: [String: [Double]] = ["mean_uv": nan, "mean_q": nan]
        var se = mean
        for k in 0..<K {
            for (name, o) in [("mean_uv", 0), ("mean_q", 2)] {
                let m = total[4 * k + o] / Double(N)
                mean[name]![k] = m
                se[name]![k] = (max(0, total[4 * k + o + 1] / Double(N) - m * m) / Double(max(1, N - 1))).squareRoot()
            }
        }
        return (mean, se)
    }
}
