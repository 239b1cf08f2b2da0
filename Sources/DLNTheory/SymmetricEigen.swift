import DLNModel

extension Dense {
    /// The eigenvalues (ascending) of a symmetric m×m matrix (row-major), from `SymmetricEigen.decompose` (cyclic
    /// Jacobi to an off-diagonal mass of 1e-30 of the total: float64 accuracy). For the small dense checks (m up to a
    /// few hundred), not for the engines.
    public static func symmetricEigenvalues(_ a: [Double], _ m: Int) -> [Double] {
        precondition(a.count == m * m, "symmetricEigenvalues: \(a.count) entries for \(m)×\(m)")
        guard m > 0 else { return [] }
        return SymmetricEigen.decompose(a, m).values.sorted()
    }
}
