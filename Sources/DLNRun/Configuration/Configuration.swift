import Foundation
import Yams
import DLNModel
import DLNTheory

/// A fully validated experiment description, read from a YAML file.
public struct Configuration: Sendable, Codable, Equatable {
    /// The problem's data.
    public struct Problem: Sendable, Codable, Equatable {
        /// The defaults.
        public init() {}
        /// Dimension d (synthetic data).
        public var d: Int = 100
        /// Samples n = round(δ·d) (synthetic data).
        public var n: Int = 50
        /// δ = n/d as given (nil when `n` was given directly or data come from files).
        public var delta: Double? = 0.5
        public var designVariance: DesignVariance = .one
        /// Teacher density ρ.
        public var teacherDensity: Double = 0.1
        public var teacherValues: TeacherValues = .ones
        public var teacherSupport: TeacherSupport = .bernoulli
        /// Label noise σ.
        public var noise: Double = 0
        public var sharing: DataSharing = .shared
        /// Seed of the (first) data set.
        public var dataSeed: Int = 0
        /// User data (paths resolved against the configuration's folder); nil for synthetic data.
        public var files: DataFiles?
    }

    /// User-supplied `.npy` files.
    public struct DataFiles: Sendable, Codable, Equatable {
        public var x: String
        public var y: String
        public var wStar: String?
        public var u0: String?
        public var v0: String?
        /// A held-out test set for the test error.
        public var xTest: String?
        public var yTest: String?
    }

    /// The network.
    public struct Model: Sendable, Codable, Equatable {
        /// The defaults.
        public init() {}
        public var parameterization: Parameterization = .pm
        /// Number of layers (2 for pm and uv).
        public var depth: Int = 2
        /// `uv`: u(0) = α(1 + uNoise·ξ).
        public var uNoise: Double = 0
        /// `uv`: v(0) = α·vNoise·ξ′ (0 gives v(0) = 0).
        public var vNoise: Double = 0
        /// `deep`: u_l(0) = α·layerScales[l] (all 1 by default).
        public var layerScales: [Double]? = nil
    }

    /// The optimiser.
    public struct Training: Sendable, Codable, Equatable {
        /// The defaults.
        public init() {}
        public var update: UpdateRule = .gd
        public var loss: LossNormalization = .mean
        /// Number of steps (when no horizon is given).
        public var steps: Int = 1000
        /// Horizon in gradient-flow time t = steps·η; each learning rate then runs round(t/η) steps.
        public var horizon: Double? = nil
        /// The penalty is factor·λ·Σ_l‖u_l‖², so u̇ ∋ −λ_u·u with λ_u = 2·factor·λ (default ½: λ_u = λ).
        public var decayFactor: Double = 0.5
        public var precision: Precision = .float32
        /// The state's representation; nil: log for update flow with pm/uv, the layers otherwise.
        public var representation: Representation? = nil
        /// The adaptive integrator's settings (update flow).
        public var flow = FlowSettings()
        /// A replica whose train loss exceeds this × max(its initial loss, 1), or is not finite, is frozen at its
        /// last state below the bound and flagged (status 5, resp. 4); the others run on.
        public var maxLossRatio: Double = 1e10
    }

    /// The grid: every combination of the listed values is a grid point. α, λ and η vary inside one batch;
    /// the other axes (nil: the single value of problem/model/training) change the data or the model's shape,
    /// and each of their combinations runs as its own batch.
    public struct Grid: Sendable, Codable, Equatable {
        /// The defaults.
        public init() {}
        public var alpha: [Double] = [0.1]
        public var weightDecay: [Double] = [0]
        public var learningRate: [Double] = [0.05]
        public var d: [Int]? = nil
        public var delta: [Double]? = nil
        public var noise: [Double]? = nil
        public var density: [Double]? = nil
        public var depth: [Int]? = nil
        public var parameterization: [Parameterization]? = nil
        public var update: [UpdateRule]? = nil
    }

    /// When the observables are recorded.
    public struct Record: Sendable, Codable, Equatable {
        /// The defaults.
        public init() {}
        /// Number of log-spaced checkpoints between step 1 and the last step (step 0 is always recorded).
        public var checkpoints: Int = 30
        /// Explicit steps, used instead of log spacing when given.
        public var steps: [Int]? = nil
        /// Where log spacing starts: a step (with `training.steps`) or a time (with `training.horizon`).
        public var start: Double? = nil
        /// Extra evenly spaced checkpoints.
        public var linear: Int = 0
        /// Thresholds τ of the support observables #{|w_i| > τ}.
        public var thresholds: [Double] = [0.01, 0.1]
    }

