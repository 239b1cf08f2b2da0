import DLNModel
import TestSupport
import Testing

/// Mini-batch SGD of the matrix model on the CPU engine: with b = n and sequential sampling it is full-batch gradient
/// descent bit for bit; a step is W ← W − η·(∂ℓ_B/∂W + λW) with the gradient of the mini-batch loss on the rows
/// `BatchSampler` draws for the replica's seed and the step, written as products of matrices in float64.
struct MatrixSGDModelTests {
    static func stochastic(_ batch: MatrixBatch, b: Int, sampling: Sampling, mean: Bool = true) -> MatrixStochastic {
        MatrixStochastic(
            seeds: (0..<batch.replicas).map { 3 + 2 * $0 }, batchSize: b, sampling: sampling, meanLoss: mean,
            factor: batch.tied ? 2 : 1)
    }

    static func bits(_ a: RealArray) -> [UInt64] { a.doubles.map(\.bitPattern) }

    @Test(arguments: [Precision.float32, .float64])
    func fullSequentialBatchIsGradientDescent(precision: Precision) throws {
        let cases = [
            MatrixFixture.batch(widths: [6, 5, 3], n: 41, B: 19, precision: precision, independent: true, lambda: 0.01),
            MatrixFixture.sensingBatch(
                widths: [5, 3, 5], m: 12, B: 17, precision: precision, independent: true, lambda: 0.01, tied: true)
        ]
        for gd in cases {
            let sgd = gd.with(stochastic: Self.stochastic(gd, b: gd.rows, sampling: .sequential))
            let a = MatrixCPUEngine(threads: 2)
            let b = MatrixCPUEngine(threads: 2)
            try a.initialize(gd)
            try b.initialize(sgd)
            try a.step(count: 4)
            try b.step(count: 4)
            #expect(b.stepsTaken == 4)
            let after = try b.parameters()
            #expect(Self.bits(try a.parameters()) == Self.bits(after), "sensing: \(gd.measurements != nil)")
            #expect(after.doubles != RealArray(gd.initial, precision: precision).doubles, "the parameters moved")
        }
    }

    /// One SGD step from the initial layers at step `step` (the draws depend on it) against the direct formula on
    /// the drawn rows (a row drawn twice counts twice; the epoch's short last batch is averaged over its own size).
    @Test(arguments: [
        (Sampling.withReplacement, 3, false), (.epochs, 2, false), (.sequential, 5, false), (.epochs, 7, true),
        (.withReplacement, 1, true)
    ])
    func stepIsTheMiniBatchGradientStep(sampling: Sampling, step: Int, sensing: Bool) throws {
        let lambda = 0.02
        let batch =
            sensing
            ? MatrixFixture.sensingBatch(widths: [4, 3, 2], m: 13, B: 18, independent: true, lambda: lambda)
            : MatrixFixture.batch(widths: [5, 4, 3, 2], n: 13, B: 18, independent: true, lambda: lambda)
        let st = Self.stochastic(batch, b: 5, sampling: sampling)
        let engine = MatrixCPUEngine(threads: 2)
        try engine.initialize(batch.with(stochastic: st))
        engine.stepsTaken = step
        try engine.step(count: 1)
        let after = try engine.parameters().doubles
        let s = batch.shape
        let P = s.parameterCount
        let (n0, nL) = (s.inputs, s.outputs)
        var worst = 0.0
        var sizes = Set<Int>()
        for b in 0..<batch.replicas {
            let rows = BatchSampler.indices(seed: st.seeds[b], step: step, n: batch.rows, b: 5, sampling: sampling)
            sizes.insert(rows.count)
            let p = batch.initial[(b * P)..<((b + 1) * P)]
            let weff = MatrixFixture.product(p, shape: s)
            var g = [Double](repeating: 0, count: nL * n0)  // ∂ℓ_B/∂W_eff
            let scale = 1 / Double(rows.count)
            if sensing {
                let a = batch.measurements![batch.dataset[b]].a.doubles
                let y = batch.measurements![batch.dataset[b]].y.doubles
                for k in rows {
                    var inner = 0.0
                    for e in 0..<(nL * n0) { inner += a[k * nL * n0 + e] * weff[e] }
                    for e in 0..<(nL * n0) { g[e] += scale * (inner - y[k]) * a[k * nL * n0 + e] }
                }
            } else {
                let x = batch.datasets[batch.dataset[b]].x.doubles
                let y = batch.datasets[batch.dataset[b]].y.doubles
                for mu in rows {
                    for i in 0..<nL {
                        var out = 0.0
                        for j in 0..<n0 { out += weff[i * n0 + j] * x[mu * n0 + j] }
                        for j in 0..<n0 { g[i * n0 + j] += scale * (out - y[mu * nL + i]) * x[mu * n0 + j] }
                    }
                }
            }
            for l in 1...s.depth {
                let above = MatrixModelTests.chain(p, s, from: l + 1, to: s.depth)
                let below = MatrixModelTests.chain(p, s, from: 1, to: l - 1)
                let gl = MatrixModelTests.mul(
                    MatrixModelTests.mul(MatrixModelTests.transpose(above, nL, s.widths[l]), g, s.widths[l], nL, n0),
                    MatrixModelTests.transpose(below, s.widths[l - 1], n0), s.widths[l], n0, s.widths[l - 1])
                for e in 0..<gl.count {
                    let o = s.layerOffset(l) + e
                    let expected = gl[e] + lambda * p[p.startIndex + o]
                    let got = (p[p.startIndex + o] - after[b * P + o]) / batch.eta[b]
                    worst = max(worst, abs(got - expected) / max(abs(expected), 1e-3))
                }
            }
        }
        #expect(sizes.count == 1, "every replica's batch has the same size")
        #expect(worst < 1e-12, "largest relative error of the step's gradient \(worst)")
    }

