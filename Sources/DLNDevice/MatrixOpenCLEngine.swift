import DLNModel
import OpenCLKit

/// How the matrix model's products run on a device.
public enum MatrixKernelShape: String, Sendable, CaseIterable {
    /// One work-item per replica and output (Kernels/matrix.cl): the plain reference shape.
    case scalar
    /// Work-groups of 16 replicas × 4×4-output tiles staging k slices in local memory (mx_dots_tiled): what GPUs
    /// want.
    case tiled
    /// One work-item per block of 16 replicas and strip of output rows, register tiles in 16-wide vectors
    /// (Kernels/matrix_v16.cl, the CPU engine's tiles): what CPU devices (PoCL) want.
    case vector16

    /// vector16 on CPU devices, tiled elsewhere.
    public static func preferred(for device: CLDevice) -> MatrixKernelShape {
        device.type == .cpu ? .vector16 : .tiled
    }
}

/// The OpenCL engine of the matrix model: Kernels/matrix.cl (and matrix_v16.cl for CPU devices), every replica of
/// a batch on one device, in the block layout of 16 replicas. The parameters stay on the device between
/// observations; `loss()` reads one number per replica, `parameters()` the layers.
public final class MatrixOpenCLEngine: MatrixEngine {
    /// The device.
    public let device: CLDevice
    /// The kernels' shape.
    public let shape: MatrixKernelShape
    let context: CLContext
    let queue: CLCommandQueue
    private var impl: (any MatrixDeviceRunner)?

    /// An engine on one OpenCL device, with the device's preferred kernels unless `shape` says otherwise.
    public init(device: CLDevice, shape: MatrixKernelShape? = nil) throws(DLNError) {
        self.device = device
        self.shape = shape ?? .preferred(for: device)
        do {
            context = try CLContext.shared(for: device)
            queue = try CLCommandQueue(context: context)
        } catch { throw .deviceFailure("cannot open \(device.name): \(error)") }
    }

    public var deviceDescription: String {
        "OpenCL \(device.name) (\(device.platform.name), driver \(device.driverVersion), \(shape.rawValue) matrix "
            + "kernels)"
    }

    public func initialize(_ batch: MatrixBatch) throws(DLNError) {
        precondition(batch.stochastic?.isUniform ?? true, "one batch size per engine batch (MatrixRun slices at b)")
        try OpenCLEngine.require(batch.precision, device: device.name, supportsFP64: device.supportsFP64)
        do {
            switch batch.precision {
            case .float32: impl = try MatrixDeviceBatch<Float>(batch, context: context, queue: queue, shape: shape)
            case .float64: impl = try MatrixDeviceBatch<Double>(batch, context: context, queue: queue, shape: shape)
            }
        } catch let error as DLNError { throw error } catch let error as CLError
            where OpenCLEngine.allocationCodes.contains(error.code)
        {
            impl = nil
            throw .outOfMemory("\(device.name) cannot hold \(batch.replicas) replicas of the matrix model (\(error))")
        } catch { throw .deviceFailure("\(error)") }
    }

    /// Replicas that fit in 80% of the device's global memory, every buffer under the largest allocation.
    public func replicaCapacity(_ batch: MatrixBatch) -> Int {
        let (per, shared) = batch.memoryFootprint
        let budget = Double(device.globalMemorySize) * 0.8 - Double(shared)
        let n = batch.samples
        let s = batch.shape
        let largest = batch.precision.byteCount * max(s.parameterCount, s.activationCount(samples: n))
        let byAllocation = Double(device.maxAllocationSize) / Double(largest)
        return max(Layout.lanes, Int(min(budget / Double(per), byAllocation)) / Layout.lanes * Layout.lanes)
    }

    private var run: any MatrixDeviceRunner {
        guard let impl else { preconditionFailure("initialize the engine first") }
        return impl
    }

    private func wrap<R>(_ body: () throws -> R) throws(DLNError) -> R {
        do { return try body() } catch let error as DLNError { throw error } catch { throw .deviceFailure("\(error)") }
    }

