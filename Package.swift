// swift-tools-version:6.0
// dlnsim: batched simulation of diagonal linear networks on OpenCL devices and on the CPU.
import Foundation
import PackageDescription

// The CPU engine is bit-identical to the OpenCL kernels only if both use the same fused multiply-add.
// Swift's default x86-64 target (SSE2) has no FMA instruction, so `addingProduct` would call a slow
// library routine: build for Haswell-class CPUs (AVX2 + FMA, every x86-64 CPU since 2013), never for
// the build machine alone, so a copied binary runs elsewhere. The hot modules are optimised even in
// debug builds so that `swift test` exercises realistic sizes quickly.
// DLNSIM_TARGET_CPU=native (or a CPU name such as znver4) builds the hot loops for that CPU instead: AVX-512
// where it has it, for a binary that stays on the machine that built it.
#if arch(x86_64)
let cpuFlags = ["-target-cpu", ProcessInfo.processInfo.environment["DLNSIM_TARGET_CPU"].flatMap { $0.isEmpty ? nil : $0 } ?? "haswell"]
#else
let cpuFlags: [String] = ProcessInfo.processInfo.environment["DLNSIM_TARGET_CPU"].map { ["-target-cpu", $0] } ?? []
#endif
let hot: [SwiftSetting] = [.unsafeFlags(cpuFlags + ["-O", "-enforce-exclusivity=unchecked"])]

let package = Package(
    name: "dlnsim",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "dlnsim", targets: ["dlnsim"]),
        .library(name: "DLNCore", targets: ["DLNCore"]),
        .library(name: "DLNDevice", targets: ["DLNDevice"]),
        .library(name: "OpenCLKit", targets: ["OpenCLKit"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
    ],
    targets: [
        .systemLibrary(
            name: "COpenCL", path: "Sources/COpenCL",
            providers: [.apt(["ocl-icd-opencl-dev", "opencl-headers"])]),
        .target(name: "OpenCLKit", dependencies: ["COpenCL"]),
        .target(name: "DLNCore", dependencies: ["Yams"], swiftSettings: hot),
        .target(
            name: "DLNDevice", dependencies: ["DLNCore", "OpenCLKit"],
            exclude: ["Kernels/README.md"],
            resources: [.embedInCode("Kernels")],
            swiftSettings: hot),
        .executableTarget(
            name: "dlnsim",
            dependencies: [
                "DLNCore", "DLNDevice", "OpenCLKit",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        .target(name: "TestSupport", dependencies: ["DLNCore"], path: "Tests/TestSupport"),
        .testTarget(name: "OpenCLKitTests", dependencies: ["OpenCLKit", "TestSupport"]),
        .testTarget(name: "DLNCoreTests", dependencies: ["DLNCore", "TestSupport"]),
        .testTarget(name: "DLNDeviceTests", dependencies: ["DLNDevice", "DLNCore", "OpenCLKit", "TestSupport"]),
        .testTarget(name: "dlnsimTests", dependencies: ["dlnsim", "DLNCore", "TestSupport"]),
    ]
)
