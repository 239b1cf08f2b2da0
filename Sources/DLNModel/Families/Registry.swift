/// The registry of model families: the one place that maps a parameterization to its family (Families/<Name>/).

extension Parameterization {
    /// The family of this parameterization (for what is not in a hot loop: the kernel file, the log constants).
    public var family: any ModelFamily.Type {
        switch self {
        case .pm: PM.self
        case .uv: UV.self
        case .deep: Deep.self
        }
    }
}

/// A family's per-coordinate functions in precision T, bound once per batch: the CPU engine's hot loops call
/// these, so that each is the family's own function specialised for T (no generic dispatch per coordinate).
struct FamilyOps<T: DLNReal>: @unchecked Sendable {
    typealias V = SIMD16<T>
    let hasUVMoments: Bool
    let weight: (UnsafeMutablePointer<T>, Int, Int, Int) -> V
    /// The update rule's step (gradient descent, or pm's multiplicative update); returns the new w.
    let step: Step
    typealias Step = (UnsafeMutablePointer<T>, Int, Int, Int, V, V, V, UnsafeMutablePointer<V>) -> V
    let flowDerivative:
        (UnsafeMutablePointer<T>, Int, Int, Int, V, V, UnsafeMutablePointer<T>, UnsafeMutablePointer<V>) -> Void
    let conservation: (UnsafeMutablePointer<T>, UnsafeMutablePointer<T>, Int, Int, Int, T, inout T, inout T) -> Void
    let logLayers: (V, V) -> (V, V)

    /// The functions of the family of `parameterization` under `update`.
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    init(_ parameterization: Parameterization, update: UpdateRule) {
        switch parameterization {
        case .pm:
            let descend: Step = PM.descend
            let multiply: Step = PM.multiply
            self.init(PM.self, step: update == .multiplicative ? multiply : descend)
        case .uv:
            let descend: Step = UV.descend
            self.init(UV.self, step: descend)
        case .deep:
            let descend: Step = Deep.descend
            self.init(Deep.self, step: descend)
        }
    }

    @inline(__always)
    private init<F: ModelFamily>(_ f: F.Type, step: @escaping Step) {
        hasUVMoments = F.hasUVMoments
        weight = F.weight
        self.step = step
        flowDerivative = F.flowDerivative
        conservation = F.conservation
        logLayers = F.logLayers
    }
}
