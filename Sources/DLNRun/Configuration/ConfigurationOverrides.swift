import DLNModel
import Foundation
import Yams

/// One `key=value` of the command line: a dotted key path of the configuration and a YAML value (a scalar, a flow
/// list `[0.01, 0.1]`, `logspace(-3, 0, 4)`), applied to the file's YAML tree before it is validated.
public struct ConfigOverride: Sendable, Equatable {
    /// The dotted key path (`grid.alpha`).
    public let path: String
    /// The value as written.
    public let value: String

    /// Parses `key=value`; a text without `=`, or with an empty or malformed key path, is refused.
    public init(parsing text: String) throws(DLNError) {
        guard let eq = text.firstIndex(of: "=") else {
            throw .invalidConfiguration(
                file: "the command line",
                issues: [
                    ConfigIssue(
                        "",
                        "'\(text)' is not an override: write key=value with a dotted key path, as in seeds=256 or "
                            + "grid.alpha=[0.01,0.1]")
                ])
        }
        let key = String(text[..<eq]).trimmingCharacters(in: .whitespaces)
        let parts = key.split(separator: ".", omittingEmptySubsequences: false)
        guard !key.isEmpty,
            parts.allSatisfy({ !$0.isEmpty && $0.allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" } })
        else {
            throw .invalidConfiguration(
                file: "the command line",
                issues: [
                    ConfigIssue(
                        "", "'\(text)': the key before '=' must be a dotted key path such as grid.alpha, got '\(key)'")
                ])
        }
        path = key
        value = String(text[text.index(after: eq)...])
    }

    /// Whether a command-line argument reads as an override (it holds `=`) rather than a file name.
    public static func looksLikeOverride(_ text: String) -> Bool { text.contains("=") }
}

extension Configuration {
    /// Reads and validates a configuration's text with the command line's overrides applied to its YAML tree:
    /// problems in an overridden value carry its key path and "(command line)". Returns the configuration and the
    /// effective text: the text itself when nothing is overridden, else the overridden tree written as YAML (what a
    /// resumed run reads back to repeat this one).
    public static func load(text: String, path: String, overrides: [ConfigOverride]) throws(DLNError) -> (
        configuration: Configuration, text: String
    ) {
        if overrides.isEmpty { return (try load(text: text, path: path), text) }
        let (root, effective) = try overridden(text: text, path: path, overrides: overrides)
        return (try load(root: root, text: effective, path: path), effective)
    }

    /// A configuration's YAML tree with the command line's overrides applied (overridden values carry no line, so
    /// their problems say "(command line)"), and that tree written as YAML.
    static func overridden(text: String, path: String, overrides: [ConfigOverride]) throws(DLNError) -> (
        root: Node, text: String
    ) {
        if let issue = YAMLGuard.scan(text).issue { throw .invalidConfiguration(file: path, issues: [issue]) }
        var root: Node
        do { root = try Yams.compose(yaml: text) ?? .mapping(.init([])) } catch {
            throw .invalidConfiguration(file: path, issues: [YAMLSyntax.issue(for: error, text: text)])
        }
        var issues: [ConfigIssue] = []
        for o in overrides {
            if let issue = YAMLGuard.scan(o.value).issue {
                issues.append(ConfigIssue(o.path, "\(issue.message) (command line)"))
                continue
            }
            let value: Node
            do { value = try Yams.compose(yaml: o.value).map(withoutMarks) ?? .scalar(.init("null")) } catch {
                issues.append(ConfigIssue(o.path, "the value '\(o.value)' is not YAML (command line): \(error)"))
                continue
            }
            let parts = o.path.split(separator: ".").map(String.init)
            switch setting(root, parts[...], to: value, prefix: "") {
            case .success(let node): root = node
            case .failure(let issue): issues.append(issue)
            }
        }
        if !issues.isEmpty { throw .invalidConfiguration(file: path, issues: issues) }
        let effective: String
        do { effective = try Yams.serialize(node: root) } catch {
            throw .invalidConfiguration(
                file: path, issues: [ConfigIssue("", "cannot write the overridden YAML: \(error)")])
        }
        return (root, effective)
    }

    /// The node with every mark removed: values from the command line have no line (`YAMLSection.at` says so).
    static func withoutMarks(_ node: Node) -> Node {
        switch node {
        case .scalar(var s):
            s.mark = nil
            return .scalar(s)
        case .sequence(let s): return .sequence(.init(s.map(withoutMarks), s.tag, s.style, nil))
        case .mapping(let m):
            return .mapping(.init(m.map { (withoutMarks($0.key), withoutMarks($0.value)) }, m.tag, m.style, nil))
        case .alias: return node
        }
    }

    /// A tree with an override applied, or why it cannot be.
    enum Setting {
        case success(Node)
        case failure(ConfigIssue)
    }

    /// `node` with the value at `parts` replaced by `value` (missing mappings on the way are created).
    static func setting(_ node: Node?, _ parts: ArraySlice<String>, to value: Node, prefix: String)
        -> Setting
    {
        guard let key = parts.first else { return .success(value) }
        let path = prefix.isEmpty ? key : "\(prefix).\(key)"
        var pairs: [(Node, Node)] = []
        var tag = Tag(.implicit)
        var style = Node.Mapping.Style.any
        var mark: Mark? = nil
        switch node {
        case .none: break
        case .scalar(let s) where s.style == .plain && ["~", "null", "Null", "NULL", ""].contains(s.string): break
        case .mapping(let m):
            pairs = Array(m)
            (tag, style, mark) = (m.tag, m.style, m.mark)
        case .some(let other):
            return .failure(
                ConfigIssue(
                    prefix,
                    "is \(YAMLSection.kind(other))\(YAMLSection.at(other)), not a mapping: the command line cannot set "
                        + "\(prefix).\(parts.joined(separator: ".")) inside it"))
        }
        let i = pairs.firstIndex { $0.0.string == key }
        switch setting(i.map { pairs[$0].1 }, parts.dropFirst(), to: value, prefix: path) {
        case .failure(let issue): return .failure(issue)
        case .success(let child):
            if let i { pairs[i].1 = child } else { pairs.append((.scalar(.init(key)), child)) }
        }
        return .success(Node.mapping(Node.Mapping(pairs, tag, style, mark)))
    }
}
