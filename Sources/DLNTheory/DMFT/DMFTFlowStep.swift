import DLNModel
import Foundation

/// One time step of the flow paths: w and q from ρ, and the implicit (trapezoidal) step's scalar equation solved per
/// path, one path at a time or eight in vectors.
extension DMFTFlowPaths {
    /// w = m·sinh 2ρ and q = m·cosh 2ρ from ln m, without overflow or underflow of m.
    @inline(__always)
    static func wq(_ rho: Double, _ lm: Double) -> (w: Double, q: Double) {
        let a = abs(rho)
        let e = exp(lm + 2 * a - M_LN2)
        let x = exp(-4 * a)
        return (rho < 0 ? -e * (1 - x) : e * (1 - x), e * (1 + x))
    }

    /// `wq(_:_:)` with one exponential: e^{−2|ρ|}, and ½m = `half` (= e^{lm − ln 2}, fixed over a time step) given;
    /// the two-exponential form where e^{2|ρ|} or ½m would leave the normal range.
    @inline(__always)
    static func wq(_ rho: Double, _ lm: Double, half: Double) -> (w: Double, q: Double) {
        let a = abs(rho)
        guard a < 300, half >= 1e-280, half <= 1e280 else { return wq(rho, lm) }
        let E = exp(-2 * a)
        let e = half / E
        let x = E * E
        return (rho < 0 ? -e * (1 - x) : e * (1 - x), e * (1 + x))
    }

    /// The root ρ′ of F(ρ′) = ρ′ − c0 + k·w(ρ′) (k ≥ 0, so F′ = 1 + 2k·q > 0 and the root lies between 0 and c0):
    /// Newton's method from ρ, safeguarded by bisection; with w(ρ′) and q(ρ′). When Newton's last step δ is below
    /// 1e-14 they come from the last evaluation to first order (w − 2qδ, q − 2wδ: dw/dρ = 2q, dq/dρ = 2w; the
    /// remainder is O(δ²), below rounding), else from `wq` at the root.
    @inline(__always)
    static func implicitStep(from rho: Double, c0: Double, k: Double, lm: Double, half: Double) -> (
        rho: Double, w: Double, q: Double
    ) {
        var lo = min(0, c0)
        var hi = max(0, c0)
        var x = min(max(rho, lo), hi)
        for _ in 0..<200 {
            let (w, qq) = wq(x, lm, half: half)
            let f = x - c0 + k * w
            if f > 0 { hi = x } else { lo = x }
            let newton = f / (1 + 2 * k * qq)
            if abs(newton) <= 1e-14 * (1 + abs(x)) {
                return (x - newton, w - 2 * qq * newton, qq - 2 * w * newton)
            }
            var next = x - newton
            if abs(newton) > 0.25, let step = logStep(x, f: f, w: w, c0: c0, k: k, lm: lm) { next = step }
            if !(next >= lo && next <= hi) { next = 0.5 * (lo + hi) }
            if hi - lo <= 1e-14 * (1 + abs(x)) { break }
            x = next
        }
        let (w, qq) = wq(x, lm, half: half)
        return (x, w, qq)
    }

    /// Beyond the root on the exponential branch (on c0's side, with y = |x| > 1, c = |c0|: k·|w| > 2(c − y) + 1),
    /// Newton on F moves by only about ½ (F ≈ k·w grows like e^{2y}); there (`implicitStep` asks when Newton's
    /// step exceeds ¼) the step of Newton's method on
    /// ln(k·|w(y)|) = ln(c − y), which is nearly linear in y: ln k|w| = ln k + ln m − ln 2 + 2y + ln(1 − e^{−4y})
    /// (no overflow of w), derivative 2·coth 2y + 1/(c − y). nil elsewhere.
    @inline(__always)
    static func logStep(_ x: Double, f: Double, w: Double, c0: Double, k: Double, lm: Double) -> Double? {
        let s: Double = c0 < 0 ? -1 : 1
        let y = s * x
        let gap = s * c0 - y
        guard s * f > 0, y > 1, gap > 0, k > 0, k * s * w > 2 * gap + 1 else { return nil }
        let e4 = exp(-4 * y)
        let g = log(k) + lm - M_LN2 + 2 * y + log1p(-e4) - log(gap)
        let slope = 2 * (1 + e4) / (1 - e4) + 1 / gap
        return s * (y - g / slope)
    }

