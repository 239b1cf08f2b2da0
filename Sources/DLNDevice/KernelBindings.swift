import DLNModel
import OpenCLKit

/// The kernels of a batch, created from its program and bound once to its buffers (DeviceBuffers): every
/// argument of these kernels stays the same for the batch's life, except the tiled kernel's step count.
final class KernelBindings {
    let residual: CLKernel, gradient: CLKernel, update: CLKernel, loss: CLKernel, observe: CLKernel, weight: CLKernel
    /// The scalar shape's residual of a step: `residual`, or `dln_residual` bound with `strided` = 1 in the strided
    /// summation order (observations keep `residual`, ascending).
    let residualStep: CLKernel
    /// vector16 single-block kernels. `residual16` serves observations (skips only the paired blocks);
    /// `residual16Products` and `gradient16` serve steps (also skip the blocks of the fused pass).
    let residual16: CLKernel, residual16Products: CLKernel, gradient16: CLKernel
    /// vector16: pairs of neighbouring blocks that share a data set run in the pair kernels (32 replicas per
    /// work-item); the single-block kernels skip them.
    let residualPairs: CLKernel, gradientPairs: CLKernel
    let pairCount: Int
    /// vector16: blocks with lane-interleaved data run residual and gradient in one pass (the fused kernel);
    /// the single-block kernels then skip them too (`skipProducts`), except for the residual of an observation.
    let fused: CLKernel
    let mixedCount: Int
    /// Skip lists, pair and mixed-block tables: kept alive for the kernels that read them.
    let tables: [CLBuffer]
    /// The Gram form: g = Σw − b by the residual kernels with (Σ, b) in place of (X, y); nil for the products.
    let gram: CLKernel?
    /// The tiled shape's many-steps kernel (argument 4: the steps of one launch), and its work-items per replica.
    let tiled: CLKernel?
    /// The tiled kernel's per-step learning-rate factors (`stepsPerLaunch` of them, 1 until a schedule writes them).
    let factors: CLBuffer
    let tiledThreads: Int
    /// vector16, shared data: one work-item per block runs a launch's steps (`dln_block_steps_v16`, argument 4: the
    /// steps of one launch); nil when the batch does not step that way (DeviceBatch.stepsBlocksAlone).
    let blockSteps: CLKernel?
    /// The block kernel's panels of X and their offsets per data set (kept alive for it).
    let blockPanels: [CLBuffer]

