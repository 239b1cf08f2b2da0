import DLNDevice
import DLNModel
import DLNRun
import Foundation
import OpenCLKit

/// `dlnsim run` for a configuration with `model.parameterization: matrix` (full-matrix deep linear networks).
extension Run {
    /// Runs (or, with --check, describes) a matrix configuration whose YAML is `text`.
    func runMatrix(text: String, path: String) throws {
        let parsed = try overrides.map { o throws(DLNError) in try ConfigOverride(parsing: o) }
        let base =
            path == "stdin"
            ? FileManager.default.currentDirectoryPath
            : URL(fileURLWithPath: path).standardizedFileURL.deletingLastPathComponent().path
        let (c, effective) = try MatrixConfiguration.parse(
            yaml: text, file: path, baseDirectory: base, overrides: parsed)
        let part = try shard.map { s throws(DLNError) in try Shard(parsing: s) }
        let setup = (G: c.gridPoints.count, S: c.seeds)
        let P = MatrixShape(widths: c.widths).parameterCount
        let layers: String =
            c.factorization == .symmetric
            ? "W_eff = U·Uᵀ, U \(c.widths[0])×\(c.widths[1]), \(c.widths[0] * c.widths[1]) parameters per replica), "
            : "depth \(c.depth), \(P) parameters per replica), "
        let data: String =
            c.task == .sensing
            ? "matrix sensing from \(c.samples) \(c.sensingOperator.rawValue) measurements"
            : "n = \(c.samples)\(c.whiten ? " whitened" : "")"
        let update: String = Self.updateDescription(c)
        var line: String =
            "\(path): matrix model, widths \(c.widths) (" + layers + "init \(c.initKind.rawValue), " + data
            + ", \(setup.G) grid point" + "\(setup.G == 1 ? "" : "s") × \(setup.S) seed\(setup.S == 1 ? "" : "s"), "
            + update
            + ", \(c.precision.rawValue), about \(String(format: "%.3g", c.memoryEstimate / 1e6)) MB of host memory"
        if let part {
            let B = setup.G * setup.S
            line += "; shard \(part.index)/\(part.count) runs \(part.range(of: B).count) of the \(B) replicas"
        }
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
        if Checkpoint.exists(in: outDir) {
            guard force else {
                directory.abandon()
                throw DLNError.outputFailure(
                    path: outDir,
                    reason:
                        "holds the checkpoint of an unfinished run: continue it with `dlnsim run --resume \(outDir)`, "
                        + "or pass --force to start over")
            }
            Checkpoint.remove(from: outDir)
        }
        let origin = Checkpoint.Origin(
            configPath: path == "stdin" ? base + "/stdin" : URL(fileURLWithPath: path).standardizedFileURL.path,
            configText: effective, device: device ?? "auto", saveWeights: saveWeights, shard: part,
            inputs: try MatrixCheckpoint.fingerprints(of: c))
        note("dlnsim: " + line + " → \(outDir)")
        try runMatrix(c, origin: origin, base: base, device: cl, directory: directory, outDir: outDir, resume: nil)
    }

    /// Continues the interrupted matrix run whose output folder is `folder` (its checkpoint.dlnsim).
    func resumeMatrix(folder: String) throws {
        // The folder is already the run's: files the user added stay untouched.
        let directory = try OutputDirectory.open(folder, mode: .replace, force: true, create: false)
        let checkpointPath = folder + "/" + Checkpoint.fileName
        let (o, progress) = try MatrixCheckpoint.read(from: folder)
        if o.dlnsimVersion != DLNSim.version
            || (o.gitCommit != nil && DLNSim.gitCommit != nil && o.gitCommit != DLNSim.gitCommit)
        {
            throw DLNError.badFile(
                path: checkpointPath,
                reason:
                    "written by dlnsim \(o.dlnsimVersion) (\(o.gitCommit ?? "unknown commit")); this is "
                    + "\(DLNSim.version) (\(DLNSim.gitCommit ?? "unknown commit")): resume with the same build for "
                    + "identical results")
        }
        let base = URL(fileURLWithPath: o.configPath).deletingLastPathComponent().path
        let c = try MatrixConfiguration.parse(yaml: o.configText, file: o.configPath, baseDirectory: base)
        try MatrixCheckpoint.verify(o.inputs, against: c)
        var origin = o
        origin.device = device ?? o.device
        let cl = try DeviceCatalog.resolve(try DeviceRequest(parsing: origin.device), note: note)
        note(
            "dlnsim: resuming \(folder) at replicas \(progress.slice.lowerBound)..<\(progress.slice.upperBound), "
                + "checkpoint \(progress.checkpoint)\(c.update != .flow ? " (step \(progress.step))" : ""), "
                + String(format: "%.0f s of work already done", progress.seconds))
        try runMatrix(
            c, origin: origin, base: base, device: cl, directory: directory, outDir: folder,
            resume: (progress, checkpointPath))
    }

