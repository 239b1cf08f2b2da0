import DLNRun
import Foundation
import TestSupport
import Testing

/// `model.init.from`: a run continued from an earlier run's final layers, and the refusals of runs that do not fit.
@Suite struct InitFromCLITests {
    static let config = """
        problem: {d: 15, n: 9, teacher: {values: signs, density: 0.3}}
        model: {parameterization: deep_pm, depth: 3}
        training: {steps: 100}
        grid: {alpha: [0.3, 0.6], learning_rate: 0.03}
        seeds: 3
        record: {checkpoints: 4}
        """

    /// GD for 100 steps, then 100 more from its final layers, is GD for 200 steps bit for bit (float32 layers go
    /// through layers.npy's float64 exactly).
    @Test func continuingARunIsTheLongerRun() throws {
        let dir = CLITests.temporary()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let c = try OutputFolderTests.write(Self.config, dir + "/c.yaml")
        let first = try CLITests.run(["run", c, "--device", "cpu", "--out", dir + "/a", "--save-weights", "--quiet"])
        #expect(first.status == 0, "\(first.stderr)")
        let then = try CLITests.run([
            "run", c, "model.init.from=\(dir)/a", "--device", "cpu", "--out", dir + "/b", "--save-weights", "--quiet"
        ])
        #expect(then.status == 0, "\(then.stderr)")
        let whole = try CLITests.run([
            "run", c, "training.steps=200", "--device", "cpu", "--out", dir + "/c", "--save-weights", "--quiet"
        ])
        #expect(whole.status == 0, "\(whole.stderr)")
        let b = try NPY.read(path: dir + "/b/layers.npy")
        let w = try NPY.read(path: dir + "/c/layers.npy")
        #expect(b.shape == [2, 3, 6, 15] && b.values == w.values)
        let a = try NPY.read(path: dir + "/a/layers.npy")
        #expect(a.values != b.values, "the second run moved on")
        // The resolved configuration names the folder by its absolute path.
        let resolved = try String(contentsOfFile: dir + "/b/config.yaml", encoding: .utf8)
        #expect(resolved.contains("from: \"\(dir)/a\""), "\(resolved)")
    }

    @Test func runsThatDoNotFitAreRefusedByKey() throws {
        let dir = CLITests.temporary()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let c = try OutputFolderTests.write(Self.config, dir + "/c.yaml")
        #expect(
            try CLITests.run(["run", c, "--device", "cpu", "--out", dir + "/a", "--save-weights", "--quiet"]).status
                == 0)
        #expect(try CLITests.run(["run", c, "--device", "cpu", "--out", dir + "/plain", "--quiet"]).status == 0)
        let from = "model.init.from=\(dir)/a"
        let cases: [([String], String)] = [
            (["seeds=4"], "seeds:"),
            (["grid.alpha=[0.3, 0.7]"], "grid.alpha: grid point 1"),
            (["grid.alpha=[0.3]"], "grid: model.init.from"),
            (["problem.d=16"], "problem.d: grid point 0"),
            (["model.depth=2"], "model.depth"),
            (["model.init.signs=random"], "model.init.from: takes the earlier run's layers as they are")
        ]
        for (extra, message) in cases {
            let r = try CLITests.run(["run", c, from] + extra + ["--device", "cpu", "--out", dir + "/x", "--quiet"])
            #expect(r.status == 1 && r.stderr.contains(message), "\(extra): \(r.stderr)")
            #expect(!FileManager.default.fileExists(atPath: dir + "/x"), "no output folder after a refusal")
        }
        let noLayers = try CLITests.run(["run", c, "model.init.from=\(dir)/plain", "--out", dir + "/x", "--quiet"])
        #expect(noLayers.status == 1 && noLayers.stderr.contains("--save-weights"), "\(noLayers.stderr)")
        let nothing = try CLITests.run(["run", c, "model.init.from=\(dir)/nowhere", "--out", dir + "/x", "--quiet"])
        #expect(nothing.status == 1 && nothing.stderr.contains("model.init.from"), "\(nothing.stderr)")
    }
}