    /// Replicas with the same seed draw the same rows whatever their position; different seeds different rows; and
    /// the sum loss takes no 1/b.
    @Test func drawsFollowTheSeedAndTheSumLossHasNoMean() throws {
        let batch = MatrixFixture.batch(widths: [4, 3], n: 20, B: 3, lambda: 0, eta: 0.01)
        let seeds = [5, 9, 5]
        let mean = MatrixStochastic(seeds: seeds, batchSize: 4, sampling: .epochs, meanLoss: true)
        let sum = MatrixStochastic(seeds: seeds, batchSize: 4, sampling: .epochs, meanLoss: false)
        #expect(sum.scale(count: 4) == 1 && mean.scale(count: 4) == 0.25)
        let sameStart = batch.initial.indices.map { batch.initial[$0 % batch.shape.parameterCount] }
        let start = MatrixBatch(
            shape: batch.shape, samples: 20, precision: .float64, datasets: batch.datasets, dataset: [0, 0, 0],
            eta: [0.01, 0.01, 0.01], lambdaU: [0, 0, 0], gradientScale: 1 / 20.0, lossScale: 1 / 40.0,
            initial: sameStart)
        let meanEngine = MatrixCPUEngine(threads: 1)
        let sumEngine = MatrixCPUEngine(threads: 1)
        try meanEngine.initialize(start.with(stochastic: mean))
        try sumEngine.initialize(start.with(stochastic: sum))
        try meanEngine.step(count: 1)
        try sumEngine.step(count: 1)
        let m = try meanEngine.parameters().doubles
        let s = try sumEngine.parameters().doubles
        let P = batch.shape.parameterCount
        #expect(Array(m[0..<P]) == Array(m[(2 * P)..<(3 * P)]), "equal seeds, equal steps")
        #expect(Array(m[0..<P]) != Array(m[P..<(2 * P)]), "different seeds, different rows")
        for k in 0..<P {
            let dm = sameStart[k] - m[k]
            let ds = sameStart[k] - s[k]
            #expect(
                abs(ds - 4 * dm) <= 1e-12 * max(abs(ds), 1e-6), "parameter \(k): the sum's step is b times the mean's")
        }
    }
}
