import DLNModel
import DLNRun
import DLNTheory
import Foundation
import TestSupport
import Testing

/// Killed, stopped and split runs, as separate `dlnsim` processes: a run killed with SIGKILL or stopped with
/// SIGTERM resumes to the uninterrupted run's files bit for bit, and three shards merge into the whole run.
@Suite(.serialized) struct ReliabilityCLITests {
    /// Small, with replicas that diverge (η = 1.5 at α = 1) and independent data per seed.
    static let config = """
        name: survive
        problem: {d: 60, n: 30, data: independent, noise: 0.1}
        training: {steps: 1500}
        grid: {alpha: [0.1, 1], learning_rate: [0.02, 1.5]}
        seeds: 9
        record: {checkpoints: 12}
        """

    static func write(_ text: String, in dir: String, name: String = "survive.yaml") throws -> String {
        let path = dir + "/" + name
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// Every .npy (bits), grid.csv and stats.csv of two output folders agree.
    static func expectSameOutputs(_ a: String, _ b: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: a).filter {
            $0.hasSuffix(".npy") || $0 == "grid.csv" || $0 == "stats.csv"
        }.sorted()
        #expect(files.count >= 18, sourceLocation: sourceLocation)
        for f in files {
            let (x, y) = (
                FileManager.default.contents(atPath: a + "/" + f), FileManager.default.contents(atPath: b + "/" + f)
            )
            #expect(x != nil && x == y, "\(f) differs", sourceLocation: sourceLocation)
        }
    }

