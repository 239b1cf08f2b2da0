import DLNModel
import DLNRun
import DLNTheory
import Foundation
import TestSupport
import Testing

/// Exact identities of discrete gradient descent (docs/model.md §2.3, oracle O2), batching invariance and
/// determinism, on the CPU engine in float64.
@Suite struct EngineTests {
    static func gradient(_ batch: Batch, weights: [Double], replica b: Int) -> [Double] {
        replayedGradient(batch, weights: weights, replica: b)
    }

    @Test(arguments: [0.0, 0.01])
    func pmProductIdentityHoldsForGD(lambda: Double) throws {
        let (d, n, steps, eta, alpha) = (40, 20, 3000, 0.05, 0.3)
        let batch = try makeBatch(
            d: d, n: n, replicas: 2, precision: .float64, sharing: .independent,
            lambda: [lambda], eta: [eta], alpha: [alpha])
        let engine = CPUEngine()
        try engine.initialize(batch)
        var logProduct = [Double](repeating: 2 * log(alpha), count: 2 * d)  // ln(α²∏[(1−ηλ)² − η²g²])
        for _ in 0..<steps {
            let w = try engine.state().weights.doubles
            for b in 0..<2 {
                let g = Self.gradient(batch, weights: w, replica: b)
                for j in 0..<d {
                    logProduct[b * d + j] += log((1 - eta * lambda) * (1 - eta * lambda) - eta * eta * g[j] * g[j])
                }
            }
            try engine.step(count: 1)
        }
        let s = try engine.state()
        let u = s.layers[0].doubles
        let v = s.layers[1].doubles
        var worst = 0.0
        for k in 0..<(2 * d) { worst = max(worst, abs(u[k] * v[k] / exp(logProduct[k]) - 1)) }
        #expect(worst < 1e-12, "u·v vs α²∏[(1−ηλ)² − η²g²]: relative error \(worst)")
        if lambda == 0 { #expect(try engine.observe().trainLoss.allSatisfy { $0 < 1e-3 }) }
    }

    /// P2 (uv): u+v is multiplied by (1−ηλ) − ηg and u−v by (1−ηλ) + ηg at every step.
    @Test func uvSumAndDifferenceIdentities() throws {
        let (d, n, steps, eta, lambda) = (30, 15, 2000, 0.05, 0.001)
        let batch = try makeBatch(
            d: d, n: n, replicas: 1, model: .uv, precision: .float64, lambda: [lambda], eta: [eta], alpha: [0.5])
        let engine = CPUEngine()
        try engine.initialize(batch)
        let s0 = try engine.state()
        var logSum = zip(s0.layers[0].doubles, s0.layers[1].doubles).map { log(abs($0 + $1)) }
        var logDiff = zip(s0.layers[0].doubles, s0.layers[1].doubles).map { log(abs($0 - $1)) }
        for _ in 0..<steps {
            let g = Self.gradient(batch, weights: try engine.state().weights.doubles, replica: 0)
            for j in 0..<d {
                logSum[j] += log(abs((1 - eta * lambda) - eta * g[j]))
                logDiff[j] += log(abs((1 - eta * lambda) + eta * g[j]))
            }
            try engine.step(count: 1)
        }
        let s = try engine.state()
        let u = s.layers[0].doubles
        let v = s.layers[1].doubles
        var worst = 0.0
        for j in 0..<d {
            worst = max(worst, abs(log(abs(u[j] + v[j])) - logSum[j]), abs(log(abs(u[j] - v[j])) - logDiff[j]))
        }
        #expect(worst < 1e-11)
    }

    /// P1(α) and P2 with u0 = √2α, v0 = 0 follow the same w-trajectory (orthogonal change of variables).
    @Test func pmEqualsUVWithRotatedInit() throws {
        var c = Configuration()
        c.problem.d = 25
        c.problem.n = 12
        c.problem.delta = nil
        c.problem.noise = 0.05
        c.training.precision = .float64
        c.training.steps = 0
        c.grid.alpha = [0.2]
        c.grid.learningRate = [0.05]
        c.grid.weightDecay = [0.003]
        let pm = try Experiment(c).batch
        c.model.parameterization = .uv
        c.grid.alpha = [0.2 * 2.0.squareRoot()]
        let uv = try Experiment(c).batch
        let (a, b) = (CPUEngine(), CPUEngine())
        try a.initialize(pm)
        try b.initialize(uv)
        try a.step(count: 3000)
        try b.step(count: 3000)
        let wa = try a.state().weights.doubles
        let wb = try b.state().weights.doubles
        let scale = wa.map(abs).max()!
        #expect(zip(wa, wb).map { abs($0 - $1) }.max()! < 1e-12 * max(scale, 1))
    }

    /// A replica alone computes the same bits as inside a larger, heterogeneous batch.
    /// The CPU engine's tiles (one block, two or four blocks that share data) give the same bits: one thread
    /// uses four-block tiles for 10 blocks, eight threads use pairs, and a single block runs alone.
    @Test(arguments: [Precision.float32, .float64])
    func tilesAreBitIdentical(precision: Precision) throws {
        let batch = try makeBatch(
            d: 45, n: 22, replicas: 160, precision: precision, lambda: [0, 0.01], eta: [0.02], alpha: [0.3])
        var states: [[Double]] = []
        for threads in [1, 8] {
            let engine = CPUEngine(threads: threads)
            try engine.initialize(batch)
            try engine.step(count: 50)
            states.append(try engine.state().weights.doubles + (try engine.observe().trainLoss))
        }
        let single = CPUEngine(threads: 1)
        try single.initialize(try batch.slice(0..<16))
        try single.step(count: 50)
        let alone = try single.state().weights.doubles
        #expect(states[0].map(\.bitPattern) == states[1].map(\.bitPattern))
        #expect(alone.map(\.bitPattern) == Array(states[0][0..<(16 * 45)]).map(\.bitPattern))
    }

    @Test(arguments: [DataSharing.shared, .independent])
    func batchingInvariance(sharing: DataSharing) throws {
        let big = try makeBatch(d: 17, n: 9, replicas: 74, sharing: sharing, lambda: [0, 0.01], seedOffset: 0)
        let alone = try makeBatch(d: 17, n: 9, replicas: 2, sharing: sharing, lambda: [0, 0.01], seedOffset: 21)
        // big: replica g·37 + s has seed s; alone: replica g has seed 21.
        let (e1, e2) = (CPUEngine(), CPUEngine(threads: 1))
        try e1.initialize(big)
        try e2.initialize(alone)
        try e1.step(count: 500)
        try e2.step(count: 500)
        let w1 = try e1.state().weights.doubles
        let w2 = try e2.state().weights.doubles
        for g in 0..<2 {
            let b = g * 37 + 21
            #expect(
                Array(w1[(b * 17)..<((b + 1) * 17)]).map(\.bitPattern)
                    == Array(w2[(g * 17)..<((g + 1) * 17)]).map(\.bitPattern))
        }
    }

