import DLNModel
import Foundation
import Testing

/// `dlnsim devices` lists the CPU engine; `--device gpu` takes the first OpenCL GPU or is refused by name.
@Suite struct DeviceChoiceCLITests {
    @Test func devicesListsTheCPUEngine() throws {
        let r = try CLITests.run(["devices"])
        #expect(r.status == 0)
        let first = r.stdout.split(separator: "\n").first.map(String.init) ?? ""
        #expect(first.hasPrefix("cpu  CPU engine (") && first.contains("thread"), "\(r.stdout)")
    }

    /// `--device gpu` takes the first OpenCL GPU that is not a simulator; without one (PoCL is a CPU device,
    /// Oclgrind only simulates a GPU) it is refused with the devices that exist, before any output folder is made.
    /// Whichever this machine has is checked: the answer must agree with what `dlnsim devices` lists.
    @Test func gpuIsTakenOrRefusedByName() throws {
        let devices = try CLITests.run(["devices"]).stdout
        // A real GPU: a "type GPU" device line under a platform that is not Oclgrind.
        var platform = ""
        var realGPU = false
        for line in devices.split(separator: "\n") {
            if line.hasPrefix("platform ") { platform = String(line) }
            if line.contains("type GPU") && !platform.contains("Oclgrind") { realGPU = true }
        }
        let dir = CLITests.temporary()
        let r = try CLITests.run(
            ["run", "examples/quickstart.yaml", "seeds=1", "training.steps=5", "--device", "gpu", "--out", dir + "/o"])
        if realGPU {
            #expect(r.status == 0, "\(r.stderr)")
            #expect(r.stderr.contains("device gpu: OpenCL GPU"), "\(r.stderr)")
        } else {
            #expect(r.status == 1)
            #expect(
                r.stderr.contains(
                    "gpu requested, but there is no OpenCL GPU here; the devices are cpu (the CPU engine)"),
                "\(r.stderr)")
            #expect(!FileManager.default.fileExists(atPath: dir + "/o"))
        }
        // --check does not open a device: `device: gpu` is a valid configuration either way.
        let check = try CLITests.run(["run", "examples/quickstart.yaml", "device=gpu", "--check"])
        #expect(check.status == 0, "\(check.stderr)")
    }
}
