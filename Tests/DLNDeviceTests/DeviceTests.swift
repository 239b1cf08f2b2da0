import DLNDevice
import DLNModel
import DLNRun
import DLNTheory
import Foundation
import OpenCLKit
import TestSupport
import Testing

@Suite(.serialized, .needsOpenCL) struct DeviceTests {
    /// A replica alone computes the same bits as the same replica inside a larger batch, on the device.
    @Test func batchingInvarianceOnTheDevice() throws {
        let device = try DeviceFixture.device()
        let big = try makeBatch(d: 23, n: 11, replicas: 37, sharing: .independent, seedOffset: 0)
        let alone = try makeBatch(d: 23, n: 11, replicas: 1, sharing: .independent, seedOffset: 20)
        let (e1, e2) = (try OpenCLEngine(device: device), try OpenCLEngine(device: device))
        try e1.initialize(big)
        try e2.initialize(alone)
        try e1.step(count: 300)
        try e2.step(count: 300)
        let (s1, s2) = (try e1.state(), try e2.state())
        let w1 = s1.weights.doubles
        let w2 = s2.weights.doubles
        #expect(Array(w1[(20 * 23)..<(21 * 23)]).map(\.bitPattern) == w2.map(\.bitPattern))
        #expect(try e1.observe().trainLoss[20] == e2.observe().trainLoss[0])
    }

    @Test func kernelSourcesAreEmbedded() throws {
        let source = try KernelLibrary.source()
        for name in ["dln_residual", "dln_gradient", "dln_update", "dln_loss", "dln_weight", "FP_CONTRACT OFF"] {
            #expect(source.contains(name))
        }
    }

    @Test func deviceRequestsParseAndFailClearly() throws {
        #expect(try DeviceRequest(parsing: "auto") == .auto)
        #expect(try DeviceRequest(parsing: "cpu") == .cpu)
        #expect(try DeviceRequest(parsing: "opencl:0:1") == .opencl(platform: 0, device: 1))
        #expect(try DeviceRequest(parsing: "gpu") == .gpu)
        #expect { try DeviceRequest(parsing: "tpu") } throws: { "\($0)".contains("not a device") }
        #expect { try DeviceRequest(parsing: "opencl:x") } throws: { "\($0)".contains("indices") }
        #expect { try DeviceCatalog.resolve(.opencl(platform: 0, device: 99)) } throws: {
            "\($0)".contains("no device 99")
        }
    }

    @Test func fp64IsRefusedWhereTheDeviceLacksIt() throws {
        let device = try DeviceFixture.device()
        let batch = try makeBatch(d: 4, n: 2, replicas: 1, precision: .float64)
        let engine = try OpenCLEngine(device: device)
        if device.supportsFP64 {
            try engine.initialize(batch)
        } else {
            #expect { try engine.initialize(batch) } throws: { "\($0)".contains("cl_khr_fp64") }
        }
    }

    /// A broken kernel override surfaces the compiler's build log in the error.
    @Test func kernelBuildFailureCarriesTheLog() throws {
        let device = try DeviceFixture.device()
        let context = try CLContext(device: device)
        let broken = try KernelLibrary.source().replacingOccurrences(
            of: "acc = fma(xrow[j]", with: "acc = fmaa(xrow[j]")
        #expect {
            _ = try KernelLibrary.program(context: context, source: broken, options: "-D REAL=float")
        } throws: { error in
            let e = error as! CLError
            return e.code == CLError.buildProgramFailure && (e.buildLog ?? "").contains("fmaa")
        }
    }
}
