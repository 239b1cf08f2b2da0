import DLNModel
import OpenCLKit

/// Label noise, momentum and Langevin noise of the matrix model on the device (Kernels/matrix_sgd.cl's
/// mx_label_noise, mx_momentum_pre, mx_momentum_post, mx_langevin): the per-replica scalars and the momentum buffers.
/// Twin of `MatrixCPUBatch.dynamicStep`.
struct MatrixDynamicsDevice {
    let dynamics: MatrixDynamics
    let keys: CLBuffer, sigma: CLBuffer, coefficient: CLBuffer, beta: CLBuffer
    /// The momentum buffers m and the parameters before the step (nil without momentum), in the block layout.
    let mom: CLBuffer?, prev: CLBuffer?
    let labelNoise: CLKernel, pre: CLKernel, post: CLKernel, langevin: CLKernel

    init<T: DLNReal & CLKernelArgument>(
        _ batch: MatrixBatch, _ d: MatrixDynamics, program: CLProgram, context: CLContext, as _: T.Type
    ) throws {
        dynamics = d
        func buffer<E: BitwiseCopyable>(_ values: [E], readOnly: Bool = true) throws -> CLBuffer {
            try CLBuffer(context: context, copying: values, access: readOnly ? .readOnly : .readWrite)
        }
        keys = try buffer(StochasticRandom.keyWords(seeds: d.seeds))
        sigma = try buffer(d.labelNoise.map { T($0) })
        coefficient = try buffer(d.langevinCoefficients(eta: batch.eta).map { T($0) })
        beta = try buffer(d.momentum.map { T($0) })
        if d.hasMomentum {
            let count = batch.layout.paddedReplicas * batch.shape.parameterCount
            mom = try buffer([T](repeating: 0, count: count), readOnly: false)
            prev = try buffer([T](repeating: 0, count: count), readOnly: false)
        } else {
            (mom, prev) = (nil, nil)
        }
        labelNoise = try CLKernel(program: program, name: "mx_label_noise")
        pre = try CLKernel(program: program, name: "mx_momentum_pre")
        post = try CLKernel(program: program, name: "mx_momentum_post")
        langevin = try CLKernel(program: program, name: "mx_langevin")
    }
}

extension MatrixDeviceBatch {
    /// The update of step `step` on the data in place (full, or a mini-batch's gathered rows): momentum around the
    /// gradient (write_f) or the fused gradient-descent step, then Langevin noise.
    func enqueueUpdate(step: Int) throws {
        guard let d = dynamics else { return try enqueueStep(writeF: 0) }
        if let mom = d.mom, let prev = d.prev {
            let nesterov = Int32(d.dynamics.nesterov ? 1 : 0)
            try launch(d.pre, outputs: Int(P), B, P, nesterov, d.beta, params, mom, prev)
            try enqueueStep(writeF: 1)
            try enqueueTie(f)
            try launch(d.post, outputs: Int(P), B, P, nesterov, eta, d.beta, f, params, mom, prev)
        } else {
            try enqueueStep(writeF: 0)
        }
        if d.dynamics.hasLangevin {
            // √s_k rounded once (1 without a schedule).
            let root = batch.schedule.isConstant ? 1 : T(batch.schedule.factor(step: step).squareRoot())
            try launch(d.langevin, outputs: Int(P), B, P, Int64(step), root, d.keys, d.coefficient, params)
        }
    }

    /// Label noise on a step's gathered targets `buffer` (`width` values per row, `count` rows per replica).
    func enqueueLabelNoise(_ s: MatrixSGDDevice, step: Int, _ buffer: CLBuffer, width: Int, count: Int) throws {
        guard let d = dynamics, d.dynamics.hasLabelNoise else { return }
        try launch(
            d.labelNoise, outputs: count * width, B, i32(s.rows), i32(count), i32(width), Int64(step), d.keys, d.sigma,
            s.idx, buffer)
    }

    func velocity() throws -> RealArray? {
        guard let mom = dynamics?.mom else { return nil }
        return try unpack(mom)
    }

    func setVelocity(_ values: RealArray) throws {
        guard let mom = dynamics?.mom else { return }
        try queue.write(mom, from: batch.layout.pack(values.values(as: T.self), length: Int(P), fill: 0))
    }
}
