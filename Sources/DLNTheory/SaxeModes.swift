import Foundation

/// The mode dynamics of a full-matrix deep linear network f(x) = W_L⋯W_1·x (Saxe, McClelland & Ganguli 2014) under
/// gradient flow on the mean loss (1/2n)Σ_μ‖y_μ − W_eff·x_μ‖² with whitened inputs (XᵀX/n = I) and weight decay λ_u
/// on every layer (the layer update contains −λ_u·W_l), time t = η·steps.
///
/// With the teacher T = Σ_i s_i u_i v_iᵀ and a balanced initialisation aligned with its singular vectors
/// (W_l = R_l·diag(c)·R_{l−1}ᵀ with orthogonal R_l, R_0 = V, R_L = U), every layer keeps that form and the modes
/// decouple: one mode's common layer value c obeys ċ = c^{L−1}(s − a) − λ_u·c, and its strength a = c^L = u_iᵀW_eff v_i
/// obeys
///
///     ȧ = L·a^{2−2/L}·(s − a) − L·λ_u·a = L·a·G(a),   G(a) = a^{1−2/L}(s − a) − λ_u.
///
/// Depth 1 is linear, ȧ = s − (1 + λ_u)a; depth 2 is logistic in s' = s − λ_u; from depth 3 on, a = 0 is stable
/// whenever λ_u > 0, and a mode is learned only from above the threshold a₋ (the smaller root of G), towards the larger
/// root a₊ (both roots of s − a − λ_u·a^{2/L−1} = 0); when λ_u exceeds the critical decay max_a a^{1−2/L}(s − a)
/// there is no root and every mode decays to 0. Modes leave a small initialisation in order of decreasing s
/// (`learningOrder`).
///
/// Time conventions: `timeScale` multiplies the whole right-hand side, weight decay included. With the sum loss
/// ½Σ_μ‖…‖² the gradient is n times the mean one, so pass `timeScale: n` and `lambdaU: λ_u/n` (the sum-loss flow at
/// time t is the mean-loss flow with decay λ_u/n at time n·t).
public enum SaxeModes {
    /// The mode strength a(t) for each t (t ≥ 0, +∞ allowed: the limit `limit(s:a0:depth:lambdaU:)`), from a(0) = a0.
    ///
    /// Depth 1: a = a₀e^{−kt} + (s/k)(1 − e^{−kt}), k = 1 + λ_u. Depth 2: the logistic 1/a = e^{−2s't}/a₀ +
    /// (1 − e^{−2s't})/s' with s' = s − λ_u (a → max(s', 0); for s' = 0, 1/a = 1/a₀ + 2t). Depth ≥ 3: the time
    /// t(a) = ∫_{a₀}^{a} da′/(L·a′·G(a′)), computed by adaptive Gauss–Kronrod (relative 1e-13 on the Kronrod–Gauss
    /// error estimate) in a coordinate that resolves both ends (the logit ln(a/(a* − a)) when rising to a*, ln a
    /// when decaying to 0) and inverted by safeguarded Newton–bisection in that coordinate. From a₀ = 0 a mode stays
    /// at 0 for L ≥ 2 (depth 1 is driven by s). Strengths below the smallest normal double are returned as 0.
    /// - Parameters:
    ///   - s: the teacher's singular value of the mode (s ≥ 0).
    ///   - a0: the initial strength (a0 ≥ 0).
    ///   - depth: the number of layers L ≥ 1.
    ///   - lambdaU: the per-layer weight decay λ_u ≥ 0.
    ///   - t: the times, in the caller's clock.
    ///   - timeScale: multiplies t before evaluating (n for the sum loss; see the type's note).
    public static func strength(
        s: Double, a0: Double, depth L: Int, lambdaU: Double, at t: [Double], timeScale: Double = 1
    ) -> [Double] {
        check(s: s, a0: a0, depth: L, lambdaU: lambdaU, timeScale: timeScale)
        precondition(t.allSatisfy { $0 >= 0 }, "times must be ≥ 0 (or +∞)")
        let scaled = t.map { $0 * timeScale }
        switch L {
        case 1:
            let k = 1 + lambdaU
            return scaled.map { a0 * Foundation.exp(-k * $0) - (s / k) * Foundation.expm1(-k * $0) }
        case 2: return scaled.map { logistic(s: s, a0: a0, lambdaU: lambdaU, at: $0) }
        default: return quadrature(s: s, a0: a0, depth: L, lambdaU: lambdaU, at: scaled)
        }
    }

