import DLNModel
import DLNRun
import Foundation
import Testing

/// The keys record.weights, record.layers, record.activation and record.max_bytes: their forms, their refusals,
/// config.yaml and manifest.json round trips, and the checkpoint that carries what has been recorded.
struct RecordingConfigurationTests {
    static func parse(_ yaml: String) throws -> Configuration { try Configuration.parse(yaml: yaml) }

    static func problems(_ yaml: String) -> [String] {
        do {
            _ = try parse(yaml)
            return []
        } catch {
            guard let e = error as? DLNError, case .invalidConfiguration(_, let issues) = e else { return ["\(error)"] }
            return issues.map(\.description)
        }
    }

    @Test func theFormsOfRecordWeights() throws {
        #expect(try Self.parse("seeds: 2").record.weightsEvery == nil)
        #expect(try Self.parse("record: {weights: true}").record.weightsEvery == 1)
        #expect(try Self.parse("record: {weights: false}").record.weightsEvery == nil)
        #expect(try Self.parse("record: {weights: {every: 4}}").record.weightsEvery == 4)
        #expect(try Self.parse("record: {weights: 3}").record.weightsEvery == 3)
        let c = try Self.parse("record: {weights: {every: 2}, layers: true, activation: [0.1, 1], max_bytes: 1.0e6}")
        #expect(c.record.layers && c.record.activation == [0.1, 1] && c.record.maxBytes == 1e6)
    }

    @Test(arguments: [
        ("record: {weights: {every: 0}}", "record.weights.every: must be at least 1"),
        ("record: {weights: {evry: 2}}", "record.weights.evry: unknown key (did you mean 'every'?)"),
        ("record: {weights: [1]}", "record.weights: must be true, false or {every: k}, got a list"),
        ("record: {weights: often}", "record.weights: must be true, false or {every: k}, got 'often'"),
        ("record: {layers: true}", "record.layers: records the layers beside w: set record.weights too"),
        ("record: {layers: 2}", "record.layers: must be true or false"),
        ("record: {activation: [0.1, -1]}", "record.activation"),
        ("record: {max_bytes: 0}", "record.max_bytes: must be positive")
    ])
    func badRecordKeys(_ yaml: String, _ message: String) {
        let found = Self.problems(yaml)
        #expect(found.contains { $0.contains(message) }, "\(yaml): \(found)")
    }

    /// config.yaml and manifest.json give the same configuration back.
    @Test func roundTrips() throws {
        let c = try Self.parse("record: {weights: {every: 5}, layers: true, activation: [0.01], max_bytes: 123456}")
        #expect(try Configuration.parse(yaml: c.resolvedYAML) == c)
        let manifest: [String: Any] = [
            "schema_version": Configuration.manifestSchemaVersion, "configuration": c.manifestValue
        ]
        let data = try JSONSerialization.data(withJSONObject: manifest, options: [.sortedKeys])
        #expect(try Configuration.fromManifest(data: data, path: "m") == c)
        // A manifest written before these keys existed reads with their defaults.
        var old = c.manifestValue
        var record = try #require(old["record"] as? [String: Any])
        for key in ["weights", "layers", "activation", "max_bytes"] { record[key] = nil }
        old["record"] = record
        let before = try Configuration.fromManifest(["schema_version": 2, "configuration": old], path: "m")
        #expect(before.record.weightsEvery == nil && !before.record.layers && before.record.activation == nil)
        #expect(before.record.maxBytes == Configuration().record.maxBytes)
    }

