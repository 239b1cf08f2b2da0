import DLNModel
import DLNRun
import Foundation
import TestSupport
import Testing

/// `training.schedule`: the factors s_k against their formulas, the checkpoint times t = Σ_{j<k} η_j against sums
/// computed here, horizons reached under a schedule, the YAML forms, the manifest, and every bad input.
@Suite struct ScheduleTests {
    /// The formulas of docs/model.md, written out again here (not through `LearningRateSchedule`).
    static func formula(_ s: Configuration.Schedule, runSteps: Int, k: Int) -> Double {
        let x = Double(k)
        switch s.name {
        case .constant: return 1
        case .inverseTime: return pow(1 + x / s.tau!, -s.power)
        case .exponential: return s.gamma.map { pow($0, x) } ?? exp(-x / s.tau!)
        case .cosine:
            let K = Double(s.steps ?? runSteps)
            return x >= K ? s.floor : s.floor + (1 - s.floor) * 0.5 * (1 + cos(Double.pi * x / K))
        case .step:
            let drops = s.every.map { k / $0 } ?? s.at!.filter { $0 <= k }.count
            return pow(s.gamma!, Double(drops))
        }
    }

    static func parse(_ yaml: String) throws -> Configuration { try Configuration.parse(yaml: yaml) }

    static let base = "problem: {d: 12, n: 6, teacher: {density: 0.25}}\nseeds: 2\nrecord: {checkpoints: 8}\n"

    static let schedules: [String] = [
        "{name: inverse_time, tau: 20}", "{name: inverse_time, tau: 7, power: 0.5}",
        "{name: exponential, gamma: 0.995}",
        "{name: exponential, tau: 300}", "{name: cosine, steps: 400, floor: 0.05}",
        "{name: step, gamma: 0.5, every: 50}",
        "{name: step, gamma: 0.1, at: [10, 100, 150]}"
    ]

