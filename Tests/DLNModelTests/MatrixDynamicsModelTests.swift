import DLNModel
import TestSupport
import Testing

/// Label noise, Langevin noise and momentum of the matrix model on the CPU engine: replicas without them are gradient
/// descent bit for bit in the same batch; one step is the formula of `MatrixDynamics` written out in float64 with
/// the generator's own ξ; the momentum buffers restore a run mid-way bit for bit.
struct MatrixDynamicsModelTests {
    static func bits(_ a: RealArray) -> [UInt64] { a.doubles.map(\.bitPattern) }

    static func dynamics(
        _ batch: MatrixBatch, sigma: (Int) -> Double, t: (Int) -> Double, beta: (Int) -> Double, nesterov: Bool
    ) -> MatrixDynamics {
        let B = batch.replicas
        return MatrixDynamics(
            seeds: (0..<B).map { 5 + 3 * $0 }, labelNoise: (0..<B).map(sigma), gradientNoise: (0..<B).map(t),
            momentum: (0..<B).map(beta), nesterov: nesterov)
    }

    /// Full batches in order (label noise works on copies of the rows).
    static func fullBatches(_ batch: MatrixBatch, _ d: MatrixDynamics) -> MatrixStochastic {
        MatrixStochastic(
            seeds: d.seeds, batchSize: batch.rows, sampling: .sequential, meanLoss: true, factor: batch.tied ? 2 : 1)
    }

    @Test(arguments: [Precision.float32, .float64])
    func quietReplicasAreGradientDescent(precision: Precision) throws {
        let cases = [
            MatrixFixture.batch(widths: [5, 4, 3], n: 23, B: 19, precision: precision, independent: true, lambda: 0.01),
            MatrixFixture.sensingBatch(
                widths: [5, 3, 5], m: 12, B: 17, precision: precision, independent: true, lambda: 0.01, tied: true)
        ]
        for gd in cases {
            // Replica b: label noise unless b % 3 = 0, Langevin noise when b % 4 = 1, momentum when b is odd.
            let d = Self.dynamics(
                gd, sigma: { $0 % 3 == 0 ? 0 : 0.3 }, t: { $0 % 4 == 1 ? 1e-3 : 0 }, beta: { $0 % 2 == 1 ? 0.5 : 0 },
                nesterov: false)
            let plain = MatrixCPUEngine(threads: 2)
            let noisy = MatrixCPUEngine(threads: 2)
            try plain.initialize(gd)
            try noisy.initialize(gd.with(stochastic: Self.fullBatches(gd, d), dynamics: d))
            try plain.step(count: 3)
            try noisy.step(count: 3)
            let a = try plain.parameters().doubles
            let b = try noisy.parameters().doubles
            let P = gd.shape.parameterCount
            for r in 0..<gd.replicas {
                let same = a[(r * P)..<((r + 1) * P)].map(\.bitPattern) == b[(r * P)..<((r + 1) * P)].map(\.bitPattern)
                let quiet = r % 3 == 0 && r % 4 != 1 && r % 2 == 0
                #expect(same == quiet, "replica \(r) (sensing: \(gd.measurements != nil)): quiet \(quiet)")
            }
            if gd.tied {
                for r in 0..<gd.replicas {
                    let w = Array(b[(r * P)..<((r + 1) * P)])
                    let (dd, rr) = (gd.shape.inputs, gd.shape.widths[1])
                    let tiedOK = (0..<rr).allSatisfy { i in
                        (0..<dd).allSatisfy { j in w[i * dd + j] == w[rr * dd + j * rr + i] }
                    }
                    #expect(tiedOK, "replica \(r): W_1 = W_2ᵀ after noisy steps")
                }
            }
        }
    }

