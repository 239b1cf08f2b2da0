import DLNDevice
import DLNModel
import DLNRun
import DLNTheory
import OpenCLKit
import TestSupport
import Testing

/// float64 on a device without `cl_khr_fp64` is refused before any work, naming the device and the way out.
/// PoCL has fp64, so the refusal is tested through the capability seam; the real device is checked against
/// what it reports.
@Suite struct PrecisionRefusalTests {
    @Test func float64IsRefusedOnADeviceWithoutFP64() {
        #expect {
            try OpenCLEngine.require(.float64, device: "Mali-G52", supportsFP64: false)
        } throws: { error in
            guard case DLNError.unsupportedPrecision(let device, .float64) = error else { return false }
            return device == "Mali-G52"
                && "\(error)"
                    == "Mali-G52 cannot compute in float64: the device lacks cl_khr_fp64; use precision: float32 or "
                    + "another device (--device cpu)"
        }
        #expect(throws: Never.self) { try OpenCLEngine.require(.float32, device: "Mali-G52", supportsFP64: false) }
        #expect(throws: Never.self) { try OpenCLEngine.require(.float64, device: "A100", supportsFP64: true) }
        #expect(throws: Never.self) { try CPUEngine().require(.float64) }
    }

    @Test(.needsOpenCL) func theRealDeviceAnswersAsItsCapabilitySays() throws {
        let device = try DeviceFixture.device()
        let engine = try OpenCLEngine(device: device)
        if device.supportsFP64 {
            #expect(throws: Never.self) { try engine.require(.float64) }
        } else {
            #expect(throws: DLNError.self) { try engine.require(.float64) }
        }
        #expect(throws: Never.self) { try engine.require(.float32) }
    }
}
