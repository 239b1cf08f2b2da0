import DLNModel
import Foundation

extension ConfigurationKeys {
    /// Every key: `listed`, with the stochastic training keys and the schedule's (ScheduleRules.swift) after
    /// `training.flow.max_steps`, the stochastic keys' grid axes after `grid.update` (before `grid.zip`), and the
    /// curvature observables' keys after `record.max_bytes`, the DMFT's two-time and solver keys
    /// (DMFTSolverChoice.swift) after `theory.seed`.
    public static let all: [ConfigurationKey] = {
        var keys = listed
        keys.insert(
            contentsOf: stochasticTraining + scheduleKeys,
            at: keys.firstIndex { $0.path == "training.flow.max_steps" }! + 1)
        keys.insert(contentsOf: stochasticGrid, at: keys.firstIndex { $0.path == "grid.update" }! + 1)
        keys.insert(contentsOf: curvature, at: keys.firstIndex { $0.path == "record.max_bytes" }! + 1)
        keys.insert(contentsOf: theoryFlow, at: keys.firstIndex { $0.path == "theory.seed" }! + 1)
        return keys
    }()

    /// The keys of the stochastic updates and momentum in `training` (docs/model.md §2.8).
    static let stochasticTraining: [ConfigurationKey] = [
        .integer("training.batch_size", v1: "training.batchSize", .optionalField(\.training.batchSize), batchSize),
        .choice("training.sampling", v1: "training.sampling", .field(\.training.sampling)),
        .number("training.label_noise", v1: "training.labelNoise", .field(\.training.labelNoise), noiseLevel),
        .number(
            "training.gradient_noise", v1: "training.gradientNoise", .field(\.training.gradientNoise), noiseLevel),
        .number("training.momentum", v1: "training.momentum", .field(\.training.momentum), momentumLevel),
        .choice("training.nesterov", v1: "training.nesterov", .field(\.training.nesterov))
    ]

    /// Their grid axes: scalars per replica, so they vary inside one batch (after `grid.update`).
    static let stochasticGrid: [ConfigurationKey] = [
        .integers(
            "grid.batch_size", v1: "grid.batchSize", .optionalField(\.grid.batchSize),
            column: ("batch_size", { $0.batchSize.map { "\($0)" } ?? "" }), whole(batchSize)),
        .numbers(
            "grid.label_noise", v1: "grid.labelNoise", .optionalField(\.grid.labelNoise),
            column: ("label_noise", { "\($0.labelNoise)" }), noiseLevel),
        .numbers(
            "grid.gradient_noise", v1: "grid.gradientNoise", .optionalField(\.grid.gradientNoise),
            column: ("gradient_noise", { "\($0.gradientNoise)" }), noiseLevel),
        .numbers(
            "grid.momentum", v1: "grid.momentum", .optionalField(\.grid.momentum),
            column: ("momentum", { "\($0.momentum)" }), momentumLevel)
    ]

    static let momentumLevel: ConfigurationKey.Check<Double> = { $0 >= 0 && $0 < 1 ? nil : "must be in [0, 1)" }
    static let batchSize: ConfigurationKey.Check<Int> = {
        $0 >= 1 ? ($0 <= 100_000_000 ? nil : "is too large") : "must be at least 1 (rows per step)"
    }
    static let noiseLevel: ConfigurationKey.Check<Double> = {
        $0 >= 0 && $0.isFinite ? ($0 <= 1e6 ? nil : "is too large") : "must be ≥ 0 (a noise level)"
    }
}

extension ConfigurationRules {
    /// The stochastic updates' keys (`update: sgd`, `label_noise`, `gradient_noise`): where they apply. b ≤ n is
    /// checked per grid point here (synthetic data) and per batch by `Experiment` (data from files).
    static func stochastic(_ r: ConfigurationReader, _ c: Configuration) {
        let sink = r.sink
        let t = r.section("training")
        let g = r.section("grid")
        let updates = c.grid.update ?? [c.training.update]
        let hasSGD = updates.contains(.sgd)
        for (section, key) in [(t, "batch_size"), (g, "batch_size")] where section.has(key) && !hasSGD {
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
        let moving = (c.grid.momentum ?? [c.training.momentum]).contains { $0 > 0 } || c.training.nesterov == .on
        if moving, let other = updates.first(where: { $0 == .flow || $0 == .multiplicative }) {
            sink.add(where_("momentum"), "applies to update gd and sgd, not \(other.rawValue)")
        }
        let stochastic = hasSGD || noisy.contains { $0.1 } || moving
        guard stochastic else { return }
        let what = hasSGD ? "update: sgd" : noisy.first { $0.1 }.map { "training.\($0.0)" } ?? "momentum"
        if c.training.representation == .log {
            sink.add(
                "training.representation", "log does not apply to \(what) (the stochastic steps act on the layers)")
        }
        if c.theory != nil {
            sink.add("theory", "dmft describes full-batch gradient flow and descent, not \(what)")
        }
        // b ≤ n per grid point, once the grid itself is valid (its zips pair up).
        guard hasSGD, c.problem.files == nil, sink.issues.isEmpty else { return }
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

extension ConfigurationRules {
    /// `training.summation: strided` where no step can take it (docs/model.md §7.6): flow or sgd, noise, momentum, the
    /// log representation. (The Gram form, n > d/2, is refused per batch when the experiment is built.)
    static func summation(_ r: ConfigurationReader, _ c: Configuration) {
        guard c.training.summation == .strided else { return }
        let updates = c.grid.update ?? [c.training.update]
        var why: [String] = []
        if let other = updates.first(where: { $0 == .flow || $0 == .sgd }) { why.append("update \(other.rawValue)") }
        if (c.grid.labelNoise ?? [c.training.labelNoise]).contains(where: { $0 > 0 }) { why.append("label noise") }
        if (c.grid.gradientNoise ?? [c.training.gradientNoise]).contains(where: { $0 > 0 }) {
            why.append("gradient noise")
        }
        if (c.grid.momentum ?? [c.training.momentum]).contains(where: { $0 > 0 }) || c.training.nesterov == .on {
            why.append("momentum")
        }
        if c.training.representation == .log { why.append("representation log") }
        guard !why.isEmpty else { return }
        r.sink.add(
            "training.summation",
            "strided applies to update gd or multiplicative steps on the layers without noise or momentum, not to "
                + why.joined(separator: ", ") + "; use auto or ascending")
    }
}
