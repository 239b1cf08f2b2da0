import DLNModel
import Foundation

extension DeepImplicitBias {
    /// The gradient-flow limit (λ = 0) of `deep` (w = ∏_l u_l) or `deep_pm` (w = ∏u_l − ∏v_l) from any initial
    /// layers in which, per coordinate and group, either all |u_l(0)| are equal or the smallest is unique (with
    /// Gaussian entries this holds with probability 1): each group's product is an increasing function of
    /// ρ = −∫g dt (`LayerGroupMap`), the v group's of −ρ, and ρ stays in range(Xᵀ); so the limit is w(Xᵀν) with
    /// X·w(Xᵀν) = y, the minimiser of the mirror potential those maps define, found by the same Newton iteration.
    public struct GeneralLimit: Sendable {
        public let solution: ImplicitBias.Solution
        /// D = Σ_l (∂w/∂θ_l)² at the limit (all 2L or L layers), for the PL constant and the late rate; nil when
        /// not converged.
        public let kernelDiagonal: [Double]?
    }

    /// `layers`: the initial layers, [layer][coordinate] (deep: L layers; deep_pm: u₁…u_L then v₁…v_L). nil when a
    /// coordinate breaks the assumption (a zero layer, or a tie for the smallest |u_l(0)| among unequal layers).
    public static func solve(
        x: [Double], y: [Double], n: Int, d: Int, initialLayers layers: [[Double]], plusMinus: Bool,
        tolerance: Double = 1e-12, maxIterations: Int = 300
    ) -> GeneralLimit? {
        let half = plusMinus ? layers.count / 2 : layers.count
        var uMaps: [LayerGroupMap] = []
        var vMaps: [LayerGroupMap] = []
        for j in 0..<d {
            guard let u = LayerGroupMap(initial: (0..<half).map { layers[$0][j] }) else { return nil }
            uMaps.append(u)
            if plusMinus {
                guard let v = LayerGroupMap(initial: (half..<layers.count).map { layers[$0][j] }) else { return nil }
                vMaps.append(v)
            }
        }
        let (solution, rho) = solve(x: x, y: y, n: n, d: d, tolerance: tolerance, maxIterations: maxIterations) {
            j, rho in
            guard let p = uMaps[j].product(rho) else { return nil }
            guard plusMinus else { return (p.p, p.slope) }
            guard let q = vMaps[j].product(-rho) else { return nil }
            return (p.p - q.p, p.slope + q.slope)
        }
        guard solution.converged else { return GeneralLimit(solution: solution, kernelDiagonal: nil) }
        var diagonal: [Double]? = []
        for j in 0..<d {
            let du = uMaps[j].kernelDiagonal(rho[j])
            let dv: Double? = plusMinus ? vMaps[j].kernelDiagonal(-rho[j]) : 0
            guard let du, let dv else {
                diagonal = nil
                break
            }
            diagonal!.append(du + dv)
        }
        return GeneralLimit(solution: solution, kernelDiagonal: diagonal)
    }
}
