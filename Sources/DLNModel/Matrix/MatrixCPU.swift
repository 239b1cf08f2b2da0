import Dispatch

/// The CPU engine of the matrix model: the twin of Kernels/matrix.cl, 16 replicas (one block) per SIMD vector.
/// Every output's sum runs in the kernels' order (fma from 0, ascending), so PoCL's results are the same bits;
/// which outputs are computed together (register tiles of Sources/DLNVector/MatrixDots.swift) and where a layer gradient's sum is
/// parked between chunks of samples do not change them.
public final class MatrixCPUEngine: MatrixEngine {
    private var impl: (any MatrixCPURunner)?
    /// Worker threads (default: every core).
    public let threads: Int
    /// The instruction set of the register tiles (never changes a result).
    public let isa: VectorISA

    /// An engine on `threads` threads (nil: every core), its tiles compiled for `isa` (default: `VectorISA.current`;
    /// one the CPU lacks falls back to the baseline).
    public init(threads: Int? = nil, isa: VectorISA = .current) {
        self.threads = max(1, threads ?? System.coreCount)
        self.isa = isa.isSupported ? isa : .baseline
    }

    /// Samples per chunk of a layer gradient's sum δ_lᵀ·h_{l−1}: the chunk's rows of δ_l and h_{l−1} and the partial
    /// sums stay in L2 while the register tiles sweep them; between chunks the sums wait in memory and resume.
    /// (Measured on widths 100 100 100 10, n = 400: 32 beats 16, 64 and 128; all of n at once is 1.5× slower.)
    public static var gradientChunk: Int { 32 }

    public var deviceDescription: String { "CPU (\(threads) threads, 16-replica SIMD blocks, \(isa))" }

    public func initialize(_ batch: MatrixBatch) throws(DLNError) {
        precondition(batch.stochastic?.isUniform ?? true, "one batch size per engine batch (MatrixRun slices at b)")
        switch batch.precision {
        case .float32: impl = MatrixCPUBatch<Float>(batch, threads: threads, isa: isa)
        case .float64: impl = MatrixCPUBatch<Double>(batch, threads: threads, isa: isa)
        }
    }

    private var run: any MatrixCPURunner {
        guard let impl else { preconditionFailure("initialize the engine first") }
        return impl
    }

    public func step(count: Int) throws(DLNError) { run.step(count: count) }
    public var stepsTaken: Int {
        get { run.stepsTaken }
        set { run.stepsTaken = newValue }
    }
    public func loss() throws(DLNError) -> [Double] { run.loss() }
    public func parameters() throws(DLNError) -> RealArray { run.parameters() }
    public func setParameters(_ values: RealArray) throws(DLNError) { run.setParameters(values) }
    public func gradient() throws(DLNError) -> RealArray { run.gradient() }
    public func velocity() throws(DLNError) -> RealArray? { run.velocity() }
    public func setVelocity(_ values: RealArray) throws(DLNError) { run.setVelocity(values) }
}

protocol MatrixCPURunner: AnyObject {
    func step(count: Int)
    var stepsTaken: Int { get set }
    func loss() -> [Double]
    func parameters() -> RealArray
    func setParameters(_ values: RealArray)
    func gradient() -> RealArray
    func velocity() -> RealArray?
    func setVelocity(_ values: RealArray)
}

/// A pointer handed to the worker threads, which write disjoint parts of what it points at.
struct SharedPointer<T>: @unchecked Sendable {
    let base: UnsafeMutablePointer<T>
}

/// `count` vectors on a cache-line boundary (SIMD16's own alignment is 16 bytes), zeroed; free with `deallocate()`.
func alignedVectors<T: DLNReal>(_ count: Int) -> UnsafeMutablePointer<SIMD16<T>> {
    let p = UnsafeMutableRawPointer.allocate(
        byteCount: max(1, count) * MemoryLayout<SIMD16<T>>.stride, alignment: 64
    ).bindMemory(to: SIMD16<T>.self, capacity: max(1, count))
    p.initialize(repeating: SIMD16<T>(), count: max(1, count))
    return p
}

