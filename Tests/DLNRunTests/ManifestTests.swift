import DLNModel
import DLNRun
import DLNTheory
import Foundation
import Testing

/// manifest.json's "configuration": the YAML key paths of `ConfigurationKeys`, schema_version 2, the migration of
/// version 1 (camelCase, before the key table) and the refusals.
@Suite struct ManifestTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// The "configuration" of a real version-1 manifest: `dlnsim run examples/quickstart.yaml` before the key table.
    static let version1Quickstart = """
        {"grid": {"alpha": [0.01, 0.1, 1], "learningRate": [0.02], "weightDecay": [0]}, "model": {"depth": 2, \
        "parameterization": "pm", "uNoise": 0, "vNoise": 0}, "name": "quickstart", "problem": {"d": 200, "dataSeed": \
        0, "delta": 0.5, "designVariance": "1", "n": 100, "noise": 0, "sharing": "independent", "teacherDensity": 0.1, \
        "teacherSupport": "bernoulli", "teacherValues": "ones"}, "record": {"checkpoints": 40, "linear": 0, \
        "thresholds": [0.01, 0.1]}, "seedOffset": 0, "seeds": 64, "training": {"decayFactor": 0.5, "flow": {"atol": \
        1e-10, "maxSteps": 10000000, "minStep": 0, "rtol": 1e-08}, "loss": "mean", "maxLossRatio": 10000000000, \
        "precision": "float32", "steps": 3000, "update": "gd"}}
        """

    static func json(_ text: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    }

    /// A manifest as written to disk and read back (the JSON text in between).
    static func roundTrip(_ c: Configuration) throws -> [String: Any] {
        let manifest: [String: Any] = [
            "schema_version": Configuration.manifestSchemaVersion, "configuration": c.manifestValue
        ]
        let data = try JSONSerialization.data(withJSONObject: manifest, options: [.prettyPrinted, .sortedKeys])
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    /// A configuration written as manifest.json's bytes and read back from them.
    static func throughBytes(_ c: Configuration) throws -> Configuration {
        let manifest: [String: Any] = [
            "schema_version": Configuration.manifestSchemaVersion, "configuration": c.manifestValue
        ]
        return try Configuration.fromManifest(
            data: try JSONSerialization.data(withJSONObject: manifest, options: [.sortedKeys]), path: "m")
    }

    static func refusal(_ manifest: [String: Any]) -> String {
        do {
            _ = try Configuration.fromManifest(manifest, path: "m/manifest.json")
            return "accepted"
        } catch {
            return "\(error)"
        }
    }

    @Test func theTableNamesEveryKeyOnce() {
        let keys = ConfigurationKeys.all
        #expect(Set(keys.map(\.path)).count == keys.count)
        #expect(Set(keys.map(\.legacyPath)).count == keys.count)
        #expect(keys.allSatisfy { $0.path == $0.path.lowercased() || $0.path.hasPrefix("problem.files.") })
        // grid.csv's columns, in their order.
        #expect(
            ConfigurationKeys.gridColumns.map(\.name) == [
                "alpha", "weight_decay", "learning_rate", "lambda_u", "d", "n", "delta", "noise",
                "density", "depth", "parameterization", "update", "batch_size", "label_noise", "gradient_noise",
                "momentum"
            ])
        #expect(ConfigurationKeys.key("problem.teacher.density")?.defaultValue as? Double == 0.1)
        #expect(ConfigurationKeys.key("training.horizon")?.defaultValue == nil)
    }

    @Test func theManifestSpellsKeysAsYAMLDoes() throws {
        let c = try Configuration.load(path: Self.root.appendingPathComponent("examples/quickstart.yaml").path)
        let m = try Self.roundTrip(c)
        let config = try #require(m["configuration"] as? [String: Any])
        let grid = try #require(config["grid"] as? [String: Any])
        #expect(grid["learning_rate"] as? [Double] == [0.02] && grid["learningRate"] == nil)
        #expect(
            (config["problem"] as? [String: Any])?["teacher"].flatMap { $0 as? [String: Any] }?["density"] as? Double
                == 0.1)
        #expect(config["theory"] is NSNull && (config["training"] as? [String: Any])?["horizon"] is NSNull)
        #expect(try Configuration.fromManifest(m, path: "m") == c)
    }

    /// Every kind of value comes back as it was: optionals, groups, lists of choices, awkward doubles.
    @Test func everyKeyRoundTrips() throws {
        var c = try Configuration.parse(
            yaml: """
                problem: {d: 30, n: 7, teacher: {values: signs, support: exact}, noise: 0.30000000000000004}
                model: {parameterization: deep, depth: 3, init: {layer_scales: [1, 0.5, 2]}}
                training: {update: flow, horizon: 12.5, precision: float64, flow: {rtol: 1e-7, initial_step: 1e-5}}
                grid: {alpha: [0.1, 1e-100], learning_rate: 0.1, density: [0, 0.1]}
                record: {checkpoints: 5, start: 0.5, linear: 3}
                seeds: 3
                seed_offset: 9
                device: cpu
                """)
        #expect(c.problem.delta == nil)
        // Every double exactly, 0.30000000000000004 and 1e-100 included (manifest.json's bytes, as merge and analyze
        // read them).
        #expect(try Self.throughBytes(c) == c)
        c = try Configuration.parse(
            yaml:
                "theory: {paths: 128, response_paths: 64}\ngrid: {parameterization: [pm], update: [gd]}\nrecord: "
                + "{steps: [3, 7]}"
        )
        #expect(c.theory?.paths == 128)
        #expect(try Self.throughBytes(c) == c)
        var nDirectly = Configuration()
        nDirectly.problem.delta = nil
        #expect(try Configuration.fromManifest(try Self.roundTrip(nDirectly), path: "m") == nDirectly)
    }

    /// A version-2 folder written before `training.summation` existed reads as ascending (what it ran with), not as
    /// the key's default, auto; a written one reads back as it was.
    @Test func summationOfEarlierFoldersIsAscending() throws {
        var manifest = try Self.roundTrip(Configuration())
        var config = try #require(manifest["configuration"] as? [String: Any])
        var training = try #require(config["training"] as? [String: Any])
        #expect(training["summation"] as? String == "auto")
        training["summation"] = nil
        config["training"] = training
        manifest["configuration"] = config
        #expect(try Configuration.fromManifest(manifest, path: "m").training.summation == .ascending)
        var strided = Configuration()
        strided.training.summation = .strided
        #expect(try Self.throughBytes(strided).training.summation == .strided)
    }

    /// A folder written before schema_version existed reads as the same configuration.
    @Test func version1Migrates() throws {
        let manifest: [String: Any] = ["configuration": try Self.json(Self.version1Quickstart), "seeds": 64]
        let migrated = try Configuration.fromManifest(manifest, path: "m")
        var loaded = try Configuration.load(path: Self.root.appendingPathComponent("examples/quickstart.yaml").path)
        #expect(loaded.training.summation == .auto)
        loaded.training.summation = .ascending  // what every run summed in before the key existed
        #expect(migrated == loaded)
        // An absent optional was left out by the old encoding: it stays absent (δ is not filled with 0.5).
        var v1 = try Self.json(Self.version1Quickstart)
        var problem = try #require(v1["problem"] as? [String: Any])
        problem["delta"] = nil
        problem["n"] = 37
        v1["problem"] = problem
        let withN = try Configuration.fromManifest(["configuration": v1], path: "m")
        #expect(withN.problem.delta == nil && withN.problem.n == 37)
        // theory and user files come along.
        v1["theory"] = [
            "paths": 100, "responsePaths": 10, "damping": 0.5, "tolerance": 1e-4, "maxIterations": 7, "seed": 1
        ]
        problem["files"] = ["x": "/data/X.npy", "y": "/data/y.npy", "xTest": "/data/Xt.npy", "yTest": "/data/yt.npy"]
        v1["problem"] = problem
        let more = try Configuration.fromManifest(["configuration": v1], path: "m")
        #expect(more.theory?.maxIterations == 7 && more.theory?.responsePaths == 10)
        #expect(
            more.problem.files?.x == "/data/X.npy" && more.problem.files?.xTest == "/data/Xt.npy"
                && more.problem.files?.wStar == nil)
    }

    @Test func version1WithAnUnknownOrMissingKeyIsRefused() throws {
        var v1 = try Self.json(Self.version1Quickstart)
        var grid = try #require(v1["grid"] as? [String: Any])
        grid["learningRates"] = [0.1]
        v1["grid"] = grid
        let unknown = Self.refusal(["configuration": v1])
        #expect(unknown.contains("schema_version 1") && unknown.contains("'grid.learningRates'"), "\(unknown)")
        var old = try Self.json(Self.version1Quickstart)
        var training = try #require(old["training"] as? [String: Any])
        training["maxLossRatio"] = nil
        old["training"] = training
        let missing = Self.refusal(["configuration": old])
        #expect(missing.contains("schema_version 1") && missing.contains("training.maxLossRatio"), "\(missing)")
        // Above all, a missing learning rate is never the default η.
        var noRate = try Self.json(Self.version1Quickstart)
        grid = try #require(noRate["grid"] as? [String: Any])
        grid["learningRate"] = nil
        noRate["grid"] = grid
        #expect(Self.refusal(["configuration": noRate]).contains("grid.learningRate"))
    }

    @Test func version2MissingOrUnknownKeyIsRefused() throws {
        var m = try Self.roundTrip(Configuration())
        var config = try #require(m["configuration"] as? [String: Any])
        var grid = try #require(config["grid"] as? [String: Any])
        grid["learning_rate"] = nil
        config["grid"] = grid
        m["configuration"] = config
        let missing = Self.refusal(m)
        #expect(
            missing.contains("schema_version 2") && missing.contains("'grid.learning_rate'")
                && missing.contains("m/manifest.json"), "\(missing)")
        grid["learning_rate"] = [0.1]
        grid["learningRate"] = [0.1]
        config["grid"] = grid
        m["configuration"] = config
        #expect(Self.refusal(m).contains("unknown configuration key 'grid.learningRate'"))
        grid["learningRate"] = nil
        grid["learning_rate"] = "fast"
        config["grid"] = grid
        m["configuration"] = config
        #expect(Self.refusal(m).contains("'grid.learning_rate' is fast, not a list of numbers"))
    }

    @Test func anUnknownVersionIsRefused() throws {
        var m = try Self.roundTrip(Configuration())
        m["schema_version"] = 3
        let newer = Self.refusal(m)
        #expect(newer.contains("schema_version 3") && newer.contains("newer dlnsim"), "\(newer)")
        m["schema_version"] = "two"
        #expect(Self.refusal(m).contains("schema_version is two"))
    }

    @Test func replicaStatusCodes() {
        #expect(ReplicaStatus.allCases.map(\.rawValue) == [-1, 0, 1, 2, 3, 4, 5])
        #expect(
            ReplicaStatus.reason(5) == ReplicaStatus.lossBound.reason && ReplicaStatus.reason(9) == "unknown status 9")
        #expect(
            ReplicaStatus.isFrozen(code: 4) && !ReplicaStatus.isFrozen(code: 0) && !ReplicaStatus.isFrozen(code: -1))
    }

    @Test func observablesHaveOneList() {
        #expect(ObservableSet.fixed == Observable.allCases.map(\.name))
        #expect(ObservableSet(thresholds: [0.1]).names.prefix(2) == ["train_loss", "test_error"])
        #expect(Observable.trainLoss.index == 0 && ObservableSet.label("test_error") == "test error")
    }
}
