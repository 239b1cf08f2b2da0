import DLNModel
import DLNTheory
import Foundation

/// One configuration key, its one home: the key path as YAML writes it, where a schema-version-1 manifest kept it,
/// what it holds, its check, and (grid axes) its grid.csv column. The YAML reader (`ConfigurationReader`), the
/// manifest's "configuration" (`Configuration.manifestValue`, `Configuration.fromManifest`) and grid.csv
/// (`ConfigurationKeys.gridColumns`) all walk `ConfigurationKeys.all`. A key's default is the value of
/// `Configuration()`
/// (`defaultValue`); rules between keys live beside the table, in ConfigurationRules.swift.
public struct ConfigurationKey: Sendable {
    /// What a key holds.
    public enum Kind: Sendable, Equatable {
        case number, integer, text
        case choice([String])
        case numbers, integers
        case choices([String])
        /// Lists of grid axis names (`grid.zip`).
        case axisGroups
        /// The path of a `.npy` file, resolved against the configuration's folder.
        case file
        /// true or false.
        case flag
    }

    /// The dotted key path as written in YAML and in manifest.json ("problem.teacher.density").
    public let path: String
    /// The dotted path of the same value in a schema-version-1 manifest (Codable names: "problem.teacherDensity").
    public let legacyPath: String
    public let kind: Kind
    /// Whether the resolved value may be absent (null in the manifest); the keys of an absent optional group
    /// (`ConfigurationKeys.groups`) are absent with it.
    public let optional: Bool
    /// The grid.csv column of a grid axis.
    public let gridColumn: Experiment.GridColumn?
    /// The number of values of a grid axis (nil: the axis is not given).
    let axisCount: (@Sendable (Configuration) -> Int?)?
    /// The value as JSON (nil: absent).
    let encode: @Sendable (Configuration) -> Any?
    /// Sets the value from JSON (nil: absent); false when the JSON is not of this key's kind.
    let decode: @Sendable (Any?, inout Configuration) -> Bool
    /// Reads the key from its YAML section (checking it; a problem is recorded, and the default stays).
    let read: @Sendable (YAMLSection, String, inout Configuration, _ baseDirectory: String) -> Void

    /// The last component of the path: the key inside its section.
    public var name: String { String(path.split(separator: ".").last!) }
    /// The section's path ("" for the top level).
    public var section: String { path.split(separator: ".").dropLast().joined(separator: ".") }
    /// The optional group this key belongs to (problem.files, theory), if any.
    public var group: ConfigurationGroup? { ConfigurationKeys.groups.first { path.hasPrefix($0.path + ".") } }
    /// The default: the value in `Configuration()` (nil: absent by default), as JSON.
    public var defaultValue: Any? { encode(Configuration()) }
}

/// A section that is absent unless the configuration gives it (problem.files, theory).
public struct ConfigurationGroup: Sendable {
    public let path: String
    let legacyPath: String
    let isPresent: @Sendable (Configuration) -> Bool
    let create: @Sendable (inout Configuration) -> Void
    let remove: @Sendable (inout Configuration) -> Void
    /// A scalar YAML may give instead of the mapping (`theory: dmft`), and the message when it is another.
    let scalar: (value: String, message: String)?
}

/// A value as the manifest's JSON holds it.
protocol ManifestValue: Sendable {
    var manifestJSON: Any { get }
    init?(manifestJSON: Any)
}

extension Double: ManifestValue {
    var manifestJSON: Any { self }
    init?(manifestJSON json: Any) {
        if let d = json as? Double {
            self = d
            return
        }
        guard let n = json as? NSNumber else { return nil }
        self = n.doubleValue
    }
}

extension Int: ManifestValue {
    var manifestJSON: Any { self }
    init?(manifestJSON json: Any) {
        guard let d = Double(manifestJSON: json), let v = Int(exactly: d) else { return nil }
        self = v
    }
}

extension String: ManifestValue {
    var manifestJSON: Any { self }
    init?(manifestJSON json: Any) {
        guard let s = json as? String else { return nil }
        self = s
    }
}

extension Array: ManifestValue where Element: ManifestValue {
    var manifestJSON: Any { map(\.manifestJSON) }
    init?(manifestJSON json: Any) {
        guard let a = json as? [Any] else { return nil }
        var out: [Element] = []
        for item in a {
            guard let v = Element(manifestJSON: item) else { return nil }
            out.append(v)
        }
        self = out
    }
}

