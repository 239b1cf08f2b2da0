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
        subcommands: [Run.self, Plot.self, Devices.self])
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
