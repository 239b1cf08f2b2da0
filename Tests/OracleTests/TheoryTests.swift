import DLNDevice
import DLNModel
import DLNRun
import DLNTheory
import Foundation
import TestSupport
import Testing

/// Oracles of docs/model.md §8 checked against simulations run through the public engine interface, on the CPU
/// engine and on OpenCL.
/// The long oracle runs (seconds to minutes each); the quick checks are in DLNDeviceTests.
@Suite(.serialized) struct TheoryTests {

    /// O4: the multiplicative update (mirror descent) converges to the gradient-flow implicit bias, the
    /// hyperbolic-entropy interpolator of scale α², computed by the dual Newton solve.
    @Test func gradientFlowImplicitBiasOnCPU() throws { try gradientFlowImplicitBias(side: .cpu) }
    @Test(.needsFP64) func gradientFlowImplicitBiasOnOpenCL() throws { try gradientFlowImplicitBias(side: .opencl) }
    func gradientFlowImplicitBias(side: Side) throws {
        let engine = try Self.engine(side, fp64: true)
        let (n, d) = (20, 40)
        let (x, y, _) = Self.instance(n: n, d: d, seed: 11)
        let alphas = [0.3, 1.0, 2.0]
        try engine.initialize(try Self.batch(x, y, n: n, d: d, alphas: alphas, eta: 0.02, update: .multiplicative))
        try engine.step(count: 40_000)
        let w = try engine.state().weights.doubles
        for (k, alpha) in alphas.enumerated() {
            let wk = Array(w[(k * d)..<((k + 1) * d)])
            let residual = Dense.norm(zip(Dense.multiply(x, n, d, wk), y).map { $0 - $1 }) / Dense.norm(y)
            #expect(residual < 1e-10, "α = \(alpha): the run has not converged (residual \(residual))")
            let bias = ImplicitBias.solve(x: x, y: y, n: n, d: d, beta: [Double](repeating: alpha * alpha, count: d))
            #expect(bias.converged, "\(bias.message)")
            let error = zip(wk, bias.w).map { abs($0 - $1) }.max()!
            print("O4 \(side) α = \(alpha): max |w_sim − w_bias| = \(error), Newton steps \(bias.iterations)")
            #expect(error < 1e-8)
        }
    }

    /// O11: lazy → rich. With weight decay the test error drops at t_c ≈ (ln α + C)/λ_u: regressing t_c on ln α
    /// over α ∈ {2, 3, 5} gives a slope of 1/λ_u (2%), for two values of λ.
    /// Run once, on `oracleSide` (the OpenCL device where there is one): 150 000 steps of 24 replicas.
    @Test func lazyToRichSlope() throws { try lazyToRichSlope(side: Self.oracleSide(fp64: false)) }
    func lazyToRichSlope(side: Side) throws {
        let engine = try Self.engine(side)
        let yaml = """
            problem: {d: 200, delta: 0.5, design_variance: "1/d", data: independent}
            training: {loss: sum, horizon: 600}
            grid: {alpha: [2, 3, 5], weight_decay: [0.02, 0.04], learning_rate: 0.004}
            seeds: 4
            record: {checkpoints: 60, linear: 300}
            """
        let experiment = try Experiment(try Configuration.parse(yaml: yaml))
        let result = try Simulation.run(experiment, on: engine)
        let test = try #require(result.names.firstIndex(of: "test_error"))
        for (l, lambda) in [0.02, 0.04].enumerated() {
            var logAlpha: [Double] = []
            var tc: [Double] = []
            for (a, alpha) in [2.0, 3, 5].enumerated() {
                let g = a * 2 + l
                let times = experiment.times[g]
                let perSeed = (0..<4).compactMap { s -> Double? in
                    let b = g * 4 + s
                    return Rates.lazyToRichTime(
                        times: times, trainLoss: result.observations.map { $0.values[0][b] },
                        testError: result.observations.map { $0.values[test][b] })
                }
                #expect(perSeed.count == 4, "every seed has a transition")
                logAlpha.append(log(alpha))
                tc.append(EnsembleSummary(perSeed).median)
            }
            let mx = logAlpha.reduce(0, +) / 3
            let my = tc.reduce(0, +) / 3
            let slope =
                zip(logAlpha, tc).reduce(0) { $0 + ($1.0 - mx) * ($1.1 - my) }
                / logAlpha.reduce(0) { $0 + ($1 - mx) * ($1 - mx) }
            print("O11 \(side) λ = \(lambda): t_c = \(tc), slope \(slope) (1/λ_u = \(1 / lambda))")
            #expect(abs(slope * lambda - 1) < 0.02)
        }
    }

    /// O15: the static (AMP) fixed point gives the asymptotic test error of the gradient-flow limit: it
    /// reproduces ρ(1 − δ) + σ²δ/(1 − δ) for the ridge potential, and seed-averaged direct solves at d = 500 to 5%.
    @Test func staticFixedPointMatchesLargeSystems() throws {
        let ridge = StaticFixedPoint.solve(delta: 0.5, noise: 0.1, prior: .bernoulli(0.1), potential: .ridge)
        #expect(ridge.converged && abs(ridge.error - (0.1 * 0.5 + 0.01 * 0.5 / 0.5)) < 1e-8)
        let (d, n) = (500, 250)
        for alpha in [0.5, 1.0] {
            let amp = StaticFixedPoint.solve(
                delta: 0.5, noise: 0, prior: .bernoulli(0.1), potential: .hyperbolic(beta: alpha * alpha))
            #expect(amp.converged)
            var errors: [Double] = []
            for seed in 0..<8 {
                let rng = CounterRNG(seed: UInt64(100 + seed))
                let x = (0..<(n * d)).map { rng.gaussian(stream: 1, index: UInt64($0)) / Double(d).squareRoot() }
                let w = (0..<d).map { j in rng.uniform(stream: 3, index: UInt64(j)) < 0.1 ? 1.0 : 0.0 }
                let s = ImplicitBias.solve(
                    x: x, y: Dense.multiply(x, n, d, w), n: n, d: d, beta: [Double](repeating: alpha * alpha, count: d))
                #expect(s.converged)
                errors.append(zip(s.w, w).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) } / Double(d))
            }
            let mean = errors.reduce(0, +) / Double(errors.count)
            print("O15 α = \(alpha): AMP \(amp.error), direct (d = 500, 8 seeds) \(mean)")
            #expect(abs(mean / amp.error - 1) < 0.05)
        }
    }
}
