import DLNModel
import DLNRun
import Foundation
import TestSupport
import Testing

/// record.weights / record.layers / record.activation through the command line: a run killed mid-way resumes to
/// the uninterrupted run's arrays bit for bit, shards merge into them, the size limit refuses a run naming the key,
/// --check prints the size, and the report draws activation.svg with its script.
@Suite(.serialized) struct RecordingCLITests {
    /// ReliabilityCLITests' run (replicas that diverge, independent data) with everything recorded.
    static let config =
        ReliabilityCLITests.config + "\n"
        + "record: {checkpoints: 12, weights: {every: 3}, layers: true, activation: [0.05, 0.5]}\n"
    static let recorded = ["weights_t.npy", "layers_t.npy", "activation_time.npy"]

    static func yaml() -> String {
        // One record mapping: replace the base configuration's.
        config.replacingOccurrences(of: "record: {checkpoints: 12}\n", with: "")
    }

    static func same(_ a: String, _ b: String, sourceLocation: SourceLocation = #_sourceLocation) {
        for f in recorded {
            let (x, y) = (
                FileManager.default.contents(atPath: a + "/" + f), FileManager.default.contents(atPath: b + "/" + f)
            )
            #expect(x != nil && x == y, "\(f) differs", sourceLocation: sourceLocation)
        }
    }

