import DLNModel
import DLNTheory
import Foundation

/// A run's output folder read back from its files: what `dlnsim plot` and the report draw from.
public struct OutputFolder {
    public let directory: String
    public let manifest: [String: Any]
    /// The observables recorded.
    public let names: [String]
    /// grid.csv: its header and one row per grid point.
    public let columns: [String]
    public let rows: [[String]]
    /// `times[g][c]`.
    public let times: [[Double]]
    public let seeds: Int
    /// status.npy, [g·seeds + s] (nil when the folder has none).
    public let status: [Int]?

    /// Reads manifest.json, grid.csv and times.npy; names the file at fault when one is missing or malformed.
    public init(_ directory: String) throws(DLNError) {
        self.directory = directory
        try OutputDirectory.checkFinished(directory)
        let manifestPath = URL(fileURLWithPath: directory).appendingPathComponent("manifest.json").path
        guard let data = FileManager.default.contents(atPath: manifestPath),
            let m = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
        else {
            throw .badFile(
                path: manifestPath, reason: "missing or not JSON: \(directory) is not a dlnsim output folder")
        }
        manifest = m
        if m["model"] as? String == "matrix" {
            throw .badFile(
                path: manifestPath,
                reason: "is a matrix-model run: `dlnsim analyze` and `dlnsim plot` read it with MatrixFolder, "
                    + "not as a diagonal model's folder")
        }
        guard let names = m["observables"] as? [String], let seeds = m["seeds"] as? Int else {
            throw .badFile(path: manifestPath, reason: "has no 'observables' or 'seeds' (written by an older dlnsim?)")
        }
        self.names = names
        self.seeds = seeds
        let gridPath = URL(fileURLWithPath: directory).appendingPathComponent("grid.csv").path
        guard let text = try? String(contentsOfFile: gridPath, encoding: .utf8) else {
            throw .badFile(path: gridPath, reason: "missing")
        }
        let lines = text.split(separator: "\n").map {
            $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        }
        guard let header = lines.first, header.first == "point" else {
            throw .badFile(path: gridPath, reason: "has no 'point' header")
        }
        columns = Array(header.dropFirst())
        rows = lines.dropFirst().map { Array($0.dropFirst()) }
        let t = try NPY.read(path: URL(fileURLWithPath: directory).appendingPathComponent("times.npy").path)
        guard t.shape.count == 2, t.shape[0] == rows.count else {
            throw .badFile(
                path: directory + "/times.npy", reason: "shape \(t.shape) does not match \(rows.count) grid points")
        }
        times = (0..<t.shape[0]).map { Array(t.values[($0 * t.shape[1])..<(($0 + 1) * t.shape[1])]) }
        let statusPath = URL(fileURLWithPath: directory).appendingPathComponent("status.npy").path
        if FileManager.default.fileExists(atPath: statusPath) {
            let st = try NPY.read(path: statusPath)
            guard st.values.count == rows.count * seeds else {
                throw .badFile(
                    path: statusPath,
                    reason: "shape \(st.shape) does not match \(rows.count) grid points × \(seeds) seeds")
            }
            status = st.values.map { Int($0) }
        } else {
            status = nil
        }
    }

    /// Whether replica (g, s) was frozen before the end (status.npy): left out of medians and bands.
    public func isFrozen(_ g: Int, _ s: Int) -> Bool {
        guard let status else { return false }
        return ReplicaStatus.isFrozen(code: status[g * seeds + s])
    }

    /// The values of the seeds of grid point g that ran to the end (frozen replicas left out).
    public func kept(_ values: [Double], point g: Int) -> [Double] {
        values.indices.filter { !isFrozen(g, $0) }.map { values[$0] }
    }

    /// The run's configuration, from manifest.json (`Configuration.fromManifest`: schema version 2, or 1 migrated).
    public func configuration() throws(DLNError) -> Configuration {
        let path = URL(fileURLWithPath: directory).appendingPathComponent("manifest.json").path
        guard let data = FileManager.default.contents(atPath: path) else {
            throw .badFile(path: path, reason: "missing")
        }
        return try Configuration.fromManifest(data: data, path: path)
    }

