import Foundation
import Testing

@testable import DLNTheory

/// The minimum-ℓ1 interpolator on exactly sparse, noiseless problems (the degenerate case that the perturbed phase 2
/// exists for): the same solution as the unperturbed simplex method, feasible, and the teacher recovered.
@Suite struct MinimumL1Tests {
    @Test(arguments: [(40, 20, 3), (60, 30, 5)])
    func perturbedPhaseTwoMatchesTheUnperturbedOne(_ d: Int, _ n: Int, _ k: Int) throws {
        var g = SplitMix(seed: UInt64(d))
        let x = (0..<(n * d)).map { _ in g.next() * 3.0.squareRoot() }
        var teacher = [Double](repeating: 0, count: d)
        for j in 0..<k { teacher[(j * 7) % d] = j % 2 == 0 ? 1 : -1 }
        let y = Dense.multiply(x, n, d, teacher)
        let fast = try #require(MinimumL1.solve(x: x, y: y, n: n, d: d))
        let plain = try #require(MinimumL1.solve(x: x, y: y, n: n, d: d, maxPivots: 100_000, perturb: false))
        #expect(zip(fast, plain).map { abs($0 - $1) }.max()! <= 1e-9, "perturbed \(fast) against \(plain)")
        let residual = zip(Dense.multiply(x, n, d, fast), y).map { abs($0 - $1) }.max()!
        #expect(residual <= 1e-9)
        #expect(zip(fast, teacher).map { abs($0 - $1) }.max()! <= 1e-9, "teacher not recovered: \(fast)")
    }
}