    public func step(count: Int) throws(DLNError) { try wrap { try run.step(count: count) } }
    public var stepsTaken: Int {
        get { run.stepsTaken }
        set { run.stepsTaken = newValue }
    }
    public func loss() throws(DLNError) -> [Double] { try wrap { try run.loss() } }
    public func parameters() throws(DLNError) -> RealArray { try wrap { try run.parameters() } }
    public func setParameters(_ values: RealArray) throws(DLNError) { try wrap { try run.setParameters(values) } }
    public func gradient() throws(DLNError) -> RealArray { try wrap { try run.gradient() } }
    public func velocity() throws(DLNError) -> RealArray? { try wrap { try run.velocity() } }
    public func setVelocity(_ values: RealArray) throws(DLNError) { try wrap { try run.setVelocity(values) } }
}

protocol MatrixDeviceRunner: AnyObject {
    func step(count: Int) throws
    var stepsTaken: Int { get set }
    func loss() throws -> [Double]
    func parameters() throws -> RealArray
    func setParameters(_ values: RealArray) throws
    func gradient() throws -> RealArray
    func velocity() throws -> RealArray?
    func setVelocity(_ values: RealArray) throws
}

/// One batch's buffers and kernels in one precision.
final class MatrixDeviceBatch<T: DLNReal & CLKernelArgument>: MatrixDeviceRunner {
    let batch: MatrixBatch
    let queue: CLCommandQueue
    let shape: MatrixShape
    let B: Int32, P: Int32, H: Int32, D: Int32
    /// The samples the products run on: n, or a mini-batch's count during an SGD step.
    var n: Int32
    let padded: Int
    let params: CLBuffer, h: CLBuffer, delta: (CLBuffer, CLBuffer), f: CLBuffer, lossBuffer: CLBuffer
    let eta: CLBuffer, lambda: CLBuffer
    /// With a learning-rate schedule: η before the step's factor (`eta` holds η·s_k during step k), and mx_scale.
    let etaBase: CLBuffer?, scaleKernel: CLKernel?
    /// The data the products read (the data sets and each replica's, or during an SGD step the gathered
    /// mini-batches with ds[b] = b) and the gradient's scale (the batch's, or the mini-batch's).
    var x: CLBuffer, y: CLBuffer, ds: CLBuffer, gradientScale: T
    let forwardData: CLKernel, forward: CLKernel, residual: CLKernel, backprop: CLKernel, update: CLKernel
    let updateData: CLKernel, lossKernel: CLKernel
    /// The tiled shape: every product through mx_dots_tiled.
    let tiledKernel: CLKernel?
    /// The vector16 shape's kernel and buffers.
    var v16: MatrixVector16?
    /// Matrix sensing's buffers and kernels (nil: regression).
    var sensing: MatrixSensingDevice?
    /// Mini-batch SGD's buffers and kernels (nil: full-batch steps).
    var sgd: MatrixSGDDevice?
    /// Label noise, momentum and Langevin noise (nil: none).
    var dynamics: MatrixDynamicsDevice?
    /// Steps taken since the start: SGD draws step k's rows by it.
    var stepsTaken = 0
    /// The symmetric factorisation's mx_tie (nil: independent layers).
    let tieKernel: CLKernel?
    /// Outputs per work-group along the second dimension (work-groups are 16 replicas × `rows` outputs).
    static var rows: Int { 8 }

