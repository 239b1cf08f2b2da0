import DLNModel
import DLNTheory
import Foundation
import Yams

/// Collects every configuration problem, so that all of them are reported at once.
final class IssueSink {
    var issues: [ConfigIssue] = []
    func add(_ path: String, _ message: String) { issues.append(ConfigIssue(path, message)) }
}

/// A typed, validating view of one YAML mapping. Every accessor records a problem (with its key path and
/// line) instead of throwing, and `finish()` reports keys that no accessor asked for.
final class YAMLSection {
    let path: String
    let sink: IssueSink
    private var entries: [(key: String, node: Node)] = []
    /// The first entry of each key (lookups and the duplicate check stay linear in the number of keys).
    private var index: [String: Int] = [:]
    private var used: Set<String> = []

    init(path: String, node: Node?, sink: IssueSink) {
        self.path = path
        self.sink = sink
        guard let node else { return }
        guard case .mapping(let mapping) = node else {
            sink.add(path, "must be a mapping of keys to values\(Self.at(node))")
            return
        }
        for (k, v) in mapping {
            guard let key = k.string else {
                sink.add(path, "keys must be strings\(Self.at(k))")
                continue
            }
            if index[key] != nil {
                sink.add(child(key), "appears twice\(Self.at(k))")
            } else {
                index[key] = entries.count
            }
            entries.append((key, v))
        }
    }

    /// Where a node is: its line in the file, or the command line (values set by `key=value` have no mark).
    static func at(_ node: Node) -> String { node.mark.map { " (line \($0.line))" } ?? " (command line)" }

    /// What kind of YAML value a node is, for messages ("got a list").
    static func kind(_ node: Node) -> String {
        switch node {
        case .mapping: "a mapping"
        case .sequence: "a list"
        case .scalar(let s): "'\(s.string)'"
        case .alias: "an alias"
        }
    }

