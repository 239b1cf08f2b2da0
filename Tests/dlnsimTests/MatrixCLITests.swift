import DLNRun
import Foundation
import TestSupport
import Testing

/// `dlnsim run` on a matrix-model configuration: the files (read back as NumPy arrays), --check, and refusals.
@Suite struct MatrixCLITests {
    static let config = """
        name: mx
        model: {parameterization: matrix, widths: [5, 4, 3], init: {kind: aligned}}
        problem: {n: 16, whiten: true, teacher: {singular_values: [2, 1]}}
        training: {steps: 300, precision: float64}
        grid: {alpha: [0.2, 0.5], learning_rate: 0.01}
        seeds: 3
        record: {checkpoints: 6, singular_values: 2}
        """

    @Test func runWritesArraysStatsAndFigures() throws {
        let dir = CLITests.temporary()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = try OutputFolderTests.write(Self.config, dir + "/mx.yaml")
        let check = try CLITests.run(["run", path, "--check"])
        #expect(check.status == 0 && check.stdout.contains("matrix model, widths [5, 4, 3]"), "\(check.stderr)")
        let run = try CLITests.run(["run", path, "--device", "cpu", "--out", dir + "/o", "--quiet"])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.contains("6 replicas × 300 steps"), "\(run.stdout)")
        let C = 7
        let loss = try NPY.read(path: dir + "/o/train_loss.npy")
        #expect(loss.shape == [2, 3, C])
        #expect(loss.values.allSatisfy { $0.isFinite && $0 >= 0 })
        #expect(try NPY.read(path: dir + "/o/singular_values.npy").shape == [2, 3, C, 2])
        let modes = try NPY.read(path: dir + "/o/mode_strength.npy")
        let theory = try NPY.read(path: dir + "/o/theory_mode_strength.npy")
        #expect(modes.shape == [2, 3, C, 2] && theory.shape == [2, C, 2])
        // At t = 0 every mode starts at α^L.
        #expect(abs(modes.values[0] - 0.04) < 1e-12 && abs(theory.values[0] - 0.04) < 1e-12)
        let stats = try String(contentsOfFile: dir + "/o/stats.csv", encoding: .utf8)
        #expect(stats.hasPrefix("point,alpha,weight_decay,learning_rate,step,time,train_loss_mean"))
        #expect(stats.split(separator: "\n").count == 1 + 2 * C)
        for figure in ["singular_values_0.svg", "singular_values_1.svg", "loss.svg"] {
            #expect(FileManager.default.fileExists(atPath: dir + "/o/" + figure), "\(figure)")
        }
        let analyze = try CLITests.run(["analyze", dir + "/o"])
        #expect(analyze.status == 1 && analyze.stderr.contains("matrix-model run"), "\(analyze.stderr)")
    }

    @Test func badInputIsRefusedByKey() throws {
        let dir = CLITests.temporary()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let bad = try OutputFolderTests.write(
            Self.config.replacingOccurrences(of: "widths: [5, 4, 3]", with: "widths: [5, 0, 3]"), dir + "/bad.yaml")
        let run = try CLITests.run(["run", bad, "--device", "cpu", "--out", dir + "/o"])
        #expect(run.status == 1 && run.stderr.contains("model.widths[1]"), "\(run.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/o/manifest.json"))
        let good = try OutputFolderTests.write(Self.config, dir + "/mx.yaml")
        let override = try CLITests.run(["run", good, "seeds=2", "grid.alpha=[0.1]", "--check"])
        #expect(override.status == 0 && override.stdout.contains("1 grid point × 2 seeds"), "\(override.stdout)")
        let badOverride = try CLITests.run(["run", good, "model.widths=[5, -1]", "--check"])
        #expect(badOverride.status == 1 && badOverride.stderr.contains("model.widths[1]"), "\(badOverride.stderr)")
        let unknown = try CLITests.run(["run", good, "model.widht=3", "--check"])
        #expect(unknown.status == 1 && unknown.stderr.contains("model.widht"), "\(unknown.stderr)")
    }

    @Test func divergedReplicasAreFlaggedAndHugeRunsRefused() throws {
        let dir = CLITests.temporary()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let diverging = try OutputFolderTests.write(
            Self.config.replacingOccurrences(of: "learning_rate: 0.01", with: "learning_rate: [0.01, 5]")
                .replacingOccurrences(of: "init: {kind: aligned}", with: "init: {kind: gaussian}")
                .replacingOccurrences(of: "alpha: [0.2, 0.5]", with: "alpha: 1"), dir + "/div.yaml")
        let run = try CLITests.run(["run", diverging, "--device", "cpu", "--out", dir + "/o", "--quiet"])
        #expect(run.status == 0 && run.stderr.contains("3 replica(s) diverged"), "\(run.stderr)")
        let status = try NPY.read(path: dir + "/o/status.npy")
        #expect(status.shape == [2, 3] && status.values == [0, 0, 0, 2, 2, 2])
        let sv = try NPY.read(path: dir + "/o/singular_values.npy")
        let lastValues = Array(sv.values.suffix(2))
        #expect(lastValues.allSatisfy { $0.isNaN }, "a diverged replica's singular values are NaN, not 0")
        let huge = try OutputFolderTests.write(
            Self.config.replacingOccurrences(of: "widths: [5, 4, 3]", with: "widths: [40000, 40000, 40000]")
                .replacingOccurrences(of: "whiten: true", with: "whiten: false"), dir + "/huge.yaml")
        let refused = try CLITests.run(["run", huge, "--device", "cpu", "--out", dir + "/h"])
        #expect(refused.status == 1 && refused.stderr.contains("GB of host memory"), "\(refused.stderr)")
    }
}
