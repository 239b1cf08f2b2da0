import DLNModel
import Foundation

/// Deep diagonal networks as mirror flows (Labarrière et al. 2024; docs/model.md §4.1, O13). For θ = u¹⊙…⊙u^L under
/// gradient flow, (u^j_i)² − (u^k_i)² is conserved, so every layer is a function of the layer that is smallest at
/// the start, a = u^{j*}: (u^k)² = a² + e_k with e_k = (u^k(0))² − (u^{j*}(0))² ≥ 0. Then θ(a) =
/// a·∏_{k≠j*}σ_k√(a² + e_k), H⁻¹(a) = Σ_j∏_{k≠j}(a² + e_k), and the mirror map's displacement is
///     ∇𝒬(θ(t)) − ∇𝒬(θ(0)) = ∫_{a(0)}^{a(t)} θ′(a)/H⁻¹(a) da,
/// which gradient flow keeps in range(Xᵀ) (it equals −∫∇F). Requires a unique smallest layer per coordinate
/// (H⁻¹(0) > 0), the generic case.
public enum DeepMirror {
    /// The displacement per coordinate from the initial and the current layers (`layers[l][i]`).
    public static func displacement(initial: [[Double]], current: [[Double]]) -> [Double] {
        let L = initial.count
        let d = initial[0].count
        return (0..<d).map { i in
            let start = (0..<L).map { initial[$0][i] }
            let jStar = (0..<L).min { abs(start[$0]) < abs(start[$1]) }!
            let e = (0..<L).map { start[$0] * start[$0] - start[jStar] * start[jStar] }
            let sign = (0..<L).map { start[$0] < 0 ? -1.0 : 1.0 }
            func integrand(_ a: Double) -> Double {
                var product = 1.0
                var sum = 0.0
                for k in 0..<L where k != jStar {
                    product *= sign[k] * (a * a + e[k]).squareRoot()
                    sum += 1 / (a * a + e[k])
                }
                var hInverse = 0.0
                for j in 0..<L {
                    var p = 1.0
                    for k in 0..<L where k != j { p *= a * a + e[k] }
                    hInverse += p
                }
                return product * (1 + a * a * sum) / hInverse
            }
            let a0 = start[jStar]
            let a = current[jStar][i]
            if a == a0 { return 0 }
            let value = Quadrature.simpson(integrand, min(a0, a), max(a0, a), tolerance: 1e-13)
            return a >= a0 ? value : -value
        }
    }

    /// ‖v − P v‖/‖v‖ with P the projection onto range(Xᵀ) (X n×d with independent rows); nil if XXᵀ is singular.
    public static func distanceFromRowSpace(_ v: [Double], x: [Double], n: Int, d: Int) -> Double? {
        guard let l = Dense.cholesky(Dense.weightedGram(x, n, d, [Double](repeating: 1, count: d)), n) else {
            return nil
        }
        let p = Dense.multiplyTransposed(x, n, d, Dense.choleskySolve(l, n, Dense.multiply(x, n, d, v)))
        return Dense.norm(zip(v, p).map { $0 - $1 }) / max(Dense.norm(v), .leastNormalMagnitude)
    }
}