/// The named choices of a key: written as their YAML text.
protocol ChoiceValue: ManifestValue, RawRepresentable, CaseIterable where RawValue == String {}

extension ChoiceValue {
    var manifestJSON: Any { rawValue }
    init?(manifestJSON json: Any) {
        guard let s = json as? String, let v = Self(rawValue: s) else { return nil }
        self = v
    }
    static var names: [String] { allCases.map(\.rawValue) }
}

extension Parameterization: ChoiceValue {}
extension UpdateRule: ChoiceValue {}
extension LossNormalization: ChoiceValue {}
extension DesignVariance: ChoiceValue {}
extension TeacherValues: ChoiceValue {}
extension TeacherSupport: ChoiceValue {}
extension DataSharing: ChoiceValue {}
extension Precision: ChoiceValue {}
extension Representation: ChoiceValue {}
extension Sampling: ChoiceValue {}
extension Configuration.SummationChoice: ChoiceValue {}
extension Configuration.Switch: ChoiceValue {}

/// Where a key's value lives in `Configuration`.
struct ConfigurationSlot<T: ManifestValue>: Sendable {
    let get: @Sendable (Configuration) -> T?
    let set: @Sendable (inout Configuration, T?) -> Void
    let optional: Bool

    static func field(_ kp: WritableKeyPath<Configuration, T> & Sendable) -> Self {
        Self(get: { $0[keyPath: kp] }, set: { c, v in if let v { c[keyPath: kp] = v } }, optional: false)
    }
    static func optionalField(_ kp: WritableKeyPath<Configuration, T?> & Sendable) -> Self {
        Self(get: { $0[keyPath: kp] }, set: { c, v in c[keyPath: kp] = v }, optional: true)
    }
    static func file(_ kp: WritableKeyPath<Configuration.DataFiles, T> & Sendable) -> Self {
        Self(
            get: { $0.problem.files?[keyPath: kp] }, set: { c, v in if let v { c.problem.files?[keyPath: kp] = v } },
            optional: false)
    }
    static func optionalFile(_ kp: WritableKeyPath<Configuration.DataFiles, T?> & Sendable) -> Self {
        Self(
            get: { $0.problem.files?[keyPath: kp] ?? nil }, set: { c, v in c.problem.files?[keyPath: kp] = v },
            optional: true)
    }
}

extension ConfigurationKey {
    typealias Check<T> = @Sendable (T) -> String?
    typealias Column = (name: String, value: @Sendable (Experiment.GridPoint) -> String)

    static func make<T: ManifestValue>(
        _ path: String, v1: String, kind: Kind, _ slot: ConfigurationSlot<T>, column: Column? = nil,
        count: (@Sendable (T) -> Int)? = nil,
        read: @escaping @Sendable (YAMLSection, String, String) -> T?
    ) -> ConfigurationKey {
        var gridColumn: Experiment.GridColumn? = nil
        if let column { gridColumn = Experiment.GridColumn(name: column.name, value: column.value) }
        var axisCount: (@Sendable (Configuration) -> Int?)? = nil
        if let count {
            axisCount = { (c: Configuration) -> Int? in
                guard let v = slot.get(c) else { return nil }
                return count(v)
            }
        }
        let encode: @Sendable (Configuration) -> Any? = { (c: Configuration) -> Any? in
            guard let v = slot.get(c) else { return nil }
            return v.manifestJSON
        }
        let decode: @Sendable (Any?, inout Configuration) -> Bool = { (json: Any?, c: inout Configuration) -> Bool in
            guard let json, !(json is NSNull) else {
                guard slot.optional else { return false }
                slot.set(&c, nil)
                return true
            }
            guard let v = T(manifestJSON: json) else { return false }
            slot.set(&c, v)
            return true
        }
        let readKey: @Sendable (YAMLSection, String, inout Configuration, String) -> Void = {
            (s: YAMLSection, key: String, c: inout Configuration, base: String) in
            if let v = read(s, key, base) { slot.set(&c, v) }
        }
        return ConfigurationKey(
            path: path, legacyPath: v1, kind: kind, optional: slot.optional, gridColumn: gridColumn,
            axisCount: axisCount, encode: encode, decode: decode, read: readKey)
    }

    static func number(
        _ path: String, v1: String, _ slot: ConfigurationSlot<Double>, _ check: @escaping Check<Double> = { _ in nil }
    ) -> Self {
        make(path, v1: v1, kind: .number, slot) { s, key, _ in
            let v = s.double(key, default: .nan, check)
            return v.isNaN ? nil : v
        }
    }

