import Foundation

/// The Dormand–Prince 5(4) tableau (FSAL: stage 7 is evaluated at the new state) and the controller's
/// constants. The host rounds them to the run's precision and hands the same numbers to every engine.
public enum DormandPrince {
    /// Nodes c₁…c₇.
    public static let c: [Double] = [0, 1.0 / 5, 3.0 / 10, 4.0 / 5, 8.0 / 9, 1, 1]
    /// a[s][k]: stage s (0-based) from the derivatives of stages k < s. Row 6 is the 5th-order weights b.
    public static let a: [[Double]] = [
        [],
        [1.0 / 5],
        [3.0 / 40, 9.0 / 40],
        [44.0 / 45, -56.0 / 15, 32.0 / 9],
        [19372.0 / 6561, -25360.0 / 2187, 64448.0 / 6561, -212.0 / 729],
        [9017.0 / 3168, -355.0 / 33, 46732.0 / 5247, 49.0 / 176, -5103.0 / 18656],
        [35.0 / 384, 0, 500.0 / 1113, 125.0 / 192, -2187.0 / 6784, 11.0 / 84]
    ]
    /// e = b − b̂: the error estimate's weights (b̂ the embedded 4th-order weights).
    public static let e: [Double] = [
        71.0 / 57600, 0, -71.0 / 16695, 71.0 / 1920, -17253.0 / 339200, 22.0 / 525, -1.0 / 40
    ]
    /// Stages per step.
    public static let stages = 7
    /// New gradient evaluations per attempted step (FSAL reuses the last).
    public static let evaluationsPerStep = 6

    /// The 7×7 lower-triangular a (zeros above), row-major, then c, then e: 63 numbers for the kernels.
    public static var packed: [Double] {
        var out: [Double] = []
        for s in 0..<stages { out += a[s] + [Double](repeating: 0, count: stages - a[s].count) }
        return out + c + e
    }
}

/// Scalar twins of the functions in Kernels/flow.cl: the log-representation weight, e^x − 1 and the step
/// controller. Only correctly rounded operations (+ − × ÷ √), so the CPU engine and PoCL agree bit for bit.
public enum FlowMath {
    /// e^x − 1: a Taylor polynomial for |x| < 1/4 (no cancellation), e^x − 1 elsewhere. Twin of dln_expm1.
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public static func expm1<T: DLNReal>(_ x: T) -> T {
        if T.self == Float.self { return unsafeBitCast(expm1(float: unsafeBitCast(x, to: Float.self)), to: T.self) }
        return unsafeBitCast(expm1(double: unsafeBitCast(x, to: Double.self)), to: T.self)
    }

    @inline(__always)
    static func expm1(float x: Float) -> Float {
        guard x > -0.25 && x < 0.25 else { return Float.exponential(x) - 1 }
        var p: Float = 2.4801588e-05
        p = p * x + 1.984127e-04
        p = p * x + 1.3888889e-03
        p = p * x + 8.333334e-03
        p = p * x + 4.1666668e-02
        p = p * x + 1.6666667e-01
        p = p * x + 0.5
        p = p * x + 1
        return p * x
    }

    @inline(__always)
    static func expm1(double x: Double) -> Double {
        guard x > -0.25 && x < 0.25 else { return Double.exponential(x) - 1 }
        var p: Double = 1.1470745597729725e-11
        p = p * x + 1.6059043836821613e-10
        p = p * x + 2.08767569878681e-09
        p = p * x + 2.505210838544172e-08
        p = p * x + 2.755731922398589e-07
        p = p * x + 2.7557319223985893e-06
        p = p * x + 2.48015873015873e-05
        p = p * x + 0.0001984126984126984
        p = p * x + 0.001388888888888889
        p = p * x + 0.008333333333333333
        p = p * x + 0.041666666666666664
        p = p * x + 0.16666666666666666
        p = p * x + 0.5
        p = p * x + 1
        return p * x
    }

    /// ln 2 in the run's precision.
    @inline(__always) static func ln2<T: DLNReal>(_: T.Type) -> T { T(0.6931471805599453) }

    /// w = β·e^{−2λτ}·sinh 2z evaluated as sign(z)·exp(ln β − 2λτ + 2|z| − ln 2)·(1 − e^{−4|z|}): no overflow
    /// or underflow for any ln β, no cancellation near z = 0. Twin of dln_logweight.
    @_specialize(where T == Float) @_specialize(where T == Double)
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public static func logWeight<T: DLNReal>(z: T, lnBeta: T, lambda: T, tau: T) -> T {
        let az = abs(z)
        let lm = lnBeta - (2 * lambda) * tau
        let ex = lm + 2 * az - ln2(T.self)
        let mag = T.exponential(ex) * (-expm1(-(4 * az)))
        return z < 0 ? -mag : mag
    }

