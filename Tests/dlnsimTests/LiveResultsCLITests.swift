import DLNModel
import DLNRun
import Foundation
import TestSupport
import Testing

/// What programs see of a run: `--progress json` events, errors as one JSON object, and the live results that a
/// running job keeps in OUTDIR/.dlnsim-live.
@Suite(.serialized) struct LiveResultsCLITests {
    static let config = """
        problem: {d: 20, n: 10}
        training: {steps: 400}
        grid: {alpha: [0.1, 1]}
        seeds: 3
        record: {checkpoints: 8}
        """

    /// The JSON objects of a stderr text, one per line (a line that is not one fails the test).
    static func events(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) -> [[String: Any]] {
        text.split(separator: "\n").compactMap { line in
            let object = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any]
            #expect(object != nil, "not a JSON object: \(line)", sourceLocation: sourceLocation)
            return object
        }
    }

    /// A held run keeps its results so far in .dlnsim-live (NaN where not computed), its progress events carry the
    /// median train loss, and the live folder is gone once the final files are in place.
    @Test func liveFolderWhileRunningAndJSONEvents() throws {
        let dir = CLITests.temporary()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let config = try OutputFolderTests.write(Self.config, dir + "/c.yaml")
        let out = dir + "/out"
        let held = try OutputFolderTests.start(
            ["run", config, "--device", "cpu", "--out", out, "--progress", "json", "--checkpoint-every", "0"],
            environment: ["DLNSIM_TEST_HOLD_AFTER_CHECKPOINT": "3"], log: dir + "/held.log",
            until: "holding after checkpoint")
        #expect(held.isRunning, "the run should hold after its third checkpoint")
        let live = out + "/.dlnsim-live"
        let manifest =
            try JSONSerialization.jsonObject(
                with: try Data(contentsOf: URL(fileURLWithPath: live + "/manifest.json"))) as? [String: Any]
        let info = manifest?["live"] as? [String: Any]
        let done = info?["checkpoints_done"] as? Int ?? 0
        #expect(done >= 1 && done < 9, "\(String(describing: info))")
        #expect(manifest?["finished"] is NSNull)
        let loss = try NPY.read(path: live + "/train_loss.npy")
        #expect(loss.shape == [2, 3, 9])  // step 0 and 8 checkpoints
        let values = loss.values
        // Checkpoint 0 of every replica is there; the last checkpoint is not computed yet.
        for b in 0..<6 where values.count == 54 {
            #expect(values[b * 9].isFinite)
            #expect(values[b * 9 + 8].isNaN)
        }
        #expect(!FileManager.default.fileExists(atPath: out + "/train_loss.npy"), "no final file before the end")
        kill(held.processIdentifier, SIGTERM)
        held.waitUntilExit()
        let first = Self.events(OutputFolderTests.text(dir + "/held.log") ?? "")
        #expect(first.contains { $0["event"] as? String == "start" && $0["out"] as? String == out })
        let losses = first.filter { $0["event"] as? String == "progress" }.compactMap {
            $0["train_loss_median"] as? Double
        }
        #expect(!losses.isEmpty && losses.allSatisfy { $0 > 0 })
        let resumed = try CLITests.run(["run", "--resume", out, "--progress", "json"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        let events = Self.events(resumed.stderr)
        #expect(events.last?["event"] as? String == "done", "\(resumed.stderr)")
        #expect(!FileManager.default.fileExists(atPath: live), "the live results go once the final files are in place")
        #expect(FileManager.default.fileExists(atPath: out + "/train_loss.npy"))
    }

    /// Errors come out as one JSON object naming their kind and key path: a bad override, a missing file (any
    /// subcommand, with DLNSIM_MESSAGES=json), an unknown option.
    @Test func errorsAsJSON() throws {
        let dir = CLITests.temporary()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let config = try OutputFolderTests.write(Self.config, dir + "/c.yaml")
        let bad = try CLITests.run(["run", config, "grid.alpha=[0.1, -1]", "--progress", "json", "--out", dir + "/o"])
        #expect(bad.status == 1)
        let error = Self.events(bad.stderr).last
        #expect(error?["event"] as? String == "error" && error?["kind"] as? String == "invalid_configuration")
        #expect((error?["key"] as? String)?.hasPrefix("grid.alpha") == true, "\(bad.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/o"))
        let theory = try CLITests.run(["theory", dir + "/nope.yaml"], environment: ["DLNSIM_MESSAGES": "json"])
        #expect(theory.status == 1)
        let missing = Self.events(theory.stderr).last
        #expect(missing?["kind"] as? String == "bad_file" && missing?["file"] as? String == dir + "/nope.yaml")
        let usage = try CLITests.run(["run", config, "--progress", "json", "--no-such-option"])
        #expect(usage.status != 0)
        #expect(Self.events(usage.stderr).last?["kind"] as? String == "usage", "\(usage.stderr)")
    }

    /// Without a terminal the plain progress lines carry the median train loss of the last checkpoint.
    @Test func plainProgressShowsTheLoss() throws {
        let dir = CLITests.temporary()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let config = try OutputFolderTests.write(Self.config, dir + "/c.yaml")
        let r = try CLITests.run(["run", config, "--device", "cpu", "--out", dir + "/o"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("train loss ") && r.stderr.contains("(median, checkpoint 9/9)"), "\(r.stderr)")
    }
}
