import DLNModel
import DLNTheory
import Foundation

/// One grid point of a run mapped onto the DMFT: the problem in DMFT units, the simulation's checkpoint steps, and
/// the factors that turn the DMFT's observables into the simulation's.
public struct DMFTTarget: Sendable {
    /// The grid point (index into `Experiment.gridPoints` order).
    public let gridPoint: Int
    public let problem: DMFTProblem
    /// The run's checkpoint steps for this grid point.
    public let checkpoints: [Int]
    /// t = step·η (the run's clock).
    public let times: [Double]
    /// The solver: `DMFTMapping.solver` (the settings' choice or the default rule).
    public let solver: DMFTSolverKind
    /// The checkpoint times in DMFT units (the flow solver's outputs): t_DMFT = timeScale × t.
    public let outputs: [Double]
    /// DMFT time per unit of the run's time t (c·s², docs/theory.md).
    public let timeScale: Double
    /// Simulation observable = factor × DMFT observable (overlap, norm_sq, mean_uv and mean_q: 1; the layers u, v
    /// are the same in both units).
    public let scale: [String: Double]
}

/// Maps a run configuration onto the DMFT of docs/model.md §6 (X ~ N(0, 1/d), ℓ = ½‖Xw − y‖²).
///
/// With s² = d (design variance 1) or 1 (1/d) and c = 1/n (loss mean) or 1 (sum): X = s·X_D, y = s·y_D, the run's
/// gradient is c·s²·g_D, so GD with step η is DMFT GD with η_D = c·s²·η, λ_D = λ_u/(c·s²) (η_Dλ_D = ηλ_u),
/// σ_D = σ/s, step for step. The run's train loss is (2·lossScale·n·s²)·½C_r(k,k), its test error s²·C_Δ(k,k).
public enum DMFTMapping {
    /// What the DMFT does not describe, with the key paths to change.
    public static func unsupported(_ c: Configuration) -> [ConfigIssue] {
        var out: [ConfigIssue] = []
        if c.problem.files != nil {
            out.append(
                ConfigIssue(
                    "problem.files",
                    "theory: dmft describes synthetic Gaussian data (d → ∞); user data files have no DMFT limit"))
        }
        for p in c.grid.parameterization ?? [c.model.parameterization] where p != .pm {
            out.append(
                ConfigIssue(
                    c.grid.parameterization != nil ? "grid.parameterization" : "model.parameterization",
                    "theory: dmft is derived for parameterization pm (w = (u²−v²)/2, u₀ = v₀ = α), got \(p.rawValue)"))
            break
        }
        for u in c.grid.update ?? [c.training.update] where u != .gd && u != .flow {
            out.append(
                ConfigIssue(
                    c.grid.update != nil ? "grid.update" : "training.update",
                    "theory: dmft covers gradient descent (update: gd, step for step) and gradient flow (update: "
                        + "flow), got \(u.rawValue)"))
            break
        }
        if let settings = c.theory, settings.solver == .gd, (c.grid.update ?? [c.training.update]).contains(.flow) {
            out.append(
                ConfigIssue(
                    "theory.solver", "gd is the discrete-time solver of update: gd; update: flow needs solver: flow"))
        }
        if c.model.depth > 2 || (c.grid.depth ?? []).contains(where: { $0 > 2 }) {
            out.append(
                ConfigIssue(
                    c.grid.depth != nil ? "grid.depth" : "model.depth",
                    "theory: dmft is derived for two layers (w = (u²−v²)/2), depth must be 2"))
        }
        let stochastic: [(String, Bool)] = [
            ("training.label_noise", c.training.labelNoise > 0),
            ("grid.label_noise", (c.grid.labelNoise ?? []).contains { $0 > 0 }),
            ("training.gradient_noise", c.training.gradientNoise > 0),
            ("training.momentum", c.training.momentum > 0),
            ("grid.momentum", (c.grid.momentum ?? []).contains { $0 > 0 })
        ]
        for (key, on) in stochastic where on {
            out.append(
                ConfigIssue(
                    key, "theory: dmft describes deterministic full-batch dynamics; \(key) must be 0 (or drop theory)"))
        }
        return out
    }

