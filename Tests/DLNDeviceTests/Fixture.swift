import TestSupport
import DLNModel
import DLNRun
import DLNTheory
import DLNDevice
import OpenCLKit
import Testing

/// The one OpenCL device the device tests share, discovered once per process.
enum DeviceFixture {
    static let device: CLDevice? = {
        let platforms = (try? DeviceCatalog.platforms()) ?? []
        if platforms.isEmpty { print("DLNDeviceTests: no OpenCL platform found\(runningUnderCI ? " (CI: this is a failure)" : "; device tests are skipped")") }
        return platforms.flatMap(\.devices).first
    }()

    /// The device, or a recorded failure under CI (a missing platform must not pass silently there).
    static func require() -> CLDevice? {
        if device == nil && runningUnderCI { Issue.record("CI is set but no OpenCL device is available (install pocl-opencl-icd)") }
        return device
    }
}

extension Trait where Self == ConditionTrait {
    /// Runs where an OpenCL device exists, and always under CI (where the fixture then fails).
    static var needsOpenCL: Self {
        .enabled(if: DeviceFixture.device != nil || runningUnderCI, "no OpenCL platform on this machine")
    }
}