    @Test func runsAreDeterministic() throws {
        let yaml =
            "problem: {d: 30, n: 20, data: independent, noise: 0.1}\nmodel: {parameterization: uv, init: {u_noise: "
            + "0.2, v_noise: 0.3}}\ntraining: {steps: 200}\nseeds: 5"
        let (r1, r2) = (
            try Experiment(try Configuration.parse(yaml: yaml)), try Experiment(try Configuration.parse(yaml: yaml))
        )
        let (a, b) = (try Simulation.run(r1, on: CPUEngine()), try Simulation.run(r2, on: CPUEngine(threads: 1)))
        #expect(a.trainLoss == b.trainLoss)
        #expect(Set(a.trainLoss.last!).count == 5, "different seeds give different replicas")
        #expect(a.trainLoss.last!.allSatisfy { $0 < a.trainLoss.first![0] })
    }

    @Test func syntheticDataFollowTheConfiguration() throws {
        var p = Configuration.Problem()
        p.teacherDensity = 0.2
        p.teacherSupport = .exact
        p.teacherValues = .signs
        p.designVariance = .inverseD
        let ds = Experiment.synthetic(seed: 3, d: 400, n: 300, problem: p, precision: .float64)
        let w = ds.wStar!
        #expect(w.filter { $0 != 0 }.count == 80)
        #expect(Set(w.filter { $0 != 0 }) == [-1, 1])
        let x = ds.x.doubles
        let variance = x.map { $0 * $0 }.reduce(0, +) / Double(x.count)
        #expect(abs(variance * 400 - 1) < 0.02)
        // y = Xw* exactly (no noise).
        let y = ds.y.doubles
        for i in 0..<5 {
            let dot = (0..<400).reduce(0.0) { $0 + x[i * 400 + $1] * w[$1] }
            #expect(abs(dot - y[i]) < 1e-12)
        }
    }
}

@Suite struct StatisticsTests {
    @Test func summaryMatchesADirectComputation() {
        let s = EnsembleSummary([4, 1, .nan, 3, 2, .infinity])
        #expect(s.count == 4)
        #expect(s.mean == 2.5)
        #expect(abs(s.std - (5.0 / 3).squareRoot()) < 1e-15)
        #expect(abs(s.sem - (5.0 / 3).squareRoot() / 2) < 1e-15)
        #expect(s.median == 2.5)
        #expect(abs(s.q10 - 1.3) < 1e-15 && abs(s.q90 - 3.7) < 1e-15)
        let one = EnsembleSummary([7])
        #expect(one.mean == 7 && one.median == 7 && one.std.isNaN && one.q90 == 7)
        #expect(EnsembleSummary([.nan]).count == 0 && EnsembleSummary([]).mean.isNaN)
    }

    @Test func runStatisticsGroupSeedsByGridPoint() throws {
        let e = try Experiment(
            try Configuration.parse(
                yaml:
                    "problem: {d: 20, n: 10, data: independent}\ntraining: {steps: 50}\ngrid: {alpha: [0.1, "
                    + "1]}\nseeds: 5\nrecord: {checkpoints: 3}"
            ))
        let r = try Simulation.run(e, on: CPUEngine())
        let stats = RunStatistics(r, gridPoints: 2, seeds: 5)
        for g in 0..<2 {
            for c in 0..<r.checkpoints.count {
                let direct = (0..<5).map { r.observations[c].values[0][g * 5 + $0] }
                #expect(stats.summaries[g][0][c].mean == EnsembleSummary(direct).mean)
            }
        }
        let csv = stats.csv(experiment: e, checkpoints: r.checkpoints, steps: r.steps)
        let lines = csv.split(separator: "\n")
        #expect(lines.count == 1 + 2 * r.names.count * r.checkpoints.count)
        #expect(lines[0].hasPrefix("point,alpha,"))
    }
}
