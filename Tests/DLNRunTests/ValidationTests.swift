import DLNModel
import DLNRun
import DLNTheory
import Foundation
import TestSupport
import Testing

/// Bad input of every kind is refused before any work, with the key path (or file) and the problem in words.
/// docs/reliability.md lists these inputs and what dlnsim answers.
@Suite struct ValidationTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("dlnsim-valid-\(UUID().uuidString)").path

    init() throws { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }

    /// The issues of a refused configuration (and a recorded failure when it was accepted or failed otherwise).
    static func issues(_ yaml: String, base: String = ".") -> [ConfigIssue] {
        do {
            _ = try Configuration.parse(yaml: yaml, file: "bad.yaml", baseDirectory: base)
            Issue.record("accepted: \(yaml)")
        } catch {
            guard case .invalidConfiguration(let file, let issues) = error else {
                Issue.record("\(error)")
                return []
            }
            #expect(file == "bad.yaml")
            return issues
        }
        return []
    }

    /// Each bad configuration gets an issue at the expected key path whose message says the expected words.
    @Test(arguments: [
        // Sizes: negative, zero, fractional, huge.
        ("problem: {d: -3}", "problem.d", "must be a positive integer, got -3 (line 1)"),
        ("problem: {n: 0}", "problem.n", "must be a positive integer, got 0"),
        ("problem: {d: 2.5}", "problem.d", "must be a whole number, got 2.5"),
        ("problem: {d: 1e300}", "problem.d", "is too large, got 1e+300"),
        ("seeds: 123456789012345678901234567890", "seeds", "is too large"),
        ("seeds: 200000000", "seeds", "is too large (at most 1e8)"),
        ("grid: {d: [10, 1e300]}", "grid.d[1]", "is too large"),
        ("grid: {d: [10, -4]}", "grid.d[1]", "must be a positive integer"),
        ("record: {steps: [10, 1e300]}", "record.steps[1]", "must be a whole number between 0 and 1e12"),
        ("record: {start: 1e300}", "record.start", "is too large (at most 1e15)"),
        (
            "training: {horizon: 1e15}\ngrid: {learning_rate: 1e-300}", "training.horizon",
            "needs round(t/η) = inf steps; at most 1e12"
        ),
        ("training: {steps: 1e13}", "training.steps", "is too large"),
        ("grid: {d: 100000, delta: 1000}", "grid", "entries in one data set (at most 4e9)"),
        (
            "problem: {d: 100000000, n: 40, data: shared}\nseeds: 100000", "",
            "the run would need about 728 TiB of memory (layers 728 TiB"
        ),
        (
            "grid: {alpha: [\(Array(repeating: "0.1", count: 1000).joined(separator: ","))], weight_decay: "
                + "[\(Array(repeating: "0", count: 1000).joined(separator: ","))], learning_rate: "
                + "[\(Array(repeating: "0.1", count: 1000).joined(separator: ","))]}",
            "seeds", "the run would have 1000000000 replicas (1000000000 grid points × 1 seeds); at most 1e8"
        ),
        // NaN and infinities.
        ("grid: {alpha: [0.1, .nan]}", "grid.alpha[1]", "must be a finite number, got NaN (line 1)"),
        (
            "training: {weight_decay_factor: -.inf}", "training.weight_decay_factor",
            "must be a finite number, got -.inf"
        ),
        ("problem: {teacher: {density: .NaN}}", "problem.teacher.density", "got NaN"),
        // Wrong types.
        ("seeds: [1, 2]", "seeds", "must be a number, got a list (line 1)"),
        ("problem: {d: {a: 1}}", "problem.d", "must be a number, got a mapping"),
        ("problem: {noise: true}", "problem.noise", "must be a number, got 'true'"),
        ("seeds: many", "seeds", "must be a number, got 'many'"),
        ("name: [a, b]", "name", "must be a text value, got a list"),
        ("training: {precision: [float64]}", "training.precision", "must be one of float32, float64, got a list"),
        (
            "grid: {parameterization: [pm, {x: 1}]}", "grid.parameterization[1]",
            "must be one of pm, uv, deep, deep_pm, got a mapping (line 1)"
        ),
        ("training: 5", "training", "must be a mapping of keys to values"),
        ("record: {thresholds: [0.1, abc]}", "record.thresholds[1]", "must be a number, got 'abc'"),
        ("name: ..", "name", "must be a non-empty folder name without '/'"),
        ("device: gpu7", "device", "'gpu7' is not a device; use auto, cpu, gpu, opencl or opencl:P:D"),
        ("device: 'opencl:0:-1'", "device", "is not a device"),
        // Unknown keys at every level.
        ("seedz: 3", "seedz", "unknown key (did you mean 'seeds'?)"),
        ("problem: {teacher: {densty: 0.2}}", "problem.teacher.densty", "unknown key (did you mean 'density'?)"),
        ("model: {init: {u_nois: 1}}", "model.init.u_nois", "unknown key (did you mean 'u_noise'?)"),
        ("record: {checkpoint: 5}", "record.checkpoint", "unknown key (did you mean 'checkpoints'?)"),
        ("grid: {lr: 0.1}", "grid.lr", "unknown key"),
        // Duplicate keys: the path and both lines.
        ("seeds: 2\nseeds: 3", "seeds", "appears more than once (lines 1, 2)"),
        (
            "problem:\n  teacher:\n    density: 0.1\n    density: 0.2", "problem.teacher.density",
            "appears more than once (lines 3, 4)"
        ),
        ("grid: {alpha: 1, alpha: 2}", "", "the key 'alpha' appears more than once in the mapping at line 1"),
        // Malformed YAML: line and column, the line itself; not YAML at all; TOML.
        (
            "problem:\n  d: 5\n   n: 3", "",
            "malformed YAML at line 3, column 5: mapping values are not allowed in this context"
        ),
        ("grid: {alpha: [0.1, 0.2}", "", "malformed YAML at line 1, column 24: did not find expected ',' or ']'"),
        ("problem:\n\td: 5", "", "malformed YAML at line 2, column 1: found character that cannot start any token"),
        (
            "hello world", "",
            "the configuration must be a YAML mapping of keys (name, problem, model, training, grid, seeds, record, "
                + "device) to values, got 'hello world'"
        ),
        ("- a\n- b", "", "must be a YAML mapping of keys"),
        ("[problem]\nd = 5", "", "this looks like TOML (key = value, [section]); dlnsim configurations are YAML"),
        ("name = \"x\"", "", "this looks like TOML"),
        ("seeds: \u{1}", "", "not YAML text at line 1, column 8: control characters are not allowed"),
        // Cross-field problems.
        ("problem: {files: {X: x.npy, y: y.npy, u0: u.npy}}", "problem.files", "u0 and v0 go together"),
        (
            "model: {parameterization: uv}\ntraining: {update: multiplicative}", "training.update",
            "defined for parameterization pm only"
        )
    ])
    func badConfiguration(_ yaml: String, _ path: String, _ message: String) {
        let found = Self.issues(yaml)
        #expect(found.contains { $0.path == path && $0.message.contains(message) }, "\(yaml)\ngot: \(found)")
        #expect(found.allSatisfy { !$0.message.isEmpty })
    }

    /// Problems in several places are all reported at once, each with its path.
    @Test func everyProblemAtOnce() {
        let found = Self.issues(
            "problem: {d: 0, noise: .nan, teacher: {density: 2}}\nmodel: {parameterization: pn}\ntraining: {steps: "
                + "-1, precision: half}\ngrid: {alpha: [1, -1]}\nseeds: 0\nrecord: {checkpoints: 0}\nextra: 1"
        )
        #expect(
            Set(found.map(\.path)) == [
                "problem.d", "problem.noise", "problem.teacher.density", "model.parameterization", "training.steps",
                "training.precision", "grid.alpha[1]", "seeds", "record.checkpoints", "extra"
            ], "\(found)")
    }

    /// The files a configuration names are checked with their key, before any work.
    @Test func dataFilesAreCheckedWithTheirKey() throws {
        try NPY.write([1.0, 2], shape: [2], dtype: .float64, to: dir + "/y.npy")
        try FileManager.default.createDirectory(atPath: dir + "/folder.npy", withIntermediateDirectories: true)
        let found = Self.issues(
            "problem:\n  files:\n    X: missing.npy\n    y: y.npy\n    w_star: folder.npy\n    u0: ''\n    v0: y.npy",
            base: dir)
        #expect(
            found.contains {
                $0.path == "problem.files.X" && $0.message == "\(dir)/missing.npy: no such file (line 3)"
            }, "\(found)")
        #expect(
            found.contains {
                $0.path == "problem.files.w_star"
                    && $0.message.contains("folder.npy is a folder, not a .npy file (line 5)")
            })
        #expect(
            found.contains {
                $0.path == "problem.files.u0"
                    && $0.message.contains("must be the path of a .npy file, got an empty text")
            })
    }

    /// A configuration file that is empty, TOML, or not text.
    @Test func badConfigurationFiles() throws {
        func refusal(_ name: String, _ bytes: Data) -> String {
            let path = dir + "/" + name
            #expect(FileManager.default.createFile(atPath: path, contents: bytes), "cannot create the test file")
            do {
                _ = try Configuration.load(path: path)
                return "accepted"
            } catch { return "\(error)" }
        }
        #expect(
            refusal("empty.yaml", Data()).contains(
                "empty.yaml (1 problem):\n  - the file holds no configuration (it is empty or only comments); write "
                    + "{} to run every default"
            ))
        #expect(refusal("comments.yaml", Data("# seeds: 3\n\n".utf8)).contains("the file holds no configuration"))
        #expect(
            refusal("c.toml", Data("[problem]\nd = 5\n".utf8)).contains(
                "a .toml file was given (key = value, [section]); dlnsim configurations are YAML"))
        #expect(
            refusal("latin1.yaml", Data([0x6E, 0x61, 0x6D, 0x65, 0x3A, 0x20, 0xE9, 0xFF])).contains(
                "latin1.yaml: not UTF-8 text"))
        #expect((try? Configuration.load(path: dir + "/nope.yaml")) == nil)
        do { _ = try Configuration.load(path: dir) } catch { #expect("\(error)".contains(dir)) }
    }

    // MARK: - .npy files

    /// A version-1.0 .npy file with any header and payload.
    static func npy(descr: String, shape: String, fortran: Bool = false, payload: [UInt8]) -> Data {
        var header = "{'descr': '\(descr)', 'fortran_order': \(fortran ? "True" : "False"), 'shape': \(shape), }"
        header += String(repeating: " ", count: (64 - (10 + header.utf8.count + 1) % 64) % 64) + "\n"
        let n = header.utf8.count
        return Data(
            [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 1, 0, UInt8(n & 0xFF), UInt8(n >> 8)] + Array(header.utf8) + payload)
    }

    /// Each bad .npy file is refused with its path and the problem.
    @Test(arguments: [
        (
            "complex.npy", npy(descr: "<c16", shape: "(2,)", payload: .init(repeating: 0, count: 32)),
            "unsupported dtype '<c16': complex numbers (use float32, float64, int32 or int64, little-endian)"
        ),
        (
            "object.npy", npy(descr: "|O", shape: "(2,)", payload: .init(repeating: 0, count: 16)),
            "unsupported dtype '|O': Python objects"
        ),
        (
            "text.npy", npy(descr: "<U3", shape: "(2,)", payload: .init(repeating: 0, count: 24)),
            "unsupported dtype '<U3': text"
        ),
        (
            "bigendian.npy", npy(descr: ">f8", shape: "(2,)", payload: .init(repeating: 0, count: 16)),
            "unsupported dtype '>f8': big-endian"
        ),
        (
            "half.npy", npy(descr: "<f2", shape: "(2,)", payload: .init(repeating: 0, count: 4)),
            "unsupported dtype '<f2': float16"
        ),
        (
            "bool.npy", npy(descr: "|b1", shape: "(2,)", payload: .init(repeating: 0, count: 2)),
            "unsupported dtype '|b1': booleans"
        ),
        (
            "truncated.npy", npy(descr: "<f8", shape: "(4,)", payload: .init(repeating: 0, count: 27)),
            "holds 27 data bytes, the shape [4] of <f8 needs 32 (truncated?)"
        ),
        (
            "long.npy", npy(descr: "<f8", shape: "(1,)", payload: .init(repeating: 0, count: 16)),
            "holds 16 data bytes, the shape [1] of <f8 needs 8 (extra bytes after the data)"
        ),
        (
            "overflow.npy", npy(descr: "<f8", shape: "(4294967296, 4294967296)", payload: []),
            "the shape [4294967296, 4294967296] is too large"
        ),
        ("negative.npy", npy(descr: "<f8", shape: "(-1,)", payload: []), "bad shape entry '-1'"),
        ("magic.npy", Data("1,2,3\n4,5,6\n".utf8), "missing the \\x93NUMPY magic"),
        ("header.npy", Data([0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 1, 0, 200, 0, 0x7B]), "truncated header"),
        ("version.npy", Data([0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 9, 0, 0, 0]), "unsupported format version 9")
    ])
    func badNPY(_ name: String, _ bytes: Data, _ message: String) throws {
        let path = dir + "/" + name
        try bytes.write(to: URL(fileURLWithPath: path))
        #expect { _ = try NPY.read(path: path) } throws: { error in
            let text = "\(error)"
            if !text.contains(message) { print("got: \(text)") }
            return text.hasPrefix(path + ": not a valid .npy file: ") && text.contains(message)
        }
    }

    @Test func missingFileAndFolder() throws {
        #expect { _ = try NPY.read(path: dir + "/none.npy") } throws: { "\($0)" == "\(dir)/none.npy: no such file" }
        #expect { _ = try NPY.read(path: dir) } throws: { "\($0)" == "\(dir): is a folder, not a .npy file" }
    }

    /// User data whose shapes or values do not fit: the file and the problem.
    @Test(
        arguments: [
            (["X": ([1.0, 2, 3], [3])], "X.npy: X must be a 2-D array (n, d), got shape [3]"),
            (["y": ([1.0, 2, 3], [3])], "y.npy: y must have shape (2,) to match X of shape (2, 3), got [3]"),
            (["y": ([1.0, 2], [1, 2])], "y.npy: y must have shape (2,) to match X of shape (2, 3), got [1, 2]"),
            (
                ["X": ([1.0, 2, .nan, 4, 5, 6], [2, 3])],
                "X.npy: X holds a non-finite value (nan) at row 0, column 2 (0-based)"
            ),
            (["y": ([1.0, .infinity], [2])], "y.npy: y holds a non-finite value (inf) at index 1"),
            (["X": ([Double](), [0, 3])], "X.npy: X has an empty dimension, shape [0, 3]"),
            (
                ["w_star": ([1.0, 0], [2])],
                "w_star.npy: w_star must have shape (3,) to match X of shape (2, 3), got [2]"
            ),
            (["w_star": ([1.0, .nan, 0], [3])], "w_star.npy: w_star holds a non-finite value (nan) at index 1"),
            (
                ["X_test": ([1.0, 2, 3, 4], [2, 2])],
                "X_test.npy: X_test must have shape (n_test, 3) to match X of shape (2, 3), got [2, 2]"
            ),
            (["y_test": ([1.0], [1])], "y_test.npy: y_test must have shape (2,) to match X_test, got [1]"),
            (
                ["X_test": ([1.0, 2, 3, 4, 5, -.infinity], [2, 3])],
                "X_test.npy: X_test holds a non-finite value (-inf) at row 1, column 2"
            ),
            (
                ["u0": ([1.0, 1], [2])],
                "u0.npy: an initial layer must have shape (3,) with finite values, got shape [2]"
            ),
            (["v0": ([1.0, .nan, 1], [3])], "v0.npy: an initial layer must have shape (3,) with finite values")
        ] as [([String: ([Double], [Int])], String)])
    func badUserData(_ replace: [String: ([Double], [Int])], _ message: String) throws {
        var arrays: [String: ([Double], [Int])] = [
            "X": ([1, 2, 3, 4, 5, 6], [2, 3]), "y": ([1, 2], [2]), "w_star": ([1, 0, 0], [3]),
            "X_test": ([1, 0, 0, 0, 1, 0], [2, 3]), "y_test": ([1, 0], [2]), "u0": ([1, 1, 1], [3]),
            "v0": ([1, 1, 1], [3])
        ]
        arrays.merge(replace) { $1 }
        for (key, (values, shape)) in arrays {
            try NPY.write(values, shape: shape, dtype: .float64, to: "\(dir)/\(key).npy")
        }
        let yaml =
            "problem: {files: {X: X.npy, y: y.npy, w_star: w_star.npy, X_test: X_test.npy, y_test: y_test.npy, u0: "
            + "u0.npy, v0: v0.npy}}"
        let c = try Configuration.parse(yaml: yaml, baseDirectory: dir)
        #expect { _ = try Experiment(c) } throws: { error in
            if !"\(error)".contains(message) { print("got: \(error)") }
            return "\(error)" == "\(dir)/\(message)" || "\(error)".hasPrefix("\(dir)/\(message)")
        }
    }

    /// A Fortran-ordered X is read in C order (so it is not refused).
    @Test func fortranOrderIsAccepted() throws {
        var payload: [UInt8] = []
        for v in [1.0, 4, 2, 5, 3, 6] { withUnsafeBytes(of: v.bitPattern.littleEndian) { payload += $0 } }
        try Self.npy(descr: "<f8", shape: "(2, 3)", fortran: true, payload: payload).write(
            to: URL(fileURLWithPath: dir + "/X.npy"))
        try NPY.write([1.0, 2], shape: [2], dtype: .float64, to: dir + "/y.npy")
        let e = try Experiment(
            try Configuration.parse(yaml: "problem: {files: {X: X.npy, y: y.npy}}", baseDirectory: dir))
        #expect(e.gridPoints[0].d == 3 && e.gridPoints[0].n == 2)
    }

    // MARK: - Output folder

    /// An output folder that cannot be made or written is refused before any work.
    @Test func unwritableOutput() throws {
        #expect(
            FileManager.default.createFile(atPath: dir + "/file", contents: Data("x".utf8)),
            "cannot create the test file")
        #expect { try OutputDirectory.open(dir + "/file", mode: .replace) } throws: {
            "\($0)" == "cannot write \(dir)/file: exists and is not a folder"
        }
        #expect { try RunOutput.prepare(dir + "/file/out") } throws: {
            "\($0)" == "cannot write \(dir)/file/out: cannot create \(dir)/file/out: Not a directory"
        }
        #if os(Linux)
            // /sys refuses new folders even to root (a chmod 555 folder would not stop root).
            #expect { try RunOutput.prepare("/sys/dlnsim-out") } throws: {
                "\($0)".hasPrefix("cannot write /sys/dlnsim-out: cannot create /sys/dlnsim-out: ")
            }
        #endif
        if getuid() != 0 {
            try FileManager.default.createDirectory(atPath: dir + "/ro", withIntermediateDirectories: true)
            chmod(dir + "/ro", 0o555)
            #expect { try RunOutput.prepare(dir + "/ro/out") } throws: { "\($0)".contains("Permission denied") }
        }
    }

    // MARK: - Fuzz

    /// SplitMix64: a fixed, platform-independent sequence.
    struct SplitMix: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    static let values = [
        ".nan", ".inf", "-.inf", "-1", "0", "1", "2", "0.5", "1e300", "-1e300", "1e-300", "99999999999999999999",
        "9223372036854775807", "-9223372036854775808", "4294967296", "100000000", "abc", "true", "null", "~", "''",
        "[]", "{}", "[1, 2, 3]", "[0.1, -1, .nan]", "{a: 1}", "\"5\"", "[pm, uv, deep]", "flow", "deep", "uv",
        "multiplicative", "float64", "log", "independent", "exact", "'1/d'", "[2, 3, 64]", "[10, 20]", "x.npy",
        "&anchor 3", "*anchor", "!!binary aGVsbG8=", "[", "{", "'", "\"", "- 1", "0x10", "1_000", "+5", "-0"
    ]
    static let keys = [
        "d", "n", "delta", "noise", "seeds", "steps", "horizon", "alpha", "learning_rate", "weight_decay", "depth",
        "parameterization", "update", "precision", "checkpoints", "start", "linear", "thresholds", "files", "X", "y",
        "teacher", "density", "flow", "rtol", "max_steps", "layer_scales", "representation", "data", "name", "device"
    ]

    /// One random edit of the text.
    static func mutate(_ text: String, _ rng: inout SplitMix) -> String {
        var lines = text.components(separatedBy: "\n")
        let valued = lines.indices.filter {
            lines[$0].contains(": ") && !lines[$0].trimmingCharacters(in: .whitespaces).hasPrefix("#")
        }
        func valueRange(_ line: String) -> Range<String.Index>? {
            guard let colon = line.range(of: ": ") else { return nil }
            let end = line.range(of: " #", range: colon.upperBound..<line.endIndex)?.lowerBound ?? line.endIndex
            return colon.upperBound..<end
        }
        switch Int.random(in: 0..<10, using: &rng) {
        case 0 where !lines.isEmpty:  // delete a line
            lines.remove(at: Int.random(in: lines.indices, using: &rng))
        case 1 where valued.count >= 2:  // swap two values
            let a = valued.randomElement(using: &rng)!
            let b = valued.randomElement(using: &rng)!
            if let ra = valueRange(lines[a]), let rb = valueRange(lines[b]) {
                let (va, vb) = (String(lines[a][ra]), String(lines[b][rb]))
                lines[a].replaceSubrange(ra, with: vb)
                if let rb2 = valueRange(lines[b]) { lines[b].replaceSubrange(rb2, with: va) }
            }
        case 2...3 where !valued.isEmpty:  // replace a value
            let a = valued.randomElement(using: &rng)!
            if let r = valueRange(lines[a]) { lines[a].replaceSubrange(r, with: values.randomElement(using: &rng)!) }
        case 4 where !lines.isEmpty:  // duplicate a line
            let a = Int.random(in: lines.indices, using: &rng)
            lines.insert(lines[a], at: a)
        case 5:  // truncate
            let cut = Int.random(in: 0...text.count, using: &rng)
            return String(text.prefix(cut))
        case 6:  // insert a character
            let chars: [Character] = [
                ":", "-", "[", "]", "{", "}", "\t", " ", "#", "\"", "'", "\n", "é", "\u{0}", "&", "*", "!", "%", "@",
                "|", ">", ","
            ]
            var t = Array(text)
            t.insert(chars.randomElement(using: &rng)!, at: Int.random(in: 0...t.count, using: &rng))
            return String(t)
        case 7:  // insert a key line at some indentation
            let indent = String(repeating: " ", count: [0, 2, 4].randomElement(using: &rng)!)
            lines.insert(
                "\(indent)\(keys.randomElement(using: &rng)!): \(values.randomElement(using: &rng)!)",
                at: Int.random(in: 0...lines.count, using: &rng))
        case 8 where !lines.isEmpty:  // indent or dedent a line
            let a = Int.random(in: lines.indices, using: &rng)
            if Bool.random(using: &rng) {
                lines[a] = "  " + lines[a]
            } else {
                lines[a] = String(lines[a].drop(while: { $0 == " " }))
            }
        default:  // rename a key
            if let a = valued.randomElement(using: &rng), let colon = lines[a].range(of: ": ") {
                let start = lines[a].firstIndex(where: { $0 != " " }) ?? lines[a].startIndex
                if start < colon.lowerBound {
                    lines[a].replaceSubrange(start..<colon.lowerBound, with: keys.randomElement(using: &rng)!)
                }
            }
        }
        return lines.joined(separator: "\n")
    }

    /// Thousands of mutated example configurations (fixed seed): parsing never crashes; it returns a
    /// configuration or throws invalidConfiguration with non-empty issues, each with a message. Small accepted
    /// ones are also turned into an Experiment (data and initialisation, no training), which must not crash.
    @Test func fuzzedConfigurationsNeverCrash() throws {
        let examples = Self.root.appendingPathComponent("examples").path
        let names = try FileManager.default.contentsOfDirectory(atPath: examples).filter { $0.hasSuffix(".yaml") }
            .sorted()
        let texts = try names.map { try String(contentsOfFile: examples + "/" + $0, encoding: .utf8) }
        #expect(texts.count >= 5)
        var rng = SplitMix(state: 20_240_607)
        let cases = 4000
        var accepted = 0
        var refused = 0
        var built = 0
        let start = Date()
        for k in 0..<cases {
            var text = texts[k % texts.count]
            for _ in 0..<Int.random(in: 1...3, using: &rng) { text = Self.mutate(text, &rng) }
            do {
                let c = try Configuration.parse(yaml: text, file: "fuzz-\(k).yaml", baseDirectory: examples)
                accepted += 1
                // Only small ones: the point is crashes in construction, not memory.
                let sizes =
                    (c.grid.d ?? [c.problem.d]).max()!
                    * max(
                        c.problem.n,
                        Int(
                            ((c.grid.delta ?? [c.problem.delta ?? 1]).max()!
                                * Double((c.grid.d ?? [c.problem.d]).max()!)).rounded()))
                if c.replicaCount <= 256 && sizes <= 40_000 && c.memoryEstimate.bytes < 5e7
                    && c.record.checkpoints + c.record.linear <= 2000 && k % 4 == 0
                {
                    do {
                        let e = try Experiment(c)
                        #expect(e.replicaCount == c.replicaCount)
                        built += 1
                    } catch {
                        // Data files are checked against each other when they are read (a mutation may swap two
                        // paths): that is a named refusal, not a crash. Anything else is a bug.
                        if case .badFile = error { continue }
                        Issue.record("a validated configuration failed to build: \(error)\n\(text)")
                    }
                }
            } catch {
                refused += 1
                guard case .invalidConfiguration(let file, let issues) = error else {
                    Issue.record("\(error)")
                    continue
                }
                #expect(file == "fuzz-\(k).yaml")
                #expect(!issues.isEmpty && issues.allSatisfy { !$0.message.isEmpty }, "\(text)")
            }
        }
        print(
            "fuzz: \(cases) mutated configurations, \(accepted) accepted (\(built) built into experiments), "
                + "\(refused) refused, \(String(format: "%.2f", Date().timeIntervalSince(start))) s"
        )
        #expect(accepted > cases / 10 && refused > cases / 10)
    }
}
