import ArgumentParser
import DLNDevice
import DLNModel
import DLNRun
import DLNTheory
import Foundation
import OpenCLKit

struct Analyze: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compute what the theory predicts for a run and set it beside the simulation.",
        discussion:
            "For every replica: the implicit-bias interpolator (λ = 0; pm: scale α², uv: the Bregman form from the "
            + "initialisation, deep and deep_pm: the mirror flow of the replica's initial layers) or the lasso "
            + "(λ > 0), its test error, the PL constant of the tangent kernel at that limit, the d → ∞ test error (static AMP fixed "
            + "point), the minimum-ℓ2 and minimum-ℓ1 limits, the predicted and the fitted late-time rate, the "
            + "lazy → rich time, and, when the run saved its weights (--save-weights), the distance between the "
            + "simulated and the predicted w; for small α the saddle-to-saddle jump times, and with record.activation when "
            + "the coordinates activate (first and last, beside the predicted jumps); with record.sharpness / "
            + "record.pl_constant the sharpness against 2/η and the PL constant. Writes "
            + "analysis_<quantity>.npy [grid point, seed] into the folder, redraws the figures with the predicted "
            + "test errors drawn dashed on the test-error figures, and prints medians per grid point over the "
            + "replicas that ran to the end. With label noise on pm or uv (gd, or sgd with b = n without replacement): "
            + "the weighted lasso that label-noise descent settles at, beside the run's w averaged over t ≥ T/2 "
            + "(record.weights) or its final values (analysis_label_noise_*.npy). See docs/theory.md."
    )

    @Argument(help: "An output folder of `dlnsim run` (a diagonal or a matrix model's; docs/matrix.md for the latter).")
    var folder: String

    func run() throws {
        do {
            let directory = try OutputDirectory.open(folder, mode: .add, create: false, needsMarker: true)
            // A matrix run's folder: its own table and predictions (AnalyzeMatrix.swift).
            if MatrixMerge.isMatrix(folder) == true { return try analyzeMatrix(directory) }
            let output = try OutputFolder(folder)
            let result = try Analysis.run(output)
            // The predictions and the figures that draw them are staged together and committed at once.
            let staging = try directory.stage()
            try Analysis.write(result, to: staging)
            let test = output.names.contains("test_error") ? try output.array("test_error") : nil
            func median(_ v: [Double]) -> Double { EnsembleSummary(v).median }
            let columns = output.varyingColumns.isEmpty ? [0] : output.varyingColumns
            var header = columns.map { output.columns[$0].padding(toLength: 13, withPad: " ", startingAt: 0) }.joined()
            header += [
                "test error", "predicted", "d → ∞", "min-ℓ2 limit", "min-ℓ1 limit", "γ predicted", "γ fitted",
                "PL at limit", "t_c",
                "first jump", "last jump", "max |Δw|"
            ].map { $0.padding(toLength: 13, withPad: " ", startingAt: 0) }.joined()
            print(header)
            for g in 0..<result.gridPoints {
                // Long grid values (logspace) with 4 significant digits, padded so that no value merges two columns.
                var line = columns.map { c -> String in
                    let text = Report.shortValue(output.rows[g][c])
                    return text.count >= 13 ? text + " " : text.padding(toLength: 13, withPad: " ", startingAt: 0)
                }
                .joined()
                let simulated = test.map { t in median(output.kept(t[g].map { $0.last ?? .nan }, point: g)) } ?? .nan
                let values =
                    [simulated]
                    + [
                        "predicted_test_error", "asymptotic_test_error", "min_l2_test_error", "min_l1_test_error",
                        "predicted_rate", "fitted_rate", "limit_pl_constant", "transition_time", "first_jump_time",
                        "last_jump_time",
                        "distance_to_prediction"
                    ].map { median(output.kept(result.values[$0]![g], point: g)) }
                line += values.map { String(format: "%-13.4g", $0) }.joined()
                print(line)
            }
            printLabelNoise(result, output: output, columns: columns)
            let failed = result.values["prediction_converged"]!.joined().filter { $0 == 0 }.count
            if failed > 0 { print("warning: \(failed) replica(s) whose prediction did not converge are NaN") }
            for n in result.notes { print("note: \(n)") }
            let jumps = result.values["first_jump_time"].flatMap { f in result.values["last_jump_time"].map { (f, $0) }
            }
            for line in try ActivationFigure.summary(output, jumps: jumps) { print(line) }
            for line in try CurvatureSummary.lines(output) { print(line) }
            let (figures, drawn) = try Report.writeWithPredictions(output, into: staging)
            try directory.commit()
            let redrawn =
                drawn.isEmpty
                ? "redrew \(figures.joined(separator: ", ")) (no figure draws a prediction: none is finite)"
                : "redrew \(figures.joined(separator: ", ")), with the predictions on \(drawn.joined(separator: ", "))"
            print("wrote analysis_*.npy ([grid point, seed]) and \(redrawn), in \(folder)")
        } catch { fail(error) }
    }

    /// The label-noise lasso beside the run (grid points that have it), medians over the replicas kept.
    func printLabelNoise(_ result: Analysis.Result, output: OutputFolder, columns: [Int]) {
        func median(_ v: [Double]) -> Double { EnsembleSummary(v).median }
        let averaged = result.values["label_noise_time_averaged"]!
        let points = (0..<result.gridPoints).filter { g in averaged[g].contains { !$0.isNaN } }
        guard !points.isEmpty else { return }
        let mean = points.allSatisfy { g in averaged[g].allSatisfy { $0 == 1 || $0.isNaN } }
        print(
            "label noise (pm, uv; full batch): the lasso with λ_j = λ_u + ησ²c_j/(2n) (docs/theory.md) beside the run's "
                + (mean ? "w averaged over its recorded checkpoints with t ≥ T/2" : "final values (no record.weights)"))
        let tau = output.names.first { $0.hasPrefix("support@") }.map { String($0.dropFirst(8)) } ?? "τ"
        var header = columns.map { output.columns[$0].padding(toLength: 13, withPad: " ", startingAt: 0) }.joined()
        header += ["test error", "lasso", "‖w‖₁", "lasso", "support@\(tau)", "lasso", "‖w̄ − lasso‖₂"].map {
            $0.padding(toLength: 13, withPad: " ", startingAt: 0)
        }.joined()
        print(header)
        for g in points {
            var line = columns.map { c -> String in
                let text = Report.shortValue(output.rows[g][c])
                return text.count >= 13 ? text + " " : text.padding(toLength: 13, withPad: " ", startingAt: 0)
            }
            .joined()
            let names = [
                "label_noise_test_error", "label_noise_predicted_test_error", "label_noise_l1_norm",
                "label_noise_predicted_l1_norm", "label_noise_support", "label_noise_predicted_support",
                "label_noise_distance"
            ]
            line += names.map { String(format: "%-13.4g", median(output.kept(result.values[$0]![g], point: g))) }
                .joined()
            print(line)
        }
    }
}
