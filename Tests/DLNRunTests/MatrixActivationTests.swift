import DLNModel
import Foundation
import Testing

@testable import DLNRun

/// `record.activation` of the matrix model: the first checkpoint time at which a mode strength |a_i| exceeds τ, per
/// replica, threshold and mode; from a small aligned start the modes activate one by one, the strongest first
/// (Saxe's learning order), and a mode whose strength never reaches τ has NaN.
struct MatrixActivationTests {
    @Test func modesActivateInTheOrderOfTheirStrength() throws {
        let c = try MatrixConfiguration.parse(
            yaml: """
                model: {parameterization: matrix, widths: [5, 5, 5], init: {kind: aligned}}
                problem: {n: 20, whiten: true, teacher: {singular_values: [3, 1.5, 0.5]}}
                training: {steps: 1500, precision: float64}
                grid: {alpha: 0.02, learning_rate: 0.05}
                seeds: 2
                record: {checkpoints: 60, spacing: linear, activation: [0.25, 2]}
                """, file: "activation.yaml")
        #expect(c.activation == [0.25, 2])
        let run = try MatrixRun.run(c, device: nil)
        let times = run.activationTimes([0.25, 2])
        #expect(times.count == 2 * 2 * 3)
        for b in 0..<2 {
            let t = run.times(replica: b)
            let row = Array(times[(b * 6)..<(b * 6 + 6)])  // [threshold][mode]
            // τ = 0.25: every mode; strongest first.
            #expect(row[0] < row[1] && row[1] < row[2], "replica \(b): \(row)")
            for (i, value) in row.prefix(3).enumerated() {
                let k = try #require(t.firstIndex(of: value), "an activation time is a checkpoint time")
                #expect(abs(run.modeStrength[b][k][i]) > 0.25 && (k == 0 || abs(run.modeStrength[b][k - 1][i]) <= 0.25))
            }
            // τ = 2: only the mode of strength 3 gets there.
            #expect(row[3].isFinite && row[4].isNaN && row[5].isNaN, "replica \(b): \(row)")
        }
    }
}
