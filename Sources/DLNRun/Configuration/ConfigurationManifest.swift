import DLNModel
import DLNTheory
import Foundation

/// manifest.json's "configuration": every key of `ConfigurationKeys.all` at its YAML key path, nested as in YAML
/// (`{"grid": {"learning_rate": [0.05]}, "problem": {"teacher": {"density": 0.1}}}`), null where a value is absent.
///
/// Schema versions (manifest.json's "schema_version"):
/// - 1 (no "schema_version" key; dlnsim before the key table): the Codable encoding, camelCase names
///   (`learningRate`, `teacherDensity`), absent optionals left out. Read by `migrateVersion1`: every key moves from
///   its `legacyPath` to its `path`; a missing optional is absent (what the Codable encoding meant), a missing
///   required key or a key without a counterpart refuses the folder, naming the version and the key.
/// - 2: the YAML spelling; every key present (null when absent).
extension Configuration {
    /// The layout manifest.json is written in.
    public static let manifestSchemaVersion = 2
    /// Optional keys added after schema version 2 was first written: missing, they are absent (null).
    /// (A folder written before one of them ran with its default: no stochastic options, no momentum,
    /// constant positive deep initialisations, a constant learning rate, the GD DMFT solver without two-time files.)
    static let addedToVersion2: Set<String> = [
        "grid.zip", "training.batch_size", "training.sampling", "training.label_noise", "training.gradient_noise",
        "training.momentum", "training.nesterov", "grid.batch_size", "grid.label_noise", "grid.gradient_noise",
        "grid.momentum", "model.init.entries", "model.init.signs", "model.init.from", "record.weights",
        "record.layers", "record.activation", "record.max_bytes", "record.sharpness", "record.pl_constant",
        "training.schedule.name", "training.schedule.tau", "training.schedule.power", "training.schedule.gamma",
        "training.schedule.steps", "training.schedule.floor", "training.schedule.every", "training.schedule.at",
        "theory.two_time", "theory.solver", "theory.grid_ratio", "theory.grid_tolerance", "training.summation"
    ]
    /// What a key added to version 2 meant in the folders written before it, where that is not its default: those
    /// runs summed every residual in ascending order.
    static let beforeAdded: [String: String] = ["training.summation": "ascending"]

    /// The configuration as manifest.json writes it.
    public var manifestValue: [String: Any] {
        var root: [String: Any] = [:]
        for group in ConfigurationKeys.groups where !group.isPresent(self) {
            ManifestPath.set(&root, group.path, NSNull())
        }
        for key in ConfigurationKeys.all where key.group?.isPresent(self) ?? true {
            ManifestPath.set(&root, key.path, key.encode(self) ?? NSNull())
        }
        return root
    }

    /// Reads the configuration of manifest.json's bytes. (Not through JSONSerialization: on Linux it rounds some
    /// doubles, 0.30000000000000004 to 0.3000000000000001; JSONDecoder keeps every one.)
    public static func fromManifest(data: Data, path: String) throws(DLNError) -> Configuration {
        guard let tree = try? JSONDecoder().decode(ManifestJSON.self, from: data),
            let manifest = tree.value as? [String: Any]
        else {
            throw .badFile(path: path, reason: "missing or not a JSON object")
        }
        return try fromManifest(manifest, path: path)
    }

    /// Reads the configuration of a manifest.json (`path` names the file in messages): schema version 2 as it is,
    /// version 1 through `migrateVersion1`; other versions are refused.
    public static func fromManifest(_ manifest: [String: Any], path: String) throws(DLNError) -> Configuration {
        let version: Int
        if let v = manifest["schema_version"] {
            guard let i = Int(manifestJSON: v) else {
                throw .badFile(path: path, reason: "schema_version is \(v), not a version number")
            }
            version = i
        } else {
            version = 1
        }
        guard let raw = manifest["configuration"] as? [String: Any] else {
            throw .badFile(path: path, reason: "has no 'configuration' (schema_version \(version))")
        }
        do {
            switch version {
            case 1: return try decode(try migrateVersion1(raw))
            case manifestSchemaVersion: return try decode(raw)
            default:
                let newer = version > manifestSchemaVersion ? ": the folder was written by a newer dlnsim" : ""
                throw ManifestProblem(
                    "schema_version \(version) is not one this dlnsim reads (1 to \(manifestSchemaVersion))\(newer)")
            }
        } catch {
            throw .badFile(
                path: path,
                reason: "its configuration cannot be read: \((error as? ManifestProblem)?.message ?? "\(error)")")
        }
    }

    /// A schema-version-2 "configuration": every key (or its absent group) must be there, and nothing else.
    static func decode(_ json: [String: Any], version: Int = manifestSchemaVersion) throws(ManifestProblem)
        -> Configuration
    {
        var c = Configuration()
        var expected: Set<String> = []
        for group in ConfigurationKeys.groups {
            guard let value = ManifestPath.get(json, group.path) else {
                throw ManifestProblem("schema_version \(version): the configuration has no '\(group.path)'")
            }
            if value is NSNull {
                group.remove(&c)
                expected.insert(group.path)
            } else {
                group.create(&c)
            }
        }
        for key in ConfigurationKeys.all {
            if let group = key.group, !group.isPresent(c) { continue }
            expected.insert(key.path)
            // Keys added to schema version 2 later are absent from the folders written before them.
            guard
                let value = ManifestPath.get(json, key.path)
                    ?? (Self.addedToVersion2.contains(key.path)
                        ? (Self.beforeAdded[key.path] ?? key.defaultValue ?? NSNull()) : nil)
            else {
                throw ManifestProblem(
                    "schema_version \(version): the configuration has no '\(key.path)' (it is never filled with a "
                        + "default)"
                )
            }
            guard key.decode(value, &c) else {
                throw ManifestProblem(
                    "schema_version \(version): '\(key.path)' is \(value is NSNull ? "null" : "\(value)"), not "
                        + "\(key.kind.words)\(key.optional ? " or null" : "")"
                )
            }
        }
        if let unknown = ManifestPath.leaves(json).first(where: { !expected.contains($0) }) {
            throw ManifestProblem("schema_version \(version): unknown configuration key '\(unknown)'")
        }
        return c
    }

