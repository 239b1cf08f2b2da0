import DLNModel
import DLNTheory
import Foundation
import Yams

extension Configuration {
    /// Parses and validates YAML text. Relative file paths are resolved against `baseDirectory`.
    public static func parse(yaml text: String, file: String = "<config>", baseDirectory: String = ".") throws(DLNError)
        -> Configuration
    {
        // Before the tree is built: non-scalar keys, alias bombs and deep nesting (linear in the text).
        if let issue = YAMLGuard.scan(text).issue { throw .invalidConfiguration(file: file, issues: [issue]) }
        let root: Node?
        do { root = try Yams.compose(yaml: text) } catch {
            throw .invalidConfiguration(file: file, issues: [YAMLSyntax.issue(for: error, text: text)])
        }
        return try parse(root: root, text: text, file: file, baseDirectory: baseDirectory)
    }

    /// Validates a composed YAML tree (`text` is only read to recognise TOML).
    static func parse(root: Node?, text: String, file: String, baseDirectory: String) throws(DLNError)
        -> Configuration
    {
        if let root, root.mapping == nil {
            let toml = YAMLSyntax.looksLikeTOML(text) ? "; " + YAMLSyntax.tomlAdvice : ""
            throw .invalidConfiguration(
                file: file,
                issues: [
                    ConfigIssue(
                        "",
                        "the configuration must be a YAML mapping of keys (name, problem, model, training, grid, "
                            + "seeds, record, device) to values, got "
                            + "\(YAMLSection.kind(root))\(YAMLSection.at(root))\(toml)"
                    )
                ])
        }
        let reader = ConfigurationReader(root: root, baseDirectory: baseDirectory)
        var c = Configuration()
        reader.readKeys(into: &c)
        ConfigurationRules.apply(reader, to: &c)
        reader.finish()
        if !reader.sink.issues.isEmpty { throw .invalidConfiguration(file: file, issues: reader.sink.issues) }
        return c
    }
}

/// Reads a configuration's YAML by walking `ConfigurationKeys.all`: every key from its section, with its check.
/// Problems are collected (`sink`), each with its key path and line; keys no entry names are reported by `finish`.
final class ConfigurationReader {
    let sink = IssueSink()
    let top: YAMLSection
    let baseDirectory: String
    private var sections: [String: YAMLSection] = [:]
    private var opened: [String] = []
    /// Groups given as a scalar (`theory: dmft`): their keys are not read.
    private var scalarGroups: Set<String> = []

    init(root: Node?, baseDirectory: String) {
        top = YAMLSection(path: "", node: root ?? .mapping(.init([])), sink: sink)
        sections[""] = top
        self.baseDirectory = baseDirectory
    }

    /// The section at a dotted path (opened on first use: its key is then known to its parent).
    func section(_ path: String) -> YAMLSection {
        if let s = sections[path] { return s }
        let parts = path.split(separator: ".")
        let parent = section(parts.dropLast().joined(separator: "."))
        let s = parent.section(String(parts.last!))
        sections[path] = s
        opened.append(path)
        return s
    }

    /// Reads every key of the table; an optional group (problem.files, theory) is created when given.
    func readKeys(into c: inout Configuration) {
        for group in ConfigurationKeys.groups {
            let parts = group.path.split(separator: ".")
            let parent = section(parts.dropLast().joined(separator: "."))
            guard let node = parent.node(String(parts.last!)) else { continue }
            if let scalar = group.scalar, case .scalar(let s) = node {
                scalarGroups.insert(group.path)
                if s.string == scalar.value {
                    group.create(&c)
                } else {
                    sink.add(group.path, "\(scalar.message), got '\(s.string)'")
                }
                continue
            }
            group.create(&c)
        }
        // `training.schedule: NAME` stands for `{name: NAME}`.
        let scheduleByName: Bool = {
            if case .scalar = section("training").node("schedule") { return true }
            return false
        }()
        for key in ConfigurationKeys.all {
            if let group = key.group, scalarGroups.contains(group.path) { continue }
            if scheduleByName && key.section == "training.schedule" {
                if key.name == "name" { key.read(section("training"), "schedule", &c, baseDirectory) }
                continue
            }
            key.read(section(key.section), key.name, &c, baseDirectory)
        }
    }

    /// Whether the group at `path` was given as a mapping (its section was read).
    func readAsMapping(_ path: String) -> Bool { !scalarGroups.contains(path) && sections[path] != nil }

    /// Reports the keys nobody asked for, innermost sections first.
    func finish() {
        for path in opened.reversed() { sections[path]!.finish() }
        top.finish()
    }
}
