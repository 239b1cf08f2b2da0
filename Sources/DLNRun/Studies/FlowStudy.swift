import DLNModel
import DLNTheory
import Foundation

/// How many gradient evaluations the adaptive integrator needs, against fixed-step gradient descent, to follow
/// the gradient flow of a problem to a given trajectory error (`dlnsim bench --flow`).
///
/// The reference is the integrator itself at rtol 1e-13 in float64. The trajectory error is the largest
/// relative distance max_c ‖w(t_c) − w_ref(t_c)‖/‖w_ref(t_c)‖ over log-spaced times t_c > 0 and replicas.
/// The integrator is run at rtol = 1e-4, 1e-5, … until it reaches the target; gradient descent at η₀, η₀/2, …
/// (η₀ the configuration's largest learning rate, so every checkpoint is a whole number of steps) until it
/// does, or until `maxGDSteps`; past that its steps are extrapolated from the observed order (error ∝ η^p).
public enum FlowStudy {
    /// One problem's result.
    public struct Row: Sendable, Codable {
        public var problem: String
        public var horizon: Double
        public var replicas: Int
        /// Gradient-descent steps (one gradient evaluation each) to reach the target.
        public var gdSteps: Double
        /// False when `gdSteps` is extrapolated.
        public var gdMeasured: Bool
        /// The error of the last gradient-descent run, and its step size.
        public var gdError: Double
        public var gdEta: Double
        /// Mean gradient evaluations per replica of the integrator at the first rtol that reached the target.
        public var rkEvaluations: Double
        public var rkError: Double
        public var rkRtol: Double
        /// gdSteps / rkEvaluations.
        public var ratio: Double { gdSteps / rkEvaluations }
    }

    /// The trajectories w(t_c) of every replica of every batch, c = 1…C, flattened per checkpoint, and the mean
    /// gradient evaluations per replica (steps for gradient descent). A replica the integrator froze is an error.
    static func trajectories(_ c: Configuration, stepsAt: [Int], eta: Double, engine: any FlowEngine) throws(DLNError)
        -> ([[Double]], Double)
    {
        let experiment = try Experiment(c)
        var out = [[Double]](repeating: [], count: stepsAt.count)
        var total = 0.0
        var replicas = 0.0
        for group in experiment.groups {
            try engine.initialize(group.batch)
            var done = 0
            for (k, s) in stepsAt.enumerated() {
                if c.training.update == .flow {
                    try engine.advance(to: Double(s) * eta)
                } else {
                    try engine.step(count: s - done)
                    done = s
                }
                out[k] += try engine.state().weights.doubles
            }
            replicas += Double(group.batch.layout.replicas)
            guard c.training.update == .flow else {
                total += Double(done * group.batch.layout.replicas)
                continue
            }
            let counters = try engine.flowCounters()
            total += Double(counters.evaluations.reduce(0, +))
            if let bad = counters.status.firstIndex(where: { $0 != ReplicaStatus.ran.code }) {
                throw .invalidProblem(
                    "the integrator froze replica \(bad): \(ReplicaStatus.reason(counters.status[bad]))")
            }
        }
        return (out, total / replicas)
    }

    /// max over checkpoints and replicas of ‖w − w_ref‖/‖w_ref‖.
    static func error(_ a: [[Double]], _ ref: [[Double]], d: Int) -> Double {
        var worst = 0.0
        for (x, r) in zip(a, ref) {
            for b in 0..<(r.count / d) {
                var num = 0.0
                var den = 0.0
                for j in (b * d)..<((b + 1) * d) {
                    num += (x[j] - r[j]) * (x[j] - r[j])
                    den += r[j] * r[j]
                }
                if den > 0 { worst = max(worst, (num / den).squareRoot()) } else if num > 0 { worst = .infinity }
            }
        }
        return worst
    }