    /// The DMFT problem and output scales of every grid point.
    public static func targets(_ c: Configuration, file: String = "<config>") throws(DLNError) -> [DMFTTarget] {
        let issues = unsupported(c)
        if !issues.isEmpty { throw .invalidConfiguration(file: file, issues: issues) }
        var out: [DMFTTarget] = []
        for (g, point) in Experiment.gridPoints(c).enumerated() {
            let d = Double(point.d)
            let n = Double(point.n)
            let s2 = c.problem.designVariance == .one ? d : 1
            let cs = (c.training.loss == .mean ? 1 / n : 1) * s2
            let flowRun = point.update == .flow
            let steps = flowRun ? [] : checkpointSteps(c, eta: point.learningRate)
            let times = flowRun ? flowTimes(c) : steps.map { Double($0) * point.learningRate }
            let problem = DMFTProblem(
                process: .pm, delta: n / d, eta: point.learningRate * cs, lambda: point.lambdaU / cs,
                alpha: point.alpha, noise: point.noise / s2.squareRoot(), density: point.density,
                values: c.problem.teacherValues, steps: steps.last ?? 0)
            let lossScale = c.training.loss == .mean ? 0.5 / n : 0.5
            out.append(
                DMFTTarget(
                    gridPoint: g, problem: problem, checkpoints: flowRun ? times.map { _ in -1 } : steps,
                    times: times, solver: solver(c.theory ?? DMFTSettings(), problem: problem, flowRun: flowRun),
                    outputs: times.map { $0 * cs }, timeScale: cs,
                    scale: [
                        "train_loss": 2 * lossScale * n * s2, "test_error": s2, "overlap": 1, "norm_sq": 1,
                        "mean_uv": 1, "mean_q": 1
                    ]))
        }
        return out
    }

    /// Update flow: the run's checkpoint times (the same rule as `Experiment`).
    static func flowTimes(_ c: Configuration) -> [Double] {
        guard let horizon = c.training.horizon else { return [] }
        let first = min(c.record.start ?? c.grid.learningRate.max()!, horizon)
        return Experiment.timeSchedule(
            horizon: horizon, first: first, count: c.record.checkpoints, linear: c.record.linear)
    }

    /// The run's checkpoint steps for a learning rate (the same rule as `Experiment`).
    static func checkpointSteps(_ c: Configuration, eta: Double) -> [Int] {
        if let horizon = c.training.horizon {
            let etaMax = c.grid.learningRate.max()!
            let first = min(max(etaMax, c.record.start ?? etaMax), horizon)
            return Experiment.timeSchedule(
                horizon: horizon, first: first, count: c.record.checkpoints, linear: c.record.linear
            )
            .map { Int(($0 / eta).rounded()) }
        }
        return Experiment.schedule(
            steps: c.training.steps, count: c.record.checkpoints, explicit: c.record.steps,
            start: Int((c.record.start ?? 1).rounded()), linear: c.record.linear)
    }
}

/// Solving every grid point of a run and writing the curves.
public enum DMFTStudy {
    /// One solved grid point.
    public struct Point: Sendable {
        public let target: DMFTTarget
        public let result: DMFTResult
    }

    /// Solves every grid point (grid points with the same DMFT problem share one solve). `engine` builds the path
    /// engine for a problem; `progress` hears (grid point, iteration, residual).
    public static func run(
        _ c: Configuration, file: String = "<config>", memoryLimit: Double? = nil,
        engine: (DMFTProblem, DMFTSettings) throws(DLNError) -> any DMFTPathEngine,
        progress: ((Int, Int, Double) -> Void)? = nil
    ) throws(DLNError) -> [Point] {
        let settings = c.theory ?? DMFTSettings()
        let targets = try DMFTMapping.targets(c, file: file)
        try checkTwoTime(settings, targets, file: file)
        for t in targets where t.solver == .gd {
            try DMFTSolver.checkMemory(t.problem, settings.resolved(for: .gd), limit: memoryLimit)
        }
        for t in targets where t.solver == .flow {
            let s = settings.resolved(for: .flow)
            try DMFTFlowSolver.check(
                t.problem, grid: DMFTFlowSolver.grid(t.problem, outputs: t.outputs, settings: s), settings: s,
                limit: memoryLimit)
        }
        struct Key: Hashable {
            let problem: DMFTProblem
            let outputs: [Double]
            let solver: DMFTSolverKind
        }
        var cache: [Key: DMFTResult] = [:]
        var out: [Point] = []
        for t in targets {
            let key = Key(problem: t.problem, outputs: t.solver == .flow ? t.outputs : [], solver: t.solver)
            if let hit = cache[key] {
                out.append(Point(target: t, result: hit))
                continue
            }
            let report: (Int, Double) -> Void = { progress?(t.gridPoint, $0, $1) }
            let resolved = settings.resolved(for: t.solver)
            let r =
                t.solver == .flow
                ? try DMFTFlowSolver.solve(t.problem, outputs: t.outputs, settings: resolved, progress: report)
                : try DMFTSolver.solve(
                    t.problem, settings: resolved, engines: { s throws(DLNError) in try engine(t.problem, s) },
                    progress: report)
            cache[key] = r
            out.append(Point(target: t, result: r))
        }
        return out
    }

