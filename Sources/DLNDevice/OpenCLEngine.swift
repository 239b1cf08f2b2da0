import DLNCore
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
public final class OpenCLEngine: Engine {
    /// The device.
    public let device: CLDevice
    /// The shape of the product kernels.
    public let shape: KernelShape
    let context: CLContext
    let queue: CLCommandQueue
    private var impl: (any DeviceBatchRunner)?

    /// Extra elements after every output buffer, filled with a sentinel and checked by `canariesIntact()`.
    public static let canaryCount = 16

    /// An engine on one OpenCL device; `shape` nil chooses by device type.
    public init(device: CLDevice, shape: KernelShape? = nil) throws(DLNError) {
        self.device = device
        self.shape = shape ?? KernelShape.preferred(for: device)
        do {
            context = try CLContext.shared(for: device)
            queue = try CLCommandQueue(context: context)
        } catch { throw .deviceFailure("cannot open \(device.name): \(error)") }
    }

    public var deviceDescription: String { "OpenCL \(device.name) (\(device.platform.name), driver \(device.driverVersion), \(shape.rawValue) kernels)" }

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
            case .float32: impl = try DeviceBatch<Float>(batch, context: context, queue: queue, shape: shape, maxWorkGroupSize: device.maxWorkGroupSize)
            case .float64: impl = try DeviceBatch<Double>(batch, context: context, queue: queue, shape: shape, maxWorkGroupSize: device.maxWorkGroupSize)
            }
        } catch let error as DLNError { throw error } catch let error as CLError where Self.allocationCodes.contains(error.code) {
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
        let (per, shared) = batch.memoryFootprint
        let budget = Double(device.globalMemorySize) * 0.8 - Double(shared)
        // The largest per-replica buffer: the integrator's derivatives, or X with independent data.
        let lay = batch.layout, bytes = batch.precision.byteCount
        var largest = bytes * lay.layers * lay.dimension
        if batch.update == .flow { largest = max(largest, bytes * DormandPrince.stages * (batch.representation == .log ? 1 : lay.layers) * lay.dimension) }
        if Set(batch.replicas.map(\.dataset)).count == batch.replicas.count { largest = max(largest, bytes * lay.samples * lay.dimension) }
        let byAllocation = Double(device.maxAllocationSize) / Double(largest)
        return max(Layout.lanes, Int(min(budget / Double(per), byAllocation)) / Layout.lanes * Layout.lanes)
    }

    public func advance(to time: Double) throws(DLNError) {
        guard let impl else { preconditionFailure("initialize the engine first") }
        guard impl.adaptive else { throw .invalidProblem("advance(to:) needs update flow") }
        do { try impl.advance(to: time) } catch let error as DLNError { throw error } catch { throw .deviceFailure("\(error)") }
    }

    public func flowCounters() throws(DLNError) -> FlowCounters {
        guard let impl else { preconditionFailure("initialize the engine first") }
        do { return try impl.flowCounters() } catch { throw .deviceFailure("\(error)") }
    }

    public func observe() throws(DLNError) -> Observation {
        guard let impl else { preconditionFailure("initialize the engine first") }
        do { return try impl.observe() } catch { throw .deviceFailure("\(error)") }
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
        do { try impl.restore(snapshot, replicas: replicas) } catch let error as DLNError { throw error } catch { throw .deviceFailure("\(error)") }
    }

    /// True when no kernel wrote past the end of an output buffer (test support).
    public func canariesIntact() throws(DLNError) -> Bool {
        guard let impl else { preconditionFailure("initialize the engine first") }
        do { return try impl.canariesIntact() } catch { throw .deviceFailure("\(error)") }
    }
}

protocol DeviceBatchRunner: AnyObject {
    var replicas: Int { get }
    /// True for update flow (advance(to:)); false for the fixed-step updates (step(count:)).
    var adaptive: Bool { get }
    func step(count: Int) throws(CLError)
    func advance(to time: Double) throws
    func flowCounters() throws(CLError) -> FlowCounters
    func observe() throws(CLError) -> Observation
    func state() throws(CLError) -> EngineState
    func canariesIntact() throws(CLError) -> Bool
    func snapshot() throws(CLError) -> EngineSnapshot
    func restore(_ snapshot: EngineSnapshot, replicas: [Int]?) throws
}

