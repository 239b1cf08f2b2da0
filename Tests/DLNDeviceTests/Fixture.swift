import DLNDevice
import DLNModel
import DLNRun
import DLNTheory
import Foundation
import OpenCLKit
import TestSupport
import Testing

// Shared by DLNDeviceTests and OracleTests (Tests/OracleTests/Fixture.swift is a link to this file).
//
// How device tests get their device and skip without it:
// - a test that needs the OpenCL device carries the trait `.needsOpenCL` (or `.needsFP64` where it computes in
//   float64): where there is no such device it is skipped, with the reason, except under CI (`CI=true`), where it runs;
// - inside, it takes the device with `try DeviceFixture.device()` and engines with `try EngineKind.opencl.engine()`:
//   both throw a descriptive `DeviceUnavailable` when the device is missing, so the test fails (under CI, or where a
//   trait was forgotten), and an engine that cannot be built fails the test too;
// - a check run on both engines is written once, taking an `EngineKind`, and declared as two tests: `…OnCPU` (runs
//   everywhere) and `…OnOpenCL` with the trait (a trait skips a whole test, not one argument of it).

/// Why a device test could not get its device or its engine; thrown, so the test fails.
struct DeviceUnavailable: Error, CustomStringConvertible {
    let description: String
}

/// The two engines the device tests compare and run the same checks on.
enum EngineKind: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case cpu, opencl

    var testDescription: String { rawValue }

    /// A fresh engine of this kind. The OpenCL engine is built on the shared device (`DeviceFixture.device(fp64:)`);
    /// a missing device or a failed construction throws, so the test fails.
    func engine(fp64: Bool = false) throws -> any FlowEngine {
        switch self {
        case .cpu: return CPUEngine()
        case .opencl:
            let device = try DeviceFixture.device(fp64: fp64)
            do { return try OpenCLEngine(device: device) } catch {
                throw DeviceUnavailable(description: "cannot build the OpenCL engine on \(device.name): \(error)")
            }
        }
    }
}

/// The one OpenCL device the device tests share, discovered once per process.
enum DeviceFixture {
    /// `DLNSIM_TEST_DEVICE`: run the device tests on the first device whose platform or device name contains this
    /// text (case-insensitive), such as `oclgrind` or `portable`; unset or empty: the first device of the first
    /// platform. A requested device that is missing fails the device tests (they are not skipped).
    static let requested: String? = {
        guard let text = ProcessInfo.processInfo.environment["DLNSIM_TEST_DEVICE"], !text.isEmpty else { return nil }
        return text
    }()

    /// The requested device (`DLNSIM_TEST_DEVICE`), or the first device of the first platform, or nil (a discovery
    /// error counts as no platform; it is printed).
    static let discovered: CLDevice? = {
        let platforms: [(platform: CLPlatform, devices: [CLDevice])]
        do { platforms = try DeviceCatalog.platforms() } catch {
            print("device tests: OpenCL discovery failed: \(error)")
            platforms = []
        }
        if platforms.isEmpty {
            print(
                "device tests: no OpenCL platform "
                    + "found\(runningUnderCI ? " (CI: the device tests fail)" : "; the device tests are skipped")"
            )
        }
        guard let requested else { return platforms.flatMap(\.devices).first }
        let wanted = requested.lowercased()
        let match = platforms.flatMap(\.devices).first {
            $0.platform.name.lowercased().contains(wanted) || $0.name.lowercased().contains(wanted)
        }
        let found = platforms.map { "\($0.platform.name): \($0.devices.map(\.name).joined(separator: ", "))" }
        print(
            match.map { "device tests: DLNSIM_TEST_DEVICE=\(requested): \($0.name) (\($0.platform.name))" }
                ?? "device tests: DLNSIM_TEST_DEVICE=\(requested) matches no device (found: \(found)); they fail")
        return match
    }()

    /// Whether `device` computes every operation as written, IEEE-rounded, so that it must agree with the CPU engine
    /// bit for bit: PoCL (the CPU) and Oclgrind (an interpreter). On GPUs the distance is only reported.
    static func bitExact(_ device: CLDevice) -> Bool {
        ["Portable Computing Language", "Oclgrind"].contains { device.platform.name.contains($0) }
    }

    static let missingReason =
        "no OpenCL platform/device on this machine (install pocl-opencl-icd); set CI=true to make this a failure"
    static let noFP64Reason =
        "the OpenCL device lacks cl_khr_fp64 (or there is none); set CI=true to make this a failure"

    /// Whether the shared device computes in float64.
    static var supportsFP64: Bool { discovered?.supportsFP64 == true }

    /// The shared device; with `fp64`, one with cl_khr_fp64. Throws `DeviceUnavailable` (the test fails) when there
    /// is none: a test that calls it carries `.needsOpenCL` / `.needsFP64`, so outside CI it is skipped before.
    static func device(fp64: Bool = false) throws -> CLDevice {
        guard let device = discovered else {
            if let requested {
                throw DeviceUnavailable(description: "DLNSIM_TEST_DEVICE=\(requested) matches no OpenCL device")
            }
            throw DeviceUnavailable(
                description:
                    "CI is set, but there is no OpenCL platform/device on this machine (install pocl-opencl-icd)")
        }
        if fp64 && !device.supportsFP64 {
            throw DeviceUnavailable(description: "\(device.name) lacks cl_khr_fp64 and the test computes in float64")
        }
        return device
    }
}

extension Trait where Self == ConditionTrait {
    /// Runs where an OpenCL device exists, and always under CI (where `DeviceFixture.device()` then fails); skipped
    /// with the reason elsewhere.
    static var needsOpenCL: Self {
        .enabled(
            if: DeviceFixture.discovered != nil || runningUnderCI || DeviceFixture.requested != nil,
            Comment(rawValue: DeviceFixture.missingReason))
    }

    /// Runs where the OpenCL device has cl_khr_fp64, and always under CI (where `DeviceFixture.device(fp64: true)`
    /// then fails); skipped with the reason elsewhere.
    static var needsFP64: Self {
        .enabled(
            if: DeviceFixture.supportsFP64 || runningUnderCI || DeviceFixture.requested != nil,
            Comment(rawValue: DeviceFixture.noFP64Reason))
    }
}
