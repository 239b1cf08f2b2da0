import DLNModel
import Foundation

/// activation.svg: when the coordinates of w become active (|w_i| > τ, activation_time.npy), as a raster of
/// rows × time per grid point. Saddle-to-saddle dynamics show as a staircase: coordinates switch on one after another,
/// each after a plateau. A black tick marks a row's median activation time over the seeds; a cell's shade is the
/// fraction of seeds in which the row is active by that time (seeds agree where the shade jumps from white to full).
///
/// What a row is depends on whether the seeds share their data (and so the teacher w*): with one seed, shared data
/// or user data, a row is a coordinate i (the same coordinate in every seed), sorted by median activation time;
/// with independent data per seed, coordinate i means something else in each seed, so a row is the activation
/// rank k (the k-th coordinate of a seed to activate, whichever it is).
public struct ActivationFigure {
    /// The grid points drawn (the first ones) and the most rows per panel (the first to activate).
    public static let maxPanels = 4
    public static let maxRows = 120

    struct Panel {
        var label: String
        /// Rows drawn, in order: their label (a coordinate i, or a rank k) and median activation time (∞ when fewer
        /// than half of the seeds reach it).
        var rows: [(label: Int, median: Double)]
        /// `fraction[row][c]`: the fraction of kept seeds in which the row is active by checkpoint c.
        var fraction: [[Double]]
        var times: [Double]
        var never: Int
        var seeds: Int
    }

    let panels: [Panel]
    let tau: Double
    let points: Int
    let d: Int
    /// Rows are coordinates (seeds share w*), or activation ranks (independent data per seed).
    let byCoordinate: Bool

    /// The figure of a folder that holds activation_time.npy (nil when it has none, or nothing ever activates).
    public init?(_ folder: OutputFolder) throws(DLNError) {
        let path = URL(fileURLWithPath: folder.directory).appendingPathComponent("activation_time.npy").path
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        let a = try NPY.read(path: path)
        guard a.shape.count == 4, a.shape[0] == folder.rows.count, a.shape[1] == folder.seeds else {
            throw .badFile(path: path, reason: "shape \(a.shape) is not [grid point, seed, threshold, d]")
        }
        let (G, S, T, d) = (a.shape[0], a.shape[1], a.shape[2], a.shape[3])
        guard T > 0, d > 0 else { return nil }
        let thresholds = (folder.manifest["recording"] as? [String: Any])?["thresholds"] as? [Double] ?? []
        let c = try folder.configuration()
        byCoordinate = S == 1 || c.problem.sharing == .shared || c.problem.files != nil
        tau = thresholds.first ?? .nan
        points = G
        self.d = d
        var panels: [Panel] = []
        for g in 0..<min(G, Self.maxPanels) {
            let seeds = (0..<S).filter { !folder.isFrozen(g, $0) }
            // The first threshold: activation_time[g, s, 0, i].
            func time(_ s: Int, _ i: Int) -> Double { a.values[((g * S + s) * T) * d + i] }
            // Per row, each kept seed's activation time (∞: never).
            var perRow: [(Int, [Double])] = []
            if byCoordinate {
                perRow = (0..<d).map { i in (i, seeds.map { time($0, i).isFinite ? time($0, i) : .infinity }) }
            } else {
                let sorted = seeds.map { s in (0..<d).map { time(s, $0) }.filter(\.isFinite).sorted() }
                perRow = (0..<d).map { k in (k + 1, sorted.map { k < $0.count ? $0[k] : .infinity }) }
            }
            perRow = perRow.filter { $0.1.contains(where: \.isFinite) }
            let never = d - perRow.count
            var rows = perRow.map { row -> (Int, Double, [Double]) in
                let sorted = row.1.sorted()
                return (row.0, sorted.isEmpty ? .infinity : sorted[(sorted.count - 1) / 2], row.1)
            }
            if byCoordinate { rows.sort { ($0.1, $0.0) < ($1.1, $1.0) } }
            rows = Array(rows.prefix(Self.maxRows))
            let times = folder.times[g]
            let fraction = rows.map { row in
                times.map { t in Double(row.2.filter { $0 <= t }.count) / Double(max(1, seeds.count)) }
            }
            panels.append(
                Panel(
                    label: Report.label(folder, g), rows: rows.map { ($0.0, $0.1) }, fraction: fraction, times: times,
                    never: never, seeds: seeds.count))
        }
        guard panels.contains(where: { !$0.rows.isEmpty }) else { return nil }
        self.panels = panels
    }

