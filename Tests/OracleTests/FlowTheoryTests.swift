import DLNDevice
import DLNModel
import DLNRun
import DLNTheory
import Foundation
import TestSupport
import Testing

/// The gradient-flow integrator (update flow) against the oracles of docs/model.md §8 at the integrator's tolerance,
/// on the CPU engine and on OpenCL: the whitened closed form, conservation laws and mirror invariants, the
/// implicit bias, and saddle to saddle at α = 1e-30.
/// The long oracle runs (seconds to minutes each); the quick checks are in DLNDeviceTests.
@Suite(.serialized) struct FlowTheoryTests {

    /// O4 and O4′ with the flow itself: P1 from α = 0.3 and 1 (log representation) reaches the hyperbolic-entropy
    /// interpolator, and P2 from a random start reaches the Bregman interpolator of its own scale and offset.
    @Test func implicitBiasOnCPU() throws { try implicitBias(side: .cpu) }
    @Test(.needsFP64) func implicitBiasOnOpenCL() throws { try implicitBias(side: .opencl) }
    func implicitBias(side: Side) throws {
        let engine = try TheoryTests.engine(side, fp64: true)
        let (n, d) = (20, 40)
        let (x, y, _) = TheoryTests.instance(n: n, d: d, seed: 11)
        let alphas = [0.3, 1.0]
        try engine.initialize(try Self.flowBatch(x, y, n: n, d: d, alphas: alphas, rtol: 1e-12, atol: 1e-14))
        try engine.advance(to: 1500)
        let w = try engine.state().weights.doubles
        let counters = try engine.flowCounters()
        for (k, alpha) in alphas.enumerated() {
            let wk = Array(w[(k * d)..<((k + 1) * d)])
            let residual = Dense.norm(zip(Dense.multiply(x, n, d, wk), y).map { $0 - $1 }) / Dense.norm(y)
            let bias = ImplicitBias.solve(x: x, y: y, n: n, d: d, beta: [Double](repeating: alpha * alpha, count: d))
            let error = zip(wk, bias.w).map { abs($0 - $1) }.max()!
            print(
                "O4 flow \(side) α = \(alpha): residual \(residual), max |w − w_bias| = \(error), evaluations "
                    + "\(counters.evaluations[k])"
            )
            #expect(residual < 1e-10 && bias.converged)
            #expect(error < 1e-9)
        }
        // O4′: P2 with w(0) ≠ 0.
        let rng = CounterRNG(seed: 21)
        let u0 = (0..<d).map { 0.5 * (1 + 0.3 * rng.gaussian(stream: 1, index: UInt64($0))) }
        let v0 = (0..<d).map { 0.2 * rng.gaussian(stream: 2, index: UInt64($0)) }
        try engine.initialize(
            try Self.flowBatch(x, y, n: n, d: d, alphas: [0.5], model: .uv, layers: [u0, v0], rtol: 1e-12, atol: 1e-14))
        try engine.advance(to: 1500)
        let wuv = try engine.state().weights.doubles
        let (beta, offset) = ImplicitBias.bregman(u0: u0, v0: v0)
        let bias = ImplicitBias.solve(x: x, y: y, n: n, d: d, beta: beta, offset: offset)
        let error = zip(wuv, bias.w).map { abs($0 - $1) }.max()!
        print("O4′ flow \(side): max |w − w_bregman| = \(error)")
        #expect(bias.converged && error < 1e-9)
    }

