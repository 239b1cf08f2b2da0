import DLNModel
import DLNRun
import DLNTheory
import Foundation

/// Distance in units in the last place between two floats (0 when bit-identical; NaNs compare by bits).
public func ulpDistance(_ a: Float, _ b: Float) -> Int64 {
    func ordered(_ x: Float) -> Int64 {
        let i = Int64(Int32(bitPattern: x.bitPattern))
        return i < 0 ? Int64(Int32.min) - i : i
    }
    return abs(ordered(a) - ordered(b))
}

/// Distance in units in the last place between two doubles.
public func ulpDistance(_ a: Double, _ b: Double) -> UInt64 {
    func ordered(_ x: Double) -> Int64 {
        let i = Int64(bitPattern: x.bitPattern)
        return i < 0 ? Int64.min &- i : i
    }
    let (d, overflow) = ordered(a).subtractingReportingOverflow(ordered(b))
    return overflow ? UInt64.max : d.magnitude
}

/// The largest ULP distance between two arrays of the same precision (UInt64.max on a shape mismatch).
public func maxULP(_ a: RealArray, _ b: RealArray) -> UInt64 {
    switch (a, b) {
    case (.float(let x), .float(let y)):
        guard x.count == y.count else { return .max }
        return zip(x, y).map { UInt64(ulpDistance($0, $1)) }.max() ?? 0
    case (.double(let x), .double(let y)):
        guard x.count == y.count else { return .max }
        return zip(x, y).map { ulpDistance($0, $1) }.max() ?? 0
    default: return .max
    }
}

/// The largest ULP distance over every layer and w of two states.
public func maxULP(_ a: EngineState, _ b: EngineState) -> UInt64 {
    guard a.layers.count == b.layers.count else { return .max }
    return zip(a.layers, b.layers).map { maxULP($0, $1) }.max().map { max($0, maxULP(a.weights, b.weights)) } ?? .max
}

/// True when running under CI (`CI` set and not "false"/"0"): a missing OpenCL platform is then a failure.
public var runningUnderCI: Bool {
    let v = ProcessInfo.processInfo.environment["CI"]?.lowercased() ?? ""
    return !v.isEmpty && v != "false" && v != "0"
}

/// A random synthetic batch for tests, built through the public configuration path.
public func makeBatch(
    d: Int, n: Int, replicas: Int, model: Parameterization = .pm, update: UpdateRule = .gd,
    depth: Int = 2, precision: Precision = .float32, sharing: DataSharing = .shared,
    lambda: [Double] = [0], eta: [Double] = [0.02], alpha: [Double] = [0.1],
    loss: LossNormalization = .mean, noise: Double = 0.1, seedOffset: Int = 0,
    representation: Representation? = nil, flow: FlowSettings = FlowSettings(),
    configure: (inout Configuration) -> Void = { _ in }
) throws -> Batch {
    var c = Configuration()
    c.problem.d = d
    c.problem.n = n
    c.problem.delta = nil
    c.problem.noise = noise
    c.problem.teacherDensity = 0.3
    c.problem.teacherValues = .gaussian
    c.problem.sharing = sharing
    c.model.parameterization = model
    c.model.depth = model.isDeep ? depth : 2
    if model == .uv {
        c.model.uNoise = 0.1
        c.model.vNoise = 0.5
    }
    if model.isDeep { c.model.layerScales = (0..<depth).map { 1 + 0.25 * Double($0) } }
    c.training.update = update
    c.training.loss = loss
    c.training.precision = precision
    c.grid.alpha = alpha
    c.grid.weightDecay = lambda
    c.grid.learningRate = eta
    let points = alpha.count * lambda.count * eta.count
    precondition(replicas % points == 0, "replicas must be a multiple of the grid size")
    c.seeds = replicas / points
    c.seedOffset = seedOffset
    c.training.steps = 0
    c.training.representation = representation
    c.training.flow = flow
    configure(&c)
    return try Experiment(c).batch
}

/// An engine around another that claims room for only `capacity` replicas and, to mimic an allocation
/// failure, refuses batches of more than `refuseAbove` (counting the refusals).
public final class LimitedEngine: FlowEngine {
    public let inner: any FlowEngine
    public let capacity: Int
    public let refuseAbove: Int
    public private(set) var refused = 0
    /// The largest batch it was given.
    public private(set) var largest = 0

    public init(_ inner: any FlowEngine, capacity: Int, refuseAbove: Int = .max) {
        self.inner = inner
        self.capacity = capacity
        self.refuseAbove = refuseAbove
    }
    public var deviceDescription: String { inner.deviceDescription }
    public func initialize(_ batch: Batch) throws(DLNError) {
        if batch.layout.replicas > refuseAbove {
            refused += 1
            throw .outOfMemory("cannot hold \(batch.layout.replicas) replicas")
        }
        largest = max(largest, batch.layout.replicas)
        try inner.initialize(batch)
    }
    public func step(count: Int) throws(DLNError) { try inner.step(count: count) }
    public func finish() throws(DLNError) { try inner.finish() }
    public func advance(to time: Double) throws(DLNError) { try inner.advance(to: time) }
    public func advance(to time: Double, stoppingIf stop: () -> Bool) throws(DLNError) -> Bool {
        try inner.advance(to: time, stoppingIf: stop)
    }
    public func flowCounters() throws(DLNError) -> FlowCounters { try inner.flowCounters() }
    public func observe() throws(DLNError) -> Observation { try inner.observe() }
    public func state() throws(DLNError) -> EngineState { try inner.state() }
    public func replicaCapacity(_ batch: Batch) -> Int { capacity }
    public func snapshot() throws(DLNError) -> EngineSnapshot { try inner.snapshot() }
    public func restore(_ snapshot: EngineSnapshot, replicas: [Int]?) throws(DLNError) {
        try inner.restore(snapshot, replicas: replicas)
    }
}

/// Replays the gradient an engine saw from its weights (same X, y and summation order, in float64):
/// g = scale·Xᵀ(Xw − y) for replica b.
public func replayedGradient(_ batch: Batch, weights: [Double], replica b: Int) -> [Double] {
    let d = batch.layout.dimension
    let n = batch.layout.samples
    let ds = batch.datasets[batch.replicas[b].dataset]
    let x = ds.x.doubles
    let y = ds.y.doubles
    var r = [Double](repeating: 0, count: n)
    for i in 0..<n {
        var acc = 0.0
        for j in 0..<d { acc = acc.addingProduct(x[i * d + j], weights[b * d + j]) }
        r[i] = acc - y[i]
    }
    return (0..<d).map { j in
        var acc = 0.0
        for i in 0..<n { acc = acc.addingProduct(x[i * d + j], r[i]) }
        return acc * batch.gradientScale
    }
}