    static func integer(
        _ path: String, v1: String, _ slot: ConfigurationSlot<Int>, _ check: @escaping Check<Int> = { _ in nil }
    ) -> Self {
        make(path, v1: v1, kind: .integer, slot) { s, key, _ in
            let v = s.int(key, default: .min, check)
            return v == .min ? nil : v
        }
    }

    /// A text; `check` gives the whole message (the line is added).
    static func text(
        _ path: String, v1: String, _ slot: ConfigurationSlot<String>, _ check: @escaping Check<String> = { _ in nil }
    ) -> Self {
        make(path, v1: v1, kind: .text, slot) { s, key, _ in
            guard let v = s.string(key) else { return nil }
            if let problem = check(v) {
                s.sink.add(s.child(key), problem + (s.node(key).map(YAMLSection.at) ?? ""))
                return nil
            }
            return v
        }
    }

    static func choice<E: ChoiceValue>(_ path: String, v1: String, _ slot: ConfigurationSlot<E>) -> Self {
        make(path, v1: v1, kind: .choice(E.names), slot) { s, key, _ in s.choiceValue(key) }
    }

    /// A number or a list of numbers.
    static func numbers(
        _ path: String, v1: String, _ slot: ConfigurationSlot<[Double]>, column: Column? = nil,
        _ check: @escaping Check<Double> = { _ in nil }
    ) -> Self {
        var count: (@Sendable ([Double]) -> Int)? = nil
        if case .some = column { count = { (v: [Double]) -> Int in v.count } }
        return make(path, v1: v1, kind: .numbers, slot, column: column, count: count) {
            (s: YAMLSection, key: String, _: String) -> [Double]? in
            let v = s.numbers(key, default: [], check)
            return v.isEmpty ? nil : v
        }
    }

    /// A whole number or a list of them; `check` sees each value as written (see `whole`).
    static func integers(
        _ path: String, v1: String, _ slot: ConfigurationSlot<[Int]>, column: Column? = nil,
        _ check: @escaping Check<Double>
    ) -> Self {
        var count: (@Sendable ([Int]) -> Int)? = nil
        if case .some = column { count = { (v: [Int]) -> Int in v.count } }
        return make(path, v1: v1, kind: .integers, slot, column: column, count: count) {
            (s: YAMLSection, key: String, _: String) -> [Int]? in
            let v = s.numbers(key, default: [], check)
            return v.isEmpty ? nil : v.map { Int($0) }
        }
    }

    static func choices<E: ChoiceValue>(_ path: String, v1: String, _ slot: ConfigurationSlot<[E]>, column: Column)
        -> Self
    {
        let count: @Sendable ([E]) -> Int = { (v: [E]) -> Int in v.count }
        return make(path, v1: v1, kind: .choices(E.names), slot, column: column, count: count) {
            (s: YAMLSection, key: String, _: String) -> [E]? in s.choiceList(key)
        }
    }

    /// The path of a `.npy` file: resolved against the configuration's folder and checked now, with its key, rather
    /// than after the output folder is made.
    static func file(_ path: String, v1: String, _ slot: ConfigurationSlot<String>) -> Self {
        make(path, v1: v1, kind: .file, slot) { s, key, base in
            guard let v = s.string(key) else { return nil }
            let resolved = v.hasPrefix("/") ? v : URL(fileURLWithPath: base).appendingPathComponent(v).standardized.path
            var isDirectory: ObjCBool = false
            let line = s.node(key).map(YAMLSection.at) ?? ""
            if v.isEmpty {
                s.sink.add(s.child(key), "must be the path of a .npy file, got an empty text\(line)")
            } else if !FileManager.default.fileExists(atPath: resolved, isDirectory: &isDirectory) {
                s.sink.add(s.child(key), "\(resolved): no such file\(line)")
            } else if isDirectory.boolValue {
                s.sink.add(s.child(key), "\(resolved) is a folder, not a .npy file\(line)")
            } else if let why = NPY.notARegularFile(resolved) {
                s.sink.add(s.child(key), "\(resolved): \(why)\(line)")
            } else if !FileManager.default.isReadableFile(atPath: resolved) {
                s.sink.add(s.child(key), "\(resolved) is not readable (permissions)\(line)")
            }
            return resolved
        }
    }
}