    /// One observable as `[g][s][c]`.
    public func array(_ name: String) throws(DLNError) -> [[[Double]]] {
        guard names.contains(name) else {
            throw .invalidProblem("no observable '\(name)' in \(directory); recorded: \(names.joined(separator: ", "))")
        }
        let a = try NPY.read(path: URL(fileURLWithPath: directory).appendingPathComponent("\(name).npy").path)
        guard a.shape.count == 3 else {
            throw .badFile(path: "\(directory)/\(name).npy", reason: "expected 3 dimensions, got \(a.shape)")
        }
        let (G, S, C) = (a.shape[0], a.shape[1], a.shape[2])
        return (0..<G).map { g in (0..<S).map { s in Array(a.values[((g * S + s) * C)..<((g * S + s + 1) * C)]) } }
    }

    /// The grid columns whose value differs between grid points.
    /// (λ_u and n are left out: they follow from λ and from d and δ.)
    public var varyingColumns: [Int] {
        columns.indices.filter { c in !["lambda_u", "n"].contains(columns[c]) && Set(rows.map { $0[c] }).count > 1 }
    }
}

/// The figures and the HTML report of a run.
public enum Report {
    static let symbols = [
        "alpha": "α", "weight_decay": "λ", "learning_rate": "η", "lambda_u": "λ_u", "delta": "δ",
        "noise": "σ", "density": "ρ", "depth": "L", "d": "d", "n": "n", "batch_size": "b", "label_noise": "σ_ℓ",
        "gradient_noise": "T", "momentum": "β"
    ]

    static func pretty(_ observable: String) -> String { ObservableSet.label(observable) }

    /// The label of a grid point: its varying parameters.
    static func label(_ folder: OutputFolder, _ g: Int, excluding: Int? = nil) -> String {
        // An empty cell (the batch size of a gd point) is left out of the label.
        let parts = folder.varyingColumns.filter { $0 != excluding && !folder.rows[g][$0].isEmpty }.map { c in
            "\(symbols[folder.columns[c]] ?? folder.columns[c]) = \(shortValue(folder.rows[g][c]))"
        }
        return parts.isEmpty ? "simulation" : parts.joined(separator: ", ")
    }

    /// A grid value for a label: as written when short, else 4 significant digits (logspace values are long).
    public static func shortValue(_ text: String) -> String {
        guard text.count > 8, let v = Double(text) else { return text }
        return String(format: "%.4g", v)
    }

    /// The most curves a figure against t draws (the first grid points).
    static let maxCurves = 24

    /// An observable against t: the median over seeds per grid point, with the 10–90% band; the time axis
    /// logarithmic or linear (`time`). Predictions and DMFT curves dashed in their grid point's colour, and the
    /// times `dlnsim analyze` computed (t_c, first and last jump) as vertical markers.
    public static func timeFigure(_ folder: OutputFolder, observable: String, time: SVGPlot.Scale = .log)
        throws(DLNError) -> SVGPlot
    {
        let a = try folder.array(observable)
        let positive = a.joined().joined().filter(\.isFinite).allSatisfy { $0 > 0 }
        var plot = SVGPlot(
            title: "\(pretty(observable)) vs t", xLabel: "t (gradient-flow time)", yLabel: pretty(observable),
            xScale: time, yScale: positive ? .log : .linear)
        fitRange(&plot, observable)
        let points = Array(a.indices.prefix(maxCurves))
        let styles = pointStyles(folder, points: points)
        for (k, g) in points.enumerated() {
            let C = a[g][0].count
            let s = (0..<C).map { c in EnsembleSummary(folder.kept(a[g].map { $0[c] }, point: g)) }
            var series = SVGPlot.Series(
                label: label(folder, g), x: folder.times[g], y: s.map(\.median), low: s.map(\.q10),
                high: s.map(\.q90))
            series.color = styles[k].color
            series.dash = styles[k].dash
            plot.series.append(series)
        }
        let color = { (g: Int) in points.firstIndex(of: g).map { styles[$0].color } }
        DMFTStudy.overlay(&plot, folder: folder, observable: observable, label: { label(folder, $0) }, color: color)
        if observable == Observable.testError.name { overlayPredictions(&plot, folder, points: points, styles: styles) }
        if observable == ObservableSet.sharpness { overlayStabilityEdge(&plot, folder, points: points, styles: styles) }
        let marked = markTimes(&plot, folder, points: points, styles: styles)
        plot.caption = caption(folder, plot, marked: marked, skipped: a.count - points.count)
        plot.source = (observable, nil)
        return plot
    }

