import DLNModel
import DLNTheory
import Foundation

/// A small SVG chart writer: axes (linear or log), ticks and labels, lines, shaded bands, error bars and a
/// legend. Enough for the figures a run writes; no plotting package exists for Swift on Linux.
public struct SVGPlot {
    /// An axis scale.
    public enum Scale: Sendable { case linear, log }

    /// One series: a line through (x, y) with an optional band [low, high] (or error bars when `bars`).
    public struct Series {
        public var label: String
        public var x: [Double]
        public var y: [Double]
        public var low: [Double]? = nil
        public var high: [Double]? = nil
        public var bars = false
        public var markers = false
        /// Drawn dashed (theory curves).
        public var dashed = false
        /// The colour (#rrggbb); nil takes the qualitative palette's colour of the series' place.
        public var color: String? = nil
        /// A stroke-dasharray (a line style); overrides `dashed`.
        public var dash: String? = nil
        /// Whether the legend lists the series.
        public var inLegend = true

        public init(
            label: String, x: [Double], y: [Double], low: [Double]? = nil, high: [Double]? = nil, bars: Bool = false,
            markers: Bool = false, dashed: Bool = false
        ) {
            self.label = label
            self.x = x
            self.y = y
            self.low = low
            self.high = high
            self.bars = bars
            self.markers = markers
            self.dashed = dashed
        }
    }

    public var title: String
    public var xLabel: String
    public var yLabel: String
    public var xScale: Scale
    public var yScale: Scale
    public var series: [Series] = []
    public var width = 900.0, height = 560.0
    /// Text under the plot saying what the lines, bands and dashed curves are.
    public var caption: String? = nil
    /// Fixed axis ranges (e.g. [0, 1] for a fraction); nil fits the data.
    public var xRange: (Double, Double)? = nil
    public var yRange: (Double, Double)? = nil
    /// Integer ticks only (an integer-valued parameter such as the depth L).
    public var xIntegerTicks = false
    /// Vertical markers (drawn on figures against t).
    public var markers: [Marker] = []
    /// What the figure draws, for its matplotlib script (`FigureScript`): an observable against t (`parameter`
    /// nil) or against a grid parameter. Nil: no script.
    public var source: (observable: String, parameter: String?)? = nil
    /// Extra legend lines: a line sample of the given dash (grey) and a text, e.g. what dashed curves are.
    public var legendNotes: [(dash: String, text: String)] = []

    /// An empty chart.
    public init(title: String, xLabel: String, yLabel: String, xScale: Scale, yScale: Scale) {
        self.title = title
        self.xLabel = xLabel
        self.yLabel = yLabel
        self.xScale = xScale
        self.yScale = yScale
    }

    /// The tab10 palette (categorical parameters; past ten categories the line style changes too).
    public static let colors = [
        "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"
    ]

    func usable(_ v: Double, _ scale: Scale) -> Bool { v.isFinite && (scale == .linear || v > 0) }

