import DLNModel
import DLNRun
import DLNTheory
import Foundation
import Testing

/// The theory behind `dlnsim analyze` on the problems where it used to give up or mislead: saddle-to-saddle
/// sequences longer than 100 stages, centred data (dependent rows), late-rate fits near the round-off floor,
/// horizon checkpoints, and the DMFT's Monte-Carlo standard error.
@Suite struct AnalysisTests {
    /// A Gaussian n×d matrix and labels y = Xw* + noise from a fixed seed.
    static func problem(n: Int, d: Int, seed: UInt64, noise: Double = 0) -> (x: [Double], y: [Double]) {
        let rng = CounterRNG(seed: seed)
        let x = (0..<(n * d)).map { rng.gaussian(stream: 0, index: UInt64($0)) }
        let w = (0..<d).map { $0 % 5 == 0 ? 1.0 : 0 }
        let y = (0..<n).map { i in
            (0..<d).reduce(0.0) { $0 + x[i * d + $1] * w[$1] } + noise * rng.gaussian(stream: 1, index: UInt64(i))
        }
        return (x, y)
    }

    /// An overdetermined noisy problem activates its coordinates one after the other: more than 100 stages. The
    /// sequence runs to its end (a stationary point of the loss); a cap stops it and says so.
    /// The label-noise lasso's strengths: the sum loss with step η/n is the mean loss with step η (the same
    /// dynamics), so its mean-form strengths agree; equal λ_j give the scalar lasso; λ_u adds.
    @Test func labelNoiseStrengthsAndTheWeightedLasso() {
        let (n, d) = (30, 12)
        let (x, y) = Self.problem(n: n, d: d, seed: 5, noise: 0.3)
        let mean = Lasso.labelNoiseStrengths(
            x: x, n: n, d: d, eta: 0.1, labelNoise: 2, weightDecay: 0.01, meanLoss: true)
        let sum = Lasso.labelNoiseStrengths(
            x: x, n: n, d: d, eta: 0.1 / Double(n), labelNoise: 2, weightDecay: 0.01 * Double(n), meanLoss: false)
        for j in 0..<d {
            let c = (0..<n).reduce(0.0) { $0 + x[$1 * d + j] * x[$1 * d + j] } / Double(n)
            #expect(abs(mean[j] - (0.01 + 0.1 * 4 * c / (2 * Double(n)))) < 1e-15)
            #expect(abs(sum[j] / mean[j] - 1) < 1e-13, "coordinate \(j): \(sum[j]) vs \(mean[j])")
        }
        let weighted = Lasso.solve(x: x, y: y, n: n, d: d, lambdas: [Double](repeating: 0.05, count: d))
        let scalar = Lasso.solve(x: x, y: y, n: n, d: d, lambda: 0.05)
        #expect(weighted.converged && weighted.w == scalar.w)
        let kkt = Lasso.solve(x: x, y: y, n: n, d: d, lambdas: mean, tolerance: 1e-14)
        // Its KKT conditions, coordinate by coordinate with λ_j.
        var r = y
        for i in 0..<n { for j in 0..<d { r[i] -= x[i * d + j] * kkt.w[j] } }
        for j in 0..<d {
            let g = -(0..<n).reduce(0.0) { $0 + x[$1 * d + j] * r[$1] } / Double(n)
            if kkt.w[j] != 0 {
                #expect(abs(g + mean[j] * (kkt.w[j] > 0 ? 1 : -1)) < 1e-10)
            } else {
                #expect(abs(g) <= mean[j] + 1e-10)
            }
        }
    }