    /// [0, 1] for precision and recall; nothing for other observables.
    static func fitRange(_ plot: inout SVGPlot, _ observable: String) {
        if observable.hasPrefix("precision@") || observable.hasPrefix("recall@") {
            plot.yScale = .linear
            plot.yRange = (0, 1)
        }
    }

    /// The times `dlnsim analyze` wrote, drawn as vertical markers (median over the seeds that ran to the end):
    /// file, marker kind, line style and legend text.
    static let markedTimes = [
        ("analysis_transition_time.npy", "t_c", "2 3", "t_c: lazy → rich (analyze)"),
        ("analysis_first_jump_time.npy", "first_jump", "10 3 2 3", "first / last plateau exit (analyze)"),
        ("analysis_last_jump_time.npy", "last_jump", "10 3 2 3", "")
    ]

    /// Adds the markers of `markedTimes` present in the folder; returns whether any was drawn.
    static func markTimes(
        _ plot: inout SVGPlot, _ folder: OutputFolder, points: [Int], styles: [(color: String, dash: String?)]
    ) -> Bool {
        var any = false
        for (file, kind, dash, text) in markedTimes {
            guard let p = prediction(folder, file) else { continue }
            var drawn = false
            for (k, g) in points.enumerated() {
                let m = EnsembleSummary(folder.kept(p[g], point: g)).median
                guard m.isFinite, m > 0 else { continue }
                plot.markers.append(SVGPlot.Marker(x: m, color: styles[k].color, dash: dash, kind: kind))
                drawn = true
            }
            if drawn && !text.isEmpty { plot.legendNotes.append((dash, text)) }
            any = any || drawn
        }
        return any
    }

    /// The predictions `dlnsim analyze` writes (analysis_<quantity>.npy) that the test-error figures draw, and
    /// their labels.
    static let predictions = [
        ("analysis_predicted_test_error.npy", "theory: limit of the flow"),
        ("analysis_asymptotic_test_error.npy", "theory: d → ∞")
    ]

    /// The label prefix of prediction curves.
    public static let predictionPrefix = "theory: "

    /// A prediction file's values [g][s], when the folder has it with the grid's shape: the one staged by the
    /// command under way (`dlnsim analyze` stages its predictions and the figures that draw them, then commits
    /// both at once), else the folder's own.
    static func prediction(_ folder: OutputFolder, _ file: String) -> [[Double]]? {
        let folderURL = URL(fileURLWithPath: folder.directory)
        let staged = folderURL.appendingPathComponent(OutputDirectory.stagingName).appendingPathComponent(file).path
        let path =
            FileManager.default.fileExists(atPath: staged) ? staged : folderURL.appendingPathComponent(file).path
        guard FileManager.default.fileExists(atPath: path), let p = try? NPY.read(path: path), p.shape.count == 2,
            p.shape[0] == folder.rows.count
        else { return nil }
        let S = p.shape[1]
        return (0..<p.shape[0]).map { Array(p.values[($0 * S)..<(($0 + 1) * S)]) }
    }

