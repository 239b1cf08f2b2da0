import DLNModel
import OpenCLKit

/// Momentum on an OpenCL device (Kernels/momentum.cl): β per replica, the displacement buffer m (part of the state)
/// and the two kernels, bound once. Twin of `MomentumState` and `CPUBatch.momentumUpdate` / `lookahead`.
final class DeviceMomentum<T: DLNReal & CLKernelArgument> {
    let beta: CLBuffer, m: CLBuffer
    /// dln_momentum_update: replaces dln_update.
    let update: CLKernel
    /// The index of its `factor` argument (the learning-rate schedule's s_k of the step).
    static var factorArgument: Int { 4 }
    /// dln_momentum_lookahead (Nesterov): w = model(θ + β·m) before the products; nil for the heavy ball.
    let lookahead: CLKernel?

    init(_ batch: Batch, program: CLProgram, context: CLContext, buffers b: DeviceBuffers<T>) throws(CLError) {
        let lay = batch.layout
        beta = try CLBuffer(context: context, copying: batch.replicas.map { T($0.momentum) }, access: .readOnly)
        m = try CLBuffer(
            context: context,
            copying: [T](repeating: 0, count: lay.layers * lay.coordinateCount) + DeviceBuffers<T>.canary,
            access: .readWrite)
        let (B, d, stride) = (Int32(lay.replicas), Int32(lay.dimension), Int64(lay.coordinateCount))
        update = try CLKernel(program: program, name: "dln_momentum_update")
        try update.bind(B, d, stride, Int32(batch.nesterov ? 1 : 0), T(1), b.eta, b.lambda, beta, b.g, b.layers, m, b.w)
        if batch.nesterov {
            let k = try CLKernel(program: program, name: "dln_momentum_lookahead")
            try k.bind(B, d, stride, beta, b.layers, m, b.w)
            lookahead = k
        } else {
            lookahead = nil
        }
    }
}
