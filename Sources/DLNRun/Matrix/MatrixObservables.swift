import DLNModel
import Dispatch
import Foundation

/// What a matrix run records of each replica at a checkpoint, computed on the host in float64 from the layers
/// the engine hands back (the train loss comes from the engine).
public struct MatrixObservation: Sendable {
    /// ‖W_eff − T‖²_F: the noise-free population error for x ~ N(0, I).
    public var testError: Double
    /// All singular values of W_eff, largest first (min(n_0, n_L) of them).
    public var singularValues: [Double]
    /// a_i = u_iᵀ·W_eff·v_i for the teacher's modes i (its singular vectors).
    public var modeStrength: [Double]
    /// exp(−Σ p_i ln p_i), p_i = σ_i/Σσ (Roy and Vetterli's effective rank; NaN when W_eff = 0).
    public var effectiveRank: Double
    /// Σσ_i.
    public var nuclearNorm: Double
    /// max_l ‖D_l(t) − D_l(0)·e^{−2λ_u t}‖_F / max_l ‖D_l(0)‖_F with D_l = W_{l+1}ᵀW_{l+1} − W_l W_lᵀ; absolute when
    /// the start is balanced (max_l ‖D_l(0)‖_F ≤ 1e-8·max_l ‖W_l(0)‖²_F: zero up to rounding); NaN at depth 1.
    public var conservation: Double
}

/// The host computations behind `MatrixObservation`.
public enum MatrixObservables {
    /// W_eff = W_L⋯W_1 (row-major n_L×n_0) from one replica's parameters.
    public static func product(_ p: ArraySlice<Double>, shape s: MatrixShape) -> [Double] {
        let base = p.startIndex
        let n0 = s.inputs
        var m = Array(p[base..<(base + s.widths[1] * n0)])
        if s.depth >= 2 {
            for l in 2...s.depth {
                let nin = s.widths[l - 1]
                let nout = s.widths[l]
                let w = base + s.layerOffset(l)
                var next = [Double](repeating: 0, count: nout * n0)
                for i in 0..<nout {
                    for k in 0..<nin {
                        let a = p[w + i * nin + k]
                        if a == 0 { continue }
                        for j in 0..<n0 { next[i * n0 + j] += a * m[k * n0 + j] }
                    }
                }
                m = next
            }
        }
        return m
    }

    /// The eigenvalues of a symmetric m×m matrix, largest first: Householder reduction to tridiagonal form, then
    /// bisection (`Tridiagonal.eigenvalue`).
    public static func symmetricEigenvalues(_ input: [Double], _ m: Int) -> [Double] {
        var a = input
        var diag = [Double](repeating: 0, count: m)
        var off = [Double](repeating: 0, count: max(0, m - 1))
        for k in 0..<max(0, m - 2) {
            var alpha = 0.0
            for i in (k + 1)..<m { alpha += a[i * m + k] * a[i * m + k] }
            alpha = alpha.squareRoot()
            if alpha == 0 { continue }
            if a[(k + 1) * m + k] > 0 { alpha = -alpha }
            var v = [Double](repeating: 0, count: m)
            v[k + 1] = a[(k + 1) * m + k] - alpha
            for i in (k + 2)..<m { v[i] = a[i * m + k] }
            var vv = 0.0
            for i in (k + 1)..<m { vv += v[i] * v[i] }
            if vv == 0 { continue }
            // A ← H·A·H with H = I − 2vvᵀ/vᵀv: p = Av·2/vv, K = vᵀp/vv, q = p − K·v, A ← A − vqᵀ − qvᵀ.
            var p = [Double](repeating: 0, count: m)
            for i in k..<m {
                var s = 0.0
                for j in (k + 1)..<m { s += a[i * m + j] * v[j] }
                p[i] = 2 * s / vv
            }
            var kk = 0.0
            for i in (k + 1)..<m { kk += v[i] * p[i] }
            kk /= vv
            for i in k..<m { p[i] -= kk * v[i] }
            for i in k..<m { for j in k..<m { a[i * m + j] -= v[i] * p[j] + p[i] * v[j] } }
        }
        for i in 0..<m { diag[i] = a[i * m + i] }
        for i in 0..<max(0, m - 1) { off[i] = a[(i + 1) * m + i] }
        return (0..<m).map { Tridiagonal.eigenvalue(m - 1 - $0, alpha: diag, beta: off) }
    }

