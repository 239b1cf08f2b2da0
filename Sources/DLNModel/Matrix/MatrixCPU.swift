import Dispatch

/// The CPU engine of the matrix model: the twin of Kernels/matrix.cl, 16 replicas (one block) per SIMD vector.
/// Every output's sum runs in the kernels' order (fma from 0, ascending), so PoCL's results are the same bits;
/// which outputs are computed together (two rows by four columns in registers) does not change them.
public final class MatrixCPUEngine: MatrixEngine {
    private var impl: (any MatrixCPURunner)?
    /// Worker threads (default: every core).
    public let threads: Int

    /// An engine on `threads` threads (nil: every core).
    public init(threads: Int? = nil) { self.threads = max(1, threads ?? System.coreCount) }

    public var deviceDescription: String { "CPU (\(threads) threads, 16-replica SIMD blocks)" }

    public func initialize(_ batch: MatrixBatch) throws(DLNError) {
        switch batch.precision {
        case .float32: impl = MatrixCPUBatch<Float>(batch, threads: threads)
        case .float64: impl = MatrixCPUBatch<Double>(batch, threads: threads)
        }
    }

    private var run: any MatrixCPURunner {
        guard let impl else { preconditionFailure("initialize the engine first") }
        return impl
    }

    public func step(count: Int) throws(DLNError) { run.step(count: count) }
    public func loss() throws(DLNError) -> [Double] { run.loss() }
    public func parameters() throws(DLNError) -> RealArray { run.parameters() }
    public func setParameters(_ values: RealArray) throws(DLNError) { run.setParameters(values) }
    public func gradient() throws(DLNError) -> RealArray { run.gradient() }
}

protocol MatrixCPURunner: AnyObject {
    func step(count: Int)
    func loss() -> [Double]
    func parameters() -> RealArray
    func setParameters(_ values: RealArray)
    func gradient() -> RealArray
}

/// out(r, c) = Σ_k A(r, k)·B(c, k), k ascending, fma from 0, with A(r, k) at a[r·ar + k·ak] and B(c, k) at
/// b[c·br + k·bk]; `store(r, c, value)` receives each output. Two rows by four columns at a time in registers.
@_specialize(where T == Float)
@_specialize(where T == Double)
@inline(__always)
func matrixDots<T: DLNReal>(
    rows R: Int, columns C: Int, depth K: Int,
    _ a: UnsafePointer<SIMD16<T>>, _ ar: Int, _ ak: Int,
    _ b: UnsafePointer<SIMD16<T>>, _ br: Int, _ bk: Int,
    store: (Int, Int, SIMD16<T>) -> Void
) {
    var r = 0
    while r + 2 <= R {
        var c = 0
        while c + 4 <= C {
            var s00 = SIMD16<T>()
            var s01 = SIMD16<T>()
            var s02 = SIMD16<T>()
            var s03 = SIMD16<T>()
            var s10 = SIMD16<T>()
            var s11 = SIMD16<T>()
            var s12 = SIMD16<T>()
            var s13 = SIMD16<T>()
            let a0 = a + r * ar
            let a1 = a + (r + 1) * ar
            let b0 = b + c * br
            let b1 = b + (c + 1) * br
            let b2 = b + (c + 2) * br
            let b3 = b + (c + 3) * br
            for k in 0..<K {
                let x0 = a0[k * ak]
                let x1 = a1[k * ak]
                let y0 = b0[k * bk]
                let y1 = b1[k * bk]
                let y2 = b2[k * bk]
                let y3 = b3[k * bk]
                s00 = s00.addingProduct(x0, y0)
                s01 = s01.addingProduct(x0, y1)
                s02 = s02.addingProduct(x0, y2)
                s03 = s03.addingProduct(x0, y3)
                s10 = s10.addingProduct(x1, y0)
                s11 = s11.addingProduct(x1, y1)
                s12 = s12.addingProduct(x1, y2)
                s13 = s13.addingProduct(x1, y3)
            }
            store(r, c, s00)
            store(r, c + 1, s01)
            store(r, c + 2, s02)
            store(r, c + 3, s03)
            store(r + 1, c, s10)
            store(r + 1, c + 1, s11)
            store(r + 1, c + 2, s12)
            store(r + 1, c + 3, s13)
            c += 4
        }
        while c < C {
            var s0 = SIMD16<T>()
            var s1 = SIMD16<T>()
            let a0 = a + r * ar
            let a1 = a + (r + 1) * ar
            let b0 = b + c * br
            for k in 0..<K {
                let y = b0[k * bk]
                s0 = s0.addingProduct(a0[k * ak], y)
                s1 = s1.addingProduct(a1[k * ak], y)
            }
            store(r, c, s0)
            store(r + 1, c, s1)
            c += 1
        }
        r += 2
    }
    while r < R {
        for c in 0..<C {
            var s = SIMD16<T>()
            let a0 = a + r * ar
            let b0 = b + c * br
            for k in 0..<K { s = s.addingProduct(a0[k * ak], b0[k * bk]) }
            store(r, c, s)
        }
        r += 1
    }
}

/// A pointer handed to the worker threads, which write disjoint parts of what it points at.
struct SharedPointer<T>: @unchecked Sendable {
    let base: UnsafeMutablePointer<T>
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
    var blockData: [Int] = []
    var eta: [SIMD16<T>] = [], lambda: [SIMD16<T>] = []
    let gradientScale: T, lossScale: T

