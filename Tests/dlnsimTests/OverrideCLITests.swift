import DLNModel
import DLNRun
import Foundation
import Testing

/// `dlnsim run CONFIG key=value…`, the configuration from standard input, and the run folder's config.yaml.
@Suite(.serialized) struct OverrideCLITests {
    static let small = ["seeds=2", "training.steps=40", "problem.d=16", "record.checkpoints=5"]

    static func arrays(_ dir: String) throws -> [String: Data] {
        var out: [String: Data] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: dir) where name.hasSuffix(".npy") {
            out[name] = try Data(contentsOf: URL(fileURLWithPath: dir + "/" + name))
        }
        return out
    }

    static func manifest(_ dir: String) throws -> [String: Any] {
        let data = try Data(contentsOf: URL(fileURLWithPath: dir + "/manifest.json"))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    /// Overrides change the run; config.yaml in the folder holds the resolved configuration and runs again to the
    /// same arrays, bit for bit; manifest.json has the command line, host and times.
    @Test func overriddenRunWritesAConfigYAMLThatRepeatsIt() throws {
        let dir = CLITests.temporary()
        let first = try CLITests.run(
            ["run", "examples/quickstart.yaml"] + Self.small + ["grid.alpha=logspace(-2, 0, 3)"]
                + ["grid.learning_rate=[0.01, 0.02, 0.03]", "grid.zip=[[alpha, learning_rate]]", "--out", dir + "/a"]
                + ["--quiet", "--device", "cpu"])
        #expect(first.status == 0, "\(first.stderr)")
        let grid = try String(contentsOfFile: dir + "/a/grid.csv", encoding: .utf8)
        #expect(grid.split(separator: "\n").count == 4)
        let config = try String(contentsOfFile: dir + "/a/config.yaml", encoding: .utf8)
        #expect(config.contains("seeds: 2") && config.contains("alpha: [0.01, 0.1, 1.0]"))
        #expect(config.contains("zip: [[\"alpha\", \"learning_rate\"]]"), "\(config)")
        let again = try CLITests.run(
            ["run", dir + "/a/config.yaml", "--out", dir + "/b", "--quiet", "--device", "cpu"])
        #expect(again.status == 0, "\(again.stderr)")
        let (a, b) = (try Self.arrays(dir + "/a"), try Self.arrays(dir + "/b"))
        #expect(!a.isEmpty && a == b)
        #expect(try String(contentsOfFile: dir + "/b/config.yaml", encoding: .utf8) == config)
        let m = try Self.manifest(dir + "/a")
        let argv = try #require(m["command_line"] as? [String])
        #expect(argv.dropFirst().first == "run" && argv.contains("seeds=2"))
        #expect((m["host"] as? String).map { !$0.isEmpty } == true)
        for key in ["started", "finished"] {
            let t = try #require(m[key] as? String)
            #expect(ISO8601DateFormatter().date(from: t) != nil && t.hasSuffix("Z"), "\(key): \(t)")
        }
        #expect(m["dlnsim_version"] as? String == DLNSim.version)
        let files = try String(contentsOfFile: dir + "/a/" + OutputDirectory.marker, encoding: .utf8)
        #expect(files.contains("config.yaml"))
    }

    /// An unknown key and a bad value on the command line: the file's messages, with the key path, exit 1, and no
    /// output folder.
    @Test func badOverridesAreRefusedWithTheirKeyPath() throws {
        let dir = CLITests.temporary()
        let r = try CLITests.run(
            ["run", "examples/quickstart.yaml", "grid.alpah=[0.01,0.1]", "seeds=0", "--out", dir + "/x"])
        #expect(r.status == 1)
        #expect(r.stderr.contains("grid.alpah: unknown key (did you mean 'alpha'?) (command line)"), "\(r.stderr)")
        #expect(r.stderr.contains("seeds: must be at least 1, got 0 (command line)"), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/x"))
        let check = try CLITests.run(["run", "examples/quickstart.yaml", "seeds=4", "--check"])
        #expect(
            check.status == 0 && check.stdout.contains("12 replicas (3 grid points × 4 seeds)"),
            "\(check.stdout)\(check.stderr)")
        let malformed = try CLITests.run(["run", "examples/quickstart.yaml", "seeds", "--check"])
        #expect(malformed.status == 1 && malformed.stderr.contains("'seeds' is not an override"), "\(malformed.stderr)")
        let noFile = try CLITests.run(["run", "seeds=2", "--check"])
        #expect(noFile.status != 0 && noFile.stderr.contains("before the key=value overrides"), "\(noFile.stderr)")
    }

    /// `--resume` repeats the run's own configuration: overrides are refused.
    @Test func resumeRefusesOverrides() throws {
        for args in [["run", "--resume", "somewhere", "seeds=2"], ["run", "seeds=2", "--resume", "somewhere"]] {
            let r = try CLITests.run(args)
            #expect(r.status != 0)
            #expect(r.stderr.contains("give no key=value overrides"), "\(r.stderr)")
        }
    }

    /// `-` reads the configuration from standard input; the run is named by its name: key, else "stdin".
    @Test func configurationFromStandardInput() throws {
        let dir = CLITests.temporary()
        let text = "problem: {d: 16}\ntraining: {steps: 20}\nrecord: {checkpoints: 4}\n"
        try text.write(toFile: dir + "/c.yaml", atomically: true, encoding: .utf8)
        let r = try CLITests.run(
            [
                "-c", "\"$0\" run - seeds=2 --out \"$1\" --quiet --device cpu < \"$2\"", CLITests.binary, dir + "/s",
                dir + "/c.yaml"
            ],
            executable: "/bin/sh")
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try Self.manifest(dir + "/s")["name"] as? String == "stdin")
        let named = try CLITests.run(
            ["-c", "printf 'name: piped\\nseeds: 3\\n' | \"$0\" run - --check", CLITests.binary], executable: "/bin/sh")
        #expect(named.status == 0 && named.stdout.contains("3 replicas"), "\(named.stdout)\(named.stderr)")
        let empty = try CLITests.run(["-c", "\"$0\" run - --check < /dev/null", CLITests.binary], executable: "/bin/sh")
        #expect(empty.status == 1 && empty.stderr.contains("stdin"), "\(empty.stderr)")
    }

    /// A run with overrides, stopped by SIGTERM and resumed, gives the uninterrupted run's files bit for bit: the
    /// checkpoint keeps the overridden configuration.
    @Test func anOverriddenRunResumesBitIdentical() throws {
        let dir = CLITests.temporary()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let config = try ReliabilityCLITests.write(
            "name: base\nproblem: {d: 20, noise: 0.1}\ntraining: {steps: 400}\nseeds: 1\nrecord: {checkpoints: 8}\n",
            in: dir)
        let overrides = ["seeds=3", "grid.alpha=[0.1, 1]", "grid.learning_rate=logspace(-2, -1, 2)"]
        let whole = try CLITests.run(
            ["run", config] + overrides + ["--device", "cpu", "--out", dir + "/whole", "--quiet"])
        #expect(whole.status == 0, "\(whole.stderr)")
        let out = dir + "/stopped"
        let p = try ReliabilityCLITests.startHeld(
            ["run", config] + overrides + ["--device", "cpu", "--out", out, "--quiet", "--checkpoint-every", "0"],
            hold: 2, log: dir + "/stopped.log")
        kill(p.processIdentifier, SIGTERM)
        p.waitUntilExit()
        #expect(p.terminationStatus == 128 + SIGTERM && Checkpoint.exists(in: out))
        // The file changes after the stop: the resumed run still repeats the overridden configuration it started.
        try "name: base\nseeds: 7\n".write(toFile: config, atomically: true, encoding: .utf8)
        let resumed = try CLITests.run(["run", "--resume", out, "--quiet"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        try ReliabilityCLITests.expectSameOutputs(dir + "/whole", out)
        #expect(
            try String(contentsOfFile: out + "/config.yaml", encoding: .utf8)
                == String(contentsOfFile: dir + "/whole/config.yaml", encoding: .utf8))
    }
}
