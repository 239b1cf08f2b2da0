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
