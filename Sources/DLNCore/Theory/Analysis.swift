import Foundation

/// `dlnsim analyze`: what the theory predicts for every replica of a run, beside what the run did.
///
/// The run's configuration (from manifest.json) rebuilds the same data; for each replica:
/// - λ = 0, pm: the gradient-flow implicit bias (scale α²) and its test error; the minimum-ℓ2 and minimum-ℓ1
///   interpolators' test errors (the α → ∞ and α → 0 limits); the predicted late-time rate γ;
/// - λ = 0, uv: the Bregman interpolator from the replica's initialisation;
/// - λ > 0 (pm, uv): the lasso with λ_u (λ_u/n for the sum loss) and its test error;
/// - the d → ∞ test error of the λ = 0 limit from the static AMP fixed point (pm, synthetic data with a ones or
///   signs teacher), per grid point;
/// - from the recorded curves: the fitted late-time rate (float64 runs) and the lazy → rich time t_c;
/// - with weights.npy (run with --save-weights): the largest distance between the simulated and predicted w.
public enum Analysis {
    /// The quantities written, one analysis_<name>.npy [grid point, seed] each, in this order.
    public static let quantities = ["predicted_test_error", "min_l2_test_error", "predicted_rate", "fitted_rate",
                                    "transition_time", "distance_to_prediction", "prediction_converged", "min_l1_test_error",
                                    "asymptotic_test_error"]

    /// Values per quantity, [g][s].
    public struct Result: Sendable {
        public var values: [String: [[Double]]]
        public let gridPoints: Int, seeds: Int
        public var notes: [String]
    }

