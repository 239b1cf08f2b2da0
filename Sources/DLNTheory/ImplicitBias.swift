import DLNModel
import Foundation

/// The implicit bias of gradient flow on diagonal linear networks (docs/model.md §2, §5.1): the interpolator
///
///     w∞ = argmin Σ_i β_i·h(w_i/β_i)  subject to  Xw = y,  h(z) = z·arcsinh z − √(1+z²) + 1
///
/// (with an offset c: w = β⊙sinh(2(c + Xᵀν))), found by Newton's method on the strictly convex dual
/// D(ν) = ½Σβ_i cosh(2(c_i + (Xᵀν)_i)) − yᵀν, whose gradient is Xw(ν) − y and Hessian 2X·diag(β cosh)·Xᵀ.
/// β = α², c = 0 for `pm` gradient flow from u = v = α; β = |u₀² − v₀²|/2, c = ½arcsinh(w₀/β) for `uv`.
public enum ImplicitBias {
    /// The solver's answer. `converged` is false (never a silent wrong number) when the residual did not
    /// reach the tolerance; `message` then says why.
    public struct Solution: Sendable {
        public let w: [Double]
        public let nu: [Double]
        public let iterations: Int
        /// ‖Xw − y‖ / ‖y‖ at the end.
        public let relativeResidual: Double
        public let converged: Bool
        public let message: String
    }

    /// β·cosh(2z) and β·sinh(2z) without overflow: exp(ln β + 2|z| − ln 2)·(1 ± e^{−4|z|}).
    @inlinable static func coshSinh(logBeta: Double, _ z: Double) -> (Double, Double) {
        let a = Foundation.exp(logBeta + 2 * abs(z) - M_LN2)
        let e = Foundation.exp(-4 * abs(z))
        return (a * (1 + e), (z < 0 ? -1 : 1) * a * (1 - e))
    }

    /// Solves for the interpolator of scale β (per coordinate) and offset c. X is n×d row-major.
    public static func solve(
        x: [Double], y: [Double], n: Int, d: Int, beta: [Double], offset: [Double]? = nil,
        tolerance: Double = 1e-12, maxIterations: Int = 200
    ) -> Solution {
        precondition(x.count == n * d && y.count == n && beta.count == d)
        if Dense.isRowRankDeficient(x, n, d) {
            return solveInRowSpace(
                x: x, y: y, n: n, d: d, beta: beta, offset: offset, tolerance: tolerance, maxIterations: maxIterations)
        }
        let c = offset ?? [Double](repeating: 0, count: d)
        let logBeta = beta.map { Foundation.log($0) }
        let yNorm = max(Dense.norm(y), .leastNormalMagnitude)
        var nu = [Double](repeating: 0, count: n)
        func evaluate(_ nu: [Double]) -> (value: Double, w: [Double], q: [Double]) {
            let z = Dense.multiplyTransposed(x, n, d, nu)
            var value = 0.0
            var w = [Double](repeating: 0, count: d)
            var q = w
            for j in 0..<d {
                let (ch, sh) = coshSinh(logBeta: logBeta[j], c[j] + z[j])
                value += 0.5 * ch
                w[j] = sh
                q[j] = ch
            }
            for i in 0..<n { value -= y[i] * nu[i] }
            return (value, w, q)
        }
        var current = evaluate(nu)
        var iterations = 0
        var residual = Dense.norm(zip(Dense.multiply(x, n, d, current.w), y).map { $0 - $1 }) / yNorm
        while residual > tolerance && iterations < maxIterations {
            iterations += 1
            let gradient = zip(Dense.multiply(x, n, d, current.w), y).map { $0 - $1 }
            let hessian = Dense.weightedGram(x, n, d, current.q.map { 2 * $0 })
            guard let l = Dense.cholesky(hessian, n) else {
                return Solution(
                    w: current.w, nu: nu, iterations: iterations, relativeResidual: residual, converged: false,
                    message:
                        "the Newton system is singular: X does not have full row rank (n = \(n) ≤ d = \(d) is needed, "
                        + "with independent rows)"
                )
            }
            let step = Dense.choleskySolve(l, n, gradient)
            // Backtracking line search: accept a step that decreases the dual (Armijo) or, near the optimum where
            // the dual's value no longer resolves the decrease in floating point, the residual ‖∇D‖.
            let decrease = zip(gradient, step).reduce(0) { $0 + $1.0 * $1.1 }
            var t = 1.0
            var accepted: (value: Double, w: [Double], q: [Double])? = nil
            var newResidual = residual
            while t > 1e-12 {
                let candidate = evaluate(zip(nu, step).map { $0 - t * $1 })
                let r = Dense.norm(zip(Dense.multiply(x, n, d, candidate.w), y).map { $0 - $1 }) / yNorm
                if candidate.value <= current.value - 1e-4 * t * decrease || r < 0.9 * residual {
                    accepted = candidate
                    newResidual = r
                    break
                }
                t *= 0.5
            }
            guard let candidate = accepted else { break }
            nu = zip(nu, step).map { $0 - t * $1 }
            current = candidate
            residual = newResidual
        }
        let converged = residual <= tolerance
        return Solution(
            w: current.w, nu: nu, iterations: iterations, relativeResidual: residual, converged: converged,
            message: converged
                ? "converged"
                : "not converged: relative residual \(residual) after \(iterations) Newton steps (is y in the range "
                    + "of X?)"
        )
    }

