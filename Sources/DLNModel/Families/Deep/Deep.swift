/// deep: w = u₁⊙…⊙u_L (L = depth ≥ 2, product in ascending l). Gradient descent
/// u_l ← u_l − η(g·∏_{k≠l} u_k + λu_l) from the old layers (∏ in ascending k); conserved C_l = u_l² − u_0²
/// (l ≥ 1, times e^{−2λt}); gradient flow F_l = g·∏_{k≠l} u_k + λu_l; no log representation, no mean_uv/mean_q.
/// Kernel: Kernels/family_deep.cl.
public enum Deep: ModelFamily {
    public static let kernelFile = "family_deep.cl"
    public static var kernelSource: [UInt8] { PackageResources.family_deep_cl }
    public static let hasUVMoments = false
    public static let fixedDepth: Int? = nil
    public static let hasLogRepresentation = false
    public static let hasMultiplicativeUpdate = false

    /// u_l(0) = α·c_l (c = layer_scales, all 1 by default), times ξ_l,j ~ N(0, 1) with `entries: gaussian`, the first
    /// layer times ±1 with `signs: random`.
    public static func initialFactors(d: Int, depth: Int, settings: InitSettings, rng: CounterRNG) -> [[Double]] {
        (0..<depth).map { l in
            (0..<d).map { j in
                settings.deepFactor(
                    scale: settings.layerScales?[l] ?? 1, layer: l, first: l == 0, d: d, coordinate: j, rng: rng)
            }
        }
    }

    /// ∏_{k≠l} u_k in ascending k. Kernel: dln_prod_except.
    @inline(__always)
    static func productExcept<T: DLNReal>(_ u: UnsafeMutablePointer<SIMD16<T>>, depth: Int, _ l: Int) -> SIMD16<T> {
        var p = SIMD16<T>(repeating: 1)
        var started = false
        for k in 0..<depth where k != l {
            p = started ? p * u[k] : u[k]
            started = true
        }
        return p
    }

    @inline(__always)
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public static func weight<T: DLNReal>(_ layers: UnsafeMutablePointer<T>, at o: Int, stride: Int, depth: Int)
        -> SIMD16<T>
    {
        var p = load(layers, o)
        for l in 1..<depth { p = p * load(layers, l * stride + o) }
        return p
    }

    @inline(__always)
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public static func descend<T: DLNReal>(
        _ layers: UnsafeMutablePointer<T>, at o: Int, stride: Int, depth: Int,
        eta: SIMD16<T>, lambda: SIMD16<T>, g: SIMD16<T>,
        scratch: UnsafeMutablePointer<SIMD16<T>>
    ) -> SIMD16<T> {
        let u = scratch
        let next = scratch + depth
        for l in 0..<depth { u[l] = load(layers, l * stride + o) }
        var prod = SIMD16<T>(repeating: 0)
        for l in 0..<depth {
            next[l] = u[l] - eta * (g * productExcept(u, depth: depth, l) + lambda * u[l])
            store(next[l], layers, l * stride + o)
            prod = l == 0 ? next[l] : prod * next[l]
        }
        return prod
    }

    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public static func flowDerivative<T: DLNReal>(
        _ state: UnsafeMutablePointer<T>, at o: Int, stride: Int, depth: Int,
        g: SIMD16<T>, lambda: SIMD16<T>, into out: UnsafeMutablePointer<T>,
        scratch: UnsafeMutablePointer<SIMD16<T>>
    ) {
        for l in 0..<depth { scratch[l] = load(state, l * stride + o) }
        for l in 0..<depth {
            store(g * productExcept(scratch, depth: depth, l) + lambda * scratch[l], out, l * stride + o)
        }
    }

    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public static func conservation<T: DLNReal>(
        _ layers: UnsafeMutablePointer<T>, _ initial: UnsafeMutablePointer<T>, at o: Int,
        stride: Int, depth: Int, decay: T, dev: inout T, scale: inout T
    ) {
        let a = layers[o]
        let a0 = initial[o]
        for l in 1..<depth {
            let c = layers[l * stride + o] * layers[l * stride + o] - a * a
            let c0 = initial[l * stride + o] * initial[l * stride + o] - a0 * a0
            dev = T.maximum(dev, abs(c - c0 * decay))
            scale = T.maximum(scale, abs(c0))
        }
    }
}

extension Deep {
    /// ∏_{k≠m} u[base + k], k < count, in ascending k (scalars). Kernels: dln_prod_except, dln_half_prod_except.
    @inline(__always)
    static func scalarProductExcept<T: DLNReal>(_ u: UnsafeMutablePointer<T>, base: Int, count: Int, _ m: Int) -> T {
        var p: T = 1
        var started = false
        for k in 0..<count where k != m {
            p = started ? p * u[base + k] : u[base + k]
            started = true
        }
        return p
    }

    /// out[base + m] = ±Σ_{p≠m} a[base+p]·∏_{k≠m,p} u[base+k] (a first, the u in ascending k; sums in ascending p
    /// from 0), the sign − when `negate`. Kernels: dln_family_hessian_apply of family_deep.cl and family_deep_pm.cl.
    @inline(__always)
    static func productHessianApply<T: DLNReal>(
        _ u: UnsafeMutablePointer<T>, _ a: UnsafeMutablePointer<T>, base: Int, count: Int, negate: Bool,
        into out: UnsafeMutablePointer<T>
    ) {
        for m in 0..<count {
            var s: T = 0
            for p in 0..<count where p != m {
                var t = a[base + p]
                for k in 0..<count where k != m && k != p { t = t * u[base + k] }
                s = s + t
            }
            out[base + m] = negate ? -s : s
        }
    }

    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public static func jacobian<T: DLNReal>(_ u: UnsafeMutablePointer<T>, depth: Int, into jac: UnsafeMutablePointer<T>)
    {
        for m in 0..<depth { jac[m] = scalarProductExcept(u, base: 0, count: depth, m) }
    }

    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public static func hessianApply<T: DLNReal>(
        _ u: UnsafeMutablePointer<T>, _ a: UnsafeMutablePointer<T>, depth: Int, into out: UnsafeMutablePointer<T>
    ) {
        productHessianApply(u, a, base: 0, count: depth, negate: false, into: out)
    }
}