    public var name: String = "run"
    public var problem = Problem()
    public var model = Model()
    public var training = Training()
    public var grid = Grid()
    /// Seeds per grid point.
    public var seeds: Int = 1
    /// First seed (seeds are seedOffset, seedOffset+1, …).
    public var seedOffset: Int = 0
    public var record = Record()
    /// Device request (`auto`, `cpu`, `opencl`, `opencl:P:D`); the command line overrides it.
    public var device: String? = nil
    /// `theory: dmft`: the d → ∞ DMFT curve to compute and draw beside the ensemble (nil: none).
    public var theory: DMFTSettings? = nil

    /// A configuration with every default.
    public init() {}

    /// Number of grid points.
    public var gridPoints: Int {
        grid.alpha.count * grid.weightDecay.count * grid.learningRate.count * (grid.d?.count ?? 1) * (grid.delta?.count ?? 1)
            * (grid.noise?.count ?? 1) * (grid.density?.count ?? 1) * (grid.depth?.count ?? 1)
            * (grid.parameterization?.count ?? 1) * (grid.update?.count ?? 1)
    }
    /// The number of values on each grid axis.
    var axisLengths: [Int] {
        let batchAxes: [Int] = [grid.alpha.count, grid.weightDecay.count, grid.learningRate.count]
        let otherAxes: [Int?] = [grid.d?.count, grid.delta?.count, grid.noise?.count, grid.density?.count, grid.depth?.count,
                                 grid.parameterization?.count, grid.update?.count]
        return batchAxes + otherAxes.map { $0 ?? 1 }
    }
    /// Total replicas: grid points × seeds.
    public var replicaCount: Int { gridPoints * seeds }

    /// Decodes a resolved configuration (manifest.json's "configuration"), taking defaults for keys that an
    /// older dlnsim did not write.
    public static func decodeLeniently(_ json: [String: Any]) -> Configuration? {
        func merge(_ base: Any, _ over: Any) -> Any {
            guard let b = base as? [String: Any], let o = over as? [String: Any] else { return over }
            var out = b
            for (k, v) in o { out[k] = b[k].map { merge($0, v) } ?? v }
            return out
        }
        guard let defaults = try? JSONSerialization.jsonObject(with: JSONEncoder().encode(Configuration())),
              let data = try? JSONSerialization.data(withJSONObject: merge(defaults, json)) else { return nil }
        return try? JSONDecoder().decode(Configuration.self, from: data)
    }

    /// Reads and validates a configuration file; every problem is reported at once, with its key path.
    public static func load(path: String) throws(DLNError) -> Configuration {
        try load(text: try text(path: path), path: path)
    }

