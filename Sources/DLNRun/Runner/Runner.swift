import DLNDevice
import DLNModel
import DLNTheory
import Foundation

/// What a run is asked to do: a configuration file (or the output folder of an interrupted run to resume),
/// where to write, on which device, and how to checkpoint.
public struct RunRequest: Sendable {
    /// The configuration's YAML file; nil with `resume`.
    public var configPath: String?
    /// The output folder of an interrupted run to continue from its checkpoint.
    public var resume: String?
    /// The output folder (default: dlnsim-out/<config name>).
    public var out: String?
    /// A device request (auto, cpu, gpu, opencl, opencl:P:D); nil: the configuration's, else auto.
    public var device: String?
    /// Write into a folder that is not a dlnsim output, or over an unfinished run's checkpoint.
    public var force = false
    /// Also write the final parameters (weights.npy, layers.npy).
    public var saveWeights = false
    /// Minutes between checkpoints (0: at every chunk of steps).
    public var checkpointMinutes = 10.0
    /// `i/N`: run only shard i of N.
    public var shard: String?
    /// The configuration's text when it does not come from `configPath` (standard input: `configPath` then only
    /// names it, and relative data paths are read against its folder).
    public var configText: String?
    /// `key=value` overrides of the configuration, applied before it is validated.
    public var overrides: [ConfigOverride] = []

    /// An empty request.
    public init() {}
}

/// One run, from its request to a finished output folder: it reads and validates the configuration (or the
/// checkpoint it resumes), prepares the folder, chooses the engine, builds the experiment, runs it with
/// checkpoints, and writes the arrays, statistics, DMFT curves and figures. The command line only prints.
public final class Runner {
    /// What the run was started from (kept in every checkpoint).
    public let origin: Checkpoint.Origin
    public let configuration: Configuration
    public let outDir: String
    /// The output folder, locked for this run.
    public let directory: OutputDirectory
    public let deviceRequest: DeviceRequest
    public let engine: any FlowEngine
    public let experiment: Experiment
    /// What the run records besides the observables (`record.weights`, `record.activation`; nil: nothing).
    public let recording: Recording?
    /// The progress of the interrupted run being resumed.
    public let resumed: RunProgress?
    /// Why the last checkpoint could not be written (nil: it was, or none was due yet). A failed checkpoint does
    /// not stop the run: the previous one stays whole, and the run goes on.
    public private(set) var checkpointFailure: DLNError? = nil
    let note: (String) -> Void

    /// Validates a configuration file (and a shard text) without running it; returns the line to print (with the
    /// shard's part of the run) and the warnings (`Configuration.warnings`, and a shard that holds no replicas).
    public static func check(
        configPath path: String, text: String? = nil, overrides: [ConfigOverride] = [], shard: String?
    ) throws(DLNError) -> (line: String, warnings: [String]) {
        var source = text ?? ""
        if text == nil { source = try Configuration.text(path: path) }
        let configuration = try Configuration.load(text: source, path: path, overrides: overrides).configuration
        var line =
            "\(path): valid: \(configuration.replicaCount) replicas (\(configuration.gridPoints) grid points × "
            + "\(configuration.seeds) seeds)"
        var warnings = configuration.warnings
        if let size = try Recording.sizeLine(configuration, file: path) {
            line +=
                "; the recorded arrays take \(size) of record.max_bytes = "
                + Recording.size(configuration.record.maxBytes)
        }
        if let regime = configuration.deepRegime { line += "; " + regime }
        if let cost = configuration.curvatureCostLine { line += "; " + cost }
        if let shard = try shard.map({ s throws(DLNError) in try Shard(parsing: s) }) {
            let sizes = Experiment.batchSizes(configuration)
            line += "; shard \(shard.index)/\(shard.count) runs \(shard.replicaCount(batches: sizes)) of them"
            if let empty = shard.emptiness(batches: sizes) { warnings.append("warning: " + empty) }
        }
        return (line, warnings)
    }

    /// The replicas this process runs (a shard's part, or all of them).
    public var replicasRun: Int {
        origin.shard?.replicaCount(batches: experiment.groups.map(\.batch.layout.replicas)) ?? experiment.replicaCount
    }

