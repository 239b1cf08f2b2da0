import Foundation

// Gradient flow without the O(η) bias of small-step descent (issue 6): an adaptive Dormand–Prince 5(4)
// integrator with a PI step-size controller, one step size per replica, and the log-scale (mirror-variable)
// representation of the two-layer models that works for any α. Twins: Kernels/flow.cl.

/// How a replica's state is stored.
public enum Representation: String, Sendable, Codable, CaseIterable {
    /// The layers u, v (or u₁…u_L) themselves.
    case layers
    /// pm and uv: the mirror variable z = ρ + c₀ with ρ = −∫g, and ln β per coordinate, so that
    /// w = β·e^{−2λt}·sinh 2z (theory.md §2.1, §2.2, §9). Only ln α is ever stored: any α > 0 works.
    case log
}

/// Settings of the adaptive integrator (`update: flow`).
public struct FlowSettings: Sendable, Codable, Equatable {
    /// Relative tolerance of the local error, per state component (0 < rtol ≤ 1).
    public var rtol: Double = 1e-8
    /// Absolute tolerance of the local error (in ρ for the log representation, in u for the layers).
    public var atol: Double = 1e-10
    /// The first step; nil: chosen from the first derivative.
    public var initialStep: Double? = nil
    /// The largest step; nil: none.
    public var maxStep: Double? = nil
    /// Below this step size (or 16 ulp of t) a replica is frozen and flagged.
    public var minStep: Double = 0
    /// Step attempts allowed per replica over the whole run; past it the replica is frozen and flagged.
    public var maxSteps: Int = 10_000_000

    /// The defaults.
    public init() {}

    /// Settings with the given tolerances.
    public init(rtol: Double, atol: Double) {
        self.rtol = rtol
        self.atol = atol
    }

    /// What is wrong with these settings, if anything.
    public var problem: String? {
        if !(rtol > 0 && rtol <= 1) { return "flow.rtol must be in (0, 1], got \(rtol)" }
        if !(atol > 0 && atol <= 1) { return "flow.atol must be in (0, 1], got \(atol)" }
        if let h = initialStep, !(h > 0 && h.isFinite) { return "flow.initial_step must be positive, got \(h)" }
        if let h = maxStep, !(h > 0 && h.isFinite) { return "flow.max_step must be positive, got \(h)" }
        if !(minStep >= 0 && minStep.isFinite) { return "flow.min_step must be ≥ 0, got \(minStep)" }
        if maxSteps < 1 { return "flow.max_steps must be at least 1, got \(maxSteps)" }
        return nil
    }
}

/// ln|u| and sign(u) of the two initial layers, replica-major (`magnitude[l][b·d + j]`), so that an initial
/// scale far below the floating-point range (α = 1e-300, or 1e-50 in float32) is represented exactly.
public struct LogLayers: Sendable {
    public let magnitude: [[Double]]
    public let sign: [[Double]]

    /// Log magnitudes and signs of layers 0 and 1.
    public init(magnitude: [[Double]], sign: [[Double]]) {
        self.magnitude = magnitude
        self.sign = sign
    }
}

/// What the integrator did, per replica.
public struct FlowCounters: Sendable, Equatable {
    /// Gradient evaluations (6 per attempted step, 1 to start); for fixed-step updates, the steps.
    public var evaluations: [Int]
    /// Rejected step attempts.
    public var rejected: [Int]
    /// `ReplicaStatus` codes: 0 running; 1 step size collapsed below the floor; 2 non-finite state; 3 too many steps.
    public var status: [Int]
    /// Time at which a replica was frozen (NaN while running).
    public var frozenAt: [Double]

    /// Counters of B replicas that have done nothing.
    public init(replicas: Int) {
        evaluations = Array(repeating: 0, count: replicas)
        rejected = Array(repeating: 0, count: replicas)
        status = Array(repeating: 0, count: replicas)
        frozenAt = Array(repeating: .nan, count: replicas)
    }