final class DeviceBatch<T: DLNReal & CLKernelArgument>: DeviceBatchRunner {
    let layout: Layout
    let queue: CLCommandQueue
    let residual: CLKernel, gradient: CLKernel, update: CLKernel, loss: CLKernel, observeKernel: CLKernel
    let shape: KernelShape
    /// vector16 single-block kernels. `residual16` serves observations (skips only the paired blocks);
    /// `residual16Products` and `gradient16` serve steps (also skip the blocks of the fused pass).
    let residual16: CLKernel, residual16Products: CLKernel, gradient16: CLKernel
    /// vector16: pairs of neighbouring blocks that share a data set run in the pair kernels (32 replicas per
    /// work-item); the single-block kernels skip them.
    let residualPairs: CLKernel, gradientPairs: CLKernel
    let pairCount: Int
    /// Skip lists, pair and mixed-block tables: kept alive for the kernels that read them.
    let tables: [CLBuffer]
    /// vector16: blocks with lane-interleaved data run residual and gradient in one pass (the fused kernel);
    /// the single-block kernels then skip them too (`skipProducts`), except for the residual of an observation.
    let fused: CLKernel
    let mixedCount: Int
    let blockDS: CLBuffer, blockXI: CLBuffer, xi: CLBuffer
    /// The Gram form: g = Σw − b by the residual kernels with (Σ, b) in place of (X, y); nil for the products.
    var gramKernel: CLKernel? = nil
    var gramBuffers: [CLBuffer] = []
    /// The tiled shape's many-steps kernel, and its work-items per replica.
    var tiledKernel: CLKernel? = nil
    var tiledThreads = 16
    /// Steps per launch of the tiled kernel.
    static var stepsPerLaunch: Int { 32 }
    let layers: CLBuffer, w: CLBuffer, r: CLBuffer, g: CLBuffer, lossBuffer: CLBuffer, obs: CLBuffer
    let x: CLBuffer, y: CLBuffer, ds: CLBuffer, eta: CLBuffer, lambda: CLBuffer
    let initial: CLBuffer, teacher: CLBuffer, hasTeacher: CLBuffer, decay: CLBuffer, thresholds: CLBuffer
    let xTest: CLBuffer, yTest: CLBuffer
    let observables: ObservableSet
    let decayOf: (Int) -> [Double]
    let decayAt: ([Double]) -> [Double]
    var stepsTaken = 0
    /// The integrator (update flow) or the log representation's state (DeviceFlow.swift); nil for the plain updates.
    var flow: DeviceFlow<T>? = nil
    var adaptive: Bool { flow?.adaptive ?? false }
    let sentinel = T(-12345.5)
    static var local: Int { Layout.lanes }
    var replicas: Int { layout.replicas }

    /// The -D options selecting the model and precision.
    static func options(_ batch: Batch) -> String {
        let model = switch batch.parameterization { case .pm: 1; case .uv: 2; case .deep: 3 }
        var o = "-cl-std=CL1.2 -D REAL=\(T.openCLName) -D REAL16=\(T.openCLName)16 -D MODEL=\(model) -D DEPTH=\(batch.layout.layers)"
        o += " -D MULTIPLICATIVE=\(batch.update == .multiplicative ? 1 : 0)"
        o += " -D NTHRESH=\(batch.observables.thresholds.count) -cl-fp32-correctly-rounded-divide-sqrt"
        if T.self == Double.self { o += " -D DLN_FP64" }
        if batch.representation == .log { o += " -D FLOW_LOG=1" }
        return o
    }

