import DLNModel
import DLNRun
import Foundation
import Testing

/// Configuration files built to make the reader slow: alias bombs, non-scalar keys, thousands of unknown keys.
/// Each is refused (or reported) with a message, and the work done is bounded by a counted limit.
@Suite struct YAMLGuardTests {
    /// The "billion laughs": nine anchors of nine aliases each (under 400 bytes, 9⁹ = 387 million values).
    static func laughs(_ last: String) -> String {
        var lines = ["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
        var previous = "a"
        for name in ["b", "c", "d", "e", "f", "g", "h", "i"] {
            lines.append(
                "\(name): &\(name) [" + Array(repeating: "*\(previous)", count: 9).joined(separator: ",") + "]")
            previous = name
        }
        return lines.joined(separator: "\n") + "\n" + last
    }

    static func issues(_ yaml: String) -> [ConfigIssue] {
        do {
            _ = try Configuration.parse(yaml: yaml, file: "c.yaml")
            Issue.record("accepted: \(yaml.prefix(200))")
        } catch {
            guard case .invalidConfiguration(let file, let issues) = error else {
                Issue.record("\(error)")
                return []
            }
            #expect(file == "c.yaml")
            return issues
        }
        return []
    }

    /// The bomb used as a mapping key took ~17 minutes (the YAML library hashes every key, here 387 million
    /// values); it is now refused while its events are read, after at most 2 × `nodeLimit` values are counted.
    @Test func aliasBombIsRefusedAfterACountedNumberOfValues() {
        let bomb = Self.laughs("*i : 1\n")
        #expect(bomb.utf8.count < 400)
        let scan = YAMLGuard.scan(bomb)
        #expect(scan.nodes <= 2 * YAMLGuard.nodeLimit)
        let message = scan.issue?.message ?? ""
        #expect(message.contains("expand to more than 1000000 values (an alias bomb?)"), "\(message)")
        #expect(message.hasPrefix("line 7:"), "\(message)")
        let issues = Self.issues(bomb)
        #expect(issues.count == 1 && issues[0].message == message)
        // The same bomb as a value (never hashed, but expanded by anything that walks the tree) is refused too.
        #expect(YAMLGuard.scan(Self.laughs("seeds: 1\n")).issue?.message.contains("alias bomb") == true)
        // Aliases in moderation are fine.
        #expect(YAMLGuard.scan("x: &x [1, 2]\ny: *x\n").issue == nil)
    }

    /// A list, a mapping or an alias as a key: refused before the tree is built, naming the line and the mapping.
    @Test(arguments: [
        ("problem:\n  ? [a, b]\n  : 1\n", "problem", "line 2: a mapping key must be a plain name, got a list"),
        ("{[a]: 1}\n", "", "line 1: a mapping key must be a plain name, got a list"),
        ("grid:\n  ? {a: 1}\n  : 2\n", "grid", "line 2: a mapping key must be a plain name, got a mapping"),
        ("x: &x d\nproblem: {*x : 5}\n", "problem", "line 2: a mapping key must be a plain name, got the alias *x")
    ])
    func nonScalarKeysAreRefused(yaml: String, path: String, message: String) {
        let issues = Self.issues(yaml)
        #expect(issues.count == 1)
        #expect(issues.first?.path == path)
        #expect(issues.first?.message == message)
    }

    /// 40 000 unknown keys took 39 s (a linear search per key, twice): every one is reported, with its line.
    @Test func manyUnknownKeysAreAllReported() {
        let count = 40_000
        let yaml = (0..<count).map { "k\($0): \($0)" }.joined(separator: "\n")
        let issues = Self.issues(yaml)
        #expect(issues.count == count)
        #expect(issues.last?.path == "k\(count - 1)")
        #expect(issues.last?.message.hasPrefix("unknown key (line \(count));") == true)
    }
}
