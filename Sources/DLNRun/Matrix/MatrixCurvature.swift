import DLNModel
import Foundation

/// The sharpness of the matrix model: the largest eigenvalue of the Hessian of the training loss (weight decay
/// included) in all layer parameters, by Lanczos with exact Hessian-vector products, on the host in float64 from the
/// layers at a checkpoint.
///
/// With P_{a:b} = W_a⋯W_b (the identity when a < b), W_eff = P_{L:1} and R = ∇φ(W_eff) the loss's gradient in W_eff
/// (regression: c·(W_eff·XᵀX − YᵀX); sensing: c·Σ_k r_k A_k; c = 1/n or 1), the layer gradient is
/// ∇_l = P_{L:l+1}ᵀ R P_{l−1:1}ᵀ + λW_l, and its derivative in a direction V = (V_1, …, V_L) is
///
///     H_l[V] = (dP_{L:l+1})ᵀ R P_{l−1:1}ᵀ + P_{L:l+1}ᵀ 𝓛(dW_eff) P_{l−1:1}ᵀ + P_{L:l+1}ᵀ R (dP_{l−1:1})ᵀ + λV_l,
///
/// with dP_{a:b} = Σ_{k=b..a} P_{a:k+1} V_k P_{k−1:b} and 𝓛 the derivative of R (regression: dM ↦ c·dM·XᵀX; sensing:
/// dM ↦ c·Σ_k ⟨A_k, dM⟩ A_k). The symmetric factorisation U·Uᵀ differentiates ℓ(U) = φ(UUᵀ) + (λ/2)‖U‖²: with
/// V_2 = v, V_1 = vᵀ and λ/2 in the formula above, H_U[v] = H_2 + H_1ᵀ.
public struct MatrixCurvature: Sendable {
    let widths: [Int]
    var lambda: Double
    let scale: Double
    let tied: Bool
    /// Regression: XᵀX (n_0×n_0) and YᵀX (n_L×n_0). Sensing: the operators and the measured values.
    let gram: [Double]?, cross: [Double]?
    let sensing: (a: [Double], y: [Double])?
    /// Regression: the inputs X (n×n_0, row-major), which the tangent kernel needs.
    let inputs: [Double]

    /// The curvature of one replica's loss: its data set, its λ, the loss's scale c (1/n mean, 1 sum) and whether
    /// the layers are the symmetric factorisation.
    public init(problem: MatrixSetup.Problem, widths: [Int], samples n: Int, lambda: Double, scale: Double, tied: Bool)
    {
        self.widths = widths
        self.lambda = lambda
        self.scale = scale
        self.tied = tied
        let n0 = widths[0]
        let nL = widths[widths.count - 1]
        inputs = problem.measurements == nil ? Array(problem.x.prefix(n * n0)) : []
        if let m = problem.measurements {
            sensing = m
            gram = nil
            cross = nil
        } else {
            sensing = nil
            var g = [Double](repeating: 0, count: n0 * n0)
            var c = [Double](repeating: 0, count: nL * n0)
            for mu in 0..<n {
                for i in 0..<n0 { for j in 0..<n0 { g[i * n0 + j] += problem.x[mu * n0 + i] * problem.x[mu * n0 + j] } }
                for i in 0..<nL { for j in 0..<n0 { c[i * n0 + j] += problem.y[mu * nL + i] * problem.x[mu * n0 + j] } }
            }
            gram = g
            cross = c
        }
    }

    var depth: Int { widths.count - 1 }

    /// The same data and loss with weight decay λ (the data's arrays are shared, not copied).
    public func with(lambda: Double) -> MatrixCurvature {
        var c = self
        c.lambda = lambda
        return c
    }

    /// A dense matrix, row-major.
    struct M {
        var r: Int, c: Int, v: [Double]
        static func identity(_ n: Int) -> M { M(r: n, c: n, v: (0..<(n * n)).map { $0 / n == $0 % n ? 1 : 0 }) }
        static func zero(_ r: Int, _ c: Int) -> M { M(r: r, c: c, v: [Double](repeating: 0, count: r * c)) }
        static func * (a: M, b: M) -> M {
            var out = M.zero(a.r, b.c)
            for i in 0..<a.r {
                for k in 0..<a.c {
                    let x = a.v[i * a.c + k]
                    if x == 0 { continue }
                    for j in 0..<b.c { out.v[i * b.c + j] += x * b.v[k * b.c + j] }
                }
            }
            return out
        }
        static func + (a: M, b: M) -> M { M(r: a.r, c: a.c, v: zip(a.v, b.v).map { $0 + $1 }) }
        var t: M {
            var out = M.zero(c, r)
            for i in 0..<r { for j in 0..<c { out.v[j * r + i] = v[i * c + j] } }
            return out
        }
    }

