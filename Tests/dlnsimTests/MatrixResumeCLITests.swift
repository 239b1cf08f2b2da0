import DLNModel
import DLNRun
import Foundation
import Testing

/// `dlnsim run --resume`, `--shard i/N` and `dlnsim merge` for the matrix model, as `dlnsim` processes: a run
/// stopped by SIGTERM after a checkpoint and resumed writes the files of the uninterrupted run bit for bit
/// (gradient descent and flow), the shards of a run merge into the whole run's files bit for bit, and what cannot
/// be resumed or merged is refused by name.
@Suite(.serialized) struct MatrixResumeCLITests {
    /// 2 grid points × 3 seeds of a [4, 3, 2] network; gradient descent with a stretch of steps between two
    /// recorded checkpoints longer than the run's chunk of steps, so that a checkpoint also falls between them.
    static let gd = """
        name: mxr
        model: {parameterization: matrix, widths: [4, 3, 2], init: {kind: gaussian}}
        problem: {n: 12, teacher: {singular_values: [2, 1]}, noise: 0.1}
        training: {steps: 3000}
        grid: {alpha: [0.3, 0.6], learning_rate: 0.02}
        seeds: 3
        record: {checkpoints: 3}
        """

    /// Gradient flow of the same network, float64, independent data sets.
    static let flow = """
        name: mxf
        model: {parameterization: matrix, widths: [4, 3, 2], init: {kind: orthogonal}}
        problem: {n: 12, data: independent, teacher: {singular_values: [2, 1]}}
        training: {update: flow, horizon: 20, precision: float64, flow: {rtol: 1e-7, atol: 1e-9}}
        grid: {alpha: [0.3, 0.6]}
        seeds: 3
        record: {checkpoints: 5}
        """

