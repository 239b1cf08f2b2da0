import DLNModel
import OpenCLKit

/// How the two products are laid out in work-items.
public enum KernelShape: String, Sendable, CaseIterable {
    /// One work-item per output element (residual.cl, gradient.cl): neighbouring replicas in neighbouring
    /// work-items, coalesced on GPUs.
    case scalar
    /// One work-item per block of 16 replicas and four outputs, in 16-wide vectors (products_v16.cl): what
    /// CPU devices (PoCL) vectorise.
    case vector16
    /// One work-group per block of 16 replicas that runs many steps per launch (tiled.cl): the GPU shape.
    /// Batches in the Gram form, gradient flow and the observations use the scalar kernels.
    case tiled

    /// The shape for a device: vector16 on CPU devices, tiled elsewhere (GPUs).
    public static func preferred(for device: CLDevice) -> KernelShape { device.type == .cpu ? .vector16 : .tiled }
}

/// The OpenCL engine: the kernels of Kernels/ run every replica of a batch on one device. The state stays
/// on the device between observations; only the per-replica losses (and, on request, the state) are read.
public final class OpenCLEngine: FlowEngine {
    /// The device.
    public let device: CLDevice
    /// The shape of the product kernels.
    public let shape: KernelShape
    /// The process's context for the device (`CLContext.shared(for:)`): engines on one device share it, and with
    /// it the built programs of `KernelLibrary`; each engine has its own queue.
    let context: CLContext
    let queue: CLCommandQueue
    private var impl: (any DeviceBatchRunner)?

    /// Extra elements after every output buffer, filled with a sentinel and checked by `canariesIntact()`.
    public static let canaryCount = 16

    /// Whether independent data step one replica at a time (vector16; `DeviceReplicaSteps`): nil decides by size.
    public let replicaSteps: Bool?

    /// vector16: whether neighbouring blocks that share a data set run in the pair kernels (32 replicas and 8
    /// float16 accumulators per work-item).
    public let pairTiles: Bool

    /// An engine on one OpenCL device; `shape` nil chooses by device type, `replicaSteps` nil by problem size,
    /// `pairTiles` nil by the device's vector width: pairs where it prefers 16 floats (AVX-512) or is no CPU; on an
    /// AVX2 CPU (8) the eight accumulators of a pair kernel spill and single blocks are faster. Every choice gives the
    /// same bits.
    public init(
        device: CLDevice, shape: KernelShape? = nil, replicaSteps: Bool? = nil, pairTiles: Bool? = nil,
        blockSteps: Bool? = nil
    ) throws(DLNError) {
        self.blockSteps = blockSteps
        self.device = device
        self.shape = shape ?? KernelShape.preferred(for: device)
        self.replicaSteps = replicaSteps
        self.pairTiles = pairTiles ?? (device.type != .cpu || device.preferredFloatWidth >= 16)
        do {
            context = try CLContext.shared(for: device)
            queue = try CLCommandQueue(context: context)
        } catch { throw .deviceFailure("cannot open \(device.name): \(error)") }
    }

    /// Whether the initialized batch steps one replica at a time (independent data on a CPU device,
    /// `DeviceReplicaSteps`); false before `initialize`.
    public var stepsReplicasAlone: Bool { impl?.stepsReplicasAlone ?? false }

    /// Whether the initialized batch steps shared data one block per work-item through each launch of up to 256
    /// steps (vector16, `blockSteps`); false before `initialize`.
    public var stepsBlocksAlone: Bool { impl?.stepsBlocksAlone ?? false }

    /// vector16, shared data: whether one work-item per block runs many steps per launch (nil: where the pair kernels
    /// are not used and there are at least two blocks per compute unit).
    public let blockSteps: Bool?

    public var deviceDescription: String {
        "OpenCL \(device.name) (\(device.platform.name), driver \(device.driverVersion), \(shape.rawValue) kernels)"
    }

    public func require(_ precision: Precision) throws(DLNError) {
        try Self.require(precision, device: device.name, supportsFP64: device.supportsFP64)
    }

    /// The precision check on a device's capability alone (tests pass a device without `cl_khr_fp64`).
    public static func require(_ precision: Precision, device name: String, supportsFP64: Bool) throws(DLNError) {
        if precision == .float64 && !supportsFP64 { throw .unsupportedPrecision(device: name, precision: .float64) }
    }

    public func initialize(_ batch: Batch) throws(DLNError) {
        try require(batch.precision)
        do {
            switch batch.precision {
            case .float32:
                impl = try DeviceBatch<Float>(
                    batch, context: context, queue: queue, shape: shape, maxWorkGroupSize: device.maxWorkGroupSize,
                    replicaSteps: replicaSteps, pairTiles: pairTiles, blockSteps: blockSteps,
                    computeUnits: device.computeUnits)
            case .float64:
                // A double16 spans four registers of an AVX2 CPU device: its block kernel sums in halves of 8 lanes.
                impl = try DeviceBatch<Double>(
                    batch, context: context, queue: queue, shape: shape, maxWorkGroupSize: device.maxWorkGroupSize,
                    replicaSteps: replicaSteps, pairTiles: pairTiles, blockSteps: blockSteps,
                    computeUnits: device.computeUnits,
                    halfBlocks: device.type == .cpu && device.preferredFloatWidth < 16)
            }
        } catch let error as DLNError { throw error } catch let error as CLError
            where Self.allocationCodes.contains(error.code)
        {
            impl = nil
            throw .outOfMemory("\(device.name) cannot hold \(batch.layout.replicas) replicas (\(error))")
        } catch { throw .deviceFailure("\(error)") }
    }

