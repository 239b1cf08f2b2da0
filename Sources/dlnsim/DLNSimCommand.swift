import ArgumentParser
import CPUFeatures
import DLNDevice
import DLNModel
import DLNRun
import DLNTheory
import Foundation
import OpenCLKit

@main
struct DLNSimCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dlnsim",
        abstract:
            "Simulate the training dynamics of diagonal linear networks, many replicas at once, on OpenCL devices or "
            + "the CPU.",
        discussion: """
            Examples:
              dlnsim run examples/quickstart.yaml
              dlnsim run examples/quickstart.yaml --device opencl --out runs/q
              dlnsim theory examples/finite_size.yaml     (the d → ∞ DMFT curve)
              dlnsim devices

            Environment: DLNSIM_KERNELS_DIR=folder replaces the embedded OpenCL kernels with the .cl files of that \
            folder; DLNSIM_CPU_ISA=baseline|avx512 chooses the CPU engine's loops (default: the widest this CPU runs; \
            the results are the same bits).
            """,
        version: DLNSim.version,
        subcommands: [Run.self, Merge.self, Theory.self, Plot.self, Analyze.self, BenchCommand.self, Devices.self])

    /// Parses and runs the command; in JSON mode (`Messages`) an argument error is one JSON error object too.
    static func main() {
        #if arch(x86_64)
            // The engines are built for AVX2 + FMA at least (Package.swift); say so instead of faulting.
            if dln_cpu_has_avx2_fma() == 0 {
                FileHandle.standardError.write(
                    Data(
                        ("error: this CPU lacks AVX2 or FMA, which this build of dlnsim needs (x86-64 CPUs since "
                            + "2013 have both); build it here with DLNSIM_TARGET_CPU=native\n").utf8))
                Foundation.exit(1)
            }
        #endif
        Messages.readCommandLine(CommandLine.arguments)
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            let code = exitCode(for: error)
            if Messages.json && code != .success {
                Messages.emit([
                    "event": "error", "kind": "usage", "message": fullMessage(for: error), "key": NSNull(),
                    "issues": []
                ])
                Foundation.exit(code.rawValue)
            }
            exit(withError: error)
        }
    }
}
