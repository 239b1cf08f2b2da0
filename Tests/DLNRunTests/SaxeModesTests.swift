import Foundation
import Testing

@testable import DLNTheory

/// Saxe et al.'s mode strengths (`SaxeModes`) against closed forms written out here, against a float64 RK4
/// integration of one mode's layer value c (ċ = c^{L−1}(s − c^L) − λ_u·c, a = c^L), and against their own properties.
@Suite struct SaxeModesTests {
    /// Relative difference |x − y|/|y| (absolute when y = 0).
    static func relativeError(_ x: Double, _ y: Double) -> Double {
        y == 0 ? abs(x) : abs(x - y) / abs(y)
    }

    /// x^k for k ≥ 0 by repeated multiplication.
    static func power(_ x: Double, _ k: Int) -> Double {
        (0..<k).reduce(1.0) { r, _ in r * x }
    }

    /// RK4 of the common layer value c of one mode, with steps of at most `dt`, at ascending `times`; returns a = c^L.
    /// `scale` multiplies the loss gradient only (the sum-loss flow when it is n).
    static func rk4(
        s: Double, a0: Double, depth L: Int, lambdaU: Double, times: [Double], dt: Double = 2e-4, scale: Double = 1
    ) -> [Double] {
        func rhs(_ c: Double) -> Double { scale * Self.power(c, L - 1) * (s - Self.power(c, L)) - lambdaU * c }
        var c = Foundation.pow(a0, 1 / Double(L))
        var now = 0.0
        var out: [Double] = []
        for target in times {
            let steps = max(1, Int(((target - now) / dt).rounded(.up)))
            let h = (target - now) / Double(steps)
            for _ in 0..<steps {
                let k1 = rhs(c)
                let k2 = rhs(c + 0.5 * h * k1)
                let k3 = rhs(c + 0.5 * h * k2)
                let k4 = rhs(c + h * k3)
                c += h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
            }
            now = target
            out.append(Self.power(c, L))
        }
        return out
    }

    static let times: [Double] = [0.1, 0.5, 1, 2, 3, 5, 8]

