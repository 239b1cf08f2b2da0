import DLNModel
import DLNTheory
import Foundation
import Yams

/// The rules between configuration keys, checked after every key of `ConfigurationKeys.all` was read with its own
/// check. Each problem names the key path to change.
enum ConfigurationRules {
    static func apply(_ r: ConfigurationReader, to c: inout Configuration) {
        problem(r, &c)
        model(r, &c)
        training(r, &c)
        grid(r, &c)
        zip(r, c)
        record(r, &c)
        recording(r, &c)
        theory(r, &c)
        stochastic(r, c)
        summation(r, c)
        schedule(r, c)
        crossSection(r, &c)
        for issue in PrecisionLimits.rangeProblems(c) { r.sink.add(issue.path, issue.message) }
    }

    /// Data from files or synthetic data; n or δ.
    static func problem(_ r: ConfigurationReader, _ c: inout Configuration) {
        let s = r.section("problem")
        if c.problem.files != nil {
            let files = r.section("problem.files")
            for key in ["X", "y"] where files.node(key) == nil {
                files.sink.add(files.child(key), "is required when data come from files")
            }
            if let df = c.problem.files, (df.xTest == nil) != (df.yTest == nil) {
                files.sink.add(files.path, "X_test and y_test go together")
            }
            c.problem.delta = nil
            for key in ["d", "n", "delta", "design_variance", "teacher", "noise"] where s.has(key) {
                s.sink.add(s.child(key), "cannot be set when data come from files (the files fix it)")
            }
            return
        }
        if s.has("n") && s.has("delta") {
            s.sink.add(s.child("n"), "give either n or delta, not both")
        } else if s.has("n") {
            c.problem.delta = nil
        } else {
            let delta = c.problem.delta ?? 0.5
            c.problem.delta = delta
            let n = (delta * Double(c.problem.d)).rounded()
            if n < 1 {
                s.sink.add(
                    s.child("delta"),
                    "gives n = round(δ·d) = round(\(delta)·\(c.problem.d)) = 0 samples: δ·d must be at least 1 (about)")
            }
            c.problem.n = max(1, Int(min(n, 1e9)))
        }
        let p = c.problem
        if Double(p.n) * Double(p.d) > 4e9 {
            s.sink.add(s.path, "n·d = \(p.n * p.d) is too large for one data set (at most 4e9 entries)")
        }
    }

    static func model(_ r: ConfigurationReader, _ c: inout Configuration) {
        let s = r.section("model")
        let i = r.section("model.init")
        let m = c.model
        if !m.parameterization.isDeep && m.depth != 2 {
            s.sink.add(
                s.child("depth"),
                "must be 2 for parameterization \(m.parameterization.rawValue) (use parameterization: deep or deep_pm "
                    + "for depth L)"
            )
        }
        if i.has("layer_scales") {
            if !m.parameterization.isDeep {
                i.sink.add(i.child("layer_scales"), "applies to parameterization deep and deep_pm only")
                c.model.layerScales = nil
            } else if let scales = m.layerScales, scales.count != m.depth {
                i.sink.add(i.child("layer_scales"), "must list \(m.depth) values (one per layer), got \(scales.count)")
                c.model.layerScales = nil
            }
        }
        if let from = m.initFrom {
            // Absolute from here on: config.yaml, the manifest and a resume read the same folder from anywhere.
            c.model.initFrom = PreviousLayers.path(from)
            let others = [
                ("layer_scales", m.layerScales != nil), ("entries", m.initEntries != .constant),
                ("signs", m.initSigns != .positive), ("u_noise", m.uNoise != 0), ("v_noise", m.vNoise != 0)
            ].filter(\.1).map(\.0)
            if !others.isEmpty || c.problem.files?.u0 != nil {
                i.sink.add(
                    i.child("from"),
                    "takes the earlier run's layers as they are: "
                        + (others.isEmpty
                            ? "problem.files u0, v0" : others.map { "model.init." + $0 }.joined(separator: ", "))
                        + " cannot be set with it")
            }
        }
        for (key, set) in [("entries", m.initEntries != .constant), ("signs", m.initSigns != .positive)]
        where set && !m.parameterization.isDeep {
            i.sink.add(i.child(key), "applies to parameterization deep and deep_pm only")
        }
        if m.parameterization == .pm && (m.uNoise != 0 || m.vNoise != 0) {
            i.sink.add(i.path, "u_noise and v_noise apply to parameterization uv (pm starts at u = v = α)")
        }
    }

