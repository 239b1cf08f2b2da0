import Foundation
import TestSupport
import Testing

/// scripts/oclgrind.sh, the Oclgrind tier: its scan fails on what Oclgrind prints and only on that, and its
/// planted-bug check (an out-of-bounds write, a missing barrier) is caught on the real Oclgrind.
@Suite(.serialized) struct OclgrindScriptTests {
    static let script = CLITests.root.appendingPathComponent("scripts/oclgrind.sh").path

    static let oclgrindInstalled = FileManager.default.fileExists(atPath: "/usr/lib/oclgrind/liboclgrind-rt-icd.so")

    static func scan(_ log: String) throws -> CLITests.Output {
        let path = CLITests.temporary() + "/stderr.log"
        try log.write(toFile: path, atomically: true, encoding: .utf8)
        return try CLITests.run([script, "scan", path], executable: "/bin/bash")
    }

    /// Oclgrind's report of an out-of-bounds write, as it prints it, among SwiftPM's progress lines.
    static let invalidWrite = """
        [0/1] Planning build
        Building for debugging...

        Invalid write of size 4 at global memory address 0x50000003d0900
        \tKernel: dln_loss
        \tEntity: Global(0,0,0) Local(0,0,0) Group(0,0,0)
        \t  store float %mul12, float addrspace(1)* %arrayidx14, align 4
        \tAt line 567 (column 23) of input.cl:
        \t  loss[b + 1000000] = acc * scale;

        """

    @Test func scanFailsOnOclgrindDiagnostics() throws {
        let bad = try Self.scan(Self.invalidWrite)
        #expect(bad.status == 1, "\(bad.stdout)")
        #expect(bad.stdout.contains("Invalid write of size 4") && bad.stdout.contains("Kernel: dln_loss"))
        let race = try Self.scan("Read-write data race at global memory address 0x1000000000040\n\tKernel: dln_x\n")
        #expect(race.status == 1 && race.stdout.contains("data race"))
        let fatal = try Self.scan("OCLGRIND FATAL ERROR (./src/core/WorkItemBuiltins.cpp:3552)\nEncountered trap\n")
        #expect(fatal.status == 1 && fatal.stdout.contains("OCLGRIND FATAL ERROR"))
        let clean = try Self.scan("[0/1] Planning build\nBuilding for debugging...\n\nBuild complete! (0.50s)\n")
        #expect(clean.status == 0, "\(clean.stdout)")
    }

    /// The planted bugs are reported by Oclgrind and caught by the scan; the aborted kernel fails the run.
    @Test(.enabled(if: oclgrindInstalled || runningUnderCI, "Oclgrind is not installed (apt-get install oclgrind)"))
    func selfCheckCatchesPlantedBugs() throws {
        let r = try CLITests.run(
            [Self.script, "self-check"], environment: ["DLNSIM": CLITests.binary], executable: "/bin/bash")
        #expect(r.status == 0, "\(r.stdout)\n\(r.stderr)")
        #expect(r.stdout.contains("self-check: Oclgrind reported the planted out-of-bounds write and data race"))
    }
}

/// Oclgrind reports itself as a GPU; `--device auto` must not pick the slow simulator, `opencl:P:D` may.
@Suite(.serialized) struct SimulatorSelectionTests {
    @Test(
        .enabled(
            if: OclgrindScriptTests.oclgrindInstalled || runningUnderCI,
            "Oclgrind is not installed (apt-get install oclgrind)"))
    func autoSkipsOclgrind() throws {
        let dir = CLITests.temporary()
        try FileManager.default.createDirectory(atPath: dir + "/vendors", withIntermediateDirectories: true)
        try "/usr/lib/oclgrind/liboclgrind-rt-icd.so\n".write(
            toFile: dir + "/vendors/oclgrind.icd", atomically: true, encoding: .utf8)
        let yaml = dir + "/tiny.yaml"
        try KernelAbortTests.config.write(toFile: yaml, atomically: true, encoding: .utf8)
        let env = ["OCL_ICD_VENDORS": dir + "/vendors"]
        let auto = try CLITests.run(["run", yaml, "--out", dir + "/auto", "--quiet"], environment: env)
        #expect(auto.status == 0, "\(auto.stderr)")
        #expect(auto.stderr.contains("device auto: Oclgrind Simulator (Oclgrind) simulates a GPU"), "\(auto.stderr)")
        #expect(auto.stderr.contains("using the CPU engine"))
        let named = try CLITests.run(
            ["run", yaml, "--out", dir + "/named", "--quiet", "--device", "opencl:0:0"], environment: env)
        #expect(named.status == 0, "\(named.stderr)")
        #expect(named.stderr.contains("on OpenCL Oclgrind Simulator"), "\(named.stderr)")
    }
}
