import DLNModel
import OpenCLKit

/// Matrix sensing on the device (Kernels/matrix_sensing.cl): the operators and measured values of every data set,
/// each replica's residuals r_k, and the three kernels that replace the regression's output residual and loss.
struct MatrixSensingDevice {
    /// The operators, the measured values and each replica's residuals (SGD swaps in the gathered operators and values
    /// of a mini-batch, and its count as m, for a step).
    var a: CLBuffer, y: CLBuffer
    let r: CLBuffer
    let residual: CLKernel, signal: CLKernel, loss: CLKernel
    var m: Int32

    init<T: DLNReal & CLKernelArgument>(
        _ batch: MatrixBatch, _ measurements: [MatrixMeasurements], program: CLProgram, context: CLContext,
        as _: T.Type
    ) throws {
        m = Int32(batch.measurementCount)
        a = try CLBuffer(context: context, copying: measurements.flatMap { $0.a.values(as: T.self) }, access: .readOnly)
        y = try CLBuffer(context: context, copying: measurements.flatMap { $0.y.values(as: T.self) }, access: .readOnly)
        r = try CLBuffer(
            context: context, copying: [T](repeating: 0, count: batch.layout.paddedReplicas * Int(m)),
            access: .readWrite)
        residual = try CLKernel(program: program, name: "mx_sense_residual")
        signal = try CLKernel(program: program, name: "mx_sense_signal")
        loss = try CLKernel(program: program, name: "mx_sense_loss")
    }
}

extension MatrixDeviceBatch {
    /// δ_L into `din`: the regression's scale·(h_L − Y), or matrix sensing's residuals and scale·Σ_k r_k·A_k.
    func enqueueOutputSignal(_ din: CLBuffer) throws {
        let L = shape.depth
        let nL = shape.outputs
        let hL = i32(shape.activationOffset(L, samples: Int(n)))
        guard let s = sensing else {
            try launch(residual, outputs: Int(n) * nL, B, n, i32(nL), y, ds, h, hL, H, gradientScale, din, D)
            return
        }
        try enqueueSenseResidual(s)
        try launch(
            s.signal, outputs: shape.inputs * nL, B, s.m, i32(nL), i32(shape.inputs), s.a, ds, s.r,
            gradientScale, din, D)
    }

    /// The symmetric factorisation's tie W_1 = W_2ᵀ in `buffer` (the parameters or F).
    func enqueueTie(_ buffer: CLBuffer) throws {
        guard let tieKernel else { return }
        let d = shape.inputs
        let r = shape.widths[1]
        try launch(tieKernel, outputs: r * d, B, i32(r), i32(d), buffer, i32(shape.layerOffset(2)), P)
    }

    /// Every replica's r_k from the current h_L.
    func enqueueSenseResidual(_ s: MatrixSensingDevice) throws {
        let hL = i32(shape.activationOffset(shape.depth, samples: Int(n)))
        try launch(
            s.residual, outputs: Int(s.m), B, s.m, i32(shape.outputs), i32(shape.inputs), s.a, s.y, ds, h, hL, H, s.r)
    }
}