    /// Depth 2: the logistic closed form and the quadrature path (forced at L = 2) agree to 1e-10 relative, for
    /// growth, decay from above s', decay to 0 (s' < 0) and the algebraic decay at s' = 0; so do their times.
    @Test(arguments: [(3.0, 1e-3, 0.0), (1.0, 0.05, 0.2), (1.0, 2.5, 0.3), (0.5, 0.2, 0.7), (1.0, 0.3, 1.0)])
    func depthTwoClosedFormMatchesQuadrature(_ s: Double, _ a0: Double, _ lambda: Double) {
        let t = Self.times + [30]
        let closed = SaxeModes.strength(s: s, a0: a0, depth: 2, lambdaU: lambda, at: t)
        let quad = SaxeModes.quadrature(s: s, a0: a0, depth: 2, lambdaU: lambda, at: t)
        for (c, q) in zip(closed, quad) { #expect(Self.relativeError(q, c) <= 1e-10, "\(q) vs \(c)") }
        let end = SaxeModes.limit(s: s, a0: a0, depth: 2, lambdaU: lambda)
        for (ti, a) in zip(t, closed) where a != a0 && Self.relativeError(a, end) > 1e-6 {
            let closedTime = SaxeModes.time(s: s, a0: a0, depth: 2, lambdaU: lambda, toReach: a)
            let quadTime = SaxeModes.quadratureTime(s: s, a0: a0, depth: 2, lambdaU: lambda, toReach: a)
            #expect(Self.relativeError(quadTime, closedTime) <= 1e-10, "\(quadTime) vs \(closedTime)")
            #expect(Self.relativeError(closedTime, ti) <= 1e-9, "\(closedTime) vs \(ti)")
        }
    }

    /// Every depth 1…4 agrees with RK4 of the layer ODE (dt ≤ 2e-4) to 1e-8 relative: growth from small a0, decay
    /// from above the fixed point, weight decay, and (L = 3) a start below the threshold that decays to 0.
    @Test(arguments: [
        (1, 2.0, 0.1, 0.3), (1, 1.0, 3.0, 0.0), (2, 1.5, 0.02, 0.2), (2, 1.5, 3.0, 0.0), (3, 2.0, 0.05, 0.0),
        (3, 2.0, 0.05, 0.2), (3, 2.0, 4.0, 0.2), (3, 2.0, 5e-4, 0.2), (4, 1.0, 0.1, 0.1), (4, 3.0, 0.01, 0.0)
    ])
    func matchesRK4(_ L: Int, _ s: Double, _ a0: Double, _ lambda: Double) {
        let theory = SaxeModes.strength(s: s, a0: a0, depth: L, lambdaU: lambda, at: Self.times)
        let reference = Self.rk4(s: s, a0: a0, depth: L, lambdaU: lambda, times: Self.times)
        for (ti, (a, r)) in zip(Self.times, zip(theory, reference)) {
            #expect(Self.relativeError(a, r) <= 1e-8, "L = \(L), t = \(ti): \(a) vs RK4 \(r)")
        }
    }

    /// The sum-loss convention: the flow whose loss gradient is n times larger, with decay λ_u, is `strength` with
    /// `timeScale: n` and `lambdaU: λ_u/n` (RK4, 1e-8 relative); and `timeScale` only rescales t.
    @Test func timeScaleIsTheSumLossClock() {
        let (n, s, a0, lambda) = (8.0, 1.5, 0.05, 0.4)
        let t = Self.times.map { $0 / n }
        for L in 1...4 {
            let theory = SaxeModes.strength(s: s, a0: a0, depth: L, lambdaU: lambda / n, at: t, timeScale: n)
            let reference = Self.rk4(s: s, a0: a0, depth: L, lambdaU: lambda, times: t, dt: 2e-5, scale: n)
            for (a, r) in zip(theory, reference) { #expect(Self.relativeError(a, r) <= 1e-8, "L = \(L): \(a) vs \(r)") }
            let unscaled = SaxeModes.strength(s: s, a0: a0, depth: L, lambdaU: 0.05, at: t.map { $0 * n })
            #expect(SaxeModes.strength(s: s, a0: a0, depth: L, lambdaU: 0.05, at: t, timeScale: n) == unscaled)
            let slow = SaxeModes.time(s: s, a0: a0, depth: L, lambdaU: 0.05, toReach: 0.5)
            let fast = SaxeModes.time(s: s, a0: a0, depth: L, lambdaU: 0.05, toReach: 0.5, timeScale: n)
            #expect(Self.relativeError(fast * n, slow) <= 1e-15)
        }
    }

    /// Depth-2 anchors from the logistic a = s/(1 + (s/a0 − 1)e^{−2st}) written out here: s = 1 and s = 2 from
    /// a0 = 0.05 (closed form 1e-13, quadrature 1e-10), and the half-time ln(s/a0 − 1)/(2s), e.g. s = 3, a0 = 1e-3,
    /// with λ_u through s' = s − λ_u (1e-13).
    @Test func depthTwoAnchors() {
        let t: [Double] = [0.5, 1, 2, 3, 6]
        for s in [1.0, 2.0] {
            let a0 = 0.05
            let expected = t.map { s / (1 + (s / a0 - 1) * Foundation.exp(-2 * s * $0)) }
            let closed = SaxeModes.strength(s: s, a0: a0, depth: 2, lambdaU: 0, at: t)
            let quad = SaxeModes.quadrature(s: s, a0: a0, depth: 2, lambdaU: 0, at: t)
            for i in t.indices {
                #expect(Self.relativeError(closed[i], expected[i]) <= 1e-13, "\(closed[i]) vs \(expected[i])")
                #expect(Self.relativeError(quad[i], expected[i]) <= 1e-10, "\(quad[i]) vs \(expected[i])")
            }
        }
        let half = SaxeModes.halfTime(s: 3, a0: 1e-3, depth: 2, lambdaU: 0)
        #expect(Self.relativeError(half, Foundation.log(2999) / 6) <= 1e-13, "\(half)")
        let sp = 3 - 0.5
        let decayed = SaxeModes.halfTime(s: 3, a0: 1e-3, depth: 2, lambdaU: 0.5)
        #expect(Self.relativeError(decayed, Foundation.log(sp / 1e-3 - 1) / (2 * sp)) <= 1e-13, "\(decayed)")
        let forced = SaxeModes.quadratureTime(s: 3, a0: 1e-3, depth: 2, lambdaU: 0, toReach: 1.5)
        #expect(Self.relativeError(forced, Foundation.log(2999) / 6) <= 1e-10, "\(forced)")
    }

    /// Without weight decay a mode is one coordinate of a deep diagonal network with equal layers (θ = a, target
    /// θ̄ = s, unit curvature, α = a0^{1/L}): `ClosedForm.deepTime` and `deepTheta`, an independent solver (Simpson
    /// quadrature in ln θ with the end singularity taken out), agree to 1e-9 relative.
    @Test(arguments: [3, 4, 6])
    func agreesWithTheDiagonalDeepSolver(_ L: Int) {
        let (s, a0) = (2.0, 1e-3)
        let alpha = Foundation.pow(a0, 1 / Double(L))
        let a = SaxeModes.strength(s: s, a0: a0, depth: L, lambdaU: 0, at: Self.times)
        for (t, ai) in zip(Self.times, a) where Self.relativeError(ai, s) > 1e-6 {
            let theta = ClosedForm.deepTheta(t: t, depth: L, s: 1, target: s, alpha: alpha)
            #expect(Self.relativeError(ai, theta) <= 1e-9, "L = \(L), t = \(t): \(ai) vs \(theta)")
            let time = SaxeModes.time(s: s, a0: a0, depth: L, lambdaU: 0, toReach: ai)
            let other = ClosedForm.deepTime(theta: ai, depth: L, s: 1, target: s, alpha: alpha)
            #expect(Self.relativeError(time, other) <= 1e-9, "L = \(L), a = \(ai): \(time) vs \(other)")
        }
    }

    /// At every depth the strength at the half-time is a*/2 (1e-10), `time` inverts `strength` (1e-9), and
    /// unreachable strengths take forever: beyond the limit, behind a0, the limit itself. NaN when a0 ≥ a*/2.
    @Test(arguments: [1, 2, 3, 4, 6])
    func timeInvertsStrength(_ L: Int) {
        let (s, lambda) = (2.0, 0.1)
        let a0 = 0.02
        let end = SaxeModes.limit(s: s, a0: a0, depth: L, lambdaU: lambda)
        let half = SaxeModes.halfTime(s: s, a0: a0, depth: L, lambdaU: lambda)
        let atHalf = SaxeModes.strength(s: s, a0: a0, depth: L, lambdaU: lambda, at: [half])[0]
        #expect(Self.relativeError(atHalf, end / 2) <= 1e-10, "\(atHalf) vs \(end / 2)")
        for start in [a0, 3 * s] {
            let a = SaxeModes.strength(s: s, a0: start, depth: L, lambdaU: lambda, at: Self.times)
            for (ti, ai) in zip(Self.times, a) where Self.relativeError(ai, end) > 1e-6 {
                let back = SaxeModes.time(s: s, a0: start, depth: L, lambdaU: lambda, toReach: ai)
                #expect(Self.relativeError(back, ti) <= 1e-9, "L = \(L), a0 = \(start): \(back) vs \(ti)")
            }
        }
        for target in [1.01 * end, end, a0 / 2] {
            #expect(SaxeModes.time(s: s, a0: a0, depth: L, lambdaU: lambda, toReach: target) == .infinity)
        }
        #expect(SaxeModes.time(s: s, a0: a0, depth: L, lambdaU: lambda, toReach: a0) == 0)
        #expect(SaxeModes.halfTime(s: s, a0: 0.6 * end, depth: L, lambdaU: lambda).isNaN)
        #expect(SaxeModes.halfTime(s: s, a0: 3 * s, depth: L, lambdaU: lambda).isNaN)
    }

    /// Weight decay: the fixed points solve s − a − λ_u·a^{2/L−1} = 0 (1e-12 of s), the flow converges to a₊ (at
    /// t = 400 to 1e-10, and t = ∞ returns it), a start below the threshold a₋ decays to 0, and above the critical
    /// decay λ_c = max_a a^{1−2/L}(s − a) (at a = ps/(1 + p), p = 1 − 2/L) there is no fixed point.
    @Test(arguments: [3, 4, 5])
    func weightDecayConvergesToTheRoot(_ L: Int) throws {
        let (s, lambda) = (1.5, 0.2)
        let points = try #require(SaxeModes.fixedPoints(s: s, depth: L, lambdaU: lambda))
        for root in [points.threshold, points.stable] {
            let residual = s - root - lambda * Foundation.pow(root, 2 / Double(L) - 1)
            #expect(abs(residual) <= 1e-12 * s, "root \(root): residual \(residual)")
        }
        #expect(0 < points.threshold && points.threshold < points.stable && points.stable < s)
        let a0 = 4 * points.threshold
        let late = SaxeModes.strength(s: s, a0: a0, depth: L, lambdaU: lambda, at: [400, .infinity])
        #expect(Self.relativeError(late[0], points.stable) <= 1e-10, "\(late[0]) vs \(points.stable)")
        #expect(late[1] == points.stable)
        #expect(SaxeModes.limit(s: s, a0: a0, depth: L, lambdaU: lambda) == points.stable)
        let below = SaxeModes.strength(s: s, a0: points.threshold / 2, depth: L, lambdaU: lambda, at: [10, 100])
        #expect(below[0] < points.threshold / 2 && below[1] < 1e-3 * below[0], "\(below)")
        #expect(SaxeModes.limit(s: s, a0: points.threshold / 2, depth: L, lambdaU: lambda) == 0)
        let p = 1 - 2 / Double(L)
        let peak = p * s / (1 + p)
        let critical = Foundation.pow(peak, p) * (s - peak)
        #expect(SaxeModes.fixedPoints(s: s, depth: L, lambdaU: 0.99 * critical) != nil)
        #expect(SaxeModes.fixedPoints(s: s, depth: L, lambdaU: 1.01 * critical) == nil)
        let strong = SaxeModes.strength(s: s, a0: s, depth: L, lambdaU: 1.01 * critical, at: [1, 50, .infinity])
        #expect(strong[0] < s && strong[1] < 1e-6 * s && strong[2] == 0, "\(strong)")
        let plain = try #require(SaxeModes.fixedPoints(s: s, depth: L, lambdaU: 0))
        #expect(plain.threshold == 0 && plain.stable == s)
        let two = try #require(SaxeModes.fixedPoints(s: s, depth: 2, lambdaU: lambda))
        #expect(two.threshold == 0 && two.stable == s - lambda)
        #expect(SaxeModes.fixedPoints(s: s, depth: 2, lambdaU: 2 * s) == nil)
    }

    /// Modes are learned in decreasing s, ties by index; from a common small a0 the half-times come in that order.
    @Test func learningOrderFollowsSingularValues() {
        let s = [0.5, 2, 1, 2, 3, 0.75]
        let order = SaxeModes.learningOrder(singularValues: s)
        #expect(order == [4, 1, 3, 2, 5, 0])
        #expect(SaxeModes.learningOrder(singularValues: []).isEmpty)
        for L in [2, 3, 4] {
            let distinct = [0.5, 2, 1, 3, 0.75]
            let half = distinct.map { SaxeModes.halfTime(s: $0, a0: 1e-3, depth: L, lambdaU: 0) }
            let byTime = half.indices.sorted { half[$0] < half[$1] }
            #expect(byTime == SaxeModes.learningOrder(singularValues: distinct), "L = \(L): \(half)")
        }
    }

    /// From a0 = 0 a mode stays at 0 for L ≥ 2 (and never reaches a positive value); at L = 1 it is driven by s:
    /// a = (s/k)(1 − e^{−kt}), k = 1 + λ_u (1e-14).
    @Test func zeroStaysZero() {
        for L in 2...5 {
            for lambda in [0.0, 0.3] {
                let a = SaxeModes.strength(s: 2, a0: 0, depth: L, lambdaU: lambda, at: Self.times + [.infinity])
                #expect(a.allSatisfy { $0 == 0 }, "L = \(L): \(a)")
                #expect(SaxeModes.time(s: 2, a0: 0, depth: L, lambdaU: lambda, toReach: 0.1) == .infinity)
                #expect(SaxeModes.halfTime(s: 2, a0: 0, depth: L, lambdaU: lambda).isNaN)
            }
        }
        let k = 1.3
        let linear = SaxeModes.strength(s: 2, a0: 0, depth: 1, lambdaU: 0.3, at: Self.times)
        for (t, a) in zip(Self.times, linear) {
            #expect(Self.relativeError(a, 2 / k * (1 - Foundation.exp(-k * t))) <= 1e-14)
        }
    }

    /// a(t) is monotone on a dense log grid (rising below a₊, falling above it or below the threshold), and times
    /// given in any order give the same strengths as sorted ones (1e-12).
    @Test(arguments: [1, 2, 3, 4, 5])
    func monotoneInTime(_ L: Int) {
        let t = (0...200).map { 1e-3 * Foundation.pow(10, Double($0) / 40) }
        let threshold = SaxeModes.fixedPoints(s: 1, depth: L, lambdaU: 0.05)?.threshold ?? 0
        for (a0, rising) in [(max(1e-3, 2 * threshold), true), (4.0, false), (threshold / 2, false)] where a0 > 0 {
            let a = SaxeModes.strength(s: 1, a0: a0, depth: L, lambdaU: 0.05, at: t)
            for i in 1..<a.count {
                #expect(rising ? a[i] >= a[i - 1] : a[i] <= a[i - 1], "L = \(L), a0 = \(a0), t = \(t[i])")
            }
            let reversed = SaxeModes.strength(s: 1, a0: a0, depth: L, lambdaU: 0.05, at: t.reversed())
            for (x, y) in zip(reversed.reversed(), a) { #expect(Self.relativeError(x, y) <= 1e-12, "\(x) vs \(y)") }
        }
    }
}
