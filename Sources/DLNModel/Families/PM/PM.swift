import Foundation

/// pm: w = (u⊙u − v⊙v)/2. Gradient descent u ← u − η(g+λ)·u, v ← v + η(g−λ)·v; the multiplicative update
/// u ← u + u·expm1(−η(g+λ)), v ← v + v·expm1(η(g−λ)); conserved C = u·v (times e^{−2λt}); gradient flow F_u = u(g+λ),
/// F_v = v(λ−g); log representation z with u = s₀e^{h+z−λt}, v = s₁e^{h−z−λt}. Kernel: Kernels/family_pm.cl.
public enum PM: ModelFamily {
    public static let kernelFile = "family_pm.cl"
    public static var kernelSource: [UInt8] { PackageResources.family_pm_cl }
    public static let hasUVMoments = true
    public static let hasEffectiveScale = true

    /// α_eff² = u·v, conserved by gradient flow without weight decay; a GD step multiplies it by (1 − η²g²).
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public static func effectiveScale<T: DLNReal>(u: T, v: T) -> T { u * v }
    public static let fixedDepth: Int? = 2
    public static let hasLogRepresentation = true
    public static let hasMultiplicativeUpdate = true

    /// u(0) = v(0) = α.
    public static func initialFactors(d: Int, depth: Int, settings: InitSettings, rng: CounterRNG) -> [[Double]] {
        [[Double](repeating: 1, count: d), [Double](repeating: 1, count: d)]
    }

    @inline(__always)
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public static func weight<T: DLNReal>(_ layers: UnsafeMutablePointer<T>, at o: Int, stride: Int, depth: Int)
        -> SIMD16<T>
    {
        let u = load(layers, o)
        let v = load(layers, stride + o)
        return (u * u - v * v) * SIMD16<T>(repeating: 0.5)
    }

    @inline(__always)
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public static func descend<T: DLNReal>(
        _ layers: UnsafeMutablePointer<T>, at o: Int, stride: Int, depth: Int,
        eta: SIMD16<T>, lambda: SIMD16<T>, g: SIMD16<T>,
        scratch: UnsafeMutablePointer<SIMD16<T>>
    ) -> SIMD16<T> {
        // u ← u − η(g+λ)·u, v ← v + η(g−λ)·v: the step is formed apart from u and then added (rounding
        // 1 − η(g+λ) first would drop the step's low digits when η(g+λ) is small).
        let su = eta * (g + lambda)
        let sv = eta * (g - lambda)
        let u = load(layers, o)
        let v = load(layers, stride + o)
        let nu = u - su * u
        let nv = v + sv * v
        store(nu, layers, o)
        store(nv, layers, stride + o)
        return (nu * nu - nv * nv) * SIMD16<T>(repeating: 0.5)
    }

    /// The multiplicative update (pm only): u ← u + u·expm1(−η(g+λ)), v ← v + v·expm1(η(g−λ)) (u·e^x with the
    /// small part e^x − 1 kept apart); returns the new w.
    /// Kernel: dln_family_update under MULTIPLICATIVE.
    @inline(__always)
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public static func multiply<T: DLNReal>(
        _ layers: UnsafeMutablePointer<T>, at o: Int, stride: Int, depth: Int,
        eta: SIMD16<T>, lambda: SIMD16<T>, g: SIMD16<T>,
        scratch: UnsafeMutablePointer<SIMD16<T>>
    ) -> SIMD16<T> {
        let a = eta * (g + lambda)
        let c = eta * (g - lambda)
        var fu = SIMD16<T>(repeating: 0)
        var fv = SIMD16<T>(repeating: 0)
        for lane in 0..<16 {
            fu[lane] = FlowMath.expm1(-a[lane])
            fv[lane] = FlowMath.expm1(c[lane])
        }
        let u = load(layers, o)
        let v = load(layers, stride + o)
        let nu = u + u * fu
        let nv = v + v * fv
        store(nu, layers, o)
        store(nv, layers, stride + o)
        return (nu * nu - nv * nv) * SIMD16<T>(repeating: 0.5)
    }

    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public static func flowDerivative<T: DLNReal>(
        _ state: UnsafeMutablePointer<T>, at o: Int, stride: Int, depth: Int,
        g: SIMD16<T>, lambda: SIMD16<T>, into out: UnsafeMutablePointer<T>,
        scratch: UnsafeMutablePointer<SIMD16<T>>
    ) {
        store(load(state, o) * (g + lambda), out, o)
        store(load(state, stride + o) * (lambda - g), out, stride + o)
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
        let c = u * v
        let c0 = u0 * v0
        dev = T.maximum(dev, abs(c - c0 * decay))
        scale = T.maximum(scale, abs(c0))
    }

    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public static func jacobian<T: DLNReal>(_ u: UnsafeMutablePointer<T>, depth: Int, into jac: UnsafeMutablePointer<T>)
    {
        jac[0] = u[0]
        jac[1] = -u[1]
    }

    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public static func hessianApply<T: DLNReal>(
        _ u: UnsafeMutablePointer<T>, _ a: UnsafeMutablePointer<T>, depth: Int, into out: UnsafeMutablePointer<T>
    ) {
        out[0] = a[0]
        out[1] = -a[1]
    }

    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public static func logLayers<T: DLNReal>(p: SIMD16<T>, q: SIMD16<T>) -> (SIMD16<T>, SIMD16<T>) { (p, q) }

    public static func logConstants(lu: Double, su: Double, lv: Double, sv: Double, replica b: Int, coordinate j: Int)
        throws(DLNError) -> (lnBeta: Double, z0: Double, lnHalf: Double, sign0: Double, sign1: Double)
    {
        guard lu.isFinite, lv.isFinite else {
            throw .invalidProblem(
                "replica \(b), coordinate \(j): the log representation needs u₀ and v₀ non-zero and finite (pm)")
        }
        return (lu + lv, (lu - lv) / 2, (lu + lv) / 2, su, sv)
    }
}
