import DLNDevice
import DLNModel
import DLNTheory

extension Bench {
    /// The batch of a benchmark: d × n Gaussian problem, B replicas, shared (S) or independent (I) data; gd, or with
    /// `sgdBatch` b, update sgd with b rows per step drawn with replacement.
    public static func batch(
        regime: String, replicas: Int, d: Int, n: Int, precision: Precision, sgdBatch: Int? = nil
    ) throws(DLNError) -> Batch {
        var c = Configuration()
        c.problem.d = d
        c.problem.n = n
        c.problem.delta = nil
        c.problem.sharing = regime == "I" ? .independent : .shared
        c.grid.alpha = [0.1]
        c.grid.learningRate = [0.01]
        c.seeds = replicas
        c.training.steps = 1
        c.training.precision = precision
        c.record.thresholds = []
        if let b = sgdBatch {
            c.training.update = .sgd
            c.training.batchSize = b
        }
        return try Experiment(c).batch
    }
}

extension Bench {
    /// The matrix benchmark's problem: one data set X (n×n_0, entries N(0, 1)) shared by every replica (regime S) or
    /// one per replica (I), targets Y = X·Tᵀ from a teacher T (n_L×n_0) of rank k = min(n_0, n_L) with singular
    /// values 1, …, k (orthonormal singular vectors from Gram–Schmidt on Gaussian matrices), and B replicas whose
    /// layers have entries N(0, α_b²/n_{l−1}) with α_b spread evenly over [0.1, 1]; gradient descent with step
    /// size 0.01 on the mean loss (1/2n)·Σ_μ ‖W_eff·x_μ − y_μ‖², no weight decay.
    public static func matrixBatch(
        widths: [Int], n: Int, replicas B: Int, precision: Precision, regime: String = "S", seed: UInt64 = 0
    ) -> MatrixBatch {
        let shape = MatrixShape(widths: widths)
        let rng = CounterRNG(seed: seed)
        let n0 = shape.inputs
        let nL = shape.outputs
        let k = min(n0, nL)
        var counters: [RandomStream: UInt64] = [:]
        func gauss(_ stream: RandomStream) -> Double {
            counters[stream, default: 0] += 1
            return rng.gaussian(stream: stream.rawValue, index: counters[stream]!)
        }
        // Orthonormal columns (m×k, row-major) by modified Gram–Schmidt on a Gaussian matrix.
        func orthonormal(_ m: Int) -> [Double] {
            var q = (0..<(m * k)).map { _ in gauss(.teacherValue) }
            for c in 0..<k {
                for p in 0..<c {
                    let dot = (0..<m).reduce(0.0) { $0 + q[$1 * k + c] * q[$1 * k + p] }
                    for r in 0..<m { q[r * k + c] -= dot * q[r * k + p] }
                }
                let norm = (0..<m).reduce(0.0) { $0 + q[$1 * k + c] * q[$1 * k + c] }.squareRoot()
                for r in 0..<m { q[r * k + c] /= norm }
            }
            return q
        }
        let u = orthonormal(nL)
        let v = orthonormal(n0)
        var teacher = [Double](repeating: 0, count: nL * n0)
        for i in 0..<nL {
            for j in 0..<n0 {
                teacher[i * n0 + j] = (0..<k).reduce(0.0) { $0 + u[i * k + $1] * Double($1 + 1) * v[j * k + $1] }
            }
        }
        let sets = regime == "I" ? B : 1
        let datasets = (0..<sets).map { _ -> MatrixData in
            let x = (0..<(n * n0)).map { _ in gauss(.design) }
            var y = [Double](repeating: 0, count: n * nL)
            for mu in 0..<n {
                for i in 0..<nL {
                    y[mu * nL + i] = (0..<n0).reduce(0.0) { $0 + teacher[i * n0 + $1] * x[mu * n0 + $1] }
                }
            }
            return MatrixData(x: RealArray(x, precision: precision), y: RealArray(y, precision: precision))
        }
        var initial: [Double] = []
        initial.reserveCapacity(B * shape.parameterCount)
        for b in 0..<B {
            let alpha = B > 1 ? 0.1 + 0.9 * Double(b) / Double(B - 1) : 0.1
            for l in 1...shape.depth {
                let scale = alpha / Double(widths[l - 1]).squareRoot()
                for _ in 0..<(widths[l] * widths[l - 1]) { initial.append(scale * gauss(.initLayers)) }
            }
        }
        return MatrixBatch(
            shape: shape, samples: n, precision: precision, datasets: datasets,
            dataset: (0..<B).map { sets == 1 ? 0 : $0 }, eta: [Double](repeating: 0.01, count: B),
            lambdaU: [Double](repeating: 0, count: B), gradientScale: 1 / Double(n), lossScale: 0.5 / Double(n),
            initial: RealArray(initial, precision: precision).doubles)
    }
}
