import DLNCore
import Foundation
import Testing

/// The DMFT solver (theory.md §7): the linear-regression oracle against the random-matrix formula, the Monte-Carlo
/// solver with a linear parameter process against the deterministic closure, and the refusals.
@Suite struct DMFTTests {
    static let linear = DMFTProblem(process: .linear, delta: 0.5, eta: 0.3, noise: 0.2, density: 0.1, steps: 40)

    /// Deterministic linear DMFT = Marchenko–Pastur formula, ≤ 1e-3 relative at every step.
    @Test func linearRegressionMatchesRandomMatrixFormula() {
        for p in [Self.linear, DMFTProblem(process: .linear, delta: 2, eta: 0.1, noise: 0, density: 0.2, steps: 30)] {
            let dmft = DMFTLinearOracle.solve(p)
            let exact = DMFTLinearOracle.randomMatrix(p)
            for k in 0...p.steps {
                #expect(abs(dmft.testError[k] - exact.testError[k]) <= 1e-3 * exact.testError[k], "E_gen at step \(k): \(dmft.testError[k]) vs \(exact.testError[k])")
                #expect(abs(dmft.trainLoss[k] - exact.trainLoss[k]) <= 1e-3 * exact.trainLoss[k], "L_tr at step \(k): \(dmft.trainLoss[k]) vs \(exact.trainLoss[k])")
            }
        }
    }

    /// The Monte-Carlo solver with the linear process: its response (tangents + resolvent) equals the deterministic
    /// one to rounding, and its test error and train loss agree within a few Monte-Carlo standard errors.
    @Test func monteCarloSolverMatchesLinearClosure() throws {
        var settings = DMFTSettings()
        settings.paths = 8000; settings.responsePaths = 64; settings.tolerance = 1e-9; settings.maxIterations = 200
        let p = Self.linear
        let result = try DMFTSolver.solve(p, settings: settings, engine: DMFTCPUPaths(problem: p, settings: settings))
        #expect(result.converged, "residual \(result.residual) after \(result.iterations) iterations")
        let exact = DMFTLinearOracle.solve(p)
        let K = p.gridSize
        var maxDiff = 0.0
        for i in 0..<(K * K) { maxDiff = max(maxDiff, abs(result.response[i] - exact.memory[i])) }
        #expect(maxDiff < 1e-9, "R_r differs by \(maxDiff)")
        for k in 0...p.steps {
            let e = result.mean["test_error"]![k], se = result.standardError["test_error"]![k]
            #expect(abs(e - exact.testError[k]) <= 4 * se + 1e-12, "E_gen at step \(k): \(e) ± \(se) vs \(exact.testError[k])")
            let l = result.mean["train_loss"]![k], sl = result.standardError["train_loss"]![k]
            #expect(abs(l - exact.trainLoss[k]) <= 4 * sl + 1e-12, "L_tr at step \(k): \(l) ± \(sl) vs \(exact.trainLoss[k])")
        }
    }
}