    /// x^(1/8), x^(1/32), x^(1/64) by repeated square roots.
    @_specialize(where T == Float) @_specialize(where T == Double)
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    static func roots<T: DLNReal>(_ x: T) -> (T, T, T) {
        let r2 = x.squareRoot()
        let r4 = r2.squareRoot()
        let r8 = r4.squareRoot()
        let r16 = r8.squareRoot()
        let r32 = r16.squareRoot()
        let r64 = r32.squareRoot()
        return (r8, r32, r64)
    }

    /// One replica's controller after an attempt. `sum` = Σ (error/scale)² over the state, `invM` = 1/(state
    /// size). Returns (accepted, the new desired step, the new errprev, rejected-before flag); PI control
    /// h·0.9·errprev^{3/64}/err^{11/64}, factor in [0.2, 10], no growth right after a rejection; a rejection
    /// shrinks by 0.9/err^{11/64} ≥ 0.2 (0.1 when the error is not finite). Twin of the control part of
    /// dln_flow_control.
    @_specialize(where T == Float) @_specialize(where T == Double)
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public static func control<T: DLNReal>(
        sum: T, invM: T, h: T, hdes: T, clamped: Bool, errprev: T, lastRejected: Bool
    )
        -> (accepted: Bool, hdes: T, errprev: T, rejected: Bool, finite: Bool)
    {
        let err = (sum * invM).squareRoot()
        if err <= 1 {
            var fac: T = 10
            if err > 0 {
                let (e8, e32, e64) = roots(err)
                let (_, p32, p64) = roots(errprev)
                fac = (T(0.9) * (p32 * p64)) / ((e8 * e32) * e64)
                fac = fac < 0.2 ? 0.2 : fac
                fac = fac > 10 ? 10 : fac
            }
            if lastRejected && fac > 1 { fac = 1 }
            var hn = h * fac
            if clamped && fac >= 10 && hdes > hn { hn = hdes }
            let ep: T = err > T(1e-4) ? err : T(1e-4)
            return (true, hn, ep, false, true)
        }
        let finite = err.isFinite
        var fac: T = 0.1
        if finite {
            let (e8, e32, e64) = roots(err)
            fac = T(0.9) / ((e8 * e32) * e64)
            fac = fac < 0.2 ? 0.2 : fac
        }
        return (false, h * fac, errprev, true, finite)
    }

    /// The floor below which a step counts as collapsed: max(min_step, 16 ulp of t, 1e-30).
    @_specialize(where T == Float) @_specialize(where T == Double)
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public static func floor<T: DLNReal>(t: T, minStep: T) -> T {
        var f = T(16) * T.ulpOfOne * abs(t)
        if f < minStep { f = minStep }
        if f < T(1e-30) { f = T(1e-30) }
        return f
    }
}

/// The log representation's per-coordinate constants, computed on the host in Double from ln|u₀|, ln|v₀|.
/// Public so that every engine (the OpenCL engine uploads them) starts from the same numbers.
public struct LogConstants: Sendable {
    /// ln β, z(0), ln h (the half-log that rebuilds the layers) and the two signs, replica-major (b·d + j).
    public var lnBeta: [Double], z0: [Double], lnHalf: [Double], sign0: [Double], sign1: [Double]

    /// The constants of a pm or uv batch; throws where a u₀ or v₀ (pm) or u₀ ± v₀ (uv) is zero or not finite.
    public init(_ batch: Batch) throws(DLNError) {
        let B = batch.replicas.count
        let d = batch.layout.dimension
        let mags: [[Double]]
        let signs: [[Double]]
        if let li = batch.logInitial {
            (mags, signs) = (li.magnitude, li.sign)
        } else {
            let u = batch.initialLayers[0].doubles
            let v = batch.initialLayers[1].doubles
            mags = [u.map { Foundation.log(abs($0)) }, v.map { Foundation.log(abs($0)) }]
            signs = [u.map { $0 < 0 ? -1 : 1 }, v.map { $0 < 0 ? -1 : 1 }]
        }
        lnBeta = []
        z0 = []
        lnHalf = []
        sign0 = []
        sign1 = []
        let family = batch.parameterization.family
        for k in 0..<(B * d) {
            let (lu, lv, su, sv) = (mags[0][k], mags[1][k], signs[0][k], signs[1][k])
            let c = try family.logConstants(lu: lu, su: su, lv: lv, sv: sv, replica: k / d, coordinate: k % d)
            lnBeta.append(c.lnBeta)
            z0.append(c.z0)
            lnHalf.append(c.lnHalf)
            sign0.append(c.sign0)
            sign1.append(c.sign1)
        }
    }
}
