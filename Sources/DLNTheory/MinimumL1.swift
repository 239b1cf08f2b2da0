import DLNModel
import Foundation

/// The minimum-ℓ1 interpolator, argmin ‖w‖₁ subject to Xw = y (basis pursuit: the α → 0 limit of the implicit
/// bias, docs/model.md §5.1, O5), as the linear program min Σ(p + q) s.t. X(p − q) = y, p, q ≥ 0, solved by a dense
/// two-phase simplex method (Dantzig's rule, Bland's after degenerate pivots; n up to a few hundred). Phase 2 runs
/// on a perturbed right-hand side (each basic value raised by a distinct ~1e-9 relative amount, the classical cure
/// for degeneracy: an exactly sparse y makes most pivots degenerate and Bland's rule crawl), carrying the true
/// right-hand side beside it; the final basis is read with the true one (reduced costs do not depend on it, so a basis
/// feasible for it is optimal) and, should it not be feasible, the problem is solved again unperturbed.
public enum MinimumL1 {
    /// The solution, or nil when y is not in the range of X (no interpolator) or the iteration limit is hit.
    public static func solve(x: [Double], y: [Double], n: Int, d: Int, maxPivots: Int = 100_000) -> [Double]? {
        solve(x: x, y: y, n: n, d: d, maxPivots: maxPivots, perturb: true)
    }

    static func solve(x: [Double], y: [Double], n: Int, d: Int, maxPivots: Int, perturb: Bool) -> [Double]? {
        // Columns: p (d), q (d), artificial a (n). Rows flipped so that the right-hand side is ≥ 0.
        let m = n
        let cols = 2 * d + n
        // Row-major tableau: column `cols` is the right-hand side the ratio test uses, `cols + 1` the true one.
        let width = cols + 2
        var t = [Double](repeating: 0, count: m * width)
        func at(_ i: Int, _ j: Int) -> Int { i * width + j }
        for i in 0..<m {
            let sign: Double = y[i] < 0 ? -1 : 1
            for j in 0..<d {
                t[at(i, j)] = sign * x[i * d + j]
                t[at(i, d + j)] = -sign * x[i * d + j]
            }
            t[at(i, 2 * d + i)] = 1
            t[at(i, cols)] = sign * y[i]
            t[at(i, cols + 1)] = sign * y[i]
        }
        var basis = (0..<m).map { 2 * d + $0 }
        var isBasic = [Bool](repeating: false, count: cols)
        for b in basis { isBasic[b] = true }
        var objective = [Double](repeating: 0, count: width)  // reduced costs; then −(current cost), twice
        func pivot(_ r: Int, _ c: Int) {
            let p = t[at(r, c)]
            for j in 0..<width { t[at(r, j)] /= p }
            for i in 0..<m where i != r {
                let f = t[at(i, c)]
                if f != 0 { for j in 0..<width { t[at(i, j)] -= f * t[at(r, j)] } }
            }
            let f = objective[c]
            if f != 0 { for j in 0..<width { objective[j] -= f * t[at(r, j)] } }
            isBasic[basis[r]] = false
            basis[r] = c
            isBasic[c] = true
        }
        /// Minimises cost·z from the current basis (Dantzig's rule, Bland's after degenerate pivots); false when
        /// unbounded or out of pivots.
        func optimise(_ cost: [Double], allowed: Int) -> Bool {
            objective = cost + [0, 0]
            for i in 0..<m where objective[basis[i]] != 0 {
                let f = objective[basis[i]]
                for j in 0..<width { objective[j] -= f * t[at(i, j)] }
            }
            var degenerate = 0
            for _ in 0..<maxPivots {
                var entering = -1
                var most = -1e-11
                for j in 0..<allowed where !isBasic[j] && objective[j] < -1e-11 {
                    if degenerate > 50 {
                        entering = j
                        break
                    }  // Bland: the first improving column
                    if objective[j] < most {
                        most = objective[j]
                        entering = j
                    }
                }
                if entering < 0 { return true }
                var row = -1
                var best = Double.infinity
                for i in 0..<m where t[at(i, entering)] > 1e-12 {
                    let ratio = t[at(i, cols)] / t[at(i, entering)]
                    if ratio < best - 1e-15 || (abs(ratio - best) <= 1e-15 && row >= 0 && basis[i] < basis[row]) {
                        best = ratio
                        row = i
                    }
                }
                if row < 0 { return false }
                degenerate = best <= 1e-15 ? degenerate + 1 : 0
                pivot(row, entering)
            }
            return false
        }
        // Phase 1: drive the artificial variables out.
        var phase1 = [Double](repeating: 0, count: cols)
        for i in 0..<m { phase1[2 * d + i] = 1 }
        guard optimise(phase1, allowed: cols) else { return nil }
        let infeasibility = (0..<m).filter { basis[$0] >= 2 * d }.reduce(0.0) { $0 + t[at($1, cols)] }
        guard infeasibility <= 1e-9 * max(1, Dense.norm(y)) else { return nil }
        for i in 0..<m where basis[i] >= 2 * d {  // degenerate artificial still basic: pivot it out if possible
            if let j = (0..<(2 * d)).first(where: { abs(t[at(i, $0)]) > 1e-12 && !isBasic[$0] }) { pivot(i, j) }
        }
        // Phase 2: minimise Σ(p + q) over the original columns.
        let phase2 = [Double](repeating: 1, count: 2 * d) + [Double](repeating: 0, count: n)
        let scale = max(1, (0..<m).map { abs(t[at($0, cols + 1)]) }.max() ?? 1)
        if perturb { for i in 0..<m { t[at(i, cols)] += 1e-9 * scale * (1 + Double(i) / Double(m)) } }
        guard optimise(phase2, allowed: 2 * d) else {
            return perturb ? solve(x: x, y: y, n: n, d: d, maxPivots: maxPivots, perturb: false) : nil
        }
        if perturb && (0..<m).contains(where: { t[at($0, cols + 1)] < -1e-9 * scale }) {
            // The perturbed optimum's basis is not feasible for the true y: solve again unperturbed.
            return solve(x: x, y: y, n: n, d: d, maxPivots: maxPivots, perturb: false)
        }
        var w = [Double](repeating: 0, count: d)
        for i in 0..<m where basis[i] < 2 * d {
            let v = t[at(i, cols + 1)]
            if basis[i] < d { w[basis[i]] += v } else { w[basis[i] - d] -= v }
        }
        return w
    }
}