    init(_ batch: MatrixBatch, threads: Int) {
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
        params = .allocate(capacity: blocks * P)
        params.initialize(repeating: SIMD16<T>(), count: blocks * P)
        setParameters(RealArray(batch.initial, precision: batch.precision))
        var seen: [[Int]: Int] = [:]
        let data = batch.datasets.map { ($0.x.values(as: T.self), $0.y.values(as: T.self)) }
        for k in 0..<blocks {
            let lanes = (0..<Layout.lanes).map { batch.dataset[min(k * Layout.lanes + $0, batch.replicas - 1)] }
            if let i = seen[lanes] {
                blockData.append(i)
                continue
            }
            func spread(_ pick: (Int) -> [T]) -> UnsafeMutablePointer<SIMD16<T>> {
                let parts = lanes.map(pick)
                let p = UnsafeMutablePointer<SIMD16<T>>.allocate(capacity: parts[0].count)
                for e in 0..<parts[0].count {
                    var v = SIMD16<T>()
                    for lane in 0..<Layout.lanes { v[lane] = parts[lane][e] }
                    (p + e).initialize(to: v)
                }
                return p
            }
            seen[lanes] = xs.count
            blockData.append(xs.count)
            xs.append(spread { data[$0].0 })
            ys.append(spread { data[$0].1 })
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

    func setParameters(_ values: RealArray) {
        let v = values.values(as: T.self)
        let B = batch.replicas
        precondition(v.count == B * P)
        for b in 0..<B {
            let k = b / Layout.lanes
            let lane = b % Layout.lanes
            for p in 0..<P { params[k * P + p][lane] = v[b * P + p] }
        }
    }

    /// Runs `body(block, scratch)` over every block on the worker threads; each worker has its own scratch of
    /// H + 2·D vectors (activations, then the two signals).
    func eachBlock(_ body: @Sendable (Int, UnsafeMutablePointer<SIMD16<T>>) -> Void) {
        let workers = max(1, min(threads, blocks))
        let size = H + 2 * D
        let blocks = blocks
        DispatchQueue.concurrentPerform(iterations: workers) { t in
            let scratch = UnsafeMutablePointer<SIMD16<T>>.allocate(capacity: size)
            scratch.initialize(repeating: SIMD16<T>(), count: size)
            defer { scratch.deallocate() }
            var k = t
            while k < blocks {
                body(k, scratch)
                k += workers
            }
        }
    }

    /// The forward chain of one block: h_l into h (mx_forward_data, mx_forward).
    func forward(_ w: UnsafePointer<SIMD16<T>>, x: UnsafePointer<SIMD16<T>>, h: UnsafeMutablePointer<SIMD16<T>>) {
        for l in 1...shape.depth {
            let nin = shape.widths[l - 1]
            let nout = shape.widths[l]
            let input = l == 1 ? x : UnsafePointer(h + shape.activationOffset(l - 1, samples: n))
            let out = h + shape.activationOffset(l, samples: n)
            matrixDots(
                rows: n, columns: nout, depth: nin, input, nin, 1, w + shape.layerOffset(l), nin, 1
            ) { mu, i, s in out[mu * nout + i] = s }
        }
    }

    /// One step of block k (or, with `f`, the gradient F = G + λW of its layers into f instead of the update).
    func step(block k: Int, scratch: UnsafeMutablePointer<SIMD16<T>>, f: UnsafeMutablePointer<SIMD16<T>>?) {
        let w = params + k * P
        let x = UnsafePointer(xs[blockData[k]])
        let y = ys[blockData[k]]
        let h = scratch
        var din = scratch + H
        var dout = scratch + H + D
        forward(w, x: x, h: h)
        let L = shape.depth
        let nL = shape.outputs
        let hL = h + shape.activationOffset(L, samples: n)
        let scale = SIMD16<T>(repeating: gradientScale)
        for e in 0..<(n * nL) { din[e] = scale * (hL[e] - y[e]) }
        let e = eta[k]
        let lam = lambda[k]
        for l in stride(from: L, through: 1, by: -1) {
            let nin = shape.widths[l - 1]
            let nout = shape.widths[l]
            let wl = w + shape.layerOffset(l)
            if l > 1 {
                let o = dout
                matrixDots(rows: n, columns: nin, depth: nout, din, nout, 1, wl, 1, nin) { mu, j, s in
                    o[mu * nin + j] = s
                }
            }
            let input = l == 1 ? x : UnsafePointer(h + shape.activationOffset(l - 1, samples: n))
            if let fl = f.map({ $0 + shape.layerOffset(l) }) {
                matrixDots(rows: nout, columns: nin, depth: n, din, 1, nout, input, 1, nin) { i, j, s in
                    fl[i * nin + j] = s + lam * wl[i * nin + j]
                }
            } else {
                matrixDots(rows: nout, columns: nin, depth: n, din, 1, nout, input, 1, nin) { i, j, s in
                    let old = wl[i * nin + j]
                    wl[i * nin + j] = old - e * (s + lam * old)
                }
            }
            swap(&din, &dout)
        }
    }

    func step(count: Int) {
        eachBlock { k, scratch in
            for _ in 0..<count { self.step(block: k, scratch: scratch, f: nil) }
        }
    }

    func gradient() -> RealArray {
        let f = SharedPointer(base: UnsafeMutablePointer<SIMD16<T>>.allocate(capacity: blocks * P))
        defer { f.base.deallocate() }
        eachBlock { k, scratch in self.step(block: k, scratch: scratch, f: f.base + k * self.P) }
        return unpack(f.base)
    }

    func loss() -> [Double] {
        let sums = SharedPointer(base: UnsafeMutablePointer<SIMD16<T>>.allocate(capacity: blocks))
        defer { sums.base.deallocate() }
        eachBlock { k, scratch in
            let y = self.ys[self.blockData[k]]
            self.forward(self.params + k * self.P, x: self.xs[self.blockData[k]], h: scratch)
            let hL = scratch + self.shape.activationOffset(self.shape.depth, samples: self.n)
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