/// One batch in one precision: the parameters, activations and signals of every block, and the data sets spread
/// to 16 lanes (one copy per distinct combination of data sets in a block).
final class MatrixCPUBatch<T: DLNReal>: MatrixCPURunner, @unchecked Sendable {  // blocks touch disjoint slices
    let batch: MatrixBatch
    let shape: MatrixShape
    let threads: Int
    let n: Int, P: Int, H: Int, D: Int, blocks: Int
    /// Parameters, block-major: block k's P vectors at k·P.
    let params: UnsafeMutablePointer<SIMD16<T>>
    /// X (n·n_0 vectors) and Y (n·n_L vectors) of each block's data, shared between blocks with the same data sets.
    var xs: [UnsafeMutablePointer<SIMD16<T>>] = [], ys: [UnsafeMutablePointer<SIMD16<T>>] = []
    /// Matrix sensing: the operators A_k (m·n_L·n_0 vectors) and the measured values (m) of each block's data.
    var sensingA: [UnsafeMutablePointer<SIMD16<T>>] = [], sensingY: [UnsafeMutablePointer<SIMD16<T>>] = []
    /// A worker's scratch, in vectors: activations h (H), the two signals (D each) and a layer gradient's partial
    /// sums between chunks of samples (max_l n_l·n_{l−1}), then matrix sensing's residuals (m), then (SGD) the
    /// gathered rows of a mini-batch (`gatherSize`), then (momentum) F and the previous parameters (2P).
    let scratchSize: Int
    /// max_l n_l·n_{l−1}: the partial sums' part of the scratch.
    let partialSize: Int
    /// SGD: the gathered X and Y (n·(n_0 + n_L)) or operators and values (m·(n_L·n_0 + 1)); 0 without SGD.
    let gatherSize: Int
    /// SGD: the replicas' keys and epoch permutations.
    let draws: MatrixDraws?
    /// Label noise, Langevin noise and momentum: the per-lane scalars and the momentum buffers.
    let dyn: MatrixDynamicsState<T>?
    var stepsTaken = 0
    var blockData: [Int] = []
    var eta: [SIMD16<T>] = [], lambda: [SIMD16<T>] = []
    let gradientScale: T, lossScale: T
    /// The register tiles compiled for the instruction set in use.
    let kernels: any VectorKernels.Type

    init(_ batch: MatrixBatch, threads: Int, isa: VectorISA) {
        kernels = isa.kernels
        self.batch = batch
        shape = batch.shape
        self.threads = threads
        n = batch.samples
        P = shape.parameterCount
        H = shape.activationCount(samples: n)
        D = shape.signalCount(samples: n)
        blocks = batch.layout.blocks
        gradientScale = T(batch.gradientScale)
        lossScale = T(batch.lossScale)
        let widths = batch.shape.widths
        partialSize = (1..<widths.count).map { widths[$0] * widths[$0 - 1] }.max()!
        let m = batch.measurementCount
        if let st = batch.stochastic {
            gatherSize = m > 0 ? m * (shape.inputs * shape.outputs + 1) : n * (shape.inputs + shape.outputs)
            draws = MatrixDraws(st, rows: batch.rows)
        } else {
            gatherSize = 0
            draws = nil
        }
        dyn = batch.dynamics.map { MatrixDynamicsState($0, batch: batch, blocks: batch.layout.blocks) }
        scratchSize = H + 2 * D + partialSize + m + gatherSize + (dyn?.mom != nil ? 2 * P : 0)
        params = alignedVectors(blocks * P)
        setParameters(RealArray(batch.initial, precision: batch.precision))
        var seen: [[Int]: Int] = [:]
        let data = batch.datasets.map { ($0.x.values(as: T.self), $0.y.values(as: T.self)) }
        let sensing = batch.measurements?.map { ($0.a.values(as: T.self), $0.y.values(as: T.self)) }
        for k in 0..<blocks {
            let lanes = (0..<Layout.lanes).map { batch.dataset[min(k * Layout.lanes + $0, batch.replicas - 1)] }
            if let i = seen[lanes] {
                blockData.append(i)
                continue
            }
            func spread(_ pick: (Int) -> [T]) -> UnsafeMutablePointer<SIMD16<T>> {
                let parts = lanes.map(pick)
                let p: UnsafeMutablePointer<SIMD16<T>> = alignedVectors(parts[0].count)
                for e in 0..<parts[0].count {
                    for lane in 0..<Layout.lanes { p[e][lane] = parts[lane][e] }
                }
                return p
            }
            seen[lanes] = xs.count
            blockData.append(xs.count)
            xs.append(spread { data[$0].0 })
            ys.append(spread { data[$0].1 })
            if let sensing {
                sensingA.append(spread { sensing[$0].0 })
                sensingY.append(spread { sensing[$0].1 })
            }
        }
        func lanesOf(_ v: [Double]) -> [SIMD16<T>] {
            (0..<blocks).map { k in
                SIMD16<T>((0..<Layout.lanes).map { T(v[min(k * Layout.lanes + $0, batch.replicas - 1)]) })
            }
        }
        eta = lanesOf(batch.eta)
        lambda = lanesOf(batch.lambdaU)
    }