    /// Words for a status code (`ReplicaStatus.reason`).
    public static func reason(_ status: Int) -> String { ReplicaStatus.reason(status) }
}

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
        [35.0 / 384, 0, 500.0 / 1113, 125.0 / 192, -2187.0 / 6784, 11.0 / 84],
    ]
    /// e = b − b̂: the error estimate's weights (b̂ the embedded 4th-order weights).
    public static let e: [Double] = [71.0 / 57600, 0, -71.0 / 16695, 71.0 / 1920, -17253.0 / 339200, 22.0 / 525, -1.0 / 40]
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
    /// e^x − 1 for x ≤ 0: a Taylor polynomial for x > −1/4 (no cancellation), e^x − 1 below. Twin of dln_expm1.
    @_specialize(where T == Float) @_specialize(where T == Double)
    public static func expm1<T: DLNReal>(_ x: T) -> T {
        if T.self == Float.self { return unsafeBitCast(expm1(float: unsafeBitCast(x, to: Float.self)), to: T.self) }
        return unsafeBitCast(expm1(double: unsafeBitCast(x, to: Double.self)), to: T.self)
    }

    @inline(__always)
    static func expm1(float x: Float) -> Float {
        guard x > -0.25 else { return Float.exponential(x) - 1 }
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
        guard x > -0.25 else { return Double.exponential(x) - 1 }
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
    public static func logWeight<T: DLNReal>(z: T, lnBeta: T, lambda: T, tau: T) -> T {
        let az = abs(z)
        let lm = lnBeta - (2 * lambda) * tau
        let ex = lm + 2 * az - ln2(T.self)
        let mag = T.exponential(ex) * (-expm1(-(4 * az)))
        return z < 0 ? -mag : mag
    }

    /// x^(1/8), x^(1/32), x^(1/64) by repeated square roots.
    @_specialize(where T == Float) @_specialize(where T == Double)
    static func roots<T: DLNReal>(_ x: T) -> (T, T, T) {
        let r2 = x.squareRoot(), r4 = r2.squareRoot(), r8 = r4.squareRoot()
        let r16 = r8.squareRoot(), r32 = r16.squareRoot(), r64 = r32.squareRoot()
        return (r8, r32, r64)
    }

    /// One replica's controller after an attempt. `sum` = Σ (error/scale)² over the state, `invM` = 1/(state
    /// size). Returns (accepted, the new desired step, the new errprev, rejected-before flag); PI control
    /// h·0.9·errprev^{3/64}/err^{11/64}, factor in [0.2, 10], no growth right after a rejection; a rejection
    /// shrinks by 0.9/err^{11/64} ≥ 0.2 (0.1 when the error is not finite). Twin of the control part of
    /// dln_flow_control.
    @_specialize(where T == Float) @_specialize(where T == Double)
    public static func control<T: DLNReal>(sum: T, invM: T, h: T, hdes: T, clamped: Bool, errprev: T, lastRejected: Bool)
        -> (accepted: Bool, hdes: T, errprev: T, rejected: Bool, finite: Bool) {
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

    /// ln|s_a·e^{la} + s_b·e^{lb}| and its sign; nil when the two cancel exactly.
    static func logSum(_ la: Double, _ sa: Double, _ lb: Double, _ sb: Double) -> (Double, Double)? {
        if la == -.infinity && lb == -.infinity { return nil }
        let (big, sbig, small, ssmall) = la >= lb ? (la, sa, lb, sb) : (lb, sb, la, sa)
        let r = Foundation.exp(small - big)
        if sbig == ssmall { return (big + Foundation.log1p(r), sbig) }
        if r >= 1 { return nil }
        return (big + Foundation.log1p(-r), sbig)
    }

    /// The constants of a pm or uv batch; throws where a u₀ or v₀ (pm) or u₀ ± v₀ (uv) is zero or not finite.
    public init(_ batch: Batch) throws(DLNError) {
        let B = batch.replicas.count, d = batch.layout.dimension
        let mags: [[Double]], signs: [[Double]]
        if let li = batch.logInitial {
            (mags, signs) = (li.magnitude, li.sign)
        } else {
            let u = batch.initialLayers[0].doubles, v = batch.initialLayers[1].doubles
            mags = [u.map { Foundation.log(abs($0)) }, v.map { Foundation.log(abs($0)) }]
            signs = [u.map { $0 < 0 ? -1 : 1 }, v.map { $0 < 0 ? -1 : 1 }]
        }
        lnBeta = []; z0 = []; lnHalf = []; sign0 = []; sign1 = []
        for k in 0..<(B * d) {
            let (lu, lv, su, sv) = (mags[0][k], mags[1][k], signs[0][k], signs[1][k])
            let (b, j) = (k / d, k % d)
            switch batch.parameterization {
            case .pm:
                guard lu.isFinite, lv.isFinite else {
                    throw .invalidProblem("replica \(b), coordinate \(j): the log representation needs u₀ and v₀ non-zero and finite (pm)")
                }
                lnBeta.append(lu + lv); z0.append((lu - lv) / 2); lnHalf.append((lu + lv) / 2)
                sign0.append(su); sign1.append(sv)
            case .uv:
                guard let (lp, sp) = Self.logSum(lu, su, lv, sv), let (lq, sq) = Self.logSum(lu, su, lv, -sv),
                      lp.isFinite, lq.isFinite else {
                    throw .invalidProblem("replica \(b), coordinate \(j): the log representation needs u₀² ≠ v₀² (uv; with |u₀| = |v₀| the mirror scale β = |u₀² − v₀²|/2 is 0): use update gd")
                }
                lnBeta.append(lp + lq - Foundation.log(2)); z0.append((lp - lq) / 2); lnHalf.append((lp + lq) / 2)
                sign0.append(sp); sign1.append(sq)
            case .deep:
                preconditionFailure("no log representation for deep")
            }
        }
    }
}

/// The CPU engine's integrator state. Layout as everywhere (`Layout`); component l of a state vector at
/// l·stride. With the layers representation the state *is* the batch's layers.
final class FlowState<T: DLNReal>: @unchecked Sendable {  // blocks touch disjoint slices
    let log: Bool
    let adaptive: Bool
    let components: Int
    let stride: Int
    let y: UnsafeMutablePointer<T>
    let ownsY: Bool
    let f: UnsafeMutablePointer<T>  // 7 derivative buffers, components·stride each
    let ys: UnsafeMutablePointer<T>
    let lnBeta: UnsafeMutablePointer<T>, lnHalf: UnsafeMutablePointer<T>, sign0: UnsafeMutablePointer<T>, sign1: UnsafeMutablePointer<T>
    // Per (padded) replica.
    let t: UnsafeMutablePointer<T>, hdes: UnsafeMutablePointer<T>, errprev: UnsafeMutablePointer<T>, frozenAt: UnsafeMutablePointer<T>
    let lastRejected: UnsafeMutablePointer<Int32>, status: UnsafeMutablePointer<Int32>
    let evaluations: UnsafeMutablePointer<Int32>, rejected: UnsafeMutablePointer<Int32>, attempts: UnsafeMutablePointer<Int32>
    let a: [[T]], c: [T], e: [T]
    let rtol: T, atol: T, hmax: T, hmin: T, invM: T
    let initialStep: T?
    let maxSteps: Int32
    var started = false

    init(_ batch: Batch, layers: UnsafeMutablePointer<T>) throws(DLNError) {
        let lay = batch.layout
        log = batch.representation == .log
        adaptive = batch.update == .flow
        components = log ? 1 : lay.layers
        stride = lay.coordinateCount
        let count = components * stride
        func zeros(_ n: Int) -> UnsafeMutablePointer<T> { CPUBatch<T>.allocate([T](repeating: 0, count: max(1, n))) }
        if log {
            let k = try LogConstants(batch)
            y = CPUBatch<T>.allocate(lay.pack(k.z0.map { T($0) }, length: lay.dimension, fill: 0))
            lnBeta = CPUBatch<T>.allocate(lay.pack(k.lnBeta.map { T($0) }, length: lay.dimension, fill: 0))
            lnHalf = CPUBatch<T>.allocate(lay.pack(k.lnHalf.map { T($0) }, length: lay.dimension, fill: 0))
            sign0 = CPUBatch<T>.allocate(lay.pack(k.sign0.map { T($0) }, length: lay.dimension, fill: 0))
            sign1 = CPUBatch<T>.allocate(lay.pack(k.sign1.map { T($0) }, length: lay.dimension, fill: 0))
            ownsY = true
        } else {
            y = layers
            ownsY = false
            lnBeta = zeros(1); lnHalf = zeros(1); sign0 = zeros(1); sign1 = zeros(1)
        }
        f = zeros(DormandPrince.stages * count)
        ys = zeros(count)
        let P = lay.paddedReplicas
        t = zeros(P); hdes = zeros(P); errprev = zeros(P)
        frozenAt = CPUBatch<T>.allocate([T](repeating: .nan, count: P))
        func ints() -> UnsafeMutablePointer<Int32> {
            let p = UnsafeMutablePointer<Int32>.allocate(capacity: P)
            p.initialize(repeating: 0, count: P)
            return p
        }
        lastRejected = ints(); status = ints(); evaluations = ints(); rejected = ints(); attempts = ints()
        for b in lay.replicas..<P { status[b] = ReplicaStatus.notInShard.rawValue }  // padding lanes never step
        a = DormandPrince.a.map { $0.map { T($0) } }
        c = DormandPrince.c.map { T($0) }
        e = DormandPrince.e.map { T($0) }
        let s = batch.flow
        rtol = T(s.rtol); atol = T(s.atol)
        hmax = T(s.maxStep ?? .infinity)
        hmin = T(s.minStep)
        invM = T(1 / Double(components * lay.dimension))
        initialStep = s.initialStep.map { T($0) }
        maxSteps = Int32(clamping: s.maxSteps)
    }

    deinit {
        if ownsY { y.deallocate() }
        for p in [f, ys, lnBeta, lnHalf, sign0, sign1, t, hdes, errprev, frozenAt] { p.deallocate() }
        for p in [lastRejected, status, evaluations, rejected, attempts] { p.deallocate() }
    }
}