    init(_ batch: Batch, context: CLContext, queue: CLCommandQueue, shape: KernelShape, maxWorkGroupSize: Int = 256) throws {
        let lay = batch.layout
        layout = lay
        self.queue = queue
        self.shape = shape
        let program = try KernelLibrary.program(context: context, source: try KernelLibrary.source(), options: Self.options(batch))
        residual = try CLKernel(program: program, name: "dln_residual")
        gradient = try CLKernel(program: program, name: "dln_gradient")
        update = try CLKernel(program: program, name: "dln_update")
        loss = try CLKernel(program: program, name: "dln_loss")
        observeKernel = try CLKernel(program: program, name: "dln_observe")
        let weight = try CLKernel(program: program, name: "dln_weight")
        residual16 = try CLKernel(program: program, name: "dln_residual_v16")
        residual16Products = try CLKernel(program: program, name: "dln_residual_v16")
        gradient16 = try CLKernel(program: program, name: "dln_gradient_v16")
        let canary = [T](repeating: sentinel, count: OpenCLEngine.canaryCount)

        var packed: [T] = []
        for a in batch.initialLayers { packed += lay.pack(a.values(as: T.self), length: lay.dimension, fill: 0) }
        layers = try CLBuffer(context: context, copying: packed + canary)
        w = try CLBuffer(context: context, copying: [T](repeating: 0, count: lay.coordinateCount) + canary)
        r = try CLBuffer(context: context, copying: [T](repeating: 0, count: lay.sampleCount) + canary)
        g = try CLBuffer(context: context, copying: [T](repeating: 0, count: lay.coordinateCount) + canary)
        lossBuffer = try CLBuffer(context: context, copying: [T](repeating: 0, count: lay.replicas) + canary)
        x = try CLBuffer(context: context, copying: batch.datasets.flatMap { $0.x.values(as: T.self) }, access: .readOnly)
        y = try CLBuffer(context: context, copying: batch.datasets.flatMap { $0.y.values(as: T.self) }, access: .readOnly)
        ds = try CLBuffer(context: context, copying: batch.replicas.map { Int32($0.dataset) }, access: .readOnly)
        eta = try CLBuffer(context: context, copying: batch.replicas.map { T($0.eta) }, access: .readOnly)
        lambda = try CLBuffer(context: context, copying: batch.replicas.map { T($0.lambdaU) }, access: .readOnly)
        initial = try CLBuffer(context: context, copying: packed, access: .readOnly)
        teacher = try CLBuffer(context: context, copying: batch.datasets.flatMap { ds in
            (ds.wStar ?? [Double](repeating: 0, count: lay.dimension)).map { T($0) } }, access: .readOnly)
        hasTeacher = try CLBuffer(context: context, copying: batch.datasets.map { Int32($0.wStar == nil ? 0 : 1) }, access: .readOnly)
        decay = try CLBuffer(context: context, copying: [T](repeating: 1, count: lay.replicas), access: .readOnly)
        thresholds = try CLBuffer(context: context, copying: batch.observables.thresholds.map { T($0) }, access: .readOnly)
        let nt = batch.testSamples
        xTest = try CLBuffer(context: context, copying: nt > 0 ? batch.datasets.flatMap { $0.test!.x.values(as: T.self) } : [T(0)], access: .readOnly)
        yTest = try CLBuffer(context: context, copying: nt > 0 ? batch.datasets.flatMap { $0.test!.y.values(as: T.self) } : [T(0)], access: .readOnly)
        observables = batch.observables
        obs = try CLBuffer(context: context, copying: [T](repeating: 0, count: lay.replicas * (observables.count - 1)) + canary)
        decayOf = { [batch] steps in batch.decay(afterSteps: steps) }
        decayAt = { [batch] times in batch.decay(atTimes: times) }

        // Per block: the one data set its lanes share, or −1 and an offset into lane-interleaved data
        // (padding lanes use the block's first replica's data set, as in the CPU engine).
        var dsPerBlock: [Int32] = [], xiOffsets: [Int64] = [], interleavedData: [T] = []
        let xs = batch.datasets.map { $0.x.values(as: T.self) }, ys = batch.datasets.map { $0.y.values(as: T.self) }
        let nd = lay.samples * lay.dimension
        for blk in 0..<lay.blocks {
            let lanes = (0..<Layout.lanes).map { lane in
                let b = blk * Layout.lanes + lane
                return batch.replicas[b < lay.replicas ? b : blk * Layout.lanes].dataset
            }
            if shape == .vector16 && Set(lanes).count > 1 {
                dsPerBlock.append(-1)
                xiOffsets.append(Int64(interleavedData.count))
                var block = [T](repeating: 0, count: (nd + lay.samples) * Layout.lanes)
                for (lane, s) in lanes.enumerated() {
                    for k in 0..<nd { block[k * Layout.lanes + lane] = xs[s][k] }
                    for i in 0..<lay.samples { block[(nd + i) * Layout.lanes + lane] = ys[s][i] }
                }
                interleavedData += block
            } else {
                dsPerBlock.append(Int32(lanes[0]))
                xiOffsets.append(0)
            }
        }
        blockDS = try CLBuffer(context: context, copying: dsPerBlock, access: .readOnly)
        blockXI = try CLBuffer(context: context, copying: xiOffsets, access: .readOnly)
        xi = try CLBuffer(context: context, copying: interleavedData.isEmpty ? [T(0)] : interleavedData, access: .readOnly)
        if shape == .tiled && batch.gradientForm == .products {
            let k = try CLKernel(program: program, name: "dln_steps_tiled")
            try k.setArguments(Int32(lay.replicas), Int32(lay.samples), Int32(lay.dimension))
            try k.setArgument(3, Int64(lay.coordinateCount)); try k.setArgument(4, Int32(1)); try k.setArgument(5, T(batch.gradientScale))
            try k.setArgument(6, x); try k.setArgument(7, y); try k.setArgument(8, ds); try k.setArgument(9, eta)
            try k.setArgument(10, lambda); try k.setArgument(11, layers); try k.setArgument(12, w); try k.setArgument(13, r)
            tiledKernel = k
            tiledThreads = max(1, min(16, maxWorkGroupSize / Layout.lanes))
        }
        if batch.gradientForm == .gram {
            // Σ = scale·XᵀX and b = scale·Xᵀy per data set (the CPU engine's numbers), and lane-interleaved
            // per block with mixed data (vector16): the residual kernels then compute g = Σw − b, already scaled.
            let dd = lay.dimension
            let forms = (0..<batch.datasets.count).map { k in batch.gram(dataset: k) }
            let gx = try CLBuffer(context: context, copying: forms.flatMap { $0.matrix.map { T($0) } }, access: .readOnly)
            let gy = try CLBuffer(context: context, copying: forms.flatMap { $0.vector.map { T($0) } }, access: .readOnly)
            var offsets: [Int64] = [], gi: [T] = []
            for blk in 0..<lay.blocks {
                guard dsPerBlock[blk] < 0 else { offsets.append(0); continue }
                offsets.append(Int64(gi.count))
                var block = [T](repeating: 0, count: (dd * dd + dd) * Layout.lanes)
                for lane in 0..<Layout.lanes {
                    let b = blk * Layout.lanes + lane
                    let f = forms[batch.replicas[b < lay.replicas ? b : blk * Layout.lanes].dataset]
                    for k in 0..<(dd * dd) { block[k * Layout.lanes + lane] = T(f.matrix[k]) }
                    for j in 0..<dd { block[(dd * dd + j) * Layout.lanes + lane] = T(f.vector[j]) }
                }
                gi += block
            }
            let gOffsets = try CLBuffer(context: context, copying: offsets, access: .readOnly)
            let gInterleaved = try CLBuffer(context: context, copying: gi.isEmpty ? [T(0)] : gi, access: .readOnly)
            let k: CLKernel
            if shape == .vector16 {
                k = try CLKernel(program: program, name: "dln_residual_v16")
                try k.setArgument(0, Int32(dd)); try k.setArgument(1, Int32(dd)); try k.setArgument(2, gx); try k.setArgument(3, gy)
                try k.setArgument(4, blockDS); try k.setArgument(5, gOffsets); try k.setArgument(6, gInterleaved)
                try k.setArgument(7, w); try k.setArgument(8, g)
            } else {
                k = try CLKernel(program: program, name: "dln_residual")
                try k.setArguments(Int32(lay.replicas), Int32(dd), Int32(dd))
                try k.setArgument(3, gx); try k.setArgument(4, gy); try k.setArgument(5, ds)
                try k.setArgument(6, w); try k.setArgument(7, g)
            }
            gramKernel = k
            gramBuffers = [gx, gy, gOffsets, gInterleaved]
        }

        let B = Int32(lay.replicas), n = Int32(lay.samples), d = Int32(lay.dimension)
        // Pairs (vector16, products form): blocks 2p, 2p+1 scanned greedily, both with the same shared data set.
        var pairStarts: [Int32] = [], skip = [Int32](repeating: 0, count: lay.blocks)
        if shape == .vector16 && batch.gradientForm == .products {
            var blk = 0
            while blk + 1 < lay.blocks {
                if dsPerBlock[blk] >= 0 && dsPerBlock[blk] == dsPerBlock[blk + 1] {
                    pairStarts.append(Int32(blk)); skip[blk] = 1; skip[blk + 1] = 1; blk += 2
                } else { blk += 1 }
            }
        }
        pairCount = pairStarts.count
        var mixed: [Int32] = [], skipAll = skip
        // (One mixed block alone keeps the split kernels: they spread its rows over the device's cores.)
        if shape == .vector16 && batch.gradientForm == .products && dsPerBlock.filter({ $0 < 0 }).count >= 2 {
            for blk in 0..<lay.blocks where dsPerBlock[blk] < 0 { mixed.append(Int32(blk)); skipAll[blk] = 1 }
        }
        mixedCount = mixed.count
        let skipProducts = try CLBuffer(context: context, copying: skipAll, access: .readOnly)
        let mixedBuffer = try CLBuffer(context: context, copying: mixed.isEmpty ? [Int32(0)] : mixed, access: .readOnly)
        fused = try CLKernel(program: program, name: "dln_products_v16_fused")
        try fused.setArgument(0, n); try fused.setArgument(1, d); try fused.setArgument(2, T(batch.gradientScale))
        try fused.setArgument(3, mixedBuffer); try fused.setArgument(4, blockXI); try fused.setArgument(5, xi)
        try fused.setArgument(6, w); try fused.setArgument(7, r); try fused.setArgument(8, g)
        let skipBuffer = try CLBuffer(context: context, copying: skip, access: .readOnly)
        let noSkip = try CLBuffer(context: context, copying: [Int32](repeating: 0, count: lay.blocks), access: .readOnly)
        let pairBuffer = try CLBuffer(context: context, copying: pairStarts.isEmpty ? [Int32(0)] : pairStarts, access: .readOnly)
        tables = [skipBuffer, noSkip, pairBuffer, skipProducts, mixedBuffer]
        residualPairs = try CLKernel(program: program, name: "dln_residual_v16p")
        gradientPairs = try CLKernel(program: program, name: "dln_gradient_v16p")
        try residualPairs.setArgument(0, n); try residualPairs.setArgument(1, d); try residualPairs.setArgument(2, x)
        try residualPairs.setArgument(3, y); try residualPairs.setArgument(4, blockDS); try residualPairs.setArgument(5, pairBuffer)
        try residualPairs.setArgument(6, w); try residualPairs.setArgument(7, r)
        try gradientPairs.setArgument(0, n); try gradientPairs.setArgument(1, d); try gradientPairs.setArgument(2, T(batch.gradientScale))
        try gradientPairs.setArgument(3, x); try gradientPairs.setArgument(4, blockDS); try gradientPairs.setArgument(5, pairBuffer)
        try gradientPairs.setArgument(6, r); try gradientPairs.setArgument(7, g)
        if let k = gramKernel, shape == .vector16 { try k.setArgument(9, noSkip) }
        for (r16, skips) in [(residual16, skipBuffer), (residual16Products, skipProducts)] {
            try r16.setArgument(0, n); try r16.setArgument(1, d); try r16.setArgument(2, x); try r16.setArgument(3, y)
            try r16.setArgument(4, blockDS); try r16.setArgument(5, blockXI); try r16.setArgument(6, xi)
            try r16.setArgument(7, w); try r16.setArgument(8, r); try r16.setArgument(9, skips)
        }
        let g16 = gradient16
        try g16.setArgument(0, n); try g16.setArgument(1, d); try g16.setArgument(2, T(batch.gradientScale))
        try g16.setArgument(3, x); try g16.setArgument(4, blockDS); try g16.setArgument(5, blockXI); try g16.setArgument(6, xi)
        try g16.setArgument(7, r); try g16.setArgument(8, g); try g16.setArgument(9, skipProducts)
        let stride = Int64(lay.coordinateCount)
        try residual.setArguments(B, n, d)
        try residual.setArgument(3, x); try residual.setArgument(4, y); try residual.setArgument(5, ds)
        try residual.setArgument(6, w); try residual.setArgument(7, r)
        try gradient.setArguments(B, n, d)
        try gradient.setArgument(3, T(batch.gradientScale))
        try gradient.setArgument(4, x); try gradient.setArgument(5, ds); try gradient.setArgument(6, r); try gradient.setArgument(7, g)
        try update.setArgument(0, B); try update.setArgument(1, d); try update.setArgument(2, stride)
        try update.setArgument(3, eta); try update.setArgument(4, lambda); try update.setArgument(5, g)
        try update.setArgument(6, layers); try update.setArgument(7, w)
        try loss.setArgument(0, B); try loss.setArgument(1, n); try loss.setArgument(2, T(batch.lossScale))
        try loss.setArgument(3, r); try loss.setArgument(4, lossBuffer)
        let o = observeKernel
        try o.setArgument(0, B); try o.setArgument(1, d); try o.setArgument(2, stride); try o.setArgument(3, ds)
        try o.setArgument(4, w); try o.setArgument(5, layers); try o.setArgument(6, initial); try o.setArgument(7, teacher)
        try o.setArgument(8, hasTeacher); try o.setArgument(9, decay); try o.setArgument(10, thresholds)
        try o.setArgument(11, T(1 / Double(lay.dimension))); try o.setArgument(12, T(batch.designVariance ?? 0))
        try o.setArgument(13, Int32(batch.designVariance == nil ? 0 : 1)); try o.setArgument(14, Int32(nt))
        try o.setArgument(15, T(nt > 0 ? 1 / Double(nt) : 0)); try o.setArgument(16, xTest); try o.setArgument(17, yTest)
        try o.setArgument(18, obs)
        try weight.setArgument(0, B); try weight.setArgument(1, d); try weight.setArgument(2, stride)
        try weight.setArgument(3, layers); try weight.setArgument(4, w)
        try queue.enqueue(weight, global: [lay.paddedReplicas, lay.dimension], local: [Self.local, 1])
        if batch.update == .flow || batch.representation == .log {
            flow = try DeviceFlow<T>(batch, program: program, context: context, queue: queue, layers: layers, w: w, g: g,
                                     canary: canary, products: { [unowned self] () throws(CLError) in try self.enqueueProducts() })
            try flow!.enqueueMaterialize(steps: 0)
        }
        try queue.finish()
    }

