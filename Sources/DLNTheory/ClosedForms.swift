import DLNModel
import Foundation

/// Closed-form trajectories of gradient flow (docs/model.md §4.2, oracles O7, O8).
public enum ClosedForm {
    /// `pm` gradient flow on one decoupled coordinate, ℓ = (s/2)(w − w̄)², from u = v = α, λ = 0 (O7):
    /// z = u² solves ż = −s(z² − 2w̄z − α⁴), so z(t) = (z₊ − z₋Ce^{−2sΩt})/(1 − Ce^{−2sΩt}) with Ω = √(w̄² + α⁴),
    /// z± = w̄ ± Ω, C = (α² − z₊)/(α² − z₋), and w = (z − α⁴/z)/2. Evaluated at |w̄| and signed, since
    /// w(t; −w̄) = −w(t; w̄).
    public static func whitened(t: Double, s: Double, target wbar: Double, alpha: Double) -> Double {
        let a = abs(wbar)
        let a2 = alpha * alpha
        let a4 = a2 * a2
        let omega = (a * a + a4).squareRoot()
        let zp = a + omega
        let zm = a - omega
        let cc = (a2 - zp) / (a2 - zm)
        let e = Foundation.exp(-2 * s * omega * t)
        let z = (zp - zm * cc * e) / (1 - cc * e)
        let w = (z - a4 / z) / 2
        return wbar < 0 ? -w : w
    }

    /// The time at which the whitened coordinate reaches half its target (O8), exactly from the closed form:
    /// solving w(t) = w̄/2 for z and inverting z(t).
    public static func halfTime(s: Double, target wbar: Double, alpha: Double) -> Double {
        let a = abs(wbar)
        let a2 = alpha * alpha
        let a4 = a2 * a2
        let omega = (a * a + a4).squareRoot()
        let zp = a + omega
        let zm = a - omega
        let cc = (a2 - zp) / (a2 - zm)
        let half = a / 2
        let z = half + (half * half + a4).squareRoot()  // (z − α⁴/z)/2 = w̄/2
        // z = (z₊ − z₋Ce)/(1 − Ce) ⇒ e = (z₊ − z)/(C(z₋ − z))
        let e = (zp - z) / (cc * (zm - z))
        return -Foundation.log(e) / (2 * s * omega)
    }

    /// The small-α approximation of the half time, ln(2w̄/α²)/(2s·w̄) (O8).
    public static func halfTimeSmallAlpha(s: Double, target wbar: Double, alpha: Double) -> Double {
        Foundation.log(2 * abs(wbar) / (alpha * alpha)) / (2 * s * abs(wbar))
    }
}

extension ClosedForm {
    /// Depth L with every layer at α (θ = u^L, θ(0) = α^L), one decoupled coordinate with ∇F = s(θ − θ̄),
    /// 0 < θ(0) < θ < θ̄ (docs/model.md §4.2, O7b): the time to reach θ,
    ///     t(θ) = ∫_{θ₀}^{θ} dθ′ / (L·s·θ′^{2−2/L}(θ̄ − θ′)),
    /// by adaptive Simpson quadrature in ln θ′ (relative tolerance 1e-12). For L = 2 it equals the logistic.
    public static func deepTime(theta: Double, depth L: Int, s: Double, target: Double, alpha: Double) -> Double {
        let theta0 = Foundation.pow(alpha, Double(L))
        precondition(theta0 > 0 && theta > theta0 && theta < target, "needs 0 < α^L < θ < θ̄")
        // The 1/(θ̄ − θ′) singularity is taken out analytically:
        //   t = θ̄^{−q}/(Ls)·ln((θ̄ − θ₀)/(θ̄ − θ)) + ∫ (θ′^{−q} − θ̄^{−q})/(Ls(θ̄ − θ′)) dθ′,  q = 2 − 2/L,
        // and the regular remainder is integrated in ln θ′.
        let q = 2 - 2 / Double(L)
        let ls = Double(L) * s
        let tq = Foundation.pow(target, -q)
        let singular = tq / ls * Foundation.log((target - theta0) / (target - theta))
        func f(_ x: Double) -> Double {
            let th = Foundation.exp(x)
            return th * (Foundation.pow(th, -q) - tq) / (ls * (target - th))
        }
        return singular + Quadrature.simpson(f, Foundation.log(theta0), Foundation.log(theta), tolerance: 1e-12)
    }

