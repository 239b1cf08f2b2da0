import DLNModel
import Foundation

/// The files of a matrix run (docs/matrix.md lists them): NumPy arrays [grid point, seed, checkpoint(, k)], grid.csv,
/// stats.csv (means and standard deviations over seeds), figures and manifest.json, staged and committed through
/// `OutputDirectory` like every run's.
extension MatrixRun {
    /// The modes' activation times, [replica][threshold][mode] flattened: the first checkpoint time at which
    /// |a_i| > τ (a_i the mode strength), NaN when it never is (or the replica is not in this shard).
    func activationTimes(_ thresholds: [Double]) -> [Double] {
        let S = setup.seeds.count
        return modeStrength.indices.flatMap { b -> [Double] in
            let t = times(replica: b / S * S)
            let m = modeStrength[b].first?.count ?? 0
            return thresholds.flatMap { tau in
                (0..<m).map { i in
                    modeStrength[b].indices.first { k in abs(modeStrength[b][k][i]) > tau }.map { t[$0] } ?? .nan
                }
            }
        }
    }

    /// Writes the run's files into `outDir` (opened and locked by the caller's `OutputDirectory`); `saveWeights` adds
    /// the final layers. Returns the names written.
    public func write(to directory: OutputDirectory, saveWeights: Bool, yaml: String) throws(DLNError) -> [String] {
        let c = configuration
        var stochasticGrid: [String: [Double]] = [:]
        for key in c.stochasticAxes {
            stochasticGrid[key] =
                key == "batch_size"
                ? (c.batchSizeAxis ?? []).map(Double.init)
                : key == "label_noise" ? c.labelNoise : key == "gradient_noise" ? c.gradientNoise : c.momentum
        }
        let G = c.gridPoints.count
        let S = setup.seeds.count
        let C = steps.count
        let dir = try directory.stage()
        func path(_ name: String) -> String { dir + "/" + name }
        var written: [String] = []
        func npy(_ name: String, _ values: [Double], _ shape: [Int]) throws(DLNError) {
            try NPY.write(values, shape: shape, dtype: .float64, to: path(name))
            written.append(name)
        }
        if c.update != .flow { try npy("steps.npy", (0..<G).flatMap { _ in steps.map(Double.init) }, [G, C]) }
        if c.update == .flow { try npy("flow_evaluations.npy", flowEvaluations.map(Double.init), [G, S]) }
        try npy("status.npy", flowStatus.map(Double.init), [G, S])
        try npy("times.npy", (0..<G).flatMap { times(replica: $0 * S) }, [G, C])
        let scalars: [(String, [[Double]])] = [
            ("train_loss", trainLoss), ("test_error", testError), ("effective_rank", effectiveRank),
            ("nuclear_norm", nuclearNorm), ("conservation", conservation)
        ]
        for (name, values) in scalars { try npy(name + ".npy", values.flatMap { $0 }, [G, S, C]) }
        if c.sharpnessIterations != nil { try npy("sharpness.npy", sharpness.flatMap { $0 }, [G, S, C]) }
        if c.plIterations != nil { try npy("pl_constant.npy", plConstant.flatMap { $0 }, [G, S, C]) }
        if let thresholds = c.activation {
            let m = modeStrength.first?.first?.count ?? 0
            try npy("activation_time.npy", activationTimes(thresholds), [G, S, thresholds.count, m])
        }
        let k = c.singularValueCount
        try npy("singular_values.npy", singularValues.flatMap { $0.flatMap { $0 } }, [G, S, C, k])
        let m = modeStrength.first?.first?.count ?? 0
        try npy("mode_strength.npy", modeStrength.flatMap { $0.flatMap { $0 } }, [G, S, C, m])
        let theory = theoryModeStrength
        if let theory { try npy("theory_mode_strength.npy", theory.flatMap { $0.flatMap { $0 } }, [G, C, m]) }
        if saveWeights {
            try npy("final_layers.npy", finalParameters, [G, S, setup.batch.shape.parameterCount])
        }
        var grid = (["point"] + c.gridColumns).joined(separator: ",") + "\n"
        for g in c.gridPoints.indices { grid += (["\(g)"] + c.gridValues(g)).joined(separator: ",") + "\n" }
        try OutputFile.write(text: grid, to: path("grid.csv"))
        try OutputFile.write(text: statsCSV(), to: path("stats.csv"))
        try OutputFile.write(text: yaml, to: path("config.yaml"))
        written += ["grid.csv", "stats.csv", "config.yaml"]
        // A shard's figures would show part of the ensemble: `dlnsim merge` draws them for the whole.
        for (name, svg) in shard == nil ? figures() : [] {
            try OutputFile.write(text: svg, to: path(name))
            written.append(name)
        }
        var hashes: [String: String] = [:]
        for name in written { hashes[name] = try FileHash.of(path(name)) }
        // SGD's batch size: one number, or the grid's list; null for full-batch updates.
        var batchSizeEntry: Any = NSNull()
        if c.update == .sgd, let sizes = c.batchSizeAxis ?? c.batchSize.map({ [$0] }) {
            batchSizeEntry = sizes.count == 1 ? sizes[0] as Any : sizes as Any
        }
        var manifest: [String: Any] = [
            "dlnsim_version": DLNSim.version, "command_line": ProcessInfo.processInfo.arguments,
            "git_commit": DLNSim.gitCommit ?? "unknown", "name": c.name, "model": "matrix", "widths": c.widths,
            "init": c.initKind.rawValue, "teacher_singular_values": setup.teacherSingularValues, "whiten": c.whiten,
            "samples": c.samples, "task": c.task.rawValue, "factorization": c.factorization.rawValue,
            "operator": c.task == .sensing ? c.sensingOperator.rawValue : NSNull(), "precision": c.precision.rawValue,
            "loss": c.loss.rawValue, "seeds": S,
            "observables": ["train_loss", "test_error", "effective_rank", "nuclear_norm", "conservation"]
                + (c.sharpnessIterations != nil ? ["sharpness"] : []) + (c.plIterations != nil ? ["pl_constant"] : []),
            "configuration": [
                "grid": ["alpha": c.alpha, "weight_decay": c.weightDecay, "learning_rate": c.learningRate]
                    .merging(stochasticGrid) { a, _ in a },
                "seed_offset": c.seedOffset
            ],
            "training": [
                "batch_size": batchSizeEntry,
                "sampling": c.update == .sgd ? c.sampling.rawValue as Any : NSNull(),
                "label_noise": c.labelNoise.count == 1 ? c.labelNoise[0] as Any : NSNull(),
                "gradient_noise": c.gradientNoise.count == 1 ? c.gradientNoise[0] as Any : NSNull(),
                "momentum": c.momentum.count == 1 ? c.momentum[0] as Any : NSNull(), "nesterov": c.nesterov,
                "schedule": c.update == .flow ? "constant" : c.learningRateSchedule.description
            ],
            "grid_points": G, "device": deviceDescription, "update": c.update.rawValue, "seconds": seconds,
            "replica_steps_per_second": c.update != .flow
                ? Double(replicasRun * c.steps) / max(seconds, 1e-9) : NSNull(),
            "files": hashes,
            "shapes": [
                "scalars": "[grid point, seed, checkpoint]", "singular_values": "[grid point, seed, checkpoint, k]",
                "mode_strength": "[grid point, seed, checkpoint, mode]", "times": "[grid point, checkpoint]",
                "steps": "[grid point, checkpoint]", "activation_time": "[grid point, seed, threshold, mode]"
            ]
        ]
        if let thresholds = c.activation { manifest["recording"] = ["thresholds": thresholds] }
        if let shard { manifest["shard"] = ["index": shard.index, "count": shard.count] }
        if let baseDirectory { manifest["base_directory"] = baseDirectory }
        do {
            let data = try JSONSerialization.data(withJSONObject: manifest, options: [.prettyPrinted, .sortedKeys])
            try OutputFile.write(data, to: path("manifest.json"))
        } catch let error as DLNError { throw error } catch {
            throw .outputFailure(path: path("manifest.json"), reason: "\(error)")
        }
        written.append("manifest.json")
        try directory.commit()
        return written
    }

