import DLNTheory
import Foundation
import Testing

/// The dense symmetric eigen-solver that the PL-rate prediction and the curvature checks use.
@Suite struct SymmetricEigenTests {
    /// Q·diag(λ)·Qᵀ with Q a product of Householder reflections: known eigenvalues, dense matrix.
    static func matrix(eigenvalues: [Double], seed: UInt64) -> [Double] {
        let m = eigenvalues.count
        var g = SplitMix(seed: seed)
        var a = [Double](repeating: 0, count: m * m)
        for i in 0..<m { a[i * m + i] = eigenvalues[i] }
        for _ in 0..<3 {
            var v = (0..<m).map { _ in g.next() }
            let norm = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
            v = v.map { $0 / norm }
            // a ← H a H with H = I − 2vvᵀ.
            var ha = a
            for j in 0..<m {
                var s = 0.0
                for i in 0..<m { s += v[i] * a[i * m + j] }
                for i in 0..<m { ha[i * m + j] = a[i * m + j] - 2 * v[i] * s }
            }
            for i in 0..<m {
                var s = 0.0
                for j in 0..<m { s += ha[i * m + j] * v[j] }
                for j in 0..<m { a[i * m + j] = ha[i * m + j] - 2 * s * v[j] }
            }
        }
        return a
    }

    @Test func recoversKnownSpectra() {
        let cases: [[Double]] = [
            [3], [2, -1], [1e-9, 1, 1, 4, 7.5], (0..<40).map { Double($0) * 0.25 - 3 },
            [0, 0, 0, 1e-12, 5]
        ]
        for (k, spectrum) in cases.enumerated() {
            let got = Dense.symmetricEigenvalues(
                Self.matrix(eigenvalues: spectrum, seed: UInt64(k + 1)), spectrum.count)
            let want = spectrum.sorted()
            let scale = want.map(abs).max()!
            for (g, w) in zip(got, want) {
                #expect(abs(g - w) <= 1e-12 * scale, "case \(k): \(g) against \(w)")
            }
        }
    }

    @Test func diagonalAndZeroMatrices() {
        #expect(Dense.symmetricEigenvalues([0, 0, 0, 0], 2) == [0, 0])
        #expect(Dense.symmetricEigenvalues([5, 0, 0, -2], 2) == [-2, 5])
        #expect(Dense.symmetricEigenvalues([], 0) == [])
    }
}

extension SymmetricEigenTests {
    /// The Householder + implicit QL solver (the flow DMFT's) finds the known spectra, with orthonormal eigenvectors
    /// that satisfy A·v = λ·v, on dense, clustered, degenerate, rank-deficient, diagonal and 1×1/2×2 matrices.
    @Test func tridiagonalQLFindsSpectraAndVectors() {
        let cases: [[Double]] = [
            [3], [2, -1], [1e-9, 1, 1, 4, 7.5], (0..<40).map { Double($0) * 0.25 - 3 },
            [0, 0, 0, 1e-12, 5], (0..<120).map { exp(-Double($0) / 6) }, [2, 2, 2, 2]
        ]
        for (k, spectrum) in cases.enumerated() {
            let m = spectrum.count
            let a = Self.matrix(eigenvalues: spectrum, seed: UInt64(k + 11))
            let (values, vectors) = SymmetricEigen.tridiagonalQL(a, m)
            let want = spectrum.sorted()
            let scale = want.map(abs).max()!
            for (g, w) in zip(values.sorted(), want) {
                #expect(abs(g - w) <= 1e-12 * scale, "case \(k): \(g) against \(w)")
            }
            var worstResidual = 0.0
            var worstOrthogonality = 0.0
            for j in 0..<m {
                for i in 0..<m {
                    var av = 0.0
                    for l in 0..<m { av += a[i * m + l] * vectors[l * m + j] }
                    worstResidual = max(worstResidual, abs(av - values[j] * vectors[i * m + j]))
                }
                for j2 in 0..<m {
                    var dot = 0.0
                    for l in 0..<m { dot += vectors[l * m + j] * vectors[l * m + j2] }
                    worstOrthogonality = max(worstOrthogonality, abs(dot - (j == j2 ? 1 : 0)))
                }
            }
            #expect(worstResidual <= 1e-12 * scale, "case \(k): ‖Av − λv‖ = \(worstResidual)")
            #expect(worstOrthogonality <= 1e-12, "case \(k): ‖VᵀV − I‖ = \(worstOrthogonality)")
        }
        #expect(SymmetricEigen.tridiagonalQL([5, 0, 0, -2], 2).values.sorted() == [-2, 5])
        #expect(SymmetricEigen.tridiagonalQL([0, 0, 0, 0], 2).values == [0, 0])
        #expect(SymmetricEigen.tridiagonalQL([], 0).values.isEmpty)
    }
}

/// A tiny deterministic generator (splitmix64 → uniform in (−1, 1)) for test matrices.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> Double {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        return Double(z >> 11) / Double(1 << 52) - 1
    }
}