    /// The predicted limits of the test error as dashed horizontal lines over the run's times (median over the
    /// seeds that ran to the end), one per grid point drawn.
    static func overlayPredictions(
        _ plot: inout SVGPlot, _ folder: OutputFolder, points: [Int], styles: [(color: String, dash: String?)]
    ) {
        for (n, (file, name)) in predictions.enumerated() {
            guard let p = prediction(folder, file) else { continue }
            var drawn = false
            for (k, g) in points.enumerated() {
                let m = EnsembleSummary(folder.kept(p[g], point: g)).median
                let ts = folder.times[g].filter { $0 > 0 && $0.isFinite }
                guard m.isFinite, let t0 = ts.first, let t1 = ts.last else { continue }
                plot.series.append(
                    theorySeries(
                        points.count > 1 ? "\(name), \(label(folder, g))" : name, x: [t0, t1], y: [m, m],
                        color: styles[k].color, dash: theoryDashes[n]))
                drawn = true
            }
            if drawn { plot.legendNotes.append((theoryDashes[n], name)) }
        }
    }

    /// The line styles of the two predictions (limit of the flow, d → ∞).
    static let theoryDashes = [SVGPlot.theoryDash, "14 5"]

    /// A prediction curve: dashed in its simulation's colour, named once in the legend's notes instead of per curve.
    static func theorySeries(_ label: String, x: [Double], y: [Double], color: String, dash: String) -> SVGPlot.Series {
        var series = SVGPlot.Series(label: label, x: x, y: y, dashed: true)
        series.color = color
        series.dash = dash
        series.inLegend = false
        return series
    }

    /// An observable at the last checkpoint against a grid parameter, one curve per value of the other varying
    /// parameters; median over seeds with 10–90% bars.
    public static func parameterFigure(_ folder: OutputFolder, observable: String, parameter: String) throws(DLNError)
        -> SVGPlot
    {
        guard let pc = folder.columns.firstIndex(of: parameter) else {
            throw .invalidProblem(
                "no grid parameter '\(parameter)'; the grid has: \(folder.columns.joined(separator: ", "))")
        }
        let a = try folder.array(observable)
        let xs = folder.rows.map { Double($0[pc]) ?? .nan }
        guard xs.allSatisfy(\.isFinite) else { throw .invalidProblem("grid parameter '\(parameter)' is not numeric") }
        var curves: [String: [Int]] = [:]
        var order: [String] = []
        for g in folder.rows.indices {
            let key = label(folder, g, excluding: pc)
            if curves[key] == nil { order.append(key) }
            curves[key, default: []].append(g)
        }
        let positive = a.joined().joined().filter(\.isFinite).allSatisfy { $0 > 0 }
        let spread = (xs.max() ?? 1) / max(xs.min() ?? 1, .leastNonzeroMagnitude)
        // Log-spaced values (logspace grids: one ratio between neighbours) read best on a log axis too.
        let distinct = Array(Set(xs)).sorted()
        let ratios = zip(distinct.dropFirst(), distinct).map { $0 / $1 }
        let geometric =
            distinct.count >= 3 && distinct[0] > 0 && ratios[0] > 1.5
            && ratios.allSatisfy { abs($0 / ratios[0] - 1) < 1e-6 }
        let styles = pointStyles(folder, points: order.map { curves[$0]![0] }, excluding: pc)
        var plot = SVGPlot(
            title:
                "\(pretty(observable)) at t = \(String(format: "%g", folder.times[0].last ?? 0)) vs "
                + "\(symbols[parameter] ?? parameter)",
            xLabel: symbols[parameter] ?? parameter, yLabel: pretty(observable),
            xScale: xs.allSatisfy { $0 > 0 } && (spread >= 20 || geometric) ? .log : .linear,
            yScale: positive ? .log : .linear)
        for key in order {
            let gs = curves[key]!.sorted { xs[$0] < xs[$1] }
            let s = gs.map { g in EnsembleSummary(folder.kept(a[g].map { $0.last ?? .nan }, point: g)) }
            var series = SVGPlot.Series(
                label: key, x: gs.map { xs[$0] }, y: s.map(\.median), low: s.map(\.q10), high: s.map(\.q90),
                bars: true, markers: true)
            series.color = styles[order.firstIndex(of: key)!].color
            series.dash = styles[order.firstIndex(of: key)!].dash
            plot.series.append(series)
        }
        plot.xIntegerTicks = integerParameters.contains(parameter)
        fitRange(&plot, observable)
        // Predictions of `dlnsim analyze`, when present, as dashed curves beside the test error.
        if observable == Observable.testError.name {
            for (n, (file, label)) in predictions.enumerated() {
                guard let p = prediction(folder, file) else { continue }
                var drawn = false
                for (k, key) in order.enumerated() {
                    let gs = curves[key]!.sorted { xs[$0] < xs[$1] }
                    let medians = gs.map { g in EnsembleSummary(folder.kept(p[g], point: g)).median }
                    guard medians.contains(where: \.isFinite) else { continue }
                    plot.series.append(
                        theorySeries(
                            order.count > 1 ? "\(label), \(key)" : label, x: gs.map { xs[$0] }, y: medians,
                            color: styles[k].color, dash: theoryDashes[n]))
                    drawn = true
                }
                if drawn { plot.legendNotes.append((theoryDashes[n], label)) }
            }
        }
        plot.caption = caption(folder, plot, marked: false, skipped: 0, atEnd: true, excluding: pc)
        plot.source = (observable, parameter)
        return plot
    }

