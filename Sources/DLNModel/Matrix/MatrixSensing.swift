/// Matrix sensing's measurements of one data set: y_k = ⟨A_k, T⟩ (+ noise) for k < m, each A_k ∈ ℝ^{n_L×n_0}.
/// With them the matrix model's loss is (1/2m)·Σ_k (⟨A_k, W_eff⟩ − y_k)² (or half the sum), W_eff = W_L⋯W_1.
public struct MatrixMeasurements: Sendable {
    /// The operators, A_k row-major at k·n_L·n_0.
    public let a: RealArray
    /// The measured values, m.
    public let y: RealArray

    /// Measurements (a: m·n_L·n_0 values, y: m).
    public init(a: RealArray, y: RealArray) {
        precondition(y.count > 0 && a.count % y.count == 0)
        self.a = a
        self.y = y
    }

    /// m.
    public var count: Int { y.count }
}

/// The CPU twin of Kernels/matrix_sensing.cl: the network runs on X = I, so h_L[μ][i] = W_eff[i][μ].
extension MatrixCPUBatch {
    /// r_k = Σ_i Σ_j A_k[i][j]·h_L[j][i] − y_k into r (mx_sense_residual), then, when `signal` is given,
    /// δ_L[j][i] = scale·Σ_k r_k·A_k[i][j] into it (mx_sense_signal).
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    func senseResidual(
        _ data: MatrixStepData<T>, hL: UnsafePointer<SIMD16<T>>, r: UnsafeMutablePointer<SIMD16<T>>,
        signal: UnsafeMutablePointer<SIMD16<T>>?
    ) {
        let m = data.measurements
        let nL = shape.outputs
        let n0 = shape.inputs
        let size = nL * n0
        guard let a = data.a, let y = data.values else { preconditionFailure("sensing without measurements") }
        for q in 0..<m {
            var acc = SIMD16<T>()
            let ak = a + q * size
            for i in 0..<nL {
                for j in 0..<n0 { acc = acc.addingProduct(ak[i * n0 + j], hL[j * nL + i]) }
            }
            r[q] = acc - y[q]
        }
        guard let signal else { return }
        let scale = data.scale
        for j in 0..<n0 {
            for i in 0..<nL {
                var acc = SIMD16<T>()
                let e = i * n0 + j
                for q in 0..<m { acc = acc.addingProduct(r[q], a[q * size + e]) }
                signal[j * nL + i] = scale * acc
            }
        }
    }

    /// The symmetric factorisation's tie (mx_tie): W_1 = W_2ᵀ in one block's vectors `w` (parameters or F).
    func tie(_ w: UnsafeMutablePointer<SIMD16<T>>) {
        let d = shape.inputs
        let r = shape.widths[1]
        let off = shape.layerOffset(2)
        for i in 0..<r { for j in 0..<d { w[i * d + j] = w[off + j * r + i] } }
    }

    /// lscale·Σ_k r_k² (mx_sense_loss).
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    func senseLoss(_ r: UnsafePointer<SIMD16<T>>) -> SIMD16<T> {
        var acc = SIMD16<T>()
        for q in 0..<batch.measurementCount { acc = acc.addingProduct(r[q], r[q]) }
        return acc * SIMD16<T>(repeating: lossScale)
    }
}
