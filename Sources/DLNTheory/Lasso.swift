import DLNModel
import Foundation

/// The lasso, argmin (1/2n)‖Xw − y‖² + λ‖w‖₁ (docs/model.md §5.3): the fixed point of weight decay (O10), with
/// λ = λ_u for the mean loss; for the sum loss ½‖Xw − y‖² + λ_u‖w‖₁ pass λ = λ_u/n.
public enum Lasso {
    /// The solution and the size of its last update.
    public struct Solution: Sendable {
        public let w: [Double]
        public let sweeps: Int
        public let lastChange: Double
        public let converged: Bool
    }

    /// Cyclic coordinate descent: w_j ← S(X_jᵀr₍ⱼ₎/n, λ)/(‖X_j‖²/n), S(z, λ) = sign(z)·max(|z| − λ, 0).
    public static func solve(
        x: [Double], y: [Double], n: Int, d: Int, lambda: Double,
        tolerance: Double = 1e-15, maxSweeps: Int = 100_000
    ) -> Solution {
        var w = [Double](repeating: 0, count: d)
        var r = y  // r = y − Xw
        let colNorm = (0..<d).map { j in (0..<n).reduce(0.0) { $0 + x[$1 * d + j] * x[$1 * d + j] } / Double(n) }
        var sweeps = 0
        var change = Double.infinity
        while change >= tolerance && sweeps < maxSweeps {
            sweeps += 1
            change = 0
            for j in 0..<d where colNorm[j] > 0 {
                var rho = 0.0
                for i in 0..<n { rho += x[i * d + j] * (r[i] + x[i * d + j] * w[j]) }
                rho /= Double(n)
                let new = (rho > lambda ? rho - lambda : rho < -lambda ? rho + lambda : 0) / colNorm[j]
                let delta = new - w[j]
                if delta != 0 {
                    for i in 0..<n { r[i] -= x[i * d + j] * delta }
                    w[j] = new
                    change = max(change, abs(delta))
                }
            }
        }
        return Solution(w: w, sweeps: sweeps, lastChange: change, converged: change < tolerance)
    }

    /// KKT violation of a candidate w: on the support |g_i + λ·sign(w_i)|, off it max(|g_i| − λ, 0), the largest.
    /// `support` counts |w_i| > threshold as non-zero.
    public static func kktViolation(
        x: [Double], y: [Double], n: Int, d: Int, lambda: Double, w: [Double], threshold: Double
    ) -> Double {
        let r = zip(Dense.multiply(x, n, d, w), y).map { $0 - $1 }
        let g = Dense.multiplyTransposed(x, n, d, r).map { $0 / Double(n) }
        var worst = 0.0
        for j in 0..<d {
            worst = max(
                worst, abs(w[j]) > threshold ? abs(g[j] + lambda * (w[j] > 0 ? 1 : -1)) : max(abs(g[j]) - lambda, 0))
        }
        return worst
    }
}