    /// Writes the default figures (train loss and test error vs t, test error vs the main grid parameter),
    /// any extra ones, and report.html. Returns the figure files written.
    @discardableResult
    /// `into`: the folder to write them to (a staging folder), when not the folder read.
    /// `time`: the scale of the time axis of the figures against t.
    public static func write(
        _ folder: OutputFolder, extra: [(String, SVGPlot)] = [], into: String? = nil, time: SVGPlot.Scale = .log
    ) throws(DLNError) -> [String] {
        try writeFigures(folder, extra: extra, into: into, time: time).map(\.0)
    }

    /// Writes the figures and report.html like `write`, and returns the figure files that draw a prediction of
    /// `dlnsim analyze` (a curve labelled "theory: …").
    public static func writeWithPredictions(_ folder: OutputFolder, into: String? = nil) throws(DLNError) -> (
        figures: [String], withPredictions: [String]
    ) {
        let figures = try writeFigures(folder, extra: [], into: into)
        let drawn = figures.filter { $0.1.series.contains { $0.label.hasPrefix(predictionPrefix) } }
        return (figures.map(\.0), drawn.map(\.0))
    }

    static func writeFigures(
        _ folder: OutputFolder, extra: [(String, SVGPlot)], into: String?, time: SVGPlot.Scale = .log
    ) throws(DLNError) -> [(String, SVGPlot)] {
        let target = into ?? folder.directory
        var figures: [(String, SVGPlot)] = []
        let timeFigures = [
            Observable.trainLoss.name, Observable.testError.name, ObservableSet.plConstant, ObservableSet.sharpness
        ]
        for name in timeFigures where folder.names.contains(name) {
            let values = try folder.array(name).joined().joined()
            if values.contains(where: \.isFinite) {
                figures.append(("\(name).svg", try timeFigure(folder, observable: name, time: time)))
            }
        }
        // Numeric axes only (batch_size is empty for the gd points of a grid that zips update with batch_size).
        let varying = folder.varyingColumns.filter { c in folder.rows.allSatisfy { Double($0[c]) != nil } }.map {
            folder.columns[$0]
        }.filter { !["parameterization", "update"].contains($0) }
        if let parameter = varying.max(by: { a, b in
            Set(folder.rows.map { $0[folder.columns.firstIndex(of: a)!] }).count
                < Set(folder.rows.map { $0[folder.columns.firstIndex(of: b)!] }).count
        }), folder.names.contains(Observable.testError.name),
            try folder.array(Observable.testError.name).joined().joined().contains(where: \.isFinite)
        {
            figures.append(
                (
                    "\(Observable.testError.name)_vs_\(parameter).svg",
                    try parameterFigure(folder, observable: Observable.testError.name, parameter: parameter)
                ))
        }
        figures += extra
        for (file, plot) in figures {
            try OutputFile.write(
                text: plot.render(), to: URL(fileURLWithPath: target).appendingPathComponent(file).path)
            // Beside each figure drawn from the files, the matplotlib script that redraws it.
            if let source = plot.source, file.hasSuffix(".svg") {
                let stem = String(file.dropLast(4))
                let script = FigureScript.text(
                    figure: stem, observable: source.observable, parameter: source.parameter, time: plot.xScale)
                try OutputFile.write(
                    text: script, to: URL(fileURLWithPath: target).appendingPathComponent(stem + ".py").path)
            }
        }
        // activation.svg (record.activation): not an SVGPlot; with its script.
        if let activation = try ActivationFigure(folder) {
            let base = URL(fileURLWithPath: target)
            try OutputFile.write(text: activation.render(), to: base.appendingPathComponent("activation.svg").path)
            try OutputFile.write(text: ActivationFigure.script, to: base.appendingPathComponent("activation.py").path)
        }
        try writeHTML(folder, into: target)
        return figures
    }

