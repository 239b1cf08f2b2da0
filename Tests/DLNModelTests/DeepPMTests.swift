import DLNModel
import DLNRun
import Foundation
import Testing

/// deep_pm, w = u₁⊙…⊙u_L − v₁⊙…⊙v_L, through the generic code path (configuration → experiment → CPU engine), against
/// the exact maps of docs/model.md §1.4: to pm at L = 2 (α_pm = √2·α, same η and λ) and to Woodworth et al.'s
/// depth-D model u^D − v^D (time t/L, weight decay L·λ), in float64.
@Suite struct DeepPMTests {
    static func configuration(
        _ model: Parameterization, depth: Int = 2, alpha: Double, lambda: Double, eta: Double, update: UpdateRule = .gd
    ) -> Configuration {
        var c = Configuration()
        c.problem.d = 12
        c.problem.n = 8
        c.problem.delta = nil
        c.problem.noise = 0.1
        c.problem.teacherDensity = 0.3
        c.problem.teacherValues = .signs
        c.problem.sharing = .independent
        c.model.parameterization = model
        c.model.depth = depth
        c.training.update = update
        c.training.precision = .float64
        c.training.steps = 0
        c.grid.alpha = [alpha]
        c.grid.weightDecay = [lambda]
        c.grid.learningRate = [eta]
        c.seeds = 3
        if update == .flow { c.training.flow = FlowSettings(rtol: 1e-11, atol: 1e-14) }
        return c
    }

    static func weights(_ c: Configuration, steps: Int? = nil, time: Double? = nil) throws -> (
        w: [Double], batch: Batch
    ) {
        let batch = try Experiment(c).batch
        let engine = CPUEngine()
        try engine.initialize(batch)
        if let steps { try engine.step(count: steps) }
        if let time { try engine.advance(to: time) }
        return (try engine.state().weights.doubles, batch)
    }

    /// pm(α) and deep_pm(L = 2, α/√2) take the same steps: u ← u − η(g+λ)u and a ← a − η(g·a + λa) with w = a² − b²
    /// = (u² − v²)/2; they differ only by rounding.
    @Test(arguments: [0.0, 0.01])
    func depthTwoIsPM(_ lambda: Double) throws {
        let alpha = 0.3
        let pm = try Self.weights(Self.configuration(.pm, alpha: alpha, lambda: lambda, eta: 0.05), steps: 800).w
        let deep = try Self.weights(
            Self.configuration(.deepPM, alpha: alpha / 2.0.squareRoot(), lambda: lambda, eta: 0.05), steps: 800
        ).w
        let scale = pm.map(abs).max()!
        #expect(scale > 0.05, "the runs must have moved")
        let gap = zip(pm, deep).map { abs($0 - $1) }.max()!
        #expect(gap <= 1e-12 * scale, "max |w_pm − w_deep_pm| = \(gap), scale \(scale)")
    }

    /// Under gradient flow, deep_pm with equal layers at time t is Woodworth's u^D − v^D (one vector per sign,
    /// D = L) at time t/L with weight decay L·λ: integrated here by classical RK4 with a small step.
    @Test(arguments: [2, 3])
    func equalLayersAreWoodworthsModel(_ L: Int) throws {
        let (alpha, lambda, t) = (0.5, 0.02, 3.0)
        let c = Self.configuration(.deepPM, depth: L, alpha: alpha, lambda: lambda, eta: 0.05, update: .flow)
        let (w, batch) = try Self.weights(c, time: t)
        let d = batch.layout.dimension
        let n = batch.layout.samples
        let lambdaU = batch.replicas[0].lambdaU
        let D = Double(L)
        for (b, replica) in batch.replicas.enumerated() {
            let set = batch.datasets[replica.dataset]
            let (x, y) = (set.x.doubles, set.y.doubles)
            // State (u, v) ∈ R^{2d}; dτ-derivative of Woodworth's flow.
            func f(_ s: [Double]) -> [Double] {
                var r = y.map { -$0 }
                let ww = (0..<d).map { j in pow(s[j], D) - pow(s[d + j], D) }
                for i in 0..<n { for j in 0..<d { r[i] += x[i * d + j] * ww[j] } }
                var out = [Double](repeating: 0, count: 2 * d)
                for j in 0..<d {
                    var g = 0.0
                    for i in 0..<n { g += x[i * d + j] * r[i] }
                    g *= batch.gradientScale
                    out[j] = -(D * pow(s[j], D - 1) * g + D * lambdaU * s[j])
                    out[d + j] = -(-D * pow(s[d + j], D - 1) * g + D * lambdaU * s[d + j])
                }
                return out
            }
            var s = [Double](repeating: alpha, count: 2 * d)
            let steps = 4000
            let h = t / D / Double(steps)
            for _ in 0..<steps {
                let k1 = f(s)
                let k2 = f(zip(s, k1).map { $0 + 0.5 * h * $1 })
                let k3 = f(zip(s, k2).map { $0 + 0.5 * h * $1 })
                let k4 = f(zip(s, k3).map { $0 + h * $1 })
                for i in 0..<(2 * d) { s[i] += h / 6 * (k1[i] + 2 * k2[i] + 2 * k3[i] + k4[i]) }
            }
            let reference = (0..<d).map { j in pow(s[j], D) - pow(s[d + j], D) }
            let scale = reference.map(abs).max()!
            let gap = (0..<d).map { abs(w[b * d + $0] - reference[$0]) }.max()!
            #expect(scale > 0.1, "the run must have moved")
            #expect(gap <= 1e-7 * scale, "replica \(b), L = \(L): max gap \(gap), scale \(scale)")
        }
    }

