import DLNModel
import Foundation
import Testing

/// The stochastic steps' random numbers (Core/StochasticRandom.swift): the batch sampler and the Gaussian.
@Suite struct StochasticTests {
    /// Our log and cos agree with the C library's to near the precision (they need only be the same on both engines,
    /// but should be right).
    @Test func logAndCosAreAccurate() {
        var worstLogF: Float = 0
        var worstCosF: Float = 0
        var worstLogD = 0.0
        var worstCosD = 0.0
        for k in 1..<20_000 {
            let u = Double(k) / 20_000
            let x = Double(k) * 1e-4 * Double(k % 7 + 1)  // (0, 14]
            let tiny = pow(2.0, -Double(k % 53)) * (1 + Double(k % 97) / 97)
            for v in [u, tiny] {
                worstLogF = max(worstLogF, abs(StochasticRandom.logFloat(Float(v)) - Float(log(Double(Float(v))))))
                worstLogD = max(worstLogD, abs(StochasticRandom.logDouble(v) - log(v)))
            }
            _ = x
            worstCosF = max(
                worstCosF, abs(StochasticRandom.cosTurnFloat(Float(u)) - Float(cos(2 * .pi * Double(Float(u))))))
            worstCosD = max(worstCosD, abs(StochasticRandom.cosTurnDouble(u) - cos(2 * .pi * u)))
        }
        #expect(worstLogF < 4e-6, "float log off by \(worstLogF)")
        #expect(worstCosF < 4e-7, "float cos off by \(worstCosF)")
        #expect(worstLogD < 1e-14, "double log off by \(worstLogD)")
        #expect(worstCosD < 1e-15, "double cos off by \(worstCosD)")
    }

    /// N = 200 000 draws: mean and variance of a standard normal. The sample mean has standard deviation 1/√N and
    /// the sample variance √(2/N) (CLT); a bound of 6 standard deviations fails a correct generator with probability
    /// about 2e-9 each.
    @Test(arguments: [Precision.float32, .float64]) func gaussianMoments(_ precision: Precision) {
        let N = 200_000
        let key = StochasticRandom.key(seed: 11)
        var sum = 0.0
        var sumSq = 0.0
        for i in 0..<N {
            let z: Double =
                precision == .float32
                ? Double(StochasticRandom.gaussian(key: key, stream: .labelNoise, step: 3, index: UInt32(i)) as Float)
                : StochasticRandom.gaussian(key: key, stream: .labelNoise, step: 3, index: UInt32(i)) as Double
            sum += z
            sumSq += z * z
        }
        let mean = sum / Double(N)
        let variance = sumSq / Double(N) - mean * mean
        #expect(abs(mean) < 6 / Double(N).squareRoot(), "mean \(mean)")
        #expect(abs(variance - 1) < 6 * (2 / Double(N)).squareRoot(), "variance \(variance)")
    }

