import DLNModel
import DLNTheory
import Foundation

/// `dlnsim analyze`: what the theory predicts for every replica of a run, beside what the run did.
///
/// The run's configuration (from manifest.json) rebuilds the same data; for each replica:
/// - λ = 0, pm: the gradient-flow implicit bias (scale α²) and its test error; the minimum-ℓ2 and minimum-ℓ1
///   interpolators' test errors (the α → ∞ and α → 0 limits); the predicted late-time rate γ;
/// - λ = 0, uv: the Bregman interpolator from the replica's initialisation;
/// - λ = 0, deep and deep_pm from any initial layers (distinct scales, Gaussian entries, random signs): the limit of
///   the mirror flow the conserved layer differences define (`DeepImplicitBias.solve(initialLayers:)`; Woodworth's
///   depth-L potential for equal layers), the tangent kernel there, its PL constant and the late rate;
/// - λ > 0 (pm, uv): the lasso with λ_u (λ_u/n for the sum loss) and its test error;
/// - pm, λ = 0, α < 1: the first and last jump times τ·ln(1/α) of the saddle-to-saddle limit;
/// - the d → ∞ test error of the λ = 0 limit from the static AMP fixed point (pm, synthetic data with a ones or
///   signs teacher), per grid point;
/// - from the recorded curves: the fitted late-time rate (λ = 0, on the checkpoints above the round-off floor) and the
///   lazy → rich time t_c (λ > 0);
/// - with weights.npy (run with --save-weights): the largest distance between the simulated and predicted w;
/// - label noise on pm or uv with full-batch steps: the weighted lasso of `LabelNoisePrediction` beside the run's
///   time-averaged (record.weights) or final values; the other label-noise points say why none is given.
public enum Analysis {
    /// The quantities written, one analysis_<name>.npy [grid point, seed] each, in this order.
    public static let quantities =
        [
            "predicted_test_error", "min_l2_test_error", "predicted_rate", "fitted_rate",
            "transition_time", "distance_to_prediction", "prediction_converged", "min_l1_test_error",
            "asymptotic_test_error", "first_jump_time", "last_jump_time", "fitted_rate_points", "limit_pl_constant"
        ] + LabelNoisePrediction.quantities

    /// Values per quantity, [g][s].
    public struct Result: Sendable {
        public var values: [String: [[Double]]]
        public let gridPoints: Int, seeds: Int
        public var notes: [String]
    }

