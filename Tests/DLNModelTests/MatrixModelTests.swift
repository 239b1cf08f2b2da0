import DLNModel
import TestSupport
import Testing

/// The matrix model's CPU engine against the same quantities written directly: the loss from W_eff, and the
/// gradient as ∂ℓ/∂W_l = (W_L⋯W_{l+1})ᵀ·R·(W_{l−1}⋯W_1)ᵀ with R = (1/n)Σ_μ (W_eff x_μ − y_μ)x_μᵀ (products of
/// matrices, not back-propagation), in float64.
struct MatrixModelTests {
    /// Row-major products of small dense matrices.
    static func mul(_ a: [Double], _ b: [Double], _ r: Int, _ k: Int, _ c: Int) -> [Double] {
        var out = [Double](repeating: 0, count: r * c)
        for i in 0..<r { for j in 0..<c { for m in 0..<k { out[i * c + j] += a[i * k + m] * b[m * c + j] } } }
        return out
    }
    static func transpose(_ a: [Double], _ r: Int, _ c: Int) -> [Double] {
        var out = [Double](repeating: 0, count: r * c)
        for i in 0..<r { for j in 0..<c { out[j * r + i] = a[i * c + j] } }
        return out
    }
    static func identity(_ n: Int) -> [Double] { (0..<(n * n)).map { $0 / n == $0 % n ? 1 : 0 } }

    /// The product W_hi⋯W_lo of one replica's layers (identity of size n_{lo−1} when hi < lo).
    static func chain(_ p: ArraySlice<Double>, _ s: MatrixShape, from lo: Int, to hi: Int) -> [Double] {
        var m = identity(s.widths[lo - 1])
        guard hi >= lo else { return m }
        for l in lo...hi {
            let w = Array(
                p[(p.startIndex + s.layerOffset(l))..<(p.startIndex + s.layerOffset(l) + s.widths[l] * s.widths[l - 1])]
            )
            m = mul(w, m, s.widths[l], s.widths[l - 1], s.widths[lo - 1])
        }
        return m
    }

    @Test(arguments: [[4, 3], [5, 4, 2], [3, 6, 5, 2], [2, 3, 1, 4, 3]])
    func gradientAndLossAreTheDirectFormulas(widths: [Int]) throws {
        let lambda = 0.03
        let batch = MatrixFixture.batch(widths: widths, n: 9, B: 19, independent: true, lambda: lambda)
        let engine = MatrixCPUEngine(threads: 2)
        try engine.initialize(batch)
        let grad = try engine.gradient().doubles
        let loss = try engine.loss()
        let s = batch.shape
        let P = s.parameterCount
        let n = batch.samples
        let n0 = s.inputs
        let nL = s.outputs
        var worst = 0.0
        for b in 0..<batch.replicas {
            let p = batch.initial[(b * P)..<((b + 1) * P)]
            let weff = MatrixFixture.product(p, shape: s)
            let x = batch.datasets[batch.dataset[b]].x.doubles
            let y = batch.datasets[batch.dataset[b]].y.doubles
            var r = [Double](repeating: 0, count: nL * n0)
            var l2 = 0.0
            for mu in 0..<n {
                for i in 0..<nL {
                    var out = 0.0
                    for j in 0..<n0 { out += weff[i * n0 + j] * x[mu * n0 + j] }
                    let e = out - y[mu * nL + i]
                    l2 += e * e
                    for j in 0..<n0 { r[i * n0 + j] += e * x[mu * n0 + j] / Double(n) }
                }
            }
            #expect(abs(loss[b] - l2 / (2 * Double(n))) <= 1e-12 * l2, "loss of replica \(b)")
            for l in 1...s.depth {
                let above = Self.chain(p, s, from: l + 1, to: s.depth)  // nL × n_l (identity n_l×n_l when l = L)
                let below = Self.chain(p, s, from: 1, to: l - 1)  // n_{l−1} × n0
                let g = Self.mul(
                    Self.mul(Self.transpose(above, nL, s.widths[l]), r, s.widths[l], nL, n0),
                    Self.transpose(below, s.widths[l - 1], n0),
                    s.widths[l], n0, s.widths[l - 1])
                for e in 0..<g.count {
                    let expected = g[e] + lambda * p[p.startIndex + s.layerOffset(l) + e]
                    let got = grad[b * P + s.layerOffset(l) + e]
                    worst = max(worst, abs(got - expected) / max(abs(expected), 1e-3))
                }
            }
        }
        #expect(worst < 1e-12, "largest relative gradient error \(worst)")
    }

    @Test func oneStepIsTheGradientStep() throws {
        let batch = MatrixFixture.batch(widths: [6, 4, 3], n: 8, B: 21, lambda: 0.01, eta: 0.07)
        let engine = MatrixCPUEngine(threads: 1)
        try engine.initialize(batch)
        let f = try engine.gradient().doubles
        try engine.step(count: 1)
        let after = try engine.parameters().doubles
        let P = batch.shape.parameterCount
        for b in 0..<batch.replicas {
            for k in 0..<P {
                let i = b * P + k
                #expect(after[i] == batch.initial[i] - batch.eta[b] * f[i], "replica \(b), parameter \(k)")
            }
        }
    }

    @Test func threadsDoNotChangeTheBits() throws {
        let batch = MatrixFixture.batch(widths: [7, 5, 3], n: 6, B: 50, precision: .float32, independent: true)
        let one = MatrixCPUEngine(threads: 1)
        let two = MatrixCPUEngine(threads: 2)
        try one.initialize(batch)
        try two.initialize(batch)
        try one.step(count: 7)
        try two.step(count: 7)
        #expect(try one.parameters() == two.parameters())
        #expect(try one.loss() == two.loss())
    }
}