    /// Warnings to print before the run: the configuration's, first steps below one ulp, and a shard that holds no
    /// replicas.
    public var warnings: [String] {
        configuration.warnings + experiment.precisionWarnings
            + (origin.shard?.emptiness(batches: experiment.groups.map(\.batch.layout.replicas)).map {
                ["warning: " + $0]
            }
                ?? [])
    }

    /// Prepares a run: every check that can fail before any work (configuration, checkpoint, output folder,
    /// device, precision, data files) happens here. `note` receives lines for stderr.
    public init(_ request: RunRequest, note: @escaping (String) -> Void) throws(DLNError) {
        self.note = note
        var progressSoFar: RunProgress? = nil
        let origin: Checkpoint.Origin
        let outDir: String
        let directory: OutputDirectory
        if let folder = request.resume {
            // The folder is already the run's: files the user added stay untouched.
            directory = try OutputDirectory.open(folder, mode: .replace, force: true, create: false)
            let (o, p) = try Checkpoint.read(from: folder)
            if o.dlnsimVersion != DLNSim.version
                || (o.gitCommit != nil && DLNSim.gitCommit != nil && o.gitCommit != DLNSim.gitCommit)
            {
                throw DLNError.badFile(
                    path: folder + "/" + Checkpoint.fileName,
                    reason:
                        "written by dlnsim \(o.dlnsimVersion) (\(o.gitCommit ?? "unknown commit")); this is "
                        + "\(DLNSim.version) (\(DLNSim.gitCommit ?? "unknown commit")): resume with the same "
                        + "build for identical results"
                )
            }
            var kept = Checkpoint.Origin(
                configPath: o.configPath, configText: o.configText, device: request.device ?? o.device,
                saveWeights: o.saveWeights, shard: o.shard, inputs: o.inputs)
            kept.started = o.started
            origin = kept
            progressSoFar = p
            outDir = folder
        } else {
            guard let path = request.configPath else {
                throw .invalidProblem("give the experiment's YAML file, or resume an output folder")
            }
            var source = request.configText ?? ""
            if request.configText == nil { source = try Configuration.text(path: path) }
            let (configuration, text) = try Configuration.load(text: source, path: path, overrides: request.overrides)
            let absolute = URL(fileURLWithPath: path).standardizedFileURL.path
            origin = Checkpoint.Origin(
                configPath: absolute, configText: text, device: request.device ?? configuration.device ?? "auto",
                saveWeights: request.saveWeights,
                shard: try request.shard.map { s throws(DLNError) in try Shard(parsing: s) },
                inputs: try Checkpoint.fingerprints(of: configuration))
            outDir = request.out ?? "dlnsim-out/\(configuration.name)"
            directory = try OutputDirectory.open(outDir, mode: .replace, force: request.force)
            if Checkpoint.exists(in: outDir) {
                guard request.force else {
                    directory.abandon()
                    throw DLNError.outputFailure(
                        path: outDir,
                        reason:
                            "holds the checkpoint of an unfinished run: continue it with `dlnsim run --resume "
                            + "\(outDir)`, or pass --force to start over"
                    )
                }
                Checkpoint.remove(from: outDir)
            }
        }
        self.origin = origin
        self.outDir = outDir
        self.directory = directory
        self.resumed = progressSoFar
        do {
            configuration = try origin.configuration()
            if request.resume != nil { try Checkpoint.verify(origin.inputs, against: configuration) }
            deviceRequest = try DeviceRequest(parsing: origin.device)
            engine = try DeviceCatalog.engine(for: deviceRequest, note: note)
            try engine.require(configuration.training.precision)
            // A record above record.max_bytes is refused before the experiment's data are made.
            if configuration.problem.files == nil { _ = try Recording.sizeLine(configuration, file: origin.configPath) }
            experiment = try Experiment(configuration)
            recording = try Recording.plan(experiment, file: origin.configPath)
        } catch {
            // A bad data file, no device: leave no empty output folder behind.
            directory.abandon()
            throw error
        }
        if let p = progressSoFar {
            try Checkpoint.check(p, against: experiment, origin: origin, path: outDir + "/" + Checkpoint.fileName)
        }
    }

