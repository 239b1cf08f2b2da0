import ArgumentParser
import DLNDevice
import DLNModel
import DLNRun
import DLNTheory
import Foundation
import OpenCLKit

struct Theory: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compute the d → ∞ theory curve of a run config: the DMFT effective process (docs/model.md §6).",
        discussion: """
            For every grid point of CONFIG, solves the dynamical mean-field theory of the pm network (w = (u²−v²)/2): \
            with theory.solver gd, the discrete-time DMFT of gradient descent at the same step η, so the curve matches \
            the simulation step for step; with theory.solver flow, the gradient-flow DMFT on a log-spaced time grid \
            (theory.grid_ratio; memory ∝ K², time ∝ K³ for K grid points instead of steps² and steps³), for long \
            runs. Default: flow for update flow and for GD runs that follow the flow (η·κ₀ ≤ 1 in DMFT units and more \
            than 1000 steps, docs/theory.md), gd for other GD runs. Both use \
            Monte-Carlo paths of one effective coordinate, its response by forward-mode tangents, and a damped \
            fixed-point iteration on the correlation and response matrices. The config's `theory:` settings are used \
            (paths, response_paths, damping, tolerance, max_iterations, seed, two_time, solver, grid_ratio, \
            grid_tolerance); defaults otherwise, per solver (paths 60000 / 4000, response_paths 4000 / 300, \
            max_iterations 100 / 300, damping 0.5 / 0.15 for gd / flow). Only parameterization pm, depth 2, with \
            update gd or flow on \
            synthetic data without label or gradient noise or momentum is covered. A flow grid too coarse for \
            theory.grid_tolerance is reported with the time where it fails, like a non-converged solve.

            Writes into the output folder dmft_train_loss.npy, dmft_test_error.npy, dmft_overlap.npy, \
            dmft_norm_sq.npy, dmft_mean_uv.npy and dmft_mean_q.npy (the model's order parameters mean(u⊙v) and \
            mean((u²+v²)/2), as the simulation records mean_uv and mean_q) \
            (shape [grid point, 2, checkpoint]: the mean of 4 independent solves (seeds seed…seed + 3), then its \
            Monte-Carlo standard error from their spread, in the run's units), \
            dmft_times.npy, dmft.csv and dmft_manifest.json (iterations, residual, converged, seconds per grid point). \
            With theory.two_time: true also dmft_correlation.npy and dmft_response.npy, shape [grid point, checkpoint \
            t, checkpoint s], DMFT units: C_Δ(t,s) = E[Δ(t)Δ(s)] and R_Δ(t,s) = E[∂Δ(t)/∂h(s)] per unit DMFT time \
            (0 for s ≥ t); refused above 256 MB for the two files. \
            When the iteration does not reach the tolerance the files are still written, flagged converged: false, and \
            the command exits with status 2. Cost: K² memory and K³·N_r work for a grid of K points (steps + 1 for gd); \
            a grid too large for memory is refused. Trust the train loss only while it is well above the Monte-Carlo \
            floor ≈ test error/√paths.
            """)

    @Argument(help: "The experiment's YAML file (the same file `dlnsim run` reads), or - for standard input.")
    var config: String

    @Argument(
        help: ArgumentHelp(
            "Overrides of the configuration's keys, key=value as for `dlnsim run` (grid.alpha=[0.01,0.1] …).",
            valueName: "key=value"))
    var overrides: [String] = []

    @Option(
        help: ArgumentHelp(
            "cpu (default) or opencl / opencl:P:D: where the GD solver's Monte-Carlo paths run (the flow solver "
                + "runs on the CPU)."))
    var device: String = "cpu"

    @Option(
        help: ArgumentHelp(
            "Output folder (default: dlnsim-out/<config name>): a new or empty folder, or a dlnsim output folder (the "
                + "DMFT files are added beside the run's)."))
    var out: String?

    @Flag(help: "No per-iteration lines on stderr.")
    var quiet = false

    func run() throws {
        do {
            let parsed = try overrides.map { o throws(DLNError) in try ConfigOverride(parsing: o) }
            let path = config == "-" ? "stdin" : config
            let text = try config == "-" ? Configuration.text(data: readStandardInput(), path: path) : nil
            let configuration = try Configuration.load(
                text: text ?? Configuration.text(path: path), path: path, overrides: parsed
            ).configuration
            let request = try DeviceRequest(parsing: device)
            let cl = try DeviceCatalog.resolve(request, note: note)
            let outDir = out ?? "dlnsim-out/\(configuration.name)"
            let directory = try OutputDirectory.open(outDir, mode: .add, forceOption: nil)
            let points: [DMFTStudy.Point]
            do {
                points = try DMFTStudy.solve(configuration, file: path, device: cl, note: quiet ? nil : { note($0) })
                try DMFTStudy.write(points, to: try directory.stage())
                try directory.commit()
            } catch {
                directory.abandon()
                throw error
            }
            for line in DMFTStudy.reportLines(points) { print(line) }
            print(
                "wrote dmft_train_loss.npy, dmft_test_error.npy, dmft_overlap.npy, dmft_norm_sq.npy, dmft_mean_uv.npy, "
                    + "dmft_mean_q.npy ([grid point, 2, "
                    + "checkpoint]), dmft_times.npy, dmft.csv, dmft_manifest.json to \(outDir)"
            )
            let failures = DMFTStudy.failures(points)
            if !failures.isEmpty && Messages.json {
                Messages.emit([
                    "event": "error", "kind": "not_converged", "key": NSNull(), "issues": [],
                    "message": "the DMFT iteration did not converge (the curves are written but flagged converged: "
                        + "false): " + failures.joined(separator: "; ")
                ])
                Foundation.exit(2)
            }
            if !failures.isEmpty {
                FileHandle.standardError.write(
                    Data(
                        ("error: the DMFT iteration did not converge (the curves are written but flagged converged: "
                            + "false):\n"
                            + failures.map { "  \($0)" }.joined(separator: "\n")
                            + "\n  try a larger damping (theory.damping, e.g. 0.7), more max_iterations, or fewer "
                            + "steps\n")
                            .utf8))
                Foundation.exit(2)
            }
        } catch { fail(error) }
    }
}