    /// Enqueues r = Xw − y in the engine's shape.
    func enqueueResidual() throws(CLError) {
        if shape == .vector16 {
            try queue.enqueue(residual16, global: [layout.blocks, (layout.samples + 3) / 4], local: [1, 1])
            if pairCount > 0 { try queue.enqueue(residualPairs, global: [pairCount, (layout.samples + 3) / 4], local: [1, 1]) }
        } else {
            try queue.enqueue(residual, global: [layout.paddedReplicas, layout.samples], local: [Self.local, 1])
        }
    }

    /// Enqueues the scaled gradient g: the residual and Xᵀr, or the Gram form Σw − b.
    func enqueueProducts() throws(CLError) {
        if let k = gramKernel {
            if shape == .vector16 {
                try queue.enqueue(k, global: [layout.blocks, (layout.dimension + 3) / 4], local: [1, 1])
            } else {
                try queue.enqueue(k, global: [layout.paddedReplicas, layout.dimension], local: [Self.local, 1])
            }
            return
        }
        guard shape == .vector16 else {
            try enqueueResidual()
            try queue.enqueue(gradient, global: [layout.paddedReplicas, layout.dimension], local: [Self.local, 1])
            return
        }
        // Blocks with mixed data in one fused pass; single blocks and pairs in the two-pass kernels.
        if mixedCount > 0 { try queue.enqueue(fused, global: [mixedCount], local: [1]) }
        try queue.enqueue(residual16Products, global: [layout.blocks, (layout.samples + 3) / 4], local: [1, 1])
        if pairCount > 0 { try queue.enqueue(residualPairs, global: [pairCount, (layout.samples + 3) / 4], local: [1, 1]) }
        try queue.enqueue(gradient16, global: [layout.blocks, (layout.dimension + 3) / 4], local: [1, 1])
        if pairCount > 0 { try queue.enqueue(gradientPairs, global: [pairCount, (layout.dimension + 3) / 4], local: [1, 1]) }
    }

