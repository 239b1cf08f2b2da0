import DLNModel
import DLNRun
import DLNTheory
import Foundation
import TestSupport
import Testing

@Suite struct ConfigurationTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    @Test func theQuickstartExampleIsValid() throws {
        let c = try Configuration.load(path: Self.root.appendingPathComponent("examples/quickstart.yaml").path)
        #expect(c.name == "quickstart")
        #expect(c.problem.d == 200 && c.problem.n == 100)
        #expect(c.replicaCount == 192)
        #expect(c.grid.alpha == [0.01, 0.1, 1.0])
    }

    @Test func defaultsAndScalarsOrLists() throws {
        let c = try Configuration.parse(yaml: "grid: {alpha: 0.5, learning_rate: [0.01, 0.02]}\nseeds: 3")
        #expect(c.grid.alpha == [0.5] && c.grid.learningRate == [0.01, 0.02])
        #expect(c.replicaCount == 6)
        let empty = try Configuration.parse(yaml: "")
        #expect(empty.replicaCount == 1)
    }

    /// Each bad configuration is rejected with the key path and the reason.
    @Test(arguments: [
        ("problem: {d: -5}", "problem.d: must be a positive integer, got -5"),
        ("problem: {d: 0}", "problem.d: must be a positive integer, got 0"),
        ("problem: {d: 10.5}", "problem.d: must be a whole number"),
        ("problem: {d: 100, delta: 0.001}", "δ·d must be at least 1"),
        ("problem: {n: 10, delta: 0.5}", "problem.n: give either n or delta"),
        ("problem: {noise: .nan}", "problem.noise: must be a finite number, got NaN"),
        ("grid: {alpha: .inf}", "grid.alpha: must be a finite number"),
        ("grid: {alpha: [0.1, -1]}", "grid.alpha[1]: must be positive, got -1.0"),
        ("grid: {learning_rate: 0}", "grid.learning_rate: must be positive"),
        ("grid: {weight_decay: -0.1}", "grid.weight_decay: must be ≥ 0"),
        ("grid: {alpha: []}", "grid.alpha: must list at least one value"),
        ("model: {parameterization: pn}", "model.parameterization: must be one of pm, uv, deep, deep_pm, got 'pn'"),
        (
            "model: {parameterization: uv}\ntraining: {update: multiplicative}",
            "training.update: the multiplicative update is defined for parameterization pm only"
        ),
        ("model: {parameterization: pm, depth: 3}", "model.depth: must be 2 for parameterization pm"),
        (
            "model: {parameterization: deep, depth: 3, init: {layer_scales: [1, 2]}}",
            "model.init.layer_scales: must list 3 values"
        ),
        ("training: {precision: float16}", "training.precision: must be one of float32, float64"),
        ("training: {steps: -1}", "training.steps: must be at least 1"),
        ("training: {steps: 0}", "training.steps: must be at least 1"),
        ("trainig: {steps: 10}", "trainig: unknown key (did you mean 'training'?)"),
        ("training: {step: 10}", "training.step: unknown key (did you mean 'steps'?)"),
        ("seeds: 0", "seeds: must be at least 1"),
        ("seeds: many", "seeds: must be a number, got 'many'"),
        ("problem: [1, 2]", "problem: must be a mapping"),
        ("problem: {d: 5\n  n: 3", "malformed YAML"),
        ("record: {checkpoints: 0}", "record.checkpoints: must be between 1 and 100000"),
        ("problem: {teacher: {density: 1.5}}", "problem.teacher.density: must be in [0, 1]"),
        ("problem: {files: {X: x.npy}}", "problem.files.y: is required"),
        ("training: {update: flow, horizon: 10, flow: {rtol: 0}}", "training.flow.rtol: must be in (0, 1], got 0"),
        ("training: {update: flow, horizon: 10, flow: {rtol: 2}}", "training.flow.rtol: must be in (0, 1], got 2"),
        ("training: {update: flow, horizon: 10, flow: {atol: -1e-9}}", "training.flow.atol: must be in (0, 1]"),
        ("training: {update: flow, horizon: 10, flow: {max_step: 0}}", "training.flow.max_step: must be positive"),
        (
            "training: {update: flow, horizon: 10, flow: {max_steps: 0}}",
            "training.flow.max_steps: must be between 1 and 2147483647"
        ),
        (
            "training: {update: flow, horizon: 10, flow: {rtoll: 1e-6}}",
            "training.flow.rtoll: unknown key (did you mean 'rtol'?)"
        ),
        (
            "training: {update: flow, horizon: 10, flow: {rtol: 1e-8}}",
            "training.flow.rtol: 1e-08 is below what float32 resolves"
        ),
        ("training: {update: flow, steps: 100}", "training.horizon: update flow integrates in time"),
        ("training: {update: gd, flow: {rtol: 1e-6}}", "training.flow: applies to update: flow only"),
        ("training: {representation: log}", "training.representation: log needs update multiplicative or flow"),
        (
            "model: {parameterization: deep, depth: 3}\ntraining: {update: flow, horizon: 5, representation: log}",
            "training.representation: log is for parameterization pm and uv"
        )
    ])
    func badConfigurationsAreRejected(_ yaml: String, _ expected: String) {
        #expect {
            _ = try Configuration.parse(yaml: yaml, file: "bad.yaml")
        } throws: { error in
            let text = "\(error)"
            if !text.contains(expected) { print("got: \(text)") }
            return text.contains(expected) && text.contains("bad.yaml")
        }
    }

    @Test func allProblemsAreReportedAtOnce() {
        #expect {
            _ = try Configuration.parse(yaml: "problem: {d: -1, noise: -2}\nseeds: 0\nbogus: 1", file: "c.yaml")
        } throws: { error in
            guard case DLNError.invalidConfiguration(_, let issues) = error else { return false }
            return Set(issues.map(\.path)) == ["problem.d", "problem.noise", "seeds", "bogus"]
        }
    }

    @Test func missingFileAndBadUserData() throws {
        #expect { _ = try Configuration.load(path: "/nonexistent/x.yaml") } throws: { "\($0)".contains("no such file") }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("dlnsim-cfg-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try NPY.write([1.0, 2, 3, 4, 5, 6], shape: [2, 3], dtype: .float64, to: dir + "/X.npy")
        try NPY.write([1.0, 2, 3], shape: [3], dtype: .float64, to: dir + "/y.npy")
        try "problem: {files: {X: X.npy, y: y.npy}}\n".write(toFile: dir + "/c.yaml", atomically: true, encoding: .utf8)
        let c = try Configuration.load(path: dir + "/c.yaml")
        #expect { _ = try Experiment(c) } throws: {
            "\($0)".contains("y must have shape (2,)") && "\($0)".contains("y.npy")
        }
        try "problem: {files: {X: missing.npy, y: y.npy}}\n".write(
            toFile: dir + "/m.yaml", atomically: true, encoding: .utf8)
        #expect { _ = try Experiment(try Configuration.load(path: dir + "/m.yaml")) } throws: {
            "\($0)".contains("missing.npy: no such file")
        }
        // Matching shapes train.
        try NPY.write([1.0, 2], shape: [2], dtype: .float32, to: dir + "/y.npy")
        let e = try Experiment(try Configuration.load(path: dir + "/c.yaml"))
        #expect(e.batch.layout.dimension == 3 && e.batch.layout.samples == 2)
    }

    @Test func logSpacedSchedule() {
        let s = Experiment.schedule(steps: 1000, count: 4, explicit: nil)
        #expect(s == [0, 1, 10, 100, 1000])
        #expect(Experiment.schedule(steps: 5, count: 30, explicit: nil) == [0, 1, 2, 3, 4, 5])
        #expect(Experiment.schedule(steps: 50, count: 3, explicit: [7, 3]) == [0, 3, 7, 50])
        #expect(
            Experiment.schedule(steps: 1000, count: 2, explicit: nil, start: 10, linear: 4) == [
                0, 10, 250, 500, 750, 1000
            ])
        let t = Experiment.timeSchedule(horizon: 100, first: 1, count: 3, linear: 2)
        #expect(t.count == 5 && zip(t, [0.0, 1, 10, 50, 100]).allSatisfy { abs($0 - $1) < 1e-12 })
    }
}
