import DLNModel
import DLNTheory
import Foundation
import Testing

@testable import DLNRun

/// The matrix model under gradient descent against Saxe et al.'s mode dynamics (aligned balanced start, whitened
/// inputs): GD with step η follows the flow's a(t) to O(η), and at depth 2 the closed form. With λ > 0 the modes
/// settle at the decayed fixed points, and the imbalance D_l decays as e^{−2λt} up to O(η²) per step (gradient flow
/// keeps it to 1e-9: MatrixFlowTests).
struct MatrixSaxeTests {
    static func run(depth: Int, alpha: Double, eta: Double, steps: Int, lambda: Double = 0) throws -> MatrixRun {
        let hidden = Array(repeating: "6", count: depth - 1).joined(separator: ", ")
        let yaml = """
            model: {parameterization: matrix, widths: [6, \(hidden), 5], init: {kind: aligned}}
            problem: {n: 24, whiten: true, teacher: {singular_values: [2.5, 1.5, 0.8]}}
            training: {steps: \(steps), precision: float64}
            grid: {alpha: \(alpha), learning_rate: \(eta), weight_decay: \(lambda)}
            seeds: 2
            record: {checkpoints: 30, spacing: linear}
            """
        return try MatrixRun.run(try MatrixConfiguration.parse(yaml: yaml, file: "saxe.yaml"), device: nil)
    }

    /// The largest |a_GD − a_theory| over checkpoints, modes and seeds, relative to s.
    static func worst(_ run: MatrixRun) -> Double {
        let theory = run.theoryModeStrength!
        let s = run.configuration.teacherSingularValues
        var worst = 0.0
        for b in 0..<run.setup.batch.replicas {
            for k in run.steps.indices {
                for i in s.indices {
                    worst = max(worst, abs(run.modeStrength[b][k][i] - theory[0][k][i]) / s[i])
                }
            }
        }
        return worst
    }

    @Test(arguments: [2, 3])
    func gradientDescentFollowsTheModeDynamics(depth: Int) throws {
        // Halving η halves the distance: O(η), and small at η = 0.002.
        let coarse = Self.worst(try Self.run(depth: depth, alpha: 0.3, eta: 0.004, steps: 2000))
        let fine = Self.worst(try Self.run(depth: depth, alpha: 0.3, eta: 0.002, steps: 4000))
        #expect(fine < 0.01, "depth \(depth): largest distance to the mode ODE \(fine) (relative to s)")
        #expect(fine < 0.65 * coarse && fine > 0.35 * coarse, "O(η): \(coarse) at η = 0.004, \(fine) at 0.002")
    }

    @Test func weightDecaySettlesAtTheDecayedFixedPoint() throws {
        let lambda = 0.1
        let run = try Self.run(depth: 2, alpha: 0.5, eta: 0.01, steps: 3000, lambda: lambda)
        let last = run.steps.count - 1
        for (i, s) in run.configuration.teacherSingularValues.enumerated() {
            let a = run.modeStrength[0][last][i]
            #expect(abs(a - (s - lambda)) < 1e-6, "mode \(i): a(∞) = s − λ = \(s - lambda), got \(a)")
        }
        // Balanced at the start: D_l(0) = 0, and the residual (absolute) starts at exactly 0.
        #expect(run.conservation[0][0] == 0)
    }

    @Test func gaussianStartsLoseTheirImbalanceAtRateTwoLambda() throws {
        let yaml = """
            model: {parameterization: matrix, widths: [5, 7, 4]}
            problem: {n: 30, teacher: {singular_values: [1, 0.5]}}
            training: {steps: 2000, precision: float64}
            grid: {alpha: 0.8, learning_rate: 0.001, weight_decay: 0.2}
            record: {checkpoints: 5}
            """
        let run = try MatrixRun.run(try MatrixConfiguration.parse(yaml: yaml, file: "g.yaml"), device: nil)
        // GD changes D_l by O(η²) per step: relative residual ≤ steps·η²·(scale) ≈ 2e-3 here.
        let worst = run.conservation[0].max()!
        #expect(worst < 5e-3, "conservation residual \(worst)")
        #expect(run.conservation[0][0] == 0)
    }
}

/// Gradient flow (adaptive Dormand–Prince, float64) against Saxe's closed form (depth 2) and quadrature (depth 3, 4):
/// the oracle, ≤ 1e-6 relative at every checkpoint, with and without weight decay.
struct MatrixSaxeFlowTests {
    @Test(arguments: [(2, 0.0), (3, 0.0), (4, 0.0), (2, 0.1), (3, 0.05)])
    func flowMatchesTheModeDynamics(depth: Int, lambda: Double) throws {
        let hidden = Array(repeating: "5", count: depth - 1).joined(separator: ", ")
        let yaml = """
            model: {parameterization: matrix, widths: [6, \(hidden), 4], init: {kind: aligned}}
            problem: {n: 20, whiten: true, teacher: {singular_values: [2, 1.2, 0.6]}}
            training: {update: flow, horizon: 12, precision: float64, flow: {rtol: 1e-10, atol: 1e-13}}
            grid: {alpha: 0.4, weight_decay: \(lambda)}
            seeds: 2
            record: {checkpoints: 25}
            """
        let run = try MatrixRun.run(try MatrixConfiguration.parse(yaml: yaml, file: "flow.yaml"), device: nil)
        let theory = try #require(run.theoryModeStrength)
        var worst = 0.0
        for b in 0..<2 {
            for k in run.steps.indices {
                for i in 0..<3 {
                    let a = theory[0][k][i]
                    worst = max(worst, abs(run.modeStrength[b][k][i] - a) / max(abs(a), 1e-3))
                }
            }
        }
        #expect(worst < 1e-6, "depth \(depth), λ = \(lambda): largest relative distance \(worst)")
        #expect(run.flowStatus.allSatisfy { $0 == 0 })
        // Balanced start, so D_l(0) = 0 and the absolute residual stays at the integrator's accuracy.
        #expect(run.conservation.flatMap { $0 }.max()! < 1e-8)
    }
}
