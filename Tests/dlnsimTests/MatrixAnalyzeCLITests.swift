import DLNRun
import Foundation
import TestSupport
import Testing

/// `dlnsim analyze` on matrix-model folders: the table per grid point with the predictions that apply, the
/// analysis_*.npy files, replicas left out by status, and the refusal of a folder missing one of its files.
@Suite struct MatrixAnalyzeCLITests {
    /// Runs a configuration on the CPU engine into `dir/o`.
    static func run(_ yaml: String, in dir: String) throws -> String {
        let path = try OutputFolderTests.write(yaml, dir + "/mx.yaml")
        let run = try CLITests.run(["run", path, "--device", "cpu", "--out", dir + "/o", "--quiet"])
        #expect(run.status == 0, "\(run.stderr)")
        return dir + "/o"
    }

    @Test func commutingSensingRunGetsItsLimit() throws {
        let dir = CLITests.temporary()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let out = try Self.run(
            """
            model: {parameterization: matrix, widths: [4, 4, 4], init: {kind: identity}}
            problem: {task: sensing, operator: diagonal, n: 3, teacher: {singular_values: [1.5, 1]}}
            training: {update: flow, horizon: 1000, precision: float64}
            grid: {alpha: 0.1, weight_decay: [0, 0.01]}
            record: {checkpoints: 5}
            """, in: dir)
        let analyze = try CLITests.run(["analyze", out])
        #expect(analyze.status == 0, "\(analyze.stderr)")
        let text = analyze.stdout
        #expect(text.contains("grid point 0: α = 0.1, λ = 0.0; 1 of 1 seed ran to the end"), "\(text)")
        #expect(text.contains("commuting sensing limit") && text.contains("σ_4"), "\(text)")
        // λ > 0 at grid point 1: said, and no prediction printed there.
        #expect(text.contains("not at grid point 1 (λ > 0"), "\(text)")
        #expect(text.components(separatedBy: "commuting sensing limit (diagonal").count == 2, "\(text)")
        let sv = try NPY.read(path: out + "/analysis_predicted_singular_values.npy")
        #expect(sv.shape == [2, 1, 4] && sv.values[0] > 0 && sv.values[4...].allSatisfy(\.isNaN))
        #expect(try NPY.read(path: out + "/analysis_relative_test_error.npy").shape == [2, 1])
        // The files are dlnsim's (the marker lists them): a second analyze replaces them.
        let again = try CLITests.run(["analyze", out])
        #expect(again.status == 0 && again.stdout == analyze.stdout, "\(again.stderr)")
    }

    @Test func divergedReplicasAreLeftOutAndCounted() throws {
        let dir = CLITests.temporary()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let out = try Self.run(
            """
            model: {parameterization: matrix, widths: [5, 4, 3]}
            problem: {n: 16, teacher: {singular_values: [2, 1]}}
            training: {steps: 300, precision: float64}
            grid: {alpha: 1, learning_rate: [0.01, 5]}
            seeds: 3
            record: {checkpoints: 6}
            """, in: dir)
        let analyze = try CLITests.run(["analyze", out])
        #expect(analyze.status == 0, "\(analyze.stderr)")
        #expect(analyze.stdout.contains("3 of 3 seeds ran to the end\n"), "\(analyze.stdout)")
        #expect(analyze.stdout.contains("0 of 3 seeds ran to the end; left out: 3 diverged"), "\(analyze.stdout)")
        #expect(analyze.stdout.contains("note: Saxe's mode dynamics: no closed form without the aligned start"))
        // A folder missing one of its files is refused, the file named, and nothing is written.
        try FileManager.default.removeItem(atPath: out + "/nuclear_norm.npy")
        try FileManager.default.removeItem(atPath: out + "/analysis_relative_test_error.npy")
        let refused = try CLITests.run(["analyze", out])
        #expect(refused.status == 1 && refused.stderr.contains("nuclear_norm.npy: missing"), "\(refused.stderr)")
        #expect(!FileManager.default.fileExists(atPath: out + "/analysis_relative_test_error.npy"))
    }

    @Test func plotRedrawsTheRunsFigures() throws {
        let dir = CLITests.temporary()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let out = try Self.run(
            """
            model: {parameterization: matrix, widths: [5, 4, 3], init: {kind: aligned}}
            problem: {n: 16, whiten: true, teacher: {singular_values: [2, 1]}}
            training: {steps: 200, precision: float64}
            grid: {alpha: [0.2, 0.5], learning_rate: 0.01}
            seeds: 2
            record: {checkpoints: 5}
            """, in: dir)
        let names = ["singular_values_0.svg", "singular_values_1.svg", "loss.svg", "alpha_test_error.svg"]
        let drawn = try names.map { try String(contentsOfFile: out + "/" + $0, encoding: .utf8) }
        for name in names { try FileManager.default.removeItem(atPath: out + "/" + name) }
        let plot = try CLITests.run(["plot", out])
        #expect(plot.status == 0 && plot.stdout.contains("loss.svg"), "\(plot.stderr)")
        // The same figures as the run drew, from the files alone.
        for (name, text) in zip(names, drawn) {
            #expect(try String(contentsOfFile: out + "/" + name, encoding: .utf8) == text, "\(name)")
        }
        let refused = try CLITests.run(["plot", out, "--observable", "test_error"])
        #expect(refused.status == 1 && refused.stderr.contains("matrix-model run"), "\(refused.stderr)")
    }
}