    func step(count: Int) throws(CLError) {
        guard count > 0 else { return }
        if let flow {
            precondition(!flow.adaptive, "update flow advances in time: use advance(to:)")
            try flow.euler(count: count, first: stepsTaken)
            stepsTaken += count
            return
        }
        let P = layout.paddedReplicas
        if let k = tiledKernel {
            var left = count
            while left > 0 {
                let chunk = min(left, Self.stepsPerLaunch)
                try k.setArgument(4, Int32(chunk))
                try queue.enqueue(k, global: [P, tiledThreads], local: [Self.local, tiledThreads])
                try queue.flush()
                left -= chunk
            }
            stepsTaken += count
            return
        }
        for k in 0..<count {
            try enqueueProducts()
            try queue.enqueue(update, global: [P, layout.dimension], local: [Self.local, 1])
            if k % 256 == 255 { try queue.flush() }
        }
        try queue.flush()
        stepsTaken += count
    }

    func advance(to time: Double) throws {
        guard let flow, flow.adaptive else { preconditionFailure("advance(to:) needs update flow") }
        try flow.advance(to: time)
    }

    func flowCounters() throws(CLError) -> FlowCounters {
        guard let flow else { return FlowCounters(replicas: layout.replicas) }
        return try flow.counters()
    }

    func observe() throws(CLError) -> Observation {
        let decays: [Double]
        if let flow {
            // The layers and w at each replica's time first (the state is z, or the layers without w).
            try flow.enqueueMaterialize(steps: stepsTaken)
            decays = flow.adaptive ? decayAt(try flow.times(steps: stepsTaken).map { Double($0) }) : decayOf(stepsTaken)
        } else {
            decays = decayOf(stepsTaken)
        }
        try enqueueResidual()
        try queue.enqueue(loss, global: [layout.paddedReplicas], local: [Self.local])
        try queue.write(decay, from: decays.map { T($0) })
        try queue.enqueue(observeKernel, global: [layout.paddedReplicas], local: [Self.local])
        let B = layout.replicas, K = observables.count
        let losses = try queue.read(lossBuffer, as: T.self, count: B)
        let rest = try queue.read(obs, as: T.self, count: B * (K - 1))
        var values = [losses.map { Double($0) }]
        for k in 1..<K { values.append((0..<B).map { Double(rest[$0 * (K - 1) + k - 1]) }) }
        return Observation(names: observables.names, values: values)
    }