    /// The keying: the step, the stream, the index and the seed each change the draw; the same counter repeats it.
    @Test func keyingSeparatesDraws() {
        let k = StochasticRandom.key(seed: 4)
        let base: Double = StochasticRandom.gaussian(key: k, stream: .labelNoise, step: 7, index: 2)
        #expect(base == StochasticRandom.gaussian(key: k, stream: .labelNoise, step: 7, index: 2))
        #expect(base != StochasticRandom.gaussian(key: k, stream: .labelNoise, step: 8, index: 2))
        #expect(base != StochasticRandom.gaussian(key: k, stream: .gradientNoise, step: 7, index: 2))
        #expect(base != StochasticRandom.gaussian(key: k, stream: .labelNoise, step: 7, index: 3))
        #expect(
            base
                != StochasticRandom.gaussian(key: StochasticRandom.key(seed: 5), stream: .labelNoise, step: 7, index: 2)
        )
        #expect(base != StochasticRandom.gaussian(key: k, stream: .labelNoise, step: 7 + (1 << 32), index: 2))
    }

    /// Epochs and sequential: each epoch's batches are sorted and together hold every row exactly once, the last one
    /// the remainder when b does not divide n; epochs are shuffled differently (epochs) or alike (sequential).
    @Test(arguments: [Sampling.epochs, .sequential]) func epochsCoverEveryRowOnce(_ sampling: Sampling) {
        let (n, b) = (23, 5)
        let perEpoch = BatchSampler.stepsPerEpoch(n: n, b: b)
        #expect(perEpoch == 5)
        var orders: [[Int]] = []
        for epoch in 0..<4 {
            var rows: [Int] = []
            var sizes: [Int] = []
            for p in 0..<perEpoch {
                let batch = BatchSampler.indices(seed: 9, step: epoch * perEpoch + p, n: n, b: b, sampling: sampling)
                #expect(batch == batch.sorted())
                rows += batch
                sizes.append(batch.count)
            }
            #expect(sizes == [5, 5, 5, 5, 3])
            #expect(rows.sorted() == Array(0..<n))
            orders.append(rows)
        }
        if sampling == .sequential {
            #expect(orders.allSatisfy { $0 == Array(0..<n) })
        } else {
            #expect(Set(orders.map { $0.description }).count == 4)
        }
    }

    /// With replacement, the mean mini-batch gradient over M steps is the full gradient.
    ///
    /// Bound: for coordinate j the M·b summands Z = x_{i j}·r_i (i uniform on 0..<n, independent draws) lie in
    /// [−c_j, c_j] with c_j = max_i |x_{ij} r_i| and have mean g_j, the full gradient. Hoeffding's inequality gives
    /// P(|mean − g_j| ≥ t) ≤ 2·exp(−2·M·b·t²/(2c_j)²) = 2·exp(−M·b·t²/(2c_j²)); over the d coordinates (union bound)
    /// the test fails a correct sampler with probability at most δ = 2d·exp(−M·b·t²/(2c_j²)), so with
    /// t_j = c_j·√(2·ln(2d/δ)/(M·b)) and δ = 1e-6 the false-failure probability is ≤ 1e-6.
    /// (The Philox draws are taken as independent uniforms.) The same check on a sampler that never draws row n − 1
    /// fails: the test has the power to see a bias of one row.
    @Test func meanMiniBatchGradientIsTheFullGradient() {
        let (n, d, b, M) = (8, 6, 3, 20_000)
        let rng = CounterRNG(seed: 77)
        let x = (0..<(n * d)).map { rng.gaussian(stream: 1, index: UInt64($0)) }
        let y = (0..<n).map { rng.gaussian(stream: 2, index: UInt64($0)) }
        let w = (0..<d).map { rng.gaussian(stream: 4, index: UInt64($0)) }
        let r = (0..<n).map { i in (0..<d).reduce(0.0) { $0 + x[i * d + $1] * w[$1] } - y[i] }
        let full = (0..<d).map { j in (0..<n).reduce(0.0) { $0 + x[$1 * d + j] * r[$1] } / Double(n) }
        let c = (0..<d).map { j in (0..<n).map { abs(x[$0 * d + j] * r[$0]) }.max()! }
        let delta = 1e-6
        let t = c.map { $0 * (2 * log(2 * Double(d) / delta) / Double(M * b)).squareRoot() }
        func mean(_ rows: (Int) -> [Int]) -> [Double] {
            var sum = [Double](repeating: 0, count: d)
            for s in 0..<M {
                let batch = rows(s)
                #expect(batch.count == b)
                for j in 0..<d { sum[j] += batch.reduce(0.0) { $0 + x[$1 * d + j] * r[$1] } / Double(b) }
            }
            return sum.map { $0 / Double(M) }
        }
        let sampled = mean { BatchSampler.indices(seed: 3, step: $0, n: n, b: b, sampling: .withReplacement) }
        for j in 0..<d { #expect(abs(sampled[j] - full[j]) <= t[j], "coordinate \(j): \(sampled[j]) vs \(full[j])") }
        let biased = mean { s in
            BatchSampler.indices(seed: 3, step: s, n: n, b: b, sampling: .withReplacement).map { $0 == n - 1 ? 0 : $0 }
        }
        #expect((0..<d).contains { abs(biased[$0] - full[$0]) > t[$0] }, "the bound cannot see a missing row")
        // Every row is drawn (with replacement the draws of one step may repeat).
        let counts = (0..<2000).flatMap {
            BatchSampler.indices(seed: 3, step: $0, n: n, b: b, sampling: .withReplacement)
        }
        #expect(Set(counts) == Set(0..<n))
    }

    /// The 16-lane generator (StochasticLanes, used by the CPU engine's Langevin noise) equals the scalar one lane for
    /// lane, bit for bit, in both precisions: 16 different keys (one lane without a replica, key 0), steps across
    /// 2³², every stream, 4000 indices (both branches of the cosine, both halves of the logarithm's range).
    @Test func laneGeneratorIsTheScalarOne() {
        let seeds = [0, 1, 7, 42, -3, 1 << 40, 12345, 99, 5, 6, 8, 9, 10, 11, 13]
        let keys = seeds.map { StochasticRandom.key(seed: $0) } + [(0, 0)]
        let key = StochasticLanes.keys(keys)
        var mismatches = 0
        var checked = 0
        for stream in [StochasticRandom.Stream.labelNoise, .gradientNoise, .batch] {
            for step: UInt64 in [0, 17, (1 << 32) + 5] {
                for index in 0..<UInt32(4000) where index % 3 == 0 || stream == .gradientNoise {
                    let f = StochasticLanes.gaussian(key: key, stream: stream, step: step, index: index, as: Float.self)
                    let d = StochasticLanes.gaussian(
                        key: key, stream: stream, step: step, index: index, as: Double.self)
                    for j in 0..<16 {
                        let sf: Float = StochasticRandom.gaussian(
                            key: keys[j], stream: stream, step: step, index: index)
                        let sd: Double = StochasticRandom.gaussian(
                            key: keys[j], stream: stream, step: step, index: index)
                        if f[j].bitPattern != sf.bitPattern || d[j].bitPattern != sd.bitPattern { mismatches += 1 }
                        checked += 1
                    }
                }
            }
        }
        #expect(checked > 200_000)
        #expect(mismatches == 0)
    }
}