    func child(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    /// The raw node of a key, marking the key as known.
    func node(_ key: String) -> Node? {
        used.insert(key)
        guard let node = index[key].map({ entries[$0].node }) else { return nil }
        if case .scalar(let s) = node, s.style == .plain, ["~", "null", "Null", "NULL", ""].contains(s.string) {
            return nil
        }
        return node
    }

    func has(_ key: String) -> Bool { index[key] != nil }

    /// Whether the mapping under `section` has `key` (without marking anything as read).
    func sectionHas(_ section: String, _ key: String) -> Bool {
        guard let node = index[section].map({ entries[$0].node }), case .mapping(let m) = node else {
            return false
        }
        return m.contains { $0.key.string == key }
    }

    func section(_ key: String) -> YAMLSection { YAMLSection(path: child(key), node: node(key), sink: sink) }

    /// A finite number, or `nil` with a recorded problem.
    func number(_ node: Node, path: String) -> Double? {
        guard case .scalar(let s) = node else {
            sink.add(path, "must be a number, got \(Self.kind(node))\(Self.at(node))")
            return nil
        }
        let text = s.string.trimmingCharacters(in: .whitespaces)
        let lowered = text.lowercased()
        if [".nan", "nan"].contains(lowered) {
            sink.add(path, "must be a finite number, got NaN\(Self.at(node))")
            return nil
        }
        if [".inf", "+.inf", "-.inf", "inf", "-inf", "infinity", "-infinity"].contains(lowered) {
            sink.add(path, "must be a finite number, got \(text)\(Self.at(node))")
            return nil
        }
        guard let v = Double(text), v.isFinite else {
            sink.add(path, "must be a number, got '\(text)'\(Self.at(node))")
            return nil
        }
        return v
    }

    func double(_ key: String, default value: Double, _ check: (Double) -> String? = { _ in nil }) -> Double {
        guard let n = node(key) else { return value }
        guard let v = number(n, path: child(key)) else { return value }
        if let problem = check(v) {
            sink.add(child(key), "\(problem), got \(v)\(Self.at(n))")
            return value
        }
        return v
    }

    func int(_ key: String, default value: Int, _ check: (Int) -> String? = { _ in nil }) -> Int {
        guard let n = node(key) else { return value }
        guard let v = number(n, path: child(key)) else { return value }
        guard v == v.rounded() else {
            sink.add(child(key), "must be a whole number, got \(v)\(Self.at(n))")
            return value
        }
        guard abs(v) < 9e15 else {
            sink.add(child(key), "is too large, got \(v) (at most 9e15)\(Self.at(n))")
            return value
        }
        let i = Int(v)
        if let problem = check(i) {
            sink.add(child(key), "\(problem), got \(i)\(Self.at(n))")
            return value
        }
        return i
    }

    func optionalInt(_ key: String, _ check: (Int) -> String? = { _ in nil }) -> Int? {
        has(key)
            ? int(key, default: 0, check)
            : {
                used.insert(key)
                return nil
            }()
    }

    func bool(_ key: String, default value: Bool) -> Bool {
        guard let n = node(key) else { return value }
        guard let b = n.bool else {
            sink.add(child(key), "must be true or false\(Self.at(n))")
            return value
        }
        return b
    }

    func string(_ key: String) -> String? {
        guard let n = node(key) else { return nil }
        guard case .scalar(let s) = n else {
            sink.add(child(key), "must be a text value, got \(Self.kind(n))\(Self.at(n))")
            return nil
        }
        return s.string
    }

    func choice<E: RawRepresentable & CaseIterable>(_ key: String, default value: E) -> E where E.RawValue == String {
        guard let n = node(key) else { return value }
        let allowed = E.allCases.map(\.rawValue)
        guard case .scalar(let s) = n, let v = E(rawValue: s.string) else {
            sink.add(child(key), "must be one of \(allowed.joined(separator: ", ")), got \(Self.kind(n))\(Self.at(n))")
            return value
        }
        return v
    }

    /// A named choice, or nil (absent, or a recorded problem).
    func choiceValue<E: RawRepresentable & CaseIterable>(_ key: String) -> E? where E.RawValue == String {
        guard let n = node(key) else { return nil }
        guard case .scalar(let s) = n, let v = E(rawValue: s.string) else {
            sink.add(
                child(key),
                "must be one of \(E.allCases.map(\.rawValue).joined(separator: ", ")), got \(Self.kind(n))\(Self.at(n))"
            )
            return nil
        }
        return v
    }

    /// A named choice or a list of them (a grid axis), or nil (absent, or a recorded problem).
    func choiceList<E: RawRepresentable & CaseIterable>(_ key: String) -> [E]? where E.RawValue == String {
        guard let node = node(key) else { return nil }
        let items: [Node]
        if case .sequence(let seq) = node { items = Array(seq) } else { items = [node] }
        var out: [E] = []
        for (i, item) in items.enumerated() {
            guard case .scalar(let sc) = item, let v = E(rawValue: sc.string) else {
                sink.add(
                    "\(child(key))\(items.count > 1 ? "[\(i)]" : "")",
                    "must be one of \(E.allCases.map(\.rawValue).joined(separator: ", ")), got "
                        + "\(Self.kind(item))\(Self.at(item))"
                )
                continue
            }
            out.append(v)
        }
        return out.isEmpty || out.count != items.count ? nil : out
    }

    /// A number or a list of numbers (a grid axis).
    func numbers(_ key: String, default value: [Double], _ check: (Double) -> String? = { _ in nil }) -> [Double] {
        guard let n = node(key) else { return value }
        if case .scalar(let s) = n, let spaced = Spacing(s.string) {
            switch spaced.values {
            case .failure(let problem):
                sink.add(child(key), "\(problem)\(Self.at(n))")
                return value
            case .success(let values):
                var bad = false
                for (i, v) in values.enumerated() {
                    if let problem = check(v) {
                        sink.add("\(child(key))[\(i)]", "\(problem), got \(v) (from \(s.string))\(Self.at(n))")
                        bad = true
                    }
                }
                return bad ? value : values
            }
        }
        let items: [(Node, String)]
        if case .sequence(let seq) = n {
            items = seq.enumerated().map { ($1, "\(child(key))[\($0)]") }
            if items.isEmpty {
                sink.add(child(key), "must list at least one value\(Self.at(n))")
                return value
            }
        } else {
            items = [(n, child(key))]
        }
        var out: [Double] = []
        for (item, p) in items {
            guard let v = number(item, path: p) else { continue }
            if let problem = check(v) {
                sink.add(p, "\(problem), got \(v)\(Self.at(item))")
                continue
            }
            out.append(v)
        }
        return out.count == items.count ? out : value
    }

    /// Reports keys nobody asked for, suggesting the nearest known key.
    func finish(known extra: [String] = []) {
        let known = used.union(extra)
        let listed = known.sorted()
        let list = listed.joined(separator: ", ")
        for (key, node) in entries where !known.contains(key) {
            // The nearest known key (edit distance ≤ 3), computed once per unknown key.
            let nearest = listed.map { ($0, editDistance($0, key, limit: 3)) }.min { $0.1 < $1.1 }
            let hint = nearest.flatMap { $0.1 <= 3 ? " (did you mean '\($0.0)'?)" : nil } ?? ""
            sink.add(child(key), "unknown key\(hint)\(Self.at(node)); known keys here: \(list)")
        }
    }
}

/// The edit distance of two texts (on their UTF-8 bytes), or `limit + 1` as soon as it is known to exceed `limit`.
func editDistance(_ a: String, _ b: String, limit: Int = .max) -> Int {
    let a = Array(a.utf8)
    let b = Array(b.utf8)
    if abs(a.count - b.count) > limit { return limit + 1 }
    if a.isEmpty || b.isEmpty { return max(a.count, b.count) }
    var row = [Int](repeating: 0, count: b.count + 1)
    for j in 0...b.count { row[j] = j }
    for i in 1...a.count {
        var prev = row[0]
        row[0] = i
        var best = i
        for j in 1...b.count {
            let cur = row[j]
            row[j] = min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] == b[j - 1] ? 0 : 1))
            best = min(best, row[j])
            prev = cur
        }
        if best > limit { return limit + 1 }
    }
    return row[b.count]
}