    /// The time at which the strength reaches `a` from a0: 0 when a = a0, +∞ when the flow never reaches it (a on
    /// the far side of a0 or beyond the limit, or the limit itself, which is approached but never reached).
    /// - Parameters:
    ///   - s: the teacher's singular value of the mode (s ≥ 0).
    ///   - a0: the initial strength (a0 ≥ 0).
    ///   - depth: the number of layers L ≥ 1.
    ///   - lambdaU: the per-layer weight decay λ_u ≥ 0.
    ///   - a: the strength to reach (a ≥ 0).
    ///   - timeScale: the returned time is the mean-loss time divided by it (n for the sum loss).
    public static func time(
        s: Double, a0: Double, depth L: Int, lambdaU: Double, toReach a: Double, timeScale: Double = 1
    ) -> Double {
        check(s: s, a0: a0, depth: L, lambdaU: lambdaU, timeScale: timeScale)
        precondition(a >= 0 && a.isFinite, "the strength to reach must be finite and ≥ 0")
        if a == a0 { return 0 }
        let end = limit(s: s, a0: a0, depth: L, lambdaU: lambdaU)
        guard min(a0, end) < a && a < max(a0, end) else { return .infinity }
        switch L {
        case 1:
            let k = 1 + lambdaU
            return Foundation.log1p((a0 - a) / (a - s / k)) / k / timeScale
        case 2:
            // 1/a − 1/s' = e^{−2s't}(1/a₀ − 1/s'), so e^{−2s't} = 1 + x with x = D·a₀s'/(s' − a₀), D = 1/a − 1/a₀:
            // t = −log1p(x)/(2s'), written so that s' → 0 gives t = D/2; near the limit (x → −1) the factor
            // 1 + x = (s' − a)a₀/((s' − a₀)a) is formed directly.
            let sp = s - lambdaU
            let d = 1 / a - 1 / a0
            let x = d * a0 * sp / (sp - a0)
            if abs(x) >= 0.5 { return -Foundation.log((sp - a) * a0 / ((sp - a0) * a)) / (2 * sp) / timeScale }
            let ratio = x == 0 ? 1 : Foundation.log1p(x) / x
            return d * a0 / (2 * (a0 - sp)) * ratio / timeScale
        default: return quadratureTime(s: s, a0: a0, depth: L, lambdaU: lambdaU, toReach: a) / timeScale
        }
    }

    /// The time to reach half the final strength, a*/2 with a* = `limit(s:a0:depth:lambdaU:)`: for L = 2 and λ_u = 0,
    /// ln(s/a₀ − 1)/(2s). NaN when a0 ≥ a*/2 (nothing left to learn, including modes that decay to 0).
    /// - Parameters:
    ///   - s: the teacher's singular value of the mode (s ≥ 0).
    ///   - a0: the initial strength (a0 ≥ 0).
    ///   - depth: the number of layers L ≥ 1.
    ///   - lambdaU: the per-layer weight decay λ_u ≥ 0.
    ///   - timeScale: the returned time is the mean-loss time divided by it (n for the sum loss).
    public static func halfTime(
        s: Double, a0: Double, depth L: Int, lambdaU: Double, timeScale: Double = 1
    ) -> Double {
        check(s: s, a0: a0, depth: L, lambdaU: lambdaU, timeScale: timeScale)
        let end = limit(s: s, a0: a0, depth: L, lambdaU: lambdaU)
        guard a0 < end / 2 else { return .nan }
        return time(s: s, a0: a0, depth: L, lambdaU: lambdaU, toReach: end / 2, timeScale: timeScale)
    }

    /// The strength at t = ∞ from a0: s/(1 + λ_u) at depth 1; at depth ≥ 2, a₊ from a0 above the threshold a₋
    /// (see `fixedPoints(s:depth:lambdaU:)`), 0 from a0 below it, from a0 = 0, or when there is no fixed point, and
    /// a0 itself when a0 is a fixed point.
    /// - Parameters:
    ///   - s: the teacher's singular value of the mode (s ≥ 0).
    ///   - a0: the initial strength (a0 ≥ 0).
    ///   - depth: the number of layers L ≥ 1.
    ///   - lambdaU: the per-layer weight decay λ_u ≥ 0.
    public static func limit(s: Double, a0: Double, depth L: Int, lambdaU: Double) -> Double {
        check(s: s, a0: a0, depth: L, lambdaU: lambdaU, timeScale: 1)
        if L == 1 { return s / (1 + lambdaU) }
        return ModeFlow(s: s, depth: L, lambda: lambdaU).limit(from: a0)
    }