    /// The SVG document.
    public func render() -> String {
        let legend = series.filter(\.inLegend)
        let hasLegend = legend.count > 1 || !legendNotes.isEmpty
        let longest = Double((legend.map(\.label.count) + legendNotes.map(\.text.count)).max() ?? 0)
        let fontSize = 15.0
        let left = 92.0
        let right = hasLegend ? max(220.0, 56 + 8.6 * longest) : 28.0
        let top = 46.0
        let width = self.width + (hasLegend ? max(0, right - 220) : 0)
        let captionLines = caption.map { Self.wrap($0, width: width - 40, fontSize: fontSize - 1) } ?? []
        let height = self.height + Double(captionLines.count) * 19
        let bottom = 66.0 + Double(captionLines.count) * 19
        let pw = width - left - right
        let ph = height - top - bottom
        // Data ranges over everything that can be drawn.
        var xs: [Double] = []
        var ys: [Double] = []
        for s in series {
            for i in s.x.indices where usable(s.x[i], xScale) {
                for v in [s.y[i], s.low?[i] ?? .nan, s.high?[i] ?? .nan] where usable(v, yScale) {
                    xs.append(s.x[i])
                    ys.append(v)
                }
            }
        }
        var out =
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" viewBox=\"0 "
            + "0 \(Int(width)) \(Int(height))\" font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\" "
            + "font-size=\"\(Int(fontSize))\">\n"
        out += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
        out +=
            "<text x=\"\(f(left + pw / 2))\" y=\"28\" text-anchor=\"middle\" font-size=\"18\" "
            + "font-weight=\"bold\">\(escape(title))</text>\n"
        guard let x0 = xs.min(), let x1 = xs.max(), let y0 = ys.min(), let y1 = ys.max() else {
            out +=
                "<text x=\"\(f(left + pw / 2))\" y=\"\(f(top + ph / 2))\" text-anchor=\"middle\">no finite data to "
                + "plot</text>\n</svg>\n"
            return out
        }
        let xr = xRange ?? Self.range(x0, x1, xScale)
        let yr = yRange ?? Self.range(y0, y1, yScale)
        func tx(_ v: Double) -> Double { left + pw * Self.unit(v, xr, xScale) }
        func ty(_ v: Double) -> Double { top + ph * (1 - Self.unit(v, yr, yScale)) }
        // Grid, ticks and labels.
        out += "<g stroke=\"#e6e6e6\" stroke-width=\"1\">\n"
        let xt = Self.ticks(xr, xScale, integers: xIntegerTicks)
        let yt = Self.ticks(yr, yScale)
        for t in xt { out += "<line x1=\"\(f(tx(t)))\" y1=\"\(f(top))\" x2=\"\(f(tx(t)))\" y2=\"\(f(top + ph))\"/>\n" }
        for t in yt {
            out += "<line x1=\"\(f(left))\" y1=\"\(f(ty(t)))\" x2=\"\(f(left + pw))\" y2=\"\(f(ty(t)))\"/>\n"
        }
        out +=
            "</g>\n<rect x=\"\(f(left))\" y=\"\(f(top))\" width=\"\(f(pw))\" height=\"\(f(ph))\" fill=\"none\" "
            + "stroke=\"#333\"/>\n"
        for t in xt {
            out +=
                "<line x1=\"\(f(tx(t)))\" y1=\"\(f(top + ph))\" x2=\"\(f(tx(t)))\" y2=\"\(f(top + ph + 5))\" "
                + "stroke=\"#333\"/>"
            out +=
                "<text x=\"\(f(tx(t)))\" y=\"\(f(top + ph + 22))\" "
                + "text-anchor=\"middle\">\(Self.label(t, xScale))</text>\n"
        }
        for t in yt {
            out +=
                "<line x1=\"\(f(left - 5))\" y1=\"\(f(ty(t)))\" x2=\"\(f(left))\" y2=\"\(f(ty(t)))\" stroke=\"#333\"/>"
            out +=
                "<text x=\"\(f(left - 8))\" y=\"\(f(ty(t) + 4))\" text-anchor=\"end\">\(Self.label(t, yScale))</text>\n"
        }
        out +=
            "<text x=\"\(f(left + pw / 2))\" y=\"\(f(top + ph + 48))\" text-anchor=\"middle\">\(escape(xLabel))</text>\n"
        out +=
            "<text transform=\"translate(18 \(f(top + ph / 2))) rotate(-90)\" "
            + "text-anchor=\"middle\">\(escape(yLabel))</text>\n"
        // Series, clipped to the plot area.
        out +=
            "<clipPath id=\"plot\"><rect x=\"\(f(left))\" y=\"\(f(top))\" width=\"\(f(pw))\" "
            + "height=\"\(f(ph))\"/></clipPath>\n<g clip-path=\"url(#plot)\">\n"
        for (k, s) in series.enumerated() {
            let color = s.color ?? Self.colors[k % Self.colors.count]
            let dash = s.dash ?? (s.dashed ? Self.theoryDash : nil)
            let idx = s.x.indices.filter { usable(s.x[$0], xScale) }
            if let lo = s.low, let hi = s.high {
                let ok = idx.filter { usable(lo[$0], yScale) && usable(hi[$0], yScale) }
                if s.bars {
                    for i in ok {
                        out +=
                            "<line x1=\"\(f(tx(s.x[i])))\" y1=\"\(f(ty(lo[i])))\" x2=\"\(f(tx(s.x[i])))\" "
                            + "y2=\"\(f(ty(hi[i])))\" stroke=\"\(color)\" stroke-width=\"1.5\"/>\n"
                    }
                } else if ok.count > 1 {
                    let upper = ok.map { "\(f(tx(s.x[$0]))),\(f(ty(hi[$0])))" }
                    let lower = ok.reversed().map { "\(f(tx(s.x[$0]))),\(f(ty(lo[$0])))" }
                    out +=
                        "<polygon points=\"\((upper + lower).joined(separator: " "))\" fill=\"\(color)\" "
                        + "fill-opacity=\"0.18\" stroke=\"none\"/>\n"
                }
            }
            // The line is broken where a value cannot be drawn.
            var segment: [String] = []
            func flush() {
                if segment.count > 1 {
                    out +=
                        "<polyline points=\"\(segment.joined(separator: " "))\" fill=\"none\" stroke=\"\(color)\" "
                        + "stroke-width=\"\(s.dashed ? "1.8" : "2.2")\"\(dash.map { " stroke-dasharray=\"\($0)\"" } ?? "")/>\n"
                }
                segment = []
            }
            for i in idx {
                if usable(s.y[i], yScale) { segment.append("\(f(tx(s.x[i]))),\(f(ty(s.y[i])))") } else { flush() }
                if s.markers && usable(s.y[i], yScale) {
                    out += "<circle cx=\"\(f(tx(s.x[i])))\" cy=\"\(f(ty(s.y[i])))\" r=\"3.5\" fill=\"\(color)\"/>\n"
                }
            }
            flush()
        }
        for m in markers where usable(m.x, xScale) {
            out +=
                "<line class=\"marker \(m.kind)\" x1=\"\(f(tx(m.x)))\" y1=\"\(f(top))\" x2=\"\(f(tx(m.x)))\" "
                + "y2=\"\(f(top + ph))\" stroke=\"\(m.color)\" stroke-width=\"1.5\" stroke-dasharray=\"\(m.dash)\"/>\n"
        }
        out += "</g>\n"
        // Legend, right of the plot: the series it lists, then the notes (grey line samples).
        if hasLegend {
            var rows: [(String, String?, String)] = series.indices.filter { series[$0].inLegend }.map { k in
                let s = series[k]
                return (
                    s.color ?? Self.colors[k % Self.colors.count], s.dash ?? (s.dashed ? Self.theoryDash : nil), s.label
                )
            }
            rows += legendNotes.map { ("#555", $0.dash.isEmpty ? nil : $0.dash, $0.text) }
            for (k, row) in rows.enumerated() {
                let y = top + 10 + Double(k) * 22
                out +=
                    "<line x1=\"\(f(left + pw + 14))\" y1=\"\(f(y))\" x2=\"\(f(left + pw + 44))\" y2=\"\(f(y))\" "
                    + "stroke=\"\(row.0)\" stroke-width=\"3\"\(row.1.map { " stroke-dasharray=\"\($0)\"" } ?? "")/>"
                out += "<text x=\"\(f(left + pw + 50))\" y=\"\(f(y + 5))\">\(escape(row.2))</text>\n"
            }
        }
        for (k, line) in captionLines.enumerated() {
            out +=
                "<text class=\"caption\" x=\"20\" y=\"\(f(top + ph + 74 + Double(k) * 19))\" font-size=\"14\" "
                + "fill=\"#333\">\(escape(line))</text>\n"
        }
        return out + "</svg>\n"
    }

    func f(_ v: Double) -> String { String(format: "%.1f", v) }

    func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(
            of: ">", with: "&gt;")
    }

    /// The axis range: log axes snap outward to decades, linear axes get 4% margins.
    static func range(_ lo: Double, _ hi: Double, _ scale: Scale) -> (Double, Double) {
        switch scale {
        case .log:
            var a = log10(lo)
            var b = log10(hi)
            if b - a < 1 {
                let m = (a + b) / 2
                a = m - 0.5
                b = m + 0.5
            }
            let pad = 0.04 * (b - a)
            return (pow(10, a - pad), pow(10, b + pad))
        case .linear:
            if lo == hi { return (lo - max(1, abs(lo)) * 0.5, hi + max(1, abs(hi)) * 0.5) }
            let m = (hi - lo) * 0.04
            return (lo - m, hi + m)
        }
    }

    static func unit(_ v: Double, _ r: (Double, Double), _ scale: Scale) -> Double {
        scale == .log ? (log10(v) - log10(r.0)) / (log10(r.1) - log10(r.0)) : (v - r.0) / (r.1 - r.0)
    }

    /// Tick positions: decades on log axes (every k-th when there are many); 1-2-5 steps on linear axes.
    public static func ticks(_ r: (Double, Double), _ scale: Scale, integers: Bool = false) -> [Double] {
        if integers {
            let all = ticks(r, scale)
            let whole = all.filter { $0 == $0.rounded() }
            if scale == .log || whole.count >= 2 { return whole }
            let lo = Int(Foundation.ceil(r.0))
            let hi = Int(Foundation.floor(r.1))
            guard lo <= hi else { return whole }
            let step = max(1, (hi - lo + 5) / 6)
            return stride(from: lo, through: hi, by: step).map(Double.init)
        }
        switch scale {
        case .log:
            let a = Int(Foundation.ceil(log10(r.0) - 1e-9))
            let b = Int(Foundation.floor(log10(r.1) + 1e-9))
            if b - a < 2 {  // a narrow range: 1, 2, 5 in each decade
                let lo = Int(Foundation.floor(log10(r.0)))
                let hi = Int(Foundation.ceil(log10(r.1)))
                return (lo...hi).flatMap { e in [1.0, 2, 5].map { $0 * pow(10, Double(e)) } }.filter {
                    $0 >= r.0 && $0 <= r.1
                }
            }
            let every = max(1, (b - a + 7) / 8)
            return stride(from: a, through: b, by: every).map { pow(10, Double($0)) }
        case .linear:
            let raw = (r.1 - r.0) / 6
            let mag = pow(10, Foundation.floor(log10(raw)))
            let step = [1.0, 2, 5, 10].map { $0 * mag }.first { $0 >= raw } ?? 10 * mag
            var out: [Double] = []
            var t = Foundation.ceil(r.0 / step) * step
            while t <= r.1 + step * 1e-9 {
                out.append(abs(t) < step * 1e-9 ? 0 : t)
                t += step
            }
            return out
        }
    }

    /// A tick's text.
    public static func label(_ v: Double, _ scale: Scale) -> String {
        if scale == .log {
            let e = Int(Foundation.floor(log10(v) + 1e-9))
            let m = (v / pow(10, Double(e))).rounded()
            if (-2...3).contains(e) { return String(format: "%g", v) }
            return m == 1 ? "1e\(e)" : "\(Int(m))e\(e)"
        }
        return String(format: "%g", v)
    }
}
