import Foundation

/// uv: w = u⊙v. Gradient descent u ← u − η(g·v + λu), v ← v − η(g·u + λv) (old u, v on the right); conserved
/// C = u·u − v·v (times e^{−2λt}); gradient flow F_u = g·v + λu, F_v = g·u + λv; log representation with
/// p = u+v, q = u−v as pm's u, v. Kernel: Kernels/family_uv.cl.
public enum UV: ModelFamily {
    public static let kernelFile = "family_uv.cl"
    public static var kernelSource: [UInt8] { PackageResources.family_uv_cl }
    public static let hasUVMoments = true
    public static let hasEffectiveScale = true

    /// α_eff² = u·u − v·v, conserved by gradient flow without weight decay; a GD step multiplies it by (1 − η²g²).
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public static func effectiveScale<T: DLNReal>(u: T, v: T) -> T { u * u - v * v }
    public static let fixedDepth: Int? = 2
    public static let hasLogRepresentation = true
    public static let hasMultiplicativeUpdate = false

    /// u(0) = α(1 + s·ξ), v(0) = α·s′·ξ′ with ξ, ξ′ ~ N(0, 1) from the replica's generator (s = u_noise,
    /// s′ = v_noise).
    public static func initialFactors(d: Int, depth: Int, settings: InitSettings, rng: CounterRNG) -> [[Double]] {
        let u = (0..<d).map { j in
            settings.uNoise == 0
                ? 1 : 1 + settings.uNoise * rng.gaussian(stream: RandomStream.initU.rawValue, index: UInt64(j))
        }
        let v = (0..<d).map { j in
            settings.vNoise == 0
                ? 0 : settings.vNoise * rng.gaussian(stream: RandomStream.initV.rawValue, index: UInt64(j))
        }
        return [u, v]
    }

    @inline(__always)
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public static func weight<T: DLNReal>(_ layers: UnsafeMutablePointer<T>, at o: Int, stride: Int, depth: Int)
        -> SIMD16<T>
    {
        load(layers, o) * load(layers, stride + o)
    }

    @inline(__always)
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public static func descend<T: DLNReal>(
        _ layers: UnsafeMutablePointer<T>, at o: Int, stride: Int, depth: Int,
        eta: SIMD16<T>, lambda: SIMD16<T>, g: SIMD16<T>,
        scratch: UnsafeMutablePointer<SIMD16<T>>
    ) -> SIMD16<T> {
        let ou = load(layers, o)
        let ov = load(layers, stride + o)
        let nu = ou - eta * (g * ov + lambda * ou)
        let nv = ov - eta * (g * ou + lambda * ov)
        store(nu, layers, o)
        store(nv, layers, stride + o)
        return nu * nv
    }

    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public static func flowDerivative<T: DLNReal>(
        _ state: UnsafeMutablePointer<T>, at o: Int, stride: Int, depth: Int,
        g: SIMD16<T>, lambda: SIMD16<T>, into out: UnsafeMutablePointer<T>,
        scratch: UnsafeMutablePointer<SIMD16<T>>
    ) {
        let u = load(state, o)
        let v = load(state, stride + o)
        store(g * v + lambda * u, out, o)
        store(g * u + lambda * v, out, stride + o)
    }

    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public static func conservation<T: DLNReal>(
        _ layers: UnsafeMutablePointer<T>, _ initial: UnsafeMutablePointer<T>, at o: Int,
        stride: Int, depth: Int, decay: T, dev: inout T, scale: inout T
    ) {
        let u = layers[o]
        let v = layers[stride + o]
        let u0 = initial[o]
        let v0 = initial[stride + o]
        let c = u * u - v * v
        let c0 = u0 * u0 - v0 * v0
        dev = T.maximum(dev, abs(c - c0 * decay))
        scale = T.maximum(scale, abs(c0))
    }

    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public static func jacobian<T: DLNReal>(_ u: UnsafeMutablePointer<T>, depth: Int, into jac: UnsafeMutablePointer<T>)
    {
        jac[0] = u[1]
        jac[1] = u[0]
    }

    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public static func hessianApply<T: DLNReal>(
        _ u: UnsafeMutablePointer<T>, _ a: UnsafeMutablePointer<T>, depth: Int, into out: UnsafeMutablePointer<T>
    ) {
        out[0] = a[1]
        out[1] = a[0]
    }

    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public static func logLayers<T: DLNReal>(p: SIMD16<T>, q: SIMD16<T>) -> (SIMD16<T>, SIMD16<T>) {
        ((p + q) * SIMD16<T>(repeating: 0.5), (p - q) * SIMD16<T>(repeating: 0.5))
    }

    /// ln|s_a·e^{la} + s_b·e^{lb}| and its sign; nil when the two cancel exactly.
    static func logSum(_ la: Double, _ sa: Double, _ lb: Double, _ sb: Double) -> (Double, Double)? {
        if la == -.infinity && lb == -.infinity { return nil }
        let (big, sbig, small, ssmall) = la >= lb ? (la, sa, lb, sb) : (lb, sb, la, sa)
        let r = Foundation.exp(small - big)
        if sbig == ssmall { return (big + Foundation.log1p(r), sbig) }
        if r >= 1 { return nil }
        return (big + Foundation.log1p(-r), sbig)
    }

    public static func logConstants(lu: Double, su: Double, lv: Double, sv: Double, replica b: Int, coordinate j: Int)
        throws(DLNError) -> (lnBeta: Double, z0: Double, lnHalf: Double, sign0: Double, sign1: Double)
    {
        guard let (lp, sp) = logSum(lu, su, lv, sv), let (lq, sq) = logSum(lu, su, lv, -sv), lp.isFinite, lq.isFinite
        else {
            throw .invalidProblem(
                "replica \(b), coordinate \(j): the log representation needs u₀² ≠ v₀² (uv; with |u₀| = |v₀| the "
                    + "mirror scale β = |u₀² − v₀²|/2 is 0): use update gd"
            )
        }
        return (lp + lq - Foundation.log(2), (lp - lq) / 2, (lp + lq) / 2, sp, sq)
    }
}
