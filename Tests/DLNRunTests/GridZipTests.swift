import DLNModel
import DLNRun
import Foundation
import Testing

/// `grid.zip`: axes paired element by element; the product runs over the zip groups and the other axes.
@Suite struct GridZipTests {
    static func message(_ yaml: String) -> String {
        do {
            _ = try Configuration.parse(yaml: yaml)
            return "accepted"
        } catch { return "\(error)" }
    }

    @Test func zippedAxesPairUpAndTheOthersCross() throws {
        let c = try Configuration.parse(
            yaml: """
                problem: {d: 8}
                grid:
                  alpha: [0.1, 1, 10]
                  learning_rate: [0.01, 0.02, 0.03]
                  weight_decay: [0, 0.5]
                  zip: [[alpha, learning_rate]]
                seeds: 2
                """)
        #expect(c.gridPoints == 6 && c.replicaCount == 12)
        let points = try Experiment(c).gridPoints
        #expect(points.map(\.alpha) == [0.1, 0.1, 1, 1, 10, 10])
        #expect(points.map(\.learningRate) == [0.01, 0.01, 0.02, 0.02, 0.03, 0.03])
        #expect(points.map(\.weightDecay) == [0, 0.5, 0, 0.5, 0, 0.5])
        // Without zip: every combination, α outermost, as before.
        var crossed = c
        crossed.grid.zip = nil
        #expect(crossed.gridPoints == 18)
        let all = try Experiment(crossed).gridPoints
        #expect(all.prefix(3).map(\.learningRate) == [0.01, 0.02, 0.03] && all[3].weightDecay == 0.5)
        // A zip group pairing axes that change the model: d with δ.
        let shapes = try Configuration.parse(
            yaml: "grid: {d: [10, 20], delta: [0.5, 2], zip: [[d, delta]]}\nproblem: {}\n")
        #expect(try Experiment(shapes).gridPoints.map(\.n) == [5, 40])
    }

    @Test(arguments: [
        (
            "grid: {alpha: [1, 2, 3], learning_rate: [0.1, 0.2], zip: [[alpha, learning_rate]]}",
            "grid.zip[0]: the zipped axes must have the same number of values, got alpha 3, learning_rate 2"
        ),
        ("grid: {alpha: [1, 2], zip: [[alpah, learning_rate]]}", "grid.zip[0]: 'alpah' is not a grid axis"),
        (
            "grid: {alpha: [1, 2], learning_rate: [1, 2], weight_decay: [0, 1], zip: [[alpha, learning_rate], "
                + "[alpha, weight_decay]]}",
            "grid.zip[1]: 'alpha' is already zipped in grid.zip[0]"
        ),
        ("grid: {zip: [alpha, learning_rate]}", "grid.zip[0]: must be a list of lists of grid axes"),
        ("grid: {zip: alpha}", "grid.zip: must be a list of lists of grid axes to pair"),
        ("grid: {zip: [[alpha]]}", "each list names at least two axes")
    ])
    func badZipsAreRefusedWithTheirKeyPath(yaml: String, expected: String) {
        let m = Self.message(yaml)
        #expect(m.contains(expected), "\(m)")
    }

    /// grid.zip goes through manifest.json (merge, resume and analyze read folders back from it); a manifest written
    /// before the key existed reads as no zip.
    @Test func zipRoundTripsThroughTheManifest() throws {
        let c = try Configuration.parse(
            yaml: "grid: {alpha: [1, 2], learning_rate: [0.1, 0.2], zip: [[alpha, learning_rate]]}")
        let manifest: [String: Any] = [
            "schema_version": Configuration.manifestSchemaVersion, "configuration": c.manifestValue
        ]
        let data = try JSONSerialization.data(withJSONObject: manifest, options: [.sortedKeys])
        #expect(try Configuration.fromManifest(data: data, path: "m") == c)
        var older = c.manifestValue
        var grid = try #require(older["grid"] as? [String: Any])
        grid["zip"] = nil
        older["grid"] = grid
        let read = try Configuration.fromManifest(
            ["schema_version": Configuration.manifestSchemaVersion, "configuration": older], path: "m")
        #expect(read.grid.zip == nil && read.gridPoints == 4)
        #expect(try Configuration.parse(yaml: c.resolvedYAML) == c)
    }
}
