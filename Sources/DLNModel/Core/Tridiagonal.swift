/// The host's half of the curvature observables (Kernels/curvature.cl, CPU/Curvature.swift): both engines hand it
/// the same Lanczos coefficients, so both report the same numbers. The Ritz values are the eigenvalues of the
/// symmetric tridiagonal matrix T (diagonal α, off-diagonal β), found by bisection on Sturm counts in float64.
public enum Tridiagonal {
    /// One replica's Lanczos coefficients from a kernel's output row of 2·steps values: α_0…α_{steps−1},
    /// β_1…β_{steps−1}, the number of steps taken.
    public static func coefficients(row: ArraySlice<Double>, steps: Int) -> (alpha: [Double], beta: [Double]) {
        let base = row.startIndex
        let raw = row[base + 2 * steps - 1]
        let taken = raw.isFinite ? max(0, min(steps, Int(raw))) : 0
        let alpha = Array(row[base..<(base + taken)])
        let beta = taken > 1 ? Array(row[(base + steps)..<(base + steps + taken - 1)]) : []
        return (alpha, beta)
    }

    /// `sharpness` from one replica's output row: the largest Ritz value.
    public static func sharpness<T: BinaryFloatingPoint>(row: [T], steps: Int) -> Double {
        let c = coefficients(row: row.map { Double($0) }[...], steps: steps)
        return largest(alpha: c.alpha, beta: c.beta)
    }

    /// `pl_constant` from one replica's output row: the smallest Ritz value above threshold·(the largest).
    public static func plConstant<T: BinaryFloatingPoint>(row: [T], steps: Int, threshold: Double) -> Double {
        let c = coefficients(row: row.map { Double($0) }[...], steps: steps)
        return smallestNonZero(alpha: c.alpha, beta: c.beta, threshold: threshold)
    }

    /// The number of eigenvalues of T below x (Sturm sequence of the LDLᵀ pivots).
    public static func countBelow(_ x: Double, alpha: [Double], beta: [Double]) -> Int {
        var count = 0
        var q = 1.0
        for i in 0..<alpha.count {
            let off = i == 0 ? 0 : beta[i - 1] * beta[i - 1]
            q = alpha[i] - x - (i == 0 ? 0 : off / q)
            if q == 0 { q = -Double.leastNonzeroMagnitude }
            if q < 0 { count += 1 }
        }
        return count
    }

    /// The k-th smallest eigenvalue of T (k from 0), by bisection inside the Gershgorin interval to the last bit.
    public static func eigenvalue(_ k: Int, alpha: [Double], beta: [Double]) -> Double {
        let m = alpha.count
        precondition(k >= 0 && k < m)
        var lo = Double.infinity
        var hi = -Double.infinity
        for i in 0..<m {
            let r = (i > 0 ? abs(beta[i - 1]) : 0) + (i + 1 < m ? abs(beta[i]) : 0)
            lo = min(lo, alpha[i] - r)
            hi = max(hi, alpha[i] + r)
        }
        guard lo.isFinite, hi.isFinite else { return .nan }
        for _ in 0..<2100 {
            let mid = lo + (hi - lo) / 2
            if mid <= lo || mid >= hi { break }
            if countBelow(mid, alpha: alpha, beta: beta) > k { hi = mid } else { lo = mid }
        }
        return lo + (hi - lo) / 2
    }

    /// The largest Ritz value (sharpness: the largest eigenvalue of the Hessian); NaN without coefficients.
    public static func largest(alpha: [Double], beta: [Double]) -> Double {
        alpha.isEmpty ? .nan : eigenvalue(alpha.count - 1, alpha: alpha, beta: beta)
    }

    /// The smallest Ritz value above `threshold`·(the largest) (pl_constant: the smallest non-zero eigenvalue of the
    /// tangent kernel); 0 when the largest is not positive or no Ritz value is above the threshold; NaN without
    /// coefficients.
    public static func smallestNonZero(alpha: [Double], beta: [Double], threshold: Double) -> Double {
        guard !alpha.isEmpty else { return .nan }
        let top = largest(alpha: alpha, beta: beta)
        guard top.isFinite else { return .nan }
        guard top > 0 else { return 0 }
        let below = countBelow(threshold * top, alpha: alpha, beta: beta)
        return below >= alpha.count ? 0 : eigenvalue(below, alpha: alpha, beta: beta)
    }

    /// The start vector of the Lanczos iterations (before normalisation), the same for every replica and both
    /// engines: s_e = frac((e + 1)·φ⁻¹) + 1/2, φ the golden ratio, a deterministic vector with no structure that a
    /// problem's symmetry could make orthogonal to an eigenvector.
    public static func startVector(count: Int) -> [Double] {
        (0..<count).map { e in
            let x = Double(e + 1) * 0.6180339887498949
            return x - x.rounded(.down) + 0.5
        }
    }

    /// The relative threshold of the "non-zero" rule (pl_constant) in a precision: 1e-8 in float64; in float32
    /// the products resolve an eigenvalue only to about 1e-6 of the largest, so 1e-4.
    public static func nonZeroThreshold(float32: Bool) -> Double { float32 ? 1e-4 : 1e-8 }

    /// The breakdown rule of the kernels: Lanczos stops when ‖z‖ ≤ breakdown·max‖A·q‖, breakdown = 100·ε of the
    /// precision (an invariant subspace, up to rounding).
    public static func breakdown(float32: Bool) -> Double { float32 ? 100 * Double(Float.ulpOfOne) : 100 * .ulpOfOne }
}
