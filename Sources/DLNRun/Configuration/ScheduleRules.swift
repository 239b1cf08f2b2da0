import DLNModel
import Foundation

extension ScheduleName: ChoiceValue {}

extension ConfigurationKeys {
    /// The keys of `training.schedule` (docs/model.md, "Learning-rate schedules"): a name, or a mapping with `name`
    /// and that schedule's parameters (`ConfigurationReader` reads `schedule: cosine` as `{name: cosine}`).
    static let scheduleKeys: [ConfigurationKey] = [
        .choice("training.schedule.name", v1: "training.schedule.name", .field(\.training.schedule.name)),
        .number(
            "training.schedule.tau", v1: "training.schedule.tau", .optionalField(\.training.schedule.tau), scheduleTau),
        .number(
            "training.schedule.power", v1: "training.schedule.power", .field(\.training.schedule.power), schedulePower),
        .number(
            "training.schedule.gamma", v1: "training.schedule.gamma", .optionalField(\.training.schedule.gamma),
            scheduleGamma),
        .integer(
            "training.schedule.steps", v1: "training.schedule.steps", .optionalField(\.training.schedule.steps),
            scheduleSteps),
        .number(
            "training.schedule.floor", v1: "training.schedule.floor", .field(\.training.schedule.floor), scheduleFloor),
        .integer(
            "training.schedule.every", v1: "training.schedule.every", .optionalField(\.training.schedule.every),
            scheduleEvery),
        .integers(
            "training.schedule.at", v1: "training.schedule.at", .optionalField(\.training.schedule.at), scheduleAt)
    ]

    // The schedule parameters' checks (the matrix model's configuration uses them too).
    static let scheduleTau: ConfigurationKey.Check<Double> = {
        $0 > 0 ? ($0 <= 1e15 ? nil : "is too large") : "must be positive (a number of steps)"
    }
    static let schedulePower: ConfigurationKey.Check<Double> = {
        $0 > 0 && $0 <= 1 ? nil : "must be in (0, 1] (so that Σ η_k diverges and every time is reached)"
    }
    static let scheduleGamma: ConfigurationKey.Check<Double> = {
        $0 > 0 && $0 <= 1 ? nil : "must be in (0, 1] (the factor of each decay)"
    }
    static let scheduleSteps: ConfigurationKey.Check<Int> = {
        $0 >= 1 ? ($0 <= 1_000_000_000_000 ? nil : "is too large") : "must be at least 1"
    }
    static let scheduleFloor: ConfigurationKey.Check<Double> = {
        $0 >= 0 && $0 < 1 ? nil : "must be in [0, 1) (the last factor, relative to η)"
    }
    static let scheduleEvery: ConfigurationKey.Check<Int> = {
        $0 >= 1 ? ($0 <= 1_000_000_000_000 ? nil : "is too large") : "must be at least 1 (steps)"
    }
    static let scheduleAt: ConfigurationKey.Check<Double> = {
        $0 >= 1 && $0 <= 1e12 && $0 == $0.rounded() ? nil : "must be whole numbers of steps ≥ 1"
    }

    /// The parameters each schedule takes.
    static let scheduleParameters: [ScheduleName: Set<String>] = [
        .constant: [], .inverseTime: ["tau", "power"], .exponential: ["gamma", "tau"], .cosine: ["steps", "floor"],
        .step: ["gamma", "every", "at"]
    ]
}

extension Configuration.Schedule {
    /// The schedule of a run of `runSteps` steps (cosine without `steps` spans the run). Valid configurations only.
    public func resolved(runSteps: Int) -> LearningRateSchedule {
        switch name {
        case .constant: return .constant
        case .inverseTime: return LearningRateSchedule(.inverseTime(tau: tau!, power: power))
        case .exponential: return LearningRateSchedule(.exponential(gamma: gamma ?? Foundation.exp(-1 / tau!)))
        case .cosine: return LearningRateSchedule(.cosine(steps: steps ?? runSteps, floor: floor))
        case .step:
            if let every { return LearningRateSchedule(.every(gamma: gamma!, steps: every)) }
            return LearningRateSchedule(.milestones(gamma: gamma!, at: at!))
        }
    }
}

extension Configuration {
    /// The run's learning-rate schedule (its length for cosine: training.steps).
    public var learningRateSchedule: LearningRateSchedule { training.schedule.resolved(runSteps: training.steps) }
}

extension ConfigurationRules {
    /// The most steps a horizon may need under a schedule (the host sums s_k step by step to place the checkpoints).
    static let maxScheduledSteps = 1e9  // (the message says 1e9)