/// The configuration keys, in the order YAML sections are read and the manifest lists them.
public enum ConfigurationKeys {
    typealias Slot = ConfigurationSlot

    static let positive: ConfigurationKey.Check<Double> = { $0 > 0 ? nil : "must be positive" }
    static let nonNegative: ConfigurationKey.Check<Double> = { $0 >= 0 ? nil : "must be ≥ 0" }
    static let nonNegativeInt: ConfigurationKey.Check<Int> = { $0 >= 0 ? nil : "must be ≥ 0" }
    static let unitInterval: ConfigurationKey.Check<Double> = { $0 >= 0 && $0 <= 1 ? nil : "must be in [0, 1]" }
    static let size: ConfigurationKey.Check<Int> = {
        $0 >= 1 ? ($0 <= 100_000_000 ? nil : "is too large") : "must be a positive integer"
    }
    static let depth: ConfigurationKey.Check<Int> = { $0 >= 2 && $0 <= 64 ? nil : "must be between 2 and 64" }
    static let tolerance: ConfigurationKey.Check<Double> = { $0 > 0 && $0 <= 1 ? nil : "must be in (0, 1]" }
    static let step: ConfigurationKey.Check<Double> = { $0 > 0 && $0.isFinite ? nil : "must be positive" }
    /// A whole-number check on a list entry as written.
    static func whole(_ check: @escaping ConfigurationKey.Check<Int>) -> ConfigurationKey.Check<Double> {
        { v in v != v.rounded() ? "must be a whole number" : abs(v) >= 9e15 ? "is too large" : check(Int(v)) }
    }

