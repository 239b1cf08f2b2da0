import DLNRun
import Foundation
import TestSupport
import Testing

/// `update: sgd`, `label_noise`, `gradient_noise` from the command line: bad input is one message naming the key
/// (exit 1, no output folder); a run is resumable bit for bit; `--check` accepts a good configuration.
@Suite struct StochasticCLITests {
    static let base = "problem: {d: 20, n: 10}\ntraining: {steps: 50"

    @Test(arguments: [
        ("\(base), update: sgd, batch_size: 11}\n", "training.batch_size: b = 11 is larger than n = 10"),
        ("\(base), update: sgd, batch_size: 0}\n", "training.batch_size: must be at least 1"),
        ("\(base), update: sgd}\ngrid: {batch_size: [2, -1]}\n", "grid.batch_size[1]: must be at least 1"),
        ("\(base), update: sgd}\ngrid: {batch_size: [2, 30]}\n", "grid.batch_size: b = 30 is larger than n = 10"),
        ("\(base), update: sgd}\n", "training.batch_size: is required with update: sgd"),
        ("\(base), label_noise: -0.1}\n", "training.label_noise: must be ≥ 0"),
        ("\(base)}\ngrid: {gradient_noise: [0, -1]}\n", "grid.gradient_noise[1]: must be ≥ 0"),
        ("\(base), update: sgd, batch_size: 2, sampling: shuffled}\n", "training.sampling: must be one of"),
        ("\(base), batch_size: 2}\n", "training.batch_size: applies to update: sgd only"),
        ("\(base), update: multiplicative, label_noise: 0.1}\n", "training.label_noise: applies to update gd and sgd"),
        (
            "problem: {d: 20, n: 10}\ntraining: {horizon: 1, update: flow, gradient_noise: 0.1}\n",
            "training.gradient_noise: applies to update gd and sgd, not flow"
        ),
        (
            "\(base), update: sgd, batch_size: 2, representation: log}\n",
            "training.representation: log does not apply to update: sgd"
        ),
        ("\(base), update: sgd, batch_size: 2}\ntheory: dmft\n", "theory: dmft describes full-batch"),
        (
            "\(base), batch_size: 2}\ngrid: {batch_size: [1, 2]}\n",
            "grid.batch_size: is also set as training.batch_size"
        ),
        ("\(base), momentum: 1}\n", "training.momentum: must be in [0, 1)"),
        ("\(base)}\ngrid: {momentum: [0.5, -0.1]}\n", "grid.momentum[1]: must be in [0, 1)"),
        ("\(base), update: multiplicative, momentum: 0.9}\n", "training.momentum: applies to update gd and sgd"),
        ("\(base), nesterov: maybe}\n", "training.nesterov: must be one of"),
        ("\(base), summation: sideways}\n", "training.summation: must be one of"),
        (
            "\(base), update: sgd, batch_size: 2, summation: strided}\n",
            "training.summation: strided applies to update gd or multiplicative steps on the layers without noise or "
                + "momentum, not to update sgd"
        ),
        ("\(base), momentum: 0.5, summation: strided}\n", "not to momentum; use auto or ascending"),
        (
            "problem: {d: 20, n: 15}\ntraining: {steps: 5, summation: strided}\n",
            "training.summation: strided applies to update gd or multiplicative in the products form (n ≤ d/2)"
        )
    ])
    func badStochasticInputFailsNamingTheKey(_ yaml: String, _ expected: String) throws {
        let dir = CLITests.temporary()
        try yaml.write(toFile: dir + "/bad.yaml", atomically: true, encoding: .utf8)
        let r = try CLITests.run(["run", dir + "/bad.yaml", "--out", dir + "/out"])
        #expect(r.status == 1)
        #expect(r.stderr.contains(expected), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/out"))
    }

    /// `--check` accepts the example and lists nothing wrong; a run interrupted at a checkpoint and resumed gives the
    /// files of a run straight through, bit for bit (the step counter is in the state).
    @Test func checkAndResume() throws {
        let dir = CLITests.temporary()
        let yaml = """
            name: s
            problem: {d: 12, n: 9, data: independent}
            training:
              {update: sgd, batch_size: 4, sampling: epochs, steps: 200, label_noise: 0.05, gradient_noise: 1e-5,
               nesterov: true, momentum: 0.5}
            grid: {alpha: [0.1, 0.3], batch_size: [2, 4]}
            seeds: 5
            record: {checkpoints: 6}

            """
            .replacingOccurrences(of: "batch_size: 4, ", with: "")
        try yaml.write(toFile: dir + "/s.yaml", atomically: true, encoding: .utf8)
        let check = try CLITests.run(["run", dir + "/s.yaml", "--check"])
        #expect(check.status == 0, "\(check.stderr)")
        let example = try CLITests.run(["run", "examples/sgd.yaml", "--check"])
        #expect(example.status == 0, "\(example.stderr)")
        let straight = try CLITests.run(["run", dir + "/s.yaml", "--device", "cpu", "--out", dir + "/a", "--quiet"])
        #expect(straight.status == 0, "\(straight.stderr)")
        // Stopped by SIGTERM after its third checkpoint, then resumed: the same files as the run straight through.
        let out = try CheckpointCLITests.stopped(dir + "/s.yaml", in: dir)
        let resumed = try CLITests.run(["run", "--resume", out, "--quiet"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        try ReliabilityCLITests.expectSameOutputs(dir + "/a", out)
        let grid = try String(contentsOfFile: dir + "/a/grid.csv", encoding: .utf8)
        #expect(grid.contains("batch_size,label_noise,gradient_noise"))
    }
}
