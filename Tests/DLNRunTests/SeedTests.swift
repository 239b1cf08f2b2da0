import DLNModel
import DLNRun
import Foundation
import Testing

/// Seeds that differ: the defaults draw independent data per seed, and a configuration whose seeds can only
/// repeat one trajectory gets a warning.
@Suite struct SeedTests {
    /// With the old default (`data: shared`), the defaults (pm, u(0) = v(0) = α) gave 8 identical trajectories,
    /// a spread of exactly 0, and no warning.
    @Test func defaultSeedsGiveDifferentTrajectories() throws {
        let c = try Configuration.parse(
            yaml: "problem: {d: 20, n: 10, teacher: {density: 0.5}}\ntraining: {steps: 30}\nseeds: 8\nrecord: "
                + "{checkpoints: 3}")
        #expect(c.problem.sharing == .independent)
        #expect(c.warnings.isEmpty)
        let result = try Simulation.run(try Experiment(c), on: CPUEngine())
        let losses = result.trainLoss.last!
        #expect(Set(losses).count == 8, "\(losses)")
    }

    /// The warning names the grid points, the seeds and why, and says what to change.
    @Test(arguments: [
        (
            "problem: {data: shared}\nseeds: 8", true,
            "warning: the 8 seeds can only give identical trajectories (shared data "
                + "(problem.data: shared), deterministic initialisation of pm, deterministic updates), so their "
                + "spread is 0; use problem.data: independent, or a random initialisation"
        ),
        (
            "problem: {data: shared}\ngrid: {alpha: [0.1, 1], parameterization: [pm, uv, deep]}\nseeds: 3", true,
            "warning: in all 6 grid points, the 3 seeds of each can only give identical trajectories"
        ),
        ("problem: {data: shared}\nmodel: {parameterization: uv, init: {v_noise: 0.1}}\nseeds: 3", false, ""),
        ("problem: {data: shared}\nseeds: 1", false, ""),
        ("problem: {data: independent}\nseeds: 5", false, ""),
        (
            "problem: {data: shared}\ntraining: {update: flow, horizon: 1, precision: float64}\nseeds: 2", true,
            "deterministic updates"
        )
    ])
    func identicalSeedsAreNamed(yaml: String, warns: Bool, words: String) throws {
        let warnings = try Configuration.parse(yaml: yaml).warnings
        #expect(warnings.count == (warns ? 1 : 0), "\(warnings)")
        if warns { #expect(warnings.first?.contains(words) == true, "\(warnings)") }
    }

    /// User data are the same for every seed: only a random initialisation makes seeds differ.
    @Test func userDataWithADeterministicInitialisationWarns() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("dlnsim-seed-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try NPY.write([1.0, 2, 3, 4, 5, 6], shape: [3, 2], dtype: .float64, to: dir + "/X.npy")
        try NPY.write([1.0, 0, 1], shape: [3], dtype: .float64, to: dir + "/y.npy")
        let c = try Configuration.parse(
            yaml: "problem: {files: {X: X.npy, y: y.npy}}\nseeds: 4", baseDirectory: dir)
        #expect(c.warnings.count == 1)
        #expect(c.warnings.first?.contains("the same user data (problem.files) for every seed") == true)
        #expect(c.warnings.first?.contains(", or seeds: 1") == true)
    }
}