    /// O5 from simulations: the flow's limit tends to the minimum-ℓ1 interpolator (the LP) as α → 0, reached in
    /// the log representation down to α = 1e-12 (max distance 0.062, 0.0049, 0.00098 for α = 1e-3, 1e-6, 1e-12 at
    /// t = 5000; small α converges slowly, docs/model.md §2.7), and to the minimum-ℓ2 one as α → ∞ with an error ∝ α⁻⁴.
    @Test func limitsFromSimulationsOnCPU() throws { try limitsFromSimulations(side: .cpu) }
    @Test(.needsFP64) func limitsFromSimulationsOnOpenCL() throws { try limitsFromSimulations(side: .opencl) }
    func limitsFromSimulations(side: Side) throws {
        let engine = try TheoryTests.engine(side, fp64: true)
        let (n, d) = (20, 40)
        let rng = CounterRNG(seed: 41)
        let x = (0..<(n * d)).map { rng.gaussian(stream: 1, index: UInt64($0)) }
        let teacher = (0..<d).map { j in j % 8 == 0 ? 1 + 0.3 * rng.gaussian(stream: 2, index: UInt64(j)) : 0 }
        let y = Dense.multiply(x, n, d, teacher)
        let l1 = try #require(MinimumL1.solve(x: x, y: y, n: n, d: d))
        let small = [1e-3, 1e-6, 1e-12]
        try engine.initialize(try Self.flowBatch(x, y, n: n, d: d, alphas: small, rtol: 1e-10, atol: 1e-12))
        try engine.advance(to: 5000)
        let smallLosses = try engine.observe().trainLoss
        let ws = try engine.state().weights.doubles
        let toL1 = small.indices.map { k in zip(ws[(k * d)..<((k + 1) * d)], l1).map { abs($0 - $1) }.max()! }
        let l2 = try #require(ImplicitBias.minimumNorm(x: x, y: y, n: n, d: d))
        let large = [5.0, 10.0]
        try engine.initialize(try Self.flowBatch(x, y, n: n, d: d, alphas: large, rtol: 1e-12, atol: 1e-14))
        try engine.advance(to: 20)
        let wl = try engine.state().weights.doubles
        let toL2 = large.indices.map { k in zip(wl[(k * d)..<((k + 1) * d)], l2).map { abs($0 - $1) }.max()! }
        let losses = try engine.observe().trainLoss
        print(
            "O5 flow \(side): max |w − w_ℓ1| for α = \(small): \(toL1); max |w − w_ℓ2| for α = \(large): \(toL2), "
                + "ratio \(toL2[0] / toL2[1]); final losses \(smallLosses) \(losses)"
        )
        #expect(toL1[0] > toL1[1] && toL1[1] > toL1[2] && toL1[2] < 2e-3, "closer to the ℓ1 interpolator as α falls")
        #expect(losses.allSatisfy { $0 < 1e-22 })
        #expect(abs(toL2[0] / toL2[1] - 16) < 1, "error ∝ α⁻⁴")
    }

    /// O15 from simulations: the flow run to convergence (d = 500, δ = 0.5, x ~ N(0, I/d), Bernoulli(0.1) teacher,
    /// 8 independent data sets, α = 1, ℓ = ½‖Xw − y‖²) has the test error of the static (AMP) fixed point to 5%.
    /// Run once, on `oracleSide` (the OpenCL device where there is one).
    @Test func staticErrorFromLongRuns() throws {
        try staticErrorFromLongRuns(side: TheoryTests.oracleSide(fp64: true))
    }
    func staticErrorFromLongRuns(side: Side) throws {
        let engine = try TheoryTests.engine(side, fp64: true)
        let yaml = """
            problem: {d: 500, delta: 0.5, design_variance: 1/d, data: independent, teacher: {density: 0.1}}
            training: {update: flow, horizon: 300, loss: sum, precision: float64, flow: {rtol: 1.0e-6, atol: 1.0e-8}}
            grid: {alpha: 1}
            seeds: 8
            record: {checkpoints: 2}
            """
        let experiment = try Experiment(try Configuration.parse(yaml: yaml))
        let result = try Simulation.run(experiment, on: engine)
        let errors = result.observations.last!["test_error"]!
        let losses = result.trainLoss.last!
        let mean = errors.reduce(0, +) / Double(errors.count)
        let amp = StaticFixedPoint.solve(delta: 0.5, noise: 0, prior: .bernoulli(0.1), potential: .hyperbolic(beta: 1))
        print(
            "O15 flow \(side): test error \(mean) (8 seeds, d = 500) vs AMP \(amp.error); train losses ≤ "
                + "\(losses.max()!), evaluations \(result.evaluations.last!.max()!)"
        )
        #expect(amp.converged && losses.allSatisfy { $0 < 1e-12 })
        #expect(abs(mean / amp.error - 1) < 0.05)
    }

