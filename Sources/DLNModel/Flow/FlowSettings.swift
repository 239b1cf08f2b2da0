import Foundation

// Gradient flow without the O(η) bias of small-step descent: an adaptive Dormand–Prince 5(4)
// integrator with a PI step-size controller, one step size per replica, and the log-scale (mirror-variable)
// representation of the two-layer models that works for any α. Twins: Kernels/flow.cl.

/// How a replica's state is stored.
public enum Representation: String, Sendable, Codable, CaseIterable {
    /// The layers u, v (or u₁…u_L) themselves.
    case layers
    /// pm and uv: the mirror variable z = ρ + c₀ with ρ = −∫g, and ln β per coordinate, so that
    /// w = β·e^{−2λt}·sinh 2z (docs/model.md §2.1, §2.2, §2.6). Only ln α is ever stored: any α > 0 works.
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
}