    /// Every key but those of the stochastic updates and momentum (`all` inserts them, StochasticRules.swift).
    static let listed: [ConfigurationKey] = [
        .text("name", v1: "name", .field(\.name)) { name in
            name.isEmpty || name.contains("/") || name == "." || name == ".."
                || name.contains(where: { $0.isNewline || $0 == "\0" })
                ? "must be a non-empty folder name without '/' (it names the output folder), got '\(name)'" : nil
        },
        .integer("problem.d", v1: "problem.d", .field(\.problem.d), size),
        .integer("problem.n", v1: "problem.n", .field(\.problem.n), size),
        .number("problem.delta", v1: "problem.delta", .optionalField(\.problem.delta)) {
            $0 > 0 ? ($0 <= 1e6 ? nil : "is too large") : "must be positive"
        },
        .choice("problem.design_variance", v1: "problem.designVariance", .field(\.problem.designVariance)),
        .number(
            "problem.teacher.density", v1: "problem.teacherDensity", .field(\.problem.teacherDensity), unitInterval),
        .choice("problem.teacher.values", v1: "problem.teacherValues", .field(\.problem.teacherValues)),
        .choice("problem.teacher.support", v1: "problem.teacherSupport", .field(\.problem.teacherSupport)),
        .number("problem.noise", v1: "problem.noise", .field(\.problem.noise), nonNegative),
        .choice("problem.data", v1: "problem.sharing", .field(\.problem.sharing)),
        .integer("problem.data_seed", v1: "problem.dataSeed", .field(\.problem.dataSeed), nonNegativeInt),
        .file("problem.files.X", v1: "problem.files.x", .file(\.x)),
        .file("problem.files.y", v1: "problem.files.y", .file(\.y)),
        .file("problem.files.w_star", v1: "problem.files.wStar", .optionalFile(\.wStar)),
        .file("problem.files.u0", v1: "problem.files.u0", .optionalFile(\.u0)),
        .file("problem.files.v0", v1: "problem.files.v0", .optionalFile(\.v0)),
        .file("problem.files.X_test", v1: "problem.files.xTest", .optionalFile(\.xTest)),
        .file("problem.files.y_test", v1: "problem.files.yTest", .optionalFile(\.yTest)),

        .choice("model.parameterization", v1: "model.parameterization", .field(\.model.parameterization)),
        .integer("model.depth", v1: "model.depth", .field(\.model.depth), depth),
        .choice("model.init.entries", v1: "model.initEntries", .field(\.model.initEntries)),
        .choice("model.init.signs", v1: "model.initSigns", .field(\.model.initSigns)),
        .text("model.init.from", v1: "model.initFrom", .optionalField(\.model.initFrom)) {
            $0.isEmpty ? "is empty" : nil
        },
        .number("model.init.u_noise", v1: "model.uNoise", .field(\.model.uNoise), nonNegative),
        .number("model.init.v_noise", v1: "model.vNoise", .field(\.model.vNoise), nonNegative),
        .numbers("model.init.layer_scales", v1: "model.layerScales", .optionalField(\.model.layerScales)) {
            $0 != 0 ? nil : "must be non-zero"
        },

        .choice("training.update", v1: "training.update", .field(\.training.update)),
        .choice("training.loss", v1: "training.loss", .field(\.training.loss)),
        .integer("training.steps", v1: "training.steps", .field(\.training.steps)) {
            $0 >= 1 ? ($0 <= 1_000_000_000_000 ? nil : "is too large") : "must be at least 1"
        },
        .number("training.horizon", v1: "training.horizon", .optionalField(\.training.horizon)) {
            $0 > 0 ? ($0 <= 1e15 ? nil : "is too large") : "must be positive"
        },
        .number("training.weight_decay_factor", v1: "training.decayFactor", .field(\.training.decayFactor), positive),
        .choice("training.precision", v1: "training.precision", .field(\.training.precision)),
        .choice("training.representation", v1: "training.representation", .optionalField(\.training.representation)),
        .choice("training.summation", v1: "training.summation", .field(\.training.summation)),
        .number("training.max_loss_ratio", v1: "training.maxLossRatio", .field(\.training.maxLossRatio)) {
            $0 >= 1 && $0.isFinite ? nil : "must be a finite number ≥ 1"
        },
        .number("training.flow.rtol", v1: "training.flow.rtol", .field(\.training.flow.rtol), tolerance),
        .number("training.flow.atol", v1: "training.flow.atol", .field(\.training.flow.atol), tolerance),
        .number(
            "training.flow.initial_step", v1: "training.flow.initialStep", .optionalField(\.training.flow.initialStep),
            step),
        .number("training.flow.max_step", v1: "training.flow.maxStep", .optionalField(\.training.flow.maxStep), step),
        .number("training.flow.min_step", v1: "training.flow.minStep", .field(\.training.flow.minStep)) {
            $0 >= 0 && $0.isFinite ? nil : "must be ≥ 0"
        },
        .integer("training.flow.max_steps", v1: "training.flow.maxSteps", .field(\.training.flow.maxSteps)) {
            $0 >= 1 && $0 <= Int(Int32.max) ? nil : "must be between 1 and 2147483647"
        },

        // The grid axes, in the order grid points nest (α outermost) and grid.csv lists them.
        .numbers("grid.alpha", v1: "grid.alpha", .field(\.grid.alpha), column: ("alpha", { "\($0.alpha)" }), positive),
        .numbers(
            "grid.weight_decay", v1: "grid.weightDecay", .field(\.grid.weightDecay),
            column: ("weight_decay", { "\($0.weightDecay)" }), nonNegative),
        .numbers(
            "grid.learning_rate", v1: "grid.learningRate", .field(\.grid.learningRate),
            column: ("learning_rate", { "\($0.learningRate)" }), positive),
        .integers(
            "grid.d", v1: "grid.d", .optionalField(\.grid.d), column: ("d", { "\($0.d)" }),
            whole { $0 >= 1 && $0 <= 100_000_000 ? nil : "must be a positive integer" }),
        .numbers(
            "grid.delta", v1: "grid.delta", .optionalField(\.grid.delta),
            column: ("delta", { "\(Double($0.n) / Double($0.d))" })
        ) { $0 > 0 && $0 <= 1e6 ? nil : "must be positive" },
        .numbers(
            "grid.noise", v1: "grid.noise", .optionalField(\.grid.noise), column: ("noise", { "\($0.noise)" }),
            nonNegative),
        .numbers(
            "grid.density", v1: "grid.density", .optionalField(\.grid.density),
            column: ("density", { "\($0.density)" }), unitInterval),
        .integers(
            "grid.depth", v1: "grid.depth", .optionalField(\.grid.depth), column: ("depth", { "\($0.depth)" }),
            whole(depth)),
        .choices(
            "grid.parameterization", v1: "grid.parameterization", .optionalField(\.grid.parameterization),
            column: ("parameterization", { $0.parameterization.rawValue })),
        .choices(
            "grid.update", v1: "grid.update", .optionalField(\.grid.update),
            column: ("update", { $0.update.rawValue })),
        .zipGroups("grid.zip"),

        .integer("seeds", v1: "seeds", .field(\.seeds)) {
            $0 >= 1 ? ($0 <= 100_000_000 ? nil : "is too large (at most 1e8)") : "must be at least 1"
        },
        .integer("seed_offset", v1: "seedOffset", .field(\.seedOffset), nonNegativeInt),

        .integer("record.checkpoints", v1: "record.checkpoints", .field(\.record.checkpoints)) {
            $0 >= 1 && $0 <= 100_000 ? nil : "must be between 1 and 100000"
        },
        .integers("record.steps", v1: "record.steps", .optionalField(\.record.steps)) {
            $0 >= 0 && $0 == $0.rounded() && $0 <= 1e12 ? nil : "must be a whole number between 0 and 1e12"
        },
        .number("record.start", v1: "record.start", .optionalField(\.record.start)) {
            $0 > 0 ? ($0 <= 1e15 ? nil : "is too large (at most 1e15)") : "must be positive"
        },
        .integer("record.linear", v1: "record.linear", .field(\.record.linear)) {
            $0 >= 0 && $0 <= 100_000 ? nil : "must be between 0 and 100000"
        },
        .numbers("record.thresholds", v1: "record.thresholds", .field(\.record.thresholds), positive),
        .recordEvery("record.weights", .optionalField(\.record.weightsEvery)),
        .flag("record.layers", .field(\.record.layers)),
        .numbers("record.activation", v1: "record.activation", .optionalField(\.record.activation), positive),
        .number("record.max_bytes", v1: "record.max_bytes", .field(\.record.maxBytes), positive),

        .text("device", v1: "device", .optionalField(\.device)) {
            Configuration.isDeviceRequest($0)
                ? nil : "'\($0)' is not a device; use auto, cpu, gpu, opencl or opencl:P:D (see `dlnsim devices`)"
        },

        .integer("theory.paths", v1: "theory.paths", .optionalTheory(\.chosenPaths)) {
            $0 >= 64 && $0 <= 100_000_000 ? nil : "must be between 64 and 1e8"
        },
        .integer("theory.response_paths", v1: "theory.responsePaths", .optionalTheory(\.chosenResponsePaths)) {
            $0 >= 1 && $0 <= 100_000_000 ? nil : "must be between 1 and 1e8"
        },
        .number("theory.damping", v1: "theory.damping", .optionalTheory(\.damping)) {
            $0 >= 0 && $0 < 1 ? nil : "must be in [0, 1)"
        },
        .number("theory.tolerance", v1: "theory.tolerance", .theory(\.tolerance)) {
            $0 > 0 && $0 < 1 ? nil : "must be in (0, 1)"
        },
        .integer("theory.max_iterations", v1: "theory.maxIterations", .optionalTheory(\.chosenMaxIterations)) {
            $0 >= 1 && $0 <= 100_000 ? nil : "must be between 1 and 100000"
        },
        .integer("theory.seed", v1: "theory.seed", .theory(\.seed), nonNegativeInt)
    ]

