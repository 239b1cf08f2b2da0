import DLNModel
import DLNRun
import Foundation

/// `dlnsim analyze` for a matrix run's folder: a table per grid point (the final observables, seeds' mean ± sd over
/// the replicas that ran to the end, and the predictions that apply), analysis_*.npy written atomically.
extension Analyze {
    /// Analyzes the matrix run in `directory` (opened and locked by the caller).
    func analyzeMatrix(_ directory: OutputDirectory) throws {
        let result = try MatrixAnalysis.run(folder)
        let staging = try directory.stage()
        let written = try result.write(to: staging)
        try directory.commit()
        let f = result.folder
        let c = f.configuration
        print(
            "matrix model, widths \(c.widths), init \(c.initKind.rawValue), "
                + (c.task == .sensing
                    ? "sensing from \(c.samples) \(c.sensingOperator.rawValue) measurements"
                    : "regression, n = \(c.samples)\(c.whiten ? " whitened" : "")")
                + ", " + (c.update == .flow ? "gradient flow to t = \(c.horizon ?? 0)" : "\(c.steps) GD steps")
                + ", \(c.precision.rawValue); \(f.gridPoints) grid point\(f.gridPoints == 1 ? "" : "s") × "
                + "\(f.seeds) seed\(f.seeds == 1 ? "" : "s"); values at the last checkpoint, seeds' mean ± sd")
        for g in 0..<f.gridPoints { printPoint(result, g) }
        for note in result.notes { print("note: \(note)") }
        print(
            "wrote \(written.map { "\($0.name) \($0.shape)" }.joined(separator: ", ")) in \(folder)")
    }

    /// The table of grid point g.
    func printPoint(_ r: MatrixAnalysis, _ g: Int) {
        let f = r.folder
        let c = f.configuration
        let p = c.gridPoints[g]
        let kept = r.kept(g)
        let ids = kept.map { g * f.seeds + $0 }
        var head = "\ngrid point \(g): α = \(p.alpha), λ = \(p.weightDecay)"
        if c.update == .gd { head += ", η = \(p.learningRate)" }
        head += "; \(kept.count) of \(f.seeds) seed\(f.seeds == 1 ? "" : "s") ran to the end"
        let left = (0..<f.seeds).filter { !kept.contains($0) }.map { f.status[g * f.seeds + $0] }
        if !left.isEmpty {
            let counts = Dictionary(grouping: left, by: { $0 }).sorted { $0.key < $1.key }
            head +=
                "; left out: "
                + counts.map { "\($0.value.count) \(Self.statusName($0.key))" }.joined(separator: ", ")
        }
        print(head)
        func stat(_ values: [Double]) -> String {
            let (m, s) = MatrixRun.meanSD(ids.map { values[$0] })
            return String(format: "%.6g ± %.2g", m, s)
        }
        let relative = zip(r.final["test_error"]!, r.teacherNormSquared).map { $0 / $1 }
        let rows: [(String, [Double])] = [
            ("final train loss", r.final["train_loss"]!), ("test error ‖W_eff − T‖²_F", r.final["test_error"]!),
            ("test error / ‖T‖²_F", relative), ("effective rank", r.final["effective_rank"]!),
            ("nuclear norm", r.final["nuclear_norm"]!), ("conservation", r.final["conservation"]!)
        ]
        for (name, values) in rows { print("  " + pad(name, 28) + stat(values)) }
        if let saxe = r.saxe { printSaxe(saxe, g, ids) }
        if let commuting = r.commuting, p.weightDecay == 0 { printCommuting(r, commuting, ids) }
    }