    @Test func saddleToSaddleRunsPastAHundredStagesToItsEnd() {
        let (n, d) = (130, 110)
        let (x, y) = Self.problem(n: n, d: d, seed: 7, noise: 0.5)
        let full = SaddleToSaddle.sequence(x: x, y: y, n: n, d: d)
        let stages = full.stages
        #expect(stages.count > 101 && full.reachedEnd, "\(stages.count) stages")
        // The end: the least-squares solution (∇ℓ = 0), with every τ increasing.
        let last = stages.last!.saddle
        let r = zip(Dense.multiply(x, n, d, last), y).map { $0 - $1 }
        let g = Dense.multiplyTransposed(x, n, d, r).map { abs($0) / Double(n) }
        #expect(g.max()! < 1e-8, "gradient \(g.max()!) at the last stage")
        #expect(zip(stages, stages.dropFirst()).allSatisfy { $0.tau < $1.tau })
        let capped = SaddleToSaddle.sequence(x: x, y: y, n: n, d: d, maxStages: 20)
        #expect(!capped.reachedEnd && capped.stages.count == 21 && capped.cap == 20)
    }

    /// Centred data (column means removed: rank n − 1): the implicit bias is solved in the row space of X and the
    /// predicted late rate, from the smallest non-zero eigenvalue, is finite and is the rate gradient descent shows.
    @Test func centredDataGetARowSpaceSolutionAndAFiniteRate() {
        let (n, d) = (12, 30)
        var (x, y) = Self.problem(n: n, d: d, seed: 3)
        for j in 0..<d {
            let m = (0..<n).reduce(0.0) { $0 + x[$1 * d + j] } / Double(n)
            for i in 0..<n { x[i * d + j] -= m }
        }
        let my = y.reduce(0, +) / Double(n)
        y = y.map { $0 - my }
        #expect(Dense.isRowRankDeficient(x, n, d))
        let alpha = 1.0
        let beta = [Double](repeating: alpha * alpha, count: d)
        let solution = ImplicitBias.solve(x: x, y: y, n: n, d: d, beta: beta)
        #expect(solution.converged, "\(solution.message)")
        #expect(solution.message.contains("rank 11 < n = 12"), "\(solution.message)")
        let r = zip(Dense.multiply(x, n, d, solution.w), y).map { $0 - $1 }
        #expect(Dense.norm(r) < 1e-9 * Dense.norm(y))
        let eta = 0.01
        guard let predicted = Rates.predictedRate(x: x, n: n, d: d, limit: solution.w, beta: beta, eta: eta) else {
            Issue.record("no predicted rate on centred data")
            return
        }
        #expect(predicted.isFinite && predicted > 0)
        // Gradient descent on pm from u = v = α: its late loss decays at the predicted rate.
        var u = [Double](repeating: alpha, count: d)
        var v = u
        var times: [Double] = []
        var losses: [Double] = []
        for k in 0...4000 {
            let w = zip(u, v).map { ($0 * $0 - $1 * $1) / 2 }
            let res = zip(Dense.multiply(x, n, d, w), y).map { $0 - $1 }
            if k % 25 == 0 {
                times.append(Double(k) * eta)
                losses.append(res.reduce(0) { $0 + $1 * $1 } / (2 * Double(n)))
            }
            let g = Dense.multiplyTransposed(x, n, d, res).map { $0 / Double(n) }
            for j in 0..<d {
                u[j] -= eta * g[j] * u[j]
                v[j] += eta * g[j] * v[j]
            }
        }
        let fit = Rates.lateRate(times: times, loss: losses, epsilon: .ulpOfOne)
        guard let fitted = fit.rate else {
            Issue.record("no fitted rate: \(fit.points) points in (\(fit.floor), \(fit.ceiling)]; \(losses)")
            return
        }
        #expect(abs(fitted - predicted) <= 0.05 * predicted, "fitted \(fitted), predicted \(predicted)")
    }

    /// The late-rate fit leaves out the checkpoints at the round-off floor and says when too few remain.
    @Test func lateRateFitsAboveTheRoundOffFloorOnly() {
        let times = (0..<300).map { Double($0) * 0.5 }
        let loss = times.map { max(10 * exp(-0.469 * $0), 3e-14 * (1 + 0.3 * sin($0))) }
        let fit = Rates.lateRate(times: times, loss: loss, epsilon: .ulpOfOne)
        #expect(fit.rate.map { abs($0 - 0.469) < 0.01 } == true, "\(String(describing: fit.rate))")
        let short = Rates.lateRate(times: [0, 1, 2], loss: [1, 1e-5, 1e-15], epsilon: .ulpOfOne)
        #expect(short.rate == nil && short.points < 3)
    }

