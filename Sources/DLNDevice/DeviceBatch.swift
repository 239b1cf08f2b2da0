import DLNModel
import OpenCLKit

/// One batch on an OpenCL device: its buffers (DeviceBuffers.swift), its bound kernels (KernelBindings.swift),
/// and the launches of the products, the steps and the observations. The state stays on the device between
/// observations; snapshots and restores are in DeviceBuffers.swift.
final class DeviceBatch<T: DLNReal & CLKernelArgument>: DeviceBatchRunner {
    let layout: Layout
    let queue: CLCommandQueue
    let shape: KernelShape
    let buffers: DeviceBuffers<T>
    let kernels: KernelBindings
    let observables: ObservableSet
    let decayOf: (Int) -> [Double]
    let decayAt: ([Double]) -> [Double]
    var stepsTaken = 0
    /// The integrator (update flow) or the log representation's state (DeviceFlow.swift); nil for the plain updates.
    var flow: DeviceFlow<T>? = nil
    var adaptive: Bool { flow?.adaptive ?? false }
    var stepsReplicasAlone: Bool { replicaSteps != nil }
    var stepsBlocksAlone: Bool { kernels.blockSteps != nil }
    /// The stochastic steps (DeviceStochastic.swift); nil for deterministic steps.
    var stochastic: DeviceStochastic<T>? = nil
    /// Momentum (DeviceMomentum.swift); nil without.
    var momentum: DeviceMomentum<T>? = nil
    /// Independent data stepped one replica at a time (DeviceReplicaSteps.swift); nil otherwise.
    var replicaSteps: DeviceReplicaSteps<T>? = nil
    /// The curvature observables (DeviceCurvature.swift); nil when neither is recorded.
    var curvature: DeviceCurvature<T>? = nil
    /// The learning-rate schedule: the update's `factor` is re-set per step (per launch for the tiled kernel) unless
    /// it is constant (then it stays 1).
    let schedule: LearningRateSchedule
    /// Steps per launch of the kernels that run many: 32 for the tiled kernel (a GPU's launch stays short), 256 for the
    /// CPU devices' vector16 kernels (`dln_replica_*_v16`, `dln_block_steps_v16`), which read each replica's or
    /// block's data into the core's cache anew at every launch: at 40 steps per call, launches of 32 + 8 steps made
    /// PoCL read them twice (regime I, B = 16, d = 500, n = 250: 0.87–0.89× the CPU engine, which reads them once).
    static func stepsPerLaunch(shape: KernelShape) -> Int { shape == .vector16 ? 256 : 32 }
    static var local: Int { Layout.lanes }
    var replicas: Int { layout.replicas }

    /// The -D options selecting the precision, the depth and the update (the family is its kernel file);
    /// `halfBlocks`: float64's block kernel sums six rows or coordinates in two halves of eight lanes
    /// (`dln_block_steps_v16`, for CPU devices whose vectors hold fewer than 16 floats; the same bits).
    static func options(_ batch: Batch, halfBlocks: Bool = false) -> String {
        var o = "-cl-std=CL1.2 -D REAL=\(T.openCLName) -D REAL16=\(T.openCLName)16 -D DEPTH=\(batch.layout.layers)"
        o += " -D MULTIPLICATIVE=\(batch.update == .multiplicative ? 1 : 0)"
        o += " -D DLN_STRIDED=\(batch.summation == .strided ? 1 : 0)"
        o += batch.observables.kernelOptions + " -cl-fp32-correctly-rounded-divide-sqrt"
        if T.self == Double.self { o += " -D DLN_FP64" + (halfBlocks ? " -D DLN_BLOCK_HALVES" : "") }
        if batch.representation == .log { o += " -D FLOW_LOG=1" }
        return o
    }