    /// The singular values of an r×c matrix, largest first (from the smaller Gram matrix).
    public static func singularValues(_ a: [Double], _ r: Int, _ c: Int) -> [Double] {
        let m = min(r, c)
        guard a.allSatisfy(\.isFinite) else { return [Double](repeating: .nan, count: m) }
        var g = [Double](repeating: 0, count: m * m)
        if r <= c {
            for i in 0..<r {
                for j in 0...i { g[i * m + j] = (0..<c).reduce(0.0) { $0 + a[i * c + $1] * a[j * c + $1] } }
            }
        } else {
            for i in 0..<c {
                for j in 0...i { g[i * m + j] = (0..<r).reduce(0.0) { $0 + a[$1 * c + i] * a[$1 * c + j] } }
            }
        }
        for i in 0..<m { for j in (i + 1)..<m { g[i * m + j] = g[j * m + i] } }
        return symmetricEigenvalues(g, m).map { max(0, $0).squareRoot() }
    }

    /// D_l = W_{l+1}ᵀW_{l+1} − W_l W_lᵀ (n_l×n_l) for l = 1…L−1.
    public static func imbalances(_ p: ArraySlice<Double>, shape s: MatrixShape) -> [[Double]] {
        guard s.depth >= 2 else { return [] }
        let base = p.startIndex
        return (1..<s.depth).map { l in
            let nl = s.widths[l]
            let below = s.widths[l - 1]
            let above = s.widths[l + 1]
            let wl = base + s.layerOffset(l)
            let wu = base + s.layerOffset(l + 1)
            var d = [Double](repeating: 0, count: nl * nl)
            for i in 0..<nl {
                for j in 0..<nl {
                    var up = 0.0
                    var down = 0.0
                    for k in 0..<above { up += p[wu + k * nl + i] * p[wu + k * nl + j] }
                    for k in 0..<below { down += p[wl + i * below + k] * p[wl + j * below + k] }
                    d[i * nl + j] = up - down
                }
            }
            return d
        }
    }

    /// max_l ‖W_l‖²_F of one replica.
    public static func largestLayerNormSquared(_ p: ArraySlice<Double>, shape s: MatrixShape) -> Double {
        (1...s.depth).map { l in
            let o = p.startIndex + s.layerOffset(l)
            return p[o..<(o + s.widths[l] * s.widths[l - 1])].reduce(0) { $0 + $1 * $1 }
        }.max()!
    }

    /// Every observable of one replica; `initialImbalance` is `imbalances` at step 0, `initialLayerScale`
    /// `largestLayerNormSquared` there, `decay` = e^{−2λ_u t}.
    public static func observe(
        _ p: ArraySlice<Double>, shape s: MatrixShape, problem: MatrixSetup.Problem, modes: Int,
        initialImbalance: [[Double]], initialLayerScale: Double = 0, decay: Double
    ) -> MatrixObservation {
        let n0 = s.inputs
        let nL = s.outputs
        let w = product(p, shape: s)
        var err = 0.0
        for k in 0..<w.count { err += (w[k] - problem.teacher[k]) * (w[k] - problem.teacher[k]) }
        let sv = singularValues(w, nL, n0)
        let nuclear = sv.reduce(0, +)
        var entropy = 0.0
        for sigma in sv where sigma > 0 {
            let q = sigma / nuclear
            entropy -= q * Foundation.log(q)
        }
        let strength = (0..<modes).map { i -> Double in
            var a = 0.0
            for r in 0..<nL { for c in 0..<n0 { a += problem.u[r * nL + i] * w[r * n0 + c] * problem.v[c * n0 + i] } }
            return a
        }
        var conservation = Double.nan
        if s.depth >= 2 {
            let now = imbalances(p, shape: s)
            var dev = 0.0
            var scale = 0.0
            for (dl, d0) in zip(now, initialImbalance) {
                var e = 0.0
                var z = 0.0
                for k in 0..<dl.count {
                    let r = dl[k] - d0[k] * decay
                    e += r * r
                    z += d0[k] * d0[k]
                }
                dev = max(dev, e.squareRoot())
                scale = max(scale, z.squareRoot())
            }
            conservation = scale > 1e-8 * initialLayerScale ? dev / scale : dev
        }
        return MatrixObservation(
            testError: err, singularValues: sv, modeStrength: strength,
            effectiveRank: nuclear > 0 ? Foundation.exp(entropy) : .nan, nuclearNorm: nuclear,
            conservation: conservation)
    }
}
