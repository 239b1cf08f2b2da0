import DLNModel
import OpenCLKit

/// The curvature observables on an OpenCL device (Kernels/curvature.cl): `dln_sharpness` (Lanczos on the loss
/// Hessian) and `dln_pl_constant` (Lanczos on the tangent kernel), their scratch vectors and output rows, bound once.
/// Only the rows (2·steps values per replica) cross to the host, which turns them into the observables with the CPU
/// engine's code (Core/Tridiagonal.swift). Twin of CPUBatch.curvature (DLNModel/CPU/Curvature.swift).
final class DeviceCurvature<T: DLNReal & CLKernelArgument> {
    /// A kernel with its output row buffer, its steps and the buffers it must keep alive.
    struct Part {
        let kernel: CLKernel
        let out: CLBuffer
        let steps: Int
        let scratch: [CLBuffer]
    }
    let sharpness: Part?
    let pl: Part?
    let replicas: Int
    let paddedReplicas: Int
    let float32: Bool

    init(_ batch: Batch, program: CLProgram, context: CLContext, buffers b: DeviceBuffers<T>) throws(CLError) {
        let lay = batch.layout
        let (n, d, depth) = (lay.samples, lay.dimension, lay.layers)
        let (B, stride) = (Int32(lay.replicas), Int64(lay.coordinateCount))
        let padded = lay.paddedReplicas
        replicas = lay.replicas
        paddedReplicas = padded
        float32 = T.self == Float.self
        let scale = T(batch.gradientScale)
        let breakdown = T(Tridiagonal.breakdown(float32: float32))
        func scratch(_ perReplica: Int) throws(CLError) -> CLBuffer {
            try CLBuffer(
                context: context, copying: [T](repeating: 0, count: padded * perReplica), access: .readWrite)
        }
        func start(_ count: Int) throws(CLError) -> CLBuffer {
            try CLBuffer(
                context: context, copying: Tridiagonal.startVector(count: count).map { T($0) }, access: .readOnly)
        }
        func output(_ steps: Int) throws(CLError) -> CLBuffer {
            try CLBuffer(
                context: context, copying: [T](repeating: 0, count: lay.replicas * 2 * steps) + DeviceBuffers<T>.canary,
                access: .readWrite)
        }
        if let steps = batch.observables.sharpnessLanczos(stateSize: depth * d) {
            let P = depth * d
            let k = try CLKernel(program: program, name: "dln_sharpness")
            let (s0, cv, cp, ch) = (try start(P), try scratch(P), try scratch(P), try scratch(P))
            let (cg, ct, cr, out) = (try scratch(d), try scratch(d), try scratch(n), try output(steps))
            try k.bind(
                B, Int32(n), Int32(d), stride, Int32(steps), scale, breakdown, b.x, b.y, b.ds, b.w, b.layers,
                b.lambda, s0, cv, cp, ch, cg, ct, cr, out)
            sharpness = Part(kernel: k, out: out, steps: steps, scratch: [s0, cv, cp, ch, cg, ct, cr])
        } else {
            sharpness = nil
        }
        if let steps = batch.observables.plLanczos(samples: n, dimension: d) {
            let k = try CLKernel(program: program, name: "dln_pl_constant")
            let (s0, cd, cv, cz) = (try start(n), try scratch(d), try scratch(n), try scratch(n))
            let (ct, cq, out) = (try scratch(d), try scratch(steps * n), try output(steps))
            try k.bind(
                B, Int32(n), Int32(d), stride, Int32(steps), scale, breakdown, b.x, b.ds, b.layers, s0, cd, cv, cz, ct,
                cq, out)
            pl = Part(kernel: k, out: out, steps: steps, scratch: [s0, cd, cv, cz, ct, cq])
        } else {
            pl = nil
        }
    }

    /// The output buffers and their lengths, for the canary check.
    var canaried: [(CLBuffer, Int)] {
        [sharpness, pl].compactMap { $0 }.map { ($0.out, replicas * 2 * $0.steps) }
    }

    /// Runs the kernels on the current state (layers and w) and returns the observables, in
    /// `ObservableSet.curvatureNames` order.
    func observe(queue: CLCommandQueue, local: Int) throws -> [[Double]] {
        var results: [[Double]] = []
        for (part, isPL) in [(sharpness, false), (pl, true)] {
            guard let part else { continue }
            let width = 2 * part.steps
            try queue.fill(part.out, with: DeviceBatch<T>.unwritten, offset: 0, count: replicas * width)
            try queue.enqueue(part.kernel, global: [paddedReplicas], local: [local])
            let rows = try queue.read(part.out, as: T.self, count: replicas * width)
            try DeviceBatch<T>.requireWritten(
                rows, kernel: part.kernel.name, what: isPL ? "pl_constant" : "sharpness", replicas: replicas)
            let threshold = Tridiagonal.nonZeroThreshold(float32: float32)
            results.append(
                (0..<replicas).map { b in
                    let row = Array(rows[(b * width)..<((b + 1) * width)])
                    return isPL
                        ? Tridiagonal.plConstant(row: row, steps: part.steps, threshold: threshold)
                        : Tridiagonal.sharpness(row: row, steps: part.steps)
                })
        }
        return results
    }
}
