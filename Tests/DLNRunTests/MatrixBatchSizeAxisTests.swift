import DLNModel
import Foundation
import Testing

@testable import DLNRun

/// `grid.batch_size` of the matrix model: one run over b ∈ {2, 5} (the engine runs one b per slice) gives each grid
/// point the numbers of a run with that `training.batch_size` alone, bit for bit, whatever the slicing.
struct MatrixBatchSizeAxisTests {
    static func config(_ batch: String) throws -> MatrixConfiguration {
        try MatrixConfiguration.parse(
            yaml: """
                model: {parameterization: matrix, widths: [4, 3, 2], init: {kind: gaussian}}
                problem: {n: 12, teacher: {singular_values: [1.5, 0.5]}}
                training: {steps: 40, update: sgd, sampling: epochs, momentum: 0.3\(batch.hasPrefix("b") ? "" : ", batch_size: \(batch)")}
                grid: {alpha: [0.3, 0.6], learning_rate: 0.05\(batch.hasPrefix("b") ? ", batch_size: [2, 5]" : "")}
                seeds: 3
                record: {checkpoints: 3}
                """, file: "axis.yaml")
    }

    @Test func eachBatchSizeIsItsOwnRun() throws {
        let c = try Self.config("both")
        #expect(c.gridPoints.map(\.batchSize) == [2, 5, 2, 5])
        #expect(c.gridColumns.contains("batch_size") && c.pointLabel(1).contains("b = 5"))
        var options = MatrixRunOptions()
        options.sliceLimit = 4
        let whole = try MatrixRun.run(c, device: nil, options: options)
        let P = whole.setup.batch.shape.parameterCount
        for (i, b) in [2, 5].enumerated() {
            let single = try MatrixRun.run(try Self.config("\(b)"), device: nil)
            for a in 0..<2 {
                for s in 0..<3 {
                    let replica = (a * 2 + i) * 3 + s
                    let mine = whole.finalParameters[(replica * P)..<((replica + 1) * P)]
                    let alone = single.finalParameters[((a * 3 + s) * P)..<((a * 3 + s + 1) * P)]
                    #expect(mine.map(\.bitPattern) == alone.map(\.bitPattern), "b = \(b), α \(a), seed \(s)")
                }
            }
        }
    }
}
