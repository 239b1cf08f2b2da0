/// A model family (a parameterization w = model(layers)): its arithmetic at one coordinate, for 16 replicas at
/// once (V = SIMD16<T>). Every function is the twin, operation for operation, of the same-named piece of the
/// family's kernel file (Kernels/family_<name>.cl), so that the CPU engine and the kernels agree bit for bit.
///
/// Layer l of a coordinate lives at `layers[l·stride + o]` (o = the coordinate's offset in the block layout).
/// The CPU loops call a family only through `FamilyOps` (Registry.swift), which is specialised per family and
/// precision; a family's functions therefore carry `@_specialize(where T == Float)` / `(where T == Double)`.
/// `descend`, `multiply` and `weight` are also `@inline(__always)`: called out of line from `stepBlock`, each SIMD16
/// argument and result went through memory, and the update took 4.7% of a regime-S step instead of 3.4%.
///
/// Adding a family: a folder Families/<Name>/ with an enum conforming to this protocol, a kernel file
/// Kernels/family_<name>.cl defining the `dln_family_*` functions, and its cases in Registry.swift (see
/// docs/architecture.md for the whole checklist).
public protocol ModelFamily {
    /// The kernel file that defines this family's `dln_family_*` functions (concatenated after common.cl).
    static var kernelFile: String { get }
    /// That file's text, embedded in the binary (`PackageResources.family_<name>_cl`).
    static var kernelSource: [UInt8] { get }
    /// Whether mean_uv and mean_q are defined (two layers u = layer 0, v = layer 1); NaN otherwise.
    static var hasUVMoments: Bool { get }
    /// Whether the squared effective scale α_eff² of a coordinate is defined (pm: u·v, uv: u·u − v·v, the quantity
    /// gradient flow conserves); the effective_scale_sq observables are NaN otherwise.
    static var hasEffectiveScale: Bool { get }
    /// α_eff² of one coordinate from its two layers. Kernel: dln_family_effective_scale.
    static func effectiveScale<T: DLNReal>(u: T, v: T) -> T
    /// The number of layers when the family fixes it (2 for pm and uv); nil when `model.depth` sets it.
    static var fixedDepth: Int? { get }
    /// The number of layer vectors stored for a model of depth `depth` (`fixedDepth ?? depth` unless the family
    /// says otherwise: deep_pm stores 2L).
    static func layerCount(depth: Int) -> Int
    /// Whether the state can be held as the mirror variable z (`training.representation: log`).
    static var hasLogRepresentation: Bool { get }
    /// Whether the multiplicative update (`update: multiplicative`) is defined.
    static var hasMultiplicativeUpdate: Bool { get }

    /// The initial layers of one replica as factors of the scale α: u_l(0) = α·f_l (`depth` layers of d values),
    /// drawn from the replica's own generator where the family's initialisation is random.
    static func initialFactors(d: Int, depth: Int, settings: InitSettings, rng: CounterRNG) -> [[Double]]

    /// The hot loops, one block of 16 replicas at a time (layers, w, state and out point at the block's first
    /// element; coordinate j at j·16), written once below for every family: each calls the family's
    /// per-coordinate function. The CPU engine reaches a family only through these (bound once per batch).
    ///
    /// The update of every coordinate: `descend` (or pm's multiplicative step when `multiplicative`) with the
    /// gradient g[j]·scale; w written beside. Kernel: dln_update / dln_family_update.
    static func stepBlock<T: DLNReal>(
        _ layers: UnsafeMutablePointer<T>, w: UnsafeMutablePointer<T>, stride: Int, depth: Int, d: Int,
        eta: SIMD16<T>, lambda: SIMD16<T>, scale: SIMD16<T>, g: UnsafeMutablePointer<SIMD16<T>>,
        scratch: UnsafeMutablePointer<SIMD16<T>>, multiplicative: Bool)
    /// w of every coordinate from the layers. Kernel: dln_weight / dln_family_weight.
    static func weightBlock<T: DLNReal>(
        _ layers: UnsafeMutablePointer<T>, into w: UnsafeMutablePointer<T>, stride: Int, depth: Int, d: Int)
    /// The layers-representation flow derivative of every coordinate, with the gradient g[j]·scale.
    /// Kernel: dln_flow_derivative / dln_family_flow_derivative.
    static func flowDerivativeBlock<T: DLNReal>(
        _ state: UnsafeMutablePointer<T>, g: UnsafeMutablePointer<SIMD16<T>>, scale: SIMD16<T>, lambda: SIMD16<T>,
        into out: UnsafeMutablePointer<T>, stride: Int, depth: Int, d: Int, scratch: UnsafeMutablePointer<SIMD16<T>>)

