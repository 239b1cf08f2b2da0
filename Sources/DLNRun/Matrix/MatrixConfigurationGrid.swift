import DLNModel
import Foundation

/// The matrix configuration's grid points, checkpoints, schedule and the record keys that take Lanczos steps.
extension MatrixConfiguration {
    /// The grid points in order (α outermost, then λ, η, b, σ_ℓ, T, β; b is 0 without SGD).
    public var gridPoints:
        [(
            alpha: Double, weightDecay: Double, learningRate: Double, batchSize: Int, labelNoise: Double,
            gradientNoise: Double, momentum: Double
        )]
    {
        let sizes = batchSizeAxis ?? [update == .sgd ? batchSize ?? 1 : 0]
        return alpha.flatMap { a in
            weightDecay.flatMap { l in
                learningRate.flatMap { e in
                    sizes.flatMap { b in
                        labelNoise.flatMap { s in gradientNoise.flatMap { t in momentum.map { (a, l, e, b, s, t, $0) } }
                        }
                    }
                }
            }
        }
    }

    /// The grid parameters' columns of grid.csv and stats.csv: α, λ, η, then b with SGD, and σ_ℓ, T, β when a replica
    /// has label noise, Langevin noise or momentum.
    public var gridColumns: [String] {
        ["alpha", "weight_decay", "learning_rate"] + (update == .sgd ? ["batch_size"] : [])
            + (hasDynamics ? ["label_noise", "gradient_noise", "momentum"] : [])
    }

    /// Grid point g's values in the order of `gridColumns`.
    public func gridValues(_ g: Int) -> [String] {
        let p = gridPoints[g]
        return ["\(p.alpha)", "\(p.weightDecay)", "\(p.learningRate)"] + (update == .sgd ? ["\(p.batchSize)"] : [])
            + (hasDynamics ? ["\(p.labelNoise)", "\(p.gradientNoise)", "\(p.momentum)"] : [])
    }

    /// Grid point g in words: "α = …, λ = …, η = …" (no η for flow), then σ_ℓ, T and β where a replica has them;
    /// without α when `alpha` is false.
    public func pointLabel(_ g: Int, alpha withAlpha: Bool = true) -> String {
        let p = gridPoints[g]
        func f(_ v: Double) -> String { String(format: "%g", v) }
        var parts = withAlpha ? ["α = \(f(p.alpha))"] : []
        parts.append("λ = \(f(p.weightDecay))")
        if update != .flow { parts.append("η = \(f(p.learningRate))") }
        if update == .sgd { parts.append("b = \(p.batchSize)") }
        if labelNoise.contains(where: { $0 != 0 }) { parts.append("σ_ℓ = \(f(p.labelNoise))") }
        if gradientNoise.contains(where: { $0 != 0 }) { parts.append("T = \(f(p.gradientNoise))") }
        if nesterov || momentum.contains(where: { $0 != 0 }) { parts.append("β = \(f(p.momentum))") }
        return parts.joined(separator: ", ")
    }

    /// The learning-rate schedule (cosine without `steps` spans the run).
    public var learningRateSchedule: LearningRateSchedule { schedule.resolved(runSteps: steps) }

    /// `training.schedule`: a name, or a mapping with `name` and that schedule's parameters, checked as for the
    /// diagonal models (`ConfigurationRules.scheduleParameters`).
    static func schedule(_ training: YAMLSection, steps: Int) -> Configuration.Schedule {
        var s = Configuration.Schedule()
        guard let node = training.node("schedule") else { return s }
        guard case .mapping = node else {
            s.name = training.choice("schedule", default: .constant)
            ConfigurationRules.scheduleParameters(
                s, written: { _ in false }, horizon: nil, steps: steps, sink: training.sink)
            return s
        }
        let sub = training.section("schedule")
        s.name = sub.choice("name", default: .constant)
        if sub.has("tau") { s.tau = sub.double("tau", default: 1, ConfigurationKeys.scheduleTau) }
        s.power = sub.double("power", default: 1, ConfigurationKeys.schedulePower)
        if sub.has("gamma") { s.gamma = sub.double("gamma", default: 1, ConfigurationKeys.scheduleGamma) }
        s.steps = sub.optionalInt("steps", ConfigurationKeys.scheduleSteps)
        s.floor = sub.double("floor", default: 0, ConfigurationKeys.scheduleFloor)
        s.every = sub.optionalInt("every", ConfigurationKeys.scheduleEvery)
        if sub.has("at") { s.at = sub.numbers("at", default: [], ConfigurationKeys.scheduleAt).map { Int($0) } }
        sub.finish()
        ConfigurationRules.scheduleParameters(s, written: { sub.has($0) }, horizon: nil, steps: steps, sink: sub.sink)
        return s
    }

    /// Whether any replica has label noise, Langevin noise or momentum (`MatrixDynamics`).
    public var hasDynamics: Bool {
        nesterov || (labelNoise + gradientNoise + momentum).contains { $0 != 0 }
    }

    /// `update: flow`: the checkpoint times, 0 then `checkpoints` times up to the horizon (log-spaced from
    /// horizon/1000, or linearly spaced).
    public var checkpointTimes: [Double] {
        let T = horizon ?? 1
        let k = checkpoints
        var out: [Double] = [0]
        for i in 1...k {
            let f = Double(i) / Double(k)
            let t: Double = spacing == "linear" ? T * f : T * pow(10.0, -3.0 * (1.0 - f))
            out.append(i == k ? T : t)
        }
        return out
    }

    /// The checkpoint steps: 0, then `checkpoints` distinct steps up to `steps` (log- or linearly spaced).
    public var checkpointSteps: [Int] {
        var out: [Int] = [0]
        let k = checkpoints
        for i in 1...k {
            let s: Int
            if spacing == "linear" {
                s = Int((Double(steps) * Double(i) / Double(k)).rounded())
            } else {
                s = Int(pow(Double(steps), Double(i) / Double(k)).rounded())
            }
            if s > out.last! { out.append(min(s, steps)) }
        }
        if out.last! != steps { out.append(steps) }
        return out
    }

    /// `record.sharpness`: true (100 Lanczos steps), false, `{iterations: k}` or k, 1 ≤ k ≤ 10000.
    static func iterations(_ record: YAMLSection, _ key: String) -> Int? {
        guard let node = record.node(key) else { return nil }
        let check: @Sendable (Int) -> String? = {
            $0 >= 1 && $0 <= 10_000 ? nil : "must be between 1 and 10000 (Lanczos steps per observation)"
        }
        switch node {
        case .mapping:
            let sub = YAMLSection(path: record.child(key), node: node, sink: record.sink)
            let k = sub.int("iterations", default: 100, check)
            sub.finish()
            return k
        case .scalar(let scalar) where node.bool != nil && Double(scalar.string) == nil:
            return node.bool! ? 100 : nil
        case .scalar(let scalar) where Double(scalar.string) != nil:
            let k = record.int(key, default: .min, check)
            return k == .min ? nil : k
        default:
            record.sink.add(record.child(key), "must be true, false or {iterations: k}, got \(YAMLSection.kind(node))")
            return nil
        }
    }
}
