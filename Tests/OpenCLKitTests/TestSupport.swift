import Foundation
import OpenCLKit
import Testing

/// What the test process finds on this machine, discovered once.
enum OpenCLEnvironment {
    /// Whether `CI` is set (non-empty and not `0`/`false`): then a missing OpenCL device is a failure.
    static let isCI: Bool = {
        let value = (ProcessInfo.processInfo.environment["CI"] ?? "").lowercased()
        return !value.isEmpty && value != "0" && value != "false"
    }()

    /// The installed platforms; a discovery error is printed and treated as "none".
    static let platforms: [CLPlatform] = {
        do { return try CLPlatform.all() } catch {
            print("OpenCL platform discovery failed: \(error)")
            return []
        }
    }()

    /// The device the device tests run on: the first device of the first platform that has one.
    static let device: CLDevice? = platforms.lazy.compactMap { try? $0.devices().first }.first

    static let skipReason =
        "no OpenCL platform/device found (install an ICD such as pocl-opencl-icd); set CI=true to make this a failure"
}

extension Trait where Self == ConditionTrait {
    /// Skips a test (with the reason printed) when there is no OpenCL device, unless `CI` is set:
    /// there the test runs, and its fixture fails for want of a device.
    static var requiresOpenCLDevice: Self {
        .enabled(
            if: OpenCLEnvironment.device != nil || OpenCLEnvironment.isCI,
            Comment(rawValue: OpenCLEnvironment.skipReason))
    }
}
