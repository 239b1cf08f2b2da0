import DLNModel
import DLNRun
import Foundation
import TestSupport
import Testing

/// The effective-scale observables (effective_scale_sq_mean, _min, _l1: r_j = α_eff,j²/α², docs/model.md §3) on the
/// CPU engine: against a float64 computation from the final layers, and, under GD, the product of the (1 − η²g²)
/// factors (the CPU ↔ OpenCL identity is EquivalenceTests', which compares every observable).
@Suite struct EffectiveScaleTests {
    /// mean, min and |w|-weighted mean of r_j = C(u_j, v_j)/α² for replica b, in float64.
    static func summary(u: [Double], v: [Double], w: [Double], alpha: Double, d: Int, replica b: Int, uv: Bool)
        -> (mean: Double, min: Double, l1: Double)
    {
        let r = (0..<d).map { j in
            let (uj, vj) = (u[b * d + j], v[b * d + j])
            return (uv ? uj * uj - vj * vj : uj * vj) / (alpha * alpha)
        }
        let a = (0..<d).map { abs(w[b * d + $0]) }
        let l1 = a.reduce(0, +)
        return (r.reduce(0, +) / Double(d), r.min()!, l1 > 0 ? zip(a, r).reduce(0) { $0 + $1.0 * $1.1 } / l1 : .nan)
    }

    /// pm and uv, both precisions, two α, with label noise (which shrinks r well below 1): the three observables
    /// agree with the float64 computation from the engine's final layers to a few rounding errors of the precision.
    @Test(arguments: [Parameterization.pm, .uv], [Precision.float32, .float64])
    func matchesFloat64FromLayers(model: Parameterization, precision: Precision) throws {
        let (d, n) = (13, 9)
        let alphas = [0.3, 0.05]
        let batch = try makeBatch(
            d: d, n: n, replicas: 4, model: model, precision: precision, eta: [0.1], alpha: alphas
        ) { $0.training.labelNoise = 0.5 }
        let engine = CPUEngine()
        try engine.initialize(batch)
        let initial = try engine.observe()
        try engine.step(count: 400)
        let o = try engine.observe()
        let s = try engine.state()
        let (u, v, w) = (s.layers[0].doubles, s.layers[1].doubles, s.weights.doubles)
        // float32: u·u − v·v and the sums round at 6e-8 relative to the terms, which cancel (uv): 1e-4 leaves room.
        let tolerance = precision == .float64 ? 1e-13 : 1e-4
        var shrunk = 0
        for b in 0..<batch.replicas.count {
            let alpha = batch.replicas[b].alpha
            let want = Self.summary(u: u, v: v, w: w, alpha: alpha, d: d, replica: b, uv: model == .uv)
            let got = (
                o["effective_scale_sq_mean"]![b], o["effective_scale_sq_min"]![b], o["effective_scale_sq_l1"]![b]
            )
            for (x, y) in [(got.0, want.mean), (got.1, want.min), (got.2, want.l1)] {
                #expect(abs(x - y) <= tolerance * max(1, abs(y)), "replica \(b) α \(alpha): \(x) vs \(y)")
            }
            if want.mean < 0.9 { shrunk += 1 }
            // At t = 0: r = 1 for pm (u = v = α); uv's draws give (1 + sξ)² − s′²ξ′², its own mean.
            let u0 = batch.initialLayers[0].doubles((b * d)..<((b + 1) * d))
            let v0 = batch.initialLayers[1].doubles((b * d)..<((b + 1) * d))
            let r0 = zip(u0, v0).map { model == .uv ? ($0 * $0 - $1 * $1) : $0 * $1 }.reduce(0, +) / Double(d)
            #expect(abs(initial["effective_scale_sq_mean"]![b] - r0 / (alpha * alpha)) <= tolerance * max(1, abs(r0)))
            if model == .pm {
                #expect(initial["effective_scale_sq_l1"]![b].isNaN, "w(0) = 0: the weighting is undefined")
            }
        }
        #expect(shrunk == batch.replicas.count, "label noise shrinks the effective scale")
    }

    /// GD without weight decay, pm, float64, d = 3, n = 2: after every step the mean is the mean over coordinates of
    /// ∏_k (1 − η²g_k²) (g_k the gradient before step k, replayed in float64), so it decreases at every step, and the
    /// minimum is the smallest product.
    @Test func gdMultipliesByOneMinusEtaSquaredGSquared() throws {
        let (d, n, eta) = (3, 2, 0.2)
        let batch = try makeBatch(d: d, n: n, replicas: 1, precision: .float64, eta: [eta], alpha: [0.5])
        let engine = CPUEngine()
        try engine.initialize(batch)
        var product = [Double](repeating: 1, count: d)
        var previous = try engine.observe()["effective_scale_sq_mean"]![0]
        #expect(previous == 1)
        for step in 0..<200 {
            let g = replayedGradient(batch, weights: try engine.state().weights.doubles, replica: 0)
            for j in 0..<d { product[j] *= 1 - eta * eta * g[j] * g[j] }
            try engine.step(count: 1)
            let o = try engine.observe()
            let mean = o["effective_scale_sq_mean"]![0]
            let want = product.reduce(0, +) / Double(d)
            #expect(abs(mean / want - 1) < 1e-13, "step \(step): mean \(mean), ∏(1 − η²g²) \(want)")
            #expect(abs(o["effective_scale_sq_min"]![0] / product.min()! - 1) < 1e-13)
            #expect(mean <= previous, "step \(step): the mean grew from \(previous) to \(mean)")
            previous = mean
        }
        #expect(previous < 0.999, "the gradient is large enough for the factors to matter: \(previous)")
    }

    /// deep and deep_pm have no effective scale: the three observables are NaN.
    @Test(arguments: [Parameterization.deep, .deepPM]) func nanForDeepModels(model: Parameterization) throws {
        let batch = try makeBatch(d: 5, n: 3, replicas: 2, model: model, depth: 3, precision: .float64, eta: [0.01])
        let engine = CPUEngine()
        try engine.initialize(batch)
        try engine.step(count: 5)
        let o = try engine.observe()
        for name in ["effective_scale_sq_mean", "effective_scale_sq_min", "effective_scale_sq_l1"] {
            let values = o[name]!
            #expect(values.allSatisfy { $0.isNaN }, "\(name) for \(model.rawValue)")
        }
    }
}