    /// Saddle to saddle at α = 1e-30 (log representation; u = α underflows nothing since only ln α is stored):
    /// the loss drops between plateaus at t = τ_k·ln(1/α), the Pesme–Flammarion times, to within
    /// the O(1/ln(1/α)) of the effective threshold, and w sits on the predicted saddles mid-plateau.
    @Test(arguments: [Precision.float64, .float32]) func saddleToSaddleAtTinyAlphaOnCPU(precision: Precision) throws {
        try saddleToSaddleAtTinyAlpha(side: .cpu, precision: precision)
    }
    @Test(.needsFP64, arguments: [Precision.float64, .float32]) func saddleToSaddleAtTinyAlphaOnOpenCL(
        precision: Precision
    ) throws {
        try saddleToSaddleAtTinyAlpha(side: .opencl, precision: precision)
    }
    func saddleToSaddleAtTinyAlpha(side: Side, precision: Precision) throws {
        let engine = try TheoryTests.engine(side, fp64: precision == .float64)
        let (n, d) = (6, 10)
        let rng = CounterRNG(seed: 53)
        let x = (0..<(n * d)).map { rng.gaussian(stream: 1, index: UInt64($0)) }
        let y = (0..<n).map { rng.gaussian(stream: 2, index: UInt64($0)) }
        let stages = SaddleToSaddle.run(x: x, y: y, n: n, d: d)
        let alpha = 1e-30
        let clock = Foundation.log(1 / alpha)
        let (rtol, atol) = precision == .float64 ? (1e-9, 1e-11) : (1e-6, 1e-8)
        try engine.initialize(
            try Self.flowBatch(x, y, n: n, d: d, alphas: [alpha], rtol: rtol, atol: atol, precision: precision))
        // Sample the loss on a fine grid of τ and find where it crosses between consecutive plateau losses.
        let taus = stride(from: 0.01, through: stages.last!.tau + 0.5, by: 0.01).map { $0 }
        var losses: [Double] = []
        var weights: [[Double]] = []
        for tau in taus {
            try engine.advance(to: tau * clock)
            losses.append(try engine.observe().trainLoss[0])
            weights.append(try engine.state().weights.doubles)
        }
        #expect(try engine.flowCounters().status == [0])
        var report: [(Double, Double)] = []
        for k in 1..<stages.count where stages[k].tau - stages[k - 1].tau >= 0.2 {
            // The geometric midpoint of the two plateaus.
            let mid = Foundation.sqrt(max(stages[k - 1].loss, 1e-30) * max(stages[k].loss, 1e-30))
            guard let i = losses.firstIndex(where: { $0 < mid }) else {
                Issue.record("no drop below \(mid) for stage \(k)")
                continue
            }
            report.append((stages[k].tau, taus[i]))
            // The effective threshold is 1 − O(1/ln(1/α)): allow 2/ln(1/α) relative, plus the sampling step.
            #expect(
                abs(taus[i] - stages[k].tau) < 2 / clock * stages[k].tau + 0.01,
                "jump \(k): predicted τ = \(stages[k].tau), simulated \(taus[i])")
        }
        // Mid-plateau distance to the saddle.
        for k in 1..<(stages.count - 1) where stages[k + 1].tau - stages[k].tau >= 0.5 {
            let i = taus.firstIndex { $0 >= (stages[k].tau + stages[k + 1].tau) / 2 }!
            let error = zip(weights[i], stages[k].saddle).map { abs($0 - $1) }.max()!
            #expect(error < 0.05, "plateau \(k): max |w − β_k| = \(error)")
        }
        print("O12 flow \(side) \(precision.rawValue) α = 1e-30: (predicted τ, simulated τ) = \(report)")
        #expect(report.count >= 2)
    }
}
