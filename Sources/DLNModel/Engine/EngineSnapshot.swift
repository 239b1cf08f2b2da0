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
            buffers.allSatisfy({ $0.values.count == $0.width * replicas })
        else {
            throw .invalidProblem(
                "the saved state does not fit this batch (\(replicas) replicas with "
                    + "\(buffers.map { "\($0.name)[\($0.width)]" }.joined(separator: ", ")); the engine has "
                    + "\(expected) with \(names.map { "\($0.0)[\($0.1)]" }.joined(separator: ", "))): was it written "
                    + "by another engine or another dlnsim?"
            )
        }
    }
}
