import DLNModel
import Foundation
import Testing

@testable import DLNTheory

/// The fixed-point iteration shared by the DMFT solvers (`DMFTSolver.iterateToFixedPoint`), on maps whose fixed point
/// is known.
@Suite struct DMFTIterationTests {
    /// A contraction C′ = C/2 + 1, R′ = R/2 converges to C = 2, R = 0 with the damped step, and the residual falls.
    @Test func contractionConverges() throws {
        var settings = DMFTSettings()
        settings.maxIterations = 200
        var cr = [Double](repeating: 0, count: 4)
        var rr = [Double](repeating: 0.3, count: 4)
        let run = try DMFTSolver.iterateToFixedPoint(
            correlation: &cr, memory: &rr, settings: settings, progress: nil
        ) { c, r throws(DLNError) in
            (c.map { 0.5 * $0 + 1 }, r.map { 0.5 * $0 }, [], [], [])
        }
        #expect(run.converged)
        #expect(run.residual < settings.tolerance)
        #expect(run.history.count > 5)
        #expect(run.history.last! < run.history[1])
        for x in run.last.cr { #expect(abs(x - 2) < 1e-3) }
    }

    /// A single NaN in C_r′ or R_r′, with every other entry at its fixed point, stops the iteration unconverged with
    /// a NaN residual (Swift's max drops NaN, so the residual alone would have read 0 and "converged").
    @Test(arguments: ["correlation", "response"]) func nanIsNeverConverged(_ which: String) throws {
        let settings = DMFTSettings()
        var cr = [Double](repeating: 1, count: 9)
        var rr = [Double](repeating: 0, count: 9)
        let run = try DMFTSolver.iterateToFixedPoint(
            correlation: &cr, memory: &rr, settings: settings, progress: nil
        ) { c, r throws(DLNError) in
            var c2 = c
            var r2 = r
            if which == "correlation" { c2[4] = .nan } else { r2[7] = .nan }
            return (c2, r2, [], [], [])
        }
        #expect(!run.converged)
        #expect(run.residual.isNaN)
        #expect(run.history.count == 1)
    }
}
