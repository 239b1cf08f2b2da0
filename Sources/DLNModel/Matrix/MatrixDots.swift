import VectorAccess

/// The products of the matrix model's CPU engine: out(r, c) = start(r, c) + Σ_{k<K} A(r, k)·B(c, k) over SIMD16
/// elements (one per 16-replica block), one fma chain over ascending k per output, so that the results are the bits
/// of Kernels/matrix.cl whichever register tile computes them. The tiles are in Sources/DLNVector/MatrixDots.swift,
/// compiled once per instruction set (CPU/VectorCode.swift).

/// Where the outputs of `matrixDots` go: output (r, c) is element r·rs + c·cs of `out` (and of `resume` and `layer`
/// when given).
struct DotsOutput<T: DLNReal> {
    var out: UnsafeMutablePointer<SIMD16<T>>
    var rs: Int
    var cs: Int
    /// What a finished sum becomes.
    var kind = DotsKind.plain
    /// η and λ of `.update`, λ of `.gradient`.
    var eta = SIMD16<T>()
    var lambda = SIMD16<T>()
    /// Partial sums to resume from (nil: start at 0).
    var resume: UnsafePointer<SIMD16<T>>? = nil
    /// The layer W for `.gradient`.
    var layer: UnsafePointer<SIMD16<T>>? = nil
}

extension MatrixCPUBatch {
    /// out(r, c) = start(r, c) + Σ_{k<K} A(r, k)·B(c, k) for r < R, c < C, stored as `output` says; A(r, k) at
    /// a[r·ar + k·ak], B(c, k) at b[c·br + k·bk]: one function for the forward chain, back-propagation and the
    /// layer gradients.
    func matrixDots(
        rows R: Int, columns C: Int, depth K: Int,
        _ a: UnsafePointer<SIMD16<T>>, _ ar: Int, _ ak: Int,
        _ b: UnsafePointer<SIMD16<T>>, _ br: Int, _ bk: Int,
        into output: DotsOutput<T>
    ) {
        withUnsafePointer(to: output.eta) { eta in
            withUnsafePointer(to: output.lambda) { lambda in
                kernels.matrixDots(
                    double: T.self == Double.self, rows: R, columns: C, depth: K, a: .init(a), ar: ar, ak: ak,
                    b: .init(b), br: br, bk: bk, out: .init(output.out), rs: output.rs, cs: output.cs,
                    kind: output.kind, eta: .init(eta), lambda: .init(lambda),
                    resume: output.resume.map { .init($0) }, layer: output.layer.map { .init($0) })
            }
        }
    }
}
