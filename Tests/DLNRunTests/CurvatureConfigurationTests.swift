import DLNModel
import DLNRun
import Foundation
import Testing

/// The keys record.sharpness and record.pl_constant: their forms, their refusals (naming the key), the observables
/// they add, config.yaml and manifest.json round trips, and what `--check` says they cost.
struct CurvatureConfigurationTests {
    @Test func theFormsOfTheCurvatureKeys() throws {
        let off = try RecordingConfigurationTests.parse("seeds: 2")
        #expect(off.record.sharpness == nil && off.record.plConstant == nil)
        #expect(off.observableSet.names.count == off.observableSet.kernelCount && off.curvatureCostLine == nil)
        let on = try RecordingConfigurationTests.parse("record: {sharpness: true, pl_constant: {iterations: 30}}")
        #expect(on.record.sharpness == 100 && on.record.plConstant == 30)
        #expect(on.observableSet.names.suffix(2) == ["sharpness", "pl_constant"])
        #expect(try RecordingConfigurationTests.parse("record: {sharpness: 7}").record.sharpness == 7)
        #expect(try RecordingConfigurationTests.parse("record: {pl_constant: false}").record.plConstant == nil)
        let only = try RecordingConfigurationTests.parse("record: {pl_constant: true}").observableSet
        #expect(
            only.names.last == "pl_constant" && only.count == off.observableSet.count + 1
                && only.kernelCount == off.observableSet.kernelCount)
        // The Lanczos steps an engine runs: at most the Hessian's size, at most min(n, d + 1) for the kernel.
        #expect(ObservableSet(thresholds: [], sharpnessSteps: 100).sharpnessLanczos(stateSize: 24) == 24)
        #expect(ObservableSet(thresholds: [], plSteps: 100).plLanczos(samples: 50, dimension: 10) == 11)
        #expect(ObservableSet(thresholds: [], plSteps: 5).plLanczos(samples: 50, dimension: 10) == 5)
        let line = try #require(on.curvatureCostLine)
        #expect(line.contains("sharpness 100 Hessian-vector products") && line.contains("min(30, n, d + 1)"))
    }

    @Test(arguments: [
        ("record: {sharpness: 0}", "record.sharpness: must be between 1 and 10000"),
        ("record: {sharpness: {iterations: 20000}}", "record.sharpness.iterations: must be between 1 and 10000"),
        ("record: {pl_constant: {iters: 5}}", "record.pl_constant.iters: unknown key"),
        ("record: {pl_constant: [1]}", "record.pl_constant: must be true, false or {iterations: k}, got a list"),
        ("record: {sharpness: often}", "record.sharpness: must be true, false or {iterations: k}, got 'often'")
    ])
    func badCurvatureKeys(_ yaml: String, _ message: String) {
        let found = RecordingConfigurationTests.problems(yaml)
        #expect(found.contains { $0.contains(message) }, "\(yaml): \(found)")
    }

    /// config.yaml and manifest.json give the same configuration back; a manifest from before the keys reads as off.
    @Test func roundTrips() throws {
        let c = try RecordingConfigurationTests.parse("record: {sharpness: {iterations: 12}, pl_constant: true}")
        #expect(try Configuration.parse(yaml: c.resolvedYAML) == c)
        let manifest: [String: Any] = [
            "schema_version": Configuration.manifestSchemaVersion, "configuration": c.manifestValue
        ]
        let data = try JSONSerialization.data(withJSONObject: manifest, options: [.sortedKeys])
        #expect(try Configuration.fromManifest(data: data, path: "m") == c)
        var old = c.manifestValue
        var record = try #require(old["record"] as? [String: Any])
        for key in ["sharpness", "pl_constant"] { record[key] = nil }
        old["record"] = record
        let before = try Configuration.fromManifest(["schema_version": 2, "configuration": old], path: "m")
        #expect(before.record.sharpness == nil && before.record.plConstant == nil)
    }
}
