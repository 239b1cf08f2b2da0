import DLNModel
import OpenCLKit

/// The stochastic steps on an OpenCL device (update sgd, label noise, gradient noise): the buffers and bound kernels
/// of Kernels/stochastic.cl, twin of `CPUBatch.stochasticStep` (Sources/DLNModel/CPU/Stochastic.swift). One
/// dedicated shape on every device (scalar work-items): a step is dln_sgd_indices, dln_sgd_residual,
/// dln_sgd_gradient, dln_update and (some T > 0) dln_sgd_langevin, with the step number re-set per launch.
final class DeviceStochastic<T: DLNReal & CLKernelArgument> {
    let layout: Layout
    let queue: CLCommandQueue
    let keys: CLBuffer, bsz: CLBuffer, scaleFull: CLBuffer, scaleLast: CLBuffer, sigma: CLBuffer, coef: CLBuffer
    let idx: CLBuffer, cnt: CLBuffer, sc: CLBuffer, perm: CLBuffer, permEpoch: CLBuffer
    let indices: CLKernel, residual: CLKernel, gradient: CLKernel, langevin: CLKernel?
    let update: CLKernel
    /// The index of the update kernel's `factor` argument; `schedule` sets it (and the Langevin kernel's √s_k) per
    /// step unless it is constant.
    let factorArgument: Int
    let schedule: LearningRateSchedule
    /// Nesterov momentum: w = model(θ + β·m) before each step's products.
    let lookahead: CLKernel?
    /// The largest batch of a replica: the residual's second NDRange dimension.
    let rows: Int

    init(
        _ batch: Batch, program: CLProgram, context: CLContext, queue: CLCommandQueue, buffers b: DeviceBuffers<T>,
        update: CLKernel, factorArgument: Int, lookahead: CLKernel? = nil
    ) throws(CLError) {
        let lay = batch.layout
        layout = lay
        self.queue = queue
        self.update = update
        self.factorArgument = factorArgument
        schedule = batch.schedule
        self.lookahead = lookahead
        let n = lay.samples
        let B = lay.replicas
        func buffer<E: BitwiseCopyable>(_ values: [E], readOnly: Bool = true) throws(CLError) -> CLBuffer {
            try CLBuffer(context: context, copying: values, access: readOnly ? .readOnly : .readWrite)
        }
        let sizes = (0..<B).map { batch.batchSize(replica: $0) }
        rows = sizes.max() ?? 1
        let mean = batch.loss == .mean
        keys = try buffer(StochasticRandom.keyWords(seeds: batch.replicas.map(\.seed)))
        bsz = try buffer(sizes.map { Int32($0) })
        scaleFull = try buffer(sizes.map { T(mean ? 1 / Double($0) : 1) })
        scaleLast = try buffer(
            sizes.map { s in T(mean ? 1 / Double(n - (BatchSampler.stepsPerEpoch(n: n, b: s) - 1) * s) : 1) })
        sigma = try buffer(batch.replicas.map { T($0.labelNoise) })
        let coefs = batch.replicas.map { T((2 * $0.eta * $0.gradientNoise).squareRoot()) }
        coef = try buffer(coefs)
        idx = try buffer([Int32](repeating: 0, count: lay.sampleCount), readOnly: false)
        cnt = try buffer([Int32](repeating: 0, count: lay.paddedReplicas), readOnly: false)
        sc = try buffer([T](repeating: 0, count: lay.paddedReplicas), readOnly: false)
        let sampling = batch.effectiveSampling
        perm = try buffer([Int32](repeating: 0, count: sampling == .epochs ? B * n : 1), readOnly: false)
        permEpoch = try buffer([Int64](repeating: -1, count: B), readOnly: false)

        let (Bi, ni, di) = (Int32(B), Int32(n), Int32(lay.dimension))
        let code: Int32 =
            switch sampling {
            case .withReplacement: 0
            case .epochs: 1
            case .sequential: 2
            }
        indices = try CLKernel(program: program, name: "dln_sgd_indices")
        try indices.bind(Bi, ni, Int64(0), code, keys, bsz, scaleFull, scaleLast, idx, cnt, sc, perm, permEpoch)
        residual = try CLKernel(program: program, name: "dln_sgd_residual")
        try residual.bind(Bi, ni, di, Int64(0), b.x, b.y, b.ds, keys, sigma, idx, cnt, b.w, b.r)
        gradient = try CLKernel(program: program, name: "dln_sgd_gradient")
        try gradient.bind(Bi, ni, di, b.x, b.ds, idx, cnt, sc, b.r, b.g)
        if coefs.contains(where: { $0 != 0 }) {
            let k = try CLKernel(program: program, name: "dln_sgd_langevin")
            try k.bind(Bi, di, Int64(lay.coordinateCount), Int64(0), T(1), keys, coef, b.layers, b.w)
            langevin = k
        } else {
            langevin = nil
        }
    }

    /// Enqueues steps first ..< first + count.
    func step(count: Int, first: Int) throws(CLError) {
        let P = layout.paddedReplicas
        let local = Layout.lanes
        let scheduled = !schedule.isConstant
        for k in 0..<count {
            let s = Int64(first + k)
            let factor = scheduled ? schedule.factor(step: first + k) : 1
            if scheduled { try update.setArgument(factorArgument, T(factor)) }
            try indices.setArgument(2, s)
            try residual.setArgument(3, s)
            if let lookahead { try queue.enqueue(lookahead, global: [P, layout.dimension], local: [local, 1]) }
            try queue.enqueue(indices, global: [P], local: [local])
            try queue.enqueue(residual, global: [P, rows], local: [local, 1])
            try queue.enqueue(gradient, global: [P, layout.dimension], local: [local, 1])
            try queue.enqueue(update, global: [P, layout.dimension], local: [local, 1])
            if let langevin {
                try langevin.setArgument(3, s)
                if scheduled { try langevin.setArgument(4, T(factor.squareRoot())) }
                try queue.enqueue(langevin, global: [P, layout.dimension], local: [local, 1])
            }
            if k % 256 == 255 { try queue.flush() }
        }
        try queue.flush()
    }

    /// Forgets the cached epoch permutations (after a restore): the next step redraws them.
    func invalidate() throws(CLError) {
        try queue.write(permEpoch, from: [Int64](repeating: -1, count: layout.replicas))
    }
}
