/// What an engine hands back at a checkpoint: observables only, per replica.
public struct Observation: Sendable, Equatable {
    /// Train loss ℓ(w) per replica (the batch's normalisation), widened to Double.
    public var trainLoss: [Double]

    /// Observables from per-replica train losses.
    public init(trainLoss: [Double]) { self.trainLoss = trainLoss }
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
    /// Advances every replica by `count` gradient steps.
    func step(count: Int) throws(DLNError)
    /// Computes the observables of the current state.
    func observe() throws(DLNError) -> Observation
    /// Reads back the full state (for tests, weights output and checks).
    func state() throws(DLNError) -> EngineState
}