    /// w(0) = 0, and a teacher with negative entries is fitted with negative weights (deep cannot: its w stays ≥ 0).
    @Test func signedWeights() throws {
        var c = Self.configuration(.deepPM, depth: 3, alpha: 0.5, lambda: 0, eta: 0.05)
        c.problem.n = 30
        let start = try Self.weights(c, steps: 0).w
        #expect(start.allSatisfy { $0 == 0 })
        let (w, batch) = try Self.weights(c, steps: 4000)
        let teacher = batch.datasets[batch.replicas[0].dataset].wStar ?? []
        let negative = teacher.indices.filter { teacher[$0] < 0 }
        #expect(!negative.isEmpty)
        for j in negative { #expect(w[j] < -0.5, "coordinate \(j): w = \(w[j]), teacher \(teacher[j])") }
    }

    /// `model.init.signs: random` flips the first layer of each product per coordinate and replica (about half of
    /// them), `entries: gaussian` draws every entry; the same seed draws the same layers at every grid point.
    @Test(arguments: [Parameterization.deep, .deepPM])
    func randomSignsAndGaussianEntries(_ model: Parameterization) throws {
        var c = Self.configuration(model, depth: 3, alpha: 0.5, lambda: 0, eta: 0.05)
        c.problem.d = 400
        c.grid.alpha = [0.5, 1]
        c.model.initSigns = .random
        var batch = try Experiment(c).batch
        let d = 400
        let L = batch.initialLayers.count
        #expect(L == (model == .deep ? 3 : 6))
        let first = batch.initialLayers[0].doubles(0..<d)
        let negative = first.filter { $0 < 0 }.count
        #expect(negative > 150 && negative < 250, "\(negative) of \(d) negative")
        #expect(first.allSatisfy { abs(abs($0) - 0.5) < 1e-12 })
        for l in 1..<L where model == .deep || l != 3 {
            #expect(batch.initialLayers[l].doubles(0..<d).allSatisfy { $0 == 0.5 }, "layer \(l)")
        }
        c.model.initSigns = .positive
        c.model.initEntries = .gaussian
        batch = try Experiment(c).batch
        let S = c.seeds
        for l in 0..<L {
            let a = batch.initialLayers[l].doubles(0..<d)
            let mean = a.reduce(0, +) / Double(d)
            let variance = a.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(d - 1)
            // α·ξ with ξ ~ N(0, 1): mean 0 ± 4·0.5/√400 = 0.1, standard deviation 0.5 within 15%.
            #expect(abs(mean) < 0.1 && abs(variance.squareRoot() - 0.5) < 0.075, "layer \(l): \(mean), \(variance)")
            // Seed 0 at α = 1 is seed 0 at α = 0.5 scaled by 2.
            let other = batch.initialLayers[l].doubles((S * d)..<((S + 1) * d))
            #expect(zip(a, other).allSatisfy { abs(2 * $0 - $1) <= 1e-12 * abs($1) })
            #expect(batch.initialLayers[l].doubles(d..<(2 * d)) != a, "seeds differ")
        }
    }
}