    init(_ batch: MatrixBatch, context: CLContext, queue: CLCommandQueue, shape kernels: MatrixKernelShape) throws {
        self.batch = batch
        self.queue = queue
        shape = batch.shape
        let lay = batch.layout
        padded = lay.paddedReplicas
        let samples = batch.samples
        B = Int32(batch.replicas)
        n = Int32(samples)
        P = Int32(shape.parameterCount)
        H = Int32(shape.activationCount(samples: samples))
        D = Int32(shape.signalCount(samples: samples))
        func buffer<E: BitwiseCopyable>(_ values: [E], readOnly: Bool = true) throws -> CLBuffer {
            try CLBuffer(context: context, copying: values, access: readOnly ? .readOnly : .readWrite)
        }
        func zeros(_ count: Int) throws -> CLBuffer { try buffer([T](repeating: 0, count: count), readOnly: false) }
        let packed = lay.pack(batch.initial.map { T($0) }, length: shape.parameterCount, fill: 0)
        params = try buffer(packed, readOnly: false)
        f = try zeros(packed.count)
        h = try zeros(padded * Int(H))
        delta = (try zeros(padded * Int(D)), try zeros(padded * Int(D)))
        lossBuffer = try zeros(padded)
        x = try buffer(batch.datasets.flatMap { $0.x.values(as: T.self) })
        y = try buffer(batch.datasets.flatMap { $0.y.values(as: T.self) })
        ds = try buffer(batch.dataset.map { Int32($0) })
        let scheduled = !batch.schedule.isConstant
        eta = try buffer(batch.eta.map { T($0) }, readOnly: !scheduled)
        etaBase = scheduled ? try buffer(batch.eta.map { T($0) }) : nil
        lambda = try buffer(batch.lambdaU.map { T($0) })
        gradientScale = T(batch.gradientScale)
        var options = "-cl-std=CL1.2 -D REAL=\(T.openCLName) -D REAL16=\(T.openCLName)16"
        if T.self == Double.self { options += " -D DLN_FP64" }
        let random = batch.stochastic != nil || batch.dynamics != nil
        if random { options += " -D DLN_MATRIX" }
        let files =
            ["common.cl", "matrix.cl", "matrix_sensing.cl"] + (kernels == .vector16 ? ["matrix_v16.cl"] : [])
            + (random ? ["stochastic.cl", "matrix_sgd.cl"] : [])
        let program = try KernelLibrary.program(
            context: context, source: try KernelLibrary.source(files: files), options: options)
        forwardData = try CLKernel(program: program, name: "mx_forward_data")
        forward = try CLKernel(program: program, name: "mx_forward")
        residual = try CLKernel(program: program, name: "mx_output_residual")
        backprop = try CLKernel(program: program, name: "mx_backprop")
        update = try CLKernel(program: program, name: "mx_update")
        updateData = try CLKernel(program: program, name: "mx_update_data")
        lossKernel = try CLKernel(program: program, name: "mx_loss")
        v16 = kernels == .vector16 ? try MatrixVector16(batch, program: program, context: context, as: T.self) : nil
        tiledKernel = kernels == .tiled ? try CLKernel(program: program, name: "mx_dots_tiled") : nil
        tieKernel = batch.tied ? try CLKernel(program: program, name: "mx_tie") : nil
        scaleKernel = scheduled ? try CLKernel(program: program, name: "mx_scale") : nil
        sensing = try batch.measurements.map {
            try MatrixSensingDevice(batch, $0, program: program, context: context, as: T.self)
        }
        sgd = try batch.stochastic.map {
            try MatrixSGDDevice(
                batch, $0, program: program, context: context, vector16: kernels == .vector16, as: T.self)
        }
        dynamics = try batch.dynamics.map {
            try MatrixDynamicsDevice(batch, $0, program: program, context: context, as: T.self)
        }
    }

    /// An operand of mx_dots_tiled: a buffer, whether it is the data (else a per-replica vector), its length, base
    /// and the strides of its row and k.
    struct Operand {
        let buffer: CLBuffer
        let data: Bool
        let length: Int, base: Int, row: Int, k: Int
    }