    /// The plan's shapes and size, and the refusals of grids with several d.
    @Test func thePlan() throws {
        let e = try Experiment(
            try Self.parse(
                "problem: {d: 10, n: 5}\nseeds: 3\ngrid: {alpha: [0.1, 1]}\ntraining: {steps: 100}\n"
                    + "record: {checkpoints: 6, weights: {every: 2}, layers: true, activation: [0.1]}"))
        let plan = try #require(try Recording.plan(e, file: "c.yaml"))
        let C = e.checkpointCount
        #expect(plan.checkpoints == Recording.recordedCheckpoints(C, every: 2) && plan.checkpoints.last == C - 1)
        let R = plan.checkpoints.count
        #expect(plan.bytes == Double(6 * R * 10 + 6 * R * 2 * 10 + 6 * 10) * 8)
        #expect(plan.weights.isEmpty && plan.layers.isEmpty && plan.activation.isEmpty, "a plan holds no arrays")
        let full = plan.allocated()
        #expect(Double(full.weights.count + full.layers.count + full.activation.count) * 8 == plan.bytes)
        #expect(full.weights.allSatisfy(\.isNaN) && full.activation.allSatisfy(\.isNaN))
        let grid = try Experiment(
            try Self.parse("problem: {delta: 0.5}\ngrid: {d: [10, 20]}\nrecord: {activation: [0.1]}"))
        #expect(throws: DLNError.self) { try Recording.plan(grid, file: "c.yaml") }
        do {
            _ = try Recording.plan(grid, file: "c.yaml")
        } catch {
            #expect("\(error)".contains("record.activation: needs one d at every grid point"), "\(error)")
        }
        #expect(try Recording.plan(try Experiment(try Self.parse("seeds: 2")), file: "c.yaml") == nil)
    }

    /// --check's size (from the configuration alone) is the run's (from the experiment), for steps, horizons and flow.
    @Test(arguments: [
        "training: {steps: 1000}\nrecord: {checkpoints: 40, linear: 7, weights: {every: 3}, layers: true}",
        "training: {horizon: 50}\ngrid: {learning_rate: [0.5, 0.05]}\nrecord: {checkpoints: 80, weights: true}",
        "training: {update: flow, horizon: 30, precision: float64}\nrecord: {checkpoints: 25, activation: [0.1, 0.2]}",
        "training: {steps: 300}\nrecord: {steps: [5, 50, 70], weights: {every: 2}, activation: [1]}"
    ])
    func checkAgreesWithTheRun(_ yaml: String) throws {
        let c = try Self.parse("problem: {d: 12, n: 6}\nseeds: 3\n" + yaml)
        let e = try Experiment(c)
        let line = try #require(try Recording.sizeLine(c, file: "c.yaml"))
        let plan = try #require(try Recording.plan(e, file: "c.yaml"))
        #expect(line.hasPrefix(Recording.size(plan.bytes) + " (\(Int(plan.bytes)) bytes: "), "\(line)")
        let files = plan.files(gridPoints: e.gridPoints.count, seeds: 3)
        for f in files { #expect(line.contains(f.name + " " + f.shape.map(String.init).joined(separator: " × "))) }
    }

    /// A checkpoint carries the record so far, bit for bit.
    @Test func checkpointsCarryTheRecord() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("rec-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var p = RunProgress(replicas: 2, checkpoints: 3)
        var r = Recording(checkpoints: [0, 2], every: 2, d: 2, layerCount: 2, thresholds: [0.5], replicas: 2)
        r.weights[1] = 0.25
        r.layers[3] = -1e-300
        r.activation[2] = 7.5
        p.recording = r
        let origin = Checkpoint.Origin(
            configPath: "/c.yaml", configText: "seeds: 2\n", device: "cpu", saveWeights: false, shard: nil)
        try Checkpoint.write(p, origin: origin, to: dir)
        let q = try #require(try Checkpoint.read(from: dir).1.recording)
        func bits(_ v: [Double]) -> [UInt64] { v.map(\.bitPattern) }
        #expect(q.checkpoints == r.checkpoints && q.every == 2 && q.d == 2 && q.layerCount == 2)
        #expect(q.thresholds == [0.5] && q.replicas == 2)
        #expect(bits(q.weights) == bits(r.weights) && bits(q.layers) == bits(r.layers))
        #expect(bits(q.activation) == bits(r.activation))
        // Without a record, none comes back.
        try Checkpoint.write(RunProgress(replicas: 2, checkpoints: 3), origin: origin, to: dir)
        #expect(try Checkpoint.read(from: dir).1.recording == nil)
    }
}
