import Foundation

extension Lasso {
    /// The weighted lasso, argmin (1/2n)‖Xw − y‖² + Σ_j λ_j|w_j|, by the same cyclic coordinate descent as
    /// `solve(lambda:)` with λ_j in place of λ: label-noise GD's fixed point (docs/theory.md).
    public static func solve(
        x: [Double], y: [Double], n: Int, d: Int, lambdas: [Double],
        tolerance: Double = 1e-15, maxSweeps: Int = 100_000
    ) -> Solution {
        precondition(lambdas.count == d, "one λ_j per coordinate")
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
                let lambda = lambdas[j]
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

    /// The strengths λ_j of label-noise gradient descent's lasso on pm and uv, in the form (1/2n)‖Xw − y‖² + Σλ_j|w_j|
    /// (docs/theory.md): with the gradient g = κ·Xᵀ(Xw − y − σξ) (κ = 1/n for the mean loss, 1 for the sum) and the
    /// weight decay λ_u, λ_j = (λ_u + η·κ²σ²·Σ_i x_ij²/2)/(κn); for the mean loss λ_u + ησ²c_j/(2n) with
    /// c_j = (1/n)Σ_i x_ij². First order in η.
    public static func labelNoiseStrengths(
        x: [Double], n: Int, d: Int, eta: Double, labelNoise sigma: Double, weightDecay lambdaU: Double,
        meanLoss: Bool
    ) -> [Double] {
        let kappa = meanLoss ? 1 / Double(n) : 1
        return (0..<d).map { j in
            let squares = (0..<n).reduce(0.0) { $0 + x[$1 * d + j] * x[$1 * d + j] }
            return (lambdaU + eta * kappa * kappa * sigma * sigma * squares / 2) / (kappa * Double(n))
        }
    }
}
