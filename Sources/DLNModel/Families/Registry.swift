/// The registry of model families: the one place that maps a parameterization to its family (Families/<Name>/).

extension Parameterization {
    /// The family of this parameterization (for what is not in a hot loop: the kernel file, the log constants).
    public var family: any ModelFamily.Type {
        switch self {
        case .pm: PM.self
        case .uv: UV.self
        case .deep: Deep.self
        case .deepPM: DeepPM.self
        }
    }
}

/// A family's per-coordinate functions in precision T, bound once per batch: the CPU engine's hot loops call
/// these, so that each is the family's own function specialised for T (no generic dispatch per coordinate).
struct FamilyOps<T: DLNReal>: @unchecked Sendable {
    typealias V = SIMD16<T>
    let hasUVMoments: Bool
    /// `ModelFamily.effectiveScale` (nil where the family has none).
    let effectiveScale: ((T, T) -> T)?
    /// `ModelFamily.stepBlock`: layers, w, stride, depth, d, η, λ, scale, g, scratch, multiplicative.
    let stepBlock:
        (
            UnsafeMutablePointer<T>, UnsafeMutablePointer<T>, Int, Int, Int, V, V, V, UnsafeMutablePointer<V>,
            UnsafeMutablePointer<V>, Bool
        ) -> Void
    /// `ModelFamily.weightBlock`: layers, w, stride, depth, d.
    let weightBlock: (UnsafeMutablePointer<T>, UnsafeMutablePointer<T>, Int, Int, Int) -> Void
    /// `ModelFamily.flowDerivativeBlock`: state, g, scale, λ, out, stride, depth, d, scratch.
    let flowDerivativeBlock:
        (
            UnsafeMutablePointer<T>, UnsafeMutablePointer<V>, V, V, UnsafeMutablePointer<T>, Int, Int, Int,
            UnsafeMutablePointer<V>
        ) -> Void
    /// Whether `stepBlock` takes the multiplicative step (update multiplicative) rather than gradient descent.
    let multiplicative: Bool
    let conservation: (UnsafeMutablePointer<T>, UnsafeMutablePointer<T>, Int, Int, Int, T, inout T, inout T) -> Void
    let logLayers: (V, V) -> (V, V)
    /// `ModelFamily.jacobian` and `hessianApply` (the curvature observables, CPU/Curvature.swift).
    let jacobian: (UnsafeMutablePointer<T>, Int, UnsafeMutablePointer<T>) -> Void
    let hessianApply: (UnsafeMutablePointer<T>, UnsafeMutablePointer<T>, Int, UnsafeMutablePointer<T>) -> Void

    /// The functions of the family of `parameterization` under `update`.
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    init(_ parameterization: Parameterization, update: UpdateRule) {
        let multiplicative = update == .multiplicative
        switch parameterization {
        case .pm: self.init(PM.self, multiplicative: multiplicative)
        case .uv: self.init(UV.self, multiplicative: multiplicative)
        case .deep: self.init(Deep.self, multiplicative: multiplicative)
        case .deepPM: self.init(DeepPM.self, multiplicative: multiplicative)
        }
    }

    @inline(__always)
    private init<F: ModelFamily>(_ f: F.Type, multiplicative: Bool) {
        self.multiplicative = multiplicative
        hasUVMoments = F.hasUVMoments
        effectiveScale = F.hasEffectiveScale ? { u, v in F.effectiveScale(u: u, v: v) } : nil
        stepBlock = F.stepBlock
        weightBlock = F.weightBlock
        flowDerivativeBlock = F.flowDerivativeBlock
        conservation = F.conservation
        logLayers = F.logLayers
        jacobian = F.jacobian
        hessianApply = F.hessianApply
    }
}
