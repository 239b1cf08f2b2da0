import DLNModel

/// Small dense linear algebra for the theory solvers (row-major matrices, Double).
public enum Dense {
    /// Cholesky factor L (lower, row-major) of a symmetric positive definite m×m matrix; nil if not SPD.
    public static func cholesky(_ a: [Double], _ m: Int) -> [Double]? {
        var l = [Double](repeating: 0, count: m * m)
        for i in 0..<m {
            for j in 0...i {
                var s = a[i * m + j]
                for k in 0..<j { s -= l[i * m + k] * l[j * m + k] }
                if i == j {
                    guard s > 0, s.isFinite else { return nil }
                    l[i * m + i] = s.squareRoot()
                } else {
                    l[i * m + j] = s / l[j * m + j]
                }
            }
        }
        return l
    }

    /// Solves L·Lᵀ x = b with a Cholesky factor.
    public static func choleskySolve(_ l: [Double], _ m: Int, _ b: [Double]) -> [Double] {
        var z = b
        for i in 0..<m {
            var s = z[i]
            for k in 0..<i { s -= l[i * m + k] * z[k] }
            z[i] = s / l[i * m + i]
        }
        for i in stride(from: m - 1, through: 0, by: -1) {
            var s = z[i]
            for k in (i + 1)..<m { s -= l[k * m + i] * z[k] }
            z[i] = s / l[i * m + i]
        }
        return z
    }

    /// y = X·v for X n×d row-major.
    public static func multiply(_ x: [Double], _ n: Int, _ d: Int, _ v: [Double]) -> [Double] {
        (0..<n).map { i in
            var s = 0.0
            for j in 0..<d { s += x[i * d + j] * v[j] }
            return s
        }
    }

    /// y = Xᵀ·v.
    public static func multiplyTransposed(_ x: [Double], _ n: Int, _ d: Int, _ v: [Double]) -> [Double] {
        var out = [Double](repeating: 0, count: d)
        for i in 0..<n where v[i] != 0 {
            for j in 0..<d { out[j] += x[i * d + j] * v[i] }
        }
        return out
    }

    /// X·diag(q)·Xᵀ (n×n).
    public static func weightedGram(_ x: [Double], _ n: Int, _ d: Int, _ q: [Double]) -> [Double] {
        var g = [Double](repeating: 0, count: n * n)
        for i in 0..<n {
            for k in 0...i {
                var s = 0.0
                for j in 0..<d { s += x[i * d + j] * q[j] * x[k * d + j] }
                g[i * n + k] = s
                g[k * n + i] = s
            }
        }
        return g
    }

    /// The row space of X (n×d): an orthonormal basis Q (n×r, row-major) of the range of X, from the eigenvectors
    /// of XXᵀ whose eigenvalue exceeds `relativeThreshold` × the largest, and the reduced matrix QᵀX (r×d, full
    /// row rank). Centred data (column means removed, so 1ᵀX = 0) have r ≤ n − 1.
    public static func rowSpace(_ x: [Double], _ n: Int, _ d: Int, relativeThreshold: Double = 1e-10) -> (
        basis: [Double], rank: Int, reduced: [Double]
    ) {
        let gram = weightedGram(x, n, d, [Double](repeating: 1, count: d))
        let (values, vectors) = SymmetricEigen.decompose(gram, n)
        let top = values.max() ?? 0
        let kept = values.indices.filter { values[$0] > relativeThreshold * top && values[$0] > 0 }
        let r = kept.count
        var q = [Double](repeating: 0, count: n * r)
        for (c, k) in kept.enumerated() { for i in 0..<n { q[i * r + c] = vectors[i * n + k] } }
        var reduced = [Double](repeating: 0, count: r * d)
        for c in 0..<r {
            for i in 0..<n where q[i * r + c] != 0 {
                let a = q[i * r + c]
                for j in 0..<d { reduced[c * d + j] += a * x[i * d + j] }
            }
        }
        return (q, r, reduced)
    }

    /// Whether X (n×d) has dependent rows: n > d, or a Cholesky pivot of XXᵀ below `relativeThreshold` × the
    /// largest diagonal entry (for instance centred data, whose rows sum to zero).
    public static func isRowRankDeficient(_ x: [Double], _ n: Int, _ d: Int, relativeThreshold: Double = 1e-10)
        -> Bool
    {
        if n > d { return true }
        let gram = weightedGram(x, n, d, [Double](repeating: 1, count: d))
        let top = (0..<n).map { gram[$0 * n + $0] }.max() ?? 0
        guard top > 0, let l = cholesky(gram, n) else { return true }
        return (0..<n).contains { l[$0 * n + $0] * l[$0 * n + $0] <= relativeThreshold * top }
    }

    /// Qᵀv for a basis Q (n×r).
    public static func project(_ q: [Double], _ n: Int, _ r: Int, _ v: [Double]) -> [Double] {
        (0..<r).map { c in (0..<n).reduce(0.0) { $0 + q[$1 * r + c] * v[$1] } }
    }

    /// Euclidean norm.
    public static func norm(_ v: [Double]) -> Double { v.reduce(0) { $0 + $1 * $1 }.squareRoot() }
}