    /// The replicas this process ran (a shard's, or all of them).
    public var replicasRun: Int { flowStatus.filter { $0 != ReplicaStatus.notInShard.code }.count }

    /// Mean and standard deviation over seeds, ignoring NaN.
    public static func meanSD(_ values: [Double]) -> (Double, Double) {
        let v = values.filter { !$0.isNaN }
        guard !v.isEmpty else { return (.nan, .nan) }
        let mean = v.reduce(0, +) / Double(v.count)
        let sd = v.count > 1 ? (v.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(v.count - 1)).squareRoot() : 0
        return (mean, sd)
    }

    /// stats.csv: one row per grid point and checkpoint.
    func statsCSV() -> String {
        let c = configuration
        let S = setup.seeds.count
        let m = modeStrength.first?.first?.count ?? 0
        let k = c.singularValueCount
        let names = ["train_loss", "test_error", "effective_rank", "nuclear_norm", "conservation"]
        var header = ["point"] + c.gridColumns + ["step", "time"]
        for n in names { header += [n + "_mean", n + "_sd"] }
        for i in 0..<k { header.append("singular_value_\(i)_mean") }
        for i in 0..<m { header.append("mode_strength_\(i)_mean") }
        var out = header.joined(separator: ",") + "\n"
        for g in c.gridPoints.indices {
            let ids = (0..<S).map { g * S + $0 }
            let t = times(replica: g * S)
            for (ci, step) in steps.enumerated() {
                var row = ["\(g)"] + c.gridValues(g)
                row += ["\(step)", "\(t[ci])"]
                for values in [trainLoss, testError, effectiveRank, nuclearNorm, conservation] {
                    let (mean, sd) = Self.meanSD(ids.map { values[$0][ci] })
                    row += ["\(mean)", "\(sd)"]
                }
                for i in 0..<k { row.append("\(Self.meanSD(ids.map { singularValues[$0][ci][i] }).0)") }
                for i in 0..<m { row.append("\(Self.meanSD(ids.map { modeStrength[$0][ci][i] }).0)") }
                out += row.joined(separator: ",") + "\n"
            }
        }
        return out
    }

