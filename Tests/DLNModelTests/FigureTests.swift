import DLNModel
import DLNRun
import DLNTheory
import Foundation
import Testing

@Suite struct FigureTests {
    /// A small run written to a fresh folder.
    static func folder(_ yaml: String) throws -> OutputFolder {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("dlnsim-fig-\(UUID().uuidString)").path
        let e = try Experiment(try Configuration.parse(yaml: yaml))
        let r = try Simulation.run(e, on: CPUEngine())
        try RunOutput.write(r, experiment: e, to: dir)
        return try OutputFolder(dir)
    }

    static let alphas = [0.0001, 0.000316, 0.001, 0.00316, 0.01, 0.0316, 0.1, 0.316, 1, 3.16, 10]

    /// The relative luminance of #rrggbb.
    static func luminance(_ hex: String) -> Double {
        let v = Int(hex.dropFirst(), radix: 16)!
        let c = [(v >> 16) & 255, (v >> 8) & 255, v & 255].map { Double($0) / 255 }
        return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]
    }

    /// A figure drawn from a run's files has its title, labelled axes, decade ticks, one line and band per
    /// grid point, a legend naming them and a caption saying what the line and the band are.
    @Test func timeFigureContent() throws {
        let folder = try Self.folder(
            "problem: {d: 30, n: 15, data: independent}\ntraining: {steps: 300}\ngrid: {alpha: [0.01, "
                + "1]}\nseeds: 4\nrecord: {checkpoints: 10}")
        let dir = folder.directory
        let files = try Report.write(folder)
        #expect(files.contains("train_loss.svg") && files.contains("test_error_vs_alpha.svg"))
        let svg = try String(contentsOfFile: dir + "/train_loss.svg", encoding: .utf8)
        #expect(svg.hasPrefix("<svg") && svg.hasSuffix("</svg>\n"))
        #expect(svg.contains(">train loss vs t</text>"))
        #expect(svg.contains(">t (gradient-flow time)</text>") && svg.contains(">train loss</text>"))
        #expect(svg.contains(">α = 0.01</text>") && svg.contains(">α = 1.0</text>"))
        #expect(svg.components(separatedBy: "<polyline").count - 1 == 2)
        #expect(svg.components(separatedBy: "<polygon").count - 1 == 2)
        #expect(svg.contains(">0.1</text>") || svg.contains(">1</text>"))
        #expect(svg.contains("font-size=\"15\"") && svg.contains("width=\"900\""))
        let caption = svg.components(separatedBy: "class=\"caption\"").dropFirst().compactMap {
            $0.split(separator: ">", maxSplits: 1).last?.components(separatedBy: "</text>").first
        }.joined(separator: " ")
        #expect(caption.contains("Lines: median over 4 seeds per grid point; bands: 10–90% quantiles"), "\(caption)")
        let parameter = try String(contentsOfFile: dir + "/test_error_vs_alpha.svg", encoding: .utf8)
        #expect(parameter.contains("class=\"caption\"") && parameter.contains("bars: 10–90% quantiles"))
        let html = try String(contentsOfFile: dir + "/report.html", encoding: .utf8)
        #expect(html.contains("<img src=\"train_loss.svg\"") && html.contains("replica_steps_per_second"))
    }

    /// 11 ordered α values get 11 distinct colours along viridis (lightness rising with α), not a palette
    /// of ten that repeats; a second varying parameter changes the line style, not the colour.
    @Test func orderedParametersGetViridis() throws {
        let colours = SVGPlot.sequential(11)
        #expect(Set(colours).count == 11)
        #expect(colours.first == SVGPlot.viridis(0) && SVGPlot.viridis(0) == "#440154")
        let light = colours.map(Self.luminance)
        #expect(zip(light, light.dropFirst()).allSatisfy { $0 < $1 }, "\(light)")
        let list = Self.alphas.map { "\($0)" }.joined(separator: ", ")
        let folder = try Self.folder(
            "problem: {d: 12, n: 6, data: independent}\ntraining: {steps: 20}\ngrid: {alpha: [\(list)], "
                + "weight_decay: [0, 0.01]}\nseeds: 2\nrecord: {checkpoints: 4}")
        let plot = try Report.timeFigure(folder, observable: "test_error")
        #expect(plot.series.count == 22)
        let alphaColumn = folder.columns.firstIndex(of: "alpha")!
        let lambdaColumn = folder.columns.firstIndex(of: "weight_decay")!
        for (g, s) in plot.series.enumerated() {
            let rank = Self.alphas.firstIndex(of: Double(folder.rows[g][alphaColumn])!)!
            #expect(s.color == colours[rank], "\(s.label)")
            #expect(s.dash == (Double(folder.rows[g][lambdaColumn]) == 0 ? nil : SVGPlot.lineStyles[1]), "\(s.label)")
        }
        #expect(plot.caption?.contains("Colour: α") == true && plot.caption?.contains("Line style: λ") == true)
    }

    /// More categories than palette colours: the line style changes too, so no two curves look alike.
    @Test func categoricalAxesDoNotRepeatSilently() throws {
        #expect(SVGPlot.colors.count == 10)
        let styles = SVGPlot.categorical(12)
        #expect(Set(styles.map { "\($0.color) \($0.dash ?? "solid")" }).count == 12)
        #expect(styles[10].color == styles[0].color && styles[10].dash != styles[0].dash)
    }

    /// The predictions of `dlnsim analyze` are drawn dashed in the colour of the simulation they belong to, and
    /// the legend names each kind once.
    @Test func predictionsShareTheirSimulationsColour() throws {
        let folder = try Self.folder(
            "problem: {d: 20, n: 10, data: independent}\ntraining: {steps: 50}\ngrid: {alpha: [0.01, 0.1, 1]}\n"
                + "seeds: 2\nrecord: {checkpoints: 5}")
        try NPY.write(
            [0.5, 0.5, 0.2, 0.2, 0.1, 0.1], shape: [3, 2], dtype: .float64,
            to: folder.directory + "/analysis_predicted_test_error.npy")
        try NPY.write(
            [3.0, 3.0, 4.0, 4.0, 5.0, 5.0], shape: [3, 2], dtype: .float64,
            to: folder.directory + "/analysis_transition_time.npy")
        let plot = try Report.timeFigure(folder, observable: "test_error")
        let simulations = plot.series.filter { !$0.label.hasPrefix(Report.predictionPrefix) }
        let theory = plot.series.filter { $0.label.hasPrefix(Report.predictionPrefix) }
        #expect(simulations.count == 3 && theory.count == 3)
        for (s, t) in zip(simulations, theory) {
            #expect(t.color == s.color && t.dash == SVGPlot.theoryDash && !t.inLegend)
        }
        #expect(plot.legendNotes.map(\.text).filter { $0 == "theory: limit of the flow" }.count == 1)
        #expect(plot.caption?.contains("in the colour of the simulation they belong to") == true)
        // t_c: one vertical marker per grid point, in its colour, at the median over seeds.
        #expect(plot.markers.map(\.kind) == ["t_c", "t_c", "t_c"])
        #expect(plot.markers.map(\.x) == [3, 4, 5] && plot.markers.map(\.color) == simulations.map(\.color))
        let svg = plot.render()
        #expect(svg.components(separatedBy: "class=\"marker t_c\"").count - 1 == 3)
        let parameter = try Report.parameterFigure(folder, observable: "test_error", parameter: "alpha")
        let p = parameter.series.filter { $0.label.hasPrefix(Report.predictionPrefix) }
        #expect(p.count == 1 && p[0].color == parameter.series[0].color)
    }

    /// A DMFT curve of one grid point takes its colour; one shared by several grid points is dark grey.
    @Test func dmftCurveColours() throws {
        let folder = try Self.folder(
            "problem: {d: 20, n: 10, data: independent}\ntraining: {steps: 50}\ngrid: {alpha: [0.1, 1]}\n"
                + "seeds: 2\nrecord: {checkpoints: 5}")
        let C = folder.times[0].count
        try NPY.write(
            folder.times.joined().map { $0 }, shape: [2, C], dtype: .float64, to: folder.directory + "/dmft_times.npy")
        for shared in [false, true] {
            let curve = { (g: Int) in (0..<C).map { 0.5 + (shared ? 0 : Double(g)) + 0 * Double($0) } }
            let values = (0..<2).flatMap { g in curve(g) + [Double](repeating: 0.01, count: C) }
            try NPY.write(
                values, shape: [2, 2, C], dtype: .float64, to: folder.directory + "/dmft_test_error.npy")
            let plot = try Report.timeFigure(folder, observable: "test_error")
            let dmft = plot.series.filter { $0.label.hasPrefix("DMFT") }
            #expect(dmft.count == (shared ? 1 : 2))
            let expected = shared ? ["#333333"] : plot.series.prefix(2).map(\.color)
            #expect(dmft.map(\.color) == expected && dmft.allSatisfy(\.dashed))
        }
    }

    /// Precision and recall are fractions: their axis is [0, 1] whatever the data.
    @Test func fractionsOnTheUnitInterval() throws {
        let folder = try Self.folder(
            "problem: {d: 20, n: 10, data: independent}\ntraining: {steps: 50}\ngrid: {alpha: [0.01, 1]}\n"
                + "seeds: 2\nrecord: {checkpoints: 5}")
        for name in ["precision@0.01", "recall@0.1"] {
            let plot = try Report.timeFigure(folder, observable: name)
            #expect(plot.yScale == .linear && plot.yRange?.0 == 0 && plot.yRange?.1 == 1)
            let svg = plot.render()
            #expect(svg.contains(">0</text>") && svg.contains(">1</text>") && !svg.contains(">1.2</text>"))
            let vs = try Report.parameterFigure(folder, observable: name, parameter: "alpha")
            #expect(vs.yRange?.0 == 0 && vs.yRange?.1 == 1)
        }
    }

    /// Integer-valued parameters (the depth L, d, n) get integer ticks only.
    @Test func integerParametersGetIntegerTicks() throws {
        #expect(SVGPlot.ticks((1.9, 4.1), .linear, integers: true) == [2, 3, 4])
        #expect(SVGPlot.ticks((1.96, 3.04), .linear, integers: true) == [2, 3])
        #expect(SVGPlot.ticks((1.9, 4.1), .linear).contains(2.5))
        var plot = SVGPlot(title: "t", xLabel: "L", yLabel: "y", xScale: .linear, yScale: .linear)
        plot.series = [SVGPlot.Series(label: "a", x: [2, 3], y: [1, 2])]
        plot.xIntegerTicks = true
        let svg = plot.render()
        #expect(!svg.contains(">2.2</text>") && !svg.contains(">2.5</text>") && svg.contains(">3</text>"))
        let folder = try Self.folder(
            "problem: {n: 6, data: independent}\ntraining: {steps: 20}\ngrid: {alpha: 0.1, d: [10, 14]}\nseeds: 1")
        #expect(try Report.parameterFigure(folder, observable: "test_error", parameter: "d").xIntegerTicks)
        #expect(try !Report.parameterFigure(folder, observable: "test_error", parameter: "alpha").xIntegerTicks)
    }

    /// `time: .linear` draws t on a linear axis (a tick at 0), the default a logarithmic one.
    @Test func linearTimeAxis() throws {
        let folder = try Self.folder(
            "problem: {d: 20, n: 10, data: independent}\ntraining: {steps: 50}\ngrid: {alpha: 0.1}\n"
                + "seeds: 2\nrecord: {checkpoints: 5}")
        let linear = try Report.timeFigure(folder, observable: "test_error", time: .linear)
        #expect(linear.xScale == .linear && linear.render().contains(">0</text>"))
        #expect(try Report.timeFigure(folder, observable: "test_error").xScale == .log)
    }

    @Test func ticks() {
        #expect(SVGPlot.ticks((1e-3, 1e2), .log) == [1e-3, 1e-2, 1e-1, 1, 10, 100])
        #expect(SVGPlot.ticks((0.3, 5), .log) == [0.5, 1, 2, 5])
        #expect(SVGPlot.ticks((0, 1), .linear) == [0, 0.2, 0.4, 0.6000000000000001, 0.8, 1])
        #expect(
            SVGPlot.label(1e-5, .log) == "1e-5" && SVGPlot.label(0.01, .log) == "0.01"
                && SVGPlot.label(2e5, .log) == "2e5")
    }
}