    /// Horizon runs: every grid point's checkpoints are distinct steps (strictly increasing), as many for every η,
    /// and the last one is round(horizon/η).
    @Test func horizonCheckpointsAreDistinctSteps() throws {
        let c = try Configuration.parse(
            yaml:
                "problem: {d: 10, n: 5}\ntraining: {horizon: 3}\ngrid: {learning_rate: [0.1, 0.05, 0.003]}\n"
                + "record: {checkpoints: 60, linear: 4}")
        let e = try Experiment(c)
        let counts = Set(e.steps.map(\.count))
        #expect(counts.count == 1)
        for (g, steps) in e.steps.enumerated() {
            #expect(zip(steps, steps.dropFirst()).allSatisfy { $0 < $1 }, "grid point \(g): \(steps)")
            #expect(steps.last == Int((3 / e.gridPoints[g].learningRate).rounded()))
        }
        // Fewer steps than checkpoints at the largest η: the distinct ones.
        let few = Experiment.distinctSteps(times: [0, 0.1, 0.2, 0.25, 0.3, 0.35, 0.4], eta: 0.1, etaMax: 0.1)
        #expect(few == [0, 1, 2, 3, 4])
        #expect(Experiment.distinctSteps(times: [0, 0.1, 0.2, 0.25, 0.3, 0.35, 0.4], eta: 0.05, etaMax: 0.1).count == 5)
    }

    /// The DMFT's Monte-Carlo standard error of the late train loss covers the spread over independent solver
    /// seeds (the per-path standard error of one solve is several times too small).
    @Test func dmftStandardErrorCoversTheSpreadOverSeeds() throws {
        let p = DMFTProblem(delta: 0.5, eta: 0.3, alpha: 1, noise: 0, density: 0.2, values: .signs, steps: 25)
        var settings = DMFTSettings()
        settings.paths = 1500
        settings.responsePaths = 150
        settings.errorSeeds = 8
        func engine(_ s: DMFTSettings) -> any DMFTPathEngine { DMFTCPUPaths(problem: p, settings: s) }
        let result = try DMFTSolver.solve(p, settings: settings, engines: { s throws(DLNError) in engine(s) })
        #expect(result.converged)
        let K = p.steps
        let se = result.standardError["train_loss"]![K]
        // Independent single solves with other seeds: their spread is the error of one solve.
        var single = settings
        single.errorSeeds = 1
        var perPath: [Double] = []
        let finals = try (0..<12).map { r throws(DLNError) -> Double in
            single.seed = 1000 + r
            let one = try DMFTSolver.solve(p, settings: single, engine: engine(single))
            perPath.append(one.standardError["train_loss"]![K])
            return one.mean["train_loss"]![K]
        }
        let m = finals.reduce(0, +) / 12
        let spread = (finals.reduce(0) { $0 + ($1 - m) * ($1 - m) } / 11).squareRoot()
        // The reported s.e. is that of the mean of `errorSeeds` solves: one solve's error is √(errorSeeds) times larger.
        let perSolve = se * Double(settings.errorSeeds).squareRoot()
        #expect(perSolve > spread / 2 && perSolve < 2 * spread, "s.e. of one solve \(perSolve), spread \(spread)")
        // The per-path standard error of one solve misses most of it.
        let pathSE = perPath.reduce(0, +) / 12
        #expect(pathSE < spread / 2, "per-path s.e. \(pathSE), spread \(spread)")
        print(
            "DMFT late train loss: spread over seeds \(spread), s.e. of one solve from 8 seeds \(perSolve), per-path \(pathSE)"
        )
        // The mean of the seeds is within a few standard errors of the singles' mean.
        #expect(abs(result.mean["train_loss"]![K] - m) < 4 * (se + spread / 12.0.squareRoot()))
    }
}
