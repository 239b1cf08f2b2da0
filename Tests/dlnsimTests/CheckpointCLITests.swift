import DLNModel
import DLNRun
import Foundation
import TestSupport
import Testing

/// Checkpoints that cannot lie, and runs under resource limits and signals, as `dlnsim` processes: a changed data
/// file or a damaged checkpoint is refused on resume, `ulimit -v` is refused before any work, `ulimit -f` loses
/// nothing, and SIGTERM under update flow stops within the interval and resumes bit for bit.
@Suite(.serialized) struct CheckpointCLITests {
    /// Runs `dlnsim ARGS` through /bin/sh after `limits` (e.g. "ulimit -v 1000000").
    static func shell(_ limits: String, _ arguments: [String], binary: Bool = true) throws -> CLITests.Output {
        let quoted = ((binary ? [CLITests.binary] : []) + arguments).map { "'\($0)'" }.joined(separator: " ")
        return try CLITests.run(["-c", "\(limits); exec \(quoted)"], executable: "/bin/sh")
    }

    /// Runs `dlnsim ARGS` under a file-size limit of `bytes`, with SIGXFSZ at its default action (which kills the
    /// process; a test runner may have it ignored or blocked, and both are inherited through /bin/sh).
    static func fileSizeLimited(_ bytes: Int, _ arguments: [String]) throws -> CLITests.Output {
        let script = """
            import os, resource, signal, sys
            signal.signal(signal.SIGXFSZ, signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGXFSZ])
            resource.setrlimit(resource.RLIMIT_FSIZE, (\(bytes), \(bytes)))
            os.execv(sys.argv[1], sys.argv[1:])
            """
        return try shell(":", ["/usr/bin/env", "python3", "-c", script, CLITests.binary] + arguments, binary: false)
    }

    /// Stops a run with SIGTERM after its 3rd checkpoint; returns its folder.
    static func stopped(_ config: String, in dir: String) throws -> String {
        let out = dir + "/stopped"
        let p = try ReliabilityCLITests.startHeld(
            ["run", config, "--device", "cpu", "--out", out, "--quiet", "--checkpoint-every", "0"], hold: 3,
            log: dir + "/stopped.log")
        kill(p.processIdentifier, SIGTERM)
        p.waitUntilExit()
        #expect(p.terminationStatus == 128 + SIGTERM && Checkpoint.exists(in: out))
        return out
    }

    @Test func changedDataAndDamagedCheckpointsAreRefusedOnResume() throws {
        let dir = CLITests.temporary()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (n, d) = (30, 40)
        let x = (0..<(n * d)).map { Double(($0 * 7919) % 101) / 50 - 1 }
        let y = (0..<n).map { Double(($0 * 31) % 17) / 8 - 1 }
        try NPY.write(x, shape: [n, d], dtype: .float64, to: dir + "/X.npy")
        try NPY.write(y, shape: [n], dtype: .float64, to: dir + "/y.npy")
        let config = try ReliabilityCLITests.write(
            """
            name: data
            problem: {files: {X: X.npy, y: y.npy}}
            training: {steps: 1500}
            grid: {learning_rate: [0.02, 0.05]}
            seeds: 4
            record: {checkpoints: 12}
            """, in: dir)
        let whole = try CLITests.run(["run", config, "--device", "cpu", "--out", dir + "/whole", "--quiet"])
        #expect(whole.status == 0, "\(whole.stderr)")
        let out = try Self.stopped(config, in: dir)

        // X changed in one value (same size): refused, naming the key and the file; the checkpoint stays.
        var changed = x
        changed[17] += 1e-9
        try NPY.write(changed, shape: [n, d], dtype: .float64, to: dir + "/X.npy")
        let refused = try CLITests.run(["run", "--resume", out, "--quiet"])
        #expect(refused.status == 1, "\(refused.stderr)")
        #expect(
            refused.stderr.contains("problem.files.X: \(dir)/X.npy changed since the run started")
                && refused.stderr.contains("resume needs the same data"), "\(refused.stderr)")
        #expect(Checkpoint.exists(in: out))
        try NPY.write(x, shape: [n, d], dtype: .float64, to: dir + "/X.npy")

        // One byte of the checkpoint damaged: refused as corrupt, by name; the file is left as it is.
        let path = out + "/" + Checkpoint.fileName
        let good = try Data(contentsOf: URL(fileURLWithPath: path))
        var bad = good
        bad[bad.count / 2] ^= 0x10
        try bad.write(to: URL(fileURLWithPath: path))
        let corrupt = try CLITests.run(["run", "--resume", out, "--quiet"])
        #expect(corrupt.status == 1, "\(corrupt.stderr)")
        #expect(corrupt.stderr.contains("\(Checkpoint.fileName): corrupt (checksum mismatch)"), "\(corrupt.stderr)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == bad)

