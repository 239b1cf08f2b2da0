import DLNModel
import Foundation

/// Late-time convergence rate (docs/model.md §5.5, O9) and transition detection on trajectories (§5.6).
public enum Rates {
    /// Smallest and largest eigenvalue of a symmetric positive definite m×m matrix (inverse and direct power
    /// iteration); nil when it is not positive definite.
    public static func extremeEigenvalues(_ a: [Double], _ m: Int, iterations: Int = 500) -> (min: Double, max: Double)?
    {
        guard let l = Dense.cholesky(a, m) else { return nil }
        func normalised(_ v: [Double]) -> [Double] {
            let s = Dense.norm(v)
            return v.map { $0 / s }
        }
        var v = normalised((0..<m).map { 1 + 0.01 * Double($0) })
        var largest = 0.0
        for _ in 0..<iterations {
            let av = Dense.multiply(a, m, m, v)
            largest = zip(v, av).reduce(0) { $0 + $1.0 * $1.1 }
            v = normalised(av)
        }
        v = normalised((0..<m).map { 1 - 0.01 * Double($0) })
        var smallest = 0.0
        for _ in 0..<iterations {
            let w = Dense.choleskySolve(l, m, v)
            smallest = 1 / zip(v, w).reduce(0) { $0 + $1.0 * $1.1 }
            v = normalised(w)
        }
        return (smallest, largest)
    }

    /// The predicted late-time rate of the train loss, L ∝ e^{−γt}: with K∞ = X·diag(2q∞)·Xᵀ/n (mean loss; no
    /// 1/n for the sum loss) and q∞ = √(w∞² + β²), γ = 2λ_min(K∞) for gradient flow and −2 ln max_μ|1 − ημ|/η
    /// for steps of size η (μ the extreme eigenvalues). For X with dependent rows (n > d, centred data) the
    /// residual's part outside the range of X never moves: K∞ is taken on the row space of X, so λ_min is the
    /// smallest non-zero eigenvalue. nil when K∞ is still singular there.
    public static func predictedRate(
        x: [Double], n: Int, d: Int, limit w: [Double], beta: [Double],
        eta: Double? = nil, meanLoss: Bool = true
    ) -> Double? {
        predictedRate(
            x: x, n: n, d: d, kernelDiagonal: zip(w, beta).map { 2 * ($0 * $0 + $1 * $1).squareRoot() }, eta: eta,
            meanLoss: meanLoss)
    }

    /// The same from the tangent kernel's diagonal at the limit, D = Σ_l (∂w/∂θ_l)² (2q∞ for pm; any model):
    /// K∞ = X·diag(D)·Xᵀ/n (mean loss).
    public static func predictedRate(
        x: [Double], n: Int, d: Int, kernelDiagonal: [Double], eta: Double? = nil, meanLoss: Bool = true
    ) -> Double? {
        guard let (lo, hi) = limitKernelExtremes(x: x, n: n, d: d, kernelDiagonal: kernelDiagonal, meanLoss: meanLoss)
        else { return nil }
        guard let eta else { return 2 * lo }
        return -2 * Foundation.log(max(abs(1 - eta * lo), abs(1 - eta * hi))) / eta
    }

    /// The smallest non-zero (on the row space of X) and the largest eigenvalue of K = X·diag(D)·Xᵀ/n (no 1/n for the
    /// sum loss): the PL constant and the largest curvature of the loss in w-space along the flow's geometry.
    public static func limitKernelExtremes(
        x: [Double], n: Int, d: Int, kernelDiagonal: [Double], meanLoss: Bool = true
    ) -> (min: Double, max: Double)? {
        let q = kernelDiagonal.map { $0 / (meanLoss ? Double(n) : 1) }
        var (xr, r) = (x, n)
        if Dense.isRowRankDeficient(x, n, d) {
            let space = Dense.rowSpace(x, n, d)
            (xr, r) = (space.reduced, space.rank)
            guard r > 0 else { return nil }
        }
        return extremeEigenvalues(Dense.weightedGram(xr, r, d, q), r)
    }

