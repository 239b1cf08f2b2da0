import DLNModel
import DLNTheory
import Foundation
import TestSupport
import Testing

/// Gradient flow of the matrix model (`MatrixFlow`) on the CPU engine, against what is known exactly: the linear
/// flow of depth 1 in closed form, the conservation laws of deeper networks, many small gradient-descent steps, and
/// the integrator's own bookkeeping (checkpoints, per-replica steps, frozen replicas).
@Suite struct MatrixFlowTests {
    typealias M = MatrixModelTests

    static let tight = FlowSettings(rtol: 1e-10, atol: 1e-12)

    /// The fixture's batch with one step size η for every replica (the fixture spreads them by 1% per replica).
    static func uniformEta(_ b: MatrixBatch, eta: Double) -> MatrixBatch {
        MatrixBatch(
            shape: b.shape, samples: b.samples, precision: b.precision, datasets: b.datasets, dataset: b.dataset,
            eta: [Double](repeating: eta, count: b.replicas), lambdaU: b.lambdaU, gradientScale: b.gradientScale,
            lossScale: b.lossScale, initial: b.initial)
    }

    /// The largest |a − b| over the largest |b|.
    static func relative(_ a: ArraySlice<Double>, _ b: ArraySlice<Double>) -> Double {
        let scale = b.map(abs).max() ?? 0
        return zip(a, b).map { abs($0 - $1) }.max()! / max(scale, 1e-300)
    }

    /// Depth 1, mean loss: F = WΣ − C + λW with Σ = XᵀX/n, C = YᵀX/n, so W(t) = W* + (W0 − W*)·e^{−(Σ+λI)t},
    /// W* = C(Σ+λI)⁻¹, both from the eigen-decomposition of Σ + λI. Float64 flow at rtol 1e-10: within 1e-7
    /// relative (largest entry error over the largest entry) of every replica, at every checkpoint.
    @Test(arguments: [0.0, 0.05])
    func depthOneIsTheMatrixExponential(lambda: Double) throws {
        let batch = MatrixFixture.batch(widths: [5, 3], n: 40, B: 19, lambda: lambda)
        let flow = try MatrixFlow(engine: MatrixCPUEngine(threads: 2), batch: batch, settings: Self.tight)
        let (n, n0, nL) = (batch.samples, batch.shape.inputs, batch.shape.outputs)
        let x = batch.datasets[0].x.doubles
        let y = batch.datasets[0].y.doubles
        let xt = M.transpose(x, n, n0)
        var a = M.mul(xt, x, n0, n, n0).map { $0 / Double(n) }
        for i in 0..<n0 { a[i * n0 + i] += lambda }
        let c = M.mul(M.transpose(y, n, nL), x, nL, n, n0).map { $0 / Double(n) }
        let (values, v) = SymmetricEigen.decompose(a, n0)
        /// V·diag(f(values))·Vᵀ.
        func spectral(_ f: (Double) -> Double) -> [Double] {
            var scaled = v
            for k in 0..<n0 { for j in 0..<n0 { scaled[k * n0 + j] *= f(values[j]) } }
            return M.mul(scaled, M.transpose(v, n0, n0), n0, n0, n0)
        }
        let wStar = M.mul(c, spectral { 1 / $0 }, nL, n0, n0)
        let P = batch.shape.parameterCount
        var worst = 0.0
        for t in [0.3, 1.0, 4.0] {
            try flow.advance(to: t)
            #expect(flow.times.allSatisfy { $0 == t }, "every replica ends exactly on t = \(t)")
            let e = spectral { Foundation.exp(-$0 * t) }
            for b in 0..<batch.replicas {
                let w0 = Array(batch.initial[(b * P)..<((b + 1) * P)])
                let exact = zip(M.mul(zip(w0, wStar).map { $0 - $1 }, e, nL, n0, n0), wStar).map { $0 + $1 }
                worst = max(worst, Self.relative(flow.state[(b * P)..<((b + 1) * P)], exact[...]))
            }
        }
        #expect(worst < 1e-7, "largest relative error against the matrix exponential: \(worst)")
        #expect(flow.counters.status.allSatisfy { $0 == ReplicaStatus.ran.code })
    }

    /// D_l = W_{l+1}ᵀW_{l+1} − W_lW_lᵀ (l = 1 … L−1) of one replica.
    static func imbalances(_ p: ArraySlice<Double>, _ s: MatrixShape) -> [[Double]] {
        func layer(_ l: Int) -> [Double] {
            let o = p.startIndex + s.layerOffset(l)
            return Array(p[o..<(o + s.widths[l] * s.widths[l - 1])])
        }
        return (1..<s.depth).map { l in
            let (below, above) = (layer(l), layer(l + 1))
            let (nl, nin, nout) = (s.widths[l], s.widths[l - 1], s.widths[l + 1])
            let top = M.mul(M.transpose(above, nout, nl), above, nl, nout, nl)
            let bottom = M.mul(below, M.transpose(below, nl, nin), nl, nin, nl)
            return zip(top, bottom).map { $0 - $1 }
        }
    }

