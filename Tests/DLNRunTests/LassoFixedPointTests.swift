import DLNTheory
import Foundation
import Testing

/// The d → ∞ test error of the lasso (the weight-decayed fixed point) from state evolution, against finite-d lassos
/// solved by coordinate descent, and against its own limits.
@Suite struct LassoFixedPointTests {
    static func gaussian(_ g: inout SplitMix) -> Double {
        let u = 0.5 * (g.next() + 1) + 1e-300
        let v = 0.5 * (g.next() + 1)
        return (-2 * Foundation.log(u)).squareRoot() * Foundation.cos(2 * Double.pi * v)
    }

    /// Rows x ~ N(0, I), w* Bernoulli(ρ) ones, noise σ, mean loss with λ_L: the mean of ‖w − w*‖² over 6 data sets
    /// at d = 600 is within 6% of d·E_gen. The cases stay away from the Donoho–Tanner transition (near it, e.g.
    /// δ = 0.5, ρ = 0.1, the per-seed errors spread by a factor 2 at d = 1200 and no finite-d check is meaningful).
    @Test(arguments: [(0.5, 0.05, 0.1), (0.8, 0.2, 0.2), (1.5, 0.3, 0.3)])
    func finiteSizeLassosMatchTheFixedPoint(_ delta: Double, _ rho: Double, _ lambda: Double) throws {
        let d = 600
        let n = Int(delta * Double(d))
        let sigma = 0.5
        let fixed = StaticFixedPoint.solveLasso(
            delta: delta, noise: sigma / Double(d).squareRoot(), prior: .bernoulli(rho), lambda: lambda)
        #expect(fixed.converged)
        let predicted = fixed.error * Double(d)
        var errors: [Double] = []
        for seed in 0..<6 {
            var g = SplitMix(seed: UInt64(1000 + seed))
            let x = (0..<(n * d)).map { _ in Self.gaussian(&g) }
            let teacher = (0..<d).map { _ in 0.5 * (g.next() + 1) < rho ? 1.0 : 0.0 }
            let y = zip(Dense.multiply(x, n, d, teacher), 0..<n).map { $0.0 + sigma * Self.gaussian(&g) }
            let w = Lasso.solve(x: x, y: y, n: n, d: d, lambda: lambda, tolerance: 1e-10).w
            errors.append(zip(w, teacher).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) })
        }
        let mean = errors.reduce(0, +) / Double(errors.count)
        #expect(abs(mean - predicted) <= 0.06 * predicted, "finite d: \(errors), mean \(mean); d → ∞: \(predicted)")
    }

    /// λ → 0 at δ > 1 tends to least squares (per coordinate σ²/(δ − 1) in this normalisation); λ large gives w = 0,
    /// the error E[W²] = ρ.
    @Test func limits() {
        let ls = StaticFixedPoint.solveLasso(delta: 2, noise: 0.3, prior: .bernoulli(0.2), lambda: 1e-9)
        #expect(ls.converged && abs(ls.error - 0.09 / (2 - 1)) <= 1e-6, "\(ls.error)")
        let zero = StaticFixedPoint.solveLasso(delta: 0.5, noise: 0.3, prior: .bernoulli(0.2), lambda: 100)
        #expect(zero.converged && abs(zero.error - 0.2) <= 1e-9, "\(zero.error)")
    }
}
