import DLNModel
import DLNRun
import DLNTheory
import Foundation
import Testing

/// The depth-L implicit bias that `dlnsim analyze` predicts for deep_pm (Woodworth's potential), against the pm
/// solver at L = 2 and against long gradient-flow runs of the CPU engine at L = 3, 4.
@Suite struct DeepImplicitBiasTests {
    static func batch(depth: Int, alpha: Double, seeds: Int = 2) throws -> Batch {
        var c = Configuration()
        c.problem.d = 24
        c.problem.n = 12
        c.problem.delta = nil
        c.problem.noise = 0
        c.problem.teacherDensity = 0.25
        c.problem.teacherValues = .signs
        c.problem.sharing = .independent
        c.model.parameterization = .deepPM
        c.model.depth = depth
        c.training.update = .flow
        c.training.precision = .float64
        c.training.flow = FlowSettings(rtol: 1e-11, atol: 1e-14)
        c.training.steps = 0
        c.grid.alpha = [alpha]
        c.seeds = seeds
        return try Experiment(c).batch
    }

    /// Woodworth's depth-2 model from α is pm from β = 2α² (both are β·sinh of a multiple of Xᵀν): the same limit.
    @Test func depthTwoIsThePMInterpolator() throws {
        let batch = try Self.batch(depth: 2, alpha: 0.2)
        let set = batch.datasets[0]
        let (x, y, n, d) = (set.x.doubles, set.y.doubles, batch.layout.samples, batch.layout.dimension)
        let deep = DeepImplicitBias.solve(x: x, y: y, n: n, d: d, depth: 2, alpha: 0.2)
        let pm = ImplicitBias.solve(x: x, y: y, n: n, d: d, beta: [Double](repeating: 0.08, count: d))
        #expect(deep.converged && pm.converged, "\(deep.message); \(pm.message)")
        let scale = pm.w.map(abs).max()!
        #expect(zip(deep.w, pm.w).map { abs($0 - $1) }.max()! <= 1e-9 * scale)
    }

    /// Gradient flow of deep_pm (equal layers, λ = 0) run until the loss is at the float64 floor ends on the
    /// predicted interpolator to 1e-6 relative.
    @Test(arguments: [3, 4])
    func longFlowRunsEndOnThePrediction(_ depth: Int) throws {
        let alpha = 0.5
        let batch = try Self.batch(depth: depth, alpha: alpha)
        let engine = CPUEngine()
        try engine.initialize(batch)
        try engine.advance(to: 4000)
        let loss = try engine.observe().trainLoss
        #expect(loss.allSatisfy { $0 < 1e-18 }, "not converged: \(loss)")
        let w = try engine.state().weights.doubles
        let d = batch.layout.dimension
        for (b, replica) in batch.replicas.enumerated() {
            let set = batch.datasets[replica.dataset]
            let p = DeepImplicitBias.solve(
                x: set.x.doubles, y: set.y.doubles, n: batch.layout.samples, d: d, depth: depth, alpha: alpha)
            #expect(p.converged, "\(p.message)")
            let sim = Array(w[(b * d)..<((b + 1) * d)])
            let gap = Dense.norm(zip(sim, p.w).map { $0 - $1 }) / Dense.norm(p.w)
            #expect(gap <= 1e-6, "replica \(b), L = \(depth): relative distance \(gap)")
        }
    }

    /// From small α, the first coordinate leaves the origin at t* = α^{−(L−2)}/((L−2)·s) (s = max|Xᵀy|/n): the time
    /// at which max|w_i| first exceeds 0.1 is within 5% of it (the remaining growth from 0.1 to the blow-up is a few
    /// percent of t* at these α), and it scales like α^{−(L−2)}.
    @Test(arguments: [(3, 0.01), (4, 0.05)])
    func escapeTimeFromSmallInitialisation(_ depth: Int, _ alpha: Double) throws {
        let batch = try Self.batch(depth: depth, alpha: alpha, seeds: 1)
        let set = batch.datasets[0]
        let (n, d) = (batch.layout.samples, batch.layout.dimension)
        let predicted = DeepImplicitBias.escapeTime(
            x: set.x.doubles, y: set.y.doubles, n: n, d: d, depth: depth, alpha: alpha, meanLoss: true)
        let engine = CPUEngine()
        try engine.initialize(batch)
        var t = 0.0
        let dt = predicted / 400
        var crossed: Double? = nil
        while t < 2 * predicted {
            t += dt
            try engine.advance(to: t)
            if try engine.state().weights.doubles.map(abs).max()! > 0.1 {
                crossed = t
                break
            }
        }
        let measured = try #require(crossed, "no coordinate left the origin by 2·t* = \(2 * predicted)")
        #expect(
            abs(measured - predicted) <= 0.05 * predicted,
            "L = \(depth), α = \(alpha): measured \(measured), t* \(predicted)")
    }
}
