import DLNModel
import Foundation
import Testing

/// `dlnsim devices` lists the CPU engine; `--device gpu` takes the first OpenCL GPU or is refused by name.
@Suite struct DeviceChoiceCLITests {
    /// Whether `dlnsim devices` lists an OpenCL GPU (probed once).
    static let gpuPresent: Bool = (try? CLITests.run(["devices"]).stdout.contains("type GPU")) ?? false

    @Test func devicesListsTheCPUEngine() throws {
        let r = try CLITests.run(["devices"])
        #expect(r.status == 0)
        let first = r.stdout.split(separator: "\n").first.map(String.init) ?? ""
        #expect(first.hasPrefix("cpu  CPU engine (") && first.contains("thread"), "\(r.stdout)")
    }

    /// Without an OpenCL GPU (PoCL is a CPU device), `--device gpu` is refused with the devices that exist, before
    /// any output folder is made.
    @Test(.enabled(if: !gpuPresent)) func gpuIsRefusedWhenThereIsNone() throws {
        let dir = CLITests.temporary()
        let r = try CLITests.run(
            ["run", "examples/quickstart.yaml", "seeds=1", "training.steps=5", "--device", "gpu", "--out", dir + "/o"])
        #expect(r.status == 1)
        #expect(
            r.stderr.contains("gpu requested, but there is no OpenCL GPU here; the devices are cpu (the CPU engine)"),
            "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/o"))
        let check = try CLITests.run(["run", "examples/quickstart.yaml", "device=gpu", "--check"])
        #expect(check.status == 0, "\(check.stderr)")
    }

    @Test(.enabled(if: gpuPresent)) func gpuPicksTheFirstGPU() throws {
        let dir = CLITests.temporary()
        let r = try CLITests.run(
            ["run", "examples/quickstart.yaml", "seeds=1", "training.steps=5", "--device", "gpu", "--out", dir + "/o"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("device gpu: OpenCL GPU"), "\(r.stderr)")
    }
}
