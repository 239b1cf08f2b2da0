import Foundation

extension Configuration {
    /// The resolved configuration as a YAML file (config.yaml in the output folder): every key of
    /// `ConfigurationKeys.all` in the file's spelling and order, defaults included, null where a value is absent.
    /// `dlnsim run config.yaml` repeats the run: the numbers are written as Swift prints them (the shortest text that
    /// reads back to the same double).
    public var resolvedYAML: String {
        let order = ConfigurationKeys.all.map(\.path) + ConfigurationKeys.groups.map(\.path)
        var text =
            "# The resolved configuration of this run (every key, defaults included); `dlnsim run config.yaml` "
            + "repeats it.\n"
        Self.emit(manifestValue, prefix: "", indent: "", order: order, omit: omitted, into: &text)
        return text
    }

    /// Keys whose value follows from others (and that a file may not give beside them): written as comments.
    var omitted: Set<String> {
        var out: Set<String> = []
        if problem.files != nil {
            out.formUnion(
                [
                    "problem.d", "problem.n", "problem.delta", "problem.design_variance", "problem.teacher",
                    "problem.noise"
                ])
        } else {
            out.insert(problem.delta != nil ? "problem.n" : "problem.delta")
        }
        if training.horizon != nil { out.insert("training.steps") }
        if training.update != .flow { out.insert("training.flow") }
        let axes: [(Bool, [String])] = [
            (grid.d != nil, ["problem.d"]), (grid.delta != nil, ["problem.delta", "problem.n"]),
            (grid.noise != nil, ["problem.noise"]), (grid.depth != nil, ["model.depth"]),
            (grid.parameterization != nil, ["model.parameterization"]), (grid.update != nil, ["training.update"])
        ]
        for (set, paths) in axes where set { out.formUnion(paths) }
        // The parameters of the other schedules.
        let takes = ConfigurationKeys.scheduleParameters[training.schedule.name] ?? []
        for key in ["tau", "power", "gamma", "steps", "floor", "every", "at"] where !takes.contains(key) {
            out.insert("training.schedule." + key)
        }
        return out
    }

    /// Writes a mapping in block style, its keys in the order their first path appears in `order`.
    static func emit(
        _ map: [String: Any], prefix: String, indent: String, order: [String], omit: Set<String>,
        into text: inout String
    ) {
        func rank(_ key: String) -> Int {
            let path = prefix.isEmpty ? key : "\(prefix).\(key)"
            return order.firstIndex { $0 == path || $0.hasPrefix(path + ".") } ?? order.count
        }
        for key in map.keys.sorted(by: { (rank($0), $0) < (rank($1), $1) }) {
            let value = map[key]!
            let path = prefix.isEmpty ? key : "\(prefix).\(key)"
            if omit.contains(path) || value is NSNull {
                // Absent (null), or fixed by another key: a comment, so that every key is listed.
                text += "\(indent)# \(key): \(flow(value))\n"
            } else if let child = value as? [String: Any], !child.isEmpty {
                text += "\(indent)\(key):\n"
                emit(child, prefix: path, indent: indent + "  ", order: order, omit: omit, into: &text)
            } else {
                text += "\(indent)\(key): \(flow(value))\n"
            }
        }
    }

    /// A value in YAML flow style (JSON-compatible): numbers exact, texts double-quoted.
    static func flow(_ value: Any) -> String {
        switch value {
        case is NSNull: return "null"
        case let b as Bool: return b ? "true" : "false"
        case let i as Int: return "\(i)"
        case let d as Double: return "\(d)"
        case let s as String: return quoted(s)
        case let list as [Any]: return "[" + list.map(flow).joined(separator: ", ") + "]"
        case let map as [String: Any]:
            return "{" + map.keys.sorted().map { "\(quoted($0)): \(flow(map[$0]!))" }.joined(separator: ", ") + "}"
        default: return quoted("\(value)")
        }
    }

    static func quoted(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            default:
                if u.value < 0x20 { out += String(format: "\\x%02X", u.value) } else { out.unicodeScalars.append(u) }
            }
        }
        return out + "\""
    }
}