    /// The .npy files, grid.csv and stats.csv of two folders are the same bytes (and there are `atLeast` of them).
    static func expectSame(_ a: String, _ b: String, atLeast: Int, sourceLocation: SourceLocation = #_sourceLocation)
        throws
    {
        let files = try FileManager.default.contentsOfDirectory(atPath: a).filter {
            $0.hasSuffix(".npy") || $0 == "grid.csv" || $0 == "stats.csv"
        }.sorted()
        #expect(files.count >= atLeast, "\(files)", sourceLocation: sourceLocation)
        for f in files {
            let x = FileManager.default.contents(atPath: a + "/" + f)
            let y = FileManager.default.contents(atPath: b + "/" + f)
            #expect(x != nil && x == y, "\(f) differs", sourceLocation: sourceLocation)
        }
    }

    /// Runs `config` whole into dir/whole, then again stopped by SIGTERM after checkpoint `hold` into dir/stopped;
    /// returns the stopped folder (which holds a matrix checkpoint and no results).
    static func wholeAndStopped(_ config: String, in dir: String, hold: Int) throws -> String {
        let whole = try CLITests.run(["run", config, "--device", "cpu", "--out", dir + "/whole", "--quiet"])
        #expect(whole.status == 0, "\(whole.stderr)")
        #expect(!Checkpoint.exists(in: dir + "/whole"), "a finished run leaves no checkpoint")
        let out = dir + "/stopped"
        let p = try ReliabilityCLITests.startHeld(
            ["run", config, "--device", "cpu", "--out", out, "--quiet", "--checkpoint-every", "0"], hold: hold,
            log: dir + "/stopped.log")
        #expect(p.isRunning, "the run should hold after its checkpoint")
        kill(p.processIdentifier, SIGTERM)
        p.waitUntilExit()
        let log = (try? String(contentsOfFile: dir + "/stopped.log", encoding: .utf8)) ?? ""
        #expect(p.terminationStatus == 128 + SIGTERM, "\(log)")
        #expect(log.contains("continue with: dlnsim run --resume \(out)"), "\(log)")
        #expect(MatrixCheckpoint.exists(in: out))
        #expect(!FileManager.default.fileExists(atPath: out + "/train_loss.npy"), "no output before the run ends")
        return out
    }

    @Test func gradientDescentResumesBitForBit() throws {
        let dir = CLITests.temporary()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let config = try OutputFolderTests.write(Self.gd, dir + "/gd.yaml")
        // Chances: checkpoints 0, 14 and 208, then every 1024 steps: the 4th falls between 208 and 3000.
        let out = try Self.wholeAndStopped(config, in: dir, hold: 4)
        let (_, progress) = try MatrixCheckpoint.read(from: out)
        #expect(progress.checkpoint == 2 && progress.step > 208 && progress.step < 3000, "\(progress.step)")
        #expect(progress.trainLoss.allSatisfy { $0[3].isNaN } && progress.trainLoss.allSatisfy { $0[2].isFinite })
        // A plain rerun into the folder is refused: it would throw the work away.
        let again = try CLITests.run(["run", config, "--device", "cpu", "--out", out, "--quiet"])
        #expect(again.status == 1 && again.stderr.contains("--resume \(out)"), "\(again.stderr)")
        let resumed = try CLITests.run(["run", "--resume", out, "--quiet"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(resumed.stderr.contains("resuming \(out)"), "\(resumed.stderr)")
        try Self.expectSame(dir + "/whole", out, atLeast: 12)
        #expect(!Checkpoint.exists(in: out))
        let finished = try CLITests.run(["run", "--resume", out, "--quiet"])
        #expect(finished.status == 1 && finished.stderr.contains("no checkpoint here"), "\(finished.stderr)")
    }

    @Test func flowResumesBitForBit() throws {
        let dir = CLITests.temporary()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let config = try OutputFolderTests.write(Self.flow, dir + "/flow.yaml")
        let out = try Self.wholeAndStopped(config, in: dir, hold: 3)
        let (origin, progress) = try MatrixCheckpoint.read(from: out)
        // Held after checkpoint 2's write, the run stops at its next chance (checkpoint 3), writing it there.
        #expect(progress.checkpoint == 3 && progress.flow?.started == true)
        let t3 = try MatrixConfiguration.parse(yaml: Self.flow, file: "flow.yaml").checkpointTimes[3]
        #expect(progress.flow.map { $0.times.allSatisfy { $0 == t3 } } == true)
        #expect(origin.configText == Self.flow)
        let resumed = try CLITests.run(["run", "--resume", out, "--quiet"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        try Self.expectSame(dir + "/whole", out, atLeast: 12)
        let evaluations = try NPY.read(path: out + "/flow_evaluations.npy")
        #expect(evaluations.shape == [2, 3] && evaluations.values.allSatisfy { $0 > 7 })
    }

    @Test func changedDataAndDamagedCheckpointsAreRefused() throws {
        let dir = CLITests.temporary()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let n = 10
        let x = (0..<(n * 4)).map { Double(($0 * 7919) % 101) / 50 - 1 }
        let y = (0..<(n * 2)).map { Double(($0 * 31) % 17) / 8 - 1 }
        try NPY.write(x, shape: [n, 4], dtype: .float64, to: dir + "/X.npy")
        try NPY.write(y, shape: [n, 2], dtype: .float64, to: dir + "/Y.npy")
        let text = Self.gd.replacingOccurrences(
            of: "problem: {n: 12, teacher: {singular_values: [2, 1]}, noise: 0.1}",
            with: "problem: {files: {X: X.npy, Y: Y.npy}}")
        let config = try OutputFolderTests.write(text, dir + "/files.yaml")
        let out = try Self.wholeAndStopped(config, in: dir, hold: 2)
        var changed = x
        changed[5] += 1e-9
        try NPY.write(changed, shape: [n, 4], dtype: .float64, to: dir + "/X.npy")
        let refused = try CLITests.run(["run", "--resume", out, "--quiet"])
        #expect(refused.status == 1, "\(refused.stderr)")
        #expect(
            refused.stderr.contains("problem.files.X: \(dir)/X.npy changed since the run started"), "\(refused.stderr)")
        #expect(MatrixCheckpoint.exists(in: out))
        try NPY.write(x, shape: [n, 4], dtype: .float64, to: dir + "/X.npy")
        // One byte of the checkpoint damaged: refused as corrupt, by name.
        let path = out + "/" + Checkpoint.fileName
        let (origin, progress) = try MatrixCheckpoint.read(from: out)
        let good = try Data(contentsOf: URL(fileURLWithPath: path))
        var bad = good
        bad[bad.count / 2] ^= 0x10
        try bad.write(to: URL(fileURLWithPath: path))
        let corrupt = try CLITests.run(["run", "--resume", out, "--quiet"])
        #expect(corrupt.status == 1, "\(corrupt.stderr)")
        #expect(corrupt.stderr.contains("\(Checkpoint.fileName): corrupt (checksum mismatch)"), "\(corrupt.stderr)")
        // A checkpoint whose checksum is right but whose state belongs to another configuration: named.
        var other = progress
        let P = progress.finalParameters.count / progress.trainLoss.count
        other.trainLoss.removeLast()
        other.testError.removeLast()
        other.effectiveRank.removeLast()
        other.nuclearNorm.removeLast()
        other.conservation.removeLast()
        other.singularValues.removeLast()
        other.modeStrength.removeLast()
        other.finalParameters.removeLast(P)
        other.flowEvaluations.removeLast()
        other.flowStatus.removeLast()
        other.slice = 0..<5
        other.parameters.removeLast(P)
        try MatrixCheckpoint.write(other, origin: origin, to: out)
        let misfit = try CLITests.run(["run", "--resume", out, "--quiet"])
        #expect(
            misfit.status == 1
                && misfit.stderr.contains("does not fit its configuration (5 replicas, the configuration 6)"),
            "\(misfit.stderr)")
        try good.write(to: URL(fileURLWithPath: path))
        let resumed = try CLITests.run(["run", "--resume", out, "--quiet"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        try Self.expectSame(dir + "/whole", out, atLeast: 12)
    }

    /// Runs shard i/N of `config` (with `extra` arguments) into dir/sI.
    static func shard(_ config: String, _ i: Int, of n: Int, in dir: String, _ extra: [String] = []) throws -> String {
        let out = dir + "/s\(i)"
        let r = try CLITests.run(
            ["run", config] + extra + (extra.contains("--device") ? [] : ["--device", "cpu"])
                + ["--out", out, "--quiet", "--shard", "\(i)/\(n)"])
        #expect(r.status == 0, "shard \(i)/\(n): \(r.stderr)")
        return out
    }

    @Test func shardsMergeIntoTheWholeRun() throws {
        let dir = CLITests.temporary()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for (name, text, n) in [("gd", Self.gd, 4), ("flow", Self.flow, 2)] {
            let sub = dir + "/" + name
            try FileManager.default.createDirectory(atPath: sub, withIntermediateDirectories: true)
            let config = try OutputFolderTests.write(text, sub + "/c.yaml")
            let whole = try CLITests.run(
                ["run", config, "--device", "cpu", "--out", sub + "/whole", "--quiet", "--save-weights"])
            #expect(whole.status == 0, "\(whole.stderr)")
            let shards = try (0..<n).reversed().map { try Self.shard(config, $0, of: n, in: sub, ["--save-weights"]) }
            // Shard 1/4 of 6 replicas runs replicas 1 and 2; the others stay NaN with status −1.
            let status = try NPY.read(path: shards[n - 2] + "/status.npy").values
            let mine = try Shard(index: 1, count: n).range(of: 6)
            #expect(status.map { $0 == -1 } == (0..<6).map { !mine.contains($0) })
            #expect(!FileManager.default.fileExists(atPath: shards[0] + "/loss.svg"), "figures come with the merge")
            let merged = try CLITests.run(["merge"] + shards + ["--out", sub + "/merged"])
            #expect(merged.status == 0, "\(merged.stderr)")
            #expect(merged.stdout.contains("merged \(n) shards: 6 replicas"), "\(merged.stdout)")
            try Self.expectSame(sub + "/whole", sub + "/merged", atLeast: 13)
            #expect(FileManager.default.fileExists(atPath: sub + "/merged/final_layers.npy"))
            for f in ["loss.svg", "singular_values_1.svg", "manifest.json", "config.yaml"] {
                #expect(FileManager.default.fileExists(atPath: sub + "/merged/" + f), "\(f)")
            }
        }
    }

    /// The OpenCL engine (PoCL, bit-identical to the CPU engine): a float32 flow stopped there and resumed on the
    /// CPU engine, and shards run on either engine, give the CPU engine's whole run.
    @Test(.needsOpenCLPlatform) func openCLRunsResumeAndMergeAcrossEngines() throws {
        let dir = CLITests.temporary()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let text = Self.flow.replacingOccurrences(of: "precision: float64, ", with: "")
        let config = try OutputFolderTests.write(text, dir + "/flow.yaml")
        let whole = try CLITests.run(["run", config, "--device", "cpu", "--out", dir + "/whole", "--quiet"])
        #expect(whole.status == 0, "\(whole.stderr)")
        let out = dir + "/stopped"
        let p = try ReliabilityCLITests.startHeld(
            ["run", config, "--device", "opencl", "--out", out, "--quiet", "--checkpoint-every", "0", "--shard", "1/2"],
            hold: 2, log: dir + "/stopped.log")
        kill(p.processIdentifier, SIGTERM)
        p.waitUntilExit()
        #expect(p.terminationStatus == 128 + SIGTERM && MatrixCheckpoint.exists(in: out))
        let resumed = try CLITests.run(["run", "--resume", out, "--device", "cpu", "--quiet"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        let first = try Self.shard(config, 0, of: 2, in: dir, ["--device", "opencl"])
        let merged = try CLITests.run(["merge", first, out, "--out", dir + "/merged"])
        #expect(merged.status == 0, "\(merged.stderr)")
        try Self.expectSame(dir + "/whole", dir + "/merged", atLeast: 12)
    }

    @Test func mergeRefusesWhatIsNotOneMatrixRun() throws {
        let dir = CLITests.temporary()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let config = try OutputFolderTests.write(Self.gd, dir + "/gd.yaml")
        let s0 = try Self.shard(config, 0, of: 3, in: dir)
        let s1 = try Self.shard(config, 1, of: 3, in: dir)
        func merge(_ folders: [String]) throws -> CLITests.Output {
            try CLITests.run(["merge"] + folders + ["--out", dir + "/merged"])
        }
        let missing = try merge([s0, s1])
        #expect(missing.status == 1 && missing.stderr.contains("shard 2/3 missing"), "\(missing.stderr)")
        // Shard 2/3 of another configuration (4 seeds): named, with what differs.
        let other = try Self.shard(config, 2, of: 3, in: dir, ["seeds=4"])
        let different = try merge([s0, s1, other])
        #expect(
            different.status == 1 && different.stderr.contains("\(other) and \(s0) ran different configurations")
                && different.stderr.contains("seeds 4 ≠ 3"), "\(different.stderr)")
        // A diagonal-model shard among matrix ones: named.
        let diagonal = try OutputFolderTests.write(
            "name: diag\ntraining: {steps: 20}\nseeds: 2\nrecord: {checkpoints: 2}\n", dir + "/diag.yaml")
        let d = dir + "/diagonal"
        let r = try CLITests.run(["run", diagonal, "--device", "cpu", "--out", d, "--quiet", "--shard", "0/3"])
        #expect(r.status == 0, "\(r.stderr)")
        let mixed = try merge([s0, s1, d])
        #expect(
            mixed.status == 1 && mixed.stderr.contains("\(d)") && mixed.stderr.contains("diagonal-model run"),
            "\(mixed.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/merged/manifest.json"))
        // A file of another shard copied in: refused by its hash.
        let s2 = try Self.shard(config, 2, of: 3, in: dir)
        try FileManager.default.removeItem(atPath: s2 + "/train_loss.npy")
        try FileManager.default.copyItem(atPath: s1 + "/train_loss.npy", toPath: s2 + "/train_loss.npy")
        let copied = try merge([s0, s1, s2])
        #expect(
            copied.status == 1 && copied.stderr.contains("\(s2)/train_loss.npy") && copied.stderr.contains("hash"),
            "\(copied.stderr)")
    }
}
