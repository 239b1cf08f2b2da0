import ArgumentParser
import DLNDevice
import DLNModel
import DLNRun
import DLNTheory
import Foundation
import OpenCLKit

extension ProgressStyle: ExpressibleByArgument {}

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train the ensemble a YAML config describes; write its observables, statistics and figures.",
        discussion: """
            Writes into the output folder one .npy per observable (train_loss.npy, test_error.npy, overlap.npy, …, \
            each of shape [grid point, seed, checkpoint]), steps.npy (the checkpoint steps), times.npy (t = step·η, \
            or Σ η_k under a training.schedule; shape [grid point, checkpoint]), grid.csv (one row per grid point), \
            config.yaml (the resolved configuration: `dlnsim run OUTDIR/config.yaml` repeats the run) and \
            manifest.json; status.npy (per replica: 0 ran to the end, > 0 frozen: diverged or stopped by the \
            integrator); with update: flow also evaluations.npy and rejected.npy. A running job writes \
            checkpoint.dlnsim every --checkpoint-every minutes and on SIGINT/SIGTERM; `dlnsim run --resume OUTDIR` \
            continues it. The results are written into OUTDIR/.dlnsim-staging and moved into place when the run \
            finishes, replacing the files of the folder's previous run; one dlnsim command at a time writes a \
            folder. numpy.load and pandas.read_csv read them \
            as they are.
            """)

    @Argument(
        help: ArgumentHelp(
            "The experiment's YAML file (see examples/quickstart.yaml), or - to read it from standard input (named by "
                + "its name: key, else \"stdin\"); not needed with --resume."))
    var config: String?

    @Argument(
        help: ArgumentHelp(
            "Overrides of the configuration's keys, each key=value with a dotted key path and a YAML value, as in "
                + "seeds=256 grid.alpha=[0.01,0.1] grid.learning_rate='logspace(-3, -1, 3)'; checked like the file.",
            valueName: "key=value"))
    var overrides: [String] = []

    @Option(
        help: ArgumentHelp(
            "auto (an OpenCL GPU if any, not a simulator, else the CPU engine), cpu, gpu (the first OpenCL GPU; "
                + "refused when there is none), opencl, or opencl:P:D (see `dlnsim devices`). Overrides the config's "
                + "`device`.")
    )
    var device: String?

    @Option(
        help: ArgumentHelp(
            "Output folder (default: dlnsim-out/<config name>): a new or empty folder, or one an earlier dlnsim run "
                + "wrote, whose files this run's replace when it finishes. Locked while the run writes it.")
    )
    var out: String?

    @Flag(help: "No progress line on stderr (as --progress none).")
    var quiet = false

    @Option(
        help: ArgumentHelp(
            "How the CPU engine steps independent data, never changing a bit: auto (the cached calibration of this "
                + "machine, about three seconds on first use), calibrate, standard (the built-in default, no calibration) "
                + "or a size such as 2M (see `dlnsim bench --help`). Also DLNSIM_CPU_TUNING.",
            valueName: "mode"))
    var cpuTuning: String?

    @Option(
        help: ArgumentHelp(
            "auto: a progress line on stderr (rewritten in place on a terminal) with the median train loss at the last "
                + "checkpoint; json: every message on stderr as one JSON object per line (events start, progress, "
                + "warning, note, done, error), for programs; none.",
            valueName: "auto|json|none"))
    var progress: ProgressStyle = .auto

    @Flag(
        help: ArgumentHelp(
            "Start over in a folder that holds an unfinished run's checkpoint (discarding it), or write into a folder "
                + "that holds files dlnsim did not write (they stay untouched; a file of the same name as an output is "
                + "never replaced).")
    )
    var force = false

    @Flag(
        help: ArgumentHelp(
            "Also write the final parameters: weights.npy [grid point, seed, d] and layers.npy [grid point, seed, "
                + "layer, d].")
    )
    var saveWeights = false

    @Option(
        name: .customLong("resume"),
        help: ArgumentHelp(
            "Continue the interrupted run whose output folder this is (its checkpoint.dlnsim); the result is "
                + "bit-identical to an uninterrupted run.",
            valueName: "outdir"))
    var resume: String?

    @Option(
        help: ArgumentHelp(
            "Minutes between checkpoints of a running job (0: at every chunk of steps; checkpoints of update flow "
                + "fall on its record times). SIGINT and SIGTERM always write one before exiting (update flow: "
                + "between two of its steps).",
            valueName: "minutes"))
    var checkpointEvery: Double = 10

    @Option(
        help: ArgumentHelp(
            "Run only shard i of N: the i-th of N contiguous pieces of every batch (0 ≤ i < N). Combine the N output "
                + "folders with `dlnsim merge`. See docs/cluster.md.",
            valueName: "i/N"))
    var shard: String?

    @Flag(
        help: ArgumentHelp(
            "Only check the configuration (every key, the data files' keys) and exit: 0 when it is valid. Warns on "
                + "stderr when seeds can only be identical; with --shard, says how many replicas the shard runs; with "
                + "record.weights or record.activation, the size of the recorded arrays (refused above record.max_bytes); "
                + "with record.sharpness or record.pl_constant, what they cost in gradient steps' work."
        ))
    var check = false

    func validate() throws {
        if config == nil && resume == nil {
            throw ValidationError("give the experiment's YAML file, or --resume OUTDIR")
        }
        if resume != nil && (!overrides.isEmpty || config.map(ConfigOverride.looksLikeOverride) == true) {
            throw ValidationError(
                "--resume repeats the interrupted run's configuration: give no key=value overrides (start a new run "
                    + "to change it)")
        }
        if resume == nil, let config, ConfigOverride.looksLikeOverride(config),
            !FileManager.default.fileExists(atPath: config)
        {
            throw ValidationError(
                "give the experiment's YAML file (or - for standard input) before the key=value overrides")
        }
        if config != nil && resume != nil {
            throw ValidationError(
                "--resume continues the run in OUTDIR with its own configuration: give no config file")
        }
        if let t = cpuTuning, CPUTuning.Mode(argument: t) == nil {
            throw ValidationError("--cpu-tuning: give auto, calibrate, standard or a size such as 2M, got \(t)")
        }
        if !(checkpointEvery >= 0 && checkpointEvery.isFinite) {
            throw ValidationError("--checkpoint-every must be a number of minutes ≥ 0, got \(checkpointEvery)")
        }
        if resume != nil && (shard != nil || out != nil || saveWeights) {
            throw ValidationError(
                "--resume repeats the interrupted run's --shard, --out and --save-weights: give none of them")
        }
    }

    func run() throws {
        if let t = cpuTuning, let mode = CPUTuning.Mode(argument: t) { CPUTuning.use(mode) }
        ignoreFileSizeSignal()
        HostMemory.limitArenas()
        do {
            let parsed = try overrides.map { o throws(DLNError) in try ConfigOverride(parsing: o) }
            let stdinText = try config == "-" ? Configuration.text(data: readStandardInput(), path: "stdin") : nil
            let configPath = config == "-" ? "stdin" : config
            if let path = configPath, resume == nil {
                let text = try stdinText ?? Configuration.text(path: path)
                if MatrixConfiguration.isMatrix(yaml: text) { return try runMatrix(text: text, path: path) }
            }
            if check, let path = configPath {
                let report = try Runner.check(configPath: path, text: stdinText, overrides: parsed, shard: shard)
                print(report.line)
                for line in report.warnings { note(line) }
                return
            }
            var request = RunRequest()
            request.configPath = configPath
            request.configText = stdinText
            request.overrides = parsed
            request.resume = resume
            request.out = out
            request.device = device
            request.force = force
            request.saveWeights = saveWeights
            request.checkpointMinutes = checkpointEvery
            request.shard = shard
            if let resume {
                // An interrupted finish is completed when the folder is opened; then nothing may be left to resume.
                let directory = try OutputDirectory.open(resume, mode: .replace, force: true, create: false)
                if directory.repaired && !Checkpoint.exists(in: resume) {
                    print("\(resume): the run had finished; its interrupted final writes are now complete")
                    return
                }
            }
            if let resume, MatrixCheckpoint.exists(in: resume) { return try resumeMatrix(folder: resume) }
            let runner = try Runner(request, note: note)
            if runner.directory.repaired && resume == nil {
                note("dlnsim: completed the interrupted final writes of the previous run in \(runner.outDir) first")
            }
            if let line = runner.resumeDescription { note(line) }
            note(runner.description)
            for line in runner.warnings { note(line) }
            let progress = ProgressLine(style: quiet ? .none : self.progress)
            if Messages.json {
                Messages.emit([
                    "event": "start", "out": runner.outDir, "replicas": runner.experiment.replicaCount,
                    "grid_points": runner.experiment.gridPoints.count, "seeds": runner.experiment.seeds.count,
                    "device": runner.engine.deviceDescription, "live": runner.directory.live
                ])
            }
            installStopHandlers()
            let result: RunResult
            do {
                result = try runner.run(
                    checkpointMinutes: checkpointEvery, progress: progress.update, shouldStop: { stopRequested },
                    reached: progress.reach)
            } catch {
                progress.finish()
                if case .interrupted = error {
                    let sig = stopSignal.load(ordering: .relaxed)
                    let by = "dlnsim: stopped by \(sig == SIGTERM ? "SIGTERM" : sig == SIGINT ? "SIGINT" : "request")"
                    if runner.checkpointFailure == nil {
                        note(by + "; continue with: dlnsim run --resume \(runner.outDir)")
                    } else if Checkpoint.exists(in: runner.outDir) {
                        note(
                            by + "; the last checkpoint could not be written, the one before it stays: continue "
                                + "from there with: dlnsim run --resume \(runner.outDir)")
                    } else {
                        note(by + "; no checkpoint could be written: the run must start over")
                    }
                    Foundation.exit(128 + (sig == 0 ? SIGTERM : sig))
                }
                if Checkpoint.exists(in: runner.outDir) {
                    note(
                        "dlnsim: the last checkpoint is in \(runner.outDir); continue with: dlnsim run --resume "
                            + "\(runner.outDir)"
                    )
                }
                throw error
            }
            progress.finish()
            if runner.replicasRun > 0 { print(RunSummary.table(result, experiment: runner.experiment)) }
            for line in runner.frozenLines(result) { note(line) }
            let points = try runner.write(result)
            reportTheory(points)
            for line in runner.closingLines(result) { print(line) }
            if Messages.json { Messages.emit(["event": "done", "out": runner.outDir, "seconds": progress.elapsed]) }
        } catch { fail(error) }
    }
}

/// Prints the DMFT curves solved beside a run (`theory: dmft`): one line per grid point, and a warning for each
/// that did not converge (the curves are labelled NOT converged, never silent).
func reportTheory(_ points: [DMFTStudy.Point]) {
    for line in DMFTStudy.reportLines(points) { print(line) }
    for f in DMFTStudy.failures(points) {
        note("warning: the DMFT iteration did not converge: \(f); dmft_manifest.json flags it")
    }
}

/// Everything on standard input (a configuration given as `-`).
func readStandardInput() -> Data { FileHandle.standardInput.readDataToEndOfFile() }