    func state() throws(CLError) -> EngineState {
        try flow?.enqueueMaterialize(steps: stepsTaken)
        let d = layout.dimension
        let all = try queue.read(layers, as: T.self, count: layout.layers * layout.coordinateCount)
        let ws = try queue.read(w, as: T.self, count: layout.coordinateCount)
        func wrap(_ a: [T]) -> RealArray { T.self == Float.self ? .float(a as! [Float]) : .double(a as! [Double]) }
        return EngineState(
            layers: (0..<layout.layers).map { wrap(layout.unpack(all, length: d, offset: $0 * layout.coordinateCount)) },
            weights: wrap(layout.unpack(ws, length: d)))
    }

    /// The state arrays (the CPU engine's order, `StateArray.arrays`) with their device buffers.
    private var stateBuffers: [(StateArray, CLBuffer?)] {
        let arrays = StateArray.arrays(layout: layout, flowComponents: flow?.components, log: flow?.log ?? false)
        var list: [CLBuffer?] = [layers, w]
        if let f = flow {
            if f.log { list.append(f.y) }
            // Without update flow the evaluations are counted on the host (nil).
            list += [f.f, f.t, f.hdes, f.errprev, f.frozenAt, f.lastRejected, f.status, f.adaptive ? f.evaluations : nil, f.rejected, f.attempts]
        }
        return Array(zip(arrays, list))
    }