    /// Writes dmft_<observable>.npy ([grid point, 2, checkpoint]: mean, then Monte-Carlo standard error, in the
    /// run's units), dmft_times.npy ([grid point, checkpoint]), dmft.csv and dmft_manifest.json into `directory`;
    /// with `theory.two_time`, also dmft_correlation.npy and dmft_response.npy (`twoTime(_:)` on the checkpoints).
    public static func write(_ points: [Point], to directory: String) throws(DLNError) {
        let dir = URL(fileURLWithPath: directory)
        let G = points.count
        let C = points.first?.target.checkpoints.count ?? 0
        for name in DMFTResult.observables {
            var values: [Double] = []
            for p in points {
                let f = p.target.scale[name] ?? 1
                let columns = p.target.checkpoints.indices.map {
                    p.result.column(output: $0, step: p.target.checkpoints[$0])
                }
                values += columns.map { f * p.result.mean[name]![$0] }
                values += columns.map { f * p.result.standardError[name]![$0] }
            }
            try NPY.write(
                values, shape: [G, 2, C], dtype: .float64, to: dir.appendingPathComponent("dmft_\(name).npy").path)
        }
        try NPY.write(
            points.flatMap(\.target.times), shape: [G, C], dtype: .float64,
            to: dir.appendingPathComponent("dmft_times.npy").path)
        let twoTime = points.first?.result.settings.twoTime ?? false
        if twoTime { try writeTwoTime(points, to: dir) }
        var csv =
            "point,step,t," + DMFTResult.observables.flatMap { ["\($0)", "\($0)_se"] }.joined(separator: ",") + "\n"
        for (g, p) in points.enumerated() {
            for (c, step) in p.target.checkpoints.enumerated() {
                csv += "\(g),\(step),\(p.target.times[c])"
                let k = p.result.column(output: c, step: step)
                for name in DMFTResult.observables {
                    let f = p.target.scale[name] ?? 1
                    csv += ",\(f * p.result.mean[name]![k]),\(f * p.result.standardError[name]![k])"
                }
                csv += "\n"
            }
        }
        try OutputFile.write(text: csv, to: dir.appendingPathComponent("dmft.csv").path)
        let first = points.first?.result.settings ?? DMFTSettings()
        // Top level: the settings as given (null: each solver's default); per grid point: what it ran with.
        let manifest: [String: Any] = [
            "theory": "dmft",
            "reference":
                "docs/theory.md: solver gd (discrete time, matched to GD step for step) or flow (gradient flow on a "
                + "log-spaced grid)",
            "grid_ratio": first.gridRatio, "grid_tolerance": first.gridTolerance,
            "paths": first.chosenPaths ?? NSNull(), "response_paths": first.chosenResponsePaths ?? NSNull(),
            "damping": first.damping ?? NSNull(), "tolerance": first.tolerance,
            "max_iterations": first.chosenMaxIterations ?? NSNull(), "seed": first.seed, "two_time": first.twoTime,
            "standard_error":
                "over \(first.errorSeeds) independent solves (seeds \(first.seed)…\(first.seed + first.errorSeeds - 1)): "
                + "their mean, and the spread of that mean",
            "converged": points.allSatisfy(\.result.converged),
            "grid_points": points.map { p -> [String: Any] in
                let pr = p.result.problem
                return [
                    "point": p.target.gridPoint, "iterations": p.result.iterations,
                    "residual": p.result.residual.isFinite ? p.result.residual : -1,
                    "converged": p.result.converged, "seconds": p.result.seconds, "engine": p.result.engine,
                    "solver": p.target.solver.rawValue, "damping": p.result.settings.damping(for: p.target.solver),
                    "paths": p.result.settings.paths, "response_paths": p.result.settings.responsePaths,
                    "max_iterations": p.result.settings.maxIterations,
                    "grid_size": p.result.grid?.count ?? pr.gridSize,
                    "residual_history": p.result.history.map { $0.isFinite ? $0 : -1 },
                    "dmft_units": [
                        "delta": pr.delta, "eta": pr.eta, "lambda": pr.lambda, "alpha": pr.alpha, "noise": pr.noise,
                        "density": pr.density, "steps": pr.steps
                    ],
                    "scale": p.target.scale
                ]
            },
            "files":
                "dmft_<observable>.npy [grid point, 2 (mean, standard error), checkpoint] for train_loss, test_error, "
                + "overlap, norm_sq (the overlap reading: E[ww*], E[w²]) and mean_uv, mean_q (the literal reading: "
                + "E[uv], E[(u²+v²)/2], as the simulation records mean(u⊙v), mean((u²+v²)/2)) in the run's units; "
                + "dmft_times.npy [grid point, checkpoint]"
                + (twoTime
                    ? "; dmft_correlation.npy, dmft_response.npy [grid point, checkpoint t, checkpoint s] (DMFT units, "
                        + "first solve): C_Δ(t,s) = E[Δ(t)Δ(s)] (times scale.test_error: the run's units) and "
                        + "R_Δ(t,s) = E[∂Δ(t)/∂h(s)] per unit DMFT time, 0 for s ≥ t" : "")
        ]
        guard let data = try? JSONSerialization.data(withJSONObject: manifest, options: [.prettyPrinted, .sortedKeys])
        else {
            throw .outputFailure(path: directory, reason: "cannot encode the DMFT manifest")
        }
        try OutputFile.write(
            text: String(decoding: data, as: UTF8.self), to: dir.appendingPathComponent("dmft_manifest.json").path)
    }

