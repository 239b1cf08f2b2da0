import DLNModel
import Foundation

extension Report {
    /// Grid parameters that take integer values only: their axes get integer ticks.
    static let integerParameters: Set<String> = ["depth", "d", "n", "seeds", "seed", "batch_size"]

    /// The parameter that colours the curves (the varying one with the most values, `excluding` left out) and
    /// the others, which set the line style.
    static func styleColumns(_ folder: OutputFolder, excluding: Int? = nil) -> (color: Int?, others: [Int]) {
        let varying = folder.varyingColumns.filter { $0 != excluding }
        let count = { (c: Int) in Set(folder.rows.map { $0[c] }).count }
        guard let main = varying.max(by: { count($0) < count($1) || (count($0) == count($1) && $0 > $1) }) else {
            return (nil, [])
        }
        return (main, varying.filter { $0 != main })
    }

    /// Whether a grid column's values are all numbers (an ordered parameter).
    static func isOrdered(_ folder: OutputFolder, _ c: Int) -> Bool {
        folder.rows.allSatisfy { Double($0[c])?.isFinite ?? false }
    }

    /// The colour and line style of each grid point drawn: an ordered (numeric) parameter colours the curves
    /// along viridis, in the order of its values; a categorical one takes the qualitative palette, and its line
    /// style changes past ten categories. The other varying parameters set the line style.
    static func pointStyles(_ folder: OutputFolder, points: [Int], excluding: Int? = nil) -> [(
        color: String, dash: String?
    )] {
        let (main, others) = styleColumns(folder, excluding: excluding)
        guard let main else { return points.map { _ in (SVGPlot.colors[0], nil) } }
        var values: [String] = []
        for g in points where !values.contains(folder.rows[g][main]) { values.append(folder.rows[g][main]) }
        let ordered = isOrdered(folder, main)
        if ordered { values.sort { Double($0)! < Double($1)! } }
        let palette = ordered ? SVGPlot.sequential(values.count) : []
        var keys: [String] = []
        for g in points {
            let key = others.map { folder.rows[g][$0] }.joined(separator: ",")
            if !keys.contains(key) { keys.append(key) }
        }
        return points.map { g in
            let i = values.firstIndex(of: folder.rows[g][main])!
            let key = others.map { folder.rows[g][$0] }.joined(separator: ",")
            var style = keys.firstIndex(of: key)!
            let color: String
            if ordered {
                color = palette[i]
            } else {
                color = SVGPlot.colors[i % SVGPlot.colors.count]
                style += i / SVGPlot.colors.count
            }
            return (color, SVGPlot.lineStyles[style % SVGPlot.lineStyles.count])
        }
    }

    /// What the colours and line styles stand for ("" when no parameter varies).
    static func styleSentence(_ folder: OutputFolder, excluding: Int? = nil) -> String {
        let (main, others) = styleColumns(folder, excluding: excluding)
        guard let main else { return "" }
        let name = symbols[folder.columns[main]] ?? folder.columns[main]
        var text =
            isOrdered(folder, main) ? "Colour: \(name), dark purple (smallest) to green (largest)." : "Colour: \(name)."
        if !others.isEmpty {
            text +=
                " Line style: \(others.map { symbols[folder.columns[$0]] ?? folder.columns[$0] }.joined(separator: ", "))."
        }
        return text
    }

    /// The caption under a figure: what the lines (or points), bands (or bars), colours, line styles, dashed
    /// curves and markers are.
    static func caption(
        _ folder: OutputFolder, _ plot: SVGPlot, marked: Bool, skipped: Int, atEnd: Bool = false,
        excluding: Int? = nil
    ) -> String {
        let seeds = "\(folder.seeds) seed\(folder.seeds == 1 ? "" : "s")"
        let frozen = (folder.status ?? []).contains { ReplicaStatus.isFrozen(code: $0) }
        var parts: [String] = []
        if atEnd {
            let t = String(format: "%g", folder.times[0].last ?? 0)
            parts.append(
                "Points and lines: median over \(seeds) at the last checkpoint (t = \(t)); bars: 10–90% quantiles "
                    + "over the seeds.")
        } else {
            parts.append("Lines: median over \(seeds) per grid point; bands: 10–90% quantiles over the seeds.")
        }
        if frozen { parts.append("Replicas frozen before the end are left out.") }
        let style = styleSentence(folder, excluding: excluding)
        if !style.isEmpty { parts.append(style) }
        if plot.series.contains(where: { $0.label.hasPrefix(predictionPrefix) }) {
            parts.append("Dashed: predictions of dlnsim analyze, in the colour of the simulation they belong to.")
        }
        if plot.series.contains(where: { $0.label.hasPrefix("DMFT") }) {
            parts.append(
                "Dashed with band: DMFT (d → ∞) mean ± 2 standard errors, in its simulation's colour (dark grey when "
                    + "several grid points share it).")
        }
        let kinds = Set(plot.markers.map(\.kind))
        if marked && !kinds.isEmpty {
            var which: [String] = []
            if kinds.contains("t_c") { which.append("dotted: t_c, lazy → rich") }
            if kinds.contains("first_jump") || kinds.contains("last_jump") {
                which.append("dash-dot: first and last plateau exits")
            }
            parts.append(
                "Vertical lines: times computed by dlnsim analyze (\(which.joined(separator: "; "))), median over the "
                    + "seeds, in the colour of their simulation.")
        }
        if skipped > 0 { parts.append("Only the first \(maxCurves) grid points are drawn (\(skipped) more).") }
        return parts.joined(separator: " ")
    }
}