    /// report.html: every SVG in the folder, the grid and the manifest.
    static func writeHTML(_ folder: OutputFolder, into target: String) throws(DLNError) {
        let svgs = Set([folder.directory, target].flatMap { OutputDirectory.entries($0) }).filter {
            $0.hasSuffix(".svg")
        }.sorted()
        func esc(_ s: String) -> String {
            s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
        }
        var html =
            "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>dlnsim: "
            + "\(esc(folder.manifest["name"] as? String ?? "run"))</title>\n"
        html +=
            "<style>body{font-family:sans-serif;margin:2em;max-width:1100px}table{border-collapse:collapse}"
            + "td,th{border:1px solid #ccc;padding:2px 8px;font-size:13px}img{max-width:100%;margin:1em 0}"
            + "</style></head><body>\n"
        html += "<h1>dlnsim run: \(esc(folder.manifest["name"] as? String ?? "run"))</h1>\n"
        let facts = [
            "engine", "precision", "replicas", "grid_points", "seeds", "batches", "horizon", "steps", "wall_seconds",
            "replica_steps_per_second", "dlnsim_version", "git_commit"
        ]
        /// A manifest value as text: a list joined by commas (per grid point), null as "flow (adaptive)".
        func fact(_ v: Any) -> String? {
            if v is NSNull { return nil }
            if let list = v as? [Any] {
                return list.map { $0 is NSNull ? "flow (adaptive)" : "\($0)" }.joined(separator: ", ")
            }
            return "\(v)"
        }
        html +=
            "<table>\n"
            + facts.compactMap { key in
                folder.manifest[key].flatMap(fact).map { "<tr><th>\(key)</th><td>\(esc($0))</td></tr>" }
            }.joined(separator: "\n") + "\n</table>\n"
        for svg in svgs { html += "<div><img src=\"\(svg)\" alt=\"\(svg)\"></div>\n" }
        html +=
            "<h2>Grid</h2>\n<table><tr><th>point</th>" + folder.columns.map { "<th>\($0)</th>" }.joined() + "</tr>\n"
        for (g, row) in folder.rows.enumerated() {
            html += "<tr><td>\(g)</td>" + row.map { "<td>\(esc($0))</td>" }.joined() + "</tr>\n"
        }
        html +=
            "</table>\n<p>Files: one <code>&lt;observable&gt;.npy</code> per observable (shape [grid point, seed, "
            + "checkpoint]), times.npy, steps.npy, grid.csv, stats.csv, manifest.json.</p>\n"
        if let data = try? JSONSerialization.data(
            withJSONObject: folder.manifest, options: [.prettyPrinted, .sortedKeys])
        {
            html += "<h2>Manifest</h2><pre>\(esc(String(decoding: data, as: UTF8.self)))</pre>\n"
        }
        html += "</body></html>\n"
        try OutputFile.write(text: html, to: URL(fileURLWithPath: target).appendingPathComponent("report.html").path)
    }
}
