import DLNModel
import Foundation

extension ConfigurationRules {
    /// The stochastic updates' keys (`update: sgd`, `label_noise`, `gradient_noise`): where they apply. b ≤ n is
    /// checked per grid point here (synthetic data) and per batch by `Experiment` (data from files).
    static func stochastic(_ r: ConfigurationReader, _ c: Configuration) {
        let sink = r.sink
        let t = r.section("training")
        let g = r.section("grid")
        let updates = c.grid.update ?? [c.training.update]
        let hasSGD = updates.contains(.sgd)
        for (section, key) in [(t, "batch_size"), (t, "sampling"), (g, "batch_size")] where section.has(key) && !hasSGD
        {
            sink.add(section.child(key), "applies to update: sgd only (update is \(updates.map(\.rawValue)))")
        }
        if hasSGD && c.training.batchSize == nil && c.grid.batchSize == nil {
            sink.add("training.batch_size", "is required with update: sgd (rows per step, 1 ≤ b ≤ n)")
        }
        let noisy: [(String, Bool)] = [
            ("label_noise", (c.grid.labelNoise ?? [c.training.labelNoise]).contains { $0 > 0 }),
            ("gradient_noise", (c.grid.gradientNoise ?? [c.training.gradientNoise]).contains { $0 > 0 })
        ]
        let where_ = { (key: String) -> String in g.has(key) ? "grid.\(key)" : "training.\(key)" }
        for (key, on) in noisy where on {
            if let other = updates.first(where: { $0 == .flow || $0 == .multiplicative }) {
                sink.add(where_(key), "applies to update gd and sgd, not \(other.rawValue)")
            }
        }
        let stochastic = hasSGD || noisy.contains { $0.1 }
        guard stochastic else { return }
        let what = hasSGD ? "update: sgd" : "training.\(noisy.first { $0.1 }!.0)"
        if c.training.representation == .log {
            sink.add(
                "training.representation", "log does not apply to \(what) (the stochastic steps act on the layers)")
        }
        if c.theory != nil {
            sink.add("theory", "dmft describes full-batch gradient flow and descent, not \(what)")
        }
        guard hasSGD, c.problem.files == nil else { return }
        for point in Experiment.gridPoints(c) where point.update == .sgd {
            if let b = point.batchSize, b > point.n {
                sink.add(
                    c.grid.batchSize != nil ? "grid.batch_size" : "training.batch_size",
                    "b = \(b) is larger than n = \(point.n), the rows of the data set")
                return
            }
        }
    }
}
