import ArgumentParser
import DLNCore
import DLNDevice
import Foundation
import OpenCLKit

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train the ensemble a YAML config describes; write its observables, statistics and figures.",
        discussion: """
            Writes into the output folder one .npy per observable (train_loss.npy, test_error.npy, overlap.npy, …, each of shape [grid point, seed, checkpoint]), steps.npy (the checkpoint steps), times.npy (t = step·η, shape [grid point, checkpoint]), grid.csv (one row per grid point) and manifest.json; with update: flow also evaluations.npy, rejected.npy and status.npy. numpy.load and pandas.read_csv read them as they are.
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
            let frozen = result.status.indices.filter { result.status[$0] != 0 }
            if !frozen.isEmpty {
                let S = experiment.seeds.count
                note("warning: the integrator froze \(frozen.count) replica\(frozen.count == 1 ? "" : "s"); their observables stay at the state where they stopped (status.npy and manifest.json flag them):")
                for b in frozen.prefix(10) {
                    note(String(format: "  grid point %d, seed %d at t = %.6g: ", b / S, experiment.seeds[b % S], result.frozenAt[b]) + FlowCounters.reason(result.status[b]))
                }
                if frozen.count > 10 { note("  … and \(frozen.count - 10) more") }
            }
            do {
                try RunOutput.write(result, experiment: experiment, to: outDir)
                if configuration.theory != nil { try runTheory(configuration, outDir: outDir, request: request) }
                let folder = try OutputFolder(outDir)
                try Report.write(folder, extra: DMFTStudy.figures(folder))
            } catch {
                // Keep what was computed: write it to a fallback folder before failing.
                let fallback = FileManager.default.temporaryDirectory.appendingPathComponent("dlnsim-\(configuration.name)-\(getpid())").path
                note("error: \(error)")
                try RunOutput.write(result, experiment: experiment, to: fallback)
                fail("the results were written to \(fallback) instead")
            }
            if experiment.hasFlow {
                let evaluations = result.evaluations.last ?? []
                print(String(format: "gradient flow: %.0f gradient evaluations per replica on average (max %.0f), %.0f rejected steps in all; ",
                             evaluations.reduce(0, +) / Double(max(1, evaluations.count)), evaluations.max() ?? 0, result.rejected.last?.reduce(0, +) ?? 0)
                      + String(format: "%.0f replica-evaluations/s (%.2f s) on ", result.replicaStepsPerSecond, result.seconds) + result.engine)
            } else {
                print(String(format: "%.0f replica-steps/s (%.2f s) on ", result.replicaStepsPerSecond, result.seconds) + result.engine)
            }
            print("figures: \(outDir)/report.html")
            print("wrote \(result.names.count) observables (\(result.names.prefix(3).map { $0 + ".npy" }.joined(separator: ", ")), …), steps.npy, times.npy, grid.csv, stats.csv, \(experiment.hasFlow ? "evaluations.npy, rejected.npy, status.npy, " : "")manifest.json to \(outDir)")
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