    /// Moves a schema-version-1 configuration (Codable camelCase) to the YAML key paths of version 2.
    static func migrateVersion1(_ json: [String: Any]) throws(ManifestProblem) -> [String: Any] {
        var out: [String: Any] = [:]
        var known: Set<String> = []
        for group in ConfigurationKeys.groups {
            known.insert(group.legacyPath)
            let value = ManifestPath.get(json, group.legacyPath)
            if value == nil || value is NSNull { ManifestPath.set(&out, group.path, NSNull()) }
        }
        for key in ConfigurationKeys.all {
            known.insert(key.legacyPath)
            if let group = key.group, ManifestPath.get(out, group.path) is NSNull { continue }
            if let value = ManifestPath.get(json, key.legacyPath) {
                ManifestPath.set(&out, key.path, value)
            } else if addedToVersion2.contains(key.path) {
                ManifestPath.set(&out, key.path, beforeAdded[key.path] ?? key.defaultValue ?? NSNull())  // newer than 1
            } else if key.optional {
                ManifestPath.set(&out, key.path, NSNull())  // the Codable encoding leaves absent optionals out
            } else if addedToVersion2.contains(key.path), let value = key.defaultValue {
                ManifestPath.set(&out, key.path, value)  // a key added later: the old run had its default
            } else {
                throw ManifestProblem(
                    "schema_version 1 (no schema_version key): the configuration has no '\(key.legacyPath)' "
                        + "(\(key.path)); it is never filled with a default"
                )
            }
        }
        if let unknown = ManifestPath.leaves(json).first(where: { !known.contains($0) }) {
            throw ManifestProblem(
                "schema_version 1 (no schema_version key): the configuration key '\(unknown)' has no counterpart in "
                    + "this dlnsim"
            )
        }
        return out
    }
}

/// Why a manifest's configuration cannot be read.
struct ManifestProblem: Error {
    let message: String
    init(_ message: String) { self.message = message }
}

extension ConfigurationKey.Kind {
    var words: String {
        switch self {
        case .number: "a number"
        case .integer: "a whole number"
        case .text, .file: "a text"
        case .choice(let names): "one of \(names.joined(separator: ", "))"
        case .numbers: "a list of numbers"
        case .integers: "a list of whole numbers"
        case .choices(let names): "a list of \(names.joined(separator: ", "))"
        case .axisGroups: "a list of lists of grid axis names"
        case .flag: "true or false"
        }
    }
}

/// Dotted key paths in nested JSON objects.
enum ManifestPath {
    static func get(_ json: [String: Any], _ path: String) -> Any? {
        var node: Any = json
        for part in path.split(separator: ".") {
            guard let object = node as? [String: Any], let next = object[String(part)] else { return nil }
            node = next
        }
        return node
    }

    static func set(_ json: inout [String: Any], _ path: String, _ value: Any) {
        let parts = path.split(separator: ".").map(String.init)
        if parts.count == 1 {
            json[parts[0]] = value
            return
        }
        var child = json[parts[0]] as? [String: Any] ?? [:]
        set(&child, parts.dropFirst().joined(separator: "."), value)
        json[parts[0]] = child
    }

    /// The paths of every value that is not an object (an empty object counts as a value), sorted.
    static func leaves(_ json: [String: Any], prefix: String = "") -> [String] {
        json.keys.sorted().flatMap { key -> [String] in
            let path = prefix.isEmpty ? key : "\(prefix).\(key)"
            if let object = json[key] as? [String: Any], !object.isEmpty { return leaves(object, prefix: path) }
            return [path]
        }
    }
}

/// A JSON value as JSONDecoder reads it (doubles exact).
enum ManifestJSON: Decodable {
    case null
    case bool(Bool)
    case number(Double)
    case text(String)
    case list([ManifestJSON])
    case object([String: ManifestJSON])

    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() {
            self = .null
        } else if let b = try? c.decode(Bool.self) {
            self = .bool(b)
        } else if let d = try? c.decode(Double.self) {
            self = .number(d)
        } else if let s = try? c.decode(String.self) {
            self = .text(s)
        } else if let a = try? c.decode([ManifestJSON].self) {
            self = .list(a)
        } else {
            self = .object(try c.decode([String: ManifestJSON].self))
        }
    }

    /// As JSONSerialization would give it (NSNull for null), with Swift doubles.
    var value: Any {
        switch self {
        case .null: NSNull()
        case .bool(let b): b
        case .number(let d): d
        case .text(let s): s
        case .list(let a): a.map(\.value)
        case .object(let o): o.mapValues(\.value)
        }
    }
}