    /// Depth 3: Ḋ_l = −2λD_l, so D_l(t) = D_l(0)e^{−2λt} (constant at λ = 0). Float64 flow at rtol 1e-10: every
    /// entry within 1e-9 of the largest entry of D_l(0), for every replica and checkpoint, while the loss falls by at
    /// least a quarter.
    @Test(arguments: [0.0, 0.05])
    func conservationLawsHold(lambda: Double) throws {
        let batch = MatrixFixture.batch(widths: [5, 4, 4, 3], n: 12, B: 17, lambda: lambda)
        let engine = MatrixCPUEngine(threads: 2)
        let flow = try MatrixFlow(engine: engine, batch: batch, settings: Self.tight)
        let before = try engine.loss()
        let s = batch.shape
        let P = s.parameterCount
        let initial = (0..<batch.replicas).map { Self.imbalances(batch.initial[($0 * P)..<(($0 + 1) * P)], s) }
        var worst = 0.0
        for t in [1.0, 5.0] {
            try flow.advance(to: t)
            for b in 0..<batch.replicas {
                let now = Self.imbalances(flow.state[(b * P)..<((b + 1) * P)], s)
                for (d0, d) in zip(initial[b], now) {
                    let expected = d0.map { $0 * Foundation.exp(-2 * lambda * t) }
                    let scale = d0.map(abs).max()!
                    worst = max(worst, zip(d, expected).map { abs($0 - $1) }.max()! / scale)
                }
            }
        }
        #expect(worst < 1e-9, "largest relative change of D_l(t)·e^{2λt}: \(worst)")
        let after = try engine.loss()
        for b in 0..<batch.replicas { #expect(after[b] < 0.75 * before[b], "replica \(b) barely trained") }
    }

    /// Many gradient-descent steps of size η to t = Kη follow the flow to O(η): halving η halves the distance
    /// (ratio within [1.6, 2.4]), and at η = 0.005 the distance is under 1% of the largest parameter.
    @Test func gradientDescentApproachesTheFlow() throws {
        let t = 1.0
        let base = MatrixFixture.batch(widths: [4, 3, 2], n: 10, B: 5, lambda: 0.01)
        let flow = try MatrixFlow(engine: MatrixCPUEngine(threads: 2), batch: base, settings: Self.tight)
        try flow.advance(to: t)
        let scale = flow.state.map(abs).max()!
        func distance(eta: Double) throws -> Double {
            let gd = MatrixCPUEngine(threads: 2)
            try gd.initialize(Self.uniformEta(base, eta: eta))
            try gd.step(count: Int((t / eta).rounded()))
            return zip(try gd.parameters().doubles, flow.state).map { abs($0 - $1) }.max()! / scale
        }
        let coarse = try distance(eta: 0.01)
        let fine = try distance(eta: 0.005)
        #expect(coarse / fine > 1.6 && coarse / fine < 2.4, "distances \(coarse) at η = 0.01, \(fine) at η = 0.005")
        #expect(fine < 0.01, "GD at η = 0.005 is \(fine) (relative) from the flow")
    }

    /// Each replica steps on its own: a replica flowed alone gives the same bits, times and counters as in the
    /// batch, and the replicas do not all take the same number of steps. Every replica ends exactly on each
    /// checkpoint, evaluations are 1 + 6·attempts, and the engine holds the flow's parameters afterwards.
    @Test func replicasStepIndependently() throws {
        let batch = MatrixFixture.batch(widths: [6, 5, 3], n: 9, B: 21, independent: true, lambda: 0.02)
        let P = batch.shape.parameterCount
        let engine = MatrixCPUEngine(threads: 2)
        let all = try MatrixFlow(engine: engine, batch: batch, settings: FlowSettings(rtol: 1e-8, atol: 1e-10))
        let one = try MatrixFlow(
            engine: MatrixCPUEngine(threads: 1), batch: batch.slice(17..<18),
            settings: FlowSettings(rtol: 1e-8, atol: 1e-10))
        for t in [0.25, 0.7, 3.0] {
            try all.advance(to: t)
            try one.advance(to: t)
            #expect(all.times.allSatisfy { $0 == t } && one.times == [t])
            #expect(Array(all.state[(17 * P)..<(18 * P)]) == one.state, "replica 17 alone differs at t = \(t)")
            #expect(try engine.parameters() == all.parameters, "the engine does not hold the flow's state")
        }
        let c = all.counters
        #expect(one.counters.evaluations == [c.evaluations[17]] && one.counters.rejected == [c.rejected[17]])
        #expect(Set(c.evaluations).count > 1, "every replica took the same steps: \(c.evaluations)")
        for b in 0..<batch.replicas {
            #expect((c.evaluations[b] - 1) % DormandPrince.evaluationsPerStep == 0 && c.evaluations[b] > 1)
            #expect(c.rejected[b] < (c.evaluations[b] - 1) / DormandPrince.evaluationsPerStep)
        }
        // Advancing to a time already reached does nothing.
        let evaluations = c.evaluations
        try all.advance(to: 3.0)
        try all.advance(to: 1.0)
        #expect(all.counters.evaluations == evaluations && all.times.allSatisfy { $0 == 3.0 })
    }

    /// Frozen replicas, flagged as the diagonal flow flags them: too many attempts (3), a step floor above every
    /// step (1), a non-finite initial state (2, at t = 0); the other replicas of the batch run on unaffected.
    @Test func frozenReplicasAreFlagged() throws {
        let batch = MatrixFixture.batch(widths: [4, 3, 2], n: 8, B: 5, lambda: 0.01)
        var limited = FlowSettings(rtol: 1e-8, atol: 1e-10)
        limited.maxSteps = 4
        let few = try MatrixFlow(engine: MatrixCPUEngine(threads: 1), batch: batch, settings: limited)
        try few.advance(to: 100)
        #expect(few.counters.status.allSatisfy { $0 == ReplicaStatus.tooManySteps.code })
        #expect(few.times.allSatisfy { $0 > 0 && $0 < 100 } && few.counters.frozenAt == few.times)
        #expect(few.counters.evaluations.allSatisfy { $0 == 1 + 4 * DormandPrince.evaluationsPerStep })

        var floored = FlowSettings(rtol: 1e-8, atol: 1e-10)
        floored.minStep = 50
        let collapsed = try MatrixFlow(engine: MatrixCPUEngine(threads: 1), batch: batch, settings: floored)
        try collapsed.advance(to: 100)
        #expect(collapsed.counters.status.allSatisfy { $0 == ReplicaStatus.stepSizeCollapsed.code })

        let P = batch.shape.parameterCount
        var initial = batch.initial
        initial[2 * P + 3] = .nan
        let poisoned = MatrixBatch(
            shape: batch.shape, samples: batch.samples, precision: batch.precision, datasets: batch.datasets,
            dataset: batch.dataset, eta: batch.eta, lambdaU: batch.lambdaU, gradientScale: batch.gradientScale,
            lossScale: batch.lossScale, initial: initial)
        let settings = FlowSettings(rtol: 1e-8, atol: 1e-10)
        let mixed = try MatrixFlow(engine: MatrixCPUEngine(threads: 1), batch: poisoned, settings: settings)
        let clean = try MatrixFlow(engine: MatrixCPUEngine(threads: 1), batch: batch, settings: settings)
        try mixed.advance(to: 2)
        try clean.advance(to: 2)
        #expect(mixed.counters.status == [0, 0, ReplicaStatus.nonFinite.code, 0, 0])
        #expect(mixed.counters.frozenAt[2] == 0 && mixed.times[2] == 0 && mixed.counters.evaluations[2] == 1)
        for b in [0, 1, 3, 4] {
            #expect(mixed.state[(b * P)..<((b + 1) * P)] == clean.state[(b * P)..<((b + 1) * P)], "replica \(b)")
        }
    }

    /// Settings the diagonal flow refuses are refused here too.
    @Test func invalidSettingsThrow() {
        let batch = MatrixFixture.batch(widths: [3, 2], n: 4, B: 1)
        #expect(throws: DLNError.self) {
            _ = try MatrixFlow(
                engine: MatrixCPUEngine(threads: 1), batch: batch, settings: FlowSettings(rtol: 0, atol: 1))
        }
    }

    /// Float32 (states rounded to float32 at every stage) at rtol 1e-6 follows the float64 flow at rtol 1e-10 within
    /// 1e-4 relative (largest entry error over the largest entry) at t = 2.
    @Test func float32FollowsFloat64() throws {
        let wide = MatrixFixture.batch(widths: [6, 5, 4], n: 15, B: 17, precision: .float64, lambda: 0.01)
        let narrow = MatrixFixture.batch(widths: [6, 5, 4], n: 15, B: 17, precision: .float32, lambda: 0.01)
        let f64 = try MatrixFlow(engine: MatrixCPUEngine(threads: 2), batch: wide, settings: Self.tight)
        let f32 = try MatrixFlow(
            engine: MatrixCPUEngine(threads: 2), batch: narrow, settings: FlowSettings(rtol: 1e-6, atol: 1e-7))
        try f64.advance(to: 2)
        try f32.advance(to: 2)
        #expect(f32.state.allSatisfy { Double(Float($0)) == $0 }, "a float32 state is not float32")
        let distance = Self.relative(f32.state[...], f64.state[...])
        #expect(distance < 1e-4, "float32 flow is \(distance) (relative) from float64")
    }
}
