import DLNModel
import DLNRun
import DLNTheory
import Foundation
import Testing

/// Matrix sensing runs: the commuting case (diagonal operators, identity initialisation) against its exact flow
/// limit, and the low-rank bias of small initialisations with Gaussian operators.
struct MatrixSensingTests {
    static func configuration(_ yaml: String) throws -> MatrixConfiguration {
        try MatrixConfiguration.parse(yaml: yaml, file: "test.yaml")
    }

    /// Gradient flow from W_l = α·I with diagonal A_k keeps every layer diagonal (off-diagonal entries exactly 0) and
    /// ends on the interpolator of the depth-L diagonal model's potential: ≤ 1e-6 relative at depths 2 and 3, and for
    /// the symmetric factorisation U·Uᵀ (the same limit: u_i² is the depth-2 model with equal layers).
    @Test(arguments: [(2, 0.2, "general"), (3, 0.5, "general"), (2, 0.3, "symmetric")])
    func commutingFlowEndsOnThePredictedLimit(depth: Int, alpha: Double, factorization: String) throws {
        let widths = [Int](repeating: 6, count: depth + 1)
        let c = try Self.configuration(
            """
            model: {parameterization: matrix, widths: \(widths), init: {kind: identity}, factorization: \(factorization)}
            problem: {task: sensing, operator: diagonal, n: 3, teacher: {singular_values: [1.5, 1.0]}}
            training: {update: flow, horizon: 4000, precision: float64, flow: {rtol: 1e-11, atol: 1e-14}}
            grid: {alpha: \(alpha)}
            seeds: 2
            record: {checkpoints: 4}
            """)
        #expect(MatrixTheory.isCommuting(c))
        let run = try MatrixRun.run(c, device: nil)
        let predicted = try #require(MatrixTheory.commutingLimit(run.setup))
        let shape = run.setup.batch.shape
        let P = shape.parameterCount
        for b in 0..<run.setup.batch.replicas {
            #expect(run.flowStatus[b] == 0)
            let layers = run.finalParameters[(b * P)..<((b + 1) * P)]
            for (e, v) in layers.enumerated() where (e % (6 * 6)) / 6 != e % 6 {
                #expect(v == 0, "replica \(b): off-diagonal parameter \(e) = \(v)")
            }
            let w = MatrixObservables.product(layers, shape: shape)
            let diagonal = (0..<6).map { w[$0 * 6 + $0] }
            let scale = max(diagonal.map(abs).max()!, 1e-12)
            let distance = zip(diagonal, predicted[b]).map { abs($0 - $1) }.max()! / scale
            #expect(distance <= 1e-6, "replica \(b): ‖w − limit‖∞/‖w‖∞ = \(distance), loss \(run.trainLoss[b].last!)")
            #expect(run.trainLoss[b].last! < 1e-16, "replica \(b) did not converge")
        }
    }

    /// Gaussian operators, a rank-1 teacher, m = 40 measurements of an 8×8 matrix (fewer than its 64 entries): from a
    /// small initialisation gradient descent finds the teacher (relative test error < 0.05, effective rank < 1.5),
    /// from α = 1 it interpolates with a dense matrix (relative error > 0.15; measured 0.24–0.54).
    @Test func smallInitialisationFindsTheLowRankTeacher() throws {
        let c = try Self.configuration(
            """
            model: {parameterization: matrix, widths: [8, 8, 8], init: {kind: gaussian}}
            problem: {task: sensing, n: 40, teacher: {singular_values: [2]}}
            training: {steps: 6000, precision: float64}
            grid: {alpha: [0.001, 1.0], learning_rate: 0.05}
            seeds: 4
            record: {checkpoints: 3}
            """)
        let run = try MatrixRun.run(c, device: nil)
        let S = c.seeds
        for s in 0..<S {
            let small = run.testError[s].last! / 4
            let large = run.testError[S + s].last! / 4
            #expect(run.trainLoss[s].last! < 1e-4 && run.trainLoss[S + s].last! < 1e-9, "seed \(s): not fitted")
            #expect(small < 0.05, "seed \(s), α = 0.001: relative test error \(small)")
            #expect(run.effectiveRank[s].last! < 1.5, "seed \(s), α = 0.001: effective rank")
            #expect(large > 0.15, "seed \(s), α = 1: relative test error \(large)")
        }
    }
}
