import DLNModel
import Foundation

extension StaticFixedPoint {
    /// The d → ∞ test error of the lasso argmin ½‖y − Aw‖² + λ‖w‖₁ (Bayati–Montanari normalisation, A_{μi} ~
    /// N(0, 1/n), noise σ_b = σ/√δ as in `solve`): the weight-decayed fixed point of gradient flow (docs/model.md
    /// §5.7). State evolution with the soft threshold η(x; κ) = sign(x)·max(|x| − κ, 0):
    ///     τ² = σ_b² + E[(η(W + τZ; κ) − W)²]/δ,   λ = κ·(1 − P(|W + τZ| > κ)/δ),
    /// the second (the calibration) solved for κ above the point where its bracket vanishes, where it increases.
    /// The expectations over Z are in closed form (Φ, φ), exact for a teacher with finitely many values.
    public static func solveLasso(
        delta: Double, noise sigma: Double, prior: Prior, lambda: Double, maxIterations: Int = 2000
    ) -> Solution {
        precondition(lambda > 0 && delta > 0)
        let sb2 = sigma * sigma / delta
        func phi(_ z: Double) -> Double { Foundation.exp(-0.5 * z * z) / (2 * Double.pi).squareRoot() }
        func cdf(_ z: Double) -> Double { 0.5 * Foundation.erfc(-z / 2.0.squareRoot()) }
        /// P(|W + τZ| > κ) and E[(η − W)²].
        func moments(tau: Double, kappa: Double) -> (active: Double, error: Double) {
            var active = 0.0
            var error = 0.0
            for (w, p) in zip(prior.values, prior.weights) where p > 0 {
                let a = (kappa - w) / tau  // x > κ ⇔ Z > a
                let b = (-kappa - w) / tau  // x < −κ ⇔ Z < b
                let (qa, pb) = (cdf(-a), cdf(b))
                let upper = tau * tau * (a * phi(a) + qa) - 2 * tau * kappa * phi(a) + kappa * kappa * qa
                let lower = tau * tau * (pb - b * phi(b)) - 2 * tau * kappa * phi(b) + kappa * kappa * pb
                let inside = w * w * max(0, 1 - qa - pb)
                active += p * (qa + pb)
                error += p * (upper + lower + inside)
            }
            return (active, error)
        }
        func calibration(tau: Double, kappa: Double) -> Double {
            kappa * (1 - moments(tau: tau, kappa: kappa).active / delta)
        }
        var tau2 = zip(prior.values, prior.weights).reduce(0) { $0 + $1.1 * $1.0 * $1.0 } + sb2
        var kappa = lambda
        var error = Double.nan
        for iteration in 1...maxIterations {
            let tau = tau2.squareRoot()
            // κ_min: where P(|x| > κ) = δ (0 when δ ≥ 1); above it the calibration increases from 0.
            var lo = 0.0
            if delta < 1 {
                var (a, b) = (0.0, tau)
                while moments(tau: tau, kappa: b).active > delta { b *= 2 }
                for _ in 0..<200 {
                    let mid = 0.5 * (a + b)
                    if moments(tau: tau, kappa: mid).active > delta { a = mid } else { b = mid }
                }
                lo = b
            }
            var hi = max(2 * lo, lambda, tau)
            while calibration(tau: tau, kappa: hi) < lambda { hi *= 2 }
            for _ in 0..<200 {
                let mid = 0.5 * (lo + hi)
                if calibration(tau: tau, kappa: mid) < lambda { lo = mid } else { hi = mid }
            }
            kappa = 0.5 * (lo + hi)
            error = moments(tau: tau, kappa: kappa).error
            let next = sb2 + error / delta
            let change = abs(next - tau2)
            tau2 = 0.5 * tau2 + 0.5 * next
            if change < 1e-13 * max(tau2, 1e-300) {
                return Solution(
                    tau: tau2.squareRoot(), kappa: kappa, error: error, iterations: iteration, converged: true)
            }
        }
        return Solution(tau: tau2.squareRoot(), kappa: kappa, error: error, iterations: maxIterations, converged: false)
    }
}
