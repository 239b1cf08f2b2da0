import Foundation

extension SVGPlot {
    /// The viridis colour map at t = 0, 0.1, …, 1 (matplotlib's values); `viridis(_:)` interpolates between them.
    static let viridisPoints: [(Double, Double, Double)] = [
        (0x44, 0x01, 0x54), (0x48, 0x24, 0x75), (0x41, 0x44, 0x87), (0x35, 0x5f, 0x8d), (0x2a, 0x78, 0x8e),
        (0x21, 0x91, 0x8c), (0x22, 0xa8, 0x84), (0x44, 0xbf, 0x70), (0x7a, 0xd1, 0x51), (0xbd, 0xdf, 0x26),
        (0xfd, 0xe7, 0x25)
    ]

    /// The viridis colour at t ∈ [0, 1], as #rrggbb.
    public static func viridis(_ t: Double) -> String {
        let u = min(1, max(0, t.isFinite ? t : 0)) * Double(viridisPoints.count - 1)
        let i = min(viridisPoints.count - 2, Int(u))
        let w = u - Double(i)
        let (a, b) = (viridisPoints[i], viridisPoints[i + 1])
        let rgb = [a.0 + w * (b.0 - a.0), a.1 + w * (b.1 - a.1), a.2 + w * (b.2 - a.2)]
        return "#" + rgb.map { String(format: "%02x", Int($0.rounded())) }.joined()
    }

    /// `count` colours for ordered values, evenly spaced along viridis from dark purple to yellow-green (the
    /// palest yellow end is left out: it does not show on white).
    public static func sequential(_ count: Int) -> [String] {
        (0..<count).map { viridis(count > 1 ? 0.85 * Double($0) / Double(count - 1) : 0) }
    }

    /// Line styles (stroke-dasharray; nil is solid) for a second varying parameter: solid, dashed, dotted,
    /// dash-dot.
    public static let lineStyles: [String?] = [nil, "9 4", "2 3", "9 3 2 3"]

    /// The styles of `count` categories: the qualitative palette, then again with the next line style past ten
    /// categories (so no two look alike).
    public static func categorical(_ count: Int) -> [(color: String, dash: String?)] {
        (0..<count).map { i in
            (colors[i % colors.count], lineStyles[(i / colors.count) % lineStyles.count])
        }
    }

    /// The style of theory curves (predictions, DMFT): dashed, in their simulation's colour.
    public static let theoryDash = "6 4"

    /// A vertical marker on a figure against t (the lazy → rich time t_c, a plateau exit).
    public struct Marker {
        public var x: Double
        public var color: String
        public var dash: String
        /// What the marker is, e.g. "t_c" (the SVG element's class is "marker <kind>").
        public var kind: String

        public init(x: Double, color: String, dash: String, kind: String) {
            self.x = x
            self.color = color
            self.dash = dash
            self.kind = kind
        }
    }

    /// A caption's lines, broken at spaces to fit `width` pixels of text at the figure's font size.
    static func wrap(_ text: String, width: Double, fontSize: Double) -> [String] {
        let perLine = max(20, Int(width / (0.55 * fontSize)))
        var lines: [String] = []
        var line = ""
        for word in text.split(separator: " ") {
            if !line.isEmpty && line.count + 1 + word.count > perLine {
                lines.append(line)
                line = ""
            }
            line += (line.isEmpty ? "" : " ") + word
        }
        if !line.isEmpty { lines.append(line) }
        return lines
    }
}