    /// A schedule's own rules: each schedule's parameters and only those, the required ones given (`written`: whether
    /// the configuration writes a parameter; one written but refused by its own check is not reported missing again).
    /// Shared by the diagonal models' configuration and the matrix model's.
    static func scheduleParameters(
        _ s: Configuration.Schedule, written: (String) -> Bool, horizon: Double?, steps: Int, sink: IssueSink
    ) {
        let path = "training.schedule"
        let takes = ConfigurationKeys.scheduleParameters[s.name]!
        // (Checked on the values: a config.yaml of another dlnsim may write power 1 and floor 0 whatever the schedule.)
        let given: [(String, Bool)] = [
            ("tau", s.tau != nil), ("power", s.power != 1), ("gamma", s.gamma != nil), ("steps", s.steps != nil),
            ("floor", s.floor != 0), ("every", s.every != nil), ("at", s.at != nil)
        ]
        for (key, on) in given where on && !takes.contains(key) {
            let owners = ScheduleName.allCases.filter { ConfigurationKeys.scheduleParameters[$0]!.contains(key) }
            sink.add(
                "\(path).\(key)",
                "applies to schedule \(owners.map(\.rawValue).joined(separator: " or ")) only (the schedule is "
                    + "\(s.name.rawValue))")
        }
        switch s.name {
        case .constant: break
        case .inverseTime:
            if !written("tau") { sink.add("\(path).tau", "is required with inverse_time: η_k = η/(1 + k/τ)^power") }
        case .exponential:
            if written("gamma") == written("tau") {
                sink.add(path, "exponential needs gamma (η_k = η·γ^k) or tau (γ = e^{−1/τ}), exactly one of them")
            }
        case .cosine:
            if s.steps == nil && horizon != nil {
                sink.add(
                    "\(path).steps",
                    "is required with cosine and training.horizon (the run's length in steps depends on η then)")
            }
            if s.steps == nil && horizon == nil && steps < 1 {
                sink.add("\(path).steps", "is required with cosine when training.steps is 0")
            }
        case .step:
            if !written("gamma") {
                sink.add("\(path).gamma", "is required with step: η is multiplied by γ at each drop")
            }
            if written("every") == written("at") {
                sink.add(path, "step needs every (a drop every m steps) or at (drops at listed steps), exactly one")
            }
            if let at = s.at, Swift.zip(at, at.dropFirst()).contains(where: { $0 >= $1 }) {
                sink.add("\(path).at", "must be strictly increasing, got \(at)")
            }
        }
    }

    /// `training.schedule`: each schedule's parameters (and only those), where schedules apply (gd, sgd), and a
    /// horizon the schedule reaches for every learning rate.
    static func schedule(_ r: ConfigurationReader, _ c: Configuration) {
        let sink = r.sink
        let s = c.training.schedule
        let path = "training.schedule"
        // A parameter written but refused by its own check is not reported missing again.
        scheduleParameters(
            s, written: { r.section("training").sectionHas("schedule", $0) }, horizon: c.training.horizon,
            steps: c.training.steps, sink: sink)
        guard s.name != .constant else { return }
        let updates = c.grid.update ?? [c.training.update]
        if let other = updates.first(where: { $0 == .flow || $0 == .multiplicative }) {
            sink.add(path, "applies to update gd and sgd, not \(other.rawValue)")
        }
        if c.training.representation == .log {
            sink.add("training.representation", "log does not apply to training.schedule \(s.name.rawValue)")
        }
        if c.theory != nil {
            sink.add("theory", "dmft describes a constant step size, not training.schedule \(s.name.rawValue)")
        }
        guard sink.issues.isEmpty, let horizon = c.training.horizon else { return }
        let schedule = c.learningRateSchedule
        if let total = schedule.totalSum {
            // Cosine to 0 reaches η·S_K at step K; the geometric schedules only approach η·Σ s_k.
            let reachedAtEnd = schedule.name == .cosine
            for eta in c.grid.learningRate.sorted() where reachedAtEnd ? horizon > eta * total : horizon >= eta * total
            {
                sink.add(
                    "training.horizon",
                    "t = \(horizon) is never reached with η = \(eta) and schedule \(schedule.description): Σ_k η_k "
                        + "\(reachedAtEnd ? "stops at" : "converges to") \(String(format: "%.6g", eta * total)), the "
                        + "largest reachable time "
                        + "(shorten the horizon, decay more slowly, or give training.steps)")
                return
            }
        }
        // The host sums s_k step by step to place the checkpoints: a horizon needing too many steps is refused.
        if let eta = c.grid.learningRate.min() {
            let steps = schedule.estimatedSteps(toReach: horizon / eta)
            if steps > maxScheduledSteps {
                let about = steps.isFinite ? String(format: "about %.3g", steps) : "more than 1e308"
                sink.add(
                    "training.horizon",
                    "t = \(horizon) with η = \(eta) and schedule \(schedule.description) needs \(about) steps; at most "
                        + "1e9 (shorten the horizon or decay more slowly)")
            }
        }
    }
}