    /// CL_MEM_OBJECT_ALLOCATION_FAILURE, CL_OUT_OF_RESOURCES, CL_OUT_OF_HOST_MEMORY, CL_INVALID_BUFFER_SIZE.
    static let allocationCodes: Set<Int32> = [-4, -5, -6, -61]

    public func step(count: Int) throws(DLNError) {
        guard let impl else { preconditionFailure("initialize the engine first") }
        if impl.adaptive { throw .invalidProblem("update flow advances in time: use advance(to:)") }
        do { try impl.step(count: count) } catch { throw .deviceFailure("\(error)") }
    }

    /// Replicas that fit in 80% of the device's global memory with every buffer under its largest allocation.
    public func replicaCapacity(_ batch: Batch) -> Int {
        var (per, shared) = batch.memoryFootprint
        if shape == .vector16 && shared == 0 {  // independent data: the strip copy and scratch of each replica
            per += DeviceReplicaSteps<Float>.bytesPerReplica(batch)
        }
        let budget = Double(device.globalMemorySize) * 0.8 - Double(shared)
        // The largest per-replica buffer: the integrator's derivatives, or X with independent data.
        let lay = batch.layout
        let bytes = batch.precision.byteCount
        var largest = bytes * lay.layers * lay.dimension
        if batch.update == .flow {
            largest = max(
                largest, bytes * DormandPrince.stages * (batch.representation == .log ? 1 : lay.layers) * lay.dimension)
        }
        if let m = batch.observables.plLanczos(samples: lay.samples, dimension: lay.dimension) {
            largest = max(largest, bytes * m * lay.samples)  // pl_constant's Lanczos basis
        }
        if Set(batch.replicas.map(\.dataset)).count == batch.replicas.count {
            largest = max(largest, bytes * lay.samples * lay.dimension)
        }
        let byAllocation = Double(device.maxAllocationSize) / Double(largest)
        return max(Layout.lanes, Int(min(budget / Double(per), byAllocation)) / Layout.lanes * Layout.lanes)
    }

    public func advance(to time: Double) throws(DLNError) {
        _ = try advance(to: time, stoppingIf: { false })
    }

    public func advance(to time: Double, stoppingIf stop: () -> Bool) throws(DLNError) -> Bool {
        guard let impl else { preconditionFailure("initialize the engine first") }
        guard impl.adaptive else { throw .invalidProblem("advance(to:) needs update flow") }
        do { return try impl.advance(to: time, stoppingIf: stop) } catch let error as DLNError { throw error } catch {
            throw .deviceFailure("\(error)")
        }
    }

    public func flowCounters() throws(DLNError) -> FlowCounters {
        guard let impl else { preconditionFailure("initialize the engine first") }
        do { return try impl.flowCounters() } catch { throw .deviceFailure("\(error)") }
    }

    /// Waits until the device has run every step enqueued.
    public func finish() throws(DLNError) {
        guard let impl else { preconditionFailure("initialize the engine first") }
        do { try impl.queue.finish() } catch { throw .deviceFailure("\(error)") }
    }

    public func observe() throws(DLNError) -> Observation {
        guard let impl else { preconditionFailure("initialize the engine first") }
        do { return try impl.observe() } catch let error as DLNError { throw error } catch {
            throw .deviceFailure("\(error)")
        }
    }

    public func state() throws(DLNError) -> EngineState {
        guard let impl else { preconditionFailure("initialize the engine first") }
        do { return try impl.state() } catch { throw .deviceFailure("\(error)") }
    }

    public func snapshot() throws(DLNError) -> EngineSnapshot {
        guard let impl else { preconditionFailure("initialize the engine first") }
        do { return try impl.snapshot() } catch { throw .deviceFailure("\(error)") }
    }

    public func restore(_ snapshot: EngineSnapshot, replicas: [Int]?) throws(DLNError) {
        guard let impl else { preconditionFailure("initialize the engine first") }
        do { try impl.restore(snapshot, replicas: replicas) } catch let error as DLNError { throw error } catch {
            throw .deviceFailure("\(error)")
        }
    }

    /// True when no kernel wrote past the end of an output buffer (test support).
    public func canariesIntact() throws(DLNError) -> Bool {
        guard let impl else { preconditionFailure("initialize the engine first") }
        do { return try impl.canariesIntact() } catch { throw .deviceFailure("\(error)") }
    }
}

protocol DeviceBatchRunner: AnyObject {
    var replicas: Int { get }
    /// The queue every step is enqueued on.
    var queue: CLCommandQueue { get }
    /// True for update flow (advance(to:)); false for the fixed-step updates (step(count:)).
    var adaptive: Bool { get }
    /// Whether independent data step one replica at a time (DeviceReplicaSteps).
    var stepsReplicasAlone: Bool { get }
    /// Whether shared data step one block per work-item through a launch (`dln_block_steps_v16`).
    var stepsBlocksAlone: Bool { get }
    func step(count: Int) throws(CLError)
    func advance(to time: Double, stoppingIf stop: () -> Bool) throws -> Bool
    func flowCounters() throws(CLError) -> FlowCounters
    func observe() throws -> Observation
    func state() throws(CLError) -> EngineState
    func canariesIntact() throws(CLError) -> Bool
    func snapshot() throws(CLError) -> EngineSnapshot
    func restore(_ snapshot: EngineSnapshot, replicas: [Int]?) throws
}