    /// Starts dlnsim with stderr in a file, holding after checkpoint `hold`; returns once it holds.
    static func startHeld(_ arguments: [String], hold: Int, log: String) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: CLITests.binary)
        p.arguments = arguments
        p.currentDirectoryURL = CLITests.root
        p.environment = ProcessInfo.processInfo.environment.merging(["DLNSIM_TEST_HOLD_AFTER_CHECKPOINT": "\(hold)"]) {
            $1
        }
        #expect(FileManager.default.createFile(atPath: log, contents: nil), "cannot create the test file")
        p.standardError = FileHandle(forWritingAtPath: log)
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        for _ in 0..<6000 {
            if (try? String(contentsOfFile: log, encoding: .utf8))?.contains("holding after checkpoint") == true {
                break
            }
            if !p.isRunning { break }
            usleep(10_000)
        }
        return p
    }

    @Test func sigkillThenResumeIsBitIdentical() throws {
        let dir = CLITests.temporary()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let config = try Self.write(Self.config, in: dir)
        let whole = try CLITests.run(["run", config, "--device", "cpu", "--out", dir + "/whole", "--quiet"])
        #expect(whole.status == 0, "\(whole.stderr)")
        #expect(whole.stderr.contains("18 replicas were frozen"), "\(whole.stderr)")
        #expect(!Checkpoint.exists(in: dir + "/whole"), "a finished run leaves no checkpoint")

        // Killed mid-way (after its 30th checkpoint, about a third of the way), then resumed.
        let p = try Self.startHeld(
            ["run", config, "--device", "cpu", "--out", dir + "/killed", "--quiet", "--checkpoint-every", "0"],
            hold: 30, log: dir + "/killed.log")
        #expect(p.isRunning, "the run should hold after its checkpoint")
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        #expect(p.terminationReason == .uncaughtSignal && p.terminationStatus == SIGKILL)
        #expect(Checkpoint.exists(in: dir + "/killed"))
        #expect(
            !FileManager.default.fileExists(atPath: dir + "/killed/train_loss.npy"), "no output before the run ends")
        // A plain rerun into the folder is refused: it would throw the work away.
        let again = try CLITests.run(["run", config, "--device", "cpu", "--out", dir + "/killed", "--quiet"])
        #expect(again.status != 0 && again.stderr.contains("--resume"), "\(again.stderr)")
        let resumed = try CLITests.run(["run", "--resume", dir + "/killed", "--quiet"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(resumed.stderr.contains("resuming"))
        try Self.expectSameOutputs(dir + "/whole", dir + "/killed")
        #expect(!Checkpoint.exists(in: dir + "/killed"))
        // Nothing left to resume.
        let twice = try CLITests.run(["run", "--resume", dir + "/killed"])
        #expect(twice.status != 0 && twice.stderr.contains("nothing to resume"), "\(twice.stderr)")
    }

    /// SIGTERM (what SLURM sends before its time limit) writes a final checkpoint and exits with 128 + 15.
    @Test(arguments: [SIGTERM, SIGINT])
    func signalWritesAFinalCheckpoint(signal: Int32) throws {
        let dir = CLITests.temporary()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let config = try Self.write(Self.config, in: dir)
        let whole = try CLITests.run(["run", config, "--device", "cpu", "--out", dir + "/whole", "--quiet"])
        #expect(whole.status == 0)
        let log = dir + "/stopped.log"
        let p = try Self.startHeld(
            ["run", config, "--device", "cpu", "--out", dir + "/stopped", "--quiet", "--checkpoint-every", "0"],
            hold: 5, log: log)
        #expect(p.isRunning)
        // The handler sets the flag; the run (held after its 5th checkpoint) stops there and exits.
        kill(p.processIdentifier, signal)
        p.waitUntilExit()
        let text = try String(contentsOfFile: log, encoding: .utf8)
        #expect(p.terminationReason == .exit && p.terminationStatus == 128 + signal, "\(text)")
        #expect(text.contains("dlnsim run --resume"), "\(text)")
        #expect(Checkpoint.exists(in: dir + "/stopped"))
        let resumed = try CLITests.run(["run", "--resume", dir + "/stopped", "--quiet"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        try Self.expectSameOutputs(dir + "/whole", dir + "/stopped")
    }

    /// Three shards as three processes, merged: the whole run's files. Mixed or missing shards are refused.
    @Test func threeShardsMergeIntoTheWholeRun() throws {
        let dir = CLITests.temporary()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let config = try Self.write(Self.config, in: dir)
        let whole = try CLITests.run([
            "run", config, "--device", "cpu", "--out", dir + "/whole", "--quiet", "--save-weights"
        ])
        #expect(whole.status == 0, "\(whole.stderr)")
        let shards = (0..<3).map { i -> Process in
            let p = Process()
            p.executableURL = URL(fileURLWithPath: CLITests.binary)
            p.arguments = [
                "run", config, "--device", "cpu", "--out", dir + "/shard\(i)", "--quiet", "--save-weights", "--shard",
                "\(i)/3"
            ]
            p.currentDirectoryURL = CLITests.root
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            return p
        }
        for p in shards { try p.run() }
        for p in shards {
            p.waitUntilExit()
            #expect(p.terminationStatus == 0)
        }
        let status = try NPY.read(path: dir + "/shard1/status.npy")
        #expect(status.values.contains(-1) && status.values.contains(0), "a shard runs part of the replicas")
        let merged = try CLITests.run([
            "merge", dir + "/shard2", dir + "/shard0", dir + "/shard1", "--out", dir + "/merged"
        ])
        #expect(merged.status == 0, "\(merged.stderr)")
        #expect(merged.stdout.contains("merged 3 shards: 36 replicas (18 frozen"), "\(merged.stdout)")
        try Self.expectSameOutputs(dir + "/whole", dir + "/merged")
        for f in ["weights.npy", "layers.npy", "status.npy"] {
            #expect(
                FileManager.default.contents(atPath: dir + "/whole/" + f)
                    == FileManager.default.contents(atPath: dir + "/merged/" + f), "\(f)")
        }
        #expect(FileManager.default.fileExists(atPath: dir + "/merged/report.html"))

        let missing = try CLITests.run(["merge", dir + "/shard0", dir + "/shard2", "--out", dir + "/m2"])
        #expect(missing.status != 0 && missing.stderr.contains("shard 1/3 missing"), "\(missing.stderr)")
        let twice = try CLITests.run(["merge", dir + "/shard0", dir + "/shard0", dir + "/shard1", "--out", dir + "/m3"])
        #expect(twice.status != 0 && twice.stderr.contains("both shard 0/3"), "\(twice.stderr)")
        // A shard of another configuration (one more step).
        let other = try Self.write(
            Self.config.replacingOccurrences(of: "steps: 1500", with: "steps: 1501"), in: dir, name: "other.yaml")
        let foreign = try CLITests.run([
            "run", other, "--device", "cpu", "--out", dir + "/foreign", "--quiet", "--shard", "2/3"
        ])
        #expect(foreign.status == 0)
        let mixed = try CLITests.run(["merge", dir + "/shard0", dir + "/shard1", dir + "/foreign", "--out", dir + "/m4"]
        )
        #expect(mixed.status != 0 && mixed.stderr.contains("different configurations"), "\(mixed.stderr)")
        let notShard = try CLITests.run(["merge", dir + "/whole", "--out", dir + "/m5"])
        #expect(notShard.status != 0 && notShard.stderr.contains("not a shard"), "\(notShard.stderr)")
    }

    /// examples/slurm/: the job-array script (as tasks 0, 1, 2 of an array, SLURM's variables set by hand) and
    /// the merge script give the whole run; a task run again after it finished does nothing.
    @Test func slurmScriptsShardAndMerge() throws {
        let dir = CLITests.temporary()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let config = try Self.write(Self.config, in: dir)
        let whole = try CLITests.run(["run", config, "--device", "cpu", "--out", dir + "/whole", "--quiet"])
        #expect(whole.status == 0)
        func script(_ name: String, _ env: [String: String]) throws -> (Int32, String) {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/bin/bash")
            p.arguments = ["examples/slurm/" + name]
            p.currentDirectoryURL = CLITests.root
            p.environment = ProcessInfo.processInfo.environment.merging(
                ["DLNSIM": CLITests.binary, "CONFIG": config, "OUT": dir + "/runs", "N": "3", "DEVICE": "cpu"].merging(
                    env
                ) { $1 }
            ) { $1 }
            let pipe = Pipe()
            p.standardOutput = pipe
            p.standardError = pipe
            try p.run()
            let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            p.waitUntilExit()
            return (p.terminationStatus, text)
        }
        for i in 0..<3 {
            let (status, text) = try script("shard.sbatch", ["SLURM_ARRAY_TASK_ID": "\(i)"])
            #expect(status == 0, "\(text)")
        }
        let (again, text) = try script("shard.sbatch", ["SLURM_ARRAY_TASK_ID": "1"])
        #expect(again == 0 && text.contains("already finished"), "\(text)")
        let (merged, log) = try script("merge.sbatch", [:])
        #expect(merged == 0, "\(log)")
        try Self.expectSameOutputs(dir + "/whole", dir + "/runs/merged")
    }

    @Test func badShardAndResumeArgumentsAreRefused() throws {
        for (args, words) in [
            (["run", "examples/quickstart.yaml", "--shard", "3/3"], "0 ≤ i < N"),
            (["run", "examples/quickstart.yaml", "--shard", "two"], "i/N"),
            (["run", "examples/quickstart.yaml", "--checkpoint-every=-1"], "minutes ≥ 0"),
            (["run"], "--resume OUTDIR"),
            (["run", "--resume", "/nonexistent/dir"], "no such folder")
        ] {
            let r = try CLITests.run(args)
            #expect(r.status != 0 && r.stderr.contains(words), "\(args): \(r.stderr)")
        }
    }
}
