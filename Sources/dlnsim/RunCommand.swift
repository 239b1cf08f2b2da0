import ArgumentParser
import DLNCore
import DLNDevice
import Foundation
import OpenCLKit

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train the ensemble a YAML config describes; write its observables, statistics and figures.",
        discussion: """
            Writes into the output folder one .npy per observable (train_loss.npy, test_error.npy, overlap.npy, …, each of shape [grid point, seed, checkpoint]), steps.npy (the checkpoint steps), times.npy (t = step·η, shape [grid point, checkpoint]), grid.csv (one row per grid point) and manifest.json; status.npy (per replica: 0 ran to the end, > 0 frozen: diverged or stopped by the integrator); with update: flow also evaluations.npy and rejected.npy. A running job writes checkpoint.dlnsim every --checkpoint-every minutes and on SIGINT/SIGTERM; `dlnsim run --resume OUTDIR` continues it. numpy.load and pandas.read_csv read them as they are.
            """)

    @Argument(help: "The experiment's YAML file (see examples/quickstart.yaml); not needed with --resume.")
    var config: String?

    @Option(help: "auto (an OpenCL GPU if any, else the CPU engine), cpu, opencl, or opencl:P:D (see `dlnsim devices`). Overrides the config's `device`.")
    var device: String?

    @Option(help: "Output folder (default: dlnsim-out/<config name>).")
    var out: String?

    @Flag(help: "No progress line on stderr.")
    var quiet = false

    @Flag(help: "Write into an existing folder even if it is not a dlnsim output (or holds an unfinished run's checkpoint).")
    var force = false

    @Flag(help: "Also write the final parameters: weights.npy [grid point, seed, d] and layers.npy [grid point, seed, layer, d].")
    var saveWeights = false

    @Option(name: .customLong("resume"), help: ArgumentHelp("Continue the interrupted run whose output folder this is (its checkpoint.dlnsim); the result is bit-identical to an uninterrupted run.", valueName: "outdir"))
    var resume: String?

    @Option(help: ArgumentHelp("Minutes between checkpoints of a running job (0: at every chunk of steps; checkpoints of update flow fall on its record times). SIGINT and SIGTERM always write one before exiting.", valueName: "minutes"))
    var checkpointEvery: Double = 10

    @Option(help: ArgumentHelp("Run only shard i of N: the i-th of N contiguous pieces of every batch (0 ≤ i < N). Combine the N output folders with `dlnsim merge`. See docs/cluster.md.", valueName: "i/N"))
    var shard: String?

    @Flag(help: "Only check the configuration (every key, the data files' keys) and exit: 0 when it is valid.")
    var check = false

    func validate() throws {
        if config == nil && resume == nil { throw ValidationError("give the experiment's YAML file, or --resume OUTDIR") }
        if config != nil && resume != nil { throw ValidationError("--resume continues the run in OUTDIR with its own configuration: give no config file") }
        if !(checkpointEvery >= 0 && checkpointEvery.isFinite) { throw ValidationError("--checkpoint-every must be a number of minutes ≥ 0, got \(checkpointEvery)") }
        if resume != nil && (shard != nil || out != nil || saveWeights) {
            throw ValidationError("--resume repeats the interrupted run's --shard, --out and --save-weights: give none of them")
        }
    }

    func run() throws {
        do {
            let origin: Checkpoint.Origin
            var progressSoFar: RunProgress? = nil
            let outDir: String
            if let folder = resume {
                let (o, p) = try Checkpoint.read(from: folder)
                if o.dlnsimVersion != DLNSim.version || (o.gitCommit != nil && DLNSim.gitCommit != nil && o.gitCommit != DLNSim.gitCommit) {
                    throw DLNError.badFile(path: folder + "/" + Checkpoint.fileName,
                                           reason: "written by dlnsim \(o.dlnsimVersion) (\(o.gitCommit ?? "unknown commit")); this is \(DLNSim.version) (\(DLNSim.gitCommit ?? "unknown commit")): resume with the same build for identical results")
                }
                origin = Checkpoint.Origin(configPath: o.configPath, configText: o.configText, device: device ?? o.device,
                                           saveWeights: o.saveWeights, shard: o.shard)
                progressSoFar = p
                outDir = folder
            } else {
                let path = config!
                let text = try Configuration.text(path: path)
                let configuration = try Configuration.load(text: text, path: path)
                if check {
                    _ = try shard.map { s throws(DLNError) in try Shard(parsing: s) }
                    print("\(path): valid: \(configuration.replicaCount) replicas (\(configuration.gridPoints) grid points × \(configuration.seeds) seeds)")
                    return
                }
                let absolute = URL(fileURLWithPath: path).standardizedFileURL.path
                origin = Checkpoint.Origin(configPath: absolute, configText: text, device: device ?? configuration.device ?? "auto",
                                           saveWeights: saveWeights, shard: try shard.map { s throws(DLNError) in try Shard(parsing: s) })
                outDir = out ?? "dlnsim-out/\(configuration.name)"
                try RunOutput.checkOverwrite(outDir, force: force)
                if Checkpoint.exists(in: outDir) && !force {
                    throw DLNError.outputFailure(path: outDir, reason: "holds the checkpoint of an unfinished run: continue it with `dlnsim run --resume \(outDir)`, or pass --force to start over")
                }
            }
            let configuration = try origin.configuration()
            let request = try DeviceRequest(parsing: origin.device)
            try RunOutput.prepare(outDir)
            let engine = try DeviceCatalog.engine(for: request, note: note)
            try engine.require(configuration.training.precision)
            let experiment: Experiment
            do { experiment = try Experiment(configuration) } catch {
                // A bad data file: leave no empty output folder behind (only the marker in it: rmdir removes only empty ones).
                if (try? FileManager.default.contentsOfDirectory(atPath: outDir)) == [RunOutput.marker] {
                    unlink(outDir + "/" + RunOutput.marker)
                    rmdir(outDir)
                }
                throw error
            }
            let shapes = Set(experiment.gridPoints.map { "d = \($0.d), n = \($0.n)" }).sorted().joined(separator: "; ")
            let horizon = configuration.training.horizon.map { "t = \($0)" } ?? "\(configuration.training.steps) steps"
            let shardText = origin.shard.map { " (shard \($0.index)/\($0.count))" } ?? ""
            if let p = progressSoFar {
                note("dlnsim: resuming \(outDir) at batch \(p.group + 1) of \(experiment.groups.count), \(String(format: "%.0f", p.seconds)) s of work already done")
            }
            note("dlnsim: \(experiment.replicaCount) replicas\(shardText) (\(experiment.gridPoints.count) grid points × \(experiment.seeds.count) seeds) in \(experiment.groups.count) batch\(experiment.groups.count == 1 ? "" : "es"), \(shapes), \(horizon), \(configuration.training.precision.rawValue), on \(engine.deviceDescription)")
            let progress = ProgressLine(enabled: !quiet)
            installStopHandlers()
            var options = RunOptions()
            options.keepFinalState = origin.saveWeights
            options.shard = origin.shard
            options.progress = progress.update
            options.note = note
            options.checkpointInterval = checkpointEvery * 60
            options.shouldStop = { stopRequested }
            // Test hook: hold after the k-th checkpoint (so that a test can kill the process at a known point).
            let hold = Int(ProcessInfo.processInfo.environment["DLNSIM_TEST_HOLD_AFTER_CHECKPOINT"] ?? "")
            var written = 0
            options.writeCheckpoint = { p throws(DLNError) in
                try Checkpoint.write(p, origin: origin, to: outDir)
                written += 1
                if let hold, written == hold {
                    FileHandle.standardError.write(Data("dlnsim: holding after checkpoint \(written)\n".utf8))
                    while !stopRequested { usleep(10_000) }
                }
            }
            let result: RunResult
            do {
                result = try Simulation.run(experiment, on: engine, options: options, resume: progressSoFar)
            } catch {
                progress.finish()
                if case .interrupted = error {
                    let sig = stopSignal.load(ordering: .relaxed)
                    note("dlnsim: stopped by \(sig == SIGTERM ? "SIGTERM" : sig == SIGINT ? "SIGINT" : "request"); continue with: dlnsim run --resume \(outDir)")
                    Foundation.exit(128 + (sig == 0 ? SIGTERM : sig))
                }
                if Checkpoint.exists(in: outDir) {
                    note("dlnsim: the last checkpoint is in \(outDir); continue with: dlnsim run --resume \(outDir)")
                }
                throw error
            }
            progress.finish()
            print(Summary.table(result, experiment: experiment))
            let frozen = result.status.indices.filter { ReplicaStatus.isFrozen(code: result.status[$0]) }
            if !frozen.isEmpty {
                let S = experiment.seeds.count
                note("warning: \(frozen.count) replica\(frozen.count == 1 ? " was" : "s were") frozen; their observables stay at the state where they stopped, and stats.csv leaves them out (status.npy and manifest.json flag them):")
                for b in frozen.prefix(10) {
                    note(String(format: "  grid point %d, seed %d at t = %.6g: ", b / S, experiment.seeds[b % S], result.frozenAt[b]) + ReplicaStatus.reason(result.status[b]))
                }
                if frozen.count > 10 { note("  … and \(frozen.count - 10) more") }
            }
            do {
                try RunOutput.write(result, experiment: experiment, to: outDir)
                if origin.shard == nil {
                    if configuration.theory != nil { try runTheory(configuration, outDir: outDir, request: request) }
                    let folder = try OutputFolder(outDir)
                    try Report.write(folder, extra: DMFTStudy.figures(folder))
                }
            } catch {
                // Keep what was computed: write it to a fallback folder before failing.
                let fallback = FileManager.default.temporaryDirectory.appendingPathComponent("dlnsim-\(configuration.name)-\(getpid())").path
                note("error: \(error)")
                try RunOutput.write(result, experiment: experiment, to: fallback)
                fail("the results were written to \(fallback) instead")
            }
            Checkpoint.remove(from: outDir)
            if experiment.hasFlow {
                let evaluations = result.evaluations.last ?? []
                print(String(format: "gradient flow: %.0f gradient evaluations per replica on average (max %.0f), %.0f rejected steps in all; ",
                             evaluations.reduce(0, +) / Double(max(1, evaluations.count)), evaluations.max() ?? 0, result.rejected.last?.reduce(0, +) ?? 0)
                      + String(format: "%.0f replica-evaluations/s (%.2f s) on ", result.replicaStepsPerSecond, result.seconds) + result.engine)
            } else {
                print(String(format: "%.0f replica-steps/s (%.2f s) on ", result.replicaStepsPerSecond, result.seconds) + result.engine)
            }
            if let s = origin.shard {
                print("shard \(s.index)/\(s.count) done: combine the \(s.count) shard folders with `dlnsim merge DIR… --out OUTDIR` (figures come with the merge)")
            } else {
                print("figures: \(outDir)/report.html")
            }
            print("wrote \(result.names.count) observables (\(result.names.prefix(3).map { $0 + ".npy" }.joined(separator: ", ")), …), steps.npy, times.npy, grid.csv, stats.csv, status.npy, \(experiment.hasFlow ? "evaluations.npy, rejected.npy, " : "")manifest.json to \(outDir)")
        } catch { fail(error) }
    }
}

/// `theory: dmft`: solves the DMFT beside the run and writes its curves into the run's folder (the figures draw
/// them). Non-convergence is a warning here (the curves are labelled NOT converged), never a silent curve.
func runTheory(_ configuration: Configuration, outDir: String, request: DeviceRequest) throws {
    let device = try DeviceCatalog.resolve(request)
    let points = try solve(configuration, file: "theory", device: device, quiet: true)
    try DMFTStudy.write(points, to: outDir)
    report(points)
    for f in DMFTStudy.failures(points) { note("warning: the DMFT iteration did not converge: \(f); dmft_manifest.json flags it") }
}