    /// The grid points whose iteration did not converge: "grid point g: residual r after i iterations".
    public static func failures(_ points: [Point]) -> [String] {
        var out = points.filter { !$0.result.converged }.map {
            String(
                format: "grid point %d: residual %.3g after %d iterations (tolerance %.3g)", $0.target.gridPoint,
                $0.result.residual,
                $0.result.iterations, $0.result.settings.tolerance)
        }
        for p in points {
            if let bad = DMFTFlowSolver.coarseness(p.result) {
                out.append(
                    String(
                        format:
                            "grid point %d: the flow grid is too coarse at t = %.4g (a curve leaves the straight line "
                            + "through its neighbours by %.3g of its range, more than theory.grid_tolerance = %.3g): "
                            + "lower theory.grid_ratio (now %.3g)",
                        p.target.gridPoint, bad.time / p.target.timeScale, bad.deviation,
                        p.result.settings.gridTolerance, p.result.settings.gridRatio))
            }
        }
        return out
    }
}

extension DMFTStudy {
    /// Adds the DMFT curves of a run folder (dmft_<observable>.npy, when present) to a figure against t: dashed,
    /// with a ±2 standard-error band; one per distinct curve (grid points with the same DMFT problem share one).
    /// `color`: the colour of grid point g's simulation curve (nil when not drawn); a curve shared by several grid
    /// points is dark grey.
    static func overlay(
        _ plot: inout SVGPlot, folder: OutputFolder, observable: String, label: (Int) -> String,
        color: (Int) -> String? = { _ in nil }
    ) {
        let dir = URL(fileURLWithPath: folder.directory)
        guard let a = try? NPY.read(path: dir.appendingPathComponent("dmft_\(observable).npy").path),
            a.shape.count == 3, a.shape[1] == 2,
            let t = try? NPY.read(path: dir.appendingPathComponent("dmft_times.npy").path), t.shape.count == 2,
            t.shape[0] == a.shape[0], t.shape[1] == a.shape[2]
        else { return }
        let G = a.shape[0]
        let C = a.shape[2]
        var seen: [[Double]] = []
        let distinct = Set((0..<G).map { g in Array(a.values[(g * 2 * C)..<(g * 2 * C + C)]) }).count
        let converged =
            (try? JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("dmft_manifest.json")))
            as? [String: Any])?["converged"] as? Bool ?? true
        for g in 0..<G {
            let mean = Array(a.values[(g * 2 * C)..<(g * 2 * C + C)])
            let se = Array(a.values[(g * 2 * C + C)..<((g + 1) * 2 * C)])
            if seen.contains(mean) { continue }
            seen.append(mean)
            let x = Array(t.values[(g * C)..<((g + 1) * C)])
            let name = "DMFT d → ∞" + (converged ? "" : " (NOT converged)") + (distinct > 1 ? ", \(label(g))" : "")
            var series = SVGPlot.Series(
                label: name, x: x, y: mean, low: zip(mean, se).map { $0 - 2 * $1 },
                high: zip(mean, se).map { $0 + 2 * $1 }, dashed: true)
            // A curve shared by several grid points (the same d → ∞ problem) belongs to none of them: dark grey.
            let sharers = (0..<G).filter { Array(a.values[($0 * 2 * C)..<($0 * 2 * C + C)]) == mean }.count
            series.color = sharers == 1 ? color(g) ?? "#333333" : "#333333"
            plot.series.append(series)
        }
    }
}

