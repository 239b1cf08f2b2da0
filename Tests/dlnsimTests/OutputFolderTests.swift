import DLNModel
import DLNRun
import DLNTheory
import Foundation
import TestSupport
import Testing

/// Output folders as separate `dlnsim` processes see them: one writer at a time, one run's files in a finished
/// folder, users' files never taken over, links never followed, special files refused as data.
@Suite(.serialized) struct OutputFolderTests {
    /// Small and quick, with two support thresholds.
    static let config = """
        problem: {d: 20, n: 10}
        training: {steps: 300}
        grid: {alpha: [0.1, 1]}
        seeds: 3
        record: {checkpoints: 8, thresholds: [0.01, 0.05]}
        """
    /// Another configuration: one threshold, so fewer files.
    static let other = """
        problem: {d: 12, n: 6}
        training: {steps: 100}
        seeds: 2
        record: {checkpoints: 4, thresholds: [0.1]}
        """

    static func write(_ text: String, _ path: String) throws -> String {
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// The entries of a folder, without the lock file.
    static func listing(_ dir: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { $0 != ".dlnsim-lock" }.sorted()
    }

    static func text(_ path: String) -> String? { try? String(contentsOfFile: path, encoding: .utf8) }

    /// Starts dlnsim with stderr in a file; returns once stderr contains `until` (or the process ended).
    static func start(_ arguments: [String], environment: [String: String], log: String, until: String) throws
        -> Process
    {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: CLITests.binary)
        p.arguments = arguments
        p.currentDirectoryURL = CLITests.root
        p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        #expect(FileManager.default.createFile(atPath: log, contents: nil), "cannot create the test file")
        p.standardError = FileHandle(forWritingAtPath: log)
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        for _ in 0..<6000 {
            if text(log)?.contains(until) == true || !p.isRunning { break }
            usleep(10_000)
        }
        return p
    }

    /// A pid no process has (a process that has ended).
    static func deadPid() throws -> Int32 {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/true")
        try p.run()
        p.waitUntilExit()
        return p.processIdentifier
    }

