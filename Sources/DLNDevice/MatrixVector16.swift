import DLNModel
import OpenCLKit

/// The vector16 shape of the matrix model (Kernels/matrix_v16.cl): its kernel and the buffers it needs beside the
/// scalar shape's (the parameters, activations and signals are shared, in the same block layout).
struct MatrixVector16 {
    let dots: CLKernel
    /// X of each block's data spread over the 16 lanes (one copy per distinct combination of data sets in a block),
    /// and where each block's copy starts (in vectors).
    var xs: CLBuffer, xTable: CLBuffer
    /// η and λ per replica, padded to whole blocks (the kernel loads a block's 16 at once).
    let eta: CLBuffer, lambda: CLBuffer
    /// With a learning-rate schedule: η before the step's factor (`eta` holds η·s_k during step k).
    let etaBase: CLBuffer?
    /// A layer gradient's partial sums between chunks of samples: `partialBlock` = max_l n_l·n_{l−1} vectors per
    /// block.
    let partial: CLBuffer, partialBlock: Int
    /// Output rows per work-item (the tiles' rows: 5 for float, 2 for double).
    let rows: Int

    init<T: DLNReal & CLKernelArgument>(_ batch: MatrixBatch, program: CLProgram, context: CLContext, as _: T.Type)
        throws
    {
        dots = try CLKernel(program: program, name: "mx16_dots")
        let lay = batch.layout
        let n = batch.samples
        let n0 = batch.shape.inputs
        let lanes = Layout.lanes
        var combos: [[Int]: Int] = [:]
        var table: [Int64] = []
        var spread: [T] = []
        let data = batch.datasets.map { $0.x.values(as: T.self) }
        for blk in 0..<lay.blocks {
            let sets = (0..<lanes).map { batch.dataset[min(blk * lanes + $0, batch.replicas - 1)] }
            if let c = combos[sets] {
                table.append(Int64(c * n * n0))
                continue
            }
            combos[sets] = combos.count
            table.append(Int64(combos[sets]! * n * n0))
            for e in 0..<(n * n0) { for lane in 0..<lanes { spread.append(data[sets[lane]][e]) } }
        }
        xs = try CLBuffer(context: context, copying: spread, access: .readOnly)
        xTable = try CLBuffer(context: context, copying: table, access: .readOnly)
        func padded(_ v: [Double]) -> [T] { (0..<lay.paddedReplicas).map { T(v[min($0, batch.replicas - 1)]) } }
        let scheduled = !batch.schedule.isConstant
        eta = try CLBuffer(context: context, copying: padded(batch.eta), access: scheduled ? .readWrite : .readOnly)
        etaBase = scheduled ? try CLBuffer(context: context, copying: padded(batch.eta), access: .readOnly) : nil
        lambda = try CLBuffer(context: context, copying: padded(batch.lambdaU), access: .readOnly)
        let widths = batch.shape.widths
        partialBlock = (1..<widths.count).map { widths[$0] * widths[$0 - 1] }.max()!
        partial = try CLBuffer(
            context: context, copying: [T](repeating: 0, count: lay.paddedReplicas * partialBlock), access: .readWrite)
        rows = T.self == Float.self ? 5 : 2
    }
}

/// An operand of `mx16_dots`: a buffer of blocks of `block` vectors (or, with `block` < 0, the spread data sets
/// through the block table), starting at vector `offset` of each block, with strides along the rows and along k.
struct MatrixOperand {
    var buffer: CLBuffer
    var block: Int
    var offset: Int
    var rowStride: Int
    var depthStride: Int
}

