import Foundation
import Testing

/// The shipped text (Sources, Kernels, docs, examples, Benchmarks, README.md) stands on its own: no paths into the
/// development workspace (`../shared`), no section references into the external theory notes (`theory.md §…`; the
/// repository's own docs/theory.md is linked as `docs/theory.md`), no references to the project's issue tracker
/// (`Issue 12`), and no remarks about how it was developed (`this session`, `was lent`, `sessions that`).
@Suite struct ProductTextTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static let folders = ["Sources", "Kernels", "docs", "examples", "Benchmarks"]
    static let files = ["README.md"]

    /// (what it is, pattern).
    static let rules: [(String, String)] = [
        ("path into the workspace", #"\.\./shared"#),
        ("external theory notes", #"theory\.md §"#),
        ("issue reference", #"[Ii]ssue [0-9]+"#),
        ("development circumstance", #"(?i)this session|was lent|sessions that"#),
    ]

    /// Every regular file under the folders (hidden entries skipped), and the single files; paths relative to the root.
    static func productFiles() -> [String] {
        var paths: [String] = []
        let fm = FileManager.default
        for folder in folders {
            let base = root.appendingPathComponent(folder)
            guard let walker = fm.enumerator(at: base, includingPropertiesForKeys: [.isRegularFileKey], options: [.skipsHiddenFiles]) else { continue }
            for case let url as URL in walker where (try? url.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true {
                paths.append(folder + "/" + String(url.standardizedFileURL.path.dropFirst(base.standardizedFileURL.path.count + 1)))
            }
        }
        for file in files where fm.fileExists(atPath: root.appendingPathComponent(file).path) { paths.append(file) }
        return paths.sorted()
    }

    @Test func productTextHasNoDevelopmentLeaks() throws {
        let regexes = try Self.rules.map { ($0.0, try NSRegularExpression(pattern: $0.1)) }
        let paths = Self.productFiles()
        #expect(paths.contains("README.md") && paths.contains { $0.hasPrefix("Sources/") }, "the walk found the product text under \(Self.root.path)")
        var findings: [String] = []
        var scanned = 0
        for path in paths {
            guard let data = FileManager.default.contents(atPath: Self.root.appendingPathComponent(path).path),
                  !data.contains(0), let text = String(data: data, encoding: .utf8) else { continue }  // binary files
            scanned += 1
            for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                let line = String(line)
                let range = NSRange(line.startIndex..., in: line)
                for (what, regex) in regexes {
                    for match in regex.matches(in: line, range: range) {
                        let found = Range(match.range, in: line).map { String(line[$0]) } ?? ""
                        findings.append("\(path):\(number + 1): \(what) '\(found)': \(line.trimmingCharacters(in: .whitespaces).prefix(160))")
                    }
                }
            }
        }
        #expect(scanned > 10, "only \(scanned) text files scanned")
        // One failure naming every file:line (an #expect on the array would print it twice).
        if !findings.isEmpty { Issue.record("\(findings.count) leak(s) in the product text:\n\(findings.joined(separator: "\n"))") }
    }
}