    /// out(r, c) = Σ_k A(r, k)·B(c, k) through mx_dots_tiled; mode 0 stores at out's base + r·ors + c·ocs, 1 updates
    /// and 2 writes F of the layer at out's base (row stride ors).
    func tiledDots(
        _ kernel: CLKernel, rows R: Int, columns C: Int, depth K: Int, _ a: Operand, _ b: Operand, out: CLBuffer,
        mode: Int32, length: Int, base: Int, ors: Int, ocs: Int
    ) throws {
        let tiles = ((R + 3) / 4) * ((C + 3) / 4)
        try kernel.bind(
            B, i32(R), i32(C), i32(K), ds, a.buffer, Int32(a.data ? 1 : 0), i32(a.length), i32(a.base), i32(a.row),
            i32(a.k), b.buffer, Int32(b.data ? 1 : 0), i32(b.length), i32(b.base), i32(b.row), i32(b.k), out, mode,
            i32(length), i32(base), i32(ors), i32(ocs), eta, lambda, f)
        try queue.enqueue(kernel, global: [padded, tiles * 16], local: [Layout.lanes, 16])
    }

    /// The NDRange of a kernel with `outputs` outputs per replica.
    func launch(_ kernel: CLKernel, outputs: Int, _ arguments: any CLKernelArgument...) throws {
        let rows = Self.rows
        try kernel.bind(arguments)
        try queue.enqueue(kernel, global: [padded, (outputs + rows - 1) / rows * rows], local: [Layout.lanes, rows])
    }

    func i32(_ v: Int) -> Int32 { Int32(v) }

    /// The forward chain: h_1 … h_L.
    func enqueueForward() throws {
        if let v16 { return try enqueueForward16(v16) }
        if let t = tiledKernel {
            let ns = Int(n)
            for l in 1...shape.depth {
                let nin = shape.widths[l - 1]
                let nout = shape.widths[l]
                let input =
                    l == 1
                    ? Operand(buffer: x, data: true, length: ns * nin, base: 0, row: nin, k: 1)
                    : Operand(
                        buffer: h, data: false, length: Int(H), base: shape.activationOffset(l - 1, samples: ns),
                        row: nin, k: 1)
                let w = Operand(buffer: params, data: false, length: Int(P), base: shape.layerOffset(l), row: nin, k: 1)
                try tiledDots(
                    t, rows: ns, columns: nout, depth: nin, input, w, out: h, mode: 0, length: Int(H),
                    base: shape.activationOffset(l, samples: ns), ors: nout, ocs: 1)
            }
            return
        }
        for l in 1...shape.depth {
            let nin = shape.widths[l - 1]
            let nout = shape.widths[l]
            let woff = i32(shape.layerOffset(l))
            let hoff = i32(shape.activationOffset(l, samples: Int(n)))
            if l == 1 {
                try launch(
                    forwardData, outputs: Int(n) * nout, B, n, i32(nin), i32(nout), x, ds, params, woff, P, h, hoff, H)
            } else {
                let inoff = i32(shape.activationOffset(l - 1, samples: Int(n)))
                try launch(
                    forward, outputs: Int(n) * nout, B, n, i32(nin), i32(nout), params, woff, P, h, inoff, hoff, H)
            }
        }
    }