    /// The positive fixed points of the strength: `stable` = a₊ and `threshold` = a₋ ≤ a₊, the roots of
    /// s − a − λ_u·a^{2/L−1} = 0 (a₋ = 0 when λ_u = 0 or L ≤ 2; a₋ = a₊ at the critical decay). A mode starting
    /// above the threshold is learned towards a₊ (at depth 1 every a0 ≥ 0 is). Nil when there is no positive stable
    /// fixed point: the mode decays to 0 from every a0 (L ≥ 2 with s ≤ λ_u at depth 2, or λ_u above the critical
    /// decay max_a a^{1−2/L}(s − a) from depth 3 on).
    /// - Parameters:
    ///   - s: the teacher's singular value of the mode (s ≥ 0).
    ///   - depth: the number of layers L ≥ 1.
    ///   - lambdaU: the per-layer weight decay λ_u ≥ 0.
    public static func fixedPoints(s: Double, depth L: Int, lambdaU: Double) -> (threshold: Double, stable: Double)? {
        check(s: s, a0: 0, depth: L, lambdaU: lambdaU, timeScale: 1)
        if L == 1 { return s > 0 ? (0, s / (1 + lambdaU)) : nil }
        return ModeFlow(s: s, depth: L, lambda: lambdaU).roots()
    }

    /// The order in which the modes of a teacher with these singular values are learned from a small balanced
    /// initialisation: indices by decreasing s, equal values by increasing index.
    /// - Parameter singularValues: the teacher's singular values s_i (finite), in any order.
    public static func learningOrder(singularValues: [Double]) -> [Int] {
        precondition(singularValues.allSatisfy(\.isFinite), "singular values must be finite")
        return singularValues.indices.sorted { i, j in
            singularValues[i] != singularValues[j] ? singularValues[i] > singularValues[j] : i < j
        }
    }

    // MARK: - Internals

    static func check(s: Double, a0: Double, depth L: Int, lambdaU: Double, timeScale: Double) {
        precondition(L >= 1, "depth must be ≥ 1")
        precondition(s >= 0 && s.isFinite, "s must be finite and ≥ 0")
        precondition(a0 >= 0 && a0.isFinite, "a0 must be finite and ≥ 0")
        precondition(lambdaU >= 0 && lambdaU.isFinite, "lambdaU must be finite and ≥ 0")
        precondition(timeScale > 0 && timeScale.isFinite, "timeScale must be finite and > 0")
    }

    /// The depth-2 closed form at mean-loss time t.
    static func logistic(s: Double, a0: Double, lambdaU: Double, at t: Double) -> Double {
        if a0 == 0 || t == 0 { return a0 }
        let sp = s - lambdaU
        let inverse: Double
        if sp == 0 {
            inverse = 1 / a0 + 2 * t
        } else {
            inverse = Foundation.exp(-2 * sp * t) / a0 - Foundation.expm1(-2 * sp * t) / sp
        }
        return 1 / inverse
    }

    /// The strengths at mean-loss times t by quadrature and inversion, for any depth L ≥ 2 (the path of L ≥ 3, open
    /// to tests at L = 2). Times are processed in increasing order, each solve starting from the previous one.
    static func quadrature(s: Double, a0: Double, depth L: Int, lambdaU: Double, at t: [Double]) -> [Double] {
        precondition(L >= 2)
        let flow = ModeFlow(s: s, depth: L, lambda: lambdaU)
        let end = flow.limit(from: a0)
        guard a0 > 0, end != a0 else { return t.map { $0 == .infinity ? end : a0 } }
        var path = Trajectory(flow: flow, a0: a0, end: end)
        var result = [Double](repeating: a0, count: t.count)
        for i in t.indices.sorted(by: { t[$0] < t[$1] }) where t[i] > 0 {
            result[i] = t[i] == .infinity ? end : path.strength(at: t[i])
        }
        return result
    }