    /// Sections that are absent unless given.
    public static let groups: [ConfigurationGroup] = [
        ConfigurationGroup(
            path: "problem.files", legacyPath: "problem.files", isPresent: { $0.problem.files != nil },
            create: { $0.problem.files = Configuration.DataFiles(x: "", y: "") }, remove: { $0.problem.files = nil },
            scalar: nil),
        ConfigurationGroup(
            path: "theory", legacyPath: "theory", isPresent: { $0.theory != nil },
            create: { $0.theory = DMFTSettings() }, remove: { $0.theory = nil },
            scalar: ("dmft", "must be dmft (or a mapping with method: dmft)"))
    ]

    /// The key at a YAML key path.
    public static func key(_ path: String) -> ConfigurationKey? { all.first { $0.path == path } }

    /// The grid axes, in nesting order.
    public static var gridAxes: [ConfigurationKey] { all.filter { $0.gridColumn != nil } }

    /// Columns of grid.csv that no key holds: they follow from the axes (inserted after the named column).
    static let derivedColumns: [(after: String, column: Experiment.GridColumn)] = [
        ("learning_rate", Experiment.GridColumn(name: "lambda_u") { "\($0.lambdaU)" }),
        ("d", Experiment.GridColumn(name: "n") { "\($0.n)" })
    ]

    /// The columns of grid.csv and stats.csv, after `point`: every grid axis, with the derived columns.
    public static var gridColumns: [Experiment.GridColumn] {
        gridAxes.flatMap { key in
            [key.gridColumn!] + derivedColumns.filter { $0.after == key.gridColumn!.name }.map(\.column)
        }
    }
}
