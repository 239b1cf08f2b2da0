import Foundation
import Testing

/// A kernel the device aborts without an OpenCL error (Oclgrind when a checker stops it, a work-group that dies)
/// leaves its outputs unwritten: the run must fail naming the kernel, never write the untouched memory as results.
@Suite(.serialized) struct KernelAbortTests {
    /// The embedded kernels copied to a fresh folder, with `edit` applied to one file's text.
    static func kernels(editing file: String, _ edit: (String) -> String) throws -> String {
        let dir = CLITests.temporary()
        let source = CLITests.root.appendingPathComponent("Kernels")
        for name in try FileManager.default.contentsOfDirectory(atPath: source.path) where name.hasSuffix(".cl") {
            let text = try String(contentsOfFile: source.appendingPathComponent(name).path, encoding: .utf8)
            let edited = name == file ? edit(text) : text
            if name == file { #expect(edited != text, "the planted change did not apply to \(file)") }
            try edited.write(toFile: dir + "/" + name, atomically: true, encoding: .utf8)
        }
        return dir
    }

    static let config = """
        name: abort
        problem: {d: 7, n: 4, data: independent}
        training: {steps: 40}
        grid: {alpha: 0.1}
        seeds: 17
        record: {checkpoints: 3}
        """

    /// dln_loss returns before writing the loss of replicas 5 and up (as an aborted work-group does): before, the
    /// run wrote train_loss.npy with zeros there and exited 0.
    @Test(.needsOpenCLPlatform, arguments: ["dln_loss", "dln_observe"])
    func abortedKernelIsAnErrorNamingIt(_ kernel: String) throws {
        let dir = CLITests.temporary()
        let yaml = dir + "/abort.yaml"
        try Self.config.write(toFile: yaml, atomically: true, encoding: .utf8)
        let file = kernel == "dln_loss" ? "loss.cl" : "observe.cl"
        let kernels = try Self.kernels(editing: file) { text in
            // The first `if (b >= B) return;` of the file is the kernel's guard.
            guard let guardLine = text.range(of: "if (b >= B) return;") else { return text }
            return text.replacingCharacters(in: guardLine, with: "if (b >= B || b >= 5) return;")
        }
        let r = try CLITests.run(
            ["run", yaml, "--device", "opencl", "--out", dir + "/out", "--quiet"],
            environment: ["DLNSIM_KERNELS_DIR": kernels])
        #expect(r.status == 1, "\(r.stdout)\n\(r.stderr)")
        #expect(r.stderr.contains("kernel \(kernel) was aborted on the device"), "\(r.stderr)")
        #expect(r.stderr.contains("of 12 of 17 replicas (first: replica 5)"), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/out/train_loss.npy"))
    }
}
