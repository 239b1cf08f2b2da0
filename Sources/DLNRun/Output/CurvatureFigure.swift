import DLNModel
import Foundation

extension Report {
    /// The line style of 2/η on sharpness.svg.
    static let stabilityDash = "2 4"

    /// sharpness.svg: 2/η of each grid point drawn (dotted, in its colour) as a horizontal line over the run's times,
    /// the edge of stability of gradient descent on a quadratic (a step η is stable while the sharpness is below 2/η).
    static func overlayStabilityEdge(
        _ plot: inout SVGPlot, _ folder: OutputFolder, points: [Int], styles: [(color: String, dash: String?)]
    ) {
        guard let column = folder.columns.firstIndex(of: "learning_rate") else { return }
        var drawn = false
        for (k, g) in points.enumerated() {
            let ts = folder.times[g].filter { $0 > 0 && $0.isFinite }
            guard let eta = Double(folder.rows[g][column]), eta > 0, let t0 = ts.first, let t1 = ts.last else {
                continue
            }
            var series = SVGPlot.Series(label: "2/η, \(label(folder, g))", x: [t0, t1], y: [2 / eta, 2 / eta])
            series.dashed = true
            series.color = styles[k].color
            series.dash = stabilityDash
            series.inLegend = false
            plot.series.append(series)
            drawn = true
        }
        if drawn { plot.legendNotes.append((stabilityDash, "2/η: gradient descent's stability edge")) }
    }
}
