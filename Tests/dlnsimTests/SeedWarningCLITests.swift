import DLNModel
import DLNRun
import Foundation
import Testing

/// `dlnsim run` and `dlnsim run --check` warn on stderr when the seeds of a grid point can only be identical, and
/// manifest.json lists the warning.
@Suite struct SeedWarningCLITests {
    @Test func identicalSeedsAreWarnedAboutAndRecorded() throws {
        let dir = CLITests.temporary()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let config = dir + "/c.yaml"
        try "problem: {d: 8, n: 4, data: shared}\ntraining: {steps: 10}\nseeds: 3\nrecord: {checkpoints: 2}\n".write(
            toFile: config, atomically: true, encoding: .utf8)
        let words = "warning: the 3 seeds can only give identical trajectories"
        let check = try CLITests.run(["run", config, "--check"])
        #expect(check.status == 0 && check.stderr.contains(words), "\(check.stderr)")
        let run = try CLITests.run(["run", config, "--device", "cpu", "--out", dir + "/o", "--quiet"])
        #expect(run.status == 0 && run.stderr.contains(words), "\(run.stderr)")
        let data = try Data(contentsOf: URL(fileURLWithPath: dir + "/o/manifest.json"))
        let manifest = try JSONSerialization.jsonObject(with: data) as? [String: Any]
        let warnings = manifest?["warnings"] as? [String] ?? []
        #expect(warnings.count == 1 && warnings[0].hasPrefix(words), "\(warnings)")
        // The seeds are indeed identical.
        let loss = try NPY.read(path: dir + "/o/train_loss.npy")
        let C = loss.shape[2]
        #expect(Set((0..<3).map { loss.values[$0 * C + C - 1] }).count == 1)
    }
}
