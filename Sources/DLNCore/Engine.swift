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

/// The one interface every engine implements: `initialize` → `step(count:)` → `observe`.
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
    /// Advances every replica's gradient flow to time `time` (`update: flow`), each with its own steps;
    /// checkpoint times are hit exactly.
    func advance(to time: Double) throws(DLNError)
    /// Per-replica gradient evaluations, rejected steps and status (zeros for the plain updates).
    func flowCounters() throws(DLNError) -> FlowCounters
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

extension Engine {
    /// Every precision: the default for engines that compute in both.
    public func require(_ precision: Precision) throws(DLNError) {}

    /// Puts a whole snapshot back.
    public func restore(_ snapshot: EngineSnapshot) throws(DLNError) { try restore(snapshot, replicas: nil) }
}

/// Everything an engine needs to continue a batch exactly where it was: the layers, w, the integrator's
/// state and counters, and the step count. Held replica-major (per replica `width` consecutive values), so that
/// replicas can be swapped between snapshots (divergence rollback) and slices written to a checkpoint file.
/// Values are the engine's numbers widened to Double (exact for Float and Int32).
public struct EngineSnapshot: Sendable, Equatable {
    /// One named state array.
    public struct Buffer: Sendable, Equatable {
        public var name: String
        /// Values per replica (components × d for coordinate arrays, 1 for per-replica scalars).
        public var width: Int
        /// Int32 counters rather than reals of the batch's precision.
        public var integer: Bool
        /// `values[b·width + k]`.
        public var values: [Double]

        public init(name: String, width: Int, integer: Bool, values: [Double]) {
            self.name = name
            self.width = width
            self.integer = integer
            self.values = values
        }
    }

    /// Replicas B.
    public var replicas: Int
    /// Fixed steps taken (update gd/multiplicative).
    public var steps: Int
    /// Whether the integrator has taken its first derivative (update flow).
    public var started: Bool
    public var buffers: [Buffer]

    public init(replicas: Int, steps: Int, started: Bool, buffers: [Buffer]) {
        self.replicas = replicas
        self.steps = steps
        self.started = started
        self.buffers = buffers
    }

    /// Replaces the state of `replicas` by their state in `other` (a snapshot of the same batch).
    public mutating func replace(replicas list: [Int], from other: EngineSnapshot) {
        precondition(other.replicas == replicas && other.buffers.map(\.name) == buffers.map(\.name))
        for i in buffers.indices {
            let w = buffers[i].width
            for b in list { for k in 0..<w { buffers[i].values[b * w + k] = other.buffers[i].values[b * w + k] } }
        }
    }

    /// Checks that this snapshot fits an engine's own buffers (the same names and widths).
    public func check(against names: [(String, Int)], replicas expected: Int) throws(DLNError) {
        guard replicas == expected, buffers.map(\.name) == names.map(\.0), buffers.map(\.width) == names.map(\.1),
              buffers.allSatisfy({ $0.values.count == $0.width * replicas }) else {
            throw .invalidProblem("the saved state does not fit this batch (\(replicas) replicas with \(buffers.map { "\($0.name)[\($0.width)]" }.joined(separator: ", ")); the engine has \(expected) with \(names.map { "\($0.0)[\($0.1)]" }.joined(separator: ", "))): was it written by another engine or another dlnsim?")
        }
    }
}
