import DLNModel
import DLNTheory
import Foundation
import Testing

@testable import DLNRun

/// `MatrixAnalysis` (what `dlnsim analyze` computes for a matrix run's folder) on small gradient-flow runs: Saxe's
/// half-times against the measured ones, the commuting sensing limit against the run's last checkpoint, the files
/// written, and the refusals of folders that are not a whole matrix run's.
struct MatrixAnalysisTests {
    /// Runs a matrix configuration on the CPU engine and writes its folder; returns the folder.
    static func folder(_ yaml: String, options: MatrixRunOptions = MatrixRunOptions()) throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mx-analyze-\(UUID().uuidString)").path
        let c = try MatrixConfiguration.parse(yaml: yaml, file: "analyze.yaml")
        let run = try MatrixRun.run(c, device: nil, options: options)
        let directory = try OutputDirectory.open(dir, mode: .replace)
        _ = try run.write(to: directory, saveWeights: false, yaml: yaml)
        return dir
    }

    /// Aligned start, whitened inputs, gradient flow in float64 on a linear grid of checkpoints (sum loss with decay:
    /// the clock runs n times faster and the decay per unit of mean-loss time is λ/n). Depth 2 from α = 0.05 and
    /// 0.1, depth 3 from 0.2 and 0.3 (its modes take longer to leave a small start).
    static func saxe(
        loss: String = "mean", lambda: Double = 0, depth: Int = 2, horizon: Double = 5, checkpoints: Int = 50
    ) -> String {
        """
        model: {parameterization: matrix, widths: \(depth == 2 ? "[5, 4, 3]" : "[5, 4, 4, 3]"), init: {kind: aligned}}
        problem: {n: 16, whiten: true, teacher: {singular_values: [3, 1.5]}}
        training: {update: flow, horizon: \(loss == "mean" ? horizon : horizon / 16), precision: float64, loss: \(loss),
                   flow: {rtol: 1e-10, atol: 1e-13}}
        grid: {alpha: \(depth == 2 ? "[0.05, 0.1]" : "[0.2, 0.3]"), weight_decay: \(lambda)}
        seeds: 2
        record: {checkpoints: \(checkpoints), spacing: linear}
        """
    }

    /// Depth 2: the logit interpolation is exact, so the measured half-time is the closed form's to the flow's
    /// accuracy; depth 3 (quadrature): cubic interpolation on checkpoints 0.05 apart, to 1e-4 relative.
    @Test(arguments: [("mean", 0.0, 2), ("sum", 0.8, 2), ("mean", 0.0, 3), ("mean", 0.02, 3)])
    func saxeHalfTimesMatchTheClosedForm(loss: String, lambda: Double, depth: Int) throws {
        let dir = try Self.folder(Self.saxe(loss: loss, lambda: lambda, depth: depth, checkpoints: 100))
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let a = try MatrixAnalysis.run(dir)
        let saxe = try #require(a.saxe)
        #expect(a.commuting == nil)
        #expect(saxe.predictedOrder == [0, 1])
        let c = a.folder.configuration
        let scale = loss == "mean" ? 1.0 : 16
        for (g, p) in c.gridPoints.enumerated() {
            for (i, s) in saxe.singularValues.enumerated() {
                // The prediction is SaxeModes' half-time, for the decay λ/n per unit of mean-loss time.
                let a0 = Foundation.pow(p.alpha, Double(depth))
                let predicted = SaxeModes.halfTime(
                    s: s, a0: a0, depth: depth, lambdaU: lambda / scale, timeScale: scale)
                #expect(saxe.predictedHalfTime[g][i] == predicted)
                if lambda == 0 && depth == 2 {
                    // Depth 2, λ = 0: ln(s/a0 − 1)/(2s).
                    let closed = Foundation.log(s / a0 - 1) / (2 * s)
                    #expect(abs(predicted - closed) <= 1e-12 * closed)
                }
                for seed in 0..<2 {
                    let b = g * 2 + seed
                    let measured = saxe.halfTime[b][i]
                    #expect(
                        abs(measured - predicted) <= (depth == 2 ? 1e-8 : 1e-4) * predicted,
                        "point \(g) mode \(i): half-time \(measured), predicted \(predicted)")
                    // The run follows the curves the run wrote (theory_mode_strength.npy).
                    #expect(saxe.deviation[b][i] < 1e-6 * s, "point \(g) mode \(i): \(saxe.deviation[b][i])")
                }
            }
        }
        // The files: shapes as documented, the values those computed.
        let staging = dir + "/staged"
        try FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: true)
        let written = try a.write(to: staging)
        #expect(written.map(\.name).contains("analysis_half_time.npy"))
        let half = try NPY.read(path: staging + "/analysis_half_time.npy")
        #expect(half.shape == [2, 2, 2] && half.values == saxe.halfTime.flatMap { $0 })
        let predicted = try NPY.read(path: staging + "/analysis_predicted_half_time.npy")
        #expect(predicted.shape == [2, 2] && predicted.values == saxe.predictedHalfTime.flatMap { $0 })
        #expect(!FileManager.default.fileExists(atPath: staging + "/analysis_predicted_singular_values.npy"))
        let relative = try NPY.read(path: staging + "/analysis_relative_test_error.npy")
        let norm = 3.0 * 3 + 1.5 * 1.5
        #expect(relative.values == a.final["test_error"]!.map { $0 / norm })
    }

    @Test func halfTimeInterpolatesTheLogisticExactly() {
        // a(t) = s/(1 + (s/a0 − 1)e^{−2st}) sampled coarsely: the logit interpolation recovers the half-time.
        let (s, a0) = (2.0, 0.01)
        let t = stride(from: 0.0, through: 4, by: 0.5).map { $0 }
        let a = t.map { s / (1 + (s / a0 - 1) * Foundation.exp(-2 * s * $0)) }
        let exact = Foundation.log(s / a0 - 1) / (2 * s)
        #expect(abs(MatrixAnalysis.halfTime(a, times: t, limit: s, start: a0) - exact) < 1e-12)
        // Never reached, or started beyond: NaN.
        #expect(MatrixAnalysis.halfTime(Array(a.prefix(2)), times: Array(t.prefix(2)), limit: s, start: a0).isNaN)
        #expect(MatrixAnalysis.halfTime(a, times: t, limit: s, start: 1.5).isNaN)
    }

    static let commuting = """
        model: {parameterization: matrix, widths: [6, 6, 6], init: {kind: identity}}
        problem: {task: sensing, operator: diagonal, n: 4, teacher: {singular_values: [2, 1, 0.5]}}
        training: {update: flow, horizon: 2000, precision: float64, flow: {rtol: 1e-10, atol: 1e-13}}
        grid: {alpha: 0.1}
        seeds: 2
        record: {checkpoints: 10}
        """

    @Test func commutingSensingLimitMatchesTheRun() throws {
        let dir = try Self.folder(Self.commuting)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let a = try MatrixAnalysis.run(dir)
        #expect(a.saxe == nil)
        let r = try #require(a.commuting)
        for b in 0..<2 {
            #expect(r.predictedSingularValues[b].count == 6)
            #expect(r.distance[b] < 1e-6, "replica \(b): ‖σ − σ̂‖/‖σ̂‖ = \(r.distance[b])")
            for (run, predicted) in zip(r.singularValues[b], r.predictedSingularValues[b]) {
                #expect(abs(run - predicted) <= 1e-6 * predicted, "\(run) vs \(predicted)")
            }
            let test = a.final["test_error"]![b]
            #expect(
                abs(test - r.predictedTestError[b]) <= 1e-6 * max(test, 1e-3), "\(test) vs \(r.predictedTestError[b])")
            let nuclear = a.final["nuclear_norm"]![b]
            #expect(abs(nuclear - r.predictedNuclearNorm[b]) <= 1e-6 * nuclear)
        }
        // 4 measurements of a rank-3 teacher on 6 coordinates: the limit fits them, it does not recover T.
        #expect(r.predictedTestError[0] > 1e-3)
        let staging = dir + "/staged"
        try FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: true)
        let names = try a.write(to: staging).map(\.name)
        #expect(names.contains("analysis_predicted_singular_values.npy") && !names.contains("analysis_half_time.npy"))
        let sv = try NPY.read(path: staging + "/analysis_predicted_singular_values.npy")
        #expect(sv.shape == [1, 2, 6] && sv.values == r.predictedSingularValues.flatMap { $0 })
        #expect(try NPY.read(path: staging + "/analysis_predicted_test_error.npy").values == r.predictedTestError)
    }

    @Test func otherRunsSayWhichPredictionIsMissing() throws {
        let gaussian = Self.commuting.replacingOccurrences(of: "operator: diagonal", with: "operator: gaussian")
            .replacingOccurrences(of: "horizon: 2000", with: "horizon: 1")
        let dir = try Self.folder(gaussian)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let a = try MatrixAnalysis.run(dir)
        #expect(a.saxe == nil && a.commuting == nil)
        #expect(a.notes.contains { $0.contains("no closed form for gaussian sensing operators") }, "\(a.notes)")
        let gaussianStart = Self.saxe(horizon: 0.5).replacingOccurrences(of: "kind: aligned", with: "kind: gaussian")
        let other = try Self.folder(gaussianStart)
        defer { try? FileManager.default.removeItem(atPath: other) }
        let b = try MatrixAnalysis.run(other)
        #expect(b.saxe == nil && b.notes.contains { $0.contains("the aligned start (this run: gaussian)") })
        #expect(b.final["train_loss"]!.count == 4 && b.final["train_loss"]!.allSatisfy { $0.isFinite })
    }

    @Test func foldersThatAreNotAWholeMatrixRunAreRefusedByFile() throws {
        let yaml = Self.saxe(horizon: 0.5)
        let dir = try Self.folder(yaml)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        func refusal(_ path: String = "") -> String {
            do {
                _ = try MatrixAnalysis.run(path.isEmpty ? dir : path)
                return ""
            } catch { return error.description }
        }
        try FileManager.default.removeItem(atPath: dir + "/mode_strength.npy")
        let missing = refusal()
        #expect(missing.contains("mode_strength.npy") && missing.contains("missing"), "\(missing)")
        // A file of another run under the right name: its hash is not the one manifest.json lists.
        let other = try Self.folder(yaml.replacingOccurrences(of: "alpha: [0.05, 0.1]", with: "alpha: [0.2, 0.3]"))
        defer { try? FileManager.default.removeItem(atPath: other) }
        try FileManager.default.copyItem(atPath: other + "/mode_strength.npy", toPath: dir + "/mode_strength.npy")
        let foreign = refusal()
        #expect(foreign.contains("mode_strength.npy") && foreign.contains("not the file this run wrote"), "\(foreign)")
        try FileManager.default.removeItem(atPath: other + "/config.yaml")
        let noConfig = refusal(other)
        #expect(noConfig.contains("config.yaml") && noConfig.contains("missing"), "\(noConfig)")
        var options = MatrixRunOptions()
        options.shard = try Shard(index: 0, count: 2)
        let shard = try Self.folder(yaml, options: options)
        defer { try? FileManager.default.removeItem(atPath: shard) }
        #expect(refusal(shard).contains("dlnsim merge"), "\(refusal(shard))")
        let empty = FileManager.default.temporaryDirectory.appendingPathComponent("mx-empty-\(UUID().uuidString)").path
        #expect(refusal(empty).contains("manifest.json"))
    }
}
