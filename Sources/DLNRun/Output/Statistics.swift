import DLNModel
import DLNTheory
import Foundation

/// Ensemble statistics over the seeds of one grid point, ignoring non-finite values (diverged replicas).
public struct EnsembleSummary: Sendable, Equatable {
    /// Finite values used.
    public let count: Int
    public let mean: Double
    /// Sample standard deviation (n − 1 in the denominator); NaN with fewer than two values.
    public let std: Double
    /// Standard error of the mean, std/√n.
    public let sem: Double
    public let median: Double
    /// 10% and 90% quantiles (linear interpolation between order statistics, NumPy's default).
    public let q10: Double
    public let q90: Double

    /// Summarises values; NaN statistics when none is finite.
    public init(_ values: [Double]) {
        let v = values.filter(\.isFinite).sorted()
        count = v.count
        guard !v.isEmpty else {
            mean = .nan
            std = .nan
            sem = .nan
            median = .nan
            q10 = .nan
            q90 = .nan
            return
        }
        // Pairwise-free but stable: two passes.
        let m = v.reduce(0, +) / Double(v.count)
        mean = m
        if v.count > 1 {
            let ss = v.reduce(0) { $0 + ($1 - m) * ($1 - m) }
            std = (ss / Double(v.count - 1)).squareRoot()
            sem = std / Double(v.count).squareRoot()
        } else {
            std = .nan
            sem = .nan
        }
        median = Self.quantile(v, 0.5)
        q10 = Self.quantile(v, 0.1)
        q90 = Self.quantile(v, 0.9)
    }

    /// The q-quantile of sorted values, linear interpolation at position q·(n − 1).
    public static func quantile(_ sorted: [Double], _ q: Double) -> Double {
        let pos = q * Double(sorted.count - 1)
        let lo = Int(pos.rounded(.down))
        let hi = min(lo + 1, sorted.count - 1)
        let f = pos - Double(lo)
        return sorted[lo] + (sorted[hi] - sorted[lo]) * f
    }
}

/// Statistics of a run per (grid point, observable, checkpoint).
public struct RunStatistics: Sendable {
    /// `summaries[g][k][c]`.
    public let summaries: [[[EnsembleSummary]]]
    /// The observables' names.
    public let names: [String]

    /// Replicas left out per grid point: frozen by the integrator or after diverging (status > 0).
    public let excluded: [Int]

    /// Summarises every observable of a result over the seeds of each grid point, leaving out the replicas
    /// that were frozen (status > 0: diverged, or stopped by the integrator).
    public init(_ result: RunResult, gridPoints G: Int, seeds S: Int) {
        names = result.names
        let C = result.checkpoints.count
        let keep = (0..<(G * S)).map { result.status.isEmpty || !ReplicaStatus.isFrozen(code: result.status[$0]) }
        excluded = (0..<G).map { g in (0..<S).filter { !keep[g * S + $0] }.count }
        summaries = (0..<G).map { g in
            (0..<result.names.count).map { k in
                (0..<C).map { c in
                    EnsembleSummary(
                        (0..<S).filter { keep[g * S + $0] }.map { result.observations[c].values[k][g * S + $0] })
                }
            }
        }
    }

    /// The tidy long-format table (one row per grid point × observable × checkpoint) for pandas.
    public func csv(experiment: Experiment, checkpoints: [Int], steps: [[Int]]) -> String {
        let header =
            experiment.gridColumns.map(\.name) + [
                "observable", "checkpoint", "step", "t", "n_finite", "n_excluded", "mean", "std", "sem", "median",
                "q10", "q90"
            ]
        var lines = ["point," + header.joined(separator: ",")]
        let points = experiment.gridPoints
        // Under a learning-rate schedule t = η·S_k (Experiment.times); steps·η otherwise.
        let scheduled = experiment.configuration.learningRateSchedule.isConstant ? nil : experiment.times
        for (g, p) in points.enumerated() {
            let params = experiment.gridColumns.map { $0.value(p) }.joined(separator: ",")
            for (k, name) in names.enumerated() {
                for c in 0..<checkpoints.count {
                    let step = steps[g][c]
                    let s = summaries[g][k][c]
                    let t = scheduled?[g][c] ?? Double(step) * p.learningRate
                    lines.append(
                        "\(g),\(params),\(name),\(c),\(step),\(csvNumber(t)),\(s.count),\(excluded[g]),"
                            + [s.mean, s.std, s.sem, s.median, s.q10, s.q90].map(csvNumber).joined(separator: ","))
                }
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }
}

/// A number as pandas reads it (`nan`, `inf`, `-inf` for the non-finite), shortest round-trip form.
func csvNumber(_ x: Double) -> String {
    if x.isNaN { return "nan" }
    if x.isInfinite { return x > 0 ? "inf" : "-inf" }
    return "\(x)"
}
