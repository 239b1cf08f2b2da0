/// deep_pm: w = u₁⊙…⊙u_L − v₁⊙…⊙v_L (L = depth ≥ 2; 2L layers stored u_1…u_L then v_1…v_L; each product in
/// ascending l). Gradient descent u_l ← u_l − η(g·∏_{k≠l} u_k + λu_l), v_l ← v_l − η((−g)·∏_{k≠l} v_k + λv_l) from
/// the old layers; conserved u_l² − u_1², v_l² − v_1² (times e^{−2λt}); gradient flow F = the same directions; no log
/// representation, no multiplicative update, no mean_uv/mean_q. u_l(0) = v_l(0) = α·c_l, so w(0) = 0.
/// Kernel: Kernels/family_deep_pm.cl.
public enum DeepPM: ModelFamily {
    public static let kernelFile = "family_deep_pm.cl"
    public static var kernelSource: [UInt8] { PackageResources.family_deep_pm_cl }
    public static let hasUVMoments = false
    public static let fixedDepth: Int? = nil
    public static let hasLogRepresentation = false
    public static let hasMultiplicativeUpdate = false
    public static func layerCount(depth: Int) -> Int { 2 * depth }

    /// u_l(0) = v_l(0) = α·c_l (c = layer_scales, all 1 by default; `depth` counts the 2L stored layers), times
    /// ξ ~ N(0, 1) per layer and coordinate with `entries: gaussian`, u_1 and v_1 times ±1 with `signs: random`.
    public static func initialFactors(d: Int, depth: Int, settings: InitSettings, rng: CounterRNG) -> [[Double]] {
        let half = depth / 2
        return (0..<depth).map { l in
            (0..<d).map { j in
                settings.deepFactor(
                    scale: settings.layerScales?[l % half] ?? 1, layer: l, first: l % half == 0, d: d, coordinate: j,
                    rng: rng)
            }
        }
    }

    /// ∏_{k≠m} u_{base+k}, k < half, in ascending k. Kernel: dln_half_prod_except.
    @inline(__always)
    static func productExcept<T: DLNReal>(
        _ u: UnsafeMutablePointer<SIMD16<T>>, base: Int, half: Int, _ m: Int
    ) -> SIMD16<T> {
        var p = SIMD16<T>(repeating: 1)
        var started = false
        for k in 0..<half where k != m {
            p = started ? p * u[base + k] : u[base + k]
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
        let half = depth / 2
        var p = load(layers, o)
        for l in 1..<half { p = p * load(layers, l * stride + o) }
        var q = load(layers, half * stride + o)
        for l in 1..<half { q = q * load(layers, (half + l) * stride + o) }
        return p - q
    }

    @inline(__always)
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public static func descend<T: DLNReal>(
        _ layers: UnsafeMutablePointer<T>, at o: Int, stride: Int, depth: Int,
        eta: SIMD16<T>, lambda: SIMD16<T>, g: SIMD16<T>,
        scratch: UnsafeMutablePointer<SIMD16<T>>
    ) -> SIMD16<T> {
        let half = depth / 2
        let u = scratch
        let next = scratch + depth
        for l in 0..<depth { u[l] = load(layers, l * stride + o) }
        let gn = -g
        for m in 0..<half {
            next[m] = u[m] - eta * (g * productExcept(u, base: 0, half: half, m) + lambda * u[m])
        }
        for m in 0..<half {
            let k = half + m
            next[k] = u[k] - eta * (gn * productExcept(u, base: half, half: half, m) + lambda * u[k])
        }
        for l in 0..<depth { store(next[l], layers, l * stride + o) }
        var p = next[0]
        for l in 1..<half { p = p * next[l] }
        var q = next[half]
        for l in 1..<half { q = q * next[half + l] }
        return p - q
    }

    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public static func flowDerivative<T: DLNReal>(
        _ state: UnsafeMutablePointer<T>, at o: Int, stride: Int, depth: Int,
        g: SIMD16<T>, lambda: SIMD16<T>, into out: UnsafeMutablePointer<T>,
        scratch: UnsafeMutablePointer<SIMD16<T>>
    ) {
        let half = depth / 2
        for l in 0..<depth { scratch[l] = load(state, l * stride + o) }
        let gn = -g
        for m in 0..<half {
            store(g * productExcept(scratch, base: 0, half: half, m) + lambda * scratch[m], out, m * stride + o)
        }
        for m in 0..<half {
            let k = half + m
            store(
                gn * productExcept(scratch, base: half, half: half, m) + lambda * scratch[k], out, k * stride + o)
        }
    }

    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public static func conservation<T: DLNReal>(
        _ layers: UnsafeMutablePointer<T>, _ initial: UnsafeMutablePointer<T>, at o: Int,
        stride: Int, depth: Int, decay: T, dev: inout T, scale: inout T
    ) {
        let half = depth / 2
        for h in 0..<2 {
            let base = h * half
            let a = layers[base * stride + o]
            let a0 = initial[base * stride + o]
            for m in 1..<half {
                let i = (base + m) * stride + o
                let c = layers[i] * layers[i] - a * a
                let c0 = initial[i] * initial[i] - a0 * a0
                dev = T.maximum(dev, abs(c - c0 * decay))
                scale = T.maximum(scale, abs(c0))
            }
        }
    }
}

extension DeepPM {
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public static func jacobian<T: DLNReal>(_ u: UnsafeMutablePointer<T>, depth: Int, into jac: UnsafeMutablePointer<T>)
    {
        let half = depth / 2
        for m in 0..<half {
            jac[m] = Deep.scalarProductExcept(u, base: 0, count: half, m)
            jac[half + m] = -Deep.scalarProductExcept(u, base: half, count: half, m)
        }
    }

    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public static func hessianApply<T: DLNReal>(
        _ u: UnsafeMutablePointer<T>, _ a: UnsafeMutablePointer<T>, depth: Int, into out: UnsafeMutablePointer<T>
    ) {
        Deep.productHessianApply(u, a, base: 0, count: depth / 2, negate: false, into: out)
        Deep.productHessianApply(u, a, base: depth / 2, count: depth / 2, negate: true, into: out)
    }
}