    /// Saxe's half-times and the distance to his curves.
    func printSaxe(_ saxe: MatrixAnalysis.Saxe, _ g: Int, _ ids: [Int]) {
        print("  Saxe's modes (aligned start, whitened inputs): half-time = first t with a_i = a_i(∞)/2")
        print(
            "  "
                + ["mode", "s_i", "half-time (run)", "predicted", "rel. diff", "max |a_i − a_i^theory|"].enumerated()
                .map { pad($0.element, [6, 10, 24, 14, 12, 0][$0.offset]) }.joined())
        var means: [Double] = []
        for (i, s) in saxe.singularValues.enumerated() {
            let (m, sd) = MatrixRun.meanSD(ids.map { saxe.halfTime[$0][i] })
            means.append(m)
            let predicted = saxe.predictedHalfTime[g][i]
            let deviation = ids.map { saxe.deviation[$0][i] }.max() ?? .nan
            let measured = m.isNaN ? "not reached" : String(format: "%.6g ± %.2g", m, sd)
            print(
                "  " + pad("\(i + 1)", 6) + pad(String(format: "%g", s), 10) + pad(measured, 24)
                    + pad(String(format: "%.6g", predicted), 14)
                    + pad(String(format: "%.2g", abs(m - predicted) / predicted), 12)
                    + String(format: "%.3g", deviation))
        }
        let order = means.indices.sorted { a, b in
            switch (means[a].isNaN, means[b].isNaN) {
            case (false, false): return means[a] != means[b] ? means[a] < means[b] : a < b
            case (false, true): return true
            case (true, false): return false
            case (true, true): return a < b
            }
        }
        let text = { (o: [Int]) in o.map { "\($0 + 1)" }.joined(separator: ", ") }
        print(
            "  learning order: run \(text(order)) (by mean half-time), predicted \(text(saxe.predictedOrder))"
                + (order == saxe.predictedOrder ? " (same)" : " (differs)"))
    }

    /// The commuting sensing limit against the last checkpoint.
    func printCommuting(_ a: MatrixAnalysis, _ r: MatrixAnalysis.Commuting, _ ids: [Int]) {
        print("  commuting sensing limit (diagonal operators, identity start, λ = 0) against the last checkpoint:")
        print("  " + pad("σ_i", 14) + pad("run", 24) + pad("predicted", 14) + "rel. diff")
        let k = r.predictedSingularValues.first?.count ?? 0
        for i in 0..<k {
            let (m, sd) = MatrixRun.meanSD(ids.map { r.singularValues[$0][i] })
            let (p, _) = MatrixRun.meanSD(ids.map { r.predictedSingularValues[$0][i] })
            print(
                "  " + pad("σ_\(i + 1)", 14) + pad(String(format: "%.8g ± %.2g", m, sd), 24)
                    + pad(String(format: "%.8g", p), 14) + String(format: "%.2g", abs(m - p) / max(abs(p), 1e-300)))
        }
        let final = [
            ("test error", a.final["test_error"]!, r.predictedTestError),
            ("nuclear norm", a.final["nuclear_norm"]!, r.predictedNuclearNorm)
        ]
        for (name, run, predicted) in final {
            let (m, sd) = MatrixRun.meanSD(ids.map { run[$0] })
            let (p, _) = MatrixRun.meanSD(ids.map { predicted[$0] })
            print(
                "  " + pad(name, 14) + pad(String(format: "%.8g ± %.2g", m, sd), 24)
                    + pad(String(format: "%.8g", p), 14) + String(format: "%.2g", abs(m - p) / max(abs(p), 1e-300)))
        }
        let worst = ids.map { r.distance[$0] }.max() ?? .nan
        print("  ‖σ − σ̂‖₂/‖σ̂‖₂: \(String(format: "%.2g", worst)) (largest over seeds)")
    }

    /// A status code in words.
    static func statusName(_ code: Int) -> String {
        switch code {
        case 1: return "stopped at the step-size floor"
        case 2: return "diverged (non-finite)"
        case 3: return "past training.flow.max_steps"
        case -1: return "not run (another shard's)"
        default: return "with status \(code)"
        }
    }

    /// Text padded to a column width (a space at least after text that fills it).
    func pad(_ text: String, _ width: Int) -> String {
        text.count >= width ? text + " " : text.padding(toLength: width, withPad: " ", startingAt: 0)
    }
}