/// Turns what the YAML parser says into one issue a researcher can act on: the line and column, the
/// problem in words, and the line itself with a caret under the spot.
enum YAMLSyntax {
    static func issue(for error: any Error, text: String) -> ConfigIssue {
        let toml = looksLikeTOML(text) ? "\n    " + tomlAdvice : ""
        guard let error = error as? YamlError else { return ConfigIssue("", "malformed YAML: \(error)\(toml)") }
        switch error {
        case .scanner(let context, let problem, let mark, _), .parser(let context, let problem, let mark, _),
            .composer(let context, let problem, let mark, _):
            let during = context.map { " (\($0.text) at line \($0.mark.line), column \($0.mark.column))" } ?? ""
            return ConfigIssue(
                "",
                "malformed YAML at line \(mark.line), column \(mark.column): \(problem)\(during)"
                    + excerpt(text, line: mark.line, column: mark.column) + toml)
        case .reader(let problem, let offset, _, _):
            let (line, column) = offset.map { position(text, characterOffset: $0) } ?? (0, 0)
            return ConfigIssue(
                "",
                "not YAML text at line \(line), column \(column): \(problem)"
                    + excerpt(text, line: line, column: column))
        case .duplicatedKeysInMapping(let duplicates, let context):
            // The parser names the keys but not where they are: find their paths and lines in the text.
            let found = blockKeyPaths(Set(duplicates), in: text)
            let byPath = Dictionary(grouping: found, by: \.path)
            if byPath.values.contains(where: { $0.count > 1 }) {
                let repeated = byPath.filter { $0.value.count > 1 }.sorted { $0.value[0].line < $1.value[0].line }
                return ConfigIssue(
                    repeated[0].key,
                    "appears more than once (lines "
                        + "\(repeated[0].value.map { String($0.line) }.joined(separator: ", "))): give each key once"
                )
            }
            let names = duplicates.sorted().map { "'\($0)'" }.joined(separator: ", ")
            return ConfigIssue(
                "",
                "the key \(names) appears more than once in the mapping at line \(context.mark.line): give each key "
                    + "once"
            )
        default:
            return ConfigIssue("", "malformed YAML: \(error)")
        }
    }

    static let tomlAdvice =
        "this looks like TOML (key = value, [section]); dlnsim configurations are YAML: write `key: value`, and a "
        + "section as `problem:` followed by its keys indented (see examples/quickstart.yaml)"

    /// True when the text reads as TOML or INI: `[section]` headers followed by `key = value` lines.
    static func looksLikeTOML(_ text: String) -> Bool {
        text.split(whereSeparator: \.isNewline).contains { raw in
            let line = raw.trimmingCharacters(in: .whitespaces)
            guard !line.hasPrefix("#"), let eq = line.firstIndex(of: "="), !line[..<eq].contains(":") else {
                return false
            }
            let key = line[..<eq].trimmingCharacters(in: .whitespaces)
            return !key.isEmpty && key.allSatisfy { $0.isLetter || $0.isNumber || "_-.\"".contains($0) }
        }
    }

    /// The line `line` (1-based) of the text and a caret under `column`, indented under the message.
    static func excerpt(_ text: String, line: Int, column: Int) -> String {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        guard line >= 1, line <= lines.count else { return "" }
        let content = lines[line - 1].replacingOccurrences(of: "\t", with: "→")
        return "\n      \(content.prefix(160))\n      " + String(repeating: " ", count: max(0, min(column - 1, 160)))
            + "^"
    }

    static func position(_ text: String, characterOffset: Int) -> (line: Int, column: Int) {
        var line = 1
        var column = 1
        for c in text.prefix(characterOffset) {
            if c == "\n" {
                line += 1
                column = 1
            } else {
                column += 1
            }
        }
        return (line, column)
    }

    /// Where the `keys` appear as block-style keys (`key:` at the start of a line): their dotted paths, found from
    /// the indentation of the keys above them, and their lines (one pass over the text).
    static func blockKeyPaths(_ keys: Set<String>, in text: String) -> [(key: String, path: String, line: Int)] {
        var stack: [(indent: Int, key: String)] = []
        var out: [(key: String, path: String, line: Int)] = []
        for (i, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let indent = raw.prefix(while: { $0 == " " }).count
            let body = raw.dropFirst(indent)
            guard let colon = body.firstIndex(of: ":"), !body.hasPrefix("#"), !body.hasPrefix("-") else { continue }
            let after = body[body.index(after: colon)...]
            guard after.isEmpty || after.first == " " || after.first == "\t" else { continue }
            let name = body[..<colon].trimmingCharacters(in: .whitespaces).trimmingCharacters(
                in: CharacterSet(charactersIn: "'\""))
            while let top = stack.last, top.indent >= indent { stack.removeLast() }
            if keys.contains(name) { out.append((name, (stack.map(\.key) + [name]).joined(separator: "."), i + 1)) }
            stack.append((indent, name))
        }
        return out
    }
}
