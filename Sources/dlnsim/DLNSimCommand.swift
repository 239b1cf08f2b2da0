import ArgumentParser
import DLNCore
import DLNDevice
import Foundation
import OpenCLKit

@main
struct DLNSimCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dlnsim",
        abstract: "Simulate the training dynamics of diagonal linear networks, many replicas at once, on OpenCL devices or the CPU.",
        discussion: """
            Examples:
              dlnsim run examples/quickstart.yaml
              dlnsim run examples/quickstart.yaml --device opencl --out runs/q
              dlnsim devices

            Environment: DLNSIM_KERNELS_DIR=folder replaces the embedded OpenCL kernels with the .cl files of that folder.
            """,
        version: DLNSim.version,
        subcommands: [Run.self, Plot.self, Analyze.self, BenchCommand.self, Devices.self])
}

/// Prints a message on stderr and exits non-zero: every user error ends here, with one clear message.
func fail(_ error: any Error) -> Never {
    FileHandle.standardError.write(Data("error: \(error)\n".utf8))
    Foundation.exit(1)
}

/// Prints a message on stderr and exits non-zero.
func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("error: \(message)\n".utf8))
    Foundation.exit(1)
}

func note(_ line: String) { FileHandle.standardError.write(Data("\(line)\n".utf8)) }

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train the ensemble a YAML config describes and write its loss curves.",
        discussion: """
            Writes into the output folder one .npy per observable (train_loss.npy, test_error.npy, overlap.npy, …, each of shape [grid point, seed, checkpoint]), steps.npy (the checkpoint steps), times.npy (t = step·η, shape [grid point, checkpoint]), grid.csv (one row per grid point) and manifest.json. numpy.load and pandas.read_csv read them as they are.
            """)

    @Argument(help: "The experiment's YAML file (see examples/quickstart.yaml).")
    var config: String

    @Option(help: "auto (an OpenCL GPU if any, else the CPU engine), cpu, opencl, or opencl:P:D (see `dlnsim devices`). Overrides the config's `device`.")
    var device: String?

    @Option(help: "Output folder (default: dlnsim-out/<config name>).")
    var out: String?

    @Flag(help: "No progress line on stderr.")
    var quiet = false

    @Flag(help: "Write into an existing folder even if it is not a dlnsim output.")
    var force = false

    @Flag(help: "Also write the final parameters: weights.npy [grid point, seed, d] and layers.npy [grid point, seed, layer, d].")
    var saveWeights = false

    func run() throws {
        do {
            let configuration = try Configuration.load(path: config)
            let request = try DeviceRequest(parsing: device ?? configuration.device ?? "auto")
            let outDir = out ?? "dlnsim-out/\(configuration.name)"
            try RunOutput.checkOverwrite(outDir, force: force)
            try RunOutput.prepare(outDir)
            let experiment = try Experiment(configuration)
            let engine = try DeviceCatalog.engine(for: request, note: note)
            let shapes = Set(experiment.gridPoints.map { "d = \($0.d), n = \($0.n)" }).sorted().joined(separator: "; ")
            let horizon = configuration.training.horizon.map { "t = \($0)" } ?? "\(configuration.training.steps) steps"
            note("dlnsim: \(experiment.replicaCount) replicas (\(experiment.gridPoints.count) grid points × \(experiment.seeds.count) seeds) in \(experiment.groups.count) batch\(experiment.groups.count == 1 ? "" : "es"), \(shapes), \(horizon), \(configuration.training.precision.rawValue), on \(engine.deviceDescription)")
            let progress = ProgressLine(enabled: !quiet)
            let result = try Simulation.run(experiment, on: engine, keepFinalState: saveWeights, progress: progress.update)
            progress.finish()
            print(Summary.table(result, experiment: experiment))
            do {
                try RunOutput.write(result, experiment: experiment, to: outDir)
                try Report.write(OutputFolder(outDir))
            } catch {
                // Keep what was computed: write it to a fallback folder before failing.
                let fallback = FileManager.default.temporaryDirectory.appendingPathComponent("dlnsim-\(configuration.name)-\(getpid())").path
                note("error: \(error)")
                try RunOutput.write(result, experiment: experiment, to: fallback)
                fail("the results were written to \(fallback) instead")
            }
            print(String(format: "%.0f replica-steps/s (%.2f s) on %@", result.replicaStepsPerSecond, result.seconds, result.engine))
            print("figures: \(outDir)/report.html")
            print("wrote \(result.names.count) observables (\(result.names.prefix(3).map { $0 + ".npy" }.joined(separator: ", ")), …), steps.npy, times.npy, grid.csv, stats.csv, manifest.json to \(outDir)")
        } catch { fail(error) }
    }
}