    /// The layers of a parameter vector (W_1 … W_L).
    func layers(_ p: [Double]) -> [M] {
        var out: [M] = []
        var offset = 0
        for l in 1...depth {
            let size = widths[l] * widths[l - 1]
            out.append(M(r: widths[l], c: widths[l - 1], v: Array(p[offset..<(offset + size)])))
            offset += size
        }
        return out
    }

    /// P_{a:b} for 1 ≤ b, a ≤ L (the identity of size n_{b−1} when a < b).
    func chain(_ w: [M], _ a: Int, _ b: Int) -> M {
        var m = M.identity(widths[b - 1])
        if a >= b { for k in b...a { m = w[k - 1] * m } }
        return m
    }

    /// d P_{a:b} in the direction v.
    func dChain(_ w: [M], _ v: [M], _ a: Int, _ b: Int) -> M {
        var out = M.zero(widths[a], widths[b - 1])
        if a >= b { for k in b...a { out = out + chain(w, a, k + 1) * v[k - 1] * chain(w, k - 1, b) } }
        return out
    }

    /// ∇φ at W_eff, and its derivative 𝓛 applied to dM.
    func residual(_ weff: M) -> M { lossDerivative(weff, affine: true) }
    func lossDerivative(_ m: M, affine: Bool) -> M {
        if let s = sensing {
            let size = m.r * m.c
            var out = M.zero(m.r, m.c)
            for k in 0..<s.y.count {
                var inner = 0.0
                for e in 0..<size { inner += s.a[k * size + e] * m.v[e] }
                if affine { inner -= s.y[k] }
                for e in 0..<size { out.v[e] += scale * inner * s.a[k * size + e] }
            }
            return out
        }
        let n0 = m.c
        var out = m * M(r: n0, c: n0, v: gram!)
        if affine { out = out + M(r: m.r, c: m.c, v: cross!.map { -$0 }) }
        return M(r: out.r, c: out.c, v: out.v.map { $0 * scale })
    }

    /// H·v for the parameter vector p (both in the layers' layout; for the symmetric factorisation, U's entries only:
    /// W_2 = U, d·r values).
    public func hessianApply(_ p: [Double], _ v: [Double]) -> [Double] {
        if tied {
            let (d, r) = (widths[0], widths[1])
            let u = M(r: d, c: r, v: p)
            let dv = M(r: d, c: r, v: v)
            let full = u.t.v + u.v
            let h = untied(full, dv.t.v + dv.v, lambda: lambda / 2)
            let h1 = M(r: r, c: d, v: Array(h[0..<(r * d)]))
            return (M(r: d, c: r, v: Array(h[(r * d)...])) + h1.t).v
        }
        return untied(p, v, lambda: lambda)
    }

    func untied(_ p: [Double], _ v: [Double], lambda: Double) -> [Double] {
        let w = layers(p)
        let dv = layers(v)
        let L = depth
        let r = residual(chain(w, L, 1))
        let dr = lossDerivative(dChain(w, dv, L, 1), affine: false)
        var out: [Double] = []
        for l in 1...L {
            let above = chain(w, L, l + 1)
            let below = chain(w, l - 1, 1)
            var h = dChain(w, dv, L, l + 1).t * r * below.t + above.t * dr * below.t
            h = h + above.t * r * dChain(w, dv, l - 1, 1).t
            out += zip(h.v, dv[l - 1].v).map { $0 + lambda * $1 }
        }
        return out
    }

    /// The parameters the Hessian acts on: all layers, or U = W_2 for the symmetric factorisation.
    public func free(_ p: ArraySlice<Double>) -> [Double] {
        tied ? Array(p[(p.startIndex + widths[1] * widths[0])...]) : Array(p)
    }

    /// The largest eigenvalue of the Hessian at p: `iterations` Lanczos steps (at most the dimension) with full
    /// reorthogonalisation from a fixed start, then the tridiagonal's largest eigenvalue.
    public func sharpness(_ layers: ArraySlice<Double>, iterations: Int) -> Double {
        let p = free(layers)
        let rng = CounterRNG(seed: 12345)
        let start = (0..<p.count).map { rng.gaussian(stream: 31, index: UInt64($0)) }
        let (alpha, beta) = Self.lanczos(start: start, steps: min(iterations, p.count)) { hessianApply(p, $0) }
        let m = alpha.count
        var t = [Double](repeating: 0, count: m * m)
        for i in 0..<m {
            t[i * m + i] = alpha[i]
            if i + 1 < m {
                t[i * m + i + 1] = beta[i]
                t[(i + 1) * m + i] = beta[i]
            }
        }
        return MatrixObservables.symmetricEigenvalues(t, m).first ?? .nan
    }