    /// `replicaSteps`: whether independent data step one replica at a time (`DeviceReplicaSteps.applies`; nil:
    /// by size).
    init(
        _ batch: Batch, context: CLContext, queue: CLCommandQueue, shape: KernelShape, maxWorkGroupSize: Int = 256,
        replicaSteps forced: Bool? = nil, pairTiles: Bool = true, blockSteps: Bool? = nil, computeUnits: Int = 1,
        halfBlocks: Bool = false
    ) throws {
        let lay = batch.layout
        layout = lay
        self.queue = queue
        self.shape = shape
        observables = batch.observables
        schedule = batch.schedule
        decayOf = { [batch] steps in batch.decay(afterSteps: steps) }
        decayAt = { [batch] times in batch.decay(atTimes: times) }
        let program = try KernelLibrary.program(
            context: context, source: try KernelLibrary.source(files: KernelLibrary.files(for: batch.parameterization)),
            options: Self.options(batch, halfBlocks: halfBlocks))
        buffers = try DeviceBuffers<T>(batch, context: context, shape: shape)
        kernels = try KernelBindings(
            batch, program: program, buffers: buffers, shape: shape, maxWorkGroupSize: maxWorkGroupSize,
            stepsPerLaunch: Self.stepsPerLaunch(shape: shape), pairTiles: pairTiles,
            blockSteps: Self.stepsBlocksAlone(
                batch, shape: shape, dsPerBlock: buffers.dsPerBlock, pairTiles: pairTiles, computeUnits: computeUnits,
                forced: blockSteps))
        try queue.enqueue(kernels.weight, global: [lay.paddedReplicas, lay.dimension], local: [Self.local, 1])
        if DeviceReplicaSteps<T>.applies(to: batch, shape: shape, forced: forced) {
            replicaSteps = try DeviceReplicaSteps<T>(
                batch, program: program, context: context, buffers: buffers, factors: kernels.factors)
        }
        if batch.hasMomentum {
            momentum = try DeviceMomentum<T>(batch, program: program, context: context, buffers: buffers)
        }
        if !batch.observables.curvatureNames.isEmpty {
            curvature = try DeviceCurvature<T>(batch, program: program, context: context, buffers: buffers)
        }
        if batch.isStochastic {
            stochastic = try DeviceStochastic<T>(
                batch, program: program, context: context, queue: queue, buffers: buffers,
                update: momentum?.update ?? kernels.update,
                factorArgument: momentum == nil
                    ? KernelBindings.updateFactorArgument : DeviceMomentum<T>.factorArgument,
                lookahead: momentum?.lookahead)
        }
        if batch.update == .flow || batch.representation == .log {
            flow = try DeviceFlow<T>(
                batch, program: program, context: context, queue: queue, layers: buffers.layers, w: buffers.w,
                g: buffers.g, canary: DeviceBuffers<T>.canary,
                products: { [unowned self] () throws(CLError) in try self.enqueueProducts() })
            try flow!.enqueueMaterialize(steps: 0)
        }
        try queue.finish()
    }

    /// Enqueues r = Xw − y in the engine's shape.
    func enqueueResidual() throws(CLError) {
        let k = kernels
        if shape == .vector16 {
            try queue.enqueue(k.residual16, global: [layout.blocks, (layout.samples + 3) / 4], local: [1, 1])
            if k.pairCount > 0 {
                try queue.enqueue(k.residualPairs, global: [k.pairCount, (layout.samples + 3) / 4], local: [1, 1])
            }
        } else {
            try queue.enqueue(k.residual, global: [layout.paddedReplicas, layout.samples], local: [Self.local, 1])
        }
    }

    /// Enqueues the scaled gradient g: the residual and Xᵀr, or the Gram form Σw − b.
    func enqueueProducts() throws(CLError) {
        let k = kernels
        if let gram = k.gram {
            if shape == .vector16 {
                try queue.enqueue(gram, global: [layout.blocks, (layout.dimension + 3) / 4], local: [1, 1])
            } else {
                try queue.enqueue(gram, global: [layout.paddedReplicas, layout.dimension], local: [Self.local, 1])
            }
            return
        }
        guard shape == .vector16 else {
            try queue.enqueue(k.residualStep, global: [layout.paddedReplicas, layout.samples], local: [Self.local, 1])
            try queue.enqueue(k.gradient, global: [layout.paddedReplicas, layout.dimension], local: [Self.local, 1])
            return
        }
        // Blocks with mixed data in one fused pass; single blocks and pairs in the two-pass kernels.
        if k.mixedCount > 0 { try queue.enqueue(k.fused, global: [k.mixedCount], local: [1]) }
        try queue.enqueue(k.residual16Products, global: [layout.blocks, (layout.samples + 3) / 4], local: [1, 1])
        if k.pairCount > 0 {
            try queue.enqueue(k.residualPairs, global: [k.pairCount, (layout.samples + 3) / 4], local: [1, 1])
        }
        try queue.enqueue(k.gradient16, global: [layout.blocks, (layout.dimension + 3) / 4], local: [1, 1])
        if k.pairCount > 0 {
            try queue.enqueue(k.gradientPairs, global: [k.pairCount, (layout.dimension + 3) / 4], local: [1, 1])
        }
    }

