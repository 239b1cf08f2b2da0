import DLNModel
import DLNRun
import DLNTheory
import Foundation
import Testing

/// The long DMFT oracle run (several seconds): the DMFT solver (docs/model.md §6) against a large simulated ensemble.
/// The solver's quick checks are in DLNRunTests (DMFTTests).
@Suite struct DMFTOracleTests {
    /// The DLN against a d = 2000 ensemble of 8 data sets on an early window (the train loss far above the
    /// Monte-Carlo floor): test error, train loss and overlap within a few percent, on the run's checkpoints.
    @Test func dlnMatchesLargeEnsembleEarly() throws {
        let yaml = """
            problem: {d: 2000, delta: 0.5, design_variance: 1/d, noise: 0.1, teacher: {density: 0.1, support: exact}, \
            data: independent}
            training: {loss: sum, steps: 30, precision: float64}
            grid: {alpha: 1, learning_rate: 0.2}
            seeds: 8
            record: {steps: [2, 5, 10, 20, 30]}
            theory: {method: dmft, paths: 30000, response_paths: 1000}
            """
        let config = try Configuration.parse(yaml: yaml)
        let experiment = try Experiment(config)
        let sim = try Simulation.run(experiment, on: CPUEngine())
        let points = try DMFTStudy.run(config) { p, s throws(DLNError) in DMFTCPUPaths(problem: p, settings: s) }
        let dmft = points[0]
        #expect(dmft.result.converged, "residual \(dmft.result.residual)")
        #expect(dmft.target.checkpoints == sim.checkpoints)
        for (c, step) in sim.checkpoints.enumerated() where step > 0 {
            for (name, tolerance) in [("test_error", 0.04), ("train_loss", 0.06), ("overlap", 0.06)] {
                let values = sim.observations[c][name]!
                let mean = values.reduce(0, +) / Double(values.count)
                let theory = dmft.target.scale[name]! * dmft.result.mean[name]![step]
                #expect(
                    abs(theory - mean) <= tolerance * abs(mean),
                    "\(name) at step \(step): DMFT \(theory), simulation \(mean)")
            }
        }
    }
}