    /// X with dependent rows (n > d, or centred data of rank n − 1): the same problem in the row space of X,
    /// QᵀXw = Qᵀy with Q an orthonormal basis of the range of X. The limit of gradient flow then fits the part
    /// of y in the range of X (the least-squares fit); the part outside cannot be fitted and is reported.
    static func solveInRowSpace(
        x: [Double], y: [Double], n: Int, d: Int, beta: [Double], offset: [Double]?, tolerance: Double,
        maxIterations: Int
    ) -> Solution {
        let (q, r, reduced) = Dense.rowSpace(x, n, d)
        guard r > 0 else {
            return Solution(
                w: [Double](repeating: 0, count: d), nu: [Double](repeating: 0, count: n), iterations: 0,
                relativeResidual: 1, converged: false, message: "X is zero: nothing to fit")
        }
        let projected = Dense.project(q, n, r, y)
        let inner = solve(
            x: reduced, y: projected, n: r, d: d, beta: beta, offset: offset, tolerance: tolerance,
            maxIterations: maxIterations)
        let nu = (0..<n).map { i in (0..<r).reduce(0.0) { $0 + q[i * r + $1] * inner.nu[$1] } }
        let outside =
            max(0, Dense.norm(y) * Dense.norm(y) - Dense.norm(projected) * Dense.norm(projected))
            .squareRoot() / max(Dense.norm(y), .leastNormalMagnitude)
        let note =
            "X has rank \(r) < n = \(n) (dependent rows, e.g. centred data): solved in its row space"
            + (outside > 1e-8
                ? String(format: "; a part %.3g of y lies outside the range of X and is not fitted", outside) : "")
        return Solution(
            w: inner.w, nu: nu, iterations: inner.iterations, relativeResidual: inner.relativeResidual,
            converged: inner.converged, message: inner.converged ? "converged; " + note : inner.message + "; " + note)
    }

    /// The minimum-ℓ2-norm interpolator X⁺y = Xᵀ(XXᵀ)⁻¹y (the α → ∞ limit); for X with dependent rows, the same in
    /// its row space (the minimum-norm least-squares solution). nil when X is zero.
    public static func minimumNorm(x: [Double], y: [Double], n: Int, d: Int) -> [Double]? {
        if Dense.isRowRankDeficient(x, n, d) {
            let (q, r, reduced) = Dense.rowSpace(x, n, d)
            guard r > 0 else { return nil }
            return minimumNorm(x: reduced, y: Dense.project(q, n, r, y), n: r, d: d)
        }
        guard let l = Dense.cholesky(Dense.weightedGram(x, n, d, [Double](repeating: 1, count: d)), n) else {
            return nil
        }
        return Dense.multiplyTransposed(x, n, d, Dense.choleskySolve(l, n, y))
    }
}

extension ImplicitBias {
    /// The scale and offset of the implicit bias of discrete gradient descent for `pm` at λ = 0 (§2.4, O6), from
    /// the gradients g_k the run saw: β_i = α²∏_k(1 − η²g²_{k,i}), c_i = −Σ_k(artanh(ηg_{k,i}) − ηg_{k,i}). The
    /// limit of a stable run (|ηg| < 1 throughout) is then w∞ = β⊙sinh(2(c + Xᵀν)) with Xw∞ = y.
    public struct DiscreteGD: Sendable {
        /// ln β per coordinate (kept in logs: the product can underflow).
        public private(set) var logBeta: [Double]
        public private(set) var offset: [Double]
        public let eta: Double
        /// False once some |ηg| ≥ 1 (the identities break: u or v changed sign).
        public private(set) var stable = true

        /// Starts from u = v = α.
        public init(alpha: Double, eta: Double, dimension d: Int) {
            logBeta = [Double](repeating: 2 * Foundation.log(alpha), count: d)
            offset = [Double](repeating: 0, count: d)
            self.eta = eta
        }

        /// Accounts for one step's gradient.
        public mutating func record(gradient g: [Double]) {
            for i in g.indices {
                let a = eta * g[i]
                if abs(a) >= 1 {
                    stable = false
                    continue
                }
                logBeta[i] += Foundation.log1p(-a * a)
                offset[i] -= Foundation.atanh(a) - a
            }
        }

        /// The predicted limit.
        public func solve(x: [Double], y: [Double], n: Int, d: Int) -> Solution {
            ImplicitBias.solve(x: x, y: y, n: n, d: d, beta: logBeta.map { Foundation.exp($0) }, offset: offset)
        }
    }

    /// The scale and offset of gradient flow for `uv` from (u₀, v₀) at λ = 0 (§2.2, O4′): β = |u₀² − v₀²|/2,
    /// c = ½arcsinh(w₀/β) with w₀ = u₀v₀.
    public static func bregman(u0: [Double], v0: [Double]) -> (beta: [Double], offset: [Double]) {
        let beta = zip(u0, v0).map { abs($0 * $0 - $1 * $1) / 2 }
        let offset = zip(zip(u0, v0), beta).map { uv, b in 0.5 * Foundation.asinh(uv.0 * uv.1 / b) }
        return (beta, offset)
    }
}