struct Plot: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Redraw the figures and report.html of an output folder from its files.",
        discussion: "Without options: train loss and test error against t, and the test error against the grid parameter with the most values. --observable NAME draws NAME against t; with --x PARAM, NAME at the last checkpoint against the grid parameter PARAM (alpha, weight_decay, learning_rate, d, delta, noise, density, depth).")

    @Argument(help: "An output folder of `dlnsim run`.")
    var folder: String

    @Option(help: "An observable (a name from manifest.json's \"observables\", e.g. test_error, support@0.01).")
    var observable: String?

    @Option(name: .customLong("x"), help: "A grid parameter for the horizontal axis (needs --observable).")
    var parameter: String?

    func validate() throws {
        if parameter != nil && observable == nil { throw ValidationError("--x needs --observable") }
    }

    func run() throws {
        do {
            let output = try OutputFolder(folder)
            var extra: [(String, SVGPlot)] = []
            if let observable {
                let safe = observable.replacingOccurrences(of: "/", with: "_")
                if let parameter {
                    extra.append(("\(safe)_vs_\(parameter).svg", try Report.parameterFigure(output, observable: observable, parameter: parameter)))
                } else {
                    extra.append(("\(safe).svg", try Report.timeFigure(output, observable: observable)))
                }
            }
            let files = try Report.write(output, extra: extra)
            print("wrote \(files.joined(separator: ", ")) and report.html to \(folder)")
        } catch { fail(error) }
    }
}

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Time the same ensemble on the CPU engine and on OpenCL devices, and compare.",
        discussion: "Each row: a warm-up, then the best of several repetitions of `--steps` gradient steps (and the observation that drains the device's queue). GFLOP/s counts the two products, 4·n·d per replica-step; % peak is against the device's fused-multiply-add peak measured here; vs CPU is the speed-up over the CPU engine on the same work. Regime S: one data set shared by all replicas; I: each replica its own.")

    @Option(name: .customLong("device"), help: "cpu, opencl, opencl:P:D or all (repeatable; default all: the CPU engine and every OpenCL device).")
    var devices: [String] = []

    @Option(name: .customLong("regime"), help: "S (shared data) or I (independent data); repeatable (default both).")
    var regimes: [String] = []

    @Option(name: .customLong("batch"), parsing: .upToNextOption, help: "Replica counts B (default 64 1024 for S, 16 128 for I).")
    var batches: [Int] = []

    @Option(help: "Dimension d.") var d = 500
    @Option(help: "Samples n.") var n = 250
    @Option(help: "float32 or float64.") var precision = "float32"
    @Option(help: "Steps per repetition.") var steps = 20
    @Option(help: "Repetitions (the best is reported).") var repetitions = 3
    @Flag(help: "Print JSON rows instead of a table.") var json = false

    func validate() throws {
        guard d >= 1, n >= 1, steps >= 1, repetitions >= 1 else { throw ValidationError("--d, --n, --steps and --repetitions must be positive") }
        guard Precision(rawValue: precision) != nil else { throw ValidationError("--precision must be float32 or float64, got \(precision)") }
        for r in regimes where r != "S" && r != "I" { throw ValidationError("--regime must be S or I, got \(r)") }
        for b in batches where b < 1 { throw ValidationError("--batch values must be positive, got \(b)") }
    }

    func run() throws {
        do {
            let precision = Precision(rawValue: precision)!
            // Engines: the CPU engine and the chosen OpenCL devices.
            var targets: [(name: String, device: CLDevice?)] = []
            let requests = devices.isEmpty ? ["all"] : devices
            for r in requests {
                if r.lowercased() == "all" {
                    targets.append(("CPU engine", nil))
                    for entry in (try? DeviceCatalog.platforms()) ?? [] {
                        for dev in entry.devices { targets.append(("OpenCL \(dev.name)", dev)) }
                    }
                } else if let dev = try DeviceCatalog.resolve(try DeviceRequest(parsing: r)) {
                    targets.append(("OpenCL \(dev.name)", dev))
                } else {
                    targets.append(("CPU engine", nil))
                }
            }
            var peaks: [String: Double] = [:]
            var rows: [DLNDevice.Bench.Row] = []
            for regime in regimes.isEmpty ? ["S", "I"] : regimes {
                for B in batches.isEmpty ? (regime == "S" ? [64, 1024] : [16, 128]) : batches {
                    let batch = try DLNDevice.Bench.batch(regime: regime, replicas: B, d: d, n: n, precision: precision)
                    var cpuRate: Double? = nil
                    for target in targets {
                        let label = target.name
                        if !json { FileHandle.standardError.write(Data("timing \(label), \(regime), B = \(B)…\n".utf8)) }
                        do {
                            let engine: any Engine
                            if let dev = target.device {
                                let bytes = Double(batch.datasets.count * n * d) * Double(precision.byteCount)
                                if bytes > Double(dev.maxAllocationSize) {
                                    throw DLNError.deviceFailure(String(format: "too large for the device: X needs %.2f GiB, max allocation %.2f GiB", bytes / 1_073_741_824, Double(dev.maxAllocationSize) / 1_073_741_824))
                                }
                                engine = try OpenCLEngine(device: dev)
                                if peaks[label] == nil { peaks[label] = try DLNDevice.Bench.devicePeak(dev) }
                            } else {
                                engine = CPUEngine()
                                if peaks[label] == nil { peaks[label] = DLNDevice.Bench.cpuPeak() }
                            }
                            let seconds = try DLNDevice.Bench.time(engine, batch: batch, steps: steps, repetitions: repetitions)
                            let rate = Double(B * steps) / seconds
                            if target.device == nil { cpuRate = rate }
                            rows.append(DLNDevice.Bench.Row(device: label, regime: regime, replicas: B, d: d, n: n, precision: precision.rawValue,
                                                  steps: steps, seconds: seconds, replicaStepsPerSecond: rate,
                                                  gflops: rate * 4 * Double(n) * Double(d) / 1e9, peakGflops: peaks[label] ?? 0,
                                                  speedupOverCPU: cpuRate.map { rate / $0 }))
                        } catch {
                            rows.append(DLNDevice.Bench.Row(device: label, regime: regime, replicas: B, d: d, n: n, precision: precision.rawValue,
                                                  steps: steps, seconds: .nan, replicaStepsPerSecond: .nan, gflops: .nan, peakGflops: 0,
                                                  speedupOverCPU: nil, failure: "\(error)"))
                        }
                    }
                }
            }
            if json {
                let encoder = JSONEncoder()
                encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
                encoder.keyEncodingStrategy = .convertToSnakeCase
                for row in rows { print(String(decoding: try encoder.encode(row), as: UTF8.self)) }
            } else {
                print("d = \(d), n = \(n), \(steps) steps per repetition, best of \(repetitions); \(System.coreCount) CPU cores")
                print(DLNDevice.Bench.table(rows))
            }
        } catch { fail(error) }
    }
}