    deinit {
        params.deallocate()
        for p in xs { p.deallocate() }
        for p in ys { p.deallocate() }
        for p in sensingA + sensingY { p.deallocate() }
    }

    /// η of block k at step `index`: η·s_k with s_k rounded once to T (η itself without a schedule).
    @inline(__always)
    func stepEta(_ k: Int, _ index: Int) -> SIMD16<T> {
        batch.schedule.isConstant ? eta[k] : eta[k] * SIMD16<T>(repeating: T(batch.schedule.factor(step: index)))
    }

    /// Block-major vectors as replica-major values in the batch's precision.
    func unpack(_ v: UnsafePointer<SIMD16<T>>) -> RealArray {
        let B = batch.replicas
        var out = [T](repeating: 0, count: B * P)
        for b in 0..<B {
            let k = b / Layout.lanes
            let lane = b % Layout.lanes
            for p in 0..<P { out[b * P + p] = v[k * P + p][lane] }
        }
        return T.self == Float.self ? .float(out as! [Float]) : .double(out as! [Double])
    }

    func parameters() -> RealArray { unpack(params) }

    func setParameters(_ values: RealArray) { pack(values, into: params) }

    /// Replica-major values (the batch's precision) into block-major vectors.
    func pack(_ values: RealArray, into out: UnsafeMutablePointer<SIMD16<T>>) {
        let v = values.values(as: T.self)
        let B = batch.replicas
        precondition(v.count == B * P)
        for b in 0..<B {
            let k = b / Layout.lanes
            let lane = b % Layout.lanes
            for p in 0..<P { out[k * P + p][lane] = v[b * P + p] }
        }
    }

    func velocity() -> RealArray? { dyn?.mom.map { unpack($0) } }

    func setVelocity(_ values: RealArray) {
        guard let mom = dyn?.mom else { return }
        pack(values, into: mom)
    }

    /// Runs `body(block, scratch)` over every block on the worker threads; each worker has its own scratch of
    /// `scratchSize` vectors.
    func eachBlock(_ body: @Sendable (Int, UnsafeMutablePointer<SIMD16<T>>) -> Void) {
        let workers = max(1, min(threads, blocks))
        let size = scratchSize
        let blocks = blocks
        DispatchQueue.concurrentPerform(iterations: workers) { t in
            let scratch: UnsafeMutablePointer<SIMD16<T>> = alignedVectors(size)
            defer { scratch.deallocate() }
            var k = t
            while k < blocks {
                body(k, scratch)
                k += workers
            }
        }
    }

    /// The forward chain of one block: h_l into h (mx_forward_data, mx_forward).
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    func forward(
        _ w: UnsafePointer<SIMD16<T>>, x: UnsafePointer<SIMD16<T>>, samples n: Int, h: UnsafeMutablePointer<SIMD16<T>>
    ) {
        for l in 1...shape.depth {
            let nin = shape.widths[l - 1]
            let nout = shape.widths[l]
            let input = l == 1 ? x : UnsafePointer(h + shape.activationOffset(l - 1, samples: n))
            matrixDots(
                rows: n, columns: nout, depth: nin, input, nin, 1, w + shape.layerOffset(l), nin, 1,
                into: DotsOutput(out: h + shape.activationOffset(l, samples: n), rs: nout, cs: 1))
        }
    }

    /// The full data of block k (every sample or measurement, the batch's scale).
    func fullData(block k: Int) -> MatrixStepData<T> {
        let i = blockData[k]
        return MatrixStepData(
            x: UnsafePointer(xs[i]), y: UnsafePointer(ys[i]), samples: n,
            a: sensingA.isEmpty ? nil : UnsafePointer(sensingA[i]),
            values: sensingY.isEmpty ? nil : UnsafePointer(sensingY[i]), measurements: batch.measurementCount,
            scale: SIMD16<T>(repeating: gradientScale))
    }