    /// θ(t) for the same problem: the logistic θ̄/(1 + (θ̄/θ₀ − 1)e^{−2sθ̄t}) for L = 2; for L ≥ 3, Newton's method
    /// on `deepTime` (dt/dθ is the integrand), safeguarded by bisection.
    public static func deepTheta(t: Double, depth L: Int, s: Double, target: Double, alpha: Double) -> Double {
        let theta0 = Foundation.pow(alpha, Double(L))
        if L == 2 { return target / (1 + (target / theta0 - 1) * Foundation.exp(-2 * s * target * t)) }
        if t <= 0 { return theta0 }
        var lo = theta0
        var hi = target
        var theta = min(
            max(deepTheta(t: t, depth: 2, s: s, target: target, alpha: alpha), lo * 1.0001), 0.5 * (lo + hi))
        for _ in 0..<100 {
            let value = deepTime(theta: theta, depth: L, s: s, target: target, alpha: alpha) - t
            if value < 0 { lo = theta } else { hi = theta }
            if abs(value) <= 1e-13 * max(t, 1) || hi - lo <= 1e-15 * hi { break }
            let slope = 1 / (Double(L) * s * Foundation.pow(theta, 2 - 2 / Double(L)) * (target - theta))
            var next = theta - value / slope
            if !(next > lo && next < hi) { next = 0.5 * (lo + hi) }
            theta = next
        }
        return theta
    }

    /// The escape-time approximation α^{−(L−2)}/(s·θ̄·(L − 2)) for L ≥ 3 (polynomial in 1/α).
    public static func deepEscapeTime(depth L: Int, s: Double, target: Double, alpha: Double) -> Double {
        Foundation.pow(alpha, -Double(L - 2)) / (s * target * Double(L - 2))
    }
}

/// Adaptive Simpson quadrature.
public enum Quadrature {
    /// ∫_a^b f to the relative tolerance (Richardson-corrected adaptive Simpson, depth ≤ 40).
    public static func simpson(_ f: (Double) -> Double, _ a: Double, _ b: Double, tolerance: Double) -> Double {
        func rec(
            _ a: Double, _ b: Double, _ fa: Double, _ fm: Double, _ fb: Double, _ whole: Double, _ eps: Double,
            _ depth: Int
        ) -> Double {
            let m = 0.5 * (a + b)
            let lm = 0.5 * (a + m)
            let rm = 0.5 * (m + b)
            let flm = f(lm)
            let frm = f(rm)
            let left = (m - a) / 6 * (fa + 4 * flm + fm)
            let right = (b - m) / 6 * (fm + 4 * frm + fb)
            let delta = left + right - whole
            if depth >= 40 || abs(delta) <= 15 * eps { return left + right + delta / 15 }
            return rec(a, m, fa, flm, fm, left, eps / 2, depth + 1) + rec(m, b, fm, frm, fb, right, eps / 2, depth + 1)
        }
        let fa = f(a)
        let fb = f(b)
        let fm = f(0.5 * (a + b))
        let whole = (b - a) / 6 * (fa + 4 * fm + fb)
        return rec(a, b, fa, fm, fb, whole, tolerance * max(abs(whole), 1e-300), 0)
    }
}

extension ClosedForm {
    /// The Woodworth et al. depth-D model w = u^D − v^D, u(0) = v(0) = α, λ = 0 (docs/model.md §4.2): along gradient
    /// flow each coordinate is a fixed function of ρ = −∫g,
    ///     D = 2: w = 2α²·sinh(4ρ);   D ≥ 3: w = α^D·h_D(D(D−2)α^{D−2}ρ),
    ///     h_D(z) = (1 − z)^{−D/(D−2)} − (1 + z)^{−D/(D−2)}   (|z| < 1).
    public static func woodworth(rho: Double, depth D: Int, alpha: Double) -> Double {
        if D == 2 { return 2 * alpha * alpha * Foundation.sinh(4 * rho) }
        let z = Double(D) * Double(D - 2) * Foundation.pow(alpha, Double(D - 2)) * rho
        precondition(abs(z) < 1, "ρ beyond the flow's reach (|z| ≥ 1)")
        let e = -Double(D) / Double(D - 2)
        return Foundation.pow(alpha, Double(D)) * (Foundation.pow(1 - z, e) - Foundation.pow(1 + z, e))
    }

    /// The implicit-bias potential of the depth-D model for D = 2: Q(w) = α²Σq(w_i/α²),
    /// q(z) = 2 − √(4 + z²) + z·arcsinh(z/2).
    public static func woodworthPotential2(_ w: [Double], alpha: Double) -> Double {
        let a2 = alpha * alpha
        return a2
            * w.reduce(0) { acc, wi in
                let z = wi / a2
                return acc + 2 - (4 + z * z).squareRoot() + z * Foundation.asinh(z / 2)
            }
    }
}