    /// The figure's caption: what is drawn and how to read it.
    public var caption: String {
        let shown = panels.count < points ? " The first \(panels.count) of \(points) grid points are drawn." : ""
        let cut = panels.contains { $0.rows.count == Self.maxRows } ? " At most \(Self.maxRows) rows a panel." : ""
        let never = panels.map { "\($0.never)" }.joined(separator: ", ")
        let rows =
            byCoordinate
            ? "Rows: the coordinates i that activate in some seed (labelled when there is room), sorted by median "
                + "activation time over the seeds (the seeds share w*). "
            : "Rows: activation rank k, the k-th coordinate of a seed to activate (whichever it is: each seed draws "
                + "its own data and w*, so coordinate i differs between seeds). "
        return "When the coordinates of w activate: a coordinate is active once |w_i| > τ = "
            + "\(String(format: "%g", tau)) (record.activation's first threshold). " + rows
            + "A staircase is saddle-to-saddle dynamics: a plateau, then the next coordinate switches on. Shade: the "
            + "fraction of seeds in which the row is active by t (frozen replicas left out); black tick: the median "
            + "activation time. Rows no seed reaches (not drawn): \(never) of d = \(d).\(shown)\(cut)"
    }

    /// The SVG.
    public func render() -> String {
        let width = 900.0
        let (left, right) = (80.0, 30.0)
        let pw = width - left - right
        let heights = panels.map { max(130.0, min(480.0, Double($0.rows.count) * 9)) }
        let captionLines = SVGPlot.wrap(caption, width: width - 40, fontSize: 13)
        let height = 60 + heights.reduce(0) { $0 + $1 + 70 } + Double(captionLines.count) * 19 + 10
        func f(_ x: Double) -> String { String(format: "%.1f", x) }
        let positive = panels.flatMap(\.times).filter { $0 > 0 && $0.isFinite }
        let lo = log10(positive.min() ?? 1)
        let hi = max(lo + 1e-9, log10(positive.max() ?? 10))
        func tx(_ t: Double) -> Double { left + (log10(max(t, positive.min() ?? 1)) - lo) / (hi - lo) * pw }
        var out =
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" viewBox=\"0 0 "
            + "\(Int(width)) \(Int(height))\" font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\">\n"
            + "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
            + "<text x=\"\(f(width / 2))\" y=\"30\" font-size=\"18\" text-anchor=\"middle\">Activation times of the "
            + "coordinates (|w_i| &gt; τ)</text>\n"
        var y = 60.0
        for (panel, ph) in zip(panels, heights) {
            out +=
                "<text x=\"\(f(left))\" y=\"\(f(y - 6))\" font-size=\"13\">\(Self.escape(panel.label)), "
                + "\(panel.seeds) seed\(panel.seeds == 1 ? "" : "s")</text>\n<g class=\"raster\">\n"
            let n = max(1, panel.rows.count)
            let rh = ph / Double(n)
            for (r, row) in panel.rows.enumerated() {
                let ry = y + Double(r) * rh
                // Runs of equal shade as one rectangle (no seams between cells).
                var c = 0
                let last = panel.times.count - 1
                while c < last {
                    var e = c + 1
                    while e < last && panel.fraction[r][e] == panel.fraction[r][c] { e += 1 }
                    let (x0, x1) = (tx(panel.times[c]), tx(panel.times[e]))
                    if panel.fraction[r][c] > 0 && x1 > x0 {
                        out +=
                            "<rect x=\"\(f(x0))\" y=\"\(f(ry))\" width=\"\(f(x1 - x0))\" height=\"\(f(rh + 0.3))\" "
                            + "fill=\"\(Self.shade(panel.fraction[r][c]))\"/>\n"
                    }
                    c = e
                }
                if rh >= 8 {
                    out +=
                        "<text x=\"\(f(left - 4))\" y=\"\(f(ry + rh / 2 + min(rh, 11) * 0.35))\" "
                        + "font-size=\"\(f(min(rh, 11)))\" text-anchor=\"end\">\(row.label)</text>\n"
                }
                if row.median.isFinite {
                    let x = tx(row.median)
                    out +=
                        "<line class=\"median\" x1=\"\(f(x))\" x2=\"\(f(x))\" y1=\"\(f(ry))\" y2=\"\(f(ry + rh))\" "
                        + "stroke=\"black\" stroke-width=\"1.5\"/>\n"
                }
            }
            out +=
                "</g>\n<rect x=\"\(f(left))\" y=\"\(f(y))\" width=\"\(f(pw))\" height=\"\(f(ph))\" fill=\"none\" "
                + "stroke=\"#333\"/>\n"
            for e in stride(from: Int(lo.rounded(.up)), through: Int(hi.rounded(.down)), by: 1) {
                let x = left + (Double(e) - lo) / (hi - lo) * pw
                out +=
                    "<line x1=\"\(f(x))\" x2=\"\(f(x))\" y1=\"\(f(y + ph))\" y2=\"\(f(y + ph + 5))\" stroke=\"#333\"/>"
                    + "<text x=\"\(f(x))\" y=\"\(f(y + ph + 20))\" font-size=\"12\" text-anchor=\"middle\">1e\(e)</text>\n"
            }
            out +=
                "<text x=\"\(f(left + pw / 2))\" y=\"\(f(y + ph + 38))\" font-size=\"13\" text-anchor=\"middle\">t "
                + "(gradient-flow time)</text>\n<text transform=\"translate(\(f(left - 32)),\(f(y + ph / 2))) "
                + "rotate(-90)\" font-size=\"13\" text-anchor=\"middle\">\(byCoordinate ? "coordinate i" : "activation rank k")"
                + "</text>\n"
            y += ph + 70
        }
        for (k, line) in captionLines.enumerated() {
            out +=
                "<text class=\"caption\" x=\"20\" y=\"\(f(y + Double(k) * 19))\" font-size=\"13\" fill=\"#333\">"
                + "\(Self.escape(line))</text>\n"
        }
        return out + "</svg>\n"
    }

