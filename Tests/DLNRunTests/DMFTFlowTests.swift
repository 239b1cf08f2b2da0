import DLNModel
import DLNRun
import Foundation
import Testing

@testable import DLNTheory

/// The gradient-flow DMFT on a log-spaced grid (docs/theory.md, "Gradient-flow DMFT"): against the uniform-grid GD
/// solver in the small-η limit, the solver choice, and the refusals.
@Suite struct DMFTFlowTests {
    /// On t ≤ 0.5 (δ = 0.5, α = 1, ρ = 0.1): the GD solver at η = 0.01 and 0.005 differs from the flow solver by a
    /// first-order gap (halving with η), and its Richardson extrapolation 2·GD(η/2) − GD(η) to η → 0 agrees with
    /// the flow solver's test error and train loss to ≤ 0.5% at every output time. Same seed: both draw the same
    /// Karhunen–Loève modes of ξ from the same common random numbers, so the Monte-Carlo noise largely cancels.
    @Test func flowMatchesGDInTheSmallStepLimit() throws {
        var settings = DMFTSettings()
        settings.paths = 2000
        settings.responsePaths = 64
        settings.errorSeeds = 1
        settings.tolerance = 1e-6
        settings.maxIterations = 200
        settings.alignedModes = true
        let outputs = [0.05, 0.1, 0.25, 0.5]
        func gd(_ eta: Double) throws -> DMFTResult {
            let p = DMFTProblem(delta: 0.5, eta: eta, alpha: 1, noise: 0, density: 0.1, steps: Int(0.5 / eta))
            return try DMFTSolver.solve(p, settings: settings) { s throws(DLNError) in
                DMFTCPUPaths(problem: p, settings: s)
            }
        }
        let coarse = try gd(0.01)
        let fine = try gd(0.005)
        let flow = try DMFTFlowSolver.solve(
            DMFTProblem(delta: 0.5, eta: 0.005, alpha: 1, noise: 0, density: 0.1, steps: 100), outputs: outputs,
            settings: settings)
        #expect(coarse.converged && fine.converged && flow.converged)
        #expect(DMFTFlowSolver.coarseness(flow) == nil)
        for (c, t) in outputs.enumerated() {
            let k = flow.grid!.outputIndex[c]
            #expect(abs(flow.grid!.times[k] - t) < 1e-15)
            for name in ["test_error", "train_loss"] {
                let f = flow.mean[name]![k]
                let g1 = coarse.mean[name]![Int((t / 0.01).rounded())]
                let g2 = fine.mean[name]![Int((t / 0.005).rounded())]
                let limit = 2 * g2 - g1
                #expect(abs(f - limit) <= 0.005 * abs(limit), "\(name) at t = \(t): flow \(f), GD limit \(limit)")
                #expect(abs(f - g2) < abs(f - g1), "\(name) at t = \(t): the GD gap does not shrink with η")
            }
        }
    }

    /// The damping each solver runs with by default (gd 0.5, flow 0.15; a given `damping` for both), and the flow
    /// solver's default reaching the fixed point of damping 0.5 (δ = 0.5, α = 0.1, λ = 0.05, t ≤ 20, K = 69), to the
    /// tolerance, in fewer iterations (17 against 32 when written).
    @Test func flowDefaultDampingReachesTheSameFixedPointSooner() throws {
        var settings = DMFTSettings()
        #expect(settings.damping(for: .gd) == 0.5 && settings.damping(for: .flow) == 0.15)
        settings.paths = 1000
        settings.responsePaths = 64
        settings.errorSeeds = 1
        settings.tolerance = 1e-6
        settings.maxIterations = 400
        settings.gridRatio = 0.1
        let problem = DMFTProblem(delta: 0.5, eta: 0.01, lambda: 0.05, alpha: 0.1, steps: 2000)
        let outputs = [0.5, 2, 5, 10, 20]
        let fast = try DMFTFlowSolver.solve(problem, outputs: outputs, settings: settings)
        var given = settings
        given.damping = 0.5
        #expect(given.damping(for: .gd) == 0.5 && given.damping(for: .flow) == 0.5)
        let damped = try DMFTFlowSolver.solve(problem, outputs: outputs, settings: given)
        #expect(fast.converged && damped.converged)
        #expect(fast.iterations < damped.iterations, "\(fast.iterations) against \(damped.iterations) iterations")
        for c in outputs.indices {
            let k = fast.grid!.outputIndex[c]
            for name in ["test_error", "train_loss", "mean_uv"] {
                let (a, b) = (fast.mean[name]![k], damped.mean[name]![k])
                #expect(abs(a - b) <= 1e-4 * abs(b), "\(name) at t = \(outputs[c]): \(a) against \(b)")
            }
        }
    }

