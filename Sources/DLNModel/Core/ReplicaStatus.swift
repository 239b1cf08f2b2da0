/// What became of a replica: status.npy holds these codes (int32, [grid point, seed]); `FlowCounters.status`,
/// `RunResult.status` and the kernels' status buffers hold them as integers.
public enum ReplicaStatus: Int32, Sendable, CaseIterable {
    /// Not run here: a replica of another shard (`--shard i/N`; its observables are NaN), or a padding lane.
    case notInShard = -1
    /// Ran to the end (while running: still running).
    case ran = 0
    /// Update flow: the step size collapsed below its floor.
    case stepSizeCollapsed = 1
    /// Update flow: the state became non-finite.
    case nonFinite = 2
    /// Update flow: the step attempts exceeded `training.flow.max_steps`.
    case tooManySteps = 3
    /// Fixed steps: the loss became non-finite; frozen at the last finite state.
    case diverged = 4
    /// Fixed steps: the loss exceeded `training.max_loss_ratio` × its initial value; frozen at the last state below.
    case lossBound = 5

    /// The code as the integer arrays hold it.
    public var code: Int { Int(rawValue) }

    /// The status of an integer code (nil: not a known code).
    public init?(code: Int) {
        guard let raw = Int32(exactly: code), let s = ReplicaStatus(rawValue: raw) else { return nil }
        self = s
    }

    /// Whether the replica was frozen before the end (left out of stats.csv).
    public var isFrozen: Bool { rawValue > 0 }

    /// Whether an integer code marks a frozen replica (an unknown positive code counts as frozen).
    public static func isFrozen(code: Int) -> Bool { ReplicaStatus(code: code)?.isFrozen ?? (code > 0) }

    /// Whether the run froze the replica after its loss diverged (fixed-step updates; restored from a snapshot).
    public var isDivergence: Bool { self == .diverged || self == .lossBound }

    /// The reason in words (manifest.json's frozen_replicas, warnings).
    public var reason: String {
        switch self {
        case .ran: "running"
        case .stepSizeCollapsed: "the step size collapsed below its floor"
        case .nonFinite: "the state became non-finite"
        case .tooManySteps: "the step attempts exceeded flow.max_steps"
        case .diverged: "the loss became non-finite (frozen at its last finite state)"
        case .lossBound:
            "the loss exceeded training.max_loss_ratio × its initial value (frozen at its last state below)"
        case .notInShard: "not in this shard"
        }
    }

    /// The reason of an integer code.
    public static func reason(_ code: Int) -> String { ReplicaStatus(code: code)?.reason ?? "unknown status \(code)" }

    /// status.npy's description (manifest.json's "arrays").
    public static let description =
        "per replica [grid point, seed]: 0 ran to the end; update flow: 1 step size collapsed, 2 non-finite, 3 too "
        + "many steps; fixed steps: 4 loss non-finite, 5 loss over the bound (frozen at the last good step, left "
        + "out of stats.csv); -1 not in this shard"
}