    static func training(_ r: ConfigurationReader, _ c: inout Configuration) {
        let s = r.section("training")
        if s.has("horizon") && s.has("steps") {
            s.sink.add(s.child("horizon"), "give either steps or horizon (t = steps·η), not both")
        }
        if s.has("flow") && c.training.update != .flow { s.sink.add(s.child("flow"), "applies to update: flow only") }
    }

    /// The grid axes that change the data or the model may not also be set in their own section.
    static func grid(_ r: ConfigurationReader, _ c: inout Configuration) {
        let g = r.section("grid")
        for (key, section, sectionKey) in [
            ("d", "problem", "d"), ("delta", "problem", "delta"), ("delta", "problem", "n"),
            ("noise", "problem", "noise"),
            ("depth", "model", "depth"), ("parameterization", "model", "parameterization"),
            ("update", "training", "update"), ("batch_size", "training", "batch_size"),
            ("label_noise", "training", "label_noise"), ("gradient_noise", "training", "gradient_noise"),
            ("momentum", "training", "momentum")
        ]
        where g.has(key) && r.top.sectionHas(section, sectionKey) {
            g.sink.add(g.child(key), "is also set as \(section).\(sectionKey); give it in one place")
        }
        if c.problem.files != nil {
            for key in ["d", "delta", "noise", "density"] where g.has(key) {
                g.sink.add(g.child(key), "cannot vary when data come from files")
            }
        }
        if c.grid.d != nil || c.grid.delta != nil {
            for d in c.grid.d ?? [c.problem.d] {
                for delta in c.grid.delta ?? [c.problem.delta ?? Double(c.problem.n) / Double(c.problem.d)] {
                    let n = (delta * Double(d)).rounded()
                    if n < 1 {
                        g.sink.add(
                            g.path,
                            "the grid point d = \(d), δ = \(delta) has n = round(δ·d) = 0 samples: δ·d must be at "
                                + "least 1 (about)"
                        )
                    } else if n * Double(d) > 4e9 {
                        g.sink.add(
                            g.path,
                            "the grid point d = \(d), δ = \(delta) has n·d = \(n * Double(d)) entries in one data set "
                                + "(at most 4e9)"
                        )
                    }
                }
            }
        }
    }

    static func record(_ r: ConfigurationReader, _ c: inout Configuration) {
        let s = r.section("record")
        if let steps = c.record.steps, steps.contains(where: { $0 > c.training.steps }), let node = s.node("steps") {
            s.sink.add(
                "record.steps", "lists a step beyond training.steps = \(c.training.steps)\(YAMLSection.at(node))")
        }
        if c.record.thresholds.count > 16 { s.sink.add("record.thresholds", "at most 16 thresholds") }
    }

    /// `theory: dmft` or `theory: {method: dmft, paths: …}`, for a run the DMFT describes.
    static func theory(_ r: ConfigurationReader, _ c: inout Configuration) {
        guard let settings = c.theory else { return }
        if r.readAsMapping("theory") {
            let t = r.section("theory")
            if let method = t.string("method"), method != "dmft" {
                t.sink.add(t.child("method"), "must be dmft, got '\(method)'")
            }
            if let given = settings.chosenResponsePaths, let paths = settings.chosenPaths, given > paths {
                t.sink.add(t.child("response_paths"), "must be at most paths = \(paths), got \(given)")
            }
        }
        for issue in DMFTMapping.unsupported(c) { r.sink.add(issue.path, issue.message) }
    }