    /// Analyses an output folder.
    public static func run(_ folder: OutputFolder) throws(DLNError) -> Result {
        guard let raw = folder.manifest["configuration"] as? [String: Any], let configuration = Configuration.decodeLeniently(raw) else {
            throw .badFile(path: folder.directory + "/manifest.json", reason: "has no readable 'configuration' (written by another dlnsim version?)")
        }
        let experiment = try Experiment(configuration)
        let G = experiment.gridPoints.count, S = experiment.seeds.count
        let trainLoss = try folder.array("train_loss")
        let recordedTestError = folder.names.contains("test_error") ? try folder.array("test_error") : nil
        let weightsPath = folder.directory + "/weights.npy"
        let weights = FileManager.default.fileExists(atPath: weightsPath) ? try NPY.read(path: weightsPath) : nil
        var notes: [String] = []
        if weights == nil { notes.append("no weights.npy (run with --save-weights): distance_to_prediction is NaN") }
        // The d → ∞ prediction (§6.7) per grid point: synthetic data, pm, λ = 0, a teacher with finitely many values.
        var asymptotic = [Double](repeating: .nan, count: G)
        if configuration.problem.files == nil {
            for (g, p) in experiment.gridPoints.enumerated() where p.parameterization == .pm && p.weightDecay == 0 {
                let prior: StaticFixedPoint.Prior?
                switch configuration.problem.teacherValues {
                case .ones: prior = .bernoulli(p.density)
                case .signs: prior = StaticFixedPoint.Prior(values: [0, 1, -1], weights: [1 - p.density, p.density / 2, p.density / 2])
                case .gaussian: prior = nil
                }
                guard let prior else { continue }
                let unit = configuration.problem.designVariance == .one
                let sigma = unit ? p.noise / Double(p.d).squareRoot() : p.noise
                let s = StaticFixedPoint.solve(delta: Double(p.n) / Double(p.d), noise: sigma, prior: prior,
                                               potential: .hyperbolic(beta: p.alpha * p.alpha))
                if s.converged { asymptotic[g] = unit ? s.error * Double(p.d) : s.error }
            }
        }
        let asymptoticByPoint = asymptotic
        let slots = SharedSlots<[Double]>(count: G * S)
        let tasks: [(group: Experiment.Group, local: Int, g: Int, s: Int)] = experiment.groups.flatMap { group in
            group.points.enumerated().flatMap { local, g in (0..<S).map { (group, local, g, $0) } }
        }
        let precision64 = configuration.training.precision == .float64
        let allTimes = folder.times
        DispatchQueue.concurrentPerform(iterations: tasks.count) { k in
            let (group, local, g, s) = tasks[k]
            let batch = group.batch
            let b = local * S + s
            let replica = batch.replicas[b]
            let d = batch.layout.dimension, n = batch.layout.samples
            let ds = batch.datasets[replica.dataset]
            let x = ds.x.doubles, y = ds.y.doubles
            let point = experiment.gridPoints[g]
            var out = [Double](repeating: .nan, count: quantities.count)
            out[8] = asymptoticByPoint[g]
            // Test error of a predicted w: the run's own definition.
            func testError(_ w: [Double]) -> Double {
                if let test = ds.test {
                    let xt = test.x.doubles, yt = test.y.doubles, nt = test.y.count
                    let r = zip(Dense.multiply(xt, nt, d, w), yt).map { $0 - $1 }
                    return r.reduce(0) { $0 + $1 * $1 } / Double(nt)
                }
                guard let wStar = ds.wStar, let v = batch.designVariance else { return .nan }
                return v * zip(w, wStar).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }
            }
            var predicted: [Double]? = nil
            var beta: [Double]? = nil
            switch (point.parameterization, replica.lambdaU > 0) {
            case (.pm, false), (.uv, false):
                let start = (batch.initialLayers[0].doubles, batch.initialLayers[1].doubles)
                let u0 = Array(start.0[(b * d)..<((b + 1) * d)]), v0 = Array(start.1[(b * d)..<((b + 1) * d)])
                let (bb, offset) = point.parameterization == .pm
                    ? ([Double](repeating: replica.alpha * replica.alpha, count: d), [Double](repeating: 0, count: d))
                    : ImplicitBias.bregman(u0: u0, v0: v0)
                let solution = ImplicitBias.solve(x: x, y: y, n: n, d: d, beta: bb, offset: offset)
                out[6] = solution.converged ? 1 : 0
                if solution.converged {
                    predicted = solution.w
                    beta = bb
                }
                if let l2 = ImplicitBias.minimumNorm(x: x, y: y, n: n, d: d) { out[1] = testError(l2) }
                if let l1 = MinimumL1.solve(x: x, y: y, n: n, d: d) { out[7] = testError(l1) }
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
                if let beta {
                    out[2] = Rates.predictedRate(x: x, n: n, d: d, limit: w, beta: beta, eta: replica.eta,
                                                 meanLoss: configuration.training.loss == .mean) ?? .nan
                }
                if let weights, weights.shape.count == 3, weights.shape[2] == d {
                    let sim = weights.values[((g * S + s) * d)..<((g * S + s + 1) * d)]
                    out[5] = zip(sim, w).map { abs($0 - $1) }.max() ?? .nan
                }
            }
            let times = allTimes[g]
            if precision64 { out[3] = Rates.fittedRate(times: times, loss: trainLoss[g][s]) ?? .nan }
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
        if experiment.gridPoints.contains(where: { $0.parameterization == .deep }) { notes.append("no predictions for deep networks yet") }
        if !precision64 { notes.append("fitted_rate needs a float64 run (the 1e-17…1e-9 window)") }
        return Result(values: values, gridPoints: G, seeds: S, notes: notes)
    }

    /// Writes analysis_<quantity>.npy [grid point, seed] into the folder.
    public static func write(_ result: Result, to directory: String) throws(DLNError) {
        for name in quantities {
            let v = result.values[name]!.flatMap { $0 }
            try NPY.write(v, shape: [result.gridPoints, result.seeds], dtype: .float64,
                          to: URL(fileURLWithPath: directory).appendingPathComponent("analysis_\(name).npy").path)
        }
    }
}
