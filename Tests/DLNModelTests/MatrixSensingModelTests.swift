import DLNModel
import TestSupport
import Testing

/// Matrix sensing on the CPU engine against the direct formulas in float64: the loss (1/2m)Σ_k (⟨A_k, W_eff⟩ − y_k)²
/// and ∂ℓ/∂W_l = (W_L⋯W_{l+1})ᵀ·G·(W_{l−1}⋯W_1)ᵀ + λW_l with G = (1/m)Σ_k r_k·A_k.
struct MatrixSensingModelTests {
    @Test(arguments: [[4, 3], [5, 4, 2], [3, 6, 5, 3], [2, 3, 1, 4, 3]])
    func gradientAndLossAreTheDirectFormulas(widths: [Int]) throws {
        let lambda = 0.02
        let m = 13
        let batch = MatrixFixture.sensingBatch(widths: widths, m: m, B: 18, independent: true, lambda: lambda)
        let engine = MatrixCPUEngine(threads: 2)
        try engine.initialize(batch)
        let grad = try engine.gradient().doubles
        let loss = try engine.loss()
        let s = batch.shape
        let P = s.parameterCount
        let n0 = s.inputs
        let nL = s.outputs
        var worst = 0.0
        for b in 0..<batch.replicas {
            let p = batch.initial[(b * P)..<((b + 1) * P)]
            let weff = MatrixFixture.product(p, shape: s)
            let data = batch.measurements![batch.dataset[b]]
            let a = data.a.doubles
            let y = data.y.doubles
            var g = [Double](repeating: 0, count: nL * n0)
            var l2 = 0.0
            for k in 0..<m {
                var inner = 0.0
                for e in 0..<(nL * n0) { inner += a[k * nL * n0 + e] * weff[e] }
                let r = inner - y[k]
                l2 += r * r
                for e in 0..<(nL * n0) { g[e] += r * a[k * nL * n0 + e] / Double(m) }
            }
            #expect(abs(loss[b] - l2 / (2 * Double(m))) <= 1e-12 * l2, "loss of replica \(b)")
            for l in 1...s.depth {
                let above = MatrixModelTests.chain(p, s, from: l + 1, to: s.depth)
                let below = MatrixModelTests.chain(p, s, from: 1, to: l - 1)
                let gl = MatrixModelTests.mul(
                    MatrixModelTests.mul(MatrixModelTests.transpose(above, nL, s.widths[l]), g, s.widths[l], nL, n0),
                    MatrixModelTests.transpose(below, s.widths[l - 1], n0),
                    s.widths[l], n0, s.widths[l - 1])
                for e in 0..<gl.count {
                    let expected = gl[e] + lambda * p[p.startIndex + s.layerOffset(l) + e]
                    let got = grad[b * P + s.layerOffset(l) + e]
                    worst = max(worst, abs(got - expected) / max(abs(expected), 1e-3))
                }
            }
        }
        #expect(worst < 1e-12, "largest relative gradient error \(worst)")
    }

    /// A step is W ← W − η·F with F the gradient above, bit for bit (the update fused into the last product).
    @Test func oneStepIsTheGradientStep() throws {
        let batch = MatrixFixture.sensingBatch(widths: [6, 5, 4], m: 20, B: 17, lambda: 0.01, eta: 0.03)
        let engine = MatrixCPUEngine(threads: 2)
        try engine.initialize(batch)
        let f = try engine.gradient().doubles
        try engine.step(count: 1)
        let after = try engine.parameters().doubles
        let P = batch.shape.parameterCount
        for b in 0..<batch.replicas {
            for e in 0..<P {
                let w = batch.initial[b * P + e]
                #expect(after[b * P + e] == w - batch.eta[b] * f[b * P + e], "replica \(b), parameter \(e)")
            }
        }
    }

    /// The symmetric factorisation W_eff = U·Uᵀ: F of layer 2 is (G + Gᵀ)·U + λU = 2G·U + λU (G symmetric for symmetric
    /// operators), F of layer 1 its exact transpose, and a step keeps W_1 = W_2ᵀ bit for bit.
    @Test func symmetricFactorisationIsGradientDescentOnU() throws {
        let (d, r, m, lambda) = (5, 3, 12, 0.02)
        let batch = MatrixFixture.sensingBatch(widths: [d, r, d], m: m, B: 17, lambda: lambda, eta: 0.02, tied: true)
        let engine = MatrixCPUEngine(threads: 2)
        try engine.initialize(batch)
        let f = try engine.gradient().doubles
        let P = batch.shape.parameterCount
        var worst = 0.0
        for b in 0..<batch.replicas {
            let p = Array(batch.initial[(b * P)..<((b + 1) * P)])
            let u = Array(p[(r * d)...])  // W_2 = U, d×r
            let weff = MatrixModelTests.mul(u, MatrixModelTests.transpose(u, d, r), d, r, d)
            let data = batch.measurements![batch.dataset[b]]
            let a = data.a.doubles
            let y = data.y.doubles
            var g = [Double](repeating: 0, count: d * d)
            for k in 0..<m {
                var inner = 0.0
                for e in 0..<(d * d) { inner += a[k * d * d + e] * weff[e] }
                for e in 0..<(d * d) { g[e] += (inner - y[k]) * a[k * d * d + e] / Double(m) }
            }
            let gu = MatrixModelTests.mul(g, u, d, d, r)
            for e in 0..<(d * r) {
                let expected = 2 * gu[e] + lambda * u[e]
                worst = max(worst, abs(f[b * P + r * d + e] - expected) / max(abs(expected), 1e-3))
            }
            for i in 0..<r {
                for j in 0..<d { #expect(f[b * P + i * d + j] == f[b * P + r * d + j * r + i], "F_1 ≠ F_2ᵀ") }
            }
        }
        #expect(worst < 1e-12, "largest relative error of the tied gradient \(worst)")
        try engine.step(count: 7)
        let after = try engine.parameters().doubles
        for b in 0..<batch.replicas {
            for i in 0..<r {
                for j in 0..<d { #expect(after[b * P + i * d + j] == after[b * P + r * d + j * r + i], "W_1 ≠ W_2ᵀ") }
            }
        }
    }
}