    /// Rules across sections; then the size of the run.
    static func crossSection(_ r: ConfigurationReader, _ c: inout Configuration) {
        let sink = r.sink
        let params = c.grid.parameterization ?? [c.model.parameterization]
        let updates = c.grid.update ?? [c.training.update]
        if updates.contains(.multiplicative), let other = params.first(where: { $0 != .pm }) {
            sink.add(
                c.grid.update != nil || c.grid.parameterization != nil ? "grid" : "training.update",
                "the multiplicative update is defined for parameterization pm only, got \(other.rawValue)")
        }
        if updates.contains(.flow) && c.training.horizon == nil {
            sink.add(
                "training.horizon",
                "update flow integrates in time: give training.horizon (the final time t) instead of steps")
        }
        if updates.contains(.flow) && c.training.flow.rtol < (c.training.precision == .float32 ? 1e-6 : 2e-15) {
            sink.add(
                "training.flow.rtol",
                "\(c.training.flow.rtol) is below what \(c.training.precision.rawValue) resolves (at least "
                    + "\(c.training.precision == .float32 ? "1e-6" : "2e-15")); use a larger rtol or precision: float64"
            )
        }
        if updates.contains(.flow) && c.record.steps != nil {
            sink.add(
                "record.steps", "update flow records at times: use record.checkpoints, record.start and record.linear")
        }
        if let rep = c.training.representation, rep == .log {
            if let other = params.first(where: { $0.isDeep }) {
                sink.add("training.representation", "log is for parameterization pm and uv, got \(other.rawValue)")
            }
            if updates.contains(.gd) {
                sink.add(
                    "training.representation",
                    "log needs update multiplicative or flow (plain gradient descent is not a flow in ρ)")
            }
        }
        if let horizon = c.training.horizon, updates.contains(where: { $0 != .flow }),
            let eta = c.grid.learningRate.max(), (horizon / eta).rounded() < 1
        {
            sink.add(
                "training.horizon", "t = \(horizon) is shorter than one step of η = \(eta) (steps = round(t/η) = 0)")
        }
        if let horizon = c.training.horizon, updates.contains(where: { $0 != .flow }),
            let eta = c.grid.learningRate.min(), horizon / eta > 1e12
        {
            sink.add(
                "training.horizon",
                String(
                    format: "t = %g with η = %g needs round(t/η) = %g steps; at most 1e12", horizon, eta, horizon / eta)
            )
        }
        if let depths = c.grid.depth, params.contains(where: { !$0.isDeep }) {
            sink.add(
                "grid.depth",
                "a depth grid needs parameterization deep or deep_pm for every grid point (pm and uv have 2 layers), "
                    + "got \(depths)"
            )
        }
        if let scales = c.model.layerScales, let depths = c.grid.depth, depths.contains(where: { $0 != scales.count }) {
            sink.add(
                "model.init.layer_scales", "lists \(scales.count) values but grid.depth has other depths \(depths)")
        }
        // In Double: the product of long grid axes can overflow Int.
        let points = c.unitLengths.reduce(1.0) { $0 * Double($1) }
        let replicas = points * Double(c.seeds)
        let count: (Double) -> String = { $0 < 1e15 ? String(Int($0)) : String(format: "%.3g", $0) }
        if replicas > 1e8 {
            sink.add(
                "seeds",
                "the run would have \(count(replicas)) replicas (\(count(points)) grid points × \(c.seeds) seeds); at "
                    + "most 1e8"
            )
        }
        if sink.issues.isEmpty {
            let memory = c.memoryEstimate
            let available = HostMemory.available
            if memory.bytes > available.bytes {
                sink.add(
                    "",
                    "the run would need about \(Configuration.gibibytes(memory.bytes)) of memory (\(memory.parts)), "
                        + "more than \(available.what); use fewer "
                        + "seeds or grid points, a smaller d or n, or fewer checkpoints"
                )
            }
        }
        if let files = c.problem.files, files.u0 != nil || files.v0 != nil {
            if (files.u0 == nil) != (files.v0 == nil) {
                sink.add("problem.files", "u0 and v0 go together (the initial u and v)")
            }
            if let other = params.first(where: { $0.isDeep }) {
                sink.add(
                    "problem.files", "u0 and v0 set the two layers of parameterization pm or uv, got \(other.rawValue)")
            }
            if c.grid.alpha.count > 1 {
                sink.add(
                    "grid.alpha",
                    "u0 and v0 from files fix the initialisation: list one alpha (it only labels the run), got "
                        + "\(c.grid.alpha.count)"
                )
            }
        }
    }
}
