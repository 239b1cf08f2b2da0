import DLNModel

/// Matrix-model batches for tests: Gaussian data, a dense teacher plus noise, small Gaussian layers.
public enum MatrixFixture {
    /// A batch with Gaussian data (one data set, or one per replica with `independent`), targets from a dense
    /// teacher plus 0.1·noise, and layers with entries N(0, (0.3 + 0.02·b)²/n_{l−1}) rounded to the precision.
    public static func batch(
        widths: [Int], n: Int, B: Int, precision: Precision = .float64, independent: Bool = false,
        lambda: Double = 0, eta: Double = 0.05, seed: UInt64 = 7
    ) -> MatrixBatch {
        let shape = MatrixShape(widths: widths)
        let rng = CounterRNG(seed: seed)
        var index: UInt64 = 0
        func gauss() -> Double {
            index += 1
            return rng.gaussian(stream: 1, index: index)
        }
        let n0 = shape.inputs
        let nL = shape.outputs
        let sets = independent ? B : 1
        let datasets = (0..<sets).map { _ -> MatrixData in
            let x = (0..<(n * n0)).map { _ in gauss() }
            let t = (0..<(nL * n0)).map { _ in gauss() / Double(n0).squareRoot() }
            let y = (0..<n).flatMap { mu in
                (0..<nL).map { i in (0..<n0).reduce(0.0) { $0 + t[i * n0 + $1] * x[mu * n0 + $1] } + 0.1 * gauss() }
            }
            return MatrixData(x: RealArray(x, precision: precision), y: RealArray(y, precision: precision))
        }
        let initial = (0..<B).flatMap { b in
            (1...shape.depth).flatMap { l in
                (0..<(shape.widths[l] * shape.widths[l - 1])).map { _ in
                    (0.3 + 0.02 * Double(b)) * gauss() / Double(shape.widths[l - 1]).squareRoot()
                }
            }
        }
        return MatrixBatch(
            shape: shape, samples: n, precision: precision, datasets: datasets,
            dataset: (0..<B).map { independent ? $0 : 0 }, eta: (0..<B).map { eta * (1 + 0.01 * Double($0)) },
            lambdaU: [Double](repeating: lambda, count: B), gradientScale: 1 / Double(n), lossScale: 0.5 / Double(n),
            initial: RealArray(initial, precision: precision).doubles)
    }

    /// A matrix-sensing batch: m Gaussian operators per data set (one, or one per replica with `independent`),
    /// y_k = ⟨A_k, T⟩ + 0.1·noise for a dense teacher, X = I_{n_0}, and the layers of `batch`.
    /// With `tied` (widths [d, r, d]): symmetric operators (A + Aᵀ)/2, W_1 = W_2ᵀ at the start, the doubled gradient
    /// scale: the symmetric factorisation W_eff = U·Uᵀ.
    public static func sensingBatch(
        widths: [Int], m: Int, B: Int, precision: Precision = .float64, independent: Bool = false,
        lambda: Double = 0, eta: Double = 0.05, seed: UInt64 = 11, tied: Bool = false
    ) -> MatrixBatch {
        let shape = MatrixShape(widths: widths)
        let n0 = shape.inputs
        let nL = shape.outputs
        let rng = CounterRNG(seed: seed)
        var index: UInt64 = 0
        func gauss() -> Double {
            index += 1
            return rng.gaussian(stream: 2, index: index)
        }
        let base = batch(
            widths: widths, n: n0, B: B, precision: precision, independent: independent, lambda: lambda, eta: eta,
            seed: seed)
        let identity = (0..<(n0 * n0)).map { $0 / n0 == $0 % n0 ? 1.0 : 0 }
        let data = MatrixData(
            x: RealArray(identity, precision: precision),
            y: RealArray([Double](repeating: 0, count: n0 * nL), precision: precision))
        let measurements = base.datasets.map { _ -> MatrixMeasurements in
            let t = (0..<(nL * n0)).map { _ in gauss() / Double(n0).squareRoot() }
            var a = (0..<(m * nL * n0)).map { _ in gauss() }
            if tied {
                for k in 0..<m {
                    let g = Array(a[(k * n0 * n0)..<((k + 1) * n0 * n0)])
                    for i in 0..<n0 {
                        for j in 0..<n0 { a[k * n0 * n0 + i * n0 + j] = (g[i * n0 + j] + g[j * n0 + i]) / 2 }
                    }
                }
            }
            let y = (0..<m).map { k in (0..<(nL * n0)).reduce(0.0) { $0 + a[k * nL * n0 + $1] * t[$1] } + 0.1 * gauss()
            }
            return MatrixMeasurements(a: RealArray(a, precision: precision), y: RealArray(y, precision: precision))
        }
        var initial = base.initial
        if tied {
            let P = shape.parameterCount
            let r = widths[1]
            for b in 0..<B {
                for i in 0..<r { for j in 0..<n0 { initial[b * P + i * n0 + j] = initial[b * P + r * n0 + j * r + i] } }
            }
        }
        return MatrixBatch(
            shape: shape, samples: n0, precision: precision, datasets: base.datasets.map { _ in data },
            dataset: base.dataset, eta: base.eta, lambdaU: base.lambdaU, gradientScale: (tied ? 2 : 1) / Double(m),
            lossScale: 0.5 / Double(m), initial: initial, measurements: measurements, tied: tied)
    }

    /// W_eff = W_L⋯W_1 of one replica (row-major n_L×n_0), from its parameters, in float64.
    public static func product(_ params: ArraySlice<Double>, shape: MatrixShape) -> [Double] {
        let base = params.startIndex
        var m = Array(params[base..<(base + shape.widths[1] * shape.widths[0])])  // W_1: n_1×n_0
        for l in 2...max(2, shape.depth) where l <= shape.depth {
            let nin = shape.widths[l - 1]
            let nout = shape.widths[l]
            let n0 = shape.inputs
            let w = base + shape.layerOffset(l)
            var next = [Double](repeating: 0, count: nout * n0)
            for i in 0..<nout {
                for j in 0..<n0 {
                    var s = 0.0
                    for k in 0..<nin { s += params[w + i * nin + k] * m[k * n0 + j] }
                    next[i * n0 + j] = s
                }
            }
            m = next
        }
        return m
    }
}
