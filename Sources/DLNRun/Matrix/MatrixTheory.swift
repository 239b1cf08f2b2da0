import DLNModel
import DLNTheory
import Foundation

/// The theory set beside a matrix run, where one is known.
public enum MatrixTheory {
    /// The commuting case of matrix sensing: diagonal operators A_k = diag(a_k), the identity initialisation
    /// W_l(0) = α·I and equal widths. Every W_l then stays diagonal and all layers stay equal, so W_eff = diag(w) with
    /// w_i = c_i^L, and the flow on the c_i is the deep diagonal model ∏_l u_l with equal layers on the design whose
    /// rows are the a_k: its limit is the interpolator of that model's mirror potential (Woodworth et al.), which
    /// tends to the minimum-trace — for this positive semi-definite W_eff, the minimum-nuclear-norm — solution as
    /// α → 0 (Gunasekar et al.'s commuting case, and Arora et al.'s at any depth).
    public static func isCommuting(_ c: MatrixConfiguration) -> Bool {
        c.task == .sensing && c.sensingOperator == .diagonal && c.initKind == .identity && Set(c.widths).count == 1
    }

    /// Per replica (grid point · seeds + seed): the diagonal of the predicted gradient-flow limit of W_eff (λ = 0), in
    /// coordinate order; NaN where λ > 0 or the solver does not converge. nil outside the commuting case.
    public static func commutingLimit(_ setup: MatrixSetup) -> [[Double]]? {
        let c = setup.configuration
        guard isCommuting(c) else { return nil }
        let d = c.widths[0]
        let m = c.samples
        var cache: [String: [Double]] = [:]
        var out: [[Double]] = []
        let nan = [Double](repeating: .nan, count: d)
        for point in c.gridPoints {
            for _ in setup.seeds {
                let k = setup.batch.dataset[out.count]
                guard point.weightDecay == 0, let (a, y) = setup.problems[k].measurements else {
                    out.append(nan)
                    continue
                }
                let key = "\(k) \(point.alpha)"
                if let w = cache[key] {
                    out.append(w)
                    continue
                }
                let x = (0..<m).flatMap { q in (0..<d).map { i in a[q * d * d + i * d + i] } }
                let layers = [[Double]](repeating: [Double](repeating: point.alpha, count: d), count: c.depth)
                let limit = DeepImplicitBias.solve(
                    x: x, y: y, n: m, d: d, initialLayers: layers, plusMinus: false)
                let w = limit.flatMap { $0.solution.converged ? $0.solution.w : nil } ?? nan
                cache[key] = w
                out.append(w)
            }
        }
        return out
    }

    /// ‖diag(w) − T‖²_F for a data set's teacher.
    public static func testError(_ w: [Double], teacher t: [Double]) -> Double {
        let d = w.count
        var e = 0.0
        for i in 0..<d {
            for j in 0..<d {
                let r = (i == j ? w[i] : 0) - t[i * d + j]
                e += r * r
            }
        }
        return e
    }
}