    /// `implicitStep` for eight paths at once (the first `lanes`; the others are left at 0): the same safeguarded
    /// Newton iteration lane by lane, in vectors, with `exp8` for e^{−2|ρ|}, so that the paths' iterations overlap
    /// instead of each waiting on its own division and exponential. Outside the range of the one-exponential form
    /// (|ρ| ≥ 300, ½m not normal) a lane finishes with the scalar step.
    @inline(__always)
    static func implicitSteps(
        from rho: SIMD8<Double>, c0: SIMD8<Double>, k: Double, lm: Double, half: Double, lanes: Int
    ) -> (rho: SIMD8<Double>, w: SIMD8<Double>, q: SIMD8<Double>) {
        typealias V = SIMD8<Double>
        typealias Mask = SIMDMask<SIMD8<Int64>>
        let zero = V()
        var lo = pointwiseMin(zero, c0)
        var hi = pointwiseMax(zero, c0)
        var x = pointwiseMin(pointwiseMax(rho, lo), hi)
        var outX = zero
        var outW = zero
        var outQ = zero
        var active = Mask(repeating: false)
        for l in 0..<lanes { active[l] = true }
        func scalar(_ l: Int, from start: Double) {
            let r = implicitStep(from: start, c0: c0[l], k: k, lm: lm, half: half)
            outX[l] = r.rho
            outW[l] = r.w
            outQ[l] = r.q
            active[l] = false
        }
        if !(half >= 1e-280 && half <= 1e280) {
            for l in 0..<lanes { scalar(l, from: x[l]) }
            return (outX, outW, outQ)
        }
        let one = V(repeating: 1)
        for iteration in 0..<200 {
            let a = x.replacing(with: -x, where: x .< zero)
            let far = active .& (a .>= V(repeating: 300))
            if any(far) { for l in 0..<8 where far[l] { scalar(l, from: x[l]) } }
            if !any(active) { break }
            let E = exp8(-2 * a)
            let e = V(repeating: half) / E
            let xx = E * E
            let wa = e * (one - xx)
            let w = wa.replacing(with: -wa, where: x .< zero)
            let q = e * (one + xx)
            let f = x - c0 + k * w
            let up = f .> zero
            hi = hi.replacing(with: x, where: active .& up)
            lo = lo.replacing(with: x, where: active .& .!up)
            let newton = f / (one + 2 * k * q)
            let size = newton.replacing(with: -newton, where: newton .< zero)
            // Lanes still beyond the root on the exponential branch after 8 iterations, where Newton crawls
            // (`logStep`), finish with the scalar step.
            if iteration >= 8 {
                let sf = f.replacing(with: -f, where: c0 .< zero)
                let sw = w.replacing(with: -w, where: c0 .< zero)
                let gap = c0.replacing(with: -c0, where: c0 .< zero) - a
                let steep =
                    active .& (size .> V(repeating: 0.25)) .& (sf .> zero) .& (a .> one) .& (gap .> zero)
                    .& (k * sw .> 2 * gap + one)
                if any(steep) {
                    for l in 0..<8 where steep[l] { scalar(l, from: x[l]) }
                    if !any(active) { break }
                }
            }
            let done = active .& (size .<= 1e-14 * (one + a))
            outX = outX.replacing(with: x - newton, where: done)
            outW = outW.replacing(with: w - 2 * q * newton, where: done)
            outQ = outQ.replacing(with: q - 2 * w * newton, where: done)
            active .&= .!done
            if !any(active) { break }
            var next = x - newton
            next = next.replacing(with: 0.5 * (lo + hi), where: .!((next .>= lo) .& (next .<= hi)))
            let narrow = active .& (hi - lo .<= 1e-14 * (one + a))
            if any(narrow) {
                for l in 0..<8 where narrow[l] {
                    let (wl, ql) = wq(x[l], lm, half: half)
                    outX[l] = x[l]
                    outW[l] = wl
                    outQ[l] = ql
                    active[l] = false
                }
            }
            x = x.replacing(with: next, where: active)
        }
        for l in 0..<8 where active[l] {
            let (wl, ql) = wq(x[l], lm, half: half)
            outX[l] = x[l]
            outW[l] = wl
            outQ[l] = ql
        }
        return (outX, outW, outQ)
    }

    /// e^x for x in [−708, 0], lane by lane: x = n·ln 2 + r (Cody–Waite, |r| ≤ ½ln 2), e^r by its Taylor polynomial
    /// of degree 13 (truncation below 1e-17 relative), times 2ⁿ through the exponent bits; within about one ulp of
    /// the C library's `exp`.
    @inline(__always)
    static func exp8(_ x: SIMD8<Double>) -> SIMD8<Double> {
        typealias V = SIMD8<Double>
        // n = round(x/ln 2) by adding 1.5·2⁵²: the sum's low mantissa bits are n (two's complement), read back below.
        let shifter = V(repeating: 6_755_399_441_055_744)
        let t = x * 1.4426950408889634 + shifter
        let n = t - shifter
        let r = (x - n * 6.93147180369123816490e-01) - n * 1.90821492927058770002e-10
        var p = V(repeating: 1.0 / 6_227_020_800)  // 1/13!
        p = p * r + 2.08767569878681e-09  // 1/12!
        p = p * r + 2.505210838544172e-08  // 1/11!
        p = p * r + 2.755731922398589e-07  // 1/10!
        p = p * r + 2.7557319223985893e-06  // 1/9!
        p = p * r + 2.48015873015873e-05  // 1/8!
        p = p * r + 0.0001984126984126984  // 1/7!
        p = p * r + 0.001388888888888889  // 1/6!
        p = p * r + 0.008333333333333333  // 1/5!
        p = p * r + 0.041666666666666664  // 1/4!
        p = p * r + 0.16666666666666666  // 1/3!
        p = p * r + 0.5  // 1/2!
        p = p * r + 1.0  // 1/1!
        p = p * r + 1.0  // 1/0!
        let bits = (unsafeBitCast(t, to: SIMD8<Int64>.self) &- 0x4338_0000_0000_0000 &+ 1023) &<< 52
        return p * unsafeBitCast(bits, to: V.self)
    }
}
