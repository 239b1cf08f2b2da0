import DLNModel
import DLNRun
import DLNTheory
import Foundation
import Testing

/// `theory.two_time: true`: dmft_correlation.npy and dmft_response.npy, and the size refusal.
@Suite struct DMFTTwoTimeTests {
    /// The files have shape [grid point, checkpoint, checkpoint]; C is symmetric with the solve's test error on its
    /// diagonal; R is causal (0 for s ≥ t) and negative below the diagonal at the first lag.
    @Test func twoTimeFilesHaveTheirShapeSymmetryAndCausality() throws {
        let yaml = """
            problem: {d: 100, delta: 0.5, design_variance: 1/d, noise: 0.1}
            training: {loss: sum, steps: 20}
            grid: {alpha: [0.5, 1], learning_rate: 0.2}
            record: {steps: [0, 1, 2, 5, 10, 20]}
            theory: {paths: 1024, response_paths: 64, two_time: true}
            """
        let config = try Configuration.parse(yaml: yaml)
        #expect(config.theory?.twoTime == true)
        let points = try DMFTStudy.run(config) { p, s throws(DLNError) in DMFTCPUPaths(problem: p, settings: s) }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("dmft-two-time-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try DMFTStudy.write(points, to: dir.path)
        let c = try NPY.read(path: dir.appendingPathComponent("dmft_correlation.npy").path)
        let r = try NPY.read(path: dir.appendingPathComponent("dmft_response.npy").path)
        let C = 6
        #expect(c.shape == [2, C, C] && r.shape == [2, C, C])
        for g in 0..<2 {
            let steps = points[g].target.checkpoints
            let cd = points[g].result.parameterCorrelation
            let K = points[g].result.problem.gridSize
            for i in 0..<C {
                #expect(abs(c.values[g * C * C + i * C + i] - cd[steps[i] * K + steps[i]]) <= 1e-15)
                for j in 0..<C {
                    let a = c.values[g * C * C + i * C + j]
                    let b = c.values[g * C * C + j * C + i]
                    #expect(a.isFinite && abs(a - b) <= 1e-12 * max(1, abs(a)), "C not symmetric at \(i), \(j)")
                    if j >= i { #expect(r.values[g * C * C + i * C + j] == 0, "R(\(i), \(j)) ≠ 0") }
                }
            }
            // Δ responds to a push of the gradient by moving against it: R(t_{k+1}, t_k) < 0.
            #expect(r.values[g * C * C + 2 * C + 1] < 0)
        }
        let manifest = try String(contentsOf: dir.appendingPathComponent("dmft_manifest.json"), encoding: .utf8)
        #expect(manifest.contains("dmft_correlation.npy"))
    }

    /// Files over the limit are refused before any solve, naming theory.two_time and the size.
    @Test func twoTimeTooLargeIsRefused() throws {
        let config = try Configuration.parse(
            yaml:
                "problem: {d: 100}\ntraining: {steps: 20000}\ngrid: {alpha: [0.5, 1]}\nrecord: {checkpoints: 5000, "
                + "linear: 5000}\ntheory: {two_time: true}")
        let engine = { (p: DMFTProblem, s: DMFTSettings) throws(DLNError) -> any DMFTPathEngine in
            DMFTCPUPaths(problem: p, settings: s)
        }
        #expect {
            _ = try DMFTStudy.run(config, engine: engine)
        } throws: { error in
            guard case DLNError.invalidConfiguration(_, let issues) = error else { return false }
            return issues.contains { $0.path == "theory.two_time" && $0.message.contains("MB") }
        }
    }
}
