import ArgumentParser
import DLNDevice
import DLNModel
import DLNRun
import DLNTheory
import Foundation
import OpenCLKit

struct Devices: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the devices a run can use: the CPU engine (cpu), then every OpenCL platform and device.")

    func run() throws {
        print("cpu  \(CPUEngine().deviceDescription)")
        do {
            let platforms = try DeviceCatalog.platforms()
            if platforms.isEmpty {
                print("no OpenCL device: \(CLPlatform.missingPlatformAdvice); `--device cpu` always works")
                return
            }
            for (p, entry) in platforms.enumerated() {
                print("platform \(p): \(entry.platform.name) (\(entry.platform.vendor), \(entry.platform.version))")
                if entry.devices.isEmpty { print("  no devices") }
                for (d, dev) in entry.devices.enumerated() {
                    let mem = Double(dev.globalMemorySize) / 1_073_741_824
                    print("  opencl:\(p):\(d)  \(dev.name)")
                    print(
                        String(
                            format:
                                "      type %@, %d compute units, %.1f GiB global memory, max allocation %.1f GiB, "
                                + "fp64 %@, driver %@",
                            dev.type.description, dev.computeUnits, mem, Double(dev.maxAllocationSize) / 1_073_741_824,
                            dev.supportsFP64 ? "yes" : "no", dev.driverVersion))
                }
            }
        } catch { fail(error) }
    }
}