        // Whole again: the resume finishes as the uninterrupted run.
        try good.write(to: URL(fileURLWithPath: path))
        let resumed = try CLITests.run(["run", "--resume", out, "--quiet"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        for f in ["train_loss.npy", "test_error.npy", "status.npy", "stats.csv"] {
            #expect(
                FileManager.default.contents(atPath: dir + "/whole/" + f)
                    == FileManager.default.contents(atPath: out + "/" + f), "\(f)")
        }
    }

    /// A checkpoint with a valid checksum whose progress does not fit its configuration (forged, or written by a
    /// bug): refused with a message, never a crash.
    @Test func checkpointsThatDoNotFitTheirConfigurationAreRefused() throws {
        let dir = CLITests.temporary()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let config = try ReliabilityCLITests.write(ReliabilityCLITests.config, in: dir)
        let out = try Self.stopped(config, in: dir)
        let (origin, good) = try Checkpoint.read(from: out)
        var cases: [(String, RunProgress)] = []
        func forged(_ name: String, _ change: (inout RunProgress) -> Void) {
            var p = good
            change(&p)
            cases.append((name, p))
        }
        forged("batch 8 of 1") { $0.group = 7 }
        forged("a slice past the batch") { $0.slice = 30..<60 }
        forged("an engine state for another slice") { $0.slice = 0..<16 }
        forged("other observables") { $0.names = $0.names.reversed() }
        forged("fewer replicas") {
            $0.status = Array($0.status.prefix(20))
            $0.frozenAt = Array($0.frozenAt.prefix(20))
            $0.initialLoss = Array($0.initialLoss.prefix(20))
            $0.evaluations = $0.evaluations.map { Array($0.prefix(20)) }
            $0.rejected = $0.rejected.map { Array($0.prefix(20)) }
            $0.values = $0.values.map { $0.map { Array($0.prefix(20)) } }
        }
        #expect(good.summation == ["strided"], "independent data, gd, n ≤ d/2: the strided order")
        forged("another summation order") { $0.summation = ["ascending"] }
        forged("a checkpoint from before the summation orders (ascending)") { $0.summation = nil }
        forged("final states of a batch not run") {
            $0.groupStates = [EngineState(layers: [.float([1]), .float([2])], weights: .float([3]))]
        }
        for (name, p) in cases {
            try Checkpoint.write(p, origin: origin, to: out)
            let r = try CLITests.run(["run", "--resume", out, "--quiet"])
            #expect(r.status == 1, "\(name): \(r.stderr)")
            let why = r.stderr.components(separatedBy: "\(Checkpoint.fileName): ").dropFirst().first ?? ""
            #expect(
                why.hasPrefix("does not fit its configuration") || why.hasPrefix("corrupt ("), "\(name): \(r.stderr)")
        }
        try Checkpoint.write(good, origin: origin, to: out)
        let resumed = try CLITests.run(["run", "--resume", out, "--quiet"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
    }

    /// Under `ulimit -v`, a run that would not fit is refused before any work, with the limit in the message
    /// (before: "failed to allocate" and a crash mid-run).
    @Test func addressSpaceLimitIsRefusedBeforeAnyWork() throws {
        let dir = CLITests.temporary()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let config = try ReliabilityCLITests.write(
            """
            name: big
            problem: {d: 500, n: 400, data: independent}
            training: {steps: 4}
            seeds: 600
            record: {checkpoints: 2}
            """, in: dir)
        let r = try Self.shell("ulimit -v 1500000", ["run", config, "--device", "cpu", "--out", dir + "/o"])
        #expect(r.status == 1, "\(r.stderr)")
        #expect(
            r.stderr.contains("the run would need about") && r.stderr.contains("under its limit (ulimit -v 1500000)"),
            "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/o/train_loss.npy"))
    }

    /// Under `ulimit -f`, a file past the limit fails with EFBIG instead of killing the run (SIGXFSZ): checkpoints
    /// that do not fit are skipped with a warning, and the results go to the fallback folder.
    @Test func fileSizeLimitKeepsTheResults() throws {
        let dir = CLITests.temporary()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // d = 200: the checkpoints (the layers) are well above stats.csv, whose size follows the observables; 300
        // steps are enough (the sizes do not depend on them).
        let text = ReliabilityCLITests.config.replacingOccurrences(of: "d: 60,", with: "d: 200,")
            .replacingOccurrences(of: "steps: 1500", with: "steps: 300")
        #expect(text != ReliabilityCLITests.config)
        let config = try ReliabilityCLITests.write(text, in: dir)
        let whole = try CLITests.run(["run", config, "--device", "cpu", "--out", dir + "/whole", "--quiet"])
        #expect(whole.status == 0, "\(whole.stderr)")
        // 180 kB: every output fits (stats.csv, the largest, 149 kB), the checkpoints (over 230 kB) do not: each is
        // skipped with a warning, and the run finishes with the files of the unlimited run.
        let skipped = try Self.fileSizeLimited(
            184320,
            ["run", config, "--device", "cpu", "--out", dir + "/skipped", "--quiet", "--checkpoint-every", "0"])
        #expect(skipped.status == 0, "\(skipped.stderr)")
        #expect(skipped.stderr.contains("checkpoint.dlnsim: File too large; the run goes on"), "\(skipped.stderr)")
        try ReliabilityCLITests.expectSameOutputs(dir + "/whole", dir + "/skipped")
        #expect(!Checkpoint.exists(in: dir + "/skipped"))
        // 50 kB: every .npy fits (4 kB), the checkpoints and stats.csv do not.
        let r = try Self.fileSizeLimited(
            51200,
            ["run", config, "--device", "cpu", "--out", dir + "/limited", "--quiet", "--checkpoint-every", "0"])
        #expect(r.status == 1, "\(r.stderr)")
        #expect(r.stderr.contains("checkpoint.dlnsim: File too large; the run goes on"), "\(r.stderr)")
        #expect(r.stderr.contains("stats.csv: File too large"), "\(r.stderr)")
        // The files written so far stay in the folder's staging area (the fallback hits the same limit).
        let staging = dir + "/limited/.dlnsim-staging"
        #expect(r.stderr.contains("the files written before the failure are in \(staging)"), "\(r.stderr)")
        if let fallback = r.stderr.components(separatedBy: " and in ").dropFirst().first?
            .components(separatedBy: " (").first
        {
            try? FileManager.default.removeItem(atPath: fallback)
        }
        for f in ["train_loss.npy", "test_error.npy", "status.npy", "grid.csv"] {
            #expect(
                FileManager.default.contents(atPath: dir + "/whole/" + f)
                    == FileManager.default.contents(atPath: staging + "/" + f), "\(f)")
        }
    }

    /// SIGTERM in the middle of a long interval of update flow: the integrator stops between steps (not at the
    /// next record time), the checkpoint holds a state inside the interval, and the resume is bit-identical.
    @Test func flowStopsInsideTheIntervalAndResumesExactly() throws {
        let dir = CLITests.temporary()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let config = try ReliabilityCLITests.write(
            """
            name: flowlong
            problem: {d: 60, n: 30, data: independent}
            training: {update: flow, horizon: 3000, precision: float64, flow: {rtol: 1.0e-10, atol: 1.0e-13}}
            grid: {alpha: [0.01, 0.001]}
            seeds: 8
            record: {checkpoints: 2}
            """, in: dir)
        let whole = try CLITests.run(["run", config, "--device", "cpu", "--out", dir + "/whole", "--quiet"])
        #expect(whole.status == 0, "\(whole.stderr)")
        let out = dir + "/stopped"
        let p = Process()
        p.executableURL = URL(fileURLWithPath: CLITests.binary)
        p.arguments = ["run", config, "--device", "cpu", "--out", out, "--quiet", "--checkpoint-every", "0"]
        p.standardError = FileHandle.nullDevice
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        // The checkpoints at t = 0 and t = 0.05 come at once; then the interval to t = 3000 takes seconds.
        var waited = 0
        while !Checkpoint.exists(in: out) && p.isRunning && waited < 6000 {
            usleep(10_000)
            waited += 1
        }
        usleep(300_000)
        kill(p.processIdentifier, SIGTERM)
        p.waitUntilExit()
        #expect(p.terminationReason == .exit && p.terminationStatus == 128 + SIGTERM)
        let (_, progress) = try Checkpoint.read(from: out)
        let t = try #require(progress.snapshot?.buffers.first { $0.name == "t" }?.values)
        #expect(progress.checkpoint == 2, "stopped in the interval to the last record time")
        #expect(t.contains { $0 > 0.05 && $0 < 3000 }, "the state lies inside the interval: \(t.prefix(4))")
        let resumed = try CLITests.run(["run", "--resume", out, "--quiet"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        for f in ["train_loss.npy", "evaluations.npy", "rejected.npy", "status.npy", "stats.csv"] {
            #expect(
                FileManager.default.contents(atPath: dir + "/whole/" + f)
                    == FileManager.default.contents(atPath: out + "/" + f), "\(f)")
        }
    }
}