    /// Runs a matrix configuration into its opened output folder, with checkpoints; prints the summary.
    func runMatrix(
        _ c: MatrixConfiguration, origin: Checkpoint.Origin, base: String, device cl: CLDevice?,
        directory: OutputDirectory, outDir: String, resume: (MatrixProgress, String)?
    ) throws {
        if Messages.json {
            Messages.emit([
                "event": "start", "out": outDir, "replicas": c.gridPoints.count * c.seeds,
                "grid_points": c.gridPoints.count, "seeds": c.seeds, "live": false
            ])
        }
        let progress = ProgressLine(style: quiet ? .none : self.progress)
        var options = MatrixRunOptions()
        options.shard = origin.shard
        options.resume = resume?.0
        options.resumePath = resume?.1 ?? Checkpoint.fileName
        options.progress = progress.update
        options.checkpointInterval = checkpointEvery * 60
        options.shouldStop = { stopRequested }
        // Test hook: hold after the k-th checkpoint (so that a test can stop the process at a known point).
        let hold = Int(ProcessInfo.processInfo.environment["DLNSIM_TEST_HOLD_AFTER_CHECKPOINT"] ?? "")
        let state = CheckpointWrites()
        options.writeCheckpoint = { p throws(DLNError) in
            do throws(DLNError) { try MatrixCheckpoint.write(p, origin: origin, to: outDir) } catch {
                // A full disk or a file-size limit: keep the last checkpoint and go on computing.
                if state.failure == nil {
                    note("warning: \(error); the run goes on (the previous checkpoint, if any, stays)")
                }
                state.failure = error
                return
            }
            if state.failure != nil { note("dlnsim: checkpoints are written again") }
            state.failure = nil
            state.written += 1
            if let hold, state.written == hold {
                note("dlnsim: holding after checkpoint \(state.written)")
                while !stopRequested { usleep(10_000) }
            }
        }
        installStopHandlers()
        var run: MatrixRun
        do { run = try MatrixRun.run(c, device: cl, options: options) } catch {
            progress.finish()
            if case .interrupted = error {
                let sig = stopSignal.load(ordering: .relaxed)
                let by = "dlnsim: stopped by \(sig == SIGTERM ? "SIGTERM" : sig == SIGINT ? "SIGINT" : "request")"
                if state.failure == nil {
                    note(by + "; continue with: dlnsim run --resume \(outDir)")
                } else if Checkpoint.exists(in: outDir) {
                    note(
                        by + "; the last checkpoint could not be written, the one before it stays: continue from "
                            + "there with: dlnsim run --resume \(outDir)")
                } else {
                    note(by + "; no checkpoint could be written: the run must start over")
                }
                Foundation.exit(128 + (sig == 0 ? SIGTERM : sig))
            }
            if Checkpoint.exists(in: outDir) {
                note("dlnsim: the last checkpoint is in \(outDir); continue with: dlnsim run --resume \(outDir)")
            } else {
                directory.abandon()
            }
            throw error
        }
        progress.finish()
        run.baseDirectory = base
        let files = try run.write(to: directory, saveWeights: origin.saveWeights, yaml: origin.configText)
        let B = Double(max(1, run.replicasRun))
        if c.update == .flow {
            let evaluations = Double(run.flowEvaluations.reduce(0, +)) / B
            let frozen = run.flowStatus.filter { $0 > 0 }.count
            print(
                String(
                    format: "%@: %d replicas of gradient flow to t = %g in %.2f s (%.0f gradient evaluations per "
                        + "replica) on %@", outDir, run.replicasRun, c.horizon ?? 0, run.seconds, evaluations,
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
                    run.replicasRun, c.steps, run.seconds, B * Double(c.steps) / max(run.seconds, 1e-9),
                    run.deviceDescription))
        }
        let diverged = run.flowStatus.enumerated().filter { $0.element == 2 }.map(\.offset)
        if c.update != .flow && !diverged.isEmpty {
            let points = Set(diverged.map { $0 / run.setup.seeds.count }).sorted()
            note(
                "warning: \(diverged.count) replica(s) diverged (non-finite train loss; status.npy = 2), at grid "
                    + "point(s) \(points.map(String.init).joined(separator: ", ")): a smaller learning rate converges")
        }
        let S = run.setup.seeds.count
        let last = run.steps.count - 1
        for g in c.gridPoints.indices {
            let ids = (0..<S).map { g * S + $0 }
            let loss = MatrixRun.meanSD(ids.map { run.trainLoss[$0][last] }).0
            let test = MatrixRun.meanSD(ids.map { run.testError[$0][last] }).0
            let rank = MatrixRun.meanSD(ids.map { run.effectiveRank[$0][last] }).0
            let point = c.pointLabel(g)
            print(
                String(
                    format: "  %@: train loss %.4g, test error %.4g, effective rank %.3g", point, loss, test, rank))
        }
        print("  files: " + files.joined(separator: ", "))
        if let s = origin.shard {
            print(
                "shard \(s.index)/\(s.count) done: combine the \(s.count) shard folders with `dlnsim merge DIR… --out "
                    + "OUTDIR` (figures come with the merge)")
        }
        if Messages.json { Messages.emit(["event": "done", "out": outDir, "seconds": progress.elapsed]) }
    }

