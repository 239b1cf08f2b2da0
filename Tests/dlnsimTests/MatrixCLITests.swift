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
        // analyze: Saxe's half-times beside the run's (MatrixAnalyzeCLITests has more, and plot).
        let analyze = try CLITests.run(["analyze", dir + "/o"])
        #expect(analyze.status == 0 && analyze.stdout.contains("learning order: run 1, 2"), "\(analyze.stderr)")
    }

    /// `training.update: sgd` on matrix runs (regression with replacement; sensing with U·Uᵀ and epochs): the files
    /// of a gradient-descent run, the update in the manifest, and a train loss that falls.
    @Test(arguments: [
        """
        model: {parameterization: matrix, widths: [5, 4, 3]}
        problem: {n: 30, teacher: {singular_values: [2, 1]}}
        training: {steps: 400, update: sgd, batch_size: 4, precision: float64}
        """,
        """
        model: {parameterization: matrix, widths: [4, 2, 4], factorization: symmetric}
        problem: {task: sensing, operator: symmetric, n: 24, teacher: {singular_values: [2, 1]}}
        training: {steps: 400, update: sgd, batch_size: 5, sampling: epochs}
        """
    ])
    func sgdRunWritesItsFiles(body: String) throws {
        let dir = CLITests.temporary()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let text =
            "name: mxsgd\n" + body + "\ngrid: {alpha: 0.3, learning_rate: 0.02}\nseeds: 3\nrecord: {checkpoints: 5}\n"
        let path = try OutputFolderTests.write(text, dir + "/sgd.yaml")
        let check = try CLITests.run(["run", path, "--check"])
        #expect(check.status == 0 && check.stdout.contains("400 steps of mini-batch SGD (b = "), "\(check.stdout)")
        let run = try CLITests.run(["run", path, "--device", "cpu", "--out", dir + "/o", "--quiet"])
        #expect(run.status == 0, "\(run.stderr)")
        let loss = try NPY.read(path: dir + "/o/train_loss.npy")
        #expect(loss.shape == [1, 3, 6])
        for seed in 0..<3 {
            let curve = Array(loss.values[(seed * 6)..<((seed + 1) * 6)])
            #expect(curve.allSatisfy(\.isFinite) && curve[5] < 0.5 * curve[0], "seed \(seed): \(curve)")
        }
        #expect(try NPY.read(path: dir + "/o/steps.npy").values.last == 400)
        #expect(try NPY.read(path: dir + "/o/status.npy").values.allSatisfy { $0 == 0 })
        for file in ["singular_values.npy", "test_error.npy", "stats.csv", "config.yaml", "loss.svg"] {
            #expect(FileManager.default.fileExists(atPath: dir + "/o/" + file), "\(file)")
        }
        let manifest = try String(contentsOfFile: dir + "/o/manifest.json", encoding: .utf8)
        #expect(manifest.contains("sgd"), "\(manifest)")
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

    @Test func dataFromNpyFiles() throws {
        let dir = CLITests.temporary()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // A rank-2 teacher, X with 12 rows; Y = X·Tᵀ.
        let n = 12
        let n0 = 4
        let nL = 3
        let t = (0..<(nL * n0)).map { Double(($0 * 7) % 5) - 2 }
        let x = (0..<(n * n0)).map { sin(Double($0) * 1.3) }
        let y = (0..<n).flatMap { mu in
            (0..<nL).map { i in (0..<n0).reduce(0.0) { $0 + t[i * n0 + $1] * x[mu * n0 + $1] } }
        }
        try NPY.write(x, shape: [n, n0], dtype: .float64, to: dir + "/X.npy")
        try NPY.write(y, shape: [n, nL], dtype: .float64, to: dir + "/Y.npy")
        try NPY.write(t, shape: [nL, n0], dtype: .float64, to: dir + "/T.npy")
        func config(_ files: String, widths: String = "[4, 5, 3]") -> String {
            """
            model: {parameterization: matrix, widths: \(widths)}
            problem: {files: {\(files)}}
            training: {steps: 3000, precision: float64}
            grid: {alpha: 0.5, learning_rate: 0.01}
            seeds: 2
            record: {checkpoints: 4}
            """
        }
        let good = try OutputFolderTests.write(config("X: X.npy, Y: Y.npy, T: T.npy"), dir + "/files.yaml")
        let run = try CLITests.run(["run", good, "--device", "cpu", "--out", dir + "/o", "--quiet"])
        #expect(run.status == 0, "\(run.stderr)")
        let test = try NPY.read(path: dir + "/o/test_error.npy").values
        #expect(test.allSatisfy { $0.isFinite } && test.last! < test.first!, "\(test)")
        let loss = try NPY.read(path: dir + "/o/train_loss.npy").values
        #expect(loss.last! < 1e-6 * loss.first!, "the data are fitted: \(loss)")
        // Without T: no teacher, so no test error and no modes.
        let noTeacher = try OutputFolderTests.write(config("X: X.npy, Y: Y.npy"), dir + "/nt.yaml")
        let r2 = try CLITests.run(["run", noTeacher, "--device", "cpu", "--out", dir + "/o2", "--quiet"])
        #expect(r2.status == 0, "\(r2.stderr)")
        #expect(try NPY.read(path: dir + "/o2/test_error.npy").values.allSatisfy { $0.isNaN })
        // Shapes that do not chain, and a missing file, are refused by key.
        let wrong = try OutputFolderTests.write(config("X: X.npy, Y: Y.npy", widths: "[5, 5, 3]"), dir + "/w.yaml")
        let r3 = try CLITests.run(["run", wrong, "--check"])
        #expect(r3.status == 1 && r3.stderr.contains("model.widths[0]"), "\(r3.stderr)")
        let outputs = try OutputFolderTests.write(config("X: X.npy, Y: Y.npy", widths: "[4, 5, 2]"), dir + "/o.yaml")
        let r4 = try CLITests.run(["run", outputs, "--check"])
        #expect(r4.status == 1 && r4.stderr.contains("model.widths[2]"), "\(r4.stderr)")
        let missing = try OutputFolderTests.write(config("X: nothing.npy, Y: Y.npy"), dir + "/m.yaml")
        let r5 = try CLITests.run(["run", missing, "--check"])
        #expect(r5.status == 1 && r5.stderr.contains("problem.files.X"), "\(r5.stderr)")
    }
}