    init<T: DLNReal & CLKernelArgument>(
        _ batch: Batch, program: CLProgram, buffers b: DeviceBuffers<T>, shape: KernelShape,
        maxWorkGroupSize: Int, stepsPerLaunch: Int, pairTiles: Bool, blockSteps: Bool
    ) throws(CLError) {
        let lay = batch.layout
        let B = Int32(lay.replicas)
        let n = Int32(lay.samples)
        let d = Int32(lay.dimension)
        let stride = Int64(lay.coordinateCount)
        let scale = T(batch.gradientScale)
        func kernel(_ name: String) throws(CLError) -> CLKernel { try CLKernel(program: program, name: name) }
        func table(_ values: [Int32]) throws(CLError) -> CLBuffer {
            try CLBuffer(context: program.context, copying: values, access: .readOnly)
        }

        // Pairs (vector16, products form): blocks 2p, 2p+1 scanned greedily, both with the same shared data set.
        let dsPerBlock = b.dsPerBlock
        var pairStarts: [Int32] = []
        var skip = [Int32](repeating: 0, count: lay.blocks)
        if shape == .vector16 && batch.gradientForm == .products && pairTiles && !blockSteps {
            var blk = 0
            while blk + 1 < lay.blocks {
                if dsPerBlock[blk] >= 0 && dsPerBlock[blk] == dsPerBlock[blk + 1] {
                    pairStarts.append(Int32(blk))
                    skip[blk] = 1
                    skip[blk + 1] = 1
                    blk += 2
                } else {
                    blk += 1
                }
            }
        }
        pairCount = pairStarts.count
        var mixed: [Int32] = []
        var skipAll = skip
        // (One mixed block alone keeps the split kernels: they spread its rows over the device's cores.)
        if shape == .vector16 && batch.gradientForm == .products && dsPerBlock.filter({ $0 < 0 }).count >= 2 {
            for blk in 0..<lay.blocks where dsPerBlock[blk] < 0 {
                mixed.append(Int32(blk))
                skipAll[blk] = 1
            }
        }
        mixedCount = mixed.count
        let skipProducts = try table(skipAll)
        let mixedBuffer = try table(mixed.isEmpty ? [0] : mixed)
        let skipBuffer = try table(skip)
        let noSkip = try table([Int32](repeating: 0, count: lay.blocks))
        let pairBuffer = try table(pairStarts.isEmpty ? [0] : pairStarts)
        tables = [skipBuffer, noSkip, pairBuffer, skipProducts, mixedBuffer]

        residual = try kernel("dln_residual")
        try residual.bind(B, n, d, b.x, b.y, b.ds, b.w, b.r, Int32(0))
        if batch.summation == .strided {
            residualStep = try kernel("dln_residual")
            try residualStep.bind(B, n, d, b.x, b.y, b.ds, b.w, b.r, Int32(1))
        } else {
            residualStep = residual
        }
        gradient = try kernel("dln_gradient")
        try gradient.bind(B, n, d, scale, b.x, b.ds, b.r, b.g)
        update = try kernel("dln_update")
        try update.bind(B, d, stride, T(1), b.eta, b.lambda, b.g, b.layers, b.w)
        loss = try kernel("dln_loss")
        try loss.bind(B, n, T(batch.lossScale), b.r, b.loss)
        let nt = batch.testSamples
        observe = try kernel("dln_observe")
        try observe.bind(
            B, d, stride, b.ds, b.w, b.layers, b.initial, b.teacher, b.hasTeacher, b.decay, b.inverseAlphaSquared,
            b.thresholds, T(1 / Double(lay.dimension)), T(batch.designVariance ?? 0),
            Int32(batch.designVariance == nil ? 0 : 1),
            Int32(nt), T(nt > 0 ? 1 / Double(nt) : 0), b.xTest, b.yTest, b.obs)
        weight = try kernel("dln_weight")
        try weight.bind(B, d, stride, b.layers, b.w)

        residual16 = try kernel("dln_residual_v16")
        try residual16.bind(n, d, b.x, b.y, b.blockDS, b.blockXI, b.xi, b.w, b.r, skipBuffer)
        residual16Products = try kernel("dln_residual_v16")
        try residual16Products.bind(n, d, b.x, b.y, b.blockDS, b.blockXI, b.xi, b.w, b.r, skipProducts)
        gradient16 = try kernel("dln_gradient_v16")
        try gradient16.bind(n, d, scale, b.x, b.blockDS, b.blockXI, b.xi, b.r, b.g, skipProducts)
        fused = try kernel("dln_products_v16_fused")
        try fused.bind(n, d, scale, mixedBuffer, b.blockXI, b.xi, b.w, b.r, b.g)
        residualPairs = try kernel("dln_residual_v16p")
        try residualPairs.bind(n, d, b.x, b.y, b.blockDS, pairBuffer, b.w, b.r)
        gradientPairs = try kernel("dln_gradient_v16p")
        try gradientPairs.bind(n, d, scale, b.x, b.blockDS, pairBuffer, b.r, b.g)

        factors = try CLBuffer(
            context: program.context, copying: [T](repeating: 1, count: stepsPerLaunch), access: .readOnly)
        if shape == .tiled && batch.gradientForm == .products {
            let k = try kernel("dln_steps_tiled")
            try k.bind(
                B, n, d, stride, Int32(1), scale, b.x, b.y, b.ds, b.eta, factors, b.lambda, b.layers, b.w, b.r)
            tiled = k
            tiledThreads = max(1, min(16, maxWorkGroupSize / Layout.lanes))
        } else {
            tiled = nil
            tiledThreads = 16
        }

        if blockSteps {
            // The panels of every data set a block uses (the six-row and six-coordinate passes read them), at
            // panelAt[s]; 0 for the others.
            let sets = Array(Set(dsPerBlock.map(Int.init))).sorted()
            let size = PanelPacking.count(samples: lay.samples, dimension: lay.dimension)
            var panelAt = [Int64](repeating: 0, count: batch.datasets.count)
            var panels: [T] = []
            panels.reserveCapacity(sets.count * size)
            for s in sets {
                panelAt[s] = Int64(panels.count)
                panels += PanelPacking.pack(
                    batch.datasets[s].x.values(as: T.self), samples: lay.samples, dimension: lay.dimension)
            }
            let panelBuffer = try CLBuffer(context: program.context, copying: panels, access: .readOnly)
            let panelTable = try CLBuffer(context: program.context, copying: panelAt, access: .readOnly)
            let k = try kernel("dln_block_steps_v16")
            try k.bind(
                B, n, d, stride, Int32(1), scale, b.x, b.y, b.blockDS, b.eta, factors, b.lambda, b.layers, b.w, b.r,
                panelBuffer, panelTable)
            self.blockSteps = k
            blockPanels = [panelBuffer, panelTable]
        } else {
            self.blockSteps = nil
            blockPanels = []
        }

        if let form = b.gram {
            let dd = d
            let k: CLKernel
            if shape == .vector16 {
                k = try kernel("dln_residual_v16")
                try k.bind(
                    dd, dd, form.matrix, form.vector, b.blockDS, form.offsets, form.interleaved, b.w, b.g, noSkip)
            } else {
                k = try kernel("dln_residual")
                try k.bind(B, dd, dd, form.matrix, form.vector, b.ds, b.w, b.g, Int32(0))
            }
            gram = k
        } else {
            gram = nil
        }
    }

    /// The index of `dln_update`'s `factor` argument (the learning-rate schedule's s_k of the step).
    static let updateFactorArgument = 3

    /// Sets the tiled kernel's steps per launch.
    func setTiledSteps(_ steps: Int32) throws(CLError) { try tiled?.setArgument(4, steps) }
}
