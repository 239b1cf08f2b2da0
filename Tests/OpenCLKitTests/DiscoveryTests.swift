import OpenCLKit
import Testing

@Test func discoverPlatforms() throws {
    let platforms = try CLPlatform.all()
    for platform in platforms {
        print("OpenCL platform: \(platform.name) | \(platform.vendor) | \(platform.version)")
        for device in try platform.devices() {
            print(
                "  \(device.type) device: \(device.name) | \(device.version) | \(device.openCLCVersion) | driver "
                    + "\(device.driverVersion)"
            )
            print(
                "    compute units \(device.computeUnits), global \(device.globalMemorySize >> 20) MiB, max alloc "
                    + "\(device.maxAllocationSize >> 20) MiB, local \(device.localMemorySize >> 10) KiB, max "
                    + "work-group \(device.maxWorkGroupSize) \(device.maxWorkItemSizes), fp64 \(device.supportsFP64)"
            )
        }
    }
    #expect(try CLPlatform.all() == platforms, "discovery is cached")
    if OpenCLEnvironment.device == nil {
        if OpenCLEnvironment.isCI {
            Issue.record("CI is set, but no OpenCL platform/device was found")
        } else {
            print("OpenCL device tests skipped: \(OpenCLEnvironment.skipReason)")
        }
    }
}

@Test func errorCodeConstants() {
    #expect(CLError.deviceNotFound == -1)
    #expect(CLError.buildProgramFailure == -11)
    #expect(CLError.invalidKernelName == -46)
    #expect(CLError.invalidArgSize == -51)
    #expect(CLError.maxSizeRestrictionExceeded == -72)
    #expect(CLError.platformNotFoundKHR == -1001)
}
