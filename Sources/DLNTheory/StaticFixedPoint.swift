import DLNModel
import Foundation

/// The asymptotic (d → ∞, n/d → δ) test error of the gradient-flow limit at λ = 0 (docs/model.md §5.7, O15): the
/// AMP/CGMT fixed point for the interpolator w∞ = argmin{Σφ_β(w_i) : Xw = y}, φ_β′(z) = ½arcsinh(z/β), β = α².
///
/// In Bayati–Montanari normalisation (X_{μi} ~ N(0, 1/d), σ_b = σ/√δ), with W ~ P_* and Z ~ N(0, 1):
///     τ² = σ_b² + E[(η_κ(W + τZ) − W)²]/δ,   E[η_κ′(W + τZ)] = δ,
/// η_κ the proximal map of κφ_β (z − x + (κ/2)arcsinh(z/β) = 0), and E_gen = E[(η_κ(W + τZ) − W)²], the error
/// per coordinate ‖w − w*‖²/d. The expectations over Z use Gauss–Hermite quadrature.
public enum StaticFixedPoint {
    /// The teacher's law: a finite distribution of values.
    public struct Prior: Sendable {
        public let values: [Double]
        public let weights: [Double]
        /// w*_i = 1 with probability ρ, else 0 (the DMFT paper's teacher).
        public static func bernoulli(_ rho: Double) -> Prior { Prior(values: [0, 1], weights: [1 - rho, rho]) }
        public init(values: [Double], weights: [Double]) {
            self.values = values
            self.weights = weights
        }
    }

    /// The regulariser: the hyperbolic entropy of scale β, or the ridge φ(z) = z²/2 (the min-ℓ2 check).
    public enum Potential: Sendable {
        case hyperbolic(beta: Double)
        case ridge
    }

    /// The fixed point: τ, κ, the test error per coordinate, iterations and whether it converged.
    public struct Solution: Sendable {
        public let tau: Double
        public let kappa: Double
        public let error: Double
        public let iterations: Int
        public let converged: Bool
    }

    /// Gauss–Hermite nodes and weights for E[f(Z)], Z ~ N(0, 1): E f ≈ Σ w_k f(x_k).
    public static func gaussHermite(_ m: Int) -> (nodes: [Double], weights: [Double]) {
        // Physicists' rule by Newton's method on H_m (Numerical Recipes' gauher), then z = √2·x, w/√π.
        var x = [Double](repeating: 0, count: m)
        var w = x
        let pim4 = 0.7511255444649425
        var z = 0.0
        for i in 0..<((m + 1) / 2) {
            switch i {
            case 0: z = (2 * Double(m) + 1).squareRoot() - 1.85575 * Foundation.pow(2 * Double(m) + 1, -0.16667)
            case 1: z -= 1.14 * Foundation.pow(Double(m), 0.426) / z
            case 2: z = 1.86 * z - 0.86 * x[0]
            case 3: z = 1.91 * z - 0.91 * x[1]
            default: z = 2 * z - x[i - 2]
            }
            var pp = 0.0
            for _ in 0..<100 {
                var p1 = pim4
                var p2 = 0.0
                for j in 1...m {
                    let p3 = p2
                    p2 = p1
                    p1 = z * (2 / Double(j)).squareRoot() * p2 - (Double(j - 1) / Double(j)).squareRoot() * p3
                }
                pp = (2 * Double(m)).squareRoot() * p2
                let z1 = z
                z = z1 - p1 / pp
                if abs(z - z1) <= 1e-15 { break }
            }
            x[i] = z
            x[m - 1 - i] = -z
            w[i] = 2 / (pp * pp)
            w[m - 1 - i] = w[i]
        }
        return (x.map { $0 * 2.0.squareRoot() }, w.map { $0 / Double.pi.squareRoot() })
    }