    /// White (no seed active) to dark blue (every seed).
    static func shade(_ fraction: Double) -> String {
        let (r, g, b) = (0x1f, 0x3b, 0x8c)
        func mix(_ c: Int) -> Int { Int((255 - fraction * Double(255 - c)).rounded()) }
        return String(format: "#%02x%02x%02x", mix(r), mix(g), mix(b))
    }

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;")
    }

    /// `dlnsim analyze`'s lines on the activation times (the first threshold), one per grid point: how many
    /// coordinates activate, and when the first and the last do (medians over the seeds that ran to the end), beside
    /// the predicted first and last saddle-to-saddle jumps when analyze computed them (`jumps`: [g][s] each).
    /// Empty when the folder has no activation_time.npy.
    public static func summary(_ folder: OutputFolder, jumps: (first: [[Double]], last: [[Double]])?) throws(DLNError)
        -> [String]
    {
        let path = URL(fileURLWithPath: folder.directory).appendingPathComponent("activation_time.npy").path
        guard FileManager.default.fileExists(atPath: path) else { return [] }
        let a = try NPY.read(path: path)
        guard a.shape.count == 4, a.shape[0] == folder.rows.count, a.shape[1] == folder.seeds else {
            throw .badFile(path: path, reason: "shape \(a.shape) is not [grid point, seed, threshold, d]")
        }
        let (G, S, T, d) = (a.shape[0], a.shape[1], a.shape[2], a.shape[3])
        let thresholds = (folder.manifest["recording"] as? [String: Any])?["thresholds"] as? [Double] ?? []
        func median(_ v: [Double]) -> Double { EnsembleSummary(v).median }
        func text(_ x: Double) -> String { x.isFinite ? String(format: "%.4g", x) : "never" }
        var lines = [
            "activation times (|w_i| > τ = \(thresholds.first.map { String(format: "%g", $0) } ?? "?"), "
                + "activation_time.npy; medians over the seeds that ran to the end):"
        ]
        for g in 0..<G {
            var counts: [Double] = []
            var firsts: [Double] = []
            var lasts: [Double] = []
            for s in 0..<S where !folder.isFrozen(g, s) {
                let times = (0..<d).map { a.values[((g * S + s) * T) * d + $0] }.filter(\.isFinite).sorted()
                counts.append(Double(times.count))
                firsts.append(times.first ?? .infinity)
                lasts.append(times.last ?? .infinity)
            }
            var line =
                "  \(Report.label(folder, g)): \(text(median(counts))) of d = \(d) coordinates activate, the first "
                + "at t = \(text(median(firsts))), the last at t = \(text(median(lasts)))"
            if let jumps {
                let (p0, p1) = (
                    median(folder.kept(jumps.first[g], point: g)), median(folder.kept(jumps.last[g], point: g))
                )
                // NaN here is no prediction (not "never"): deep models and capped sequences have no last jump.
                let last = p1.isFinite ? text(p1) : "not predicted"
                if p0.isFinite { line += " (predicted first / last jump: \(text(p0)) / \(last))" }
            }
            lines.append(line)
        }
        return lines
    }

    /// activation.py: redraws the figure with numpy and matplotlib (activation.png, activation.pdf).
    public static let script = #"""
        #!/usr/bin/env python3
        # Redraws activation.svg from the files of this dlnsim output folder with numpy and matplotlib, and writes
        # activation.png and activation.pdf next to it. Written by dlnsim; edit freely:
        #   python3 activation.py
        import json
        import os

        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import numpy as np

        HERE = os.path.dirname(os.path.abspath(__file__))
        THRESHOLD = 0  # which of record.activation's thresholds
        MAX_PANELS, MAX_ROWS = 4, 120

        act = np.load(os.path.join(HERE, "activation_time.npy"))  # [grid point, seed, threshold, d]; NaN: never
        times = np.load(os.path.join(HERE, "times.npy"))  # [grid point, checkpoint]
        with open(os.path.join(HERE, "manifest.json")) as f:
            manifest = json.load(f)
        tau = manifest["recording"]["thresholds"][THRESHOLD]
        problem = manifest["configuration"]["problem"]
        G, S, T, d = act.shape
        # Rows are coordinates when the seeds share w* (one seed, shared or user data), else activation ranks.
        BY_COORDINATE = S == 1 or problem.get("data") == "shared" or problem.get("files") is not None
        status = np.load(os.path.join(HERE, "status.npy")).reshape(G, S)
        panels = min(G, MAX_PANELS)
        fig, axes = plt.subplots(panels, 1, figsize=(6.5, 2.6 * panels), squeeze=False)
        for g in range(panels):
            ax = axes[g, 0]
            a = act[g, status[g] <= 0, THRESHOLD, :]  # kept seeds × d (frozen replicas left out)
            a = np.where(np.isfinite(a), a, np.inf)
            if BY_COORDINATE:
                ever = np.where(np.isfinite(a).any(axis=0))[0]
                order = ever[np.lexsort((ever, np.median(a[:, ever], axis=0)))][:MAX_ROWS]
                rows_t, labels = a[:, order], order  # seeds × rows
            else:
                ranked = np.sort(a, axis=1)  # each seed's k-th activation
                k = np.where(np.isfinite(ranked).any(axis=0))[0][:MAX_ROWS]
                rows_t, labels = ranked[:, k], k + 1
            t = times[g]
            frac = (rows_t[:, :, None] <= t[None, None, :]).mean(axis=0)  # rows × checkpoints
            pos = t > 0
            ax.pcolormesh(t[pos], np.arange(len(labels) + 1), frac[:, pos][:, :-1], cmap="Blues", vmin=0, vmax=1,
                          shading="flat")
            m = np.median(rows_t, axis=0)
            rows = np.arange(len(labels))
            ok = np.isfinite(m)
            ax.vlines(m[ok], rows[ok], rows[ok] + 1, color="black", lw=1)
            ax.set_xscale("log")
            ax.invert_yaxis()
            if len(labels) <= 40:  # label the rows
                ax.set_yticks(rows + 0.5)
                ax.set_yticklabels([str(i) for i in labels], fontsize=6)
            ax.set_ylabel("coordinate i" if BY_COORDINATE else "activation rank k")
            ax.set_title(f"grid point {g}: {len(labels)} of d = {d} rows reached", fontsize=9)
        axes[-1, 0].set_xlabel("t (gradient-flow time)")
        fig.suptitle(f"Activation times (|w_i| > τ = {tau:g}); shade: fraction of seeds active", fontsize=10)
        fig.tight_layout()
        for ext in ("png", "pdf"):
            fig.savefig(os.path.join(HERE, f"activation.{ext}"), dpi=200)
        """#
}