    func step(count: Int) throws(CLError) {
        guard count > 0 else { return }
        if let flow {
            precondition(!flow.adaptive, "update flow advances in time: use advance(to:)")
            try flow.euler(count: count, first: stepsTaken)
            stepsTaken += count
            return
        }
        if let stochastic {
            try stochastic.step(count: count, first: stepsTaken)
            stepsTaken += count
            return
        }
        let P = layout.paddedReplicas
        let scheduled = !schedule.isConstant
        if let momentum {  // the scalar update kernel after the shape's products (not the tiled kernel)
            for k in 0..<count {
                if scheduled {
                    try momentum.update.setArgument(DeviceMomentum<T>.factorArgument, factor(stepsTaken + k))
                }
                if let ahead = momentum.lookahead {
                    try queue.enqueue(ahead, global: [P, layout.dimension], local: [Self.local, 1])
                }
                try enqueueProducts()
                try queue.enqueue(momentum.update, global: [P, layout.dimension], local: [Self.local, 1])
                if k % 256 == 255 { try queue.flush() }
            }
            try queue.flush()
            stepsTaken += count
            return
        }
        if let blocks = kernels.blockSteps {
            try launches(count: count, scheduled: scheduled) { (steps: Int32) throws(CLError) in
                try blocks.setArgument(4, steps)
                try queue.enqueue(blocks, global: [layout.blocks], local: [1])
            }
            return
        }
        if let one = replicaSteps {
            try launches(count: count, scheduled: scheduled) { (steps: Int32) throws(CLError) in
                try one.kernel.setArgument(DeviceReplicaSteps<T>.stepsArgument, steps)
                try queue.enqueue(one.kernel, global: [layout.replicas], local: [1])
            }
            return
        }
        if let tiled = kernels.tiled {
            let threads = kernels.tiledThreads
            try launches(count: count, scheduled: scheduled) { (steps: Int32) throws(CLError) in
                try kernels.setTiledSteps(steps)
                try queue.enqueue(tiled, global: [P, threads], local: [Self.local, threads])
            }
            return
        }
        for k in 0..<count {
            if scheduled { try kernels.update.setArgument(KernelBindings.updateFactorArgument, factor(stepsTaken + k)) }
            try enqueueProducts()
            try queue.enqueue(kernels.update, global: [P, layout.dimension], local: [Self.local, 1])
            if k % 256 == 255 { try queue.flush() }
        }
        try queue.flush()
        stepsTaken += count
    }

    /// Whether shared data step one block per work-item through a launch's steps (`dln_block_steps_v16`): the
    /// vector16 shape, every block with one data set, the products form, plain or multiplicative descent in the layers
    /// (no flow, log representation, stochastic steps or momentum); `forced` nil: where the pair kernels are not used
    /// (8-wide vectors) and there are at least two blocks per compute unit.
    static func stepsBlocksAlone(
        _ batch: Batch, shape: KernelShape, dsPerBlock: [Int32], pairTiles: Bool, computeUnits: Int, forced: Bool?
    ) -> Bool {
        guard shape == .vector16, batch.gradientForm == .products, batch.summation == .ascending,
            DeviceReplicaSteps<T>.plainSteps(batch),
            dsPerBlock.allSatisfy({ $0 >= 0 })
        else { return false }
        return forced ?? (!pairTiles && dsPerBlock.count >= 2 * computeUnits)
    }