    /// The multiplicative step at one coordinate (pm only; the others trap, as the configuration refuses it).
    static func multiply<T: DLNReal>(
        _ layers: UnsafeMutablePointer<T>, at o: Int, stride: Int, depth: Int,
        eta: SIMD16<T>, lambda: SIMD16<T>, g: SIMD16<T>,
        scratch: UnsafeMutablePointer<SIMD16<T>>
    ) -> SIMD16<T>

    /// w at one coordinate from its layers. Kernel: dln_family_weight.
    static func weight<T: DLNReal>(_ layers: UnsafeMutablePointer<T>, at o: Int, stride: Int, depth: Int) -> SIMD16<T>

    /// One gradient-descent step of the layers at one coordinate, in place (η = eta, λ = lambda, g the scaled
    /// gradient sum); returns the new w. `scratch` holds at least 2·depth vectors. Kernel: dln_family_update.
    static func descend<T: DLNReal>(
        _ layers: UnsafeMutablePointer<T>, at o: Int, stride: Int, depth: Int,
        eta: SIMD16<T>, lambda: SIMD16<T>, g: SIMD16<T>,
        scratch: UnsafeMutablePointer<SIMD16<T>>
    ) -> SIMD16<T>

    /// F with ẏ = −F in the layers representation of gradient flow, at one coordinate: the gradient-descent
    /// direction, into `out` (same layout as `state`). Kernel: dln_family_flow_derivative.
    static func flowDerivative<T: DLNReal>(
        _ state: UnsafeMutablePointer<T>, at o: Int, stride: Int, depth: Int,
        g: SIMD16<T>, lambda: SIMD16<T>, into out: UnsafeMutablePointer<T>,
        scratch: UnsafeMutablePointer<SIMD16<T>>)

    /// The observable `conservation` at one (replica, coordinate): folds |C − C₀·decay| into dev and |C₀| into
    /// scale (both by max), C the family's conserved quantity(ies). Kernel: dln_family_conservation.
    static func conservation<T: DLNReal>(
        _ layers: UnsafeMutablePointer<T>, _ initial: UnsafeMutablePointer<T>, at o: Int,
        stride: Int, depth: Int, decay: T, dev: inout T, scale: inout T)

    /// The curvature observables' first derivatives at one coordinate of one replica (scalars: u holds its `depth`
    /// layer values): jac[l] = ∂w/∂u_l. Kernel: dln_family_jacobian.
    static func jacobian<T: DLNReal>(_ u: UnsafeMutablePointer<T>, depth: Int, into jac: UnsafeMutablePointer<T>)

    /// The second derivatives applied to a direction a at one coordinate: out[l] = Σ_m (∂²w/∂u_l∂u_m)·a[m].
    /// Kernel: dln_family_hessian_apply.
    static func hessianApply<T: DLNReal>(
        _ u: UnsafeMutablePointer<T>, _ a: UnsafeMutablePointer<T>, depth: Int, into out: UnsafeMutablePointer<T>)

    /// The log representation (pm, uv): the two layers from p = s₀e^{h+z−λτ}, q = s₁e^{h−z−λτ}.
    /// Kernel: dln_family_log_layers (under FLOW_LOG).
    static func logLayers<T: DLNReal>(p: SIMD16<T>, q: SIMD16<T>) -> (SIMD16<T>, SIMD16<T>)

    /// The log representation's constants of one coordinate from ln|u₀|, sign u₀, ln|v₀|, sign v₀ (host, Double):
    /// (ln β, z(0), ln h, s₀, s₁). Throws where the family has no log representation there.
    static func logConstants(lu: Double, su: Double, lv: Double, sv: Double, replica b: Int, coordinate j: Int)
        throws(DLNError) -> (lnBeta: Double, z0: Double, lnHalf: Double, sign0: Double, sign1: Double)
}

/// The initialisation keys of `model.init` that the families read.
public struct InitSettings: Sendable, Equatable {
    /// uv: u(0) = α(1 + uNoise·ξ).
    public var uNoise: Double
    /// uv: v(0) = α·vNoise·ξ′ (0 gives v(0) = 0).
    public var vNoise: Double
    /// deep: u_l(0) = α·layerScales[l] (nil: all 1).
    public var layerScales: [Double]?
    /// deep, deep_pm: constant or Gaussian entries, positive or random signs.
    public var entries: InitEntries
    public var signs: InitSigns

