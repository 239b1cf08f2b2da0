import DLNModel
import DLNRun
import DLNTheory
import Foundation
import Testing

/// The DMFT solver (docs/model.md §6): the linear-regression oracle against the random-matrix formula, the Monte-Carlo
/// solver with a linear parameter process against the deterministic closure, and the refusals.
@Suite struct DMFTTests {
    static let linear = DMFTProblem(process: .linear, delta: 0.5, eta: 0.3, noise: 0.2, density: 0.1, steps: 40)

    /// Deterministic linear DMFT = Marchenko–Pastur formula, ≤ 1e-3 relative at every step.
    @Test func linearRegressionMatchesRandomMatrixFormula() {
        for p in [Self.linear, DMFTProblem(process: .linear, delta: 2, eta: 0.1, noise: 0, density: 0.2, steps: 30)] {
            let dmft = DMFTLinearOracle.solve(p)
            let exact = DMFTLinearOracle.randomMatrix(p)
            for k in 0...p.steps {
                #expect(
                    abs(dmft.testError[k] - exact.testError[k]) <= 1e-3 * exact.testError[k],
                    "E_gen at step \(k): \(dmft.testError[k]) vs \(exact.testError[k])")
                #expect(
                    abs(dmft.trainLoss[k] - exact.trainLoss[k]) <= 1e-3 * exact.trainLoss[k],
                    "L_tr at step \(k): \(dmft.trainLoss[k]) vs \(exact.trainLoss[k])")
            }
        }
    }

    /// The Monte-Carlo solver with the linear process: its response (tangents + resolvent) equals the deterministic
    /// one to rounding, and its test error and train loss agree within a few Monte-Carlo standard errors.
    @Test func monteCarloSolverMatchesLinearClosure() throws {
        var settings = DMFTSettings()
        settings.paths = 8000
        settings.responsePaths = 64
        settings.tolerance = 1e-9
        settings.maxIterations = 200
        let p = Self.linear
        let result = try DMFTSolver.solve(p, settings: settings, engine: DMFTCPUPaths(problem: p, settings: settings))
        #expect(result.converged, "residual \(result.residual) after \(result.iterations) iterations")
        let exact = DMFTLinearOracle.solve(p)
        let K = p.gridSize
        var maxDiff = 0.0
        for i in 0..<(K * K) { maxDiff = max(maxDiff, abs(result.response[i] - exact.memory[i])) }
        #expect(maxDiff < 1e-9, "R_r differs by \(maxDiff)")
        for k in 0...p.steps {
            let e = result.mean["test_error"]![k]
            let se = result.standardError["test_error"]![k]
            #expect(
                abs(e - exact.testError[k]) <= 4 * se + 1e-12,
                "E_gen at step \(k): \(e) ± \(se) vs \(exact.testError[k])")
            let l = result.mean["train_loss"]![k]
            let sl = result.standardError["train_loss"]![k]
            #expect(
                abs(l - exact.trainLoss[k]) <= 4 * sl + 1e-12,
                "L_tr at step \(k): \(l) ± \(sl) vs \(exact.trainLoss[k])")
        }
    }

    /// What the DMFT does not cover is refused with the key to change; bad theory settings name their keys.
    @Test func unsupportedRunsAndBadSettingsAreRefused() {
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
            issues("model: {parameterization: uv}\ntheory: dmft").contains {
                $0.path == "model.parameterization" && $0.message.contains("pm")
            })
        #expect(issues("training: {update: multiplicative}\ntheory: dmft").contains { $0.path == "training.update" })
        #expect(
            issues("grid: {update: [gd, multiplicative]}\ntheory: dmft").contains {
                $0.path == "grid.update"
            })
        #expect(issues("theory: lasso").contains { $0.path == "theory" })
        let bad = issues(
            "theory: {paths: 10, damping: 1.5, response_paths: 0, tolerance: 0, max_iterations: 0, seed: -1, speed: 3}")
        for key in [
            "theory.paths", "theory.damping", "theory.response_paths", "theory.tolerance", "theory.max_iterations",
            "theory.seed", "theory.speed"
        ] {
            #expect(bad.contains { $0.path == key }, "no issue at \(key): \(bad)")
        }
        let ok = try? Configuration.parse(yaml: "theory: {paths: 1000, response_paths: 100, damping: 0.6}")
        #expect(ok?.theory?.paths == 1000 && ok?.theory?.damping == 0.6)
    }

    /// A grid too long for memory is refused with the memory it would need; a non-converged iteration says so.
    @Test func memoryAndNonConvergenceAreReported() throws {
        let long = DMFTProblem(delta: 0.5, eta: 0.01, steps: 200_000)
        #expect { try DMFTSolver.checkMemory(long, DMFTSettings()) } throws: {
            "\($0)".contains("GB") && "\($0)".contains("K = 200001")
        }
        var settings = DMFTSettings()
        settings.paths = 512
        settings.responsePaths = 32
        settings.maxIterations = 2
        let p = DMFTProblem(delta: 0.5, eta: 0.2, alpha: 1, noise: 0.1, steps: 20)
        let r = try DMFTSolver.solve(p, settings: settings, engine: DMFTCPUPaths(problem: p, settings: settings))
        #expect(!r.converged && r.iterations == 2 && r.residual > settings.tolerance)
        let config = try Configuration.parse(
            yaml:
                "problem: {d: 100, design_variance: 1/d}\ntraining: {steps: 20, loss: sum}\ngrid: {learning_rate: "
                + "0.2}\ntheory: {paths: 512, response_paths: 32, max_iterations: 2}"
        )
        let points = try DMFTStudy.run(config) { p, s throws(DLNError) in DMFTCPUPaths(problem: p, settings: s) }
        #expect(DMFTStudy.failures(points).first?.contains("after 2 iterations") == true)
    }
}
