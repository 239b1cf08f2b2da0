import DLNDevice
import DLNModel
import DLNRun
import DLNTheory
import Foundation
import OpenCLKit
import TestSupport
import Testing

/// Kernels/dmft.cl against DMFTCPUPaths: one fixed-point iteration from the same (C_r, R_r) gives the same bits on
/// PoCL (the same operations in the same order, no contraction), for awkward path counts.
@Suite(.serialized, .needsFP64) struct DMFTDeviceTests {
    @Test(arguments: [
        (N: 1000, Nr: 37, steps: 23, process: DMFTProblem.Process.pm), (N: 257, Nr: 257, steps: 9, process: .pm),
        (N: 700, Nr: 65, steps: 17, process: .linear)
    ])
    func oneIterationMatchesTheCPU(_ c: (N: Int, Nr: Int, steps: Int, process: DMFTProblem.Process)) throws {
        let device = try DeviceFixture.device(fp64: true)
        let problem = DMFTProblem(
            process: c.process, delta: 0.5, eta: 0.2, lambda: 0.05, alpha: 0.8, noise: 0.1, density: 0.1,
            values: .signs, steps: c.steps)
        var settings = DMFTSettings()
        settings.paths = c.N
        settings.responsePaths = c.Nr
        let cpu = DMFTCPUPaths(problem: problem, settings: settings)
        let gpu = try DeviceDMFTPaths(
            device: device, problem: problem, settings: settings,
            scratchBytes: 8 * problem.gridSize * problem.gridSize * 64)
        // A non-trivial starting point: one CPU iteration from the initial guess, then one more on each engine.
        let K = problem.gridSize
        let start = try DMFTSolver.iterate(
            problem, settings: settings, engine: cpu,
            correlation: [Double](repeating: 0.11, count: K * K), memory: [Double](repeating: 0, count: K * K))
        let a = try DMFTSolver.iterate(
            problem, settings: settings, engine: cpu, correlation: start.cr, memory: start.rr)
        let b = try DMFTSolver.iterate(
            problem, settings: settings, engine: gpu, correlation: start.cr, memory: start.rr)
        #expect(a.rd.contains { $0 != 0 } && a.rr.contains { $0 != 0 })
        for (name, x, y) in [("C_Δ", a.cd, b.cd), ("R_Δ", a.rd, b.rd), ("C_r", a.cr, b.cr), ("R_r", a.rr, b.rr)] {
            let worst = zip(x, y).map { ulpDistance($0, $1) }.max() ?? 0
            #expect(worst == 0, "\(name) differs by up to \(worst) ULP")
        }
        let dc = cpu.deviations()
        let dg = try gpu.deviations()
        #expect(dc.map(\.bitPattern) == dg.map(\.bitPattern))
    }
}