    /// One line: what runs where.
    public var description: String {
        let shapes = Set(experiment.gridPoints.map { "d = \($0.d), n = \($0.n)" }).sorted().joined(separator: "; ")
        let horizon = configuration.training.horizon.map { "t = \($0)" } ?? "\(configuration.training.steps) steps"
        let shardText = origin.shard.map { " (shard \($0.index)/\($0.count))" } ?? ""
        let batches = "\(experiment.groups.count) batch\(experiment.groups.count == 1 ? "" : "es")"
        let orders = experiment.summationOrders
        let orderText =
            !orders.contains(.strided)
            ? "" : orders.allSatisfy { $0 == .strided } ? " (strided sums)" : " (strided sums in some batches)"
        return
            "dlnsim: \(experiment.replicaCount) replicas\(shardText) (\(experiment.gridPoints.count) grid points × "
            + "\(experiment.seeds.count) seeds) in \(batches), \(shapes), \(horizon), "
            + "\(configuration.training.precision.rawValue)\(orderText), on \(engine.deviceDescription)"
    }

    /// The line that says where a resumed run picks up; nil for a fresh run.
    public var resumeDescription: String? {
        resumed.map { p in
            "dlnsim: resuming \(outDir) at batch \(p.group + 1) of \(experiment.groups.count), "
                + "\(String(format: "%.0f", p.seconds)) s of work already done"
        }
    }

    /// Runs the experiment, writing checkpoint.dlnsim every `checkpointMinutes` and whenever `shouldStop`
    /// turns true (then it throws `DLNError.interrupted`). `progress(done, total)` counts replica-steps.
    public func run(
        checkpointMinutes: Double, progress: @escaping (Double, Double) -> Void, shouldStop: @escaping () -> Bool,
        reached: ((LiveCheckpoint) -> Void)? = nil
    ) throws(DLNError) -> RunResult {
        var options = RunOptions()
        // The results so far, in OUTDIR/.dlnsim-live (a fresh run first removes a previous run's).
        if resumed == nil { directory.removeLive() }
        let live = LiveResults(
            directory: directory, experiment: experiment, started: origin.started ?? Date(), note: note)
        options.reached = { point in
            live.offer(point)
            reached?(point)
        }
        options.keepFinalState = origin.saveWeights
        options.recording = recording
        options.shard = origin.shard
        options.progress = progress
        options.note = note
        options.checkpointInterval = checkpointMinutes * 60
        options.shouldStop = shouldStop
        // Test hook: hold after the k-th checkpoint (so that a test can kill the process at a known point).
        let hold = Int(ProcessInfo.processInfo.environment["DLNSIM_TEST_HOLD_AFTER_CHECKPOINT"] ?? "")
        var written = 0
        let (origin, outDir, note) = (origin, outDir, note)
        options.writeCheckpoint = { [unowned self] p throws(DLNError) in
            do throws(DLNError) { try Checkpoint.write(p, origin: origin, to: outDir) } catch {
                // A full disk or a file-size limit: keep the last checkpoint and go on computing.
                if checkpointFailure == nil {
                    note("warning: \(error); the run goes on (the previous checkpoint, if any, stays)")
                }
                checkpointFailure = error
                return
            }
            if checkpointFailure != nil { note("dlnsim: checkpoints are written again") }
            checkpointFailure = nil
            written += 1
            if let hold, written == hold {
                note("dlnsim: holding after checkpoint \(written)")
                while !shouldStop() { usleep(10_000) }
            }
        }
        return try Simulation.run(experiment, on: engine, options: options, resume: resumed)
    }

    /// Lines naming the replicas that were frozen (up to ten), empty when none was.
    public func frozenLines(_ result: RunResult) -> [String] {
        let frozen = result.status.indices.filter { ReplicaStatus.isFrozen(code: result.status[$0]) }
        guard !frozen.isEmpty else { return [] }
        let S = experiment.seeds.count
        var lines = [
            "warning: \(frozen.count) replica\(frozen.count == 1 ? " was" : "s were") frozen; their observables stay "
                + "at the state where they stopped, and stats.csv leaves them out (status.npy and manifest.json flag "
                + "them):"
        ]
        for b in frozen.prefix(10) {
            lines.append(
                String(
                    format: "  grid point %d, seed %d at t = %.6g: ", b / S, experiment.seeds[b % S], result.frozenAt[b]
                )
                    + ReplicaStatus.reason(result.status[b]))
        }
        if frozen.count > 10 { lines.append("  … and \(frozen.count - 10) more") }
        return lines
    }

