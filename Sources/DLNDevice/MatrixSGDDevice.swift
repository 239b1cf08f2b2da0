import DLNModel
import OpenCLKit

/// Mini-batch SGD of the matrix model on the device: stochastic.cl's `dln_sgd_indices` (the diagonal models' draws,
/// twin of `BatchSampler`) and Kernels/matrix_sgd.cl's gathers, with the buffers they fill. A step draws every
/// replica's sorted rows, copies those rows of its data (X and Y, or the operators A_k and values y_k) into
/// buffers of its own, and runs the unchanged full-batch step on them with n (or m) = |B_k| and ds[b] = b. Twin of
/// `MatrixCPUBatch.stochasticSteps`.
struct MatrixSGDDevice {
    let stochastic: MatrixStochastic
    /// N: the rows drawn from (n, or the measurements m of sensing).
    let rows: Int
    let indices: CLKernel, gather: CLKernel, gather16: CLKernel?
    let keys: CLBuffer, bsz: CLBuffer, scaleFull: CLBuffer, scaleLast: CLBuffer
    let idx: CLBuffer, cnt: CLBuffer, sc: CLBuffer, perm: CLBuffer, permEpoch: CLBuffer
    /// ds[b] = b: each replica reads its own gathered rows.
    let identity: CLBuffer
    /// The gathered rows, each replica's at b·count·width: X and Y (regression) or A and y (sensing).
    let first: CLBuffer, second: CLBuffer
    /// The vector16 shape's gathered X, block k's at k·b·n_0 vectors (`table`).
    let spread: CLBuffer?, table: CLBuffer?

    init<T: DLNReal & CLKernelArgument>(
        _ batch: MatrixBatch, _ s: MatrixStochastic, program: CLProgram, context: CLContext, vector16: Bool,
        as _: T.Type
    ) throws {
        stochastic = s
        let N = batch.rows
        rows = N
        let lay = batch.layout
        let B = batch.replicas
        let b = s.batchSize
        func buffer<E: BitwiseCopyable>(_ values: [E], readOnly: Bool = true) throws -> CLBuffer {
            try CLBuffer(context: context, copying: values, access: readOnly ? .readOnly : .readWrite)
        }
        keys = try buffer(StochasticRandom.keyWords(seeds: s.seeds))
        bsz = try buffer([Int32](repeating: Int32(b), count: B))
        // dln_sgd_indices writes each replica's scale into sc; the host passes the step's scale itself.
        scaleFull = try buffer([T](repeating: T(s.scale(count: b)), count: B))
        let last = N - (BatchSampler.stepsPerEpoch(n: N, b: b) - 1) * b
        scaleLast = try buffer([T](repeating: T(s.scale(count: last)), count: B))
        idx = try buffer([Int32](repeating: 0, count: lay.paddedReplicas * N), readOnly: false)
        cnt = try buffer([Int32](repeating: 0, count: lay.paddedReplicas), readOnly: false)
        sc = try buffer([T](repeating: 0, count: lay.paddedReplicas), readOnly: false)
        perm = try buffer([Int32](repeating: 0, count: s.sampling == .epochs ? B * N : 1), readOnly: false)
        permEpoch = try buffer([Int64](repeating: -1, count: B), readOnly: false)
        identity = try buffer((0..<B).map { Int32($0) })
        let shape = batch.shape
        let widths =
            batch.measurements != nil ? (shape.outputs * shape.inputs, 1) : (shape.inputs, shape.outputs)
        first = try buffer([T](repeating: 0, count: B * b * widths.0), readOnly: false)
        second = try buffer([T](repeating: 0, count: B * b * widths.1), readOnly: false)
        indices = try CLKernel(program: program, name: "dln_sgd_indices")
        try indices.bind(
            Int32(B), Int32(N), Int64(0), s.samplingCode, keys, bsz, scaleFull, scaleLast, idx, cnt, sc, perm,
            permEpoch)
        gather = try CLKernel(program: program, name: "mx_sgd_gather")
        if vector16 && batch.measurements == nil {
            gather16 = try CLKernel(program: program, name: "mx16_sgd_gather")
            let block = b * shape.inputs
            spread = try buffer([T](repeating: 0, count: lay.blocks * block * Layout.lanes), readOnly: false)
            table = try buffer((0..<lay.blocks).map { Int64($0 * block) })
        } else {
            (gather16, spread, table) = (nil, nil, nil)
        }
    }
}

extension MatrixDeviceBatch {
    /// Copies `count` rows of `width` values per replica from `src` (data sets of N rows, ds) into `dst`.
    func enqueueGather(_ s: MatrixSGDDevice, _ src: CLBuffer, width: Int, count: Int, into dst: CLBuffer) throws {
        try launch(
            s.gather, outputs: count * width, B, i32(s.rows), i32(count), i32(width), src, ds, s.idx, dst)
    }

    /// One SGD step (step number `step`): the draws, the gathers, then the full-batch step on the gathered rows with
    /// the mini-batch's scale; the full data are back in place afterwards.
    func enqueueStochasticStep(_ s: MatrixSGDDevice, step: Int) throws {
        let count = s.stochastic.count(step: step, rows: s.rows)
        try s.indices.setArgument(2, Int64(step))
        try queue.enqueue(s.indices, global: [padded], local: [Layout.lanes])
        let saved = (n, x, y, ds, v16, sensing, gradientScale)
        defer { (n, x, y, ds, v16, sensing, gradientScale) = saved }
        if var sense = sensing {
            let size = shape.outputs * shape.inputs
            try enqueueGather(s, sense.a, width: size, count: count, into: s.first)
            try enqueueGather(s, sense.y, width: 1, count: count, into: s.second)
            try enqueueLabelNoise(s, step: step, s.second, width: 1, count: count)
            (sense.a, sense.y, sense.m) = (s.first, s.second, Int32(count))
            sensing = sense
        } else {
            try enqueueGather(s, x, width: shape.inputs, count: count, into: s.first)
            try enqueueGather(s, y, width: shape.outputs, count: count, into: s.second)
            try enqueueLabelNoise(s, step: step, s.second, width: shape.outputs, count: count)
            if var v = v16, let g = s.gather16, let spread = s.spread, let table = s.table {
                let width = shape.inputs
                try launch(
                    g, outputs: count * width, B, i32(s.rows), i32(count), i32(width),
                    Int64(s.stochastic.batchSize * width), x, ds, s.idx, spread)
                (v.xs, v.xTable) = (spread, table)
                v16 = v
            }
            (x, y, n) = (s.first, s.second, Int32(count))
        }
        ds = s.identity
        gradientScale = T(s.stochastic.scale(count: count))
        try enqueueUpdate(step: step)
    }
}