    /// `count` steps by a kernel that runs many per launch (`enqueue` with the launch's step count), at most
    /// `stepsPerLaunch` at a time, with the schedule's factors of each launch written before it.
    private func launches(
        count: Int, scheduled: Bool, enqueue: (Int32) throws(CLError) -> Void
    ) throws(CLError) {
        var left = count
        while left > 0 {
            let chunk = min(left, Self.stepsPerLaunch(shape: shape))
            if scheduled {  // this launch's factors (the in-order queue writes after the previous launch ran)
                let first = stepsTaken + count - left
                try queue.write(kernels.factors, from: (first..<(first + chunk)).map { factor($0) })
            }
            try enqueue(Int32(chunk))
            try queue.flush()
            left -= chunk
        }
        stepsTaken += count
    }

    /// s_k rounded once to T: the update's `factor` at step k (as `CPUBatch.rateFactor`).
    func factor(_ k: Int) -> T { T(schedule.factor(step: k)) }

    func advance(to time: Double, stoppingIf stop: () -> Bool) throws -> Bool {
        guard let flow, flow.adaptive else { preconditionFailure("advance(to:) needs update flow") }
        return try flow.advance(to: time, stoppingIf: stop)
    }

    func flowCounters() throws(CLError) -> FlowCounters {
        guard let flow else { return FlowCounters(replicas: layout.replicas) }
        return try flow.counters()
    }

    /// The value an observation's outputs hold until their kernel writes them: a signalling NaN, which no
    /// arithmetic produces, so a value still equal to it was never written (the kernel was aborted).
    static var unwritten: T {
        T(sign: .plus, exponentBitPattern: (1 << T.exponentBitCount) - 1, significandBitPattern: 0x5A5A)
    }

    static func isUnwritten(_ value: T) -> Bool {
        value.isSignalingNaN && value.significandBitPattern == unwritten.significandBitPattern
    }

    func observe() throws -> Observation {
        let decays: [Double]
        if let flow {
            // The layers and w at each replica's time first (the state is z, or the layers without w).
            try flow.enqueueMaterialize(steps: stepsTaken)
            decays = flow.adaptive ? decayAt(try flow.times(steps: stepsTaken).map { Double($0) }) : decayOf(stepsTaken)
        } else {
            decays = decayOf(stepsTaken)
        }
        let B = layout.replicas
        let K = observables.kernelCount
        try queue.fill(buffers.loss, with: Self.unwritten, offset: 0, count: B)
        try queue.fill(buffers.obs, with: Self.unwritten, offset: 0, count: B * (K - 1))
        try enqueueResidual()
        try queue.enqueue(kernels.loss, global: [layout.paddedReplicas], local: [Self.local])
        try queue.write(buffers.decay, from: decays.map { T($0) })
        try queue.enqueue(kernels.observe, global: [layout.paddedReplicas], local: [Self.local])
        let losses = try queue.read(buffers.loss, as: T.self, count: B)
        let rest = try queue.read(buffers.obs, as: T.self, count: B * (K - 1))
        try Self.requireWritten(losses, kernel: kernels.loss.name, what: "train loss", replicas: B)
        try Self.requireWritten(rest, kernel: kernels.observe.name, what: "observables", replicas: B)
        var values = [losses.map { Double($0) }]
        for k in 1..<K { values.append((0..<B).map { Double(rest[$0 * (K - 1) + k - 1]) }) }
        if let curvature { values += try curvature.observe(queue: queue, local: Self.local) }
        return Observation(names: observables.names, values: values)
    }

    /// Throws when a kernel left some of its outputs unwritten: the device aborted it (a checker such as
    /// Oclgrind's, a crashed work-group) without reporting an error; its results must not be taken as numbers.
    static func requireWritten(_ values: [T], kernel: String, what: String, replicas: Int) throws(DLNError) {
        let missing = values.indices.filter { isUnwritten(values[$0]) }
        guard let first = missing.first else { return }
        let per = max(1, values.count / max(replicas, 1))
        let hit = Set(missing.map { $0 / per }).count
        throw .deviceFailure(
            "kernel \(kernel) was aborted on the device: it did not write the \(what) of \(hit) of \(replicas) "
                + "replicas (first: replica \(first / per))")
    }
}
