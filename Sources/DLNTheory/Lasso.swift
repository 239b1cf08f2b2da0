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
        // The weighted solver with every λ_j = λ: the same operations in the same order.
        solve(
            x: x, y: y, n: n, d: d, lambdas: [Double](repeating: lambda, count: d), tolerance: tolerance,
            maxSweeps: maxSweeps)
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