    /// F = ∇ℓ + λW of replica b at layers p on targets y (regression, mean loss), in float64.
    static func force(_ batch: MatrixBatch, _ b: Int, _ p: [Double], y: [Double]) -> [Double] {
        let s = batch.shape
        let (n, n0, nL) = (batch.samples, s.inputs, s.outputs)
        let x = batch.datasets[batch.dataset[b]].x.doubles
        let weff = MatrixFixture.product(p[...], shape: s)
        var g = [Double](repeating: 0, count: nL * n0)
        for mu in 0..<n {
            for i in 0..<nL {
                var out = 0.0
                for j in 0..<n0 { out += weff[i * n0 + j] * x[mu * n0 + j] }
                for j in 0..<n0 { g[i * n0 + j] += (out - y[mu * nL + i]) * x[mu * n0 + j] / Double(n) }
            }
        }
        var f = [Double](repeating: 0, count: p.count)
        for l in 1...s.depth {
            let above = MatrixModelTests.chain(p[...], s, from: l + 1, to: s.depth)
            let below = MatrixModelTests.chain(p[...], s, from: 1, to: l - 1)
            let gl = MatrixModelTests.mul(
                MatrixModelTests.mul(MatrixModelTests.transpose(above, nL, s.widths[l]), g, s.widths[l], nL, n0),
                MatrixModelTests.transpose(below, s.widths[l - 1], n0), s.widths[l], n0, s.widths[l - 1])
            for e in 0..<gl.count { f[s.layerOffset(l) + e] = gl[e] + batch.lambdaU[b] * p[s.layerOffset(l) + e] }
        }
        return f
    }

    /// Steps 0 and 1 of every replica, under a learning-rate schedule (η_k = η·s_k, Langevin noise √(2η_kT)), against
    /// the formulas: θ1 = θ0 − η·F(θ0; y + σ·ξ) + c·ξ′ and
    /// θ2 = θ1 − η·F(θ1) + β·m + c·ξ″ (heavy ball) or u − η·F(u) + c·ξ″, u = θ1 + β·m (Nesterov), where
    /// m = θ1 − θ0 − c·ξ′ (the noise comes after the momentum update).
    @Test(arguments: [false, true])
    func stepsAreTheFormulas(nesterov: Bool) throws {
        let batch = MatrixFixture.batch(widths: [4, 3, 2], n: 9, B: 6, independent: true, lambda: 0.02)
        let d = Self.dynamics(
            batch, sigma: { [0, 0.4, 0, 0.2, 0, 0][$0] }, t: { [0, 0, 2e-3, 0, 0, 1e-3][$0] },
            beta: { [0.6, 0, 0.3, 0.5, 0.9, 0.7][$0] }, nesterov: nesterov)
        // inverse_time with τ = 3: step k uses η·3/(3 + k), Langevin noise times √(3/(3 + k)).
        let schedule = LearningRateSchedule(.inverseTime(tau: 3, power: 1))
        let engine = MatrixCPUEngine(threads: 1)
        try engine.initialize(batch.with(stochastic: Self.fullBatches(batch, d), dynamics: d).with(schedule: schedule))
        try engine.step(count: 1)
        let one = try engine.parameters().doubles
        try engine.step(count: 1)
        let two = try engine.parameters().doubles
        let P = batch.shape.parameterCount
        let nL = batch.shape.outputs
        var worst = 0.0
        for b in 0..<batch.replicas {
            let key = StochasticRandom.key(seed: d.seeds[b])
            let eta0 = batch.eta[b]
            let c0 = (2 * eta0 * d.gradientNoise[b]).squareRoot()
            func targets(step: Int) -> [Double] {
                let y = batch.datasets[batch.dataset[b]].y.doubles
                return y.indices.map { e in
                    let xi: Double = StochasticRandom.gaussian(
                        key: key, stream: .labelNoise, step: UInt64(step), index: UInt32(e))
                    return y[e] + d.labelNoise[b] * xi
                }
            }
            #expect(targets(step: 0).count == batch.samples * nL)
            func noise(step: Int, _ e: Int) -> Double {
                let xi: Double = StochasticRandom.gaussian(
                    key: key, stream: .gradientNoise, step: UInt64(step), index: UInt32(e))
                return c0 * schedule.factor(step: step).squareRoot() * xi
            }
            let (eta1, eta2) = (eta0 * schedule.factor(step: 0), eta0 * schedule.factor(step: 1))
            let t0 = Array(batch.initial[(b * P)..<((b + 1) * P)])
            let t1 = Array(one[(b * P)..<((b + 1) * P)])
            let t2 = Array(two[(b * P)..<((b + 1) * P)])
            let f0 = Self.force(batch, b, t0, y: targets(step: 0))
            // m = θ1 − θ0 without the Langevin noise, which comes after the momentum update.
            let m = (0..<P).map { t1[$0] - noise(step: 0, $0) - t0[$0] }
            let u = nesterov ? (0..<P).map { t1[$0] + d.momentum[b] * m[$0] } : t1
            let f1 = Self.force(batch, b, u, y: targets(step: 1))
            for e in 0..<P {
                let e1 = t0[e] - eta1 * f0[e] + noise(step: 0, e)
                var e2 = u[e] - eta2 * f1[e] + noise(step: 1, e)
                if !nesterov { e2 += d.momentum[b] * m[e] }
                worst = max(worst, abs(t1[e] - e1) / max(abs(e1), 1e-3), abs(t2[e] - e2) / max(abs(e2), 1e-3))
            }
        }
        #expect(worst < 1e-12, "largest relative error of the two steps \(worst)")
    }