struct Analyze: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compute what the theory predicts for a run and set it beside the simulation.",
        discussion: "For every replica: the implicit-bias interpolator (λ = 0; pm: scale α², uv: the Bregman form from the initialisation) or the lasso (λ > 0), its test error, the minimum-ℓ2 and minimum-ℓ1 limits, the predicted and the fitted late-time rate, the lazy → rich time, and, when the run saved its weights (--save-weights), the distance between the simulated and the predicted w. Writes analysis_<quantity>.npy [grid point, seed] into the folder and prints medians per grid point. See docs/theory.md.")

    @Argument(help: "An output folder of `dlnsim run`.")
    var folder: String

    func run() throws {
        do {
            let output = try OutputFolder(folder)
            let result = try Analysis.run(output)
            try Analysis.write(result, to: folder)
            let test = output.names.contains("test_error") ? try output.array("test_error") : nil
            func median(_ v: [Double]) -> Double { EnsembleSummary(v).median }
            let columns = output.varyingColumns.isEmpty ? [0] : output.varyingColumns
            var header = columns.map { output.columns[$0].padding(toLength: 13, withPad: " ", startingAt: 0) }.joined()
            header += ["test error", "predicted", "d → ∞", "min-ℓ2 limit", "min-ℓ1 limit", "γ predicted", "γ fitted", "t_c", "max |Δw|"].map { $0.padding(toLength: 13, withPad: " ", startingAt: 0) }.joined()
            print(header)
            for g in 0..<result.gridPoints {
                var line = columns.map { output.rows[g][$0].padding(toLength: 13, withPad: " ", startingAt: 0) }.joined()
                let simulated = test.map { t in median(t[g].map { $0.last ?? .nan }) } ?? .nan
                let values = [simulated] + ["predicted_test_error", "asymptotic_test_error", "min_l2_test_error", "min_l1_test_error", "predicted_rate", "fitted_rate", "transition_time", "distance_to_prediction"].map { median(result.values[$0]![g]) }
                line += values.map { String(format: "%-13.4g", $0) }.joined()
                print(line)
            }
            let failed = result.values["prediction_converged"]!.joined().filter { $0 == 0 }.count
            if failed > 0 { print("warning: \(failed) replica(s) whose prediction did not converge are NaN") }
            for n in result.notes { print("note: \(n)") }
            print("wrote analysis_*.npy ([grid point, seed]) to \(folder)")
        } catch { fail(error) }
    }
}

struct Devices: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List every OpenCL platform and device.")

    func run() throws {
        do {
            let platforms = try DeviceCatalog.platforms()
            if platforms.isEmpty {
                print("no OpenCL platform found (on Debian: apt-get install pocl-opencl-icd, or your GPU vendor's ICD); `--device cpu` always works")
                return
            }
            for (p, entry) in platforms.enumerated() {
                print("platform \(p): \(entry.platform.name) (\(entry.platform.vendor), \(entry.platform.version))")
                if entry.devices.isEmpty { print("  no devices") }
                for (d, dev) in entry.devices.enumerated() {
                    let mem = Double(dev.globalMemorySize) / 1_073_741_824
                    print("  opencl:\(p):\(d)  \(dev.name)")
                    print(String(format: "      type %@, %d compute units, %.1f GiB global memory, max allocation %.1f GiB, fp64 %@, driver %@",
                                 dev.type.description, dev.computeUnits, mem, Double(dev.maxAllocationSize) / 1_073_741_824,
                                 dev.supportsFP64 ? "yes" : "no", dev.driverVersion))
                }
            }
        } catch { fail(error) }
    }
}
