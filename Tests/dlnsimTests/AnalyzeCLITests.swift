import DLNModel
import DLNRun
import DLNTheory
import Foundation
import Testing

/// `dlnsim analyze` and the run's metadata, run as a user would: the figures it says it redrew, user data
/// (centred, or with a teacher and no test set), late-rate fits near the round-off floor, horizon runs' steps and
/// checkpoints, frozen replicas in the summary.
@Suite(.serialized) struct AnalyzeCLITests {
    static func run(_ arguments: [String]) throws -> CLITests.Output { try CLITests.run(arguments) }

    static func write(_ yaml: String, _ dir: String) throws -> String {
        try yaml.write(toFile: dir + "/c.yaml", atomically: true, encoding: .utf8)
        return dir + "/c.yaml"
    }

    /// The analysis array of one quantity, flattened [grid point, seed].
    static func analysis(_ dir: String, _ name: String) throws -> [Double] {
        try NPY.read(path: dir + "/analysis_\(name).npy").values
    }

    /// analyze draws the predicted test error on the figure it says it redrew (one grid point: no
    /// parameter figure, so the time figure carries it).
    @Test func analyzeDrawsThePredictionsOnTheFiguresItNames() throws {
        let dir = CLITests.temporary()
        let config = try Self.write(
            "problem: {d: 30, n: 15}\ntraining: {steps: 3000, precision: float64}\ngrid: {alpha: 0.5}\nseeds: 2\n",
            dir)
        #expect(try Self.run(["run", config, "--out", dir + "/o", "--quiet", "--device", "cpu"]).status == 0)
        let before = try String(contentsOfFile: dir + "/o/test_error.svg", encoding: .utf8)
        let r = try Self.run(["analyze", dir + "/o"])
        #expect(r.status == 0, "\(r.stderr)")
        let after = try String(contentsOfFile: dir + "/o/test_error.svg", encoding: .utf8)
        #expect(before != after)
        #expect(!before.contains("theory: limit of the flow") && after.contains("theory: limit of the flow"))
        #expect(r.stdout.contains("with the predictions on test_error.svg"), "\(r.stdout)")
    }

    /// A uv flow run (float64, δ = 0.5, ±1 teacher, v_noise 1, α = 1) reaches the round-off floor (~1e-17) at
    /// t ≈ 50 and sits there until the horizon: the fit leaves the floor out and finds the predicted rate (a fixed
    /// 1e-17…1e-9 window gave 0.11 against 0.66 here; 0.0016 against 0.44 at d = 100, horizon 3000).
    @Test func fittedRateLeavesOutTheRoundOffFloor() throws {
        let dir = CLITests.temporary()
        let config = try Self.write(
            """
            problem: {d: 40, delta: 0.5, teacher: {values: signs}}
            model: {parameterization: uv, init: {v_noise: 1}}
            training: {update: flow, horizon: 300, precision: float64}
            grid: {alpha: 1}
            seeds: 1
            record: {linear: 100}
            """, dir)
        let run = try Self.run(["run", config, "--out", dir + "/o", "--quiet", "--device", "cpu"])
        #expect(run.status == 0, "\(run.stderr)")
        let r = try Self.run(["analyze", dir + "/o"])
        #expect(r.status == 0, "\(r.stderr)")
        let fitted = try Self.analysis(dir + "/o", "fitted_rate")[0]
        let predicted = try Self.analysis(dir + "/o", "predicted_rate")[0]
        #expect(predicted > 0.5 && predicted < 0.8, "predicted \(predicted)")
        #expect(abs(fitted - predicted) < 0.05 * predicted, "fitted \(fitted), predicted \(predicted)")
        #expect(try Self.analysis(dir + "/o", "fitted_rate_points")[0] >= 3)
    }

