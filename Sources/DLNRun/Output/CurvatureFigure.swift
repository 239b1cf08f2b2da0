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

/// What `dlnsim analyze` prints about the curvature observables (record.sharpness, record.pl_constant): per grid
/// point, medians over the seeds that ran to the end.
public enum CurvatureSummary {
    /// The lines to print; empty when the run recorded neither observable.
    public static func lines(_ folder: OutputFolder) throws(DLNError) -> [String] {
        let hasSharpness = folder.names.contains(ObservableSet.sharpness)
        let hasPL = folder.names.contains(ObservableSet.plConstant)
        guard hasSharpness || hasPL else { return [] }
        let update = try folder.configuration().training.update
        // 2/η is the stability edge of the discrete steps; gradient flow has none.
        let discrete = update != .flow
        let sharp = hasSharpness ? try folder.array(ObservableSet.sharpness) : nil
        let pl = hasPL ? try folder.array(ObservableSet.plConstant) : nil
        let etaColumn = folder.columns.firstIndex(of: "learning_rate")
        let columns = folder.varyingColumns.isEmpty ? [0] : folder.varyingColumns
        func pad(_ s: String) -> String {
            s.count >= 13 ? s + " " : s.padding(toLength: 13, withPad: " ", startingAt: 0)
        }
        func number(_ x: Double) -> String { pad(String(format: "%.4g", x)) }
        func median(_ g: Int, _ a: [[[Double]]], _ pick: ([Double]) -> Double) -> Double {
            EnsembleSummary(folder.kept(a[g].map(pick), point: g)).median
        }
        let widths = columns.map { max(13, folder.columns[$0].count + 1) }
        var head = zip(columns, widths).map { c, w in
            folder.columns[c].padding(toLength: w, withPad: " ", startingAt: 0)
        }
        .joined()
        if hasSharpness {
            head += ["sharpness", "max over t"].map(pad).joined()
            if discrete { head += ["2/η", "max·η/2"].map(pad).joined() }
        }
        if hasPL { head += ["PL μ", "min over t", "2μ"].map(pad).joined() }
        var lines = [
            "curvature (medians over seeds; sharpness at the last checkpoint and its largest, μ at the last "
                + "checkpoint and its smallest):",
            head
        ]
        var above: [Int] = []
        for g in folder.rows.indices {
            var line = zip(columns, widths).map { c, w in
                let text = Report.shortValue(folder.rows[g][c])
                return text.count >= w ? text + " " : text.padding(toLength: w, withPad: " ", startingAt: 0)
            }.joined()
            if let sharp {
                let last = median(g, sharp) { $0.last ?? .nan }
                let most = median(g, sharp) { $0.filter(\.isFinite).max() ?? .nan }
                line += number(last) + number(most)
                if discrete, let c = etaColumn, let eta = Double(folder.rows[g][c]) {
                    line += number(2 / eta) + number(most * eta / 2)
                    if most * eta / 2 >= 1 { above.append(g) }
                }
            }
            if let pl {
                let last = median(g, pl) { $0.last ?? .nan }
                line += number(last) + number(median(g, pl) { $0.filter(\.isFinite).min() ?? .nan }) + number(2 * last)
            }
            lines.append(line)
        }
        if hasSharpness && discrete {
            lines.append(
                above.isEmpty
                    ? "the sharpness stayed below 2/η at every grid point (gradient descent's stable regime)"
                    : "the sharpness reached 2/η (max·η/2 ≥ 1: the edge of stability) at grid point(s) \(above)")
        }
        if hasPL {
            lines.append(
                "2μ bounds the rate of the loss's exponential decay under gradient flow while μ holds "
                    + "(ℓ(t) ≤ ℓ(0)·e^{−2μt} with μ the smallest along the path; docs/model.md §3.2)")
        }
        return lines
    }
}