    /// Settings from their values.
    public init(
        uNoise: Double = 0, vNoise: Double = 0, layerScales: [Double]? = nil, entries: InitEntries = .constant,
        signs: InitSigns = .positive
    ) {
        self.uNoise = uNoise
        self.vNoise = vNoise
        self.layerScales = layerScales
        self.entries = entries
        self.signs = signs
    }

    /// The factor f of u_l,j(0) = α·f of a deep model's layer l (of `layers`), coordinate j: the scale c_l (`scale`),
    /// times ξ ~ N(0, 1) with Gaussian entries, times ±1 on the first layer of a product (`first`) with random signs.
    public func deepFactor(scale: Double, layer l: Int, first: Bool, d: Int, coordinate j: Int, rng: CounterRNG)
        -> Double
    {
        var f = scale
        let index = UInt64(l * d + j)
        if entries == .gaussian { f *= rng.gaussian(stream: RandomStream.initLayers.rawValue, index: index) }
        if signs == .random && first && rng.uniform(stream: RandomStream.initSigns.rawValue, index: index) < 0.5 {
            f = -f
        }
        return f
    }
}

extension ModelFamily {
    public static func layerCount(depth: Int) -> Int { fixedDepth ?? depth }

    /// Families without an effective scale (deep, deep_pm).
    public static var hasEffectiveScale: Bool { false }

    public static func effectiveScale<T: DLNReal>(u: T, v: T) -> T {
        preconditionFailure("no effective scale for \(kernelFile)")
    }

    /// Families without a log representation (`hasLogRepresentation` false; the configuration refuses it for them).
    public static func logLayers<T: DLNReal>(p: SIMD16<T>, q: SIMD16<T>) -> (SIMD16<T>, SIMD16<T>) {
        preconditionFailure("no log representation for \(kernelFile)")
    }

    public static func logConstants(lu: Double, su: Double, lv: Double, sv: Double, replica b: Int, coordinate j: Int)
        throws(DLNError) -> (lnBeta: Double, z0: Double, lnHalf: Double, sign0: Double, sign1: Double)
    {
        preconditionFailure("no log representation for \(kernelFile)")
    }

    public static func multiply<T: DLNReal>(
        _ layers: UnsafeMutablePointer<T>, at o: Int, stride: Int, depth: Int,
        eta: SIMD16<T>, lambda: SIMD16<T>, g: SIMD16<T>,
        scratch: UnsafeMutablePointer<SIMD16<T>>
    ) -> SIMD16<T> {
        preconditionFailure("the multiplicative update is defined for pm only")
    }

    public static func stepBlock<T: DLNReal>(
        _ layers: UnsafeMutablePointer<T>, w: UnsafeMutablePointer<T>, stride: Int, depth: Int, d: Int,
        eta: SIMD16<T>, lambda: SIMD16<T>, scale: SIMD16<T>, g: UnsafeMutablePointer<SIMD16<T>>,
        scratch: UnsafeMutablePointer<SIMD16<T>>, multiplicative: Bool
    ) {
        for j in 0..<d {
            let wj =
                multiplicative
                ? multiply(
                    layers, at: j * 16, stride: stride, depth: depth, eta: eta, lambda: lambda, g: g[j] * scale,
                    scratch: scratch)
                : descend(
                    layers, at: j * 16, stride: stride, depth: depth, eta: eta, lambda: lambda, g: g[j] * scale,
                    scratch: scratch)
            store(wj, w, j * 16)
        }
    }

    public static func weightBlock<T: DLNReal>(
        _ layers: UnsafeMutablePointer<T>, into w: UnsafeMutablePointer<T>, stride: Int, depth: Int, d: Int
    ) {
        for j in 0..<d { store(weight(layers, at: j * 16, stride: stride, depth: depth), w, j * 16) }
    }

    public static func flowDerivativeBlock<T: DLNReal>(
        _ state: UnsafeMutablePointer<T>, g: UnsafeMutablePointer<SIMD16<T>>, scale: SIMD16<T>, lambda: SIMD16<T>,
        into out: UnsafeMutablePointer<T>, stride: Int, depth: Int, d: Int, scratch: UnsafeMutablePointer<SIMD16<T>>
    ) {
        for j in 0..<d {
            flowDerivative(
                state, at: j * 16, stride: stride, depth: depth, g: g[j] * scale, lambda: lambda, into: out,
                scratch: scratch)
        }
    }
}
