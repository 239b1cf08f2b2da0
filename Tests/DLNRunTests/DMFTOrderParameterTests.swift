import DLNModel
import DLNRun
import DLNTheory
import Foundation
import Testing

/// The DMFT's order parameters mean(u⊙v) and mean((u²+v²)/2) against a finite-d ensemble's `mean_uv`, `mean_q`.
@Suite struct DMFTOrderParameterTests {
    /// The oracle tier's set-up (DMFTOracleTests: δ = 0.5, σ = 0.1, ρ = 0.1, α = 1, η = 0.2, 30 steps), smaller: a
    /// d = 1000 × 4 ensemble against 8000 paths. mean_uv and mean_q within the 4% of that test's test error, and
    /// mean_uv visibly below α² = 1 (GD changes uv, unlike the flow).
    @Test func orderParametersMatchEnsemble() throws {
        let yaml = """
            problem: {d: 1000, delta: 0.5, design_variance: 1/d, noise: 0.1, teacher: {density: 0.1, support: exact}, \
            data: independent}
            training: {loss: sum, steps: 30, precision: float64}
            grid: {alpha: 1, learning_rate: 0.2}
            seeds: 4
            record: {steps: [2, 5, 10, 20, 30]}
            theory: {method: dmft, paths: 8000, response_paths: 200}
            """
        let config = try Configuration.parse(yaml: yaml)
        let sim = try Simulation.run(try Experiment(config), on: CPUEngine())
        let points = try DMFTStudy.run(config) { p, s throws(DLNError) in DMFTCPUPaths(problem: p, settings: s) }
        let dmft = points[0]
        #expect(dmft.result.converged, "residual \(dmft.result.residual)")
        var moved = 0.0
        for (c, step) in sim.checkpoints.enumerated() where step > 0 {
            for name in ["mean_uv", "mean_q"] {
                let values = sim.observations[c][name]!
                let mean = values.reduce(0, +) / Double(values.count)
                let theory = dmft.target.scale[name]! * dmft.result.mean[name]![step]
                #expect(
                    abs(theory - mean) <= 0.04 * abs(mean),
                    "\(name) at step \(step): DMFT \(theory), simulation \(mean)")
            }
            moved = max(moved, abs(1 - dmft.result.mean["mean_uv"]![step]))
        }
        #expect(moved > 1e-3, "mean_uv stays at α² = 1 to \(moved)")
    }
}
