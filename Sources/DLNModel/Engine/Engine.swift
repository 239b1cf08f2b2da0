/// What an engine hands back at a checkpoint: the observables of `ObservableSet`, per replica.
public struct Observation: Sendable, Equatable {
    /// The observables' names (`ObservableSet.names`).
    public var names: [String]
    /// `values[k][b]`: observable k of replica b, widened to Double.
    public var values: [[Double]]

    /// Observations from their names and values.
    public init(names: [String], values: [[Double]]) {
        precondition(names.count == values.count)
        self.names = names
        self.values = values
    }

    /// Train loss ℓ(w) per replica (the batch's normalisation).
    public var trainLoss: [Double] { values[Observable.trainLoss.index] }

    /// One observable's values per replica.
    public subscript(name: String) -> [Double]? { names.firstIndex(of: name).map { values[$0] } }
}

/// The state of every replica, read back from an engine (replica-major, in the batch's precision).
public struct EngineState: Sendable, Equatable {
    /// `layers[l]` holds layer l as `values[b·d + j]`.
    public var layers: [RealArray]
    /// w = model(layers), as `values[b·d + j]`.
    public var weights: RealArray

    /// A state from its layers and weights.
    public init(layers: [RealArray], weights: RealArray) {
        self.layers = layers
        self.weights = weights
    }

    /// The states of consecutive slices of replicas, as one.
    public init(concatenating parts: [EngineState]) {
        func join(_ arrays: [RealArray]) -> RealArray {
            if case .float = arrays.first { return .float(arrays.flatMap { $0.values(as: Float.self) }) }
            return .double(arrays.flatMap { $0.values(as: Double.self) })
        }
        layers = (0..<(parts.first?.layers.count ?? 0)).map { l in join(parts.map { $0.layers[l] }) }
        weights = join(parts.map(\.weights))
    }
}

/// The one interface every engine implements: `initialize` → `step(count:)` → `observe`. Engines that also
/// integrate gradient flow with adaptive steps conform to `FlowEngine`.
///
/// The CPU engine and the OpenCL engine compute the same operations in the same order, so that on a
/// correctly rounding device (PoCL) their states agree bit for bit. State stays inside the engine
/// (on the device) between observations; only observables cross.
public protocol Engine: AnyObject {
    /// A human-readable description of where the computation runs.
    var deviceDescription: String { get }
    /// Loads a batch: data, per-replica scalars and initial layers.
    func initialize(_ batch: Batch) throws(DLNError)
    /// Advances every replica by `count` gradient steps (fixed-step updates).
    func step(count: Int) throws(DLNError)
    /// Returns when every step asked for has been computed (the OpenCL engine waits for its queue; the CPU engine's
    /// `step` returns when its steps are done). For timing the steps alone (`dlnsim bench`).
    func finish() throws(DLNError)
    /// Computes the observables of the current state.
    func observe() throws(DLNError) -> Observation
    /// Reads back the full state (for tests, weights output and checks).
    func state() throws(DLNError) -> EngineState
    /// How many replicas of this batch fit in the engine's memory at once (`Simulation.run` splits larger
    /// batches into slices that run one after the other, with identical results).
    func replicaCapacity(_ batch: Batch) -> Int
    /// Everything needed to continue exactly from here (checkpoints, divergence rollback).
    func snapshot() throws(DLNError) -> EngineSnapshot
    /// Puts a snapshot of this batch (taken by an engine of the same kind) back: every replica, or only the
    /// listed ones (the others keep their state).
    func restore(_ snapshot: EngineSnapshot, replicas: [Int]?) throws(DLNError)
    /// Throws `DLNError.unsupportedPrecision` when the engine cannot compute in `precision`: checked before
    /// any work (the CPU engine computes in both).
    func require(_ precision: Precision) throws(DLNError)
}

extension FlowEngine {
    /// Engines that cannot stop within an interval run it to its end.
    public func advance(to time: Double, stoppingIf stop: () -> Bool) throws(DLNError) -> Bool {
        try advance(to: time)
        return true
    }
}

extension Engine {
    /// Steps are done when `step` returns: the default for engines that compute on the calling side.
    public func finish() throws(DLNError) {}

    /// Every precision: the default for engines that compute in both.
    public func require(_ precision: Precision) throws(DLNError) {}

    /// Puts a whole snapshot back.
    public func restore(_ snapshot: EngineSnapshot) throws(DLNError) { try restore(snapshot, replicas: nil) }
}

/// An engine that also integrates gradient flow (`update: flow`): every replica with its own adaptive steps.
public protocol FlowEngine: Engine {
    /// Advances every replica's gradient flow to time `time`, each with its own steps; checkpoint times are hit
    /// exactly.
    func advance(to time: Double) throws(DLNError)
    /// Like `advance(to:)`, but asks `stop` between steps (at least every tenth of a second or so of work) and
    /// returns false as soon as it says yes, before `time`: every replica is then at a step boundary of its own,
    /// and a snapshot taken now continues exactly (`advance(to: time)` again finishes the interval bit for bit).
    /// True when every replica reached `time`.
    func advance(to time: Double, stoppingIf stop: () -> Bool) throws(DLNError) -> Bool
    /// Per-replica gradient evaluations, rejected steps and status (zeros for the fixed-step updates).
    func flowCounters() throws(DLNError) -> FlowCounters
}
