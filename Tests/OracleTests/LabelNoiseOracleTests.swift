import DLNModel
import DLNRun
import DLNTheory
import Foundation
import TestSupport
import Testing

/// Label-noise gradient descent on pm against its lasso (docs/theory.md, "Label noise: the lasso"): the time and seed
/// average of w settles at argmin (1/2n)‖Xw − y‖² + Σλ_j|w_j|, λ_j = λ_u + ησ²c_j/(2n).
@Suite struct LabelNoiseOracleTests {
    /// d = 20, n = 40 (the lasso is unique and least squares does not interpolate), a 3-sparse teacher of ones with
    /// noise 0.5, shared data, α = 0.1, η = 0.1, 60 000 steps (t = 6000) in float64 on the CPU engine, 16 seeds that
    /// differ by their label noise only. w is averaged over the seeds and over every 100th step of the second half.
    ///
    /// Tolerance: ‖w̄ − ŵ‖₂ ≤ 0.15·‖ŵ − w_LS‖₂. The first-order strength leaves out relative O(η²s²) terms
    /// (s_j² = σ²c_j/n ≈ 0.6 at σ = 5: ≈ 0.01) and u⊙v has shrunk below 1e-100; the Monte-Carlo error of the
    /// average (per replica ≈ 0.03–0.05 in ℓ2, /√16 over seeds) is ≈ 0.01, against ‖ŵ − w_LS‖₂ ≈ 0.2, so the bound
    /// holds with a margin of several standard errors (measured: 0.016 against 0.23 at σ = 5; 0.0061 against 0.21 at
    /// σ = 2.5 with λ_u = 0.02, pm). The factor: w̄ must also be nearer ŵ than the lassos with 2λ and λ/2 (a wrong factor
    /// 2 in λ_j fails), and with λ_u > 0 the strengths add. (At σ = 2.5 without weight decay the lasso is only 0.068
    /// from least squares, too near for this bound: measured 0.0081 against it, still 4.5× nearer than λ/2's lasso.)
    /// The run is deterministic (fixed data seed, counter-based noise): no false failures from chance. uv (from u = α,
    /// v = 0) is pm on the rotated layers (u ± v)/√2, step for step: the same lasso. CI runs the uv case with weight
    /// decay (the pm cases at σ = 5 and 2.5 passed with the margins above and were dropped for CI time).
    @Test(arguments: [(2.5, 0.02, Parameterization.uv)])
    func timeAverageIsTheLasso(sigma: Double, weightDecay: Double, model: Parameterization) throws {
        var c = Configuration()
        c.problem.d = 20
        c.problem.n = 40
        c.problem.delta = nil
        c.problem.noise = 0.5
        c.problem.teacherDensity = 0.15
        c.problem.teacherSupport = .exact
        c.problem.sharing = .shared
        c.model.parameterization = model
        c.training.update = .gd
        c.training.precision = .float64
        c.training.labelNoise = sigma
        c.training.steps = 0
        c.grid.alpha = [0.1]
        c.grid.learningRate = [0.1]
        c.grid.weightDecay = [weightDecay]
        c.seeds = 16
        let batch = try Experiment(c).batch
        let (d, n, S) = (20, 40, 16)
        let engine = CPUEngine()
        try engine.initialize(batch)
        let (steps, every) = (60_000, 100)
        try engine.step(count: steps / 2)
        var mean = [Double](repeating: 0, count: d)
        var samples = 0
        for _ in 0..<(steps / 2 / every) {
            try engine.step(count: every)
            let w = try engine.state().weights.doubles
            for b in 0..<S { for j in 0..<d { mean[j] += w[b * d + j] } }
            samples += S
        }
        mean = mean.map { $0 / Double(samples) }
        let ds = batch.datasets[0]
        #expect(batch.replicas.allSatisfy { $0.dataset == 0 }, "the seeds share the data")
        let (x, y) = (ds.x.doubles, ds.y.doubles)
        let lambdaU = batch.replicas[0].lambdaU
        let lambdas = Lasso.labelNoiseStrengths(
            x: x, n: n, d: d, eta: 0.1, labelNoise: sigma, weightDecay: lambdaU, meanLoss: true)
        func lasso(_ scale: Double, _ base: [Double] = lambdas) -> [Double] {
            let s = Lasso.solve(x: x, y: y, n: n, d: d, lambdas: base.map { $0 * scale }, tolerance: 1e-14)
            #expect(s.converged)
            return s.w
        }
        func distance(_ a: [Double], _ b: [Double]) -> Double {
            zip(a, b).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }.squareRoot()
        }
        let predicted = lasso(1)
        let leastSquares = lasso(0)
        let gap = distance(predicted, leastSquares)
        let off = distance(mean, predicted)
        let others = [distance(mean, lasso(2)), distance(mean, lasso(0.5))]
        print(
            "label noise \(model.rawValue) σ = \(sigma), λ_u = \(lambdaU): ‖w̄ − lasso‖₂ \(off), ‖lasso − LS‖₂ \(gap), "
                + "‖w̄ − LS‖₂ \(distance(mean, leastSquares)), ‖w̄ − lasso(2λ)‖₂ \(others[0]), "
                + "‖w̄ − lasso(λ/2)‖₂ \(others[1])")
        #expect(off <= 0.15 * gap, "‖w̄ − lasso‖₂ = \(off) against ‖lasso − LS‖₂ = \(gap)")
        #expect(others.allSatisfy { $0 > 2 * off }, "a lasso with 2λ or λ/2 is as near: \(others) against \(off)")
        if weightDecay > 0 {
            // Weight decay alone (the gradient-flow lasso, λ = λ_u) is far too: the strengths add.
            let decayOnly = lasso(1, [Double](repeating: lambdaU, count: d))
            #expect(distance(mean, decayOnly) > 2 * off)
        }
        let o = try engine.observe()
        #expect(o["effective_scale_sq_mean"]!.allSatisfy { $0 < 1e-20 }, "u⊙v has shrunk to nothing")
    }
}
