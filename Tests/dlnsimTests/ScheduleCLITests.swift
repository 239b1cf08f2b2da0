import DLNRun
import Foundation
import TestSupport
import Testing

/// `training.schedule` from the command line: an unknown schedule is one message listing the known ones (exit 1, no
/// output folder); a scheduled run with a horizon writes t = Σ_{j<k} η_j in times.npy (summed here again), reaches the
/// horizon, records the schedule in manifest.json, and resumes bit for bit after an interruption.
@Suite struct ScheduleCLITests {
    @Test func unknownScheduleListsTheKnownOnes() throws {
        let dir = CLITests.temporary()
        try "problem: {d: 20, n: 10}\ntraining: {steps: 50, schedule: linear}\n".write(
            toFile: dir + "/bad.yaml", atomically: true, encoding: .utf8)
        let r = try CLITests.run(["run", dir + "/bad.yaml", "--out", dir + "/out"])
        #expect(r.status == 1)
        #expect(
            r.stderr.contains("training.schedule: must be one of constant, inverse_time, exponential, cosine, step"),
            "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/out"))
    }

    @Test func scheduledRunResumesAndRecordsItsTime() throws {
        let dir = CLITests.temporary()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let horizon = 4.0
        let yaml = """
            name: s
            problem: {d: 12, n: 9, data: independent}
            training:
              {update: sgd, batch_size: 3, horizon: \(horizon), label_noise: 0.05, momentum: 0.3,
               schedule: {name: inverse_time, tau: 40, power: 0.8}}
            grid: {alpha: 0.2, learning_rate: [0.02, 0.05]}
            seeds: 4
            record: {checkpoints: 8}

            """
        try yaml.write(toFile: dir + "/s.yaml", atomically: true, encoding: .utf8)
        let straight = try CLITests.run(["run", dir + "/s.yaml", "--device", "cpu", "--out", dir + "/a", "--quiet"])
        #expect(straight.status == 0, "\(straight.stderr)")
        let times = try NPY.read(path: dir + "/a/times.npy")
        let steps = try NPY.read(path: dir + "/a/steps.npy")
        let C = times.shape[1]
        for (g, eta) in [0.02, 0.05].enumerated() {
            var (sum, k) = (0.0, 0)
            for c in 0..<C {
                let step = Int(steps.values[g * C + c])
                while k < step {
                    sum += eta * pow(1 + Double(k) / 40, -0.8)
                    k += 1
                }
                #expect(abs(times.values[g * C + c] - sum) <= 1e-12 * max(sum, 1e-300), "point \(g) checkpoint \(c)")
            }
            #expect(
                abs(times.values[g * C + C - 1] - horizon) <= eta / 2,
                "point \(g) ends at \(times.values[g * C + C - 1])")
        }
        let manifest = try String(contentsOfFile: dir + "/a/manifest.json", encoding: .utf8)
        #expect(manifest.contains("\"inverse_time\""))
        let again = try CLITests.run(["run", dir + "/a/config.yaml", "--check"])  // config.yaml repeats the run
        #expect(again.status == 0, "\(again.stderr)")
        // Stopped by SIGTERM after its third checkpoint, then resumed: the same files as the run straight through.
        let out = try CheckpointCLITests.stopped(dir + "/s.yaml", in: dir)
        let resumed = try CLITests.run(["run", "--resume", out, "--quiet"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        try ReliabilityCLITests.expectSameOutputs(dir + "/a", out)
    }
}
