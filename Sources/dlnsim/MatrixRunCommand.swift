import DLNDevice
import DLNModel
import DLNRun
import Foundation

/// `dlnsim run` for a configuration with `model.parameterization: matrix` (full-matrix deep linear networks).
extension Run {
    /// Runs (or, with --check, describes) a matrix configuration whose YAML is `text`.
    func runMatrix(text: String, path: String) throws {
        if resume != nil || shard != nil {
            throw DLNError.invalidProblem(
                "--resume and --shard are not available for the matrix model yet (its runs start over)")
        }
        let parsed = try overrides.map { o throws(DLNError) in try ConfigOverride(parsing: o) }
        let base = path == "stdin" ? "." : URL(fileURLWithPath: path).deletingLastPathComponent().path
        let (c, effective) = try MatrixConfiguration.parse(
            yaml: text, file: path, baseDirectory: base, overrides: parsed)
        let setup = (G: c.gridPoints.count, S: c.seeds)
        let P = MatrixShape(widths: c.widths).parameterCount
        let line =
            "\(path): matrix model, widths \(c.widths) (depth \(c.depth), \(P) parameters per replica), "
            + "init \(c.initKind.rawValue), "
            + (c.task == .sensing
                ? "matrix sensing from \(c.samples) \(c.sensingOperator.rawValue) measurements"
                : "n = \(c.samples)\(c.whiten ? " whitened" : "")") + ", \(setup.G) grid point"
            + "\(setup.G == 1 ? "" : "s") × \(setup.S) seed\(setup.S == 1 ? "" : "s"), "
            + (c.update == .flow
                ? "gradient flow to t = \(c.horizon ?? 0) (rtol \(c.flow.rtol), atol \(c.flow.atol)), "
                    + "\(c.checkpointTimes.count) checkpoints"
                : "\(c.steps) steps of gradient descent, \(c.checkpointSteps.count) checkpoints")
            + ", \(c.precision.rawValue), about \(String(format: "%.3g", c.memoryEstimate / 1e6)) MB of host memory"
        let bytes = c.memoryEstimate
        let available = Double(ProcessInfo.processInfo.physicalMemory) * 0.8
        if bytes > available {
            throw DLNError.invalidProblem(
                String(
                    format: "%@: the run needs about %.3g GB of host memory, more than 80%% of this machine's %.3g GB "
                        + "(fewer seeds or grid points, narrower widths, or fewer samples)", path, bytes / 1e9,
                    Double(ProcessInfo.processInfo.physicalMemory) / 1e9))
        }
        if check {
            print("ok: " + line)
            return
        }
        let request = try DeviceRequest(parsing: device ?? "auto")
        let cl = try DeviceCatalog.resolve(request, note: note)
        let outDir = out ?? "dlnsim-out/\(c.name)"
        let directory = try OutputDirectory.open(outDir, mode: .replace, force: force)
        note("dlnsim: " + line + " → \(outDir)")
        if Messages.json {
            Messages.emit([
                "event": "start", "out": outDir, "replicas": c.gridPoints.count * c.seeds,
                "grid_points": c.gridPoints.count, "seeds": c.seeds, "live": false
            ])
        }
        let progress = ProgressLine(style: quiet ? .none : self.progress)
        let run = try MatrixRun.run(c, device: cl, progress: progress.update)
        progress.finish()
        let files = try run.write(to: directory, saveWeights: saveWeights, yaml: effective)
        let B = Double(run.setup.batch.replicas)
        if c.update == .flow {
            let evaluations = Double(run.flowEvaluations.reduce(0, +)) / B
            let frozen = run.flowStatus.filter { $0 != 0 }.count
            print(
                String(
                    format: "%@: %d replicas of gradient flow to t = %g in %.2f s (%.0f gradient evaluations per "
                        + "replica) on %@", outDir, run.setup.batch.replicas, c.horizon ?? 0, run.seconds, evaluations,
                    run.deviceDescription))
            if frozen > 0 {
                note(
                    "warning: \(frozen) replica(s) stopped before the horizon (status.npy: 1 step floor, 2 non-finite, "
                        + "3 past training.flow.max_steps)")
            }
        } else {
            print(
                String(
                    format: "%@: %d replicas × %d steps in %.2f s (%.3g replica-steps/s) on %@", outDir,
                    run.setup.batch.replicas, c.steps, run.seconds, B * Double(c.steps) / max(run.seconds, 1e-9),
                    run.deviceDescription))
        }
        let diverged = run.flowStatus.enumerated().filter { $0.element == 2 }.map(\.offset)
        if c.update == .gd && !diverged.isEmpty {
            let points = Set(diverged.map { $0 / run.setup.seeds.count }).sorted()
            note(
                "warning: \(diverged.count) replica(s) diverged (non-finite train loss; status.npy = 2), at grid "
                    + "point(s) \(points.map(String.init).joined(separator: ", ")): a smaller learning rate converges")
        }
        let S = run.setup.seeds.count
        let last = run.steps.count - 1
        for (g, p) in c.gridPoints.enumerated() {
            let ids = (0..<S).map { g * S + $0 }
            let loss = MatrixRun.meanSD(ids.map { run.trainLoss[$0][last] }).0
            let test = MatrixRun.meanSD(ids.map { run.testError[$0][last] }).0
            let rank = MatrixRun.meanSD(ids.map { run.effectiveRank[$0][last] }).0
            let point =
                c.update == .flow
                ? String(format: "α = %g, λ = %g", p.alpha, p.weightDecay)
                : String(format: "α = %g, λ = %g, η = %g", p.alpha, p.weightDecay, p.learningRate)
            print(
                String(
                    format: "  %@: train loss %.4g, test error %.4g, effective rank %.3g", point, loss, test, rank))
        }
        print("  files: " + files.joined(separator: ", "))
        if Messages.json { Messages.emit(["event": "done", "out": outDir, "seconds": progress.elapsed]) }
    }
}
