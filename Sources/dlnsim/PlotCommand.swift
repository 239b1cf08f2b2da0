import ArgumentParser
import DLNDevice
import DLNModel
import DLNRun
import DLNTheory
import Foundation
import OpenCLKit

struct Plot: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Redraw the figures and report.html of an output folder from its files.",
        discussion:
            "Without options: train loss and test error against t, and the test error against the grid parameter with "
            + "the most values. --observable NAME draws NAME against t; with --x PARAM, NAME at the last "
            + "checkpoint against the grid parameter PARAM (alpha, weight_decay, learning_rate, d, delta, noise, "
            + "density, depth, batch_size, label_noise, gradient_noise). --time linear draws the figures against t on a linear time axis (default: log). "
            + "A matrix-model folder: the figures its run drew, drawn again from its files (no options)."
    )

    @Argument(help: "An output folder of `dlnsim run`.")
    var folder: String

    @Option(help: "An observable (a name from manifest.json's \"observables\", e.g. test_error, support@0.01).")
    var observable: String?

    @Option(name: .customLong("x"), help: "A grid parameter for the horizontal axis (needs --observable).")
    var parameter: String?

    @Option(help: "The time axis of the figures against t: log or linear.")
    var time: String = "log"

    func validate() throws {
        if !["log", "linear"].contains(time) {
            throw ValidationError("--time must be 'log' or 'linear', not '\(time)'")
        }
        if parameter != nil && observable == nil { throw ValidationError("--x needs --observable") }
    }

    func run() throws {
        do {
            let directory = try OutputDirectory.open(folder, mode: .add, create: false, needsMarker: true)
            // A matrix run's folder: the figures the run drew, again (PlotMatrix.swift).
            if MatrixMerge.isMatrix(folder) == true { return try plotMatrix(directory) }
            let output = try OutputFolder(folder)
            let scale: SVGPlot.Scale = time == "linear" ? .linear : .log
            // The DMFT finite-size gap (with theory: dmft) is redrawn too.
            var extra: [(String, SVGPlot)] = DMFTStudy.figures(output)
            if let observable {
                let safe = observable.replacingOccurrences(of: "/", with: "_")
                if let parameter {
                    extra.append(
                        (
                            "\(safe)_vs_\(parameter).svg",
                            try Report.parameterFigure(output, observable: observable, parameter: parameter)
                        ))
                } else {
                    extra.append(
                        ("\(safe).svg", try Report.timeFigure(output, observable: observable, time: scale)))
                }
            }
            let files = try Report.write(output, extra: extra, into: try directory.stage(), time: scale)
            try directory.commit()
            print("wrote \(files.joined(separator: ", ")) and report.html to \(folder)")
        } catch { fail(error) }
    }
}
