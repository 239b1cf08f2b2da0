/// The data one step of a block reads: X and Y (regression, `samples` rows) or the operators A_k and values y_k of
/// matrix sensing (`measurements` of them; X is then the identity), every vector spread over the block's 16 lanes,
/// and the gradient's scale.
struct MatrixStepData<T: DLNReal> {
    var x: UnsafePointer<SIMD16<T>>
    var y: UnsafePointer<SIMD16<T>>
    var samples: Int
    var a: UnsafePointer<SIMD16<T>>?
    var values: UnsafePointer<SIMD16<T>>?
    var measurements: Int
    var scale: SIMD16<T>
}

/// Mini-batch SGD, label noise, momentum and Langevin noise on the CPU engine (twin of Kernels/matrix_sgd.cl with
/// stochastic.cl's dln_sgd_indices): per step each lane's sorted rows (`BatchSampler`), those rows of X and Y (or of
/// the A_k and y_k) gathered per lane into the worker's scratch, the targets' label noise, then the full-batch step
/// on them with n = |B_k| and the batch's scale (`dynamicStep`: momentum and Langevin noise around it).
extension MatrixCPUBatch {
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    func dynamicSteps(block k: Int, _ steps: Range<Int>, _ scratch: UnsafeMutablePointer<SIMD16<T>>) {
        guard let st = batch.stochastic, let draws else {
            for k0 in steps { dynamicStep(block: k, step: k0, data: nil, scratch: scratch) }
            return
        }
        let L = Layout.lanes
        let N = batch.rows
        let B = batch.replicas
        let rows = UnsafeMutablePointer<Int32>.allocate(capacity: N * L)
        defer { rows.deallocate() }
        let gather = scratch + (scratchSize - gatherSize - (dyn?.mom != nil ? 2 * P : 0))
        let full = fullData(block: k)
        for k0 in steps {
            let count = st.count(step: k0, rows: N)
            for lane in 0..<L {
                let b = k * L + lane
                let out = rows + lane * N
                guard b < B else {
                    for q in 0..<count { out[q] = 0 }
                    continue
                }
                let drawn = BatchSampler.indices(
                    key: draws.keys[b], step: UInt64(k0), n: N, b: st.batchSize, sampling: st.sampling,
                    perm: draws.perm + b * N, permEpoch: &draws.permEpoch[b], into: out)
                precondition(drawn == count, "every replica's batch has the same size")
            }
            var data = full
            data.scale = SIMD16<T>(repeating: T(st.scale(count: count)))
            let targets: UnsafeMutablePointer<SIMD16<T>>
            let width: Int
            if let a = full.a, let values = full.values {
                let size = shape.outputs * shape.inputs
                let ga = gather
                let gy = gather + count * size
                gatherRows(a, into: ga, rows: rows, stride: N, count: count, width: size)
                gatherRows(values, into: gy, rows: rows, stride: N, count: count, width: 1)
                data.a = UnsafePointer(ga)
                data.values = UnsafePointer(gy)
                data.measurements = count
                (targets, width) = (gy, 1)
            } else {
                let (n0, nL) = (shape.inputs, shape.outputs)
                let gx = gather
                let gy = gather + count * n0
                gatherRows(full.x, into: gx, rows: rows, stride: N, count: count, width: n0)
                gatherRows(full.y, into: gy, rows: rows, stride: N, count: count, width: nL)
                data.x = UnsafePointer(gx)
                data.y = UnsafePointer(gy)
                data.samples = count
                (targets, width) = (gy, nL)
            }
            if let dyn, dyn.dynamics.hasLabelNoise {
                addLabelNoise(
                    block: k, step: k0, targets, rows: rows, stride: N, count: count, width: width, state: dyn)
            }
            dynamicStep(block: k, step: k0, data: data, scratch: scratch)
        }
    }

    /// out[q·width + e][lane] = src[rows[lane][q]·width + e][lane] for q < count (rows[lane] at lane·stride).
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    func gatherRows(
        _ src: UnsafePointer<SIMD16<T>>, into out: UnsafeMutablePointer<SIMD16<T>>, rows: UnsafePointer<Int32>,
        stride: Int, count: Int, width: Int
    ) {
        let L = Layout.lanes
        for q in 0..<count {
            for e in 0..<width {
                var v = SIMD16<T>()
                for lane in 0..<L { v[lane] = src[Int(rows[lane * stride + q]) * width + e][lane] }
                out[q * width + e] = v
            }
        }
    }
}
