// swift-tools-version:6.0
// dlnsim: batched simulation of diagonal linear networks on OpenCL devices and on the CPU.
import Foundation
import PackageDescription

// The CPU engine is bit-identical to the OpenCL kernels only if both use the same fused multiply-add.
// Swift's default x86-64 target (SSE2) has no FMA instruction, so `addingProduct` would call a slow library
// routine. By default the hot module is built for the machine that builds it (`-target-cpu native`: AVX-512
// where the CPU has it, about twice the throughput of AVX2 on this project's machine); set
// DLNSIM_TARGET_CPU=haswell (AVX2 + FMA, every x86-64 CPU since 2013) for a binary to copy to other machines,
// or another CPU name (znver4, skylake-avx512, …). Results are bit-identical either way. The hot modules are
// optimised even in debug builds so that `swift test` exercises realistic sizes quickly.
#if arch(x86_64)
    let cpuFlags = [
        "-target-cpu",
        ProcessInfo.processInfo.environment["DLNSIM_TARGET_CPU"].flatMap { $0.isEmpty ? nil : $0 } ?? "native"
    ]
#else
    let cpuFlags: [String] = ProcessInfo.processInfo.environment["DLNSIM_TARGET_CPU"].map { ["-target-cpu", $0] } ?? []
#endif
let hot: [SwiftSetting] = [.unsafeFlags(cpuFlags + ["-O", "-enforce-exclusivity=unchecked"])]

let package = Package(
    name: "dlnsim",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "dlnsim", targets: ["dlnsim"]),
        .library(name: "DLNRun", targets: ["DLNRun"]),
        .library(name: "DLNModel", targets: ["DLNModel"]),
        .library(name: "DLNTheory", targets: ["DLNTheory"]),
        .library(name: "DLNDevice", targets: ["DLNDevice"]),
        .library(name: "OpenCLKit", targets: ["OpenCLKit"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0")
    ],
    targets: [
        // The OpenCL C API and its thin Swift binding.
        // The headers come from Debian's opencl-headers; libOpenCL is opened at run time (loader.c), not linked.
        .target(name: "COpenCL", path: "Sources/COpenCL", linkerSettings: [.linkedLibrary("dl")]),
        .target(name: "OpenCLKit", dependencies: ["COpenCL"]),
        // The model families and their CPU twins (and SHA-256, which hashes every output file and checkpoint): the
        // only target built with the hot-loop flags.
        // It also embeds Kernels/ (the device twins' source): a family's folder names its own kernel file.
        .target(
            name: "DLNModel", exclude: ["Kernels/README.md"], resources: [.embedInCode("Kernels")], swiftSettings: hot),
        // The theory solvers: pure functions of a problem, no engine. Optimised even in debug builds (dense Newton
        // iterations, quadrature and the DMFT solvers are 10–50× slower unoptimised, and the tests use them).
        .target(name: "DLNTheory", dependencies: ["DLNModel"], swiftSettings: [.unsafeFlags(["-O"])]),
        // The OpenCL engine: builds and runs the kernels of Kernels/ behind the same Engine protocol.
        .target(name: "DLNDevice", dependencies: ["DLNModel", "OpenCLKit"]),
        // The run: configuration, experiments, the runner, output files, figures and studies.
        .target(name: "DLNRun", dependencies: ["DLNModel", "DLNTheory", "DLNDevice", "OpenCLKit", "Yams"]),
        // The command-line tool: argument parsing and printing only.
        .executableTarget(
            name: "dlnsim",
            dependencies: [
                "DLNRun", "DLNModel", "DLNTheory", "DLNDevice", "OpenCLKit",
                .product(name: "ArgumentParser", package: "swift-argument-parser")
            ]),
        .target(name: "TestSupport", dependencies: ["DLNModel", "DLNRun", "DLNTheory"], path: "Tests/TestSupport"),
        .testTarget(name: "OpenCLKitTests", dependencies: ["OpenCLKit", "TestSupport"]),
        .testTarget(name: "DLNModelTests", dependencies: ["DLNModel", "DLNRun", "DLNTheory", "TestSupport"]),
        .testTarget(name: "DLNRunTests", dependencies: ["DLNRun", "DLNModel", "DLNTheory", "TestSupport"]),
        .testTarget(
            name: "DLNDeviceTests",
            dependencies: ["DLNDevice", "DLNModel", "DLNTheory", "DLNRun", "OpenCLKit", "TestSupport"]),
        // The long theory-oracle runs (minutes): `swift test --filter OracleTests`; the fast tier skips them.
        .testTarget(
            name: "OracleTests",
            dependencies: ["DLNDevice", "DLNModel", "DLNTheory", "DLNRun", "OpenCLKit", "TestSupport"]),
        .testTarget(name: "dlnsimTests", dependencies: ["dlnsim", "DLNRun", "DLNModel", "DLNTheory", "TestSupport"])
    ]
)