    /// The mean-loss time to reach a from a0 by quadrature, for any depth L ≥ 2 (∞ when not reached).
    static func quadratureTime(s: Double, a0: Double, depth L: Int, lambdaU: Double, toReach a: Double) -> Double {
        precondition(L >= 2)
        if a == a0 { return 0 }
        let flow = ModeFlow(s: s, depth: L, lambda: lambdaU)
        let end = flow.limit(from: a0)
        guard a0 > 0, min(a0, end) < a && a < max(a0, end) else { return .infinity }
        let path = Trajectory(flow: flow, a0: a0, end: end)
        return path.elapsed(from: path.position(a0), to: path.position(a))
    }
}

/// One mode's flow at depth L ≥ 2: ȧ = L·a·G(a), G(a) = a^p(s − a) − λ, p = 1 − 2/L.
struct ModeFlow {
    let s: Double
    let depth: Int
    let lambda: Double
    var p: Double { 1 - 2 / Double(depth) }

    /// G(a), the growth rate of ln a divided by L.
    func growth(_ a: Double) -> Double { Foundation.pow(a, p) * (s - a) - lambda }

    /// G at a = r(1 + q) next to a root r of G, as r^p·[expm1(p·log1p(q))(s − a) − r·q] (= a^p(s − a) − r^p(s − r)):
    /// no cancellation as q → 0, where a^p(s − a) − λ would lose G's relative accuracy.
    func growth(near r: Double, offset q: Double) -> Double {
        Foundation.pow(r, p) * (Foundation.expm1(p * Foundation.log1p(q)) * (s - r * (1 + q)) - r * q)
    }

    /// (a₋, a₊): the roots of G, found by bisection to adjacent doubles on either side of G's peak
    /// a_m = p·s/(1 + p); nil when G < 0 everywhere or the only root is 0.
    func roots() -> (threshold: Double, stable: Double)? {
        if depth == 2 { return s > lambda ? (0, s - lambda) : nil }
        let peak = p * s / (1 + p)
        guard growth(peak) >= 0, s > 0 else { return nil }
        let stable = bisect(peak, s, rising: false)
        let threshold = lambda == 0 ? 0 : bisect(0, peak, rising: true)
        return (threshold, stable)
    }

    /// The root of G in [lo, hi], where G changes sign once (rising: from − to +).
    func bisect(_ lo: Double, _ hi: Double, rising: Bool) -> Double {
        var (lo, hi) = (lo, hi)
        while true {
            let mid = 0.5 * (lo + hi)
            guard mid > lo && mid < hi else { return abs(growth(lo)) <= abs(growth(hi)) ? lo : hi }
            let g = growth(mid)
            if g == 0 { return mid }
            if (g > 0) == rising { hi = mid } else { lo = mid }
        }
    }

    /// The strength at t = ∞ from a0, decided by the sign of G(a0) so that the flow's direction and its limit agree.
    func limit(from a0: Double) -> Double {
        let g = growth(a0)
        if a0 == 0 || g == 0 { return a0 }
        guard let stable = roots()?.stable else { return g > 0 ? a0 : 0 }
        if g > 0 { return max(stable, a0) }
        return stable < a0 ? stable : 0
    }
}

/// One trajectory a(t) from a0 towards its limit, in a coordinate v that increases with t, tends to +∞ at the limit
/// and resolves both ends: the logit v = ln(a/(a* − a)) when rising to a* (a = a*/(1 + e^{−v})), v = ln(a*/(a − a*))
/// when falling onto a* from above (a = a*(1 + e^{−v})), and v = −ln a when decaying to 0. Near a* the rate dt/dv
/// tends to a constant (1/|ȧ′(a*)|), so t(v) is smooth everywhere and Newton converges in a few steps.
struct Trajectory {
    enum Kind { case rise, fall, decay }
    let flow: ModeFlow
    let kind: Kind
    let end: Double
    /// Beyond this v the strength is the limit to double precision (rise, fall) or below the smallest normal double
    /// (decay).
    let vCap: Double
    /// The largest v reached so far with t(v) ≤ the last target, and t there.
    var anchor: (v: Double, t: Double)

    init(flow: ModeFlow, a0: Double, end: Double) {
        self.flow = flow
        self.end = end
        kind = end == 0 ? .decay : end > a0 ? .rise : .fall
        anchor = (0, 0)
        vCap = kind == .decay ? -Foundation.log(Double.leastNormalMagnitude) : 60
        anchor = (position(a0), 0)
    }

    /// v at strength a.
    func position(_ a: Double) -> Double {
        switch kind {
        case .rise: Foundation.log(a) - Foundation.log(end - a)
        case .fall: Foundation.log(end) - Foundation.log(a - end)
        case .decay: -Foundation.log(a)
        }
    }

