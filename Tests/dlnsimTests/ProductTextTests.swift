import Foundation
import Testing

/// The shipped text (Sources, Kernels, docs, examples, Benchmarks, README.md) stands on its own: no paths into the
/// development workspace (`../shared`), no section references into the external theory notes (`theory.md §…`; the
/// repository's own docs/theory.md is linked as `docs/theory.md`), no references to the project's issue tracker
/// (`Issue 12`), and no remarks about how it was developed (`this session`, `was lent`, `sessions that`).
@Suite struct ProductTextTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    static let folders = ["Sources", "Kernels", "docs", "examples", "Benchmarks"]
    static let files = ["README.md"]

    /// (what it is, pattern).
    static let rules: [(String, String)] = [
        ("path into the workspace", #"\.\./shared"#),
        ("external theory notes", #"theory\.md §"#),
        ("issue reference", #"[Ii]ssue [0-9]+"#),
        ("development circumstance", #"(?i)this session|was lent|sessions that"#)
    ]

    /// Every regular file under the folders (hidden entries skipped), and the single files; paths relative to the root.
    static func productFiles() -> [String] {
        var paths: [String] = []
        let fm = FileManager.default
        for folder in folders {
            let base = root.appendingPathComponent(folder)
            guard
                let walker = fm.enumerator(
                    at: base, includingPropertiesForKeys: [.isRegularFileKey], options: [.skipsHiddenFiles])
            else { continue }
            for case let url as URL in walker
            where (try? url.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true {
                paths.append(
                    folder + "/"
                        + String(url.standardizedFileURL.path.dropFirst(base.standardizedFileURL.path.count + 1)))
            }
        }
        for file in files where fm.fileExists(atPath: root.appendingPathComponent(file).path) { paths.append(file) }
        return paths.sorted()
    }

    @Test func productTextHasNoDevelopmentLeaks() throws {
        let regexes = try Self.rules.map { ($0.0, try NSRegularExpression(pattern: $0.1)) }
        let paths = Self.productFiles()
        #expect(
            paths.contains("README.md") && paths.contains { $0.hasPrefix("Sources/") },
            "the walk found the product text under \(Self.root.path)")
        var findings: [String] = []
        var scanned = 0
        for path in paths {
            guard let data = FileManager.default.contents(atPath: Self.root.appendingPathComponent(path).path),
                !data.contains(0), let text = String(data: data, encoding: .utf8)
            else { continue }  // binary files
            scanned += 1
            for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                let line = String(line)
                let range = NSRange(line.startIndex..., in: line)
                for (what, regex) in regexes {
                    for match in regex.matches(in: line, range: range) {
                        let found = Range(match.range, in: line).map { String(line[$0]) } ?? ""
                        findings.append(
                            "\(path):\(number + 1): \(what) '\(found)': "
                                + "\(line.trimmingCharacters(in: .whitespaces).prefix(160))"
                        )
                    }
                }
            }
        }
        #expect(scanned > 10, "only \(scanned) text files scanned")
        // One failure naming every file:line (an #expect on the array would print it twice).
        if !findings.isEmpty {
            Issue.record("\(findings.count) leak(s) in the product text:\n\(findings.joined(separator: "\n"))")
        }
    }

    /// The text of a product file (nil for binary files).
    static func text(_ path: String) -> String? {
        guard let data = FileManager.default.contents(atPath: root.appendingPathComponent(path).path), !data.contains(0)
        else { return nil }
        return String(data: data, encoding: .utf8)
    }

    /// Every repository path the product text names (`Sources/…`, `Tests/…`, `Kernels/….cl`, `docs/….md`) exists:
    /// files moved or renamed leave no stale pointers behind.
    @Test func namedPathsExist() throws {
        let regex = try NSRegularExpression(pattern: #"(?:Sources|Tests|Kernels|docs)/[A-Za-z0-9_./-]*[A-Za-z0-9_]"#)
        var missing: [String] = []
        for path in Self.productFiles() {
            guard let text = Self.text(path) else { continue }
            for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                let line = String(line)
                for match in regex.matches(in: line, range: NSRange(line.startIndex..., in: line)) {
                    guard let range = Range(match.range, in: line) else { continue }
                    let named = String(line[range])
                    // Patterns such as Kernels/family_<name>.cl are not paths.
                    if line[range.upperBound...].hasPrefix("<") || line[range.upperBound...].hasPrefix("*") { continue }
                    if !FileManager.default.fileExists(atPath: Self.root.appendingPathComponent(named).path) {
                        missing.append("\(path):\(number + 1): \(named)")
                    }
                }
            }
        }
        if !missing.isEmpty {
            Issue.record("\(missing.count) named path(s) do not exist:\n\(missing.joined(separator: "\n"))")
        }
    }

    /// Every `CPUBatch.name` that a kernel's "Twin" comment names is a method of the CPU engine: the pairing of
    /// kernel and CPU twin stays true as the code moves.
    @Test func kernelTwinsExist() throws {
        let swift = Self.productFiles().filter { $0.hasPrefix("Sources/DLNModel/") && $0.hasSuffix(".swift") }
            .compactMap(Self.text).joined(separator: "\n")
        let twin = try NSRegularExpression(pattern: #"CPUBatch\.([A-Za-z][A-Za-z0-9]*)"#)
        var missing: [String] = []
        var checked = 0
        for path in Self.productFiles() where path.hasPrefix("Kernels/") {
            guard let text = Self.text(path) else { continue }
            for match in twin.matches(in: text, range: NSRange(text.startIndex..., in: text)) {
                guard let range = Range(match.range(at: 1), in: text) else { continue }
                let name = String(text[range])
                checked += 1
                if !swift.contains("func \(name)") && !swift.contains("func \(name)(") {
                    missing.append("\(path): CPUBatch.\(name)")
                }
            }
        }
        #expect(checked >= 5, "only \(checked) twin references found in Kernels/")
        #expect(missing.isEmpty, "kernel twins that name no CPU function: \(missing)")
    }

    /// No Swift file in Sources/ is over 500 lines: a file that grows past it holds more than one concern.
    @Test func sourceFilesStayShort() throws {
        let long = Self.productFiles().filter { $0.hasPrefix("Sources/") && $0.hasSuffix(".swift") }.compactMap {
            path -> String? in
            let lines = Self.text(path).map { $0.split(separator: "\n", omittingEmptySubsequences: false).count } ?? 0
            return lines > 500 ? "\(path): \(lines) lines" : nil
        }
        #expect(long.isEmpty, "files over 500 lines: \(long)")
    }
}