extension DMFTStudy {
    /// The finite-size gap: (ensemble mean − DMFT)/DMFT of an observable against t, one curve per grid point, with
    /// a ±2 standard-error band (the ensemble's and the DMFT's errors added in quadrature). Nil when the folder
    /// has no DMFT curves.
    public static func gapFigure(_ folder: OutputFolder, observable: String = "test_error") -> SVGPlot? {
        let dir = URL(fileURLWithPath: folder.directory)
        guard let a = try? NPY.read(path: dir.appendingPathComponent("dmft_\(observable).npy").path),
            a.shape.count == 3,
            a.shape[0] == folder.rows.count, let sim = try? folder.array(observable),
            sim.first?.first?.count == a.shape[2]
        else { return nil }
        let C = a.shape[2]
        var plot = SVGPlot(
            title: "finite-size gap: (ensemble mean − DMFT) / DMFT, \(Report.pretty(observable)), ±2 s.e.",
            xLabel: "t (gradient-flow time)", yLabel: "relative gap", xScale: .log, yScale: .linear)
        let styles = Report.pointStyles(folder, points: Array(0..<a.shape[0]))
        for g in 0..<a.shape[0] {
            let mean = Array(a.values[(g * 2 * C)..<(g * 2 * C + C)])
            let se = Array(a.values[(g * 2 * C + C)..<((g + 1) * 2 * C)])
            var y: [Double] = []
            var lo: [Double] = []
            var hi: [Double] = []
            for c in 0..<C {
                let v = sim[g].map { $0[c] }.filter(\.isFinite)
                let m = v.reduce(0, +) / Double(max(1, v.count))
                let sd =
                    (v.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(max(1, v.count - 1))).squareRoot()
                    / Double(max(1, v.count)).squareRoot()
                let gap = (m - mean[c]) / mean[c]
                let err = 2 * ((sd / mean[c]) * (sd / mean[c]) + (se[c] / mean[c]) * (se[c] / mean[c])).squareRoot()
                y.append(gap)
                lo.append(gap - err)
                hi.append(gap + err)
            }
            var series = SVGPlot.Series(label: Report.label(folder, g), x: folder.times[g], y: y, low: lo, high: hi)
            series.color = styles[g].color
            series.dash = styles[g].dash
            plot.series.append(series)
        }
        plot.caption =
            "Lines: (mean over \(folder.seeds) seeds − DMFT mean) / DMFT mean of the \(Report.pretty(observable)) per "
            + "grid point; bands: ± 2 standard errors (the seeds' and the DMFT's Monte-Carlo errors added in "
            + "quadrature). A band that contains 0 is a gap consistent with none. "
            + Report.styleSentence(folder)
        return plot
    }

    /// The extra figures of a run with DMFT curves (the finite-size gap of the test error), for `Report.write`.
    public static func figures(_ folder: OutputFolder) -> [(String, SVGPlot)] {
        gapFigure(folder).map { [("dmft_gap_test_error.svg", $0)] } ?? []
    }
}