    func snapshot() throws(CLError) -> EngineSnapshot {
        let B = layout.replicas
        var buffers: [EngineSnapshot.Buffer] = []
        for (a, buffer) in stateBuffers {
            var values: [Double]
            if let buffer {
                let n = a.extent(replicas: B)
                if a.integer {
                    values = try queue.read(buffer, as: Int32.self, count: n).withUnsafeBufferPointer { p in a.gather(p.baseAddress!, replicas: B) { Double($0) } }
                } else {
                    values = try queue.read(buffer, as: T.self, count: n).withUnsafeBufferPointer { p in a.gather(p.baseAddress!, replicas: B) { Double($0) } }
                }
            } else {
                values = flow!.hostEvaluations.map { Double($0) }
            }
            buffers.append(EngineSnapshot.Buffer(name: a.name, width: a.width, integer: a.integer, values: values))
        }
        return EngineSnapshot(replicas: B, steps: stepsTaken, started: flow?.started ?? false, buffers: buffers)
    }

    func restore(_ s: EngineSnapshot, replicas only: [Int]?) throws {
        let storage = stateBuffers
        let B = layout.replicas
        try s.check(against: storage.map { ($0.0.name, $0.0.width) }, replicas: B)
        if let only {
            try restoreBlocks(s, replicas: only, storage: storage)
            return
        }
        for ((a, buffer), saved) in zip(storage, s.buffers) {
            guard let buffer else { flow!.hostEvaluations = saved.values.map { Int32($0) }; continue }
            // Read, patch the replicas' elements, write back: padding and canaries stay as they are.
            let n = a.extent(replicas: B)
            if a.integer {
                var raw = try queue.read(buffer, as: Int32.self, count: n)
                raw.withUnsafeMutableBufferPointer { p in a.scatter(saved.values, into: p.baseAddress!, replicas: B) { Int32($0) } }
                try queue.write(buffer, from: raw)
            } else {
                var raw = try queue.read(buffer, as: T.self, count: n)
                raw.withUnsafeMutableBufferPointer { p in a.scatter(saved.values, into: p.baseAddress!, replicas: B) { T($0) } }
                try queue.write(buffer, from: raw)
            }
        }
        stepsTaken = s.steps
        flow?.started = s.started
        try queue.finish()
    }

