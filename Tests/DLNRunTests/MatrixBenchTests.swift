import DLNDevice
import DLNModel
import DLNRun
import DLNTheory
import Testing

/// The problem `dlnsim bench --matrix` times, and how it counts the work.
struct MatrixBenchTests {
    /// The teacher recovered from the data by least squares (XᵀX·Tᵀ = XᵀY) has singular values 1, …, min(n_0, n_L):
    /// T·Tᵀ has eigenvalues 1, 4, 9 for n_L = 3.
    @Test func teacherHasSingularValuesOneToK() throws {
        let widths = [6, 5, 3]
        let n = 20
        let batch = Bench.matrixBatch(widths: widths, n: n, replicas: 4, precision: .float64)
        let x = batch.datasets[0].x.doubles
        let y = batch.datasets[0].y.doubles
        let n0 = widths[0]
        let nL = widths[2]
        var gram = [Double](repeating: 0, count: n0 * n0)
        for mu in 0..<n { for a in 0..<n0 { for b in 0..<n0 { gram[a * n0 + b] += x[mu * n0 + a] * x[mu * n0 + b] } } }
        let chol = try #require(Dense.cholesky(gram, n0))
        var teacher = [Double](repeating: 0, count: nL * n0)  // row i: T's row, from XᵀX·t = Xᵀy_i
        for i in 0..<nL {
            let rhs = (0..<n0).map { a in (0..<n).reduce(0.0) { $0 + x[$1 * n0 + a] * y[$1 * nL + i] } }
            let row = Dense.choleskySolve(chol, n0, rhs)
            for a in 0..<n0 { teacher[i * n0 + a] = row[a] }
        }
        var ttt = [Double](repeating: 0, count: nL * nL)
        for i in 0..<nL {
            for j in 0..<nL {
                ttt[i * nL + j] = (0..<n0).reduce(0.0) { $0 + teacher[i * n0 + $1] * teacher[j * n0 + $1] }
            }
        }
        let values = Dense.symmetricEigenvalues(ttt, nL)
        for (k, v) in values.enumerated() {
            #expect(abs(v - Double((k + 1) * (k + 1))) < 1e-8, "eigenvalue \(k): \(v)")
        }
    }

    /// Replica b's layers have entries N(0, α_b²/n_{l−1}), α_b from 0.1 (first) to 1 (last): the empirical second
    /// moment of each layer, times n_{l−1}, is α_b² within sampling error; shared data in regime S, one data set
    /// per replica in regime I; gradient descent with step 0.01 on the mean loss.
    @Test func layersSpreadTheirScaleOverTheReplicas() {
        let widths = [40, 30, 20]
        let B = 5
        let shape = MatrixShape(widths: widths)
        let shared = Bench.matrixBatch(widths: widths, n: 8, replicas: B, precision: .float32)
        #expect(shared.datasets.count == 1 && shared.dataset == [Int](repeating: 0, count: B))
        #expect(shared.eta.allSatisfy { $0 == 0.01 } && shared.lambdaU.allSatisfy { $0 == 0 })
        #expect(shared.gradientScale == 1.0 / 8 && shared.lossScale == 0.5 / 8)
        let P = shape.parameterCount
        for b in 0..<B {
            let alpha = 0.1 + 0.9 * Double(b) / Double(B - 1)
            for l in 1...shape.depth {
                let start = b * P + shape.layerOffset(l)
                let count = widths[l] * widths[l - 1]
                let moment = shared.initial[start..<(start + count)].reduce(0) { $0 + $1 * $1 } / Double(count)
                let ratio = moment * Double(widths[l - 1]) / (alpha * alpha)
                #expect(abs(ratio - 1) < 0.15, "replica \(b), layer \(l): \(ratio)")
            }
        }
        let independent = Bench.matrixBatch(widths: widths, n: 8, replicas: B, precision: .float32, regime: "I")
        #expect(independent.datasets.count == B && independent.dataset == Array(0..<B))
        #expect(independent.datasets[0].x.doubles != independent.datasets[1].x.doubles)
    }

    /// The multiply-adds of a step, counted layer by layer as batched-GEMM code does: forward n·n_l·n_{l−1} and the
    /// layer gradient as many for every layer, back-propagation for every layer but the first.
    @Test(arguments: [[100, 100, 100, 10], [7, 3], [5, 9, 2, 4]])
    func stepMultiplyAddsCountsForwardBackwardAndBackpropagation(widths: [Int]) {
        let n = 37
        var expected = 0
        for l in 1..<widths.count {
            expected += n * widths[l] * widths[l - 1]  // forward
            expected += n * widths[l] * widths[l - 1]  // layer gradient
            if l > 1 { expected += n * widths[l] * widths[l - 1] }  // δ_{l−1} = δ_l·W_l
        }
        #expect(MatrixShape(widths: widths).stepMultiplyAdds(samples: n) == expected)
    }
}
