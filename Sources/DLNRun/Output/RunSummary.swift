import DLNModel
import DLNTheory
import Foundation

/// The table printed after a run: per grid point, the final train loss and test error over its seeds.
public enum RunSummary {
    public static func table(_ result: RunResult, experiment: Experiment) -> String {
        let S = experiment.seeds.count
        let stats = RunStatistics(result, gridPoints: experiment.gridPoints.count, seeds: S)
        let varying = experiment.gridColumns.filter { col in
            !(["lambda_u", "n"].contains(col.name)) && Set(experiment.gridPoints.map(col.value)).count > 1
        }
        let shown = varying.isEmpty ? Array(experiment.gridColumns.prefix(1)) : varying
        let testIndex = result.names.firstIndex(of: "test_error")
        let C = result.checkpoints.count
        var header =
            "point  "
            + shown.map { $0.name.padding(toLength: max(11, $0.name.count), withPad: " ", startingAt: 0) }.joined(
                separator: "  ")
        header += "  train loss (median, q10–q90)        test error (median)"
        var lines = [header]
        for (g, p) in experiment.gridPoints.enumerated() {
            let loss = stats.summaries[g][0][C - 1]
            var line =
                String(format: "%5d  ", g)
                + shown.map { col in
                    // Long values (logspace grids) with 4 significant digits, so that they fit their column.
                    Report.shortValue(col.value(p)).padding(
                        toLength: max(11, col.name.count), withPad: " ", startingAt: 0)
                }.joined(separator: "  ")
            line += String(format: "  %-11.4g (%.3g–%.3g)", loss.median, loss.q10, loss.q90).padding(
                toLength: 36, withPad: " ", startingAt: 0)
            if let t = testIndex { line += String(format: "%.4g", stats.summaries[g][t][C - 1].median) }
            line += notes(g, finite: loss.count, result: result, stats: stats, seeds: S)
            lines.append(line)
        }
        return lines.joined(separator: "\n")
    }

    /// What became of the seeds left out of the medians: frozen replicas by their reason (status.npy), and
    /// replicas of the point whose final train loss is not finite.
    static func notes(_ g: Int, finite: Int, result: RunResult, stats: RunStatistics, seeds S: Int) -> String {
        var parts: [String] = []
        if !result.status.isEmpty {
            var reasons: [Int: Int] = [:]
            for s in 0..<S where ReplicaStatus.isFrozen(code: result.status[g * S + s]) {
                reasons[result.status[g * S + s], default: 0] += 1
            }
            for (code, count) in reasons.sorted(by: { $0.key < $1.key }) {
                parts.append("\(count) frozen: \(ReplicaStatus.reason(code))")
            }
        }
        let elsewhere =
            result.status.isEmpty
            ? 0 : (0..<S).filter { result.status[g * S + $0] == ReplicaStatus.notInShard.code }.count
        if elsewhere > 0 { parts.append("\(elsewhere) not in this shard") }
        let nonFinite = S - stats.excluded[g] - finite - elsewhere
        if nonFinite > 0 { parts.append("\(nonFinite) non-finite") }
        return parts.isEmpty ? "" : "  (" + parts.joined(separator: "; ") + "; left out of the medians)"
    }
}