    /// A configuration file's text, refused when it cannot be a configuration (missing, not UTF-8, TOML, empty).
    public static func text(path: String) throws(DLNError) -> String {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw .badFile(path: path, reason: FileManager.default.fileExists(atPath: path) ? "cannot read the file" : "no such file")
        }
        guard let text = String(data: data, encoding: .utf8) else { throw .badFile(path: path, reason: "not UTF-8 text (a configuration is a YAML file)") }
        if URL(fileURLWithPath: path).pathExtension.lowercased() == "toml" {
            throw .invalidConfiguration(file: path, issues: [ConfigIssue("", YAMLSyntax.tomlAdvice.replacingOccurrences(of: "this looks like TOML", with: "a .toml file was given"))])
        }
        // An empty file (or one with comments only) is most likely a generator's mistake, not a request for
        // every default; `{}` asks for the defaults explicitly.
        if text.split(whereSeparator: \.isNewline).allSatisfy({ $0.trimmingCharacters(in: .whitespaces).isEmpty || $0.trimmingCharacters(in: .whitespaces).hasPrefix("#") }) {
            throw .invalidConfiguration(file: path, issues: [ConfigIssue("", "the file holds no configuration (it is empty or only comments); write {} to run every default")])
        }
        return text
    }

    /// Parses a configuration file's text: relative data paths against its folder, the name from the file
    /// name when the text gives none.
    public static func load(text: String, path: String) throws(DLNError) -> Configuration {
        let base = URL(fileURLWithPath: path).deletingLastPathComponent().path
        var config = try parse(yaml: text, file: path, baseDirectory: base)
        if config.name == "run" && !text.contains("name:") {
            config.name = URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
        }
        return config
    }

    /// Parses and validates YAML text. Relative file paths are resolved against `baseDirectory`.
    public static func parse(yaml text: String, file: String = "<config>", baseDirectory: String = ".") throws(DLNError) -> Configuration {
        let root: Node?
        do { root = try Yams.compose(yaml: text) } catch {
            throw .invalidConfiguration(file: file, issues: [YAMLSyntax.issue(for: error, text: text)])
        }
        if let root, root.mapping == nil {
            let toml = YAMLSyntax.looksLikeTOML(text) ? "; " + YAMLSyntax.tomlAdvice : ""
            throw .invalidConfiguration(file: file, issues: [ConfigIssue("", "the configuration must be a YAML mapping of keys (name, problem, model, training, grid, seeds, record, device) to values, got \(YAMLSection.kind(root))\(YAMLSection.at(root))\(toml)")])
        }
        let sink = IssueSink()
        var c = Configuration()
        let top = YAMLSection(path: "", node: root ?? .mapping(.init([])), sink: sink)
        if let name = top.string("name") {
            if name.isEmpty || name.contains("/") || name == "." || name == ".." || name.contains(where: { $0.isNewline || $0 == "\0" }) {
                sink.add("name", "must be a non-empty folder name without '/' (it names the output folder), got '\(name)'\(top.node("name").map(YAMLSection.at) ?? "")")
            } else { c.name = name }
        }
        readProblem(top.section("problem"), into: &c.problem, base: baseDirectory)
        readModel(top.section("model"), into: &c.model)
        readTraining(top.section("training"), into: &c.training)
        let grid = top.section("grid")
        c.grid.alpha = grid.numbers("alpha", default: c.grid.alpha) { $0 > 0 ? nil : "must be positive" }
        c.grid.weightDecay = grid.numbers("weight_decay", default: c.grid.weightDecay) { $0 >= 0 ? nil : "must be ≥ 0" }
        c.grid.learningRate = grid.numbers("learning_rate", default: c.grid.learningRate) { $0 > 0 ? nil : "must be positive" }
        readGridAxes(grid, into: &c, top: top)
        grid.finish()
        c.seeds = top.int("seeds", default: 1) { $0 >= 1 ? ($0 <= 100_000_000 ? nil : "is too large (at most 1e8)") : "must be at least 1" }
        c.seedOffset = top.int("seed_offset", default: 0) { $0 >= 0 ? nil : "must be ≥ 0" }
        let record = top.section("record")
        c.record.checkpoints = record.int("checkpoints", default: 30) { $0 >= 1 && $0 <= 100_000 ? nil : "must be between 1 and 100000" }
        if let stepsNode = record.node("steps") {
            let values = record.numbers("steps", default: []) { $0 >= 0 && $0 == $0.rounded() && $0 <= 1e12 ? nil : "must be a whole number between 0 and 1e12" }
            if values.isEmpty == false { c.record.steps = values.map { Int($0) } }
            if let s = c.record.steps, s.contains(where: { $0 > c.training.steps }) {
                sink.add("record.steps", "lists a step beyond training.steps = \(c.training.steps)\(YAMLSection.at(stepsNode))")
            }
        }
        if record.has("start") { c.record.start = record.double("start", default: 1) { $0 > 0 ? ($0 <= 1e15 ? nil : "is too large (at most 1e15)") : "must be positive" } }
        c.record.linear = record.int("linear", default: 0) { $0 >= 0 && $0 <= 100_000 ? nil : "must be between 0 and 100000" }
        c.record.thresholds = record.numbers("thresholds", default: c.record.thresholds) { $0 > 0 ? nil : "must be positive" }
        if c.record.thresholds.count > 16 { sink.add("record.thresholds", "at most 16 thresholds") }
        record.finish()
        c.device = top.string("device")
        if let device = c.device, !Self.isDeviceRequest(device) {
            sink.add("device", "'\(device)' is not a device; use auto, cpu, opencl or opencl:P:D (see `dlnsim devices`)\(top.node("device").map(YAMLSection.at) ?? "")")
        }
        readTheory(top, into: &c)
        top.finish()
        // Cross-field checks.
        let params = c.grid.parameterization ?? [c.model.parameterization]
        let updates = c.grid.update ?? [c.training.update]
        if updates.contains(.multiplicative), let other = params.first(where: { $0 != .pm }) {
            sink.add(c.grid.update != nil || c.grid.parameterization != nil ? "grid" : "training.update",
                     "the multiplicative update is defined for parameterization pm only, got \(other.rawValue)")
        }
        if updates.contains(.flow) && c.training.horizon == nil {
            sink.add("training.horizon", "update flow integrates in time: give training.horizon (the final time t) instead of steps")
        }
        if updates.contains(.flow) && c.training.flow.rtol < (c.training.precision == .float32 ? 1e-6 : 2e-15) {
            sink.add("training.flow.rtol", "\(c.training.flow.rtol) is below what \(c.training.precision.rawValue) resolves (at least \(c.training.precision == .float32 ? "1e-6" : "2e-15")); use a larger rtol or precision: float64")
        }
        if updates.contains(.flow) && c.record.steps != nil {
            sink.add("record.steps", "update flow records at times: use record.checkpoints, record.start and record.linear")
        }
        if let rep = c.training.representation, rep == .log {
            if let other = params.first(where: { $0 == .deep }) {
                sink.add("training.representation", "log is for parameterization pm and uv, got \(other.rawValue)")
            }
            if updates.contains(.gd) {
                sink.add("training.representation", "log needs update multiplicative or flow (plain gradient descent is not a flow in ρ)")
            }
        }
        if let horizon = c.training.horizon, updates.contains(where: { $0 != .flow }), let eta = c.grid.learningRate.max(), (horizon / eta).rounded() < 1 {
            sink.add("training.horizon", "t = \(horizon) is shorter than one step of η = \(eta) (steps = round(t/η) = 0)")
        }
        if let horizon = c.training.horizon, updates.contains(where: { $0 != .flow }), let eta = c.grid.learningRate.min(), horizon / eta > 1e12 {
            sink.add("training.horizon", String(format: "t = %g with η = %g needs round(t/η) = %g steps; at most 1e12", horizon, eta, horizon / eta))
        }
        if let depths = c.grid.depth, params.contains(where: { $0 != .deep }) {
            sink.add("grid.depth", "a depth grid needs parameterization deep for every grid point (pm and uv have 2 layers), got \(depths)")
        }
        if let scales = c.model.layerScales, let depths = c.grid.depth, depths.contains(where: { $0 != scales.count }) {
            sink.add("model.init.layer_scales", "lists \(scales.count) values but grid.depth has other depths \(depths)")
        }
        // In Double: the product of long grid axes can overflow Int.
        let points = c.axisLengths.reduce(1.0) { $0 * Double($1) }
        let replicas = points * Double(c.seeds)
        let count: (Double) -> String = { $0 < 1e15 ? String(Int($0)) : String(format: "%.3g", $0) }
        if replicas > 1e8 { sink.add("seeds", "the run would have \(count(replicas)) replicas (\(count(points)) grid points × \(c.seeds) seeds); at most 1e8") }
        if sink.issues.isEmpty {
            let memory = c.memoryEstimate
            if memory.bytes > Self.memoryLimit {
                sink.add("", "the run would need about \(Self.gibibytes(memory.bytes)) of memory (\(memory.parts)), more than this machine's \(Self.gibibytes(Self.memoryLimit)); use fewer seeds or grid points, a smaller d or n, or fewer checkpoints")
            }
        }
        if let files = c.problem.files, files.u0 != nil || files.v0 != nil {
            if (files.u0 == nil) != (files.v0 == nil) { sink.add("problem.files", "u0 and v0 go together (the initial u and v)") }
            if let other = params.first(where: { $0 == .deep }) {
                sink.add("problem.files", "u0 and v0 set the two layers of parameterization pm or uv, got \(other.rawValue)")
            }
            if c.grid.alpha.count > 1 {
                sink.add("grid.alpha", "u0 and v0 from files fix the initialisation: list one alpha (it only labels the run), got \(c.grid.alpha.count)")
            }
        }
        if !sink.issues.isEmpty { throw .invalidConfiguration(file: file, issues: sink.issues) }
        return c
    }

    /// Whether `text` is a device request: auto, cpu, opencl, opencl:P or opencl:P:D (as `DeviceRequest` parses it).
    static func isDeviceRequest(_ text: String) -> Bool {
        let parts = text.lowercased().split(separator: ":", omittingEmptySubsequences: false)
        switch parts[0] {
        case "auto", "cpu": return parts.count == 1
        case "opencl": return parts.count <= 3 && parts.dropFirst().allSatisfy { Int($0).map { $0 >= 0 } ?? false }
        default: return false
        }
    }

    /// The most memory a run may ask for: this machine's physical memory.
    static let memoryLimit = Double(ProcessInfo.processInfo.physicalMemory)

    static func gibibytes(_ bytes: Double) -> String {
        bytes >= 1024 * 1024 * 1024 * 1024 ? String(format: "%.3g TiB", bytes / 1_099_511_627_776) : String(format: "%.3g GiB", bytes / 1_073_741_824)
    }

    /// A lower bound on the host memory a run needs, in bytes (in Double: sizes may be absurd), and its parts
    /// in words: the initial layers of every replica, the data sets and the recorded observables. User data
    /// are not counted (their files bound them).
    public var memoryEstimate: (bytes: Double, parts: String) {
        let lengths = axisLengths.map(Double.init)
        let inBatch = lengths[0] * lengths[1] * lengths[2]
        let perShape = lengths[5...].reduce(1, *)
        let layers = Double((grid.depth ?? [model.depth]).max() ?? 2)
        var state = 0.0, data = 0.0, shapes = 0.0
        for d in grid.d ?? [problem.d] {
            for delta in grid.delta ?? [problem.delta ?? -1] {
                let n = delta > 0 ? max(1, (delta * Double(d)).rounded()) : Double(problem.n)
                let sets = problem.files != nil ? 0 : (problem.sharing == .shared ? 1 : Double(seeds))
                data += perShape * sets * n * Double(d) * 8
                state += inBatch * perShape * Double(seeds) * layers * Double(d) * 8
                shapes += perShape
            }
        }
        if problem.files != nil { state = 0 }
        let checkpoints = Double((record.steps?.count ?? record.checkpoints) + record.linear + 2)
        let output = Double(seeds) * inBatch * shapes * checkpoints * Double(10 + 3 * record.thresholds.count) * 8
        return (state + data + output, "initial layers \(Self.gibibytes(state)), data \(Self.gibibytes(data)), observables \(Self.gibibytes(output))")
    }

    static func readProblem(_ s: YAMLSection, into p: inout Problem, base: String) {
        let files = s.section("files")
        if files.has("X") || files.has("y") || s.has("files") {
            func path(_ key: String, required: Bool) -> String? {
                guard let v = files.string(key) else {
                    if required { files.sink.add(files.child(key), "is required when data come from files") }
                    return nil
                }
                let resolved = v.hasPrefix("/") ? v : URL(fileURLWithPath: base).appendingPathComponent(v).standardized.path
                // Missing files fail now, with their key, rather than after the output folder is made.
                var isDirectory: ObjCBool = false
                let line = files.node(key).map(YAMLSection.at) ?? ""
                if v.isEmpty {
                    files.sink.add(files.child(key), "must be the path of a .npy file, got an empty text\(line)")
                } else if !FileManager.default.fileExists(atPath: resolved, isDirectory: &isDirectory) {
                    files.sink.add(files.child(key), "\(resolved): no such file\(line)")
                } else if isDirectory.boolValue {
                    files.sink.add(files.child(key), "\(resolved) is a folder, not a .npy file\(line)")
                } else if !FileManager.default.isReadableFile(atPath: resolved) {
                    files.sink.add(files.child(key), "\(resolved) is not readable (permissions)\(line)")
                }
                return resolved
            }
            let x = path("X", required: true), y = path("y", required: true)
            let df = DataFiles(x: x ?? "", y: y ?? "", wStar: path("w_star", required: false),
                               u0: path("u0", required: false), v0: path("v0", required: false),
                               xTest: path("X_test", required: false), yTest: path("y_test", required: false))
            if (df.xTest == nil) != (df.yTest == nil) { files.sink.add(files.path, "X_test and y_test go together") }
            files.finish()
            p.files = df
            p.delta = nil
            for key in ["d", "n", "delta", "design_variance", "teacher", "noise"] where s.has(key) {
                s.sink.add(s.child(key), "cannot be set when data come from files (the files fix it)")
                _ = s.node(key)
            }
        } else {
            files.finish()
            p.d = s.int("d", default: 100) { $0 >= 1 ? ($0 <= 100_000_000 ? nil : "is too large") : "must be a positive integer" }
            if s.has("n") && s.has("delta") {
                s.sink.add(s.child("n"), "give either n or delta, not both")
                _ = s.node("n"); _ = s.node("delta")
            } else if s.has("n") {
                p.n = s.int("n", default: 50) { $0 >= 1 ? ($0 <= 100_000_000 ? nil : "is too large") : "must be a positive integer" }
                p.delta = nil
            } else {
                let delta = s.double("delta", default: 0.5) { $0 > 0 ? ($0 <= 1e6 ? nil : "is too large") : "must be positive" }
                p.delta = delta
                let n = (delta * Double(p.d)).rounded()
                if n < 1 { s.sink.add(s.child("delta"), "gives n = round(δ·d) = round(\(delta)·\(p.d)) = 0 samples: δ·d must be at least 1 (about)") }
                p.n = max(1, Int(min(n, 1e9)))
            }
            p.designVariance = s.choice("design_variance", default: .one)
            let t = s.section("teacher")
            p.teacherDensity = t.double("density", default: 0.1) { $0 >= 0 && $0 <= 1 ? nil : "must be in [0, 1]" }
            p.teacherValues = t.choice("values", default: .ones)
            p.teacherSupport = t.choice("support", default: .bernoulli)
            t.finish()
            p.noise = s.double("noise", default: 0) { $0 >= 0 ? nil : "must be ≥ 0" }
            if Double(p.n) * Double(p.d) > 4e9 { s.sink.add(s.path, "n·d = \(p.n * p.d) is too large for one data set (at most 4e9 entries)") }
        }
        p.sharing = s.choice("data", default: .shared)
        p.dataSeed = s.int("data_seed", default: 0) { $0 >= 0 ? nil : "must be ≥ 0" }
        s.finish()
    }

    /// The grid axes that change the data or the model: each is a value or a list, and may not also be set in
    /// its own section.
    static func readGridAxes(_ g: YAMLSection, into c: inout Configuration, top: YAMLSection) {
        func both(_ key: String, _ section: String, _ sectionKey: String) {
            if g.has(key), top.sectionHas(section, sectionKey) {
                g.sink.add(g.child(key), "is also set as \(section).\(sectionKey); give it in one place")
            }
        }
        func ints(_ key: String, _ check: @escaping (Int) -> String?) -> [Int]? {
            guard g.has(key) else { return nil }
            let values = g.numbers(key, default: []) { v in
                v != v.rounded() ? "must be a whole number" : abs(v) >= 9e15 ? "is too large" : check(Int(v))
            }
            return values.isEmpty ? nil : values.map { Int($0) }
        }
        func reals(_ key: String, _ check: @escaping (Double) -> String?) -> [Double]? {
            guard g.has(key) else { return nil }
            let values = g.numbers(key, default: [], check)
            return values.isEmpty ? nil : values
        }
        func choices<E: RawRepresentable & CaseIterable>(_ key: String, _ type: E.Type) -> [E]? where E.RawValue == String {
            guard let node = g.node(key) else { return nil }
            let items: [Node]
            if case .sequence(let seq) = node { items = Array(seq) } else { items = [node] }
            var out: [E] = []
            for (i, item) in items.enumerated() {
                guard case .scalar(let sc) = item, let v = E(rawValue: sc.string) else {
                    g.sink.add("\(g.child(key))\(items.count > 1 ? "[\(i)]" : "")", "must be one of \(E.allCases.map(\.rawValue).joined(separator: ", ")), got \(YAMLSection.kind(item))\(YAMLSection.at(item))")
                    continue
                }
                out.append(v)
            }
            return out.isEmpty || out.count != items.count ? nil : out
        }
        both("d", "problem", "d"); both("delta", "problem", "delta"); both("delta", "problem", "n")
        both("noise", "problem", "noise"); both("depth", "model", "depth")
        both("parameterization", "model", "parameterization"); both("update", "training", "update")
        c.grid.d = ints("d") { $0 >= 1 && $0 <= 100_000_000 ? nil : "must be a positive integer" }
        c.grid.delta = reals("delta") { $0 > 0 && $0 <= 1e6 ? nil : "must be positive" }
        c.grid.noise = reals("noise") { $0 >= 0 ? nil : "must be ≥ 0" }
        c.grid.density = reals("density") { $0 >= 0 && $0 <= 1 ? nil : "must be in [0, 1]" }
        c.grid.depth = ints("depth") { $0 >= 2 && $0 <= 64 ? nil : "must be between 2 and 64" }
        c.grid.parameterization = choices("parameterization", Parameterization.self)
        c.grid.update = choices("update", UpdateRule.self)
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
                        g.sink.add(g.path, "the grid point d = \(d), δ = \(delta) has n = round(δ·d) = 0 samples: δ·d must be at least 1 (about)")
                    } else if n * Double(d) > 4e9 {
                        g.sink.add(g.path, "the grid point d = \(d), δ = \(delta) has n·d = \(n * Double(d)) entries in one data set (at most 4e9)")
                    }
                }
            }
        }
    }

    static func readModel(_ s: YAMLSection, into m: inout Model) {
        m.parameterization = s.choice("parameterization", default: .pm)
        m.depth = s.int("depth", default: 2) { $0 >= 2 && $0 <= 64 ? nil : "must be between 2 and 64" }
        if m.parameterization != .deep && m.depth != 2 {
            s.sink.add(s.child("depth"), "must be 2 for parameterization \(m.parameterization.rawValue) (use parameterization: deep for depth L)")
        }
        let i = s.section("init")
        m.uNoise = i.double("u_noise", default: 0) { $0 >= 0 ? nil : "must be ≥ 0" }
        m.vNoise = i.double("v_noise", default: 0) { $0 >= 0 ? nil : "must be ≥ 0" }
        if i.has("layer_scales") {
            let scales = i.numbers("layer_scales", default: []) { $0 != 0 ? nil : "must be non-zero" }
            if m.parameterization != .deep { i.sink.add(i.child("layer_scales"), "applies to parameterization deep only") }
            else if !scales.isEmpty && scales.count != m.depth {
                i.sink.add(i.child("layer_scales"), "must list \(m.depth) values (one per layer), got \(scales.count)")
            } else if !scales.isEmpty { m.layerScales = scales }
        }
        if m.parameterization == .pm && (m.uNoise != 0 || m.vNoise != 0) {
            i.sink.add(i.path, "u_noise and v_noise apply to parameterization uv (pm starts at u = v = α)")
        }
        i.finish()
        s.finish()
    }

    static func readTraining(_ s: YAMLSection, into t: inout Training) {
        t.update = s.choice("update", default: .gd)
        t.loss = s.choice("loss", default: .mean)
        t.steps = s.int("steps", default: 1000) { $0 >= 1 ? ($0 <= 1_000_000_000_000 ? nil : "is too large") : "must be at least 1" }
        if s.has("horizon") {
            if s.has("steps") { s.sink.add(s.child("horizon"), "give either steps or horizon (t = steps·η), not both") }
            t.horizon = s.double("horizon", default: 1) { $0 > 0 ? ($0 <= 1e15 ? nil : "is too large") : "must be positive" }
        }
        t.decayFactor = s.double("weight_decay_factor", default: 0.5) { $0 > 0 ? nil : "must be positive" }
        t.precision = s.choice("precision", default: .float32)
        if s.has("representation") { t.representation = s.choice("representation", default: .layers) }
        t.maxLossRatio = s.double("max_loss_ratio", default: 1e10) { $0 >= 1 && $0.isFinite ? nil : "must be a finite number ≥ 1" }
        let f = s.section("flow")
        let tol: (Double) -> String? = { $0 > 0 && $0 <= 1 ? nil : "must be in (0, 1]" }
        let positive: (Double) -> String? = { $0 > 0 && $0.isFinite ? nil : "must be positive" }
        t.flow.rtol = f.double("rtol", default: t.flow.rtol, tol)
        t.flow.atol = f.double("atol", default: t.flow.atol, tol)
        if f.has("initial_step") { t.flow.initialStep = f.double("initial_step", default: 1e-6, positive) }
        if f.has("max_step") { t.flow.maxStep = f.double("max_step", default: 1, positive) }
        t.flow.minStep = f.double("min_step", default: 0) { $0 >= 0 && $0.isFinite ? nil : "must be ≥ 0" }
        t.flow.maxSteps = f.int("max_steps", default: t.flow.maxSteps) { $0 >= 1 && $0 <= Int(Int32.max) ? nil : "must be between 1 and 2147483647" }
        if s.has("flow") && t.update != .flow { f.sink.add(f.path, "applies to update: flow only") }
        f.finish()
        s.finish()
    }
}