    /// Lanczos with full reorthogonalisation (twice against every stored vector) from `start` (normalised here), at
    /// most `steps` steps; it stops early when the next vector's norm falls below 100·ε·max‖A·q‖ (an invariant
    /// subspace). The tridiagonal's coefficients.
    static func lanczos(start: [Double], steps k: Int, apply: ([Double]) -> [Double]) -> (
        alpha: [Double], beta: [Double]
    ) {
        let dim = start.count
        let norm0 = start.reduce(0) { $0 + $1 * $1 }.squareRoot()
        var q = start.map { $0 / norm0 }
        var basis: [[Double]] = []
        var alpha: [Double] = []
        var beta: [Double] = []
        var largestImage = 0.0
        for j in 0..<k {
            basis.append(q)
            var z = apply(q)
            largestImage = max(largestImage, z.reduce(0) { $0 + $1 * $1 }.squareRoot())
            let a = zip(z, q).reduce(0) { $0 + $1.0 * $1.1 }
            alpha.append(a)
            for _ in 0..<2 {
                for b in basis {
                    let c = zip(z, b).reduce(0) { $0 + $1.0 * $1.1 }
                    for e in 0..<dim { z[e] -= c * b[e] }
                }
            }
            let nz = z.reduce(0) { $0 + $1 * $1 }.squareRoot()
            if j == k - 1 || nz <= Tridiagonal.breakdown(float32: false) * largestImage { break }
            beta.append(nz)
            q = z.map { $0 / nz }
        }
        return (alpha, beta)
    }

    /// The dimension of the tangent kernel: the outputs n·n_L (regression) or the measurements m (sensing).
    var outputCount: Int { sensing.map { $0.y.count } ?? inputs.count / widths[0] * widths[depth] }

    /// K·v = c·J(Jᵀv) with J = ∂f/∂θ the Jacobian of the outputs (f_{μ,i} = (W_eff x_μ)_i, or f_k = ⟨A_k, W_eff⟩) in
    /// the free parameters: Jᵀv is the gradient of ⟨v, f⟩, dW_eff = Σ_l P_{L:l+1}·G_l·P_{l−1:1} of it its image.
    public func tangentKernelApply(_ p: [Double], _ v: [Double]) -> [Double] {
        let (n0, nL) = (widths[0], widths[depth])
        // G = ∂⟨v, f⟩/∂W_eff.
        var g = M.zero(nL, n0)
        if let s = sensing {
            let size = nL * n0
            for k in 0..<s.y.count { for e in 0..<size { g.v[e] += v[k] * s.a[k * size + e] } }
        } else {
            let n = inputs.count / n0
            for mu in 0..<n {
                for i in 0..<nL { for j in 0..<n0 { g.v[i * n0 + j] += v[mu * nL + i] * inputs[mu * n0 + j] } }
            }
        }
        var dweff: M
        if tied {
            let u = M(r: n0, c: widths[1], v: p)
            let du = (g + g.t) * u
            dweff = du * u.t + u * du.t
        } else {
            let w = layers(p)
            dweff = M.zero(nL, n0)
            for l in 1...depth {
                let above = chain(w, depth, l + 1)
                let below = chain(w, l - 1, 1)
                let gl = above.t * g * below.t
                dweff = dweff + above * gl * below
            }
        }
        if let s = sensing {
            let size = nL * n0
            return (0..<s.y.count).map { k in
                scale * (0..<size).reduce(0.0) { $0 + s.a[k * size + $1] * dweff.v[$1] }
            }
        }
        let n = inputs.count / n0
        var out = [Double](repeating: 0, count: n * nL)
        for mu in 0..<n {
            for i in 0..<nL {
                var acc = 0.0
                for j in 0..<n0 { acc += dweff.v[i * n0 + j] * inputs[mu * n0 + j] }
                out[mu * nL + i] = scale * acc
            }
        }
        return out
    }

    /// The PL constant at p: the smallest non-zero eigenvalue of the tangent kernel K = c·J·Jᵀ (Lanczos with full
    /// reorthogonalisation from `Tridiagonal.startVector`, min(iterations, dim K, P + 1) steps; "non-zero": above
    /// 1e-8 of the largest, `Tridiagonal.smallestNonZero`).
    public func plConstant(_ layers: ArraySlice<Double>, iterations: Int) -> Double {
        let p = free(layers)
        let dim = outputCount
        let (alpha, beta) = Self.lanczos(
            start: Tridiagonal.startVector(count: dim), steps: min(iterations, dim, p.count + 1)
        ) { tangentKernelApply(p, $0) }
        return Tridiagonal.smallestNonZero(
            alpha: alpha, beta: beta, threshold: Tridiagonal.nonZeroThreshold(float32: false))
    }
}