    /// Restores only `replicas`: per coordinate array, the contiguous region of each block that holds one of
    /// them (16 lanes × d per component) is read, patched and written back.
    private func restoreBlocks(_ s: EngineSnapshot, replicas: [Int], storage: [(StateArray, CLBuffer?)]) throws {
        let d = layout.dimension, L = Layout.lanes
        let blocks = Set(replicas.map { $0 / L }).sorted()
        for ((a, buffer), saved) in zip(storage, s.buffers) {
            guard let buffer else {
                for b in replicas { flow!.hostEvaluations[b] = Int32(saved.values[b]) }
                continue
            }
            func patch<E: BitwiseCopyable>(_ type: E.Type, _ convert: (Double) -> E) throws {
                if a.perReplica {
                    var raw = try queue.read(buffer, as: E.self, count: layout.replicas)
                    for b in replicas { raw[b] = convert(saved.values[b]) }
                    try queue.write(buffer, from: raw)
                    return
                }
                let components = a.width / d
                for blk in blocks {
                    for comp in 0..<components {
                        let offset = a.index(blk * L, comp * d)
                        var raw = try queue.read(buffer, as: E.self, count: d * L, offset: offset)
                        for b in replicas where b / L == blk {
                            for j in 0..<d { raw[j * L + b % L] = convert(saved.values[b * a.width + comp * d + j]) }
                        }
                        try queue.write(buffer, from: raw, offset: offset)
                    }
                }
            }
            if a.integer { try patch(Int32.self) { Int32($0) } } else { try patch(T.self) { T($0) } }
        }
        try queue.finish()
    }

    func canariesIntact() throws(CLError) -> Bool {
        let n = OpenCLEngine.canaryCount
        for (buffer, count) in [(layers, layout.layers * layout.coordinateCount), (w, layout.coordinateCount),
                                (r, layout.sampleCount), (g, layout.coordinateCount), (lossBuffer, layout.replicas),
                                (obs, layout.replicas * (observables.count - 1))] + (flow?.canaried ?? []) {
            let tail = try queue.read(buffer, as: T.self, count: n, offset: count)
            if tail.contains(where: { $0 != sentinel }) { return false }
        }
        return true
    }
}

extension CLKernel {
    /// Sets arguments 0, 1, 2 to three Int32 scalars.
    func setArguments(_ a: Int32, _ b: Int32, _ c: Int32) throws(CLError) {
        try setArgument(0, a)
        try setArgument(1, b)
        try setArgument(2, c)
    }
}