    @Test func killedRunResumesToTheSameArrays() throws {
        let dir = CLITests.temporary()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let config = try ReliabilityCLITests.write(Self.yaml(), in: dir)
        let whole = try CLITests.run(["run", config, "--device", "cpu", "--out", dir + "/whole", "--quiet"])
        #expect(whole.status == 0, "\(whole.stderr)")
        #expect(whole.stdout.contains("weights_t.npy, layers_t.npy, activation_time.npy"), "\(whole.stdout)")
        let w = try NPY.read(path: dir + "/whole/weights_t.npy")
        let l = try NPY.read(path: dir + "/whole/layers_t.npy")
        let a = try NPY.read(path: dir + "/whole/activation_time.npy")
        let C = try NPY.read(path: dir + "/whole/times.npy").shape[1]
        let R = Recording.recordedCheckpoints(C, every: 3).count
        #expect(w.shape == [4, 9, R, 60] && l.shape == [4, 9, R, 2, 60] && a.shape == [4, 9, 2, 60])
        let manifest = try String(contentsOfFile: dir + "/whole/manifest.json", encoding: .utf8)
        #expect(manifest.contains("\"recording\"") && manifest.contains("weights_t.npy"))
        #expect(FileManager.default.fileExists(atPath: dir + "/whole/activation.svg"))
        #expect(FileManager.default.fileExists(atPath: dir + "/whole/activation.py"))

        let p = try ReliabilityCLITests.startHeld(
            ["run", config, "--device", "cpu", "--out", dir + "/killed", "--quiet", "--checkpoint-every", "0"],
            hold: 30, log: dir + "/killed.log")
        #expect(p.isRunning, "the run should hold after its checkpoint")
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        #expect(Checkpoint.exists(in: dir + "/killed"))
        let (_, progress) = try Checkpoint.read(from: dir + "/killed")
        let partial = try #require(progress.recording, "the checkpoint carries what has been recorded")
        #expect(partial.weights.contains { $0.isNaN } && partial.weights.contains { $0.isFinite }, "mid-way")
        let resumed = try CLITests.run(["run", "--resume", dir + "/killed", "--quiet"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        Self.same(dir + "/whole", dir + "/killed")
        try ReliabilityCLITests.expectSameOutputs(dir + "/whole", dir + "/killed")
    }

    /// Gradient flow, killed between two of its record times and resumed: the same arrays.
    @Test func killedFlowRunResumesToTheSameArrays() throws {
        let dir = CLITests.temporary()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let config = try ReliabilityCLITests.write(
            """
            problem: {d: 30, n: 15, data: independent}
            training: {update: flow, horizon: 200, precision: float64, flow: {rtol: 1.0e-8, atol: 1.0e-10}}
            grid: {alpha: [0.001, 0.1]}
            seeds: 6
            record: {checkpoints: 40, weights: {every: 4}, layers: true, activation: [0.05]}
            """, in: dir)
        let whole = try CLITests.run(["run", config, "--device", "cpu", "--out", dir + "/whole", "--quiet"])
        #expect(whole.status == 0, "\(whole.stderr)")
        let p = try ReliabilityCLITests.startHeld(
            ["run", config, "--device", "cpu", "--out", dir + "/killed", "--quiet", "--checkpoint-every", "0"],
            hold: 25, log: dir + "/killed.log")
        #expect(p.isRunning, "the run should hold after its checkpoint")
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        let partial = try #require(try Checkpoint.read(from: dir + "/killed").1.recording)
        #expect(partial.weights.contains { $0.isNaN } && partial.weights.contains { $0.isFinite }, "mid-way")
        let resumed = try CLITests.run(["run", "--resume", dir + "/killed", "--quiet"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        Self.same(dir + "/whole", dir + "/killed")
    }

    /// The CPU engine and the OpenCL engine (PoCL) write the same recorded files, bit for bit.
    @Test(.needsOpenCLPlatform) func cpuAndOpenCLWriteTheSameFiles() throws {
        let dir = CLITests.temporary()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let config = try ReliabilityCLITests.write(Self.yaml(), in: dir)
        for device in ["cpu", "opencl"] {
            let run = try CLITests.run(["run", config, "--device", device, "--out", dir + "/" + device, "--quiet"])
            #expect(run.status == 0, "\(device): \(run.stderr)")
        }
        Self.same(dir + "/cpu", dir + "/opencl")
        let a = try NPY.read(path: dir + "/opencl/activation_time.npy")
        #expect(a.values.contains { $0.isFinite } && a.values.contains { $0.isNaN }, "some coordinates activate")
    }

    @Test func shardsMergeIntoTheWholeRunsArrays() throws {
        let dir = CLITests.temporary()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let config = try ReliabilityCLITests.write(Self.yaml(), in: dir)
        let whole = try CLITests.run(["run", config, "--device", "cpu", "--out", dir + "/whole", "--quiet"])
        #expect(whole.status == 0, "\(whole.stderr)")
        for i in 0..<3 {
            let shard = try CLITests.run([
                "run", config, "--device", "cpu", "--out", dir + "/shard\(i)", "--quiet", "--shard", "\(i)/3"
            ])
            #expect(shard.status == 0, "\(shard.stderr)")
        }
        let one = try NPY.read(path: dir + "/shard1/weights_t.npy")
        #expect(one.values.contains { $0.isNaN } && one.values.contains { $0.isFinite }, "a shard holds its replicas")
        let merged = try CLITests.run([
            "merge", dir + "/shard0", dir + "/shard1", dir + "/shard2", "--out", dir + "/merged"
        ])
        #expect(merged.status == 0, "\(merged.stderr)")
        Self.same(dir + "/whole", dir + "/merged")
        #expect(FileManager.default.fileExists(atPath: dir + "/merged/activation.svg"))
        // analyze reads the activation times: first and last activation per grid point.
        let analyze = try CLITests.run(["analyze", dir + "/merged"])
        #expect(analyze.status == 0, "\(analyze.stderr)")
        #expect(analyze.stdout.contains("activation times (|w_i| > τ = 0.05"), "\(analyze.stdout)")
        #expect(analyze.stdout.contains("coordinates activate, the first at t = "), "\(analyze.stdout)")
        let svg = try String(contentsOfFile: dir + "/merged/activation.svg", encoding: .utf8)
        #expect(svg.contains("activation rank k") && svg.contains("class=\"median\""), "independent data: ranks")
    }

    @Test func aRecordAboveTheLimitIsRefusedNamingTheKey() throws {
        let dir = CLITests.temporary()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let config = try ReliabilityCLITests.write(
            Self.yaml().replacingOccurrences(of: "layers: true,", with: "layers: true, max_bytes: 100000,"), in: dir)
        let run = try CLITests.run(["run", config, "--device", "cpu", "--out", dir + "/out", "--quiet"])
        #expect(run.status == 1, "\(run.stderr)")
        #expect(run.stderr.contains("record.weights") && run.stderr.contains("record.max_bytes"), "\(run.stderr)")
        #expect(run.stderr.contains("{every: k}") && run.stderr.contains("weights_t.npy 4 × 9 × "), "\(run.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/out/train_loss.npy"), "nothing ran")
        let check = try CLITests.run(["run", config, "--check"])
        #expect(check.status == 1 && check.stderr.contains("record.max_bytes"), "\(check.stderr)")
        let fine = try ReliabilityCLITests.write(Self.yaml(), in: dir, name: "fine.yaml")
        let ok = try CLITests.run(["run", fine, "--check"])
        #expect(ok.status == 0 && ok.stdout.contains("the recorded arrays take"), "\(ok.stdout) \(ok.stderr)")
        let layersAlone = try ReliabilityCLITests.write(
            ReliabilityCLITests.config + "\n", in: dir, name: "bad.yaml")
        let bad = try CLITests.run(["run", layersAlone, "record.layers=true", "--check"])
        #expect(bad.status == 1 && bad.stderr.contains("record.layers"), "\(bad.stderr)")
    }
}