    /// A second writer is refused, naming the first; the first finishes into a complete folder.
    @Test func secondWriterIsRefusedNamingTheHolder() throws {
        let dir = CLITests.temporary()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let config = try Self.write(Self.config, dir + "/c.yaml")
        let whole = try CLITests.run(["run", config, "--device", "cpu", "--out", dir + "/whole", "--quiet"])
        #expect(whole.status == 0, "\(whole.stderr)")
        let out = dir + "/out"
        let first = try Self.start(
            ["run", config, "--device", "cpu", "--out", out, "--quiet", "--checkpoint-every", "0"],
            environment: ["DLNSIM_TEST_HOLD_AFTER_CHECKPOINT": "2"], log: dir + "/first.log",
            until: "holding after checkpoint")
        #expect(first.isRunning, "the first run should hold after its checkpoint")
        let pid = first.processIdentifier
        let second = try CLITests.run(["run", config, "--device", "cpu", "--out", out, "--quiet", "--force"])
        #expect(second.status == 1, "\(second.stderr)")
        #expect(
            second.stderr.contains("cannot write \(out): is being written by pid \(pid) (dlnsim run \(config)")
                && second.stderr.contains(" since "), "\(second.stderr)")
        let plot = try CLITests.run(["plot", out])
        #expect(plot.status == 1 && plot.stderr.contains("is being written by pid \(pid)"), "\(plot.stderr)")
        let resume = try CLITests.run(["run", "--resume", out])
        #expect(resume.status == 1 && resume.stderr.contains("is being written by pid \(pid)"), "\(resume.stderr)")
        kill(pid, SIGTERM)
        first.waitUntilExit()
        #expect(first.terminationStatus == 128 + SIGTERM)
        let resumed = try CLITests.run(["run", "--resume", out, "--quiet"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        try ReliabilityCLITests.expectSameOutputs(dir + "/whole", out)
        #expect(Self.listing(out) == Self.listing(dir + "/whole"))
    }

    /// A rerun of another configuration leaves exactly its own files: none of the first run's weights, DMFT curves,
    /// analysis arrays, support files of other thresholds or figures.
    @Test func rerunRemovesThePreviousRunsFiles() throws {
        let dir = CLITests.temporary()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let first = try Self.write(
            "problem: {d: 20, n: 10}\ntraining: {steps: 20}\ngrid: {alpha: [0.5, 1]}\nseeds: 2\n"
                + "record: {checkpoints: 5, thresholds: [0.01, 0.05]}\ntheory: {paths: 1000, response_paths: 32}\n",
            dir + "/first.yaml")
        let second = try Self.write(Self.other, dir + "/second.yaml")
        let out = dir + "/out"
        let run = try CLITests.run(["run", first, "--device", "cpu", "--out", out, "--quiet", "--save-weights"])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(try CLITests.run(["analyze", out]).status == 0)
        #expect(try CLITests.run(["plot", out, "--observable", "l1_norm"]).status == 0)
        for f in ["weights.npy", "dmft_test_error.npy", "analysis_fitted_rate.npy", "support@0.05.npy", "l1_norm.svg"] {
            #expect(FileManager.default.fileExists(atPath: out + "/" + f), "\(f)")
        }
        let rerun = try CLITests.run(["run", second, "--device", "cpu", "--out", out, "--quiet"])
        #expect(rerun.status == 0, "\(rerun.stderr)")
        let fresh = try CLITests.run(["run", second, "--device", "cpu", "--out", dir + "/fresh", "--quiet"])
        #expect(fresh.status == 0, "\(fresh.stderr)")
        #expect(Self.listing(out) == Self.listing(dir + "/fresh"))
        #expect(Self.text(out + "/report.html")?.contains("DMFT") == false)
        #expect(Self.text(out + "/train_loss.svg") == Self.text(dir + "/fresh/train_loss.svg"))
    }

    /// A folder with the user's files is refused; --force writes beside them and never replaces one, and does not
    /// make the folder dlnsim's: the next run without --force is refused again.
    @Test func usersFilesAreNeverTakenOver() throws {
        let dir = CLITests.temporary()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let config = try Self.write(Self.other, dir + "/c.yaml")
        let out = dir + "/mine"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        _ = try Self.write("precious", out + "/notes.txt")
        _ = try Self.write("my,own\n", out + "/grid.csv")
        let before = Self.listing(out)
        let plain = try CLITests.run(["run", config, "--out", out, "--quiet"])
        #expect(plain.status == 1 && plain.stderr.contains("is not a dlnsim output"), "\(plain.stderr)")
        let forced = try CLITests.run(["run", config, "--out", out, "--quiet", "--force"])
        #expect(
            forced.status == 1
                && forced.stderr.contains("\(out)/grid.csv: dlnsim did not write this file and never replaces one"),
            "\(forced.stderr)")
        let theory = try CLITests.run(["theory", config, "--out", out, "--quiet"])
        #expect(theory.status == 1 && theory.stderr.contains("is not a dlnsim output"), "\(theory.stderr)")
        #expect(Self.text(out + "/grid.csv") == "my,own\n" && Self.listing(out) == before)
        unlink(out + "/grid.csv")
        let beside = try CLITests.run(["run", config, "--out", out, "--quiet", "--force"])
        #expect(beside.status == 0, "\(beside.stderr)")
        #expect(Self.text(out + "/notes.txt") == "precious")
        let again = try CLITests.run(["run", config, "--out", out, "--quiet"])
        #expect(
            again.status == 1 && again.stderr.contains("holds 1 entry dlnsim did not write (notes.txt)"),
            "\(again.stderr)")
        #expect(try CLITests.run(["run", config, "--out", out, "--quiet", "--force"]).status == 0)
        #expect(Self.text(out + "/notes.txt") == "precious")
    }

    /// A kill in the middle of the final writes leaves a folder that says so; the next command that writes it
    /// completes them: the folder is then the new run's, file for file.
    @Test func killDuringTheFinalWritesIsCompletedNext() throws {
        let dir = CLITests.temporary()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let config = try Self.write(Self.config, dir + "/c.yaml")
        let other = try Self.write(Self.other, dir + "/o.yaml")
        let whole = try CLITests.run(["run", config, "--device", "cpu", "--out", dir + "/whole", "--quiet"])
        #expect(whole.status == 0, "\(whole.stderr)")
        for (name, every) in [("resumed", "0"), ("plotted", "10")] {
            let out = dir + "/" + name
            // "resumed" holds another run's files first; "plotted" is killed in its first run's final writes.
            if every == "0" {
                #expect(try CLITests.run(["run", other, "--device", "cpu", "--out", out, "--quiet"]).status == 0)
            }
            let p = try Self.start(
                ["run", config, "--device", "cpu", "--out", out, "--quiet", "--checkpoint-every", every],
                environment: ["DLNSIM_TEST_HOLD_IN_FINAL_WRITES": "6"], log: dir + "/\(name).log",
                until: "holding in the final writes")
            #expect(p.isRunning, "the run should hold in its final writes")
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
            #expect(!FileManager.default.fileExists(atPath: out + "/manifest.json"), "the old manifest goes first")
            #expect(throws: DLNError.self) { try OutputFolder(out) }
            let merge = try CLITests.run(["merge", out, "--out", dir + "/m-\(name)"])
            #expect(merge.status == 1 && merge.stderr.contains("final writes were interrupted"), "\(merge.stderr)")
            let next =
                every == "0"
                ? try CLITests.run(["run", "--resume", out]) : try CLITests.run(["plot", out])
            #expect(next.status == 0, "\(next.stderr)")
            if every == "0" { #expect(next.stdout.contains("its interrupted final writes are now complete")) }
            try ReliabilityCLITests.expectSameOutputs(dir + "/whole", out)
            #expect(Self.listing(out) == Self.listing(dir + "/whole"))
        }
    }

    /// Links planted under the names of dlnsim's own files are never followed (their targets stay as they were),
    /// and temporary files of processes that have ended are removed.
    @Test func linksAreNotFollowedAndStrayTemporaryFilesGo() throws {
        let dir = CLITests.temporary()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let config = try Self.write(Self.other, dir + "/c.yaml")
        let out = dir + "/out"
        #expect(try CLITests.run(["run", config, "--out", out, "--quiet"]).status == 0)
        let target = try Self.write("keep me", dir + "/target.txt")
        let dead = try Self.deadPid()
        let planted = [".dlnsim-write-test", "checkpoint.dlnsim.tmp-\(dead)", ".dlnsim-staging"]
        for name in planted {
            try FileManager.default.createSymbolicLink(atPath: out + "/" + name, withDestinationPath: target)
        }
        _ = try Self.write("stale", out + "/.grid.csv.dlnsim-tmp-\(dead)-abc")
        let again = try CLITests.run(["run", config, "--out", out, "--quiet", "--checkpoint-every", "0"])
        #expect(again.status == 0, "\(again.stderr)")
        #expect(Self.text(target) == "keep me")
        let fresh = try CLITests.run(["run", config, "--out", dir + "/fresh", "--quiet"])
        #expect(fresh.status == 0 && Self.listing(out) == Self.listing(dir + "/fresh"), "\(Self.listing(out))")
        // A link as the lock file is refused by name.
        let linked = dir + "/linked"
        try FileManager.default.createDirectory(atPath: linked, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: linked + "/.dlnsim-lock", withDestinationPath: target)
        let refused = try CLITests.run(["run", config, "--out", linked, "--quiet"])
        #expect(
            refused.status == 1 && refused.stderr.contains("\(linked)/.dlnsim-lock: is a symbolic link"),
            "\(refused.stderr)")
        #expect(Self.text(target) == "keep me")
    }

    /// A FIFO or a device given as data is refused as not a regular file, at once (never read or waited on).
    @Test func fifoAndDeviceAsDataAreRefused() throws {
        let dir = CLITests.temporary()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try NPY.write([1.0, 2, 3, 4], shape: [2, 2], dtype: .float64, to: dir + "/X.npy")
        try NPY.write([1.0, 2], shape: [2], dtype: .float64, to: dir + "/y.npy")
        #expect(mkfifo(dir + "/fifo.npy", 0o644) == 0)
        for (x, kind) in [("fifo.npy", "a FIFO"), ("/dev/zero", "a character device")] {
            let config = try Self.write("problem: {files: {X: \(x), y: y.npy}}\n", dir + "/c.yaml")
            let r = try CLITests.run(["run", config, "--out", dir + "/out", "--quiet"])
            #expect(r.status == 1, "\(r.stderr)")
            #expect(r.stderr.contains("not a regular file (\(kind))") && r.stderr.contains(x), "\(r.stderr)")
            #expect(!FileManager.default.fileExists(atPath: dir + "/out"))
        }
        for (path, kind) in [(dir + "/fifo.npy", "a FIFO"), ("/dev/zero", "a character device")] {
            #expect { try NPY.read(path: path) } throws: {
                "\($0)" == "\(path): not a regular file (\(kind)), not a .npy file"
            }
        }
    }
}