    /// Runs the study on one configuration (its first `seeds` seeds, every grid point, float64).
    public static func run(
        _ config: Configuration, name: String, seeds: Int = 1, target: Double = 1e-6, maxGDSteps: Int = 1 << 18,
        engine: any FlowEngine, log: (String) -> Void = { _ in }
    ) throws(DLNError) -> Row {
        var base = config
        base.seeds = min(seeds, config.seeds)
        base.training.precision = .float64
        base.grid.update = nil
        base.training.update = .gd
        guard base.grid.d == nil || base.grid.d!.count == 1 else {
            throw .invalidProblem("\(name): the flow study needs one d")
        }
        let eta0 = config.grid.learningRate.max()!
        base.grid.learningRate = [eta0]
        let horizon = config.training.horizon ?? Double(config.training.steps) * eta0
        let total = max(1, Int((horizon / eta0).rounded()))
        let stepsAt = Array(Experiment.schedule(steps: total, count: 12, explicit: nil).dropFirst())
        let d = base.grid.d?.first ?? config.problem.d
        let minAlpha = config.grid.alpha.min()!
        let layersState = (config.grid.parameterization ?? [config.model.parameterization]).contains(where: \.isDeep)

        func flowConfig(rtol: Double) -> Configuration {
            var c = base
            c.training.update = .flow
            c.training.horizon = Double(total) * eta0
            c.training.steps = 1000
            c.record.steps = nil
            c.training.flow = FlowSettings(rtol: rtol, atol: rtol * 1e-3 * (layersState ? min(1, minAlpha) : 1))
            return c
        }
        log("\(name): reference solve (rtol 1e-13)")
        let (reference, _) = try trajectories(flowConfig(rtol: 1e-13), stepsAt: stepsAt, eta: eta0, engine: engine)
        let replicas = reference[0].count / d

        var rk: (Double, Double, Double)? = nil
        for exponent in 4...12 {
            let rtol = Foundation.pow(10, -Double(exponent))
            let (traj, evals) = try trajectories(flowConfig(rtol: rtol), stepsAt: stepsAt, eta: eta0, engine: engine)
            let e = error(traj, reference, d: d)
            log("\(name): integrator rtol \(rtol): error \(e), \(evals) evaluations per replica")
            if e <= target {
                rk = (evals, e, rtol)
                break
            }
        }
        guard let (rkEvals, rkError, rkRtol) = rk else {
            throw .invalidProblem("\(name): the integrator did not reach \(target)")
        }

        var history: [(eta: Double, steps: Int, error: Double)] = []
        var k = 0
        while k == 0 || total << k <= maxGDSteps {
            var c = base
            c.training.horizon = nil
            c.training.steps = total << k
            c.record.steps = nil
            let eta = eta0 / Double(1 << k)
            c.grid.learningRate = [eta]
            let (traj, _) = try trajectories(c, stepsAt: stepsAt.map { $0 << k }, eta: eta, engine: engine)
            let e = error(traj, reference, d: d)
            log("\(name): gradient descent η = \(eta): error \(e), \(total << k) steps")
            history.append((eta, total << k, e))
            if e <= target { break }
            k += 1
        }
        let last = history.last!
        var steps = Double(last.steps)
        var measured = true
        if last.error > target {
            measured = false
            // Order from the last two runs (1 for plain GD), then the steps that bring the error to the target.
            var p = 1.0
            if history.count >= 2 {
                let prev = history[history.count - 2]
                p = max(0.5, min(2, Foundation.log2(prev.error / last.error)))
            }
            steps = Double(last.steps) * Foundation.pow(last.error / target, 1 / p)
        }
        return Row(
            problem: name, horizon: Double(total) * eta0, replicas: replicas, gdSteps: steps, gdMeasured: measured,
            gdError: last.error, gdEta: last.eta, rkEvaluations: rkEvals, rkError: rkError, rkRtol: rkRtol)
    }

    /// A Markdown table of rows.
    public static func table(_ rows: [Row]) -> String {
        var out =
            "| problem | horizon t | replicas | GD steps to 1e-6 | GD error (η) | RK evaluations | RK error (rtol) | "
            + "GD / RK |\n"
        out += "|---|---:|---:|---:|---|---:|---|---:|\n"
        for r in rows {
            let gd = (r.gdMeasured ? "" : "≈") + String(format: "%.3g", r.gdSteps)
            out +=
                "| \(r.problem) | " + String(format: "%g | %d | ", r.horizon, r.replicas) + gd
                + String(
                    format: " | %.2g (η = %.3g) | %.0f | %.2g (rtol %.0e) | %.0f× |\n", r.gdError, r.gdEta,
                    r.rkEvaluations, r.rkError, r.rkRtol, r.ratio)
        }
        return out
    }
}