    /// "S steps of mini-batch SGD (b = …, sampling) with label noise σ_ℓ = …, Langevin noise T = …, Nesterov momentum
    /// β = …, C checkpoints", naming the options in use (or gradient flow's horizon and tolerances).
    static func updateDescription(_ c: MatrixConfiguration) -> String {
        if c.update == .flow {
            return "gradient flow to t = \(c.horizon ?? 0) (rtol \(c.flow.rtol), atol \(c.flow.atol)), "
                + "\(c.checkpointTimes.count) checkpoints"
        }
        let update =
            c.update == .sgd
            ? "mini-batch SGD (b = \(c.batchSizeAxis.map { "\($0)" } ?? "\(c.batchSize ?? 0)"), \(c.sampling.rawValue))"
            : "gradient descent"
        func values(_ v: [Double]) -> String {
            v.count == 1 ? "\(v[0])" : "[" + v.map { "\($0)" }.joined(separator: ", ") + "]"
        }
        var parts: [String] = []
        if c.labelNoise.contains(where: { $0 != 0 }) { parts.append("label noise σ_ℓ = \(values(c.labelNoise))") }
        if c.gradientNoise.contains(where: { $0 != 0 }) {
            parts.append("Langevin noise T = \(values(c.gradientNoise))")
        }
        if c.nesterov || c.momentum.contains(where: { $0 != 0 }) {
            parts.append("\(c.nesterov ? "Nesterov" : "heavy-ball") momentum β = \(values(c.momentum))")
        }
        if !c.learningRateSchedule.isConstant { parts.append("schedule \(c.learningRateSchedule.description)") }
        let steps = "\(c.steps) steps of " + update + (parts.isEmpty ? "" : " with " + parts.joined(separator: ", "))
        return steps + ", \(c.checkpointSteps.count) checkpoints"
    }
}

/// What the checkpoints of a matrix run did: how many were written, and why the last one failed (nil: it did not).
final class CheckpointWrites: @unchecked Sendable {
    var written = 0
    var failure: DLNError? = nil
}
