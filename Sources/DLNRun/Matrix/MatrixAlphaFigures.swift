import DLNModel
import Foundation

extension MatrixRun {
    /// With two or more α on the grid: the final relative test error ‖W_eff − T‖²_F/‖T‖²_F and the final effective
    /// rank against α (log axis), one line per (λ, η), the seeds' mean with their 10–90% band: lazy → rich, and the
    /// low-rank bias of small initialisations.
    func alphaFigures() -> [(String, String)] {
        let c = configuration
        guard c.alpha.count >= 2 else { return [] }
        let S = setup.seeds.count
        let last = steps.count - 1
        let teacherNorm = setup.teacherSingularValues.reduce(0) { $0 + $1 * $1 }
        let relative = teacherNorm > 0
        let palette = Array(SVGPlot.colors.prefix(8))
        let what =
            c.task == .sensing
            ? "matrix sensing, \(c.samples) \(c.sensingOperator.rawValue) measurements" : "regression, n = \(c.samples)"
        func figure(title: String, yLabel: String, yScale: SVGPlot.Scale, value: (Int) -> Double) -> String {
            var plot = SVGPlot(
                title: title, xLabel: "initialisation scale α", yLabel: yLabel, xScale: .log, yScale: yScale)
            // The grid points of one α: every combination of the axes inside it (λ, η, σ_ℓ, T, β).
            let others = c.gridPoints.count / c.alpha.count
            for k in 0..<others {
                var mean: [Double] = []
                var low: [Double] = []
                var high: [Double] = []
                for (a, _) in c.alpha.enumerated() {
                    let g = a * others + k
                    let v = (0..<S).map { value(g * S + $0) }.filter { $0.isFinite }.sorted()
                    mean.append(v.isEmpty ? .nan : v.reduce(0, +) / Double(v.count))
                    low.append(v.isEmpty ? .nan : v[Int(0.1 * Double(v.count - 1))])
                    high.append(v.isEmpty ? .nan : v[Int((0.9 * Double(v.count - 1)).rounded(.up))])
                }
                var s = SVGPlot.Series(
                    label: others == 1 ? "seeds' mean" : c.pointLabel(k, alpha: false), x: c.alpha, y: mean)
                s.low = S > 1 ? low : nil
                s.high = S > 1 ? high : nil
                s.markers = true
                s.color = palette[k % palette.count]
                plot.series.append(s)
            }
            plot.caption =
                "\(S) seed\(S == 1 ? "" : "s"), widths \(c.widths), init \(c.initKind.rawValue), \(what); "
                + "at the last checkpoint; band: 10–90% of the seeds"
            return plot.render()
        }
        let error = figure(
            title: relative ? "Final test error ‖W_eff − T‖²_F / ‖T‖²_F against α" : "Final test error against α",
            yLabel: relative ? "relative test error" : "test error", yScale: .log
        ) { b in relative ? testError[b][last] / teacherNorm : testError[b][last] }
        let rank = figure(
            title: "Final effective rank of W_eff against α", yLabel: "effective rank exp(entropy of σ/‖σ‖₁)",
            yScale: .linear
        ) { b in effectiveRank[b][last] }
        return [("alpha_test_error.svg", error), ("alpha_effective_rank.svg", rank)]
    }
}

extension MatrixRun {
    /// With `record.sharpness`: the sharpness against time, the seeds' mean per grid point (at most six), with the
    /// gradient-descent stability threshold 2/η dashed in the same colour.
    func sharpnessFigure() -> [(String, String)] {
        guard let k = configuration.sharpnessIterations else { return [] }
        return [
            (
                "sharpness.svg",
                curvatureFigure(
                    sharpness, title: "Sharpness: the largest eigenvalue of the loss's Hessian",
                    yLabel: "sharpness",
                    method: "Lanczos (\(k) steps) with exact Hessian-vector products, in float64 on the host",
                    stabilityLimit: true)
            )
        ]
    }

    /// With `record.pl_constant`: the PL constant against time, the seeds' mean per grid point (at most six).
    func plConstantFigure() -> [(String, String)] {
        guard let k = configuration.plIterations else { return [] }
        return [
            (
                "pl_constant.svg",
                curvatureFigure(
                    plConstant,
                    title: "PL constant: the smallest non-zero eigenvalue of the tangent kernel",
                    yLabel: "PL constant μ",
                    method:
                        "Lanczos (at most \(k) steps) on K = c·J·Jᵀ, exact Jacobian products, in float64 on the host",
                    stabilityLimit: false)
            )
        ]
    }

    /// A curvature observable against time: the mean over the seeds that finished (a diverging one's last finite
    /// values would swamp it) per grid point (at most six); with `stabilityLimit`, 2/η dashed in the same colour.
    func curvatureFigure(
        _ values: [[Double]], title: String, yLabel: String, method: String, stabilityLimit: Bool
    ) -> String {
        let c = configuration
        let S = setup.seeds.count
        let palette = Array(SVGPlot.colors.prefix(6))
        var plot = SVGPlot(
            title: title, xLabel: c.update == .flow ? "time t" : "time t = η·steps", yLabel: yLabel, xScale: .log,
            yScale: .log)
        for (g, p) in c.gridPoints.enumerated().prefix(6) {
            let t = Array(times(replica: g * S).dropFirst())
            let mean = steps.indices.dropFirst().map { ci -> Double in
                let v = (0..<S).filter { flowStatus.isEmpty || flowStatus[g * S + $0] == 0 }
                    .map { values[g * S + $0][ci] }.filter { $0.isFinite }
                return v.isEmpty ? .nan : v.reduce(0, +) / Double(v.count)
            }
            var s = SVGPlot.Series(label: c.pointLabel(g), x: t, y: mean)
            s.color = palette[g % palette.count]
            plot.series.append(s)
            if stabilityLimit && c.update != .flow, let first = t.first, let last = t.last {
                var limit = SVGPlot.Series(label: "2/η", x: [first, last], y: [2 / p.learningRate, 2 / p.learningRate])
                limit.dashed = true
                limit.color = palette[g % palette.count]
                limit.inLegend = g == 0
                plot.series.append(limit)
            }
        }
        plot.caption =
            "\(S) seed\(S == 1 ? "" : "s") (diverged ones left out), widths \(c.widths); \(method)"
            + (stabilityLimit && c.update != .flow ? "; dashed: 2/η" : "")
        return plot.render()
    }
}
