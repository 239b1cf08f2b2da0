import DLNModel
import DLNRun
import Foundation
import Testing

/// Command-line `key=value` overrides and the `logspace`/`linspace` grid values.
@Suite struct OverrideTests {
    static func overrides(_ texts: [String]) throws -> [ConfigOverride] {
        try texts.map { try ConfigOverride(parsing: $0) }
    }

    static func message(_ body: () throws -> Void) -> String {
        do {
            try body()
            return "no error"
        } catch { return "\(error)" }
    }

    /// Overrides replace the file's values (scalars, flow lists, new sections), and the effective text reads back to
    /// the same configuration.
    @Test func overridesReplaceTheFilesValuesAndTheEffectiveTextRepeatsThem() throws {
        let text = "name: base\ngrid:\n  alpha: 0.5\nseeds: 2\n"
        let (c, effective) = try Configuration.load(
            text: text, path: "/tmp/base.yaml",
            overrides: try Self.overrides(["grid.alpha=[0.01,0.1]", "seeds=4", "training.steps=20", "name=other"]))
        #expect(c.grid.alpha == [0.01, 0.1])
        #expect(c.seeds == 4 && c.training.steps == 20 && c.name == "other")
        #expect(try Configuration.load(text: effective, path: "/tmp/base.yaml") == c)
        // Without overrides the text is kept as it is.
        #expect(try Configuration.load(text: text, path: "/tmp/base.yaml", overrides: []).text == text)
    }

    /// An unknown key or a bad value from the command line gets the file's message, with "(command line)" where a
    /// file would give the line.
    @Test(arguments: [
        ("grid.alpah=0.1", "grid.alpah: unknown key (did you mean 'alpha'?) (command line)"),
        ("seeds=-1", "seeds: must be at least 1, got -1 (command line)"),
        ("grid.learning_rate=[0.1, x]", "grid.learning_rate[1]: must be a number, got 'x' (command line)"),
        ("trainig.steps=10", "trainig: unknown key (did you mean 'training'?) (command line)"),
        ("name.first=x", "name: is 'base' (line 1), not a mapping: the command line cannot set name.first inside it")
    ])
    func badOverridesAreRefusedWithTheirKeyPath(override: String, expected: String) throws {
        let m = Self.message {
            _ = try Configuration.load(
                text: "name: base\nseeds: 2\n", path: "/tmp/base.yaml", overrides: try Self.overrides([override]))
        }
        #expect(m.contains(expected), "\(m)")
    }

    @Test(arguments: ["seeds", "=3", "grid..alpha=1", "grid alpha=1"])
    func malformedOverridesAreRefused(text: String) {
        let m = Self.message { _ = try ConfigOverride(parsing: text) }
        #expect(m.contains("key=value") || m.contains("dotted key path"), "\(m)")
    }

    /// logspace(a, b, k): k values from 10^a to 10^b with exact endpoints; linspace(a, b, k) from a to b.
    @Test func logspaceAndLinspaceExpandToTheirValues() throws {
        let c = try Configuration.parse(
            yaml: "grid:\n  alpha: logspace(-3, 0, 4)\n  learning_rate: linspace(0.1, 0.4, 4)\n  weight_decay: "
                + "logspace(-2, -2, 1)\n")
        #expect(c.grid.alpha == [0.001, 0.01, 0.1, 1.0])
        #expect(c.grid.learningRate.count == 4 && c.grid.learningRate.first == 0.1 && c.grid.learningRate.last == 0.4)
        #expect(abs(c.grid.learningRate[1] - 0.2) < 1e-15)
        #expect(c.grid.weightDecay == [0.01])
        let fractional = try Configuration.parse(yaml: "grid:\n  alpha: logspace(-1, 0, 3)\n")
        #expect(fractional.grid.alpha[0] == 0.1 && fractional.grid.alpha[2] == 1.0)
        #expect(abs(fractional.grid.alpha[1] - pow(10, -0.5)) < 1e-15)
        let o = try Configuration.load(
            text: "seeds: 1\n", path: "/tmp/x.yaml", overrides: try Self.overrides(["grid.alpha=logspace(-2, 0, 3)"]))
        #expect(o.configuration.grid.alpha == [0.01, 0.1, 1.0])
    }

    @Test(arguments: [
        ("grid:\n  alpha: logspace(-3, 0)\n", "grid.alpha: logspace(a, b, k) takes two numbers and a count k ≥ 1"),
        ("grid:\n  alpha: logspace(-3, 0, 0)\n", "grid.alpha: logspace(a, b, k): k must be a whole number"),
        ("grid:\n  alpha: linspace(0, 1, 2.5)\n", "grid.alpha: linspace(a, b, k): k must be a whole number"),
        ("grid:\n  alpha: linspace(-1, 1, 3)\n", "grid.alpha[0]: must be positive, got -1.0 (from linspace(-1, 1, 3))"),
        ("grid:\n  d: linspace(10, 20, 4)\n", "grid.d[1]: must be a whole number"),
        ("grid:\n  alpha: logspace(-3, 0, x)\n", "(line 2)"),
        ("grid: {alpha: logspace(-3, 0, 4)}", "inside {…} or […], write it in quotes")
    ])
    func badSpacingsAreRefusedWithTheirKeyPath(yaml: String, expected: String) {
        let m = Self.message { _ = try Configuration.parse(yaml: yaml) }
        #expect(m.contains(expected), "\(m)")
    }

    /// The checkpoint of an overridden run keeps the overridden configuration: a resumed run repeats it.
    @Test func theCheckpointKeepsTheOverriddenConfiguration() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("dlnsim-override-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let path = dir.appendingPathComponent("c.yaml").path
        try "problem: {d: 8}\ntraining: {steps: 5}\nseeds: 1\n".write(toFile: path, atomically: true, encoding: .utf8)
        var request = RunRequest()
        request.configPath = path
        request.out = dir.appendingPathComponent("out").path
        request.device = "cpu"
        request.overrides = try Self.overrides(["seeds=3", "grid.alpha=[0.5, 1]"])
        let runner = try Runner(request, note: { _ in })
        defer { runner.directory.abandon() }
        #expect(runner.configuration.seeds == 3 && runner.configuration.grid.alpha == [0.5, 1])
        #expect(try runner.origin.configuration() == runner.configuration)
    }

    /// config.yaml (`resolvedYAML`) reads back to the same configuration, whatever keys the run set.
    @Test(arguments: [
        "{}",
        "problem: {d: 30, n: 7, teacher: {values: signs, support: exact}, noise: 0.30000000000000004}\nseeds: 2",
        "model: {parameterization: deep, depth: 3, init: {layer_scales: [1, 0.5, 2]}}\ngrid: {alpha: [0.1, 1e-3]}",
        "training: {update: flow, horizon: 12.5, precision: float64, flow: {rtol: 1e-7, initial_step: 1e-5}}",
        "theory: {paths: 128, response_paths: 64}\nrecord: {steps: [3, 7], thresholds: [0.5]}\ndevice: cpu",
        "theory: dmft\nname: 'a \"quoted\" name'\ngrid: {d: [10, 20], noise: [0, 0.1], update: [gd]}",
        "grid: {parameterization: [pm, uv], learning_rate: 'linspace(0.01, 0.03, 3)'}\nrecord: {start: 0.5, linear: 3}"
    ])
    func theResolvedYAMLReadsBackToTheSameConfiguration(yaml: String) throws {
        let c = try Configuration.parse(yaml: yaml)
        #expect(try Configuration.parse(yaml: c.resolvedYAML) == c, "\(c.resolvedYAML)")
    }
}