    /// Analyses an output folder.
    public static func run(_ folder: OutputFolder) throws(DLNError) -> Result {
        let configuration = try folder.configuration()
        let experiment = try Experiment(configuration)
        let G = experiment.gridPoints.count
        let S = experiment.seeds.count
        let trainLoss = try folder.array(Observable.trainLoss.name)
        let recordedTestError =
            folder.names.contains(Observable.testError.name) ? try folder.array(Observable.testError.name) : nil
        let weightsPath = folder.directory + "/weights.npy"
        let weights = FileManager.default.fileExists(atPath: weightsPath) ? try NPY.read(path: weightsPath) : nil
        var notes: [String] = []
        if weights == nil { notes.append("no weights.npy (run with --save-weights): distance_to_prediction is NaN") }
        // The d → ∞ prediction (§5.7) per grid point: synthetic data, pm, λ = 0, a teacher with finitely many values.
        let ampSlots = SharedSlots<Double>(count: G)
        if configuration.problem.files == nil {
            let points = experiment.gridPoints
            DispatchQueue.concurrentPerform(iterations: G) { g in
                let p = points[g]
                // pm at λ = 0 (the interpolator), pm and uv with weight decay (the lasso, λ = λ_u: mean loss).
                let lasso = p.lambdaU > 0 && (p.parameterization == .pm || p.parameterization == .uv)
                guard (p.parameterization == .pm && p.lambdaU == 0) || lasso else { return }
                let prior: StaticFixedPoint.Prior?
                switch configuration.problem.teacherValues {
                case .ones: prior = .bernoulli(p.density)
                case .signs:
                    prior = StaticFixedPoint.Prior(
                        values: [0, 1, -1], weights: [1 - p.density, p.density / 2, p.density / 2])
                case .gaussian: prior = nil
                }
                guard let prior else { return }
                let unit = configuration.problem.designVariance == .one
                let sigma = unit ? p.noise / Double(p.d).squareRoot() : p.noise
                let delta = Double(p.n) / Double(p.d)
                // The lasso's λ in the solver's normalisation (docs/model.md §5.7): λ_L = λ_u (mean loss) or λ_u/n
                // (sum loss), times d for rows x ~ N(0, I/d).
                let lambdaL = configuration.training.loss == .mean ? p.lambdaU : p.lambdaU / Double(p.n)
                let s =
                    lasso
                    ? StaticFixedPoint.solveLasso(
                        delta: delta, noise: sigma, prior: prior, lambda: unit ? lambdaL : lambdaL * Double(p.d))
                    : StaticFixedPoint.solve(
                        delta: delta, noise: sigma, prior: prior, potential: .hyperbolic(beta: p.alpha * p.alpha))
                if s.converged { ampSlots[g] = unit ? s.error * Double(p.d) : s.error }
            }
        }
        let asymptotic = (0..<G).map { ampSlots[$0] ?? .nan }
        let unresolved = experiment.gridPoints.indices.filter { g in
            let p = experiment.gridPoints[g]
            return configuration.problem.files == nil && p.parameterization == .pm && p.weightDecay == 0
                && configuration.problem.teacherValues != .gaussian && asymptotic[g].isNaN
        }
        if !unresolved.isEmpty {
            notes.append(
                "the d → ∞ fixed point did not converge at grid point(s) \(unresolved) (very small α): NaN there")
        }
        let asymptoticByPoint = asymptotic
        // The label-noise lasso (pm, uv; full batch): which points get it, and what the run recorded to set beside it.
        let sampling = configuration.training.sampling
        let labelNoisePoints = experiment.gridPoints.map {
            $0.labelNoise > 0 && LabelNoisePrediction.refusal($0, sampling: sampling) == nil
        }
        let refused = experiment.gridPoints.indices.compactMap { g -> (Int, String)? in
            let p = experiment.gridPoints[g]
            return p.labelNoise > 0 ? LabelNoisePrediction.refusal(p, sampling: sampling).map { (g, $0) } : nil
        }
        for reason in Set(refused.map(\.1)).sorted() {
            notes.append(
                "label noise: no lasso prediction at grid point(s) \(refused.filter { $0.1 == reason }.map(\.0)): \(reason)"
            )
        }
        let recorded = labelNoisePoints.contains(true) ? try LabelNoisePrediction.recorded(folder) : nil
        let tau = configuration.record.thresholds.first
        let supportName = ObservableSet(thresholds: tau.map { [$0] } ?? []).names.first { $0.hasPrefix("support@") }
        var finals: [[[Double]]] = []
        if labelNoisePoints.contains(true) {
            for name in [Observable.testError.name, Observable.l1Norm.name, supportName ?? ""] {
                finals.append(
                    folder.names.contains(name)
                        ? try folder.array(name).map { $0.map { $0.last ?? .nan } }
                        : [[Double]](repeating: [Double](repeating: .nan, count: S), count: G))
            }
        }
        let finalValues = finals
        // What does not depend on α, λ or η, once per (batch, data set): the min-ℓ2 and min-ℓ1 interpolators'
        // test errors and the saddle-to-saddle stages.
        struct PerData: Sendable {
            let l2: Double
            let l1: Double
            let saddles: SaddleToSaddle.Sequence?
        }
        let dataTasks: [(group: Int, dataset: Int)] = experiment.groups.enumerated().flatMap { gi, group in
            group.batch.datasets.indices.map { (gi, $0) }
        }
        let dataSlots = SharedSlots<PerData>(count: dataTasks.count)
        DispatchQueue.concurrentPerform(iterations: dataTasks.count) { k in
            let (gi, di) = dataTasks[k]
            let batch = experiment.groups[gi].batch
            let ds = batch.datasets[di]
            let d = batch.layout.dimension
            let n = batch.layout.samples
            let x = ds.x.doubles
            let y = ds.y.doubles
            let lambdaZero = experiment.groups[gi].points.contains { experiment.gridPoints[$0].weightDecay == 0 }
            guard lambdaZero else {
                dataSlots[k] = PerData(l2: .nan, l1: .nan, saddles: nil)
                return
            }
            let l2 = ImplicitBias.minimumNorm(x: x, y: y, n: n, d: d).map { testErrorOf($0, ds, batch) } ?? .nan
            let l1 = MinimumL1.solve(x: x, y: y, n: n, d: d).map { testErrorOf($0, ds, batch) } ?? .nan
            let pm = experiment.gridPoints[experiment.groups[gi].points[0]].parameterization == .pm
            dataSlots[k] = PerData(
                l2: l2, l1: l1, saddles: pm ? SaddleToSaddle.sequence(x: x, y: y, n: n, d: d) : nil)
        }
        var perDataTable: [Int: [Int: PerData]] = [:]
        for (k, task) in dataTasks.enumerated() { perDataTable[task.group, default: [:]][task.dataset] = dataSlots[k] }
        let perData = perDataTable
        let groupIndex = Dictionary(
            uniqueKeysWithValues: experiment.groups.enumerated().flatMap { gi, group in group.points.map { ($0, gi) } })
        let slots = SharedSlots<[Double]>(count: G * S)
        let messages = SharedSlots<String>(count: G * S)
        let tasks: [(group: Experiment.Group, local: Int, g: Int, s: Int)] = experiment.groups.flatMap { group in
            group.points.enumerated().flatMap { local, g in (0..<S).map { (group, local, g, $0) } }
        }
        let epsilon = configuration.training.precision == .float64 ? Double.ulpOfOne : Double(Float.ulpOfOne)
        let allTimes = folder.times
        DispatchQueue.concurrentPerform(iterations: tasks.count) { k in
            let (group, local, g, s) = tasks[k]
            let batch = group.batch
            let b = local * S + s
            let replica = batch.replicas[b]
            let d = batch.layout.dimension
            let n = batch.layout.samples
            let ds = batch.datasets[replica.dataset]
            let x = ds.x.doubles
            let y = ds.y.doubles
            let point = experiment.gridPoints[g]
            var out = [Double](repeating: .nan, count: quantities.count)
            out[8] = asymptoticByPoint[g]
            func testError(_ w: [Double]) -> Double { testErrorOf(w, ds, batch) }
            let shared = perData[groupIndex[g]!]![replica.dataset]!
            var predicted: [Double]? = nil
            var beta: [Double]? = nil
            var kernelDiagonal: [Double]? = nil
            switch (point.parameterization, replica.lambdaU > 0) {
            case (.pm, false), (.uv, false):
                let u0 = batch.initialLayers[0].doubles((b * d)..<((b + 1) * d))
                let v0 = batch.initialLayers[1].doubles((b * d)..<((b + 1) * d))
                let (bb, offset) =
                    point.parameterization == .pm
                    ? ([Double](repeating: replica.alpha * replica.alpha, count: d), [Double](repeating: 0, count: d))
                    : ImplicitBias.bregman(u0: u0, v0: v0)
                let solution = ImplicitBias.solve(x: x, y: y, n: n, d: d, beta: bb, offset: offset)
                out[6] = solution.converged ? 1 : 0
                if solution.message != "converged" { messages[g * S + s] = solution.message }
                if solution.converged {
                    predicted = solution.w
                    beta = bb
                }
                out[1] = shared.l2
                out[7] = shared.l1
                if point.parameterization == .pm && replica.alpha < 1, let saddles = shared.saddles,
                    saddles.stages.count > 1
                {
                    // Saddle to saddle (α → 0): jumps at t = τ_k·ln(1/α) (÷ n for the sum loss, whose clock is n×
                    // faster).
                    let clock =
                        Foundation.log(1 / replica.alpha) / (configuration.training.loss == .mean ? 1 : Double(n))
                    out[9] = saddles.stages[1].tau * clock
                    // Stopped at the cap: the last stage computed is not the last jump.
                    out[10] = saddles.reachedEnd ? saddles.stages.last!.tau * clock : .nan
                }
            case (.deepPM, false), (.deep, false):
                // The general limit from the replica's own initial layers (docs/theory.md, deep networks).
                let layers = batch.initialLayers.map { $0.doubles((b * d)..<((b + 1) * d)) }
                guard
                    let limit = DeepImplicitBias.solve(
                        x: x, y: y, n: n, d: d, initialLayers: layers, plusMinus: point.parameterization == .deepPM)
                else {
                    messages[g * S + s] =
                        "a coordinate has a zero layer or a tie for the smallest |u_l(0)| among unequal layers: no "
                        + "prediction"
                    break
                }
                out[6] = limit.solution.converged ? 1 : 0
                if limit.solution.message != "converged" { messages[g * S + s] = limit.solution.message }
                if limit.solution.converged { predicted = limit.solution.w }
                kernelDiagonal = limit.kernelDiagonal
                out[1] = shared.l2
                out[7] = shared.l1
                let scales = configuration.model.layerScales ?? [1]
                if point.parameterization == .deepPM, scales.allSatisfy({ $0 == scales[0] }),
                    configuration.model.initEntries == .constant, configuration.model.initSigns == .positive
                {
                    out[9] = DeepImplicitBias.escapeTime(
                        x: x, y: y, n: n, d: d, depth: point.depth, alpha: replica.alpha * abs(scales[0]),
                        meanLoss: configuration.training.loss == .mean)
                }
            case (.pm, true), (.uv, true):
                let lambda = configuration.training.loss == .mean ? replica.lambdaU : replica.lambdaU / Double(n)
                let lasso = Lasso.solve(x: x, y: y, n: n, d: d, lambda: lambda, tolerance: 1e-13)
                out[6] = lasso.converged ? 1 : 0
                predicted = lasso.w
            default:
                break
            }
            if let w = predicted {
                out[0] = testError(w)
                if let beta { kernelDiagonal = zip(w, beta).map { 2 * ($0 * $0 + $1 * $1).squareRoot() } }
                if let kernelDiagonal {
                    let meanLoss = configuration.training.loss == .mean
                    out[2] =
                        Rates.predictedRate(
                            x: x, n: n, d: d, kernelDiagonal: kernelDiagonal,
                            eta: point.update == .flow || !configuration.learningRateSchedule.isConstant
                                ? nil : replica.eta,
                            meanLoss: meanLoss) ?? .nan
                    out[12] =
                        Rates.limitKernelExtremes(x: x, n: n, d: d, kernelDiagonal: kernelDiagonal, meanLoss: meanLoss)?
                        .min ?? .nan
                }
                if let weights, weights.shape.count == 3, weights.shape[2] == d {
                    let sim = weights.values[((g * S + s) * d)..<((g * S + s + 1) * d)]
                    out[5] = zip(sim, w).map { abs($0 - $1) }.max() ?? .nan
                }
            }
            let times = allTimes[g]
            if labelNoisePoints[g] {
                let base = quantities.count - LabelNoisePrediction.quantities.count
                let values = LabelNoisePrediction.replica(
                    x: x, y: y, n: n, d: d, eta: replica.eta, sigma: point.labelNoise, lambdaU: replica.lambdaU,
                    meanLoss: configuration.training.loss == .mean, tau: tau, testError: testError,
                    recorded: recorded, times: times, g: g, s: s, seeds: S, finals: finalValues.map { $0[g][s] })
                for (k, v) in values.enumerated() { out[base + k] = v }
            }
            // The late rate of λ = 0 (the loss decays to zero; with λ > 0 it settles at the lasso's loss).
            if replica.lambdaU == 0 {
                let fit = Rates.lateRate(times: times, loss: trainLoss[g][s], epsilon: epsilon)
                out[3] = fit.rate ?? .nan
                out[11] = Double(fit.points)
            }
            if replica.lambdaU > 0, let te = recordedTestError?[g][s] {
                out[4] = Rates.lazyToRichTime(times: times, trainLoss: trainLoss[g][s], testError: te) ?? .nan
            }
            slots[g * S + s] = out
        }
        let all = slots.values
        var values: [String: [[Double]]] = [:]
        for (q, name) in quantities.enumerated() {
            values[name] = (0..<G).map { g in (0..<S).map { all[g * S + $0][q] } }
        }
        let stochastic = experiment.gridPoints.filter {
            $0.update == .sgd || $0.labelNoise > 0 || $0.gradientNoise > 0 || $0.momentum > 0
        }
        if !stochastic.isEmpty {
            notes.append(
                "\(stochastic.count) grid point(s) use sgd, label or gradient noise, or momentum: the predictions are "
                    + "those of gradient flow, set them beside the runs with care; the label_noise_* columns hold the "
                    + "one stochastic prediction, label noise's lasso (pm, uv; full batch)")
        }
        if experiment.gridPoints.contains(where: { $0.parameterization.isDeep }) {
            if experiment.gridPoints.contains(where: { $0.parameterization.isDeep && $0.weightDecay > 0 }) {
                notes.append("deep and deep_pm with weight decay: no prediction")
            }
            notes.append(
                "deep, deep_pm: the limit and the late rate are gradient flow's from each replica's own initial layers; "
                    + "first_jump_time is the escape time from small α for deep_pm with equal positive layers "
                    + "(α^{−(L−2)}/((L−2)s) for L ≥ 3); no later jumps or d → ∞ value (not derived for depth L)")
            if experiment.gridPoints.contains(where: { $0.parameterization == .deep }) {
                notes.append(
                    "deep with equal positive layers keeps w ≥ 0: where the data need a negative coordinate its flow "
                        + "has no interpolating limit (not converged) and its loss decays as a power law")
            }
        }
        var said = Set<String>()
        for k in 0..<(G * S) {
            guard let m = messages[k], said.insert(m).inserted, said.count <= 3 else { continue }
            notes.append("implicit bias at grid point \(k / S), seed \(experiment.seeds[k % S]): \(m)")
        }
        let fitted = (0..<(G * S)).filter { !all[$0][11].isNaN }.count
        let tooFew = (0..<(G * S)).filter { all[$0][11] < 3 }.count
        if tooFew > 0 {
            notes.append(
                "fitted_rate: too few checkpoints above the round-off floor to fit a rate for \(tooFew) of \(fitted) "
                    + "replica(s): at least 3 are needed in the last ten decades of the decay below 1e-5·L(0) (add "
                    + "record.linear checkpoints, or a longer horizon): NaN there")
        }
        let capped = perData.values.flatMap(\.values).compactMap(\.saddles).filter { !$0.reachedEnd }
        if let first = capped.first {
            notes.append(
                "saddle to saddle: stopped at the cap of \(first.cap) stages; the sequence goes on (last_jump_time is "
                    + "NaN, the last stage computed is at τ = \(String(format: "%.4g", first.stages.last!.tau)))")
        }
        return Result(values: values, gridPoints: G, seeds: S, notes: notes)
    }

    /// The test error of a predicted w, by the run's own definition (held-out set, or v·‖w − w*‖²).
    static func testErrorOf(_ w: [Double], _ ds: Dataset, _ batch: Batch) -> Double {
        let d = batch.layout.dimension
        if let test = ds.test {
            let xt = test.x.doubles
            let yt = test.y.doubles
            let nt = test.y.count
            let r = zip(Dense.multiply(xt, nt, d, w), yt).map { $0 - $1 }
            return r.reduce(0) { $0 + $1 * $1 } / Double(nt)
        }
        guard let wStar = ds.wStar, let v = batch.designVariance else { return .nan }
        return v * zip(w, wStar).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }
    }

    /// Writes analysis_<quantity>.npy [grid point, seed] into the folder.
    public static func write(_ result: Result, to directory: String) throws(DLNError) {
        for name in quantities {
            let v = result.values[name]!.flatMap { $0 }
            try NPY.write(
                v, shape: [result.gridPoints, result.seeds], dtype: .float64,
                to: URL(fileURLWithPath: directory).appendingPathComponent("analysis_\(name).npy").path)
        }
    }
}