    /// A run restored mid-way from its parameters, momentum buffers and step continues bit for bit (SGD epochs,
    /// label and Langevin noise, Nesterov momentum, float32).
    /// The scheduled path with s_k = 1 (step, γ = 1) is the unscheduled run bit for bit, momentum and noise included.
    @Test func unitScheduleIsTheConstantRun() throws {
        let batch = MatrixFixture.batch(widths: [4, 3, 2], n: 11, B: 17, precision: .float32, lambda: 0.01)
        let d = Self.dynamics(batch, sigma: { _ in 0.2 }, t: { _ in 1e-4 }, beta: { _ in 0.5 }, nesterov: false)
        let st = MatrixStochastic(seeds: d.seeds, batchSize: 3, sampling: .epochs, meanLoss: true)
        let plain = MatrixCPUEngine(threads: 2)
        let unit = MatrixCPUEngine(threads: 2)
        try plain.initialize(batch.with(stochastic: st, dynamics: d))
        try unit.initialize(
            batch.with(stochastic: st, dynamics: d).with(schedule: LearningRateSchedule(.every(gamma: 1, steps: 2))))
        try plain.step(count: 5)
        try unit.step(count: 5)
        #expect(Self.bits(try plain.parameters()) == Self.bits(try unit.parameters()))
    }

    @Test func restoreWithTheBuffersContinuesBitForBit() throws {
        let batch = MatrixFixture.batch(widths: [5, 4, 3], n: 14, B: 18, precision: .float32, lambda: 0.01)
        let d = Self.dynamics(batch, sigma: { _ in 0.3 }, t: { _ in 1e-4 }, beta: { _ in 0.8 }, nesterov: true)
        let st = MatrixStochastic(seeds: d.seeds, batchSize: 4, sampling: .epochs, meanLoss: true)
        let run = batch.with(stochastic: st, dynamics: d)
        let a = MatrixCPUEngine(threads: 2)
        try a.initialize(run)
        try a.step(count: 5)
        let params = try a.parameters()
        let velocity = try #require(try a.velocity())
        #expect(velocity.doubles.contains { $0 != 0 }, "the buffers moved")
        try a.step(count: 6)
        let b = MatrixCPUEngine(threads: 1)
        try b.initialize(run)
        try b.setParameters(params)
        try b.setVelocity(velocity)
        b.stepsTaken = 5
        try b.step(count: 6)
        #expect(Self.bits(try a.parameters()) == Self.bits(try b.parameters()))
        #expect(Self.bits(try #require(try a.velocity())) == Self.bits(try #require(try b.velocity())))
        let c = MatrixCPUEngine(threads: 1)
        try c.initialize(run)
        try c.setParameters(params)
        c.stepsTaken = 5
        try c.step(count: 6)
        #expect(Self.bits(try a.parameters()) != Self.bits(try c.parameters()), "without the buffers it differs")
    }
}
