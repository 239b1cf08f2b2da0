import DLNModel
import Foundation

/// The non-uniform time grid of the gradient-flow DMFT (docs/theory.md): uniform steps h₀ from t = 0 until the
/// relative step h₀/t falls to `ratio`, then geometric (t_{i+1} = (1 + ratio)·t_i), with every output time inserted
/// as a grid point. Times in DMFT units.
public struct DMFTFlowGrid: Sendable, Equatable {
    /// The grid times t_0 = 0 < t_1 < … < t_{K−1}.
    public let times: [Double]
    /// The grid index of every output time.
    public let outputIndex: [Int]
    /// The θ of the time stepping: ρ_{i+1} = ρ_i − h_i[(1 − θ)g_i + θg_{i+1}] (½: the trapezoidal rule).
    public static let theta = 0.5

    /// Grid points K.
    public var count: Int { times.count }

    /// The grid for `outputs` (ascending, ≥ 0) of `problem`: h₀ = 0.05/κ₀ with κ₀ = 2(α² + E|w*| + σ)(1 + √δ)², the
    /// fastest initial relaxation rate of Δ (dw/dρ = 2q, top eigenvalue (1 + √δ)² of XᵀX), capped at ratio·t_max.
    public init(problem: DMFTProblem, outputs: [Double], ratio: Double) {
        let horizon = outputs.max() ?? 0
        let kappa = Self.stiffness(problem)
        let h0 = max(min(0.05 / kappa, ratio * horizon), horizon * 1e-12, .leastNormalMagnitude)
        var base: [Double] = [0]
        while base.last! < horizon {
            let t = base.last!
            base.append(t + max(h0, ratio * t))
        }
        // Insert the outputs; drop base points closer than a third of the local step to one.
        var merged: [Double] = []
        var o = 0
        let outs = outputs.sorted()
        for (i, t) in base.enumerated() {
            let step = i + 1 < base.count ? base[i + 1] - t : t - base[max(0, i - 1)]
            while o < outs.count && outs[o] <= t + step / 3 {
                if merged.last.map({ outs[o] > $0 }) ?? true { merged.append(outs[o]) }
                o += 1
            }
            if let last = merged.last, t <= last + step / 3 { continue }
            if t <= horizon { merged.append(t) }
        }
        while o < outs.count {
            if merged.last.map({ outs[o] > $0 }) ?? true { merged.append(outs[o]) }
            o += 1
        }
        if merged.first != 0 { merged.insert(0, at: 0) }
        times = merged
        outputIndex = outputs.map { t in merged.firstIndex(of: t) ?? 0 }
    }

    /// κ₀ = 2(α² + 1 + σ)(1 + √δ)²: a bound on the fastest initial relaxation rate of Δ (dw/dρ = 2q with
    /// q ≤ α² + |w| early on, and the top eigenvalue (1 + √δ)² of XᵀX).
    public static func stiffness(_ problem: DMFTProblem) -> Double {
        2 * (problem.alpha * problem.alpha + 1 + problem.noise) * (1 + problem.delta.squareRoot()).squared
    }

    /// The trapezoidal quadrature weights of the grid (exact for piecewise-linear functions):
    /// W_i = (t_{i+1} − t_{i−1})/2, halves at the ends.
    public var weights: [Double] {
        let K = times.count
        return (0..<K).map { i in
            let left = i > 0 ? times[i] - times[i - 1] : 0
            let right = i + 1 < K ? times[i + 1] - times[i] : 0
            return 0.5 * (left + right)
        }
    }

    /// The weight with which a field at grid point s enters the dynamics: θ·h_{s−1} + (1 − θ)·h_s (the trapezoidal
    /// weight for θ = ½); the response per unit time is R_Δ(k, s) divided by it.
    public var fieldWeights: [Double] {
        let K = times.count
        let th = Self.theta
        return (0..<K).map { s in
            let left = s > 0 ? times[s] - times[s - 1] : 0
            let right = s + 1 < K ? times[s + 1] - times[s] : 0
            return th * left + (1 - th) * right
        }
    }
}

extension Double {
    fileprivate var squared: Double { self * self }
}
