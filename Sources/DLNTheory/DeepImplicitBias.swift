import DLNModel
import Foundation

/// The implicit bias of Woodworth et al.'s depth-D model w = u^D − v^D, u(0) = v(0) = α, λ = 0, and so of `deep_pm`
/// with equal layer scales (docs/model.md §1.1: deep_pm at time t is that model at t/L, D = L). Along gradient flow
/// every coordinate is a fixed increasing function of ρ = −∫g (`ClosedForm.woodworth`), and ρ stays in range(Xᵀ); the
/// limit that interpolates is therefore w = w(Xᵀν) with ν solving X·w(Xᵀν) = y: the minimiser of Woodworth's
/// potential Q_α^D under Xw = y. Found by Newton's method on ν (Jacobian X·diag(w′(ρ))·Xᵀ, positive definite), with
/// a backtracking search that keeps every |D(D−2)α^{D−2}ρ_i| < 1 (the flow's reach for D ≥ 3).
public enum DeepImplicitBias {
    /// w(ρ) and w′(ρ) of the depth-D model (nil beyond the flow's reach).
    static func weight(_ rho: Double, depth D: Int, alpha: Double) -> (w: Double, slope: Double)? {
        if D == 2 {
            return (2 * alpha * alpha * Foundation.sinh(4 * rho), 8 * alpha * alpha * Foundation.cosh(4 * rho))
        }
        let k = Double(D) * Double(D - 2) * Foundation.pow(alpha, Double(D - 2))
        let z = k * rho
        guard abs(z) < 1 else { return nil }
        let e = -Double(D) / Double(D - 2)
        let scale = Foundation.pow(alpha, Double(D))
        let w = scale * (Foundation.pow(1 - z, e) - Foundation.pow(1 + z, e))
        let slope = scale * -e * (Foundation.pow(1 - z, e - 1) + Foundation.pow(1 + z, e - 1)) * k
        return (w, slope)
    }

    /// The time at which the first coordinate leaves the origin, for deep_pm with equal layers of scale α ≪ 1 at depth
    /// L (λ = 0): near w = 0 the gradient is g₀ = −Xᵀy/n (sum loss: −Xᵀy), so the layer a of the coordinate with the
    /// largest s = |g₀,i| grows as ȧ = s·a^{L−1}: a = α·e^{st} for L = 2 (w ≈ a², of order 1 at t = ln(1/α)/s, the pm
    /// first jump of scale √2·α), and for L ≥ 3 a^{2−L} = α^{2−L} − (L−2)·s·t, which blows up at
    /// t* = α^{−(L−2)}/((L−2)·s): the escape time, ∝ α^{−(L−2)}. NaN when α ≥ 1 (no escape to speak of) or y ⟂ range(Xᵀ).
    public static func escapeTime(
        x: [Double], y: [Double], n: Int, d: Int, depth L: Int, alpha: Double, meanLoss: Bool
    ) -> Double {
        guard alpha < 1 else { return .nan }
        let g = Dense.multiplyTransposed(x, n, d, y).map { abs($0) / (meanLoss ? Double(n) : 1) }
        guard let s = g.max(), s > 0 else { return .nan }
        if L == 2 { return Foundation.log(1 / (2.0.squareRoot() * alpha)) / s }
        return Foundation.pow(alpha, -Double(L - 2)) / (Double(L - 2) * s)
    }

    /// Solves for the interpolator of depth D and scale α. X is n×d row-major; X with dependent rows is solved in its
    /// row space (the limit then fits the least-squares part of y).
    public static func solve(
        x: [Double], y: [Double], n: Int, d: Int, depth D: Int, alpha: Double, tolerance: Double = 1e-12,
        maxIterations: Int = 300
    ) -> ImplicitBias.Solution {
        precondition(D >= 2 && alpha > 0)
        return solve(x: x, y: y, n: n, d: d, tolerance: tolerance, maxIterations: maxIterations) { _, rho in
            weight(rho, depth: D, alpha: alpha)
        }.solution
    }

    /// The interpolator w = w(Xᵀν) for coordinate maps w_j(ρ) that are increasing (`weight(j, ρ)` gives w_j and
    /// w_j′, nil beyond the flow's reach): Newton on ν with backtracking, as above. Also returns ρ = Xᵀν at the end.
    static func solve(
        x: [Double], y: [Double], n: Int, d: Int, tolerance: Double, maxIterations: Int,
        weight: (Int, Double) -> (w: Double, slope: Double)?
    ) -> (solution: ImplicitBias.Solution, rho: [Double]) {
        precondition(x.count == n * d && y.count == n)
        var (xs, ys, m) = (x, y, n)
        var note = ""
        if Dense.isRowRankDeficient(x, n, d) {
            let (q, r, reduced) = Dense.rowSpace(x, n, d)
            guard r > 0 else {
                let zero = [Double](repeating: 0, count: d)
                return (
                    ImplicitBias.Solution(
                        w: zero, nu: [], iterations: 0, relativeResidual: 1, converged: false,
                        message: "X is zero: nothing to fit"), zero
                )
            }
            (xs, ys, m) = (reduced, Dense.project(q, n, r, y), r)
            note = "; X has rank \(r) < n = \(n): solved in its row space"
        }
        let yNorm = max(Dense.norm(ys), .leastNormalMagnitude)
        func evaluate(_ nu: [Double]) -> (w: [Double], slope: [Double], residual: [Double])? {
            let rho = Dense.multiplyTransposed(xs, m, d, nu)
            var w = [Double](repeating: 0, count: d)
            var slope = w
            for j in 0..<d {
                guard let v = weight(j, rho[j]) else { return nil }
                (w[j], slope[j]) = (v.w, v.slope)
            }
            let residual = zip(Dense.multiply(xs, m, d, w), ys).map { $0 - $1 }
            return (w, slope, residual)
        }
        var nu = [Double](repeating: 0, count: m)
        var current = evaluate(nu)!
        var relative = Dense.norm(current.residual) / yNorm
        var iterations = 0
        while relative > tolerance && iterations < maxIterations {
            iterations += 1
            guard let l = Dense.cholesky(Dense.weightedGram(xs, m, d, current.slope), m) else { break }
            let step = Dense.choleskySolve(l, m, current.residual)
            var t = 1.0
            var accepted = false
            while t > 1e-14 {
                let trial = zip(nu, step).map { $0 - t * $1 }
                if let candidate = evaluate(trial) {
                    let r = Dense.norm(candidate.residual) / yNorm
                    if r < (1 - 1e-4 * t) * relative || r <= tolerance {
                        (nu, current, relative, accepted) = (trial, candidate, r, true)
                        break
                    }
                }
                t *= 0.5
            }
            if !accepted { break }
        }
        // Newton stalls on rounding just above a tight tolerance (the line search finds no decrease): within 10×
        // of it the limit is as good as float64 makes it.
        let converged = relative <= tolerance || (iterations < maxIterations && relative <= 10 * tolerance)
        if converged && relative > tolerance { note += "; stopped by rounding at relative residual \(relative)" }
        let solution = ImplicitBias.Solution(
            w: current.w, nu: nu, iterations: iterations, relativeResidual: relative, converged: converged,
            message: converged
                ? "converged" + note
                : "not converged: relative residual \(relative) after \(iterations) Newton steps" + note)
        return (solution, Dense.multiplyTransposed(xs, m, d, nu))
    }
}