    /// The rate γ fitted to ln L = a − γt by least squares over the points with low ≤ L ≤ high (default the
    /// float64 window 1e-17…1e-9); nil with fewer than three such points.
    public static func fittedRate(times: [Double], loss: [Double], low: Double = 1e-17, high: Double = 1e-9) -> Double?
    {
        let points = zip(times, loss).filter { $0.1 >= low && $0.1 <= high && $0.1.isFinite }
        guard points.count >= 3 else { return nil }
        let m = Double(points.count)
        let mt = points.reduce(0) { $0 + $1.0 } / m
        let ml = points.reduce(0) { $0 + Foundation.log($1.1) } / m
        let cov = points.reduce(0) { $0 + ($1.0 - mt) * (Foundation.log($1.1) - ml) }
        let varT = points.reduce(0) { $0 + ($1.0 - mt) * ($1.0 - mt) }
        return varT > 0 ? -cov / varT : nil
    }

    /// A fit of the late-time rate on the checkpoints above the round-off floor.
    public struct LateRateFit: Sendable {
        /// γ, nil when fewer than three checkpoints lie in the window.
        public let rate: Double?
        /// The checkpoints used.
        public let points: Int
        /// The window of losses fitted: above `floor`, below `ceiling`.
        public let floor: Double, ceiling: Double
    }

    /// γ fitted to ln L = a − γt on the late checkpoints above the round-off floor (§5.5). The floor is
    /// 1e3·ε²·L(0) (ε the precision's machine epsilon; the loss is a square), raised to 100 × the highest loss
    /// after the lowest one when the curve has settled on a plateau (its lowest loss is not its last, or its last
    /// two checkpoints no longer fall by a factor 2): checkpoints there, and just above where the decay bends
    /// into the floor, would flatten the fit. The window is the last ten decades of the decay above that floor
    /// and below 1e-5·L(0) (the late, linearised regime): floor < L ≤ min(1e-5·L(0), 1e10·max(floor, L_min)).
    public static func lateRate(times: [Double], loss: [Double], epsilon: Double) -> LateRateFit {
        let finite = loss.filter(\.isFinite)
        guard let l0 = loss.first, l0.isFinite, l0 > 0, finite.count >= 2, let lowest = finite.min() else {
            return LateRateFit(rate: nil, points: 0, floor: .nan, ceiling: .nan)
        }
        var floor = 1e3 * epsilon * epsilon * l0
        let k = finite.firstIndex(of: lowest)!
        let n = finite.count
        if k < n - 1 || finite[n - 1] > 0.5 * finite[n - 2] {
            floor = max(floor, 100 * finite[k...].max()!)
        }
        let ceiling = min(1e-5 * l0, 1e10 * max(floor, lowest))
        let fit = fittedRate(times: times, loss: loss, low: floor.nextUp, high: ceiling)
        let used = zip(times, loss).filter { $0.1.isFinite && $0.1 > floor && $0.1 <= ceiling }.count
        return LateRateFit(rate: fit, points: used, floor: floor, ceiling: ceiling)
    }

    /// Lazy → rich (§5.6): t_fit = first t with L_tr < 1e-3·L_tr(0); then the first t > t_fit at which the
    /// test error falls below ½(E(t_fit) + E(end)). nil when either never happens.
    public static func lazyToRichTime(times: [Double], trainLoss: [Double], testError: [Double]) -> Double? {
        guard let l0 = trainLoss.first, let fit = trainLoss.firstIndex(where: { $0 < 1e-3 * l0 }),
            let end = testError.last
        else { return nil }
        let threshold = 0.5 * (testError[fit] + end)
        guard let k = testError.indices.first(where: { $0 > fit && testError[$0] < threshold }) else { return nil }
        return interpolate(times, testError, k, threshold)
    }

    /// Search → descent (§5.6, O8): the first time |w| reaches half of its final value.
    public static func halfwayTime(times: [Double], values: [Double]) -> Double? {
        guard let end = values.last, end != 0 else { return nil }
        let threshold = abs(end) / 2
        guard let k = values.indices.first(where: { abs(values[$0]) >= threshold }) else { return nil }
        return interpolate(times, values.map(abs), k, threshold)
    }

    /// Linear interpolation of the crossing of `threshold` between samples k−1 and k.
    static func interpolate(_ t: [Double], _ v: [Double], _ k: Int, _ threshold: Double) -> Double {
        guard k > 0, v[k] != v[k - 1] else { return t[k] }
        let f = (threshold - v[k - 1]) / (v[k] - v[k - 1])
        return t[k - 1] + f * (t[k] - t[k - 1])
    }
}