    /// The default solver: flow for update flow and for GD runs that follow the flow (`followsFlow`: η_D·κ₀ ≤ 1 and
    /// more than 1000 steps), gd for every other GD run; `theory.solver` overrides. Each solver's defaults of paths,
    /// response paths and iterations, and given values kept for both.
    @Test func solverChoice() throws {
        let p = DMFTProblem(delta: 0.5, eta: 0.004, alpha: 2, steps: 300_000)
        var s = DMFTSettings()
        #expect(DMFTMapping.solver(s, problem: p, flowRun: false) == .flow && DMFTMapping.followsFlow(p))
        #expect(!DMFTMapping.followsFlow(DMFTProblem(delta: 0.5, eta: 0.004, steps: 30)))
        #expect(!DMFTMapping.followsFlow(DMFTProblem(delta: 0.5, eta: 0.2, steps: 5000)))
        #expect(DMFTMapping.solver(s, problem: DMFTProblem(delta: 0.5, eta: 0.004, steps: 30), flowRun: false) == .gd)
        #expect(DMFTMapping.solver(s, problem: DMFTProblem(delta: 0.5, eta: 0.2, steps: 5000), flowRun: false) == .gd)
        #expect(DMFTMapping.solver(s, problem: DMFTProblem(delta: 0.5, eta: 0.2, steps: 0), flowRun: true) == .flow)
        s.solver = .gd
        #expect(DMFTMapping.solver(s, problem: p, flowRun: false) == .gd)
        s.solver = .flow
        #expect(DMFTMapping.solver(s, problem: DMFTProblem(delta: 0.5, eta: 0.004, steps: 30), flowRun: false) == .flow)

        let gd = DMFTSettings().resolved(for: .gd)
        let flow = DMFTSettings().resolved(for: .flow)
        #expect(gd.paths == 60_000 && gd.responsePaths == 4_000 && gd.maxIterations == 100)
        #expect(flow.paths == 4_000 && flow.responsePaths == 300 && flow.maxIterations == 300)
        var given = DMFTSettings()
        given.paths = 1000
        given.maxIterations = 7
        #expect(given.resolved(for: .flow).paths == 1000 && given.resolved(for: .gd).maxIterations == 7)
        #expect(given.resolved(for: .gd).responsePaths == 1000)  // at most paths

        // The grokking example (GD, η = 0.004, t ≤ 1200) gets the flow solver and its defaults, also in the manifest.
        let c = try Configuration.parse(
            yaml: "problem: {d: 200, delta: 0.5, design_variance: 1/d, teacher: {density: 0.1}}\n"
                + "training: {loss: sum, horizon: 1200}\ngrid: {alpha: [5], weight_decay: [0.01], learning_rate: 0.004}\n"
                + "theory: dmft")
        let targets = try DMFTMapping.targets(c)
        #expect(targets.map(\.solver) == [.flow])
        #expect(c.theory?.chosenPaths == nil && c.theory?.chosenMaxIterations == nil)
    }