    /// One step of block k (or, with `f`, the gradient F = G + λW of its layers into f instead of the update) on
    /// `data` (nil: the full data; SGD: the gathered mini-batch).
    /// δ_{l−1} = δ_l·W_l comes first (old W_l); then G_l = δ_lᵀ·h_{l−1} runs over chunks of samples (the chunk's
    /// δ_l and h_{l−1} stay in L2), the partial sums parked in the scratch between chunks; the last chunk updates
    /// W_l (mx_update, mx_update_data). Every operand is read where it lies: copies into transposed scratches, so
    /// that the sums run along consecutive vectors, measured no faster.
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    func step(
        block k: Int, scratch: UnsafeMutablePointer<SIMD16<T>>, f: UnsafeMutablePointer<SIMD16<T>>?,
        data: MatrixStepData<T>? = nil, step index: Int = 0
    ) {
        let data = data ?? fullData(block: k)
        let n = data.samples
        let w = params + k * P
        let x = data.x
        let y = data.y
        let h = scratch
        var din = scratch + H
        var dout = scratch + H + D
        let partial = scratch + H + 2 * D
        forward(w, x: x, samples: n, h: h)
        let L = shape.depth
        let nL = shape.outputs
        let hL = h + shape.activationOffset(L, samples: n)
        if batch.measurements != nil {
            senseResidual(data, hL: hL, r: partial + partialSize, signal: din)
        } else {
            let scale = data.scale
            for e in 0..<(n * nL) { din[e] = scale * (hL[e] - y[e]) }
        }
        // The symmetric factorisation's W_1 (and its F) is W_2ᵀ after the step (`tie`): layer 1 is not computed.
        let lowest = batch.tied ? 2 : 1
        for l in stride(from: L, through: lowest, by: -1) {
            let nin = shape.widths[l - 1]
            let nout = shape.widths[l]
            let wl = w + shape.layerOffset(l)
            if l > lowest {
                matrixDots(
                    rows: n, columns: nin, depth: nout, din, nout, 1, wl, 1, nin,
                    into: DotsOutput(out: dout, rs: nin, cs: 1))
            }
            let input = l > 1 ? UnsafePointer(h + shape.activationOffset(l - 1, samples: n)) : x
            var mu0 = 0
            while mu0 < n {
                let m = min(MatrixCPUEngine.gradientChunk, n - mu0)
                var output = DotsOutput<T>(out: partial, rs: nin, cs: 1)
                if mu0 > 0 { output.resume = UnsafePointer(partial) }
                if mu0 + m == n {
                    (output.eta, output.lambda) = (stepEta(k, index), lambda[k])
                    if let f {
                        (output.out, output.layer) = (f + shape.layerOffset(l), UnsafePointer(wl))
                        output.kind = .gradient
                    } else {
                        (output.out, output.kind) = (wl, .update)
                    }
                }
                matrixDots(
                    rows: nout, columns: nin, depth: m, din + mu0 * nout, 1, nout, input + mu0 * nin, 1, nin,
                    into: output)
                mu0 += m
            }
            swap(&din, &dout)
        }
        if batch.tied { tie(f ?? w) }
    }

    @_specialize(where T == Float)
    @_specialize(where T == Double)
    func step(count: Int) {
        let first = stepsTaken
        if batch.stochastic != nil || dyn != nil {
            eachBlock { k, scratch in self.dynamicSteps(block: k, first..<(first + count), scratch) }
        } else {
            eachBlock { k, scratch in
                for i in 0..<count { self.step(block: k, scratch: scratch, f: nil, step: first + i) }
            }
        }
        stepsTaken += count
    }

    @_specialize(where T == Float)
    @_specialize(where T == Double)
    func gradient() -> RealArray {
        let f = SharedPointer(base: alignedVectors(blocks * P) as UnsafeMutablePointer<SIMD16<T>>)
        defer { f.base.deallocate() }
        eachBlock { k, scratch in self.step(block: k, scratch: scratch, f: f.base + k * self.P) }
        return unpack(f.base)
    }

    @_specialize(where T == Float)
    @_specialize(where T == Double)
    func loss() -> [Double] {
        let sums = SharedPointer(base: alignedVectors(blocks) as UnsafeMutablePointer<SIMD16<T>>)
        defer { sums.base.deallocate() }
        eachBlock { k, scratch in
            let y = self.ys[self.blockData[k]]
            self.forward(self.params + k * self.P, x: self.xs[self.blockData[k]], samples: self.n, h: scratch)
            let hL = scratch + self.shape.activationOffset(self.shape.depth, samples: self.n)
            if self.batch.measurements != nil {
                let r = scratch + self.H + 2 * self.D + self.partialSize
                self.senseResidual(self.fullData(block: k), hL: hL, r: r, signal: nil)
                (sums.base + k).initialize(to: self.senseLoss(r))
                return
            }
            var acc = SIMD16<T>()
            for e in 0..<(self.n * self.shape.outputs) {
                let r = hL[e] - y[e]
                acc = acc.addingProduct(r, r)
            }
            (sums.base + k).initialize(to: acc * SIMD16<T>(repeating: self.lossScale))
        }
        return (0..<batch.replicas).map { Double(sums.base[$0 / Layout.lanes][$0 % Layout.lanes]) }
    }
}
