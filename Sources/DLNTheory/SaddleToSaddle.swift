import DLNModel
import Foundation

/// The Pesme–Flammarion saddle-to-saddle algorithm (Pesme & Flammarion 2023; docs/model.md §5.4, O12): the limit
/// α → 0 of `pm` gradient flow on ℓ = (1/2n)‖Xw − y‖², in accelerated time τ = t/ln(1/α), is piecewise constant:
/// it jumps at times τ_k between saddles β_k, each a sign-constrained least-squares solution on the coordinates
/// whose "clock" s_i has reached ±1.
public enum SaddleToSaddle {
    /// One plateau: from accelerated time τ on, the trajectory sits at `saddle`, with train loss `loss`.
    public struct Stage: Sendable {
        public let tau: Double
        public let saddle: [Double]
        public let loss: Double
    }

    /// The sequence of saddles: its stages, and whether it ran to its end (a stationary point, or no clock can
    /// move) or stopped at the cap of `cap` stages with the sequence going on.
    public struct Sequence: Sendable {
        public let stages: [Stage]
        public let reachedEnd: Bool
        public let cap: Int
    }

    /// The stages, from (τ = 0, β = 0) to the last saddle (where ∇ℓ = 0), or to the cap of `maxStages` (10·d by
    /// default).
    public static func run(x: [Double], y: [Double], n: Int, d: Int, maxStages: Int? = nil) -> [Stage] {
        sequence(x: x, y: y, n: n, d: d, maxStages: maxStages).stages
    }

    /// The saddle-to-saddle sequence to its end, or to the cap of `maxStages` stages (10·d by default; then
    /// `reachedEnd` is false).
    public static func sequence(x: [Double], y: [Double], n: Int, d: Int, maxStages: Int? = nil) -> Sequence {
        let cap = maxStages ?? max(100, 10 * d)
        func gradient(_ b: [Double]) -> [Double] {
            let r = zip(Dense.multiply(x, n, d, b), y).map { $0 - $1 }
            return Dense.multiplyTransposed(x, n, d, r).map { $0 / Double(n) }
        }
        func loss(_ b: [Double]) -> Double {
            let r = zip(Dense.multiply(x, n, d, b), y).map { $0 - $1 }
            return r.reduce(0) { $0 + $1 * $1 } / (2 * Double(n))
        }
        var tau = 0.0
        var beta = [Double](repeating: 0, count: d)
        var s = [Double](repeating: 0, count: d)
        var stages = [Stage(tau: 0, saddle: beta, loss: loss(beta))]
        let scale = max(gradient(beta).map(abs).max() ?? 1, 1e-300)
        let initialLoss = loss(beta)
        var reachedEnd = false
        for _ in 0...cap {
            let g = gradient(beta)
            // Done at a stationary point (an interpolator when one exists): ∇ℓ ≈ 0 or ℓ ≈ 0.
            if g.map(abs).max()! <= 1e-9 * scale || loss(beta) <= 1e-20 * initialLoss {
                reachedEnd = true
                break
            }
            if stages.count > cap { break }
            var step = Double.infinity
            for i in 0..<d where abs(g[i]) > 1e-12 * scale {
                let t = g[i] < 0 ? (1 - s[i]) / -g[i] : (1 + s[i]) / g[i]
                if t > 1e-14 { step = min(step, t) }
            }
            // A step far beyond the elapsed time comes from rounding-level gradients at a stationary point.
            guard step.isFinite, step < 1e6 * max(tau, 1) else {
                reachedEnd = true
                break
            }
            tau += step
            for i in 0..<d {
                s[i] = min(1, max(-1, s[i] - step * g[i]))
                if abs(abs(s[i]) - 1) < 1e-9 { s[i] = s[i] > 0 ? 1 : -1 }
            }
            beta = signConstrainedLeastSquares(x: x, y: y, n: n, d: d, signs: s, start: beta)
            stages.append(Stage(tau: tau, saddle: beta, loss: loss(beta)))
        }
        return Sequence(stages: stages, reachedEnd: reachedEnd, cap: cap)
    }

    /// argmin ‖Xβ − y‖² with β_i ≥ 0 where s_i = +1, β_i ≤ 0 where s_i = −1, β_i = 0 elsewhere: Lawson–Hanson
    /// non-negative least squares on the columns s_i·X_i, warm-started from `start` (its coordinates of the
    /// allowed signs form the first passive set).
    public static func signConstrainedLeastSquares(
        x: [Double], y: [Double], n: Int, d: Int, signs s: [Double], start: [Double]? = nil
    ) -> [Double] {
        let columns = (0..<d).filter { abs(s[$0]) == 1 }
        let m = columns.count
        guard m > 0 else { return [Double](repeating: 0, count: d) }
        // A = [s_i X_i] (n × m).
        var a = [Double](repeating: 0, count: n * m)
        for (c, i) in columns.enumerated() { for r in 0..<n { a[r * m + c] = s[i] * x[r * d + i] } }
        var gamma = [Double](repeating: 0, count: m)
        var passive = [Bool](repeating: false, count: m)
        func residual(_ g: [Double]) -> [Double] { zip(Dense.multiply(a, n, m, g), y).map { $1 - $0 } }
        /// Unconstrained least squares on the passive columns (normal equations, Cholesky).
        func solvePassive() -> [Double] {
            let p = (0..<m).filter { passive[$0] }
            var z = [Double](repeating: 0, count: m)
            guard !p.isEmpty else { return z }
            var gram = [Double](repeating: 0, count: p.count * p.count)
            var rhs = [Double](repeating: 0, count: p.count)
            for (u, cu) in p.enumerated() {
                for r in 0..<n { rhs[u] += a[r * m + cu] * y[r] }
                for (v, cv) in p.enumerated() where v <= u {
                    var sum = 0.0
                    for r in 0..<n { sum += a[r * m + cu] * a[r * m + cv] }
                    gram[u * p.count + v] = sum
                    gram[v * p.count + u] = sum
                }
            }
            guard let l = Dense.cholesky(gram, p.count) else { return z }
            for (u, c) in zip(p, Dense.choleskySolve(l, p.count, rhs)) { z[u] = c }
            return z
        }
        /// Solves on the passive set and steps back (dropping columns) until the solution is feasible.
        func settle() {
            var z = solvePassive()
            while (0..<m).first(where: { passive[$0] && z[$0] <= 0 }) != nil {
                var alphaStep = 1.0
                for k in 0..<m where passive[k] && z[k] <= 0 {
                    alphaStep = min(alphaStep, gamma[k] / (gamma[k] - z[k]))
                }
                for k in 0..<m { gamma[k] += alphaStep * (z[k] - gamma[k]) }
                for k in 0..<m where passive[k] && gamma[k] <= 1e-15 {
                    passive[k] = false
                    gamma[k] = 0
                }
                z = solvePassive()
            }
            gamma = z
        }
        if let start {
            for (c, i) in columns.enumerated() where s[i] * start[i] > 0 {
                gamma[c] = s[i] * start[i]
                passive[c] = true
            }
            if passive.contains(true) { settle() }
        }
        for _ in 0..<(3 * m + 10) {
            let w = Dense.multiplyTransposed(a, n, m, residual(gamma))  // −gradient
            guard let j = (0..<m).filter({ !passive[$0] && w[$0] > 1e-12 }).max(by: { w[$0] < w[$1] }) else { break }
            passive[j] = true
            settle()
        }
        var beta = [Double](repeating: 0, count: d)
        for (c, i) in columns.enumerated() { beta[i] = s[i] * gamma[c] }
        return beta
    }
}