    @Test(arguments: schedules)
    func factorsFollowTheirFormulas(_ text: String) throws {
        let c = try Self.parse(Self.base + "training: {steps: 300, schedule: \(text)}")
        let rates = c.learningRateSchedule
        #expect(!rates.isConstant)
        for k in [0, 1, 2, 9, 10, 11, 49, 50, 51, 100, 199, 399, 400, 401, 1000] {
            let want = Self.formula(c.training.schedule, runSteps: 300, k: k)
            let got = rates.factor(step: k)
            #expect(abs(got - want) <= 1e-14 * max(1, abs(want)), "\(text) k = \(k): \(got) vs \(want)")
        }
        #expect(rates.factor(step: 0) == 1)  // every schedule starts at η
        // The memo of the observations gives the bits of a fresh sum, in any order of requests.
        let memo = ScheduleSums(rates)
        for k in [5, 300, 17, 17, 401, 0] { #expect(memo.sum(at: k) == rates.sums(at: [k])[0], "\(text) S_\(k)") }
        // config.yaml (the other schedules' parameters as comments) reads back to the same configuration.
        #expect(try Configuration.parse(yaml: c.resolvedYAML) == c)
    }

    /// times.npy's t (Experiment.times) is Σ_{j<k} η·s_j at each checkpoint's step, summed here from the formula.
    @Test(arguments: schedules)
    func timesAreCumulativeSums(_ text: String) throws {
        let c = try Self.parse(
            Self.base + "training: {steps: 300, schedule: \(text)}\ngrid: {learning_rate: [0.01, 0.04]}")
        let e = try Experiment(c)
        for (g, point) in e.gridPoints.enumerated() {
            var sum = 0.0
            var k = 0
            for (step, t) in zip(e.steps[g], e.times[g]) {
                while k < step {
                    sum += point.learningRate * Self.formula(c.training.schedule, runSteps: 300, k: k)
                    k += 1
                }
                #expect(abs(t - sum) <= 1e-12 * max(sum, 1e-300), "\(text) step \(step): \(t) vs \(sum)")
            }
            #expect(e.steps[g].last == 300)
        }
    }

    /// With a horizon, each η runs until η·S_k is nearest the horizon: the last time is within half a step of it,
    /// and a schedule that has decayed needs more steps than round(t/η).
    @Test(arguments: schedules.filter { !$0.contains("cosine") } + ["{name: cosine, steps: 200, floor: 0.2}"])
    func horizonIsReached(_ text: String) throws {
        let horizon = 1.5
        let c = try Self.parse(
            Self.base + "training: {horizon: \(horizon), schedule: \(text)}\ngrid: {learning_rate: [0.02, 0.05]}")
        let e = try Experiment(c)
        let rates = c.learningRateSchedule
        for (g, point) in e.gridPoints.enumerated() {
            let last = e.steps[g].last!
            let t = e.times[g].last!
            let eta = point.learningRate
            #expect(abs(t - horizon) <= eta * rates.factor(step: last - 1) / 2 + 1e-12, "\(text) η = \(eta): t = \(t)")
            // Never fewer steps than round(t/η); more when round(t/η) steps fall short of t by over half a step.
            let plain = Int((horizon / eta).rounded())
            let short = eta * rates.sums(at: [plain])[0] < horizon - eta / 2
            #expect(short ? last > plain : last >= plain, "\(text) η = \(eta): \(last) steps, round(t/η) = \(plain)")
            #expect(Set(e.steps[g]).count == e.steps[g].count)
            #expect(e.times[g] == e.times[g].sorted())
        }
    }

    @Test func constantIsTheDefaultAndTheScalarFormIsAName() throws {
        let plain = try Self.parse(Self.base)
        #expect(try Self.parse(Self.base + "training: {schedule: constant}") == plain)
        #expect(try Self.parse(Self.base + "training: {schedule: {name: constant}}") == plain)
        #expect(plain.learningRateSchedule.isConstant)
        let cosine = try Self.parse(Self.base + "training: {steps: 80, schedule: cosine}")
        #expect(cosine.training.schedule.name == .cosine)
        #expect(cosine.learningRateSchedule == LearningRateSchedule(.cosine(steps: 80, floor: 0)))
        // Without a schedule the times stay steps·η exactly.
        let e = try Experiment(try Self.parse(Self.base + "grid: {learning_rate: [0.03, 0.07]}"))
        for (g, p) in e.gridPoints.enumerated() {
            #expect(e.times[g] == e.steps[g].map { Double($0) * p.learningRate })
        }
    }

    @Test func manifestKeepsTheSchedule() throws {
        let c = try Self.parse(Self.base + "training: {steps: 90, schedule: {name: step, gamma: 0.5, at: [3, 40]}}")
        let json = c.manifestValue
        let training = try #require(json["training"] as? [String: Any])
        let schedule = try #require(training["schedule"] as? [String: Any])
        #expect(schedule["name"] as? String == "step")
        let data = try JSONSerialization.data(withJSONObject: ["schema_version": 2, "configuration": json])
        #expect(try Configuration.fromManifest(data: data, path: "manifest.json") == c)
        // A folder written before the schedule existed ran a constant rate.
        var old = json
        var oldTraining = training
        oldTraining["schedule"] = nil
        old["training"] = oldTraining
        let before = try JSONSerialization.data(withJSONObject: ["schema_version": 2, "configuration": old])
        #expect(try Configuration.fromManifest(data: before, path: "manifest.json").training.schedule.name == .constant)
    }

    static func issues(_ yaml: String) -> [ConfigIssue] {
        do {
            _ = try Configuration.parse(yaml: yaml, file: "bad.yaml")
            Issue.record("accepted: \(yaml)")
        } catch {
            guard case .invalidConfiguration(_, let issues) = error else {
                Issue.record("\(error)")
                return []
            }
            return issues
        }
        return []
    }

    @Test(arguments: [
        ("schedule: linear", "training.schedule", "must be one of constant, inverse_time, exponential, cosine, step"),
        ("schedule: {name: warmup}", "training.schedule.name", "must be one of constant, inverse_time"),
        ("schedule: [cosine]", "training.schedule", "must be a mapping"),
        ("schedule: {name: inverse_time}", "training.schedule.tau", "is required with inverse_time"),
        ("schedule: {name: inverse_time, tau: 0}", "training.schedule.tau", "must be positive"),
        ("schedule: {name: inverse_time, tau: 5, power: 1.5}", "training.schedule.power", "must be in (0, 1]"),
        ("schedule: {name: inverse_time, tau: 5, power: yes}", "training.schedule.power", "must be a number"),
        ("schedule: {name: exponential}", "training.schedule", "exactly one of them"),
        ("schedule: {name: exponential, gamma: 0.9, tau: 3}", "training.schedule", "exactly one of them"),
        ("schedule: {name: exponential, gamma: 1.1}", "training.schedule.gamma", "must be in (0, 1]"),
        ("schedule: {name: exponential, gamma: 0}", "training.schedule.gamma", "must be in (0, 1]"),
        ("schedule: {name: cosine, steps: 0}", "training.schedule.steps", "must be at least 1"),
        ("schedule: {name: cosine, steps: 2.5}", "training.schedule.steps", "must be a whole number"),
        ("schedule: {name: cosine, floor: 1}", "training.schedule.floor", "must be in [0, 1)"),
        ("schedule: {name: cosine, floor: -0.1}", "training.schedule.floor", "must be in [0, 1)"),
        ("schedule: {name: step, every: 10}", "training.schedule.gamma", "is required with step"),
        ("schedule: {name: step, gamma: 0.5}", "training.schedule", "exactly one"),
        ("schedule: {name: step, gamma: 0.5, every: 10, at: [3]}", "training.schedule", "exactly one"),
        ("schedule: {name: step, gamma: 0.5, every: 0}", "training.schedule.every", "must be at least 1"),
        ("schedule: {name: step, gamma: 0.5, at: [5, 5]}", "training.schedule.at", "strictly increasing"),
        ("schedule: {name: step, gamma: 0.5, at: [0, 5]}", "training.schedule.at[0]", "whole numbers of steps ≥ 1"),
        (
            "schedule: {name: constant, gamma: 0.5}", "training.schedule.gamma",
            "applies to schedule exponential or step"
        ),
        (
            "schedule: {name: cosine, tau: 3}", "training.schedule.tau",
            "applies to schedule inverse_time or exponential"
        ),
        ("schedule: {name: exponential, gamma: 0.5, colour: red}", "training.schedule.colour", "unknown key"),
        ("update: flow\n  horizon: 3\n  schedule: {name: inverse_time, tau: 4}", "training.schedule", "not flow"),
        (
            "update: multiplicative\n  schedule: {name: step, gamma: 0.5, every: 4}", "training.schedule",
            "not multiplicative"
        ),
        ("horizon: 20\n  schedule: {name: inverse_time, tau: 10}", "training.horizon", "needs about 2.35e+18 steps"),
        ("horizon: 3\n  schedule: cosine", "training.schedule.steps", "is required with cosine and training.horizon"),
        (
            "horizon: 30\n  schedule: {name: exponential, gamma: 0.9}", "training.horizon",
            "converges to 0.5, the largest"
        ),
        ("horizon: 30\n  schedule: {name: step, gamma: 0.5, every: 100}", "training.horizon", "converges to 10, the"),
        ("horizon: 30\n  schedule: {name: cosine, steps: 100}", "training.horizon", "stops at 2.525, the largest")
    ])
    func badSchedulesAreRefusedByName(_ input: (String, String, String)) {
        let (training, path, words) = input
        let found = Self.issues(Self.base + "grid: {learning_rate: [0.05, 0.2]}\ntraining:\n  " + training)
        #expect(
            found.contains { $0.path == path && $0.message.contains(words) },
            "\(training): \(found.map { "\($0.path): \($0.message)" })")
    }

    @Test func logRepresentationAndDMFTAreRefused() {
        let log = Self.issues(
            "problem: {d: 12, n: 6}\ntraining: {update: multiplicative, representation: log, "
                + "schedule: {name: inverse_time, tau: 4}}")
        #expect(log.contains { $0.path == "training.representation" && $0.message.contains("training.schedule") })
        let dmft = Self.issues(
            "problem: {d: 12, n: 6}\ntheory: dmft\ntraining: {schedule: {name: exponential, gamma: 0.99}}")
        #expect(dmft.contains { $0.path == "theory" && $0.message.contains("inverse_time") == false })
        #expect(dmft.contains { $0.path == "theory" && $0.message.contains("schedule") })
    }
}