    /// One step (writeF 0) or the gradient into f (writeF 1).
    func enqueueStep(writeF: Int32) throws {
        if let v16 { return try enqueueStep16(v16, writeF: writeF) }
        try enqueueForward()
        let L = shape.depth
        var (din, dout) = delta
        try enqueueOutputSignal(din)
        // The symmetric factorisation's W_1 (and its F) is W_2ᵀ after the step (mx_tie): layer 1 is not computed.
        let lowest = batch.tied ? 2 : 1
        for l in stride(from: L, through: lowest, by: -1) {
            let nin = shape.widths[l - 1]
            let nout = shape.widths[l]
            let woff = i32(shape.layerOffset(l))
            if let t = tiledKernel {
                let ns = Int(n)
                if l > lowest {
                    let column = Operand(buffer: params, data: false, length: Int(P), base: Int(woff), row: 1, k: nin)
                    try tiledDots(
                        t, rows: ns, columns: nin, depth: nout,
                        Operand(buffer: din, data: false, length: Int(D), base: 0, row: nout, k: 1), column,
                        out: dout, mode: 0, length: Int(D), base: 0, ors: nin, ocs: 1)
                }
                let input =
                    l == 1
                    ? Operand(buffer: x, data: true, length: ns * nin, base: 0, row: 1, k: nin)
                    : Operand(
                        buffer: h, data: false, length: Int(H), base: shape.activationOffset(l - 1, samples: ns),
                        row: 1, k: nin)
                try tiledDots(
                    t, rows: nout, columns: nin, depth: ns,
                    Operand(buffer: din, data: false, length: Int(D), base: 0, row: 1, k: nout), input, out: params,
                    mode: writeF == 1 ? 2 : 1, length: Int(P), base: Int(woff), ors: nin, ocs: 1)
                swap(&din, &dout)
                continue
            }
            if l > 1 {
                if l > lowest {
                    try launch(
                        backprop, outputs: Int(n) * nin, B, n, i32(nin), i32(nout), params, woff, P, din, dout, D)
                }
                let inoff = i32(shape.activationOffset(l - 1, samples: Int(n)))
                try launch(
                    update, outputs: nout * nin, B, n, i32(nin), i32(nout), params, woff, P, h, inoff, H, din, D, eta,
                    lambda, f, writeF)
            } else {
                try launch(
                    updateData, outputs: nout * nin, B, n, i32(nin), i32(nout), params, woff, P, x, ds, din, D, eta,
                    lambda, f, writeF)
            }
            swap(&din, &dout)
        }
    }

    func step(count: Int) throws {
        for k in 0..<count {
            try enqueueSchedule(step: stepsTaken + k)
            if let sgd {
                try enqueueStochasticStep(sgd, step: stepsTaken + k)
            } else {
                try enqueueUpdate(step: stepsTaken + k)
            }
            try enqueueTie(params)
            if k % 64 == 63 { try queue.flush() }
        }
        stepsTaken += count
        try queue.finish()
    }

    /// With a learning-rate schedule: η·s_k of step `step` into `eta` (and the vector16 shape's padded copy).
    func enqueueSchedule(step: Int) throws {
        guard let scaleKernel, let etaBase else { return }
        let factor = T(batch.schedule.factor(step: step))
        try scaleKernel.bind(B, factor, etaBase, eta)
        try queue.enqueue(scaleKernel, global: [padded], local: [Layout.lanes])
        if let v = v16, let base = v.etaBase {
            try scaleKernel.bind(Int32(padded), factor, base, v.eta)
            try queue.enqueue(scaleKernel, global: [padded], local: [Layout.lanes])
        }
    }

    func loss() throws -> [Double] {
        try enqueueForward()
        if let s = sensing {
            try enqueueSenseResidual(s)
            try s.loss.bind(B, s.m, s.r, T(batch.lossScale), lossBuffer)
            try queue.enqueue(s.loss, global: [padded], local: [Layout.lanes])
            return try queue.read(lossBuffer, as: T.self, count: batch.replicas).map { Double($0) }
        }
        let hL = i32(shape.activationOffset(shape.depth, samples: Int(n)))
        try lossKernel.bind(B, n, i32(shape.outputs), y, ds, h, hL, H, T(batch.lossScale), lossBuffer)
        try queue.enqueue(lossKernel, global: [padded], local: [Layout.lanes])
        let values = try queue.read(lossBuffer, as: T.self, count: batch.replicas)
        return values.map { Double($0) }
    }

    func unpack(_ buffer: CLBuffer) throws -> RealArray {
        let lay = batch.layout
        let raw = try queue.read(buffer, as: T.self, count: padded * Int(P))
        let values = lay.unpack(raw, length: Int(P))
        return T.self == Float.self ? .float(values as! [Float]) : .double(values as! [Double])
    }

    func parameters() throws -> RealArray { try unpack(params) }

    func setParameters(_ values: RealArray) throws {
        try queue.write(params, from: batch.layout.pack(values.values(as: T.self), length: Int(P), fill: 0))
    }

    func gradient() throws -> RealArray {
        try enqueueStep(writeF: 1)
        try enqueueTie(f)
        return try unpack(f)
    }
}
