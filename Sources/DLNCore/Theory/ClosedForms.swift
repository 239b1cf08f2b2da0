import Foundation

/// Closed-form trajectories of gradient flow (theory.md §4.2, oracles O7, O8).
public enum ClosedForm {
    /// `pm` gradient flow on one decoupled coordinate, ℓ = (s/2)(w − w̄)², from u = v = α, λ = 0 (O7):
    /// z = u² solves ż = −s(z² − 2w̄z − α⁴), so z(t) = (z₊ − z₋Ce^{−2sΩt})/(1 − Ce^{−2sΩt}) with Ω = √(w̄² + α⁴),
    /// z± = w̄ ± Ω, C = (α² − z₊)/(α² − z₋), and w = (z − α⁴/z)/2. Evaluated at |w̄| and signed, since
    /// w(t; −w̄) = −w(t; w̄).
    public static func whitened(t: Double, s: Double, target wbar: Double, alpha: Double) -> Double {
        let a = abs(wbar), a2 = alpha * alpha, a4 = a2 * a2
        let omega = (a * a + a4).squareRoot()
        let zp = a + omega, zm = a - omega
        let cc = (a2 - zp) / (a2 - zm)
        let e = Foundation.exp(-2 * s * omega * t)
        let z = (zp - zm * cc * e) / (1 - cc * e)
        let w = (z - a4 / z) / 2
        return wbar < 0 ? -w : w
    }

    /// The time at which the whitened coordinate reaches half its target (O8), exactly from the closed form:
    /// solving w(t) = w̄/2 for z and inverting z(t).
    public static func halfTime(s: Double, target wbar: Double, alpha: Double) -> Double {
        let a = abs(wbar), a2 = alpha * alpha, a4 = a2 * a2
        let omega = (a * a + a4).squareRoot()
        let zp = a + omega, zm = a - omega
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