    /// The strength at v.
    func strength(_ v: Double) -> Double {
        switch kind {
        case .rise: end / (1 + Foundation.exp(-v))
        case .fall: end * (1 + Foundation.exp(-v))
        case .decay: Foundation.exp(-v)
        }
    }

    /// dt/dv > 0 (ȧ = L·a·G(a)).
    func rate(_ v: Double) -> Double {
        let L = Double(flow.depth)
        switch kind {
        case .rise:
            // 1 − a/a* = q = 1/(1 + e^v), da/dv = a·q: dt/dv = q/(L·G).
            let q = 1 / (1 + Foundation.exp(v))
            let g = q < 0.5 ? flow.growth(near: end, offset: -q) : flow.growth(strength(v))
            return q / (L * g)
        case .fall:
            // a/a* − 1 = q = e^{−v}, da/dv = −a*·q: dt/dv = −a*·q/(L·a·G).
            let q = Foundation.exp(-v)
            let a = end * (1 + q)
            let g = q < 1 ? flow.growth(near: end, offset: q) : flow.growth(a)
            return -end * q / (L * a * g)
        case .decay: return -1 / (L * flow.growth(Foundation.exp(-v)))
        }
    }

    /// t(to) − t(from).
    func elapsed(from: Double, to: Double) -> Double {
        let value = Quadrature.gaussKronrod(rate, from: min(from, to), to: max(from, to))
        return to >= from ? value : -value
    }

    /// The strength at time t ≥ anchor.t (times are asked in increasing order).
    mutating func strength(at t: Double) -> Double {
        // Bracket t by doubling steps in v, up to vCap.
        var lo = anchor
        var hi = lo.v
        var step = 1.0
        while true {
            let v = min(lo.v + step, vCap)
            let tv = lo.t + elapsed(from: lo.v, to: v)
            if tv >= t {
                hi = v
                break
            }
            lo = (v, tv)
            if v == vCap { return kind == .decay ? 0 : end }
            step *= 2
        }
        // Safeguarded Newton (rtsafe): Newton steps inside (lo, hi) that at least halve the step before last,
        // bisection otherwise; the current point's time is carried along by integrating each step.
        var (v, tv) = lo
        var (step1, step2) = (hi - lo.v, hi - lo.v)
        for _ in 0..<200 {
            let f = tv - t
            if f == 0 { break }
            if f < 0 { lo = (v, tv) } else { hi = v }
            let slope = rate(v)
            var next = v - f / slope
            if !(next > lo.v && next < hi) || !(abs(2 * f) <= abs(step2 * slope)) {
                next = lo.v + 0.5 * (hi - lo.v)
            }
            step2 = step1
            step1 = next - v
            guard next > lo.v && next < hi else { break }
            tv += elapsed(from: v, to: next)
            v = next
            if abs(step1) <= 4 * Double.ulpOfOne * max(1, abs(v)) { break }
        }
        anchor = tv <= t ? (v, tv) : lo
        return strength(v)
    }
}

extension Quadrature {
    /// ∫_a^b f (a ≤ b) by adaptive Gauss–Kronrod (7/15 points, `PhiTable.kronrod`): splits the panel with the
    /// largest error estimate until the summed |K15 − G7| estimates are below `relative` times the value (or 1000
    /// panels, or a panel at the resolution of doubles).
    static func gaussKronrod(
        _ f: (Double) -> Double, from a: Double, to b: Double, relative: Double = 1e-13
    ) -> Double {
        precondition(a <= b)
        if a == b { return 0 }
        let first = PhiTable.kronrod(f, a, b)
        var panels = [(a: a, b: b, value: first.value, error: first.error)]
        var (value, error) = (first.value, first.error)
        while error > relative * abs(value) && panels.count < 1000 {
            var worst = 0
            for k in panels.indices where panels[k].error > panels[worst].error { worst = k }
            let (x, y) = (panels[worst].a, panels[worst].b)
            let mid = 0.5 * (x + y)
            guard mid > x && mid < y else { break }
            let left = PhiTable.kronrod(f, x, mid)
            let right = PhiTable.kronrod(f, mid, y)
            panels[worst] = (x, mid, left.value, left.error)
            panels.append((mid, y, right.value, right.error))
            value = panels.reduce(0) { $0 + $1.value }
            error = panels.reduce(0) { $0 + $1.error }
        }
        return value
    }
}
