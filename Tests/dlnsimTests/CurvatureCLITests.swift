import DLNModel
import DLNRun
import Foundation
import TestSupport
import Testing

/// record.sharpness / record.pl_constant through the command line: the observables' files and figures, what
/// `--check` and `dlnsim analyze` print, and the same bits from the CPU engine and OpenCL.
@Suite(.serialized) struct CurvatureCLITests {
    static let config = """
        name: curvature
        problem: {d: 16, n: 10, data: independent}
        model: {parameterization: deep_pm, depth: 2}
        training: {steps: 400}
        grid: {alpha: [0.1, 1], learning_rate: [0.05, 0.5]}
        seeds: 3
        record: {checkpoints: 8, sharpness: {iterations: 40}, pl_constant: true}
        """

    @Test func theObservablesTheirFiguresAndAnalyze() throws {
        let dir = CLITests.temporary()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let config = try ReliabilityCLITests.write(Self.config, in: dir, name: "curvature.yaml")
        let check = try CLITests.run(["run", config, "--check"])
        #expect(check.status == 0 && check.stdout.contains("sharpness 40 Hessian-vector products"), "\(check.stdout)")
        let out = dir + "/out"
        let run = try CLITests.run(["run", config, "--device", "cpu", "--out", out, "--quiet"])
        #expect(run.status == 0, "\(run.stderr)")
        let times = try NPY.read(path: out + "/times.npy")
        for name in ["sharpness", "pl_constant"] {
            let a = try NPY.read(path: out + "/\(name).npy")
            #expect(a.shape == [4, 3, times.shape[1]])
            #expect(a.values.allSatisfy { $0.isFinite && $0 > 0 }, "\(name): \(a.values.prefix(6))")
            for file in [".svg", ".py"] {
                #expect(FileManager.default.fileExists(atPath: out + "/" + name + file), "\(name)\(file)")
            }
        }
        // The stable runs (η = 0.05, grid points 0 and 2) stay below 2/η = 40.
        let sharpness = try NPY.read(path: out + "/sharpness.npy")
        let C = times.shape[1]
        for g in [0, 2] {
            for s in 0..<3 { #expect(sharpness.values[(g * 3 + s) * C + C - 1] < 40) }
        }
        let svg = try String(contentsOfFile: out + "/sharpness.svg", encoding: .utf8)
        #expect(svg.contains("2/η"))
        let analyze = try CLITests.run(["analyze", out])
        #expect(analyze.status == 0, "\(analyze.stderr)")
        #expect(analyze.stdout.contains("curvature (medians over seeds") && analyze.stdout.contains("max·η/2"))
        #expect(analyze.stdout.contains("PL μ"), "\(analyze.stdout)")
    }

    @Test(.needsOpenCLPlatform) func cpuAndOpenCLWriteTheSameCurvature() throws {
        let dir = CLITests.temporary()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let config = try ReliabilityCLITests.write(Self.config, in: dir, name: "curvature.yaml")
        for device in ["cpu", "opencl"] {
            let run = try CLITests.run(["run", config, "--device", device, "--out", dir + "/" + device, "--quiet"])
            #expect(run.status == 0, "\(device): \(run.stderr)")
        }
        for name in ["sharpness.npy", "pl_constant.npy", "train_loss.npy"] {
            let (a, b) = (
                FileManager.default.contents(atPath: dir + "/cpu/" + name),
                FileManager.default.contents(atPath: dir + "/opencl/" + name)
            )
            #expect(a != nil && a == b, "\(name) differs")
        }
    }
}
