import CYaml
import DLNModel
import Foundation

/// Walks a YAML text's events (libyaml's parser, linear in the text) before it is composed into a tree, and
/// refuses what would make composing or reading it blow up:
/// - a mapping key that is not a plain scalar (a list, a mapping or an alias): the YAML library hashes keys, and
///   an alias key that expands to a huge tree takes hours to hash;
/// - aliases that expand to more than `nodeLimit` values in all (the "billion laughs": nine anchors of nine
///   aliases each are under 400 bytes and 387 million values);
/// - nesting deeper than `depthLimit` (the tree is built recursively).
/// Syntax errors are left to the composer, which reports them with their line, column and an excerpt.
public enum YAMLGuard {
    /// Values (scalars and collections, every alias counted as the values it stands for) a configuration may hold.
    public static let nodeLimit = 1_000_000
    /// Levels of nested lists and mappings.
    public static let depthLimit = 200

    /// What a scan found: the values counted (aliases expanded) when it stopped, and the problem, if any.
    public struct Scan: Sendable {
        public var nodes = 0
        public var issue: ConfigIssue? = nil
    }

    private struct Frame {
        let isMapping: Bool
        let anchor: String?
        /// `nodes` when the collection started: its expanded size is `nodes` − this at its end.
        let start: Int
        /// In a mapping: whether the next node is a key.
        var expectingKey = true
        /// In a mapping: the last key read (for the path in messages).
        var key: String? = nil
    }

    public static func scan(_ text: String) -> Scan {
        var result = Scan()
        var parser = yaml_parser_t()
        guard yaml_parser_initialize(&parser) == 1 else { return result }
        defer { yaml_parser_delete(&parser) }
        var bytes = Array(text.utf8)
        var anchors: [String: Int] = [:]
        var stack: [Frame] = []
        func path() -> String { stack.compactMap(\.key).joined(separator: ".") }
        func refuse(_ line: Int, _ message: String) {
            result.issue = ConfigIssue(path(), "line \(line): \(message)")
        }
        /// A node has been read: it fills a key or a value slot of its parent (after a value, the key is done).
        func completed() {
            guard !stack.isEmpty, stack[stack.count - 1].isMapping else { return }
            stack[stack.count - 1].expectingKey.toggle()
            if stack[stack.count - 1].expectingKey { stack[stack.count - 1].key = nil }
        }
        bytes.withUnsafeMutableBufferPointer { buffer in
            yaml_parser_set_input_string(&parser, buffer.baseAddress, buffer.count)
            while result.issue == nil {
                var event = yaml_event_t()
                guard yaml_parser_parse(&parser, &event) == 1 else { return }  // the composer reports it
                defer { yaml_event_delete(&event) }
                let line = Int(event.start_mark.line) + 1
                let isKey = stack.last.map { $0.isMapping && $0.expectingKey } ?? false
                switch event.type {
                case YAML_STREAM_END_EVENT:
                    return
                case YAML_SCALAR_EVENT:
                    result.nodes += 1
                    let value = String(cString: event.data.scalar.value)
                    if let a = event.data.scalar.anchor { anchors[String(cString: a)] = 1 }
                    if isKey { stack[stack.count - 1].key = value }
                    completed()
                case YAML_ALIAS_EVENT:
                    let name = String(cString: event.data.alias.anchor)
                    if isKey {
                        refuse(line, "a mapping key must be a plain name, got the alias *\(name)")
                        return
                    }
                    result.nodes += anchors[name] ?? 1
                    completed()
                case YAML_SEQUENCE_START_EVENT, YAML_MAPPING_START_EVENT:
                    let isMapping = event.type == YAML_MAPPING_START_EVENT
                    if isKey {
                        refuse(line, "a mapping key must be a plain name, got a \(isMapping ? "mapping" : "list")")
                        return
                    }
                    guard stack.count < depthLimit else {
                        refuse(line, "lists and mappings nested more than \(depthLimit) levels deep")
                        return
                    }
                    let anchor = isMapping ? event.data.mapping_start.anchor : event.data.sequence_start.anchor
                    stack.append(
                        Frame(isMapping: isMapping, anchor: anchor.map { String(cString: $0) }, start: result.nodes))
                    result.nodes += 1
                case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
                    guard let frame = stack.popLast() else { return }
                    if let a = frame.anchor { anchors[a] = result.nodes - frame.start }
                    completed()
                default:
                    break
                }
                if result.nodes > nodeLimit {
                    refuse(
                        line,
                        "the aliases (*name) so far expand to more than \(nodeLimit) values (an alias bomb?); a "
                            + "configuration holds a few hundred")
                    return
                }
            }
        }
        return result
    }
}
