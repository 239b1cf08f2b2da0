import ArgumentParser
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
            folder.
            """,
        version: DLNSim.version,
        subcommands: [Run.self, Merge.self, Theory.self, Plot.self, Analyze.self, BenchCommand.self, Devices.self])
}

/// Prints a message on stderr and exits non-zero: every user error ends here, with one clear message.
func fail(_ error: any Error) -> Never {
    FileHandle.standardError.write(Data("error: \(error)\n".utf8))
    Foundation.exit(1)
}

/// Prints a message on stderr and exits non-zero.
func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("error: \(message)\n".utf8))
    Foundation.exit(1)
}

func note(_ line: String) { FileHandle.standardError.write(Data("\(line)\n".utf8)) }
