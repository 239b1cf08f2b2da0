import DLNModel

extension Dense {
    /// The eigenvalues (ascending) of a symmetric m×m matrix (row-major; only symmetry is assumed), by the cyclic
    /// Jacobi method: rotations zero each off-diagonal entry in turn until the off-diagonal mass is below
    /// 1e-30 of the total (float64 accuracy, a few ulps of the largest eigenvalue). O(m³) per sweep, typically
    /// 6–10 sweeps: meant for the small dense checks (m up to a few hundred), not for the engines.
    public static func symmetricEigenvalues(_ a: [Double], _ m: Int) -> [Double] {
        precondition(a.count == m * m, "symmetricEigenvalues: \(a.count) entries for \(m)×\(m)")
        var s = a
        // Symmetrise exactly so that rounding differences between a[i][j] and a[j][i] do not matter.
        for i in 0..<m {
            for j in (i + 1)..<m {
                let v = 0.5 * (s[i * m + j] + s[j * m + i])
                s[i * m + j] = v
                s[j * m + i] = v
            }
        }
        let total = s.reduce(0) { $0 + $1 * $1 }
        guard total > 0 else { return [Double](repeating: 0, count: m) }
        for _ in 0..<100 {
            var off = 0.0
            for i in 0..<m { for j in (i + 1)..<m { off += 2 * s[i * m + j] * s[i * m + j] } }
            if off <= 1e-30 * total { break }
            for p in 0..<m {
                for q in (p + 1)..<m where s[p * m + q] != 0 {
                    rotate(&s, m, p, q)
                }
            }
        }
        return (0..<m).map { s[$0 * m + $0] }.sorted()
    }

    /// One Jacobi rotation in the (p, q) plane that zeroes s[p][q] (Golub & Van Loan, Algorithm 8.5.1).
    private static func rotate(_ s: inout [Double], _ m: Int, _ p: Int, _ q: Int) {
        let apq = s[p * m + q]
        let theta = (s[q * m + q] - s[p * m + p]) / (2 * apq)
        let t = (theta >= 0 ? 1.0 : -1.0) / (abs(theta) + (theta * theta + 1).squareRoot())
        let c = 1 / (t * t + 1).squareRoot()
        let sn = t * c
        for k in 0..<m {
            let akp = s[k * m + p]
            let akq = s[k * m + q]
            s[k * m + p] = c * akp - sn * akq
            s[k * m + q] = sn * akp + c * akq
        }
        for k in 0..<m {
            let apk = s[p * m + k]
            let aqk = s[q * m + k]
            s[p * m + k] = c * apk - sn * aqk
            s[q * m + k] = sn * apk + c * aqk
        }
    }
}
