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

    /// Euclidean norm.
    public static func norm(_ v: [Double]) -> Double { v.reduce(0) { $0 + $1 * $1 }.squareRoot() }
}