    /// Writes the output folder: arrays, statistics, manifest, and (for a whole run) the DMFT curves of
    /// `theory: dmft` and the figures, into the staging folder; then moves them into place, replacing the previous
    /// run's files, and removes the checkpoint (`OutputDirectory.commit`). If writing fails, what was computed is
    /// written to a fallback folder and the error names it. Returns the DMFT grid points solved (if any).
    @discardableResult
    public func write(_ result: RunResult) throws(DLNError) -> [DMFTStudy.Point] {
        var points: [DMFTStudy.Point] = []
        do {
            let staging = try directory.stage()
            try RunOutput.write(result, experiment: experiment, to: staging, started: origin.started)
            if origin.shard == nil {
                if configuration.theory != nil {
                    points = try DMFTStudy.solveAndWrite(configuration, to: staging, request: deviceRequest)
                }
                let folder = try OutputFolder(staging)
                try Report.write(folder, extra: DMFTStudy.figures(folder))
            }
            try directory.commit()
        } catch {
            // Keep what was computed: write it to a fallback folder before failing.
            let fallback = FileManager.default.temporaryDirectory
                .appendingPathComponent("dlnsim-\(configuration.name)-\(getpid())").path
            note("error: \(error)")
            do throws(DLNError) {
                try RunOutput.write(result, experiment: experiment, to: fallback, started: origin.started)
            } catch {
                // The same limit (a full disk, ulimit -f) may stop the fallback too: say what is where.
                note("error: \(error)")
                let resume =
                    Checkpoint.exists(in: outDir)
                    ? "; its checkpoint is kept: once files can be written, `dlnsim run --resume \(outDir)` writes "
                        + "them again" : ""
                throw .outputFailure(
                    path: outDir,
                    reason:
                        "the files written before the failure are in \(directory.staging) and in \(fallback) (the "
                        + "observables' .npy first)\(resume)")
            }
            throw .outputFailure(path: outDir, reason: "the results were written to \(fallback) instead")
        }
        return points
    }

    /// The closing lines of a finished run: throughput, where the figures are, which files were written.
    public func closingLines(_ result: RunResult) -> [String] {
        var lines: [String] = []
        if experiment.hasFlow {
            let evaluations = result.evaluations.last ?? []
            lines.append(
                String(
                    format:
                        "gradient flow: %.0f gradient evaluations per replica on average (max %.0f), %.0f rejected "
                        + "steps in all; ",
                    evaluations.reduce(0, +) / Double(max(1, evaluations.count)), evaluations.max() ?? 0,
                    result.rejected.last?.reduce(0, +) ?? 0)
                    + String(
                        format: "%.0f replica-evaluations/s (%.2f s) on ", result.replicaStepsPerSecond, result.seconds)
                    + result.engine)
        } else {
            lines.append(
                String(format: "%.0f replica-steps/s (%.2f s) on ", result.replicaStepsPerSecond, result.seconds)
                    + result.engine)
        }
        if let s = origin.shard {
            lines.append(
                "shard \(s.index)/\(s.count) done: combine the \(s.count) shard folders with `dlnsim merge DIR… --out "
                    + "OUTDIR` (figures come with the merge)"
            )
        } else {
            lines.append("figures: \(outDir)/report.html")
        }
        var flowFiles = experiment.hasFlow ? "evaluations.npy, rejected.npy, " : ""
        for f in result.recording?.files(gridPoints: experiment.gridPoints.count, seeds: experiment.seeds.count) ?? [] {
            flowFiles += f.name + ", "
        }
        let first = result.names.prefix(3).map { $0 + ".npy" }.joined(separator: ", ")
        lines.append(
            "wrote \(result.names.count) observables (\(first), …), steps.npy, times.npy, grid.csv, stats.csv, "
                + "status.npy, \(flowFiles)manifest.json to \(outDir)"
        )
        return lines
    }
}