    /// The figures: singular values of W_eff against time (one panel per grid point, at most four, seeds' mean
    /// with their 10–90% band), the mode strengths beside Saxe's curves (aligned, whitened), and the losses.
    func figures() -> [(String, String)] {
        let c = configuration
        let S = setup.seeds.count
        let palette = Array(SVGPlot.colors.prefix(8))
        var out: [(String, String)] = []
        for g in c.gridPoints.indices.prefix(4) {
            let t = times(replica: g * S)
            let xs = Array(t.dropFirst())
            let label = c.pointLabel(g) + (c.update == .flow ? ", gradient flow" : "")
            var plot = SVGPlot(
                title: "Singular values of W_eff (\(label))", xLabel: c.update == .flow ? "time t" : "time t = η·steps",
                yLabel: "σ_i(W_eff)",
                xScale: .log, yScale: .linear)
            for i in 0..<min(c.singularValueCount, 8) {
                let series = steps.indices.dropFirst().map { ci in
                    Self.meanSD((0..<S).map { singularValues[g * S + $0][ci][i] }).0
                }
                var s = SVGPlot.Series(label: "σ_\(i + 1)", x: xs, y: series)
                s.color = palette[i % palette.count]
                plot.series.append(s)
            }
            if let theory = theoryModeStrength {
                for i in 0..<min(setup.teacherSingularValues.count, 8) {
                    var s = SVGPlot.Series(
                        label: "Saxe's a_i(t), dashed", x: xs, y: theory[g].dropFirst().map { $0[i] },
                        dashed: true)
                    s.color = palette[i % palette.count]
                    s.inLegend = i == 0
                    plot.series.append(s)
                }
            }
            plot.caption =
                "\(S) seed\(S == 1 ? "" : "s"), widths \(c.widths), init \(c.initKind.rawValue); lines: the seeds' mean"
                + (theoryModeStrength != nil ? "; dashed: the closed-form / quadrature mode strengths" : "")
            out.append(("singular_values_\(g).svg", plot.render()))
        }
        var loss = SVGPlot(
            title: "Train loss and test error ‖W_eff − T‖²_F",
            xLabel: c.update == .flow ? "time t" : "time t = η·steps", yLabel: "seeds' mean",
            xScale: .log, yScale: .log)
        for (g, p) in c.gridPoints.enumerated().prefix(6) {
            let t = Array(times(replica: g * S).dropFirst())
            let train = steps.indices.dropFirst().map { ci in Self.meanSD((0..<S).map { trainLoss[g * S + $0][ci] }).0 }
            let test = steps.indices.dropFirst().map { ci in Self.meanSD((0..<S).map { testError[g * S + $0][ci] }).0 }
            var a = SVGPlot.Series(label: "train, α = \(p.alpha)", x: t, y: train)
            a.color = palette[g % palette.count]
            var b = SVGPlot.Series(label: "test, α = \(p.alpha)", x: t, y: test, dashed: true)
            b.color = palette[g % palette.count]
            loss.series += [a, b]
        }
        out.append(("loss.svg", loss.render()))
        return out + alphaFigures() + sharpnessFigure() + plConstantFigure()
    }
}