    /// η_κ(x) and its derivative.
    static func prox(_ x: Double, kappa: Double, _ potential: Potential) -> (Double, Double) {
        switch potential {
        case .ridge:
            return (x / (1 + kappa), 1 / (1 + kappa))
        case .hyperbolic(let beta):
            // z − x + (κ/2)·arcsinh(z/β) = 0 is increasing in z; safeguarded Newton inside [min(0,x)−1, max(0,x)+1].
            var lo = min(0, x) - 1
            var hi = max(0, x) + 1
            var z = x / (1 + kappa / (2 * max(abs(x), beta)))
            for _ in 0..<200 {
                let f = z - x + kappa / 2 * Foundation.asinh(z / beta)
                if f > 0 { hi = z } else { lo = z }
                let fp = 1 + kappa / (2 * (z * z + beta * beta).squareRoot())
                var next = z - f / fp
                if !(next > lo && next < hi) { next = 0.5 * (lo + hi) }
                if abs(next - z) <= 1e-15 * max(1, abs(z)) {
                    z = next
                    break
                }
                z = next
            }
            return (z, 1 / (1 + kappa / (2 * (z * z + beta * beta).squareRoot())))
        }
    }

    /// Solves the fixed point (damping ½ with Aitken extrapolation, until |Δτ²| < 1e-10 + 1e-8·τ²). At very small β the quadrature cannot
    /// resolve the prox's kink and the iteration may wander at the 1% level: it then stops after `maxIterations`
    /// with `converged = false`.
    public static func solve(
        delta: Double, noise sigma: Double, prior: Prior, potential: Potential,
        quadrature: Int = 80, maxIterations: Int = 1000
    ) -> Solution {
        let (nodes, qw) = gaussHermite(quadrature)
        let sb2 = sigma * sigma / delta
        func moments(tau: Double, kappa: Double) -> (derivative: Double, error: Double) {
            var dsum = 0.0
            var esum = 0.0
            for (value, p) in zip(prior.values, prior.weights) where p > 0 {
                for (z, w) in zip(nodes, qw) {
                    let (eta, etaPrime) = prox(value + tau * z, kappa: kappa, potential)
                    dsum += p * w * etaPrime
                    esum += p * w * (eta - value) * (eta - value)
                }
            }
            return (dsum, esum)
        }
        var tau2 = zip(prior.values, prior.weights).reduce(0) { $0 + $1.1 * $1.0 * $1.0 } + sb2
        var kappa = 1.0
        var error = Double.nan
        let (floor, ceiling) = (Foundation.log(1e-8), Foundation.log(1e4))
        /// F(τ²) = σ²/δ + E(τ)/δ at the κ where E[η′] = δ (which it sets, with `error`).
        func map(_ t: Double) -> Double {
            let tau = t.squareRoot()
            // E[η′] decreases from 1 (κ → 0) to 0 (κ → ∞): bisect in log κ within [1e-8, 1e4], from a bracket around
            // the last κ (widened until it holds the crossing or meets an end) to a width of 1e-12.
            func above(_ x: Double) -> Bool { moments(tau: tau, kappa: Foundation.exp(x)).derivative > delta }
            let last = Foundation.log(kappa)
            var lo = max(floor, last - 0.25)
            var hi = min(ceiling, last + 0.25)
            while lo > floor && !above(lo) { lo = max(floor, lo - 4 * (hi - lo)) }
            while hi < ceiling && above(hi) { hi = min(ceiling, hi + 4 * (hi - lo)) }
            while hi - lo > 1e-12 {
                let mid = 0.5 * (lo + hi)
                if above(mid) { lo = mid } else { hi = mid }
            }
            kappa = Foundation.exp(0.5 * (lo + hi))
            error = moments(tau: tau, kappa: kappa).error
            return sb2 + error / delta
        }
        // The damped map τ² ← (τ² + F(τ²))/2, with Aitken's Δ² extrapolation after every two damped steps (exact for
        // a linear map; a negative or non-finite extrapolation is not taken).
        var history: [Double] = []
        for iteration in 1...maxIterations {
            let next = map(tau2)
            let change = abs(next - tau2)
            tau2 = 0.5 * tau2 + 0.5 * next
            if change < 1e-10 + 1e-8 * tau2 {
                return Solution(
                    tau: tau2.squareRoot(), kappa: kappa, error: error, iterations: iteration, converged: true)
            }
            history.append(tau2)
            if history.count == 3 {
                let (t0, t1, t2) = (history[0], history[1], history[2])
                let curvature = t2 - 2 * t1 + t0
                let jump = t0 - (t1 - t0) * (t1 - t0) / curvature
                if curvature != 0 && jump.isFinite && jump > 0 { tau2 = jump }
                history = [tau2]
            }
        }
        return Solution(tau: tau2.squareRoot(), kappa: kappa, error: error, iterations: maxIterations, converged: false)
    }
}