    /// The flow paths' vector exponential within 2 ulp of the C library's over [−708, 0], and their vector implicit
    /// step (eight paths in lockstep) against the scalar one: the same root to 1e-13·(1 + |ρ|) and w, q to match, for
    /// small and large m (ln m from −700 to 5), stiff and soft steps, c0 = 0, k = 0, fewer than eight lanes, and the
    /// lanes that fall back to the scalar step (|ρ| ≥ 300).
    @Test func vectorImplicitStepMatchesTheScalarOne() {
        var worst = 0.0
        for i in 0..<5000 {
            var x = SIMD8<Double>()
            for l in 0..<8 { x[l] = -708 * Double(i * 8 + l) / 39_999 }
            let e = DMFTFlowPaths.exp8(x)
            for l in 0..<8 { worst = max(worst, abs(e[l] - exp(x[l])) / exp(x[l]).ulp) }
        }
        #expect(worst <= 2, "exp8 is \(worst) ulp from exp")
        var rng = SplitMix(seed: 7)
        var checked = 0
        for lm in [-700.0, -100, -37, -5, 0, 5] {
            for k in [0.0, 1e-3, 0.3, 40] {
                for lanes in [8, 5] {
                    var rho = SIMD8<Double>()
                    var c0 = SIMD8<Double>()
                    for l in 0..<lanes {
                        c0[l] = l == 0 ? 0 : (l == 1 ? 400 : 15 * rng.next())
                        rho[l] = c0[l] * (0.5 + 0.5 * rng.next())
                    }
                    let half = exp(lm - M_LN2)
                    let v = DMFTFlowPaths.implicitSteps(from: rho, c0: c0, k: k, lm: lm, half: half, lanes: lanes)
                    for l in 0..<lanes {
                        let r = DMFTFlowPaths.implicitStep(from: rho[l], c0: c0[l], k: k, lm: lm, half: half)
                        // Both stop when Newton's step is below 1e-14·(1 + |ρ|): roots that close, and w, q within
                        // rounding plus the slope (dw/dρ = 2q, dq/dρ = 2w) times that.
                        let dr = 1e-13 * (1 + abs(r.rho))
                        #expect(
                            abs(v.rho[l] - r.rho) <= dr,
                            "ρ \(v.rho[l]) vs \(r.rho) at ln m = \(lm), k = \(k), c0 = \(c0[l]), lane \(l)")
                        #expect(
                            (v.w[l] == r.w || abs(v.w[l] - r.w) <= 1e-12 * abs(r.w) + 4 * r.q * dr)
                                && (v.q[l] == r.q || abs(v.q[l] - r.q) <= 1e-12 * r.q + 4 * abs(r.w) * dr),
                            "w \(v.w[l]) vs \(r.w), q \(v.q[l]) vs \(r.q) at \(lm), \(k), c0 \(c0[l]), ρ \(rho[l])")
                        checked += 1
                    }
                    for l in lanes..<8 { #expect(v.rho[l] == 0 && v.w[l] == 0 && v.q[l] == 0) }
                }
            }
        }
        #expect(checked == 6 * 4 * 13)
    }

    /// A run the theory does not describe is refused by name; a grid too coarse for theory.grid_tolerance is
    /// reported with the time where it fails.
    @Test func badInputIsRefusedOrReported() throws {
        func issues(_ yaml: String) -> [ConfigIssue] {
            do {
                _ = try Configuration.parse(yaml: yaml)
                return []
            } catch {
                if case .invalidConfiguration(_, let list) = error { return list }
                return []
            }
        }
        #expect(
            issues("model: {parameterization: deep_pm, depth: 3}\ntheory: dmft").contains { $0.path == "model.depth" })
        #expect(issues("training: {label_noise: 0.1}\ntheory: dmft").contains { $0.path == "training.label_noise" })
        #expect(
            issues("training: {update: sgd, batch_size: 10}\ntheory: dmft").contains { $0.path == "training.update" })
        #expect(
            issues("training: {update: flow, horizon: 1}\ntheory: {solver: gd}").contains { $0.path == "theory.solver" }
        )
        #expect(issues("theory: {solver: euler}").contains { $0.path == "theory.solver" })
        let config = try Configuration.parse(
            yaml:
                "problem: {d: 100, design_variance: 1/d}\ntraining: {update: flow, horizon: 4, loss: sum, precision: float64}\n"
                + "record: {checkpoints: 6}\ntheory: {paths: 512, response_paths: 32, grid_ratio: 1, "
                + "grid_tolerance: 0.001, max_iterations: 30}")
        let points = try DMFTStudy.run(config) { p, s throws(DLNError) in DMFTCPUPaths(problem: p, settings: s) }
        #expect(points[0].target.solver == .flow)
        let failures = DMFTStudy.failures(points)
        #expect(
            failures.contains { $0.contains("too coarse at t = ") && $0.contains("theory.grid_ratio") }, "\(failures)")
    }
}