    /// Centred user data (rank n − 1): the implicit bias and the late rate come from the row space, and the
    /// predicted rate is the one the run shows.
    @Test func centredUserDataGetAPredictedRateThatMatchesTheRun() throws {
        let dir = CLITests.temporary()
        let (n, d) = (12, 30)
        var (x, y) = AnalysisProblem.gaussian(n: n, d: d, seed: 3)
        for j in 0..<d {
            let m = (0..<n).reduce(0.0) { $0 + x[$1 * d + j] } / Double(n)
            for i in 0..<n { x[i * d + j] -= m }
        }
        let my = y.reduce(0, +) / Double(n)
        y = y.map { $0 - my }
        try NPY.write(x, shape: [n, d], dtype: .float64, to: dir + "/X.npy")
        try NPY.write(y, shape: [n], dtype: .float64, to: dir + "/y.npy")
        let config = try Self.write(
            "problem: {files: {X: X.npy, y: y.npy}}\ntraining: {steps: 40000, precision: float64}\n"
                + "grid: {alpha: 1, learning_rate: 0.01}\nseeds: 1\nrecord: {linear: 80}\n", dir)
        #expect(try Self.run(["run", config, "--out", dir + "/o", "--quiet", "--device", "cpu"]).status == 0)
        let r = try Self.run(["analyze", dir + "/o"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("solved in its row space"), "\(r.stdout)")
        #expect(try Self.analysis(dir + "/o", "prediction_converged")[0] == 1)
        let predicted = try Self.analysis(dir + "/o", "predicted_rate")[0]
        let fitted = try Self.analysis(dir + "/o", "fitted_rate")[0]
        #expect(predicted.isFinite && abs(fitted - predicted) <= 0.05 * predicted, "\(fitted) vs \(predicted)")
    }

    /// User data with a teacher and no held-out set: the test error is v̂·‖w − w*‖² (v̂ the design's mean square
    /// entry), in the run and in the prediction, never NaN.
    @Test func userDataWithATeacherAndNoTestSetHaveATestError() throws {
        let dir = CLITests.temporary()
        let (n, d) = (10, 20)
        let (x, y) = AnalysisProblem.gaussian(n: n, d: d, seed: 5)
        let wStar = (0..<d).map { $0 % 5 == 0 ? 1.0 : 0 }
        try NPY.write(x, shape: [n, d], dtype: .float64, to: dir + "/X.npy")
        try NPY.write(y, shape: [n], dtype: .float64, to: dir + "/y.npy")
        try NPY.write(wStar, shape: [d], dtype: .float64, to: dir + "/w.npy")
        let config = try Self.write(
            "problem: {files: {X: X.npy, y: y.npy, w_star: w.npy}}\ntraining: {steps: 20000, precision: float64}\n"
                + "grid: {alpha: 0.1}\nseeds: 1\n", dir)
        #expect(
            try Self.run(["run", config, "--out", dir + "/o", "--quiet", "--device", "cpu", "--save-weights"]).status
                == 0)
        let test = try NPY.read(path: dir + "/o/test_error.npy").values
        let w = try NPY.read(path: dir + "/o/weights.npy").values
        let v = x.reduce(0) { $0 + $1 * $1 } / Double(n * d)
        let expected = v * zip(w, wStar).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }
        #expect(abs(test.last! - expected) <= 1e-9 * expected, "\(test.last!) vs \(expected)")
        #expect(try Self.run(["analyze", dir + "/o"]).status == 0)
        let predicted = try Self.analysis(dir + "/o", "predicted_test_error")[0]
        #expect(predicted.isFinite && abs(predicted - expected) < 0.05 * expected, "\(predicted) vs \(expected)")
    }

    /// Horizon runs: manifest.json and report.html give the steps each grid point ran and the horizon, and the
    /// checkpoints of every grid point are distinct (times.npy rows strictly increasing).
    @Test func horizonRunsRecordTheStepsTheyRan() throws {
        let dir = CLITests.temporary()
        let config = try Self.write(
            "problem: {d: 10, n: 5}\ntraining: {horizon: 30}\ngrid: {learning_rate: [0.1, 0.05]}\n"
                + "record: {checkpoints: 80}\n", dir)
        #expect(try Self.run(["run", config, "--out", dir + "/o", "--quiet", "--device", "cpu"]).status == 0)
        let data = try Data(contentsOf: URL(fileURLWithPath: dir + "/o/manifest.json"))
        let manifest = try JSONSerialization.jsonObject(with: data) as! [String: Any]
        #expect(manifest["steps"] as? [Int] == [300, 600], "\(String(describing: manifest["steps"]))")
        #expect(manifest["horizon"] as? Double == 30)
        let html = try String(contentsOfFile: dir + "/o/report.html", encoding: .utf8)
        #expect(html.contains("<tr><th>steps</th><td>300, 600</td></tr>"))
        let times = try NPY.read(path: dir + "/o/times.npy")
        let C = times.shape[1]
        for g in 0..<2 {
            let row = Array(times.values[(g * C)..<((g + 1) * C)])
            #expect(zip(row, row.dropFirst()).allSatisfy { $0 < $1 }, "grid point \(g): \(row)")
        }
    }

    /// Replicas frozen with a finite loss are reported with their reason and left out of the medians.
    @Test func frozenReplicasAreReportedWithTheirReason() throws {
        let dir = CLITests.temporary()
        let config = try Self.write(
            "problem: {d: 20, n: 10, data: shared, teacher: {values: gaussian}}\n"
                + "training: {steps: 200, max_loss_ratio: 10}\n"
                + "grid: {learning_rate: [0.05, 3]}\nseeds: 3\n", dir)
        let r = try Self.run(["run", config, "--out", dir + "/o", "--device", "cpu"])
        #expect(r.status == 0, "\(r.stderr)")
        let status = try NPY.read(path: dir + "/o/status.npy").values
        #expect(status[3..<6].allSatisfy { $0 == Double(ReplicaStatus.lossBound.code) }, "\(status)")
        let lines = r.stdout.split(separator: "\n").map(String.init)
        let frozenLine = lines.first { $0.hasPrefix("    1 ") } ?? ""
        #expect(frozenLine.contains("3 frozen: the loss exceeded training.max_loss_ratio"), "\(r.stdout)")
        #expect(!r.stdout.contains("non-finite"), "\(r.stdout)")
        #expect(frozenLine.contains("nan"), "the median leaves the frozen replicas out: \(frozenLine)")
        // analyze's medians leave them out too (the simulated test error of the frozen point is NaN).
        let a = try Self.run(["analyze", dir + "/o"])
        #expect(a.status == 0, "\(a.stderr)")
        let row = a.stdout.split(separator: "\n").first { $0.hasPrefix("3.0 ") }.map(String.init) ?? ""
        #expect(row.split(separator: " ").dropFirst().first == "nan", "\(a.stdout)")
    }

    /// Label noise on pm: analyze sets the lasso beside w averaged over the recorded checkpoints (record.weights),
    /// NaN where σ = 0; with sgd it predicts for b = n without replacement (epochs) and says why not for b < n, from
    /// the final values when no weights were recorded.
    @Test func labelNoiseLassoBesideTheRun() throws {
        let dir = CLITests.temporary()
        let config = try Self.write(
            """
            problem: {d: 10, n: 20, noise: 0.3, data: shared}
            training: {steps: 3000, precision: float64}
            grid: {alpha: 0.1, learning_rate: 0.1, label_noise: [0, 3]}
            seeds: 2
            record: {linear: 40, weights: true}
            """, dir)
        let run = try Self.run(["run", config, "--out", dir + "/o", "--quiet", "--device", "cpu"])
        #expect(run.status == 0, "\(run.stderr)")
        let r = try Self.run(["analyze", dir + "/o"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("w averaged over its recorded checkpoints with t ≥ T/2"), "\(r.stdout)")
        let predicted = try Self.analysis(dir + "/o", "label_noise_predicted_l1_norm")
        let simulated = try Self.analysis(dir + "/o", "label_noise_l1_norm")
        let averaged = try Self.analysis(dir + "/o", "label_noise_time_averaged")
        #expect(predicted[0].isNaN && predicted[1].isNaN, "σ = 0: no label-noise prediction")
        #expect(predicted[2] > 0 && predicted[3] > 0 && averaged[2] == 1 && averaged[3] == 1)
        #expect(abs(simulated[2] / predicted[2] - 1) < 0.2, "‖w̄‖₁ \(simulated[2]) against the lasso's \(predicted[2])")

        let sgd = try Self.write(
            """
            problem: {d: 10, n: 20, noise: 0.3, data: shared}
            training: {steps: 300, update: sgd, sampling: epochs, label_noise: 1}
            grid: {alpha: 0.1, learning_rate: 0.05, batch_size: [20, 4]}
            seeds: 2
            """, dir)
        #expect(try Self.run(["run", sgd, "--out", dir + "/s", "--quiet", "--device", "cpu"]).status == 0)
        let s = try Self.run(["analyze", dir + "/s"])
        #expect(s.status == 0, "\(s.stderr)")
        #expect(s.stdout.contains("final values (no record.weights)"), "\(s.stdout)")
        #expect(s.stdout.contains("label noise: no lasso prediction at grid point(s) [1]: sgd with b = 4 < n"))
        let sgdPredicted = try Self.analysis(dir + "/s", "label_noise_predicted_test_error")
        let sgdAveraged = try Self.analysis(dir + "/s", "label_noise_time_averaged")
        #expect(sgdPredicted[0].isFinite && sgdPredicted[2].isNaN && sgdAveraged[0] == 0)
    }
}

/// A Gaussian n×d design and noiseless labels of a sparse teacher, from a fixed seed.
enum AnalysisProblem {
    static func gaussian(n: Int, d: Int, seed: UInt64) -> (x: [Double], y: [Double]) {
        let rng = CounterRNG(seed: seed)
        let x = (0..<(n * d)).map { rng.gaussian(stream: 0, index: UInt64($0)) }
        let y = (0..<n).map { i in (0..<d).reduce(0.0) { $0 + ($1 % 5 == 0 ? x[i * d + $1] : 0) } }
        return (x, y)
    }
}