extension MatrixDeviceBatch {
    /// One `mx16_dots` launch: out(r, c) for r < R, c < C over K terms (see Kernels/matrix_v16.cl); `kind` 0 plain,
    /// 1 layer update, 2 gradient into f; the sums start from the partial buffer when `resume`.
    func dots16(
        _ v: MatrixVector16, rows R: Int, columns C: Int, depth K: Int, _ a: MatrixOperand, _ b: MatrixOperand,
        out: CLBuffer, block: Int, offset: Int, rowStride rs: Int, columnStride cs: Int, kind: Int32 = 0,
        resume: Bool = false
    ) throws {
        try v.dots.bind(
            i32(R), i32(C), i32(K),
            a.buffer, Int64(a.block), v.xTable, Int64(a.offset), i32(a.rowStride), i32(a.depthStride),
            b.buffer, Int64(b.block), v.xTable, Int64(b.offset), i32(b.rowStride), i32(b.depthStride),
            out, Int64(block), Int64(offset), i32(rs), i32(cs), kind, v.partial, Int64(v.partialBlock),
            Int32(resume ? 1 : 0), v.eta, v.lambda, f)
        try queue.enqueue(v.dots, global: [(R + v.rows - 1) / v.rows, batch.layout.blocks], local: [1, 1])
    }

    /// The forward chain in the vector16 shape: h_l = h_{l−1}·W_lᵀ (h_0 = X).
    func enqueueForward16(_ v: MatrixVector16) throws {
        let samples = Int(n)
        for l in 1...shape.depth {
            let nin = shape.widths[l - 1]
            let nout = shape.widths[l]
            let input =
                l == 1
                ? MatrixOperand(buffer: v.xs, block: -1, offset: 0, rowStride: nin, depthStride: 1)
                : MatrixOperand(
                    buffer: h, block: Int(H), offset: shape.activationOffset(l - 1, samples: samples), rowStride: nin,
                    depthStride: 1)
            let w = MatrixOperand(
                buffer: params, block: Int(P), offset: shape.layerOffset(l), rowStride: nin, depthStride: 1)
            try dots16(
                v, rows: samples, columns: nout, depth: nin, input, w, out: h, block: Int(H),
                offset: shape.activationOffset(l, samples: samples), rowStride: nout, columnStride: 1)
        }
    }

    /// One step (writeF 0) or the gradient into f (writeF 1) in the vector16 shape, in the CPU engine's order:
    /// back-propagation through the old W_l, then the layer gradient in chunks of samples, the last chunk updating
    /// W_l (or writing F).
    func enqueueStep16(_ v: MatrixVector16, writeF: Int32) throws {
        let samples = Int(n)
        try enqueueForward16(v)
        let L = shape.depth
        var (din, dout) = delta
        try enqueueOutputSignal(din)
        // The symmetric factorisation's W_1 (and its F) is W_2ᵀ after the step (mx_tie): layer 1 is not computed.
        let lowest = batch.tied ? 2 : 1
        for l in stride(from: L, through: lowest, by: -1) {
            let nin = shape.widths[l - 1]
            let nout = shape.widths[l]
            let woff = shape.layerOffset(l)
            if l > lowest {
                try dots16(
                    v, rows: samples, columns: nin, depth: nout,
                    MatrixOperand(buffer: din, block: Int(D), offset: 0, rowStride: nout, depthStride: 1),
                    MatrixOperand(buffer: params, block: Int(P), offset: woff, rowStride: 1, depthStride: nin),
                    out: dout, block: Int(D), offset: 0, rowStride: nin, columnStride: 1)
            }
            var mu0 = 0
            while mu0 < samples {
                let m = min(MatrixCPUEngine.gradientChunk, samples - mu0)
                let last = mu0 + m == samples
                let input =
                    l == 1
                    ? MatrixOperand(buffer: v.xs, block: -1, offset: mu0 * nin, rowStride: 1, depthStride: nin)
                    : MatrixOperand(
                        buffer: h, block: Int(H), offset: shape.activationOffset(l - 1, samples: samples) + mu0 * nin,
                        rowStride: 1, depthStride: nin)
                try dots16(
                    v, rows: nout, columns: nin, depth: m,
                    MatrixOperand(buffer: din, block: Int(D), offset: mu0 * nout, rowStride: 1, depthStride: nout),
                    input, out: last ? params : v.partial, block: last ? Int(P) : v.partialBlock,
                    offset: last ? woff : 0, rowStride: nin, columnStride: 1, kind: last ? 1 + writeF : 0,
                    resume: mu0 > 0)
                mu0 += m
            }
            swap(&din, &dout)
        }
    }
}
