// swift-tools-version:6.0
// dlnsim: batched simulation of diagonal linear networks on OpenCL devices and on the CPU.
import Foundation
import PackageDescription

// The CPU engine is bit-identical to the OpenCL kernels only if both use the same fused multiply-add, and Swift's
// default x86-64 target (SSE2) has no FMA instruction. So the CPU engine's modules are built for a baseline with FMA:
// AVX2 + FMA (`haswell`: every x86-64 CPU since 2013) unless DLNSIM_TARGET_CPU names another CPU (`native`,
// `znver4`, …). The hot loops (Sources/DLNVector) are built twice, for that baseline and for AVX-512, and the engine
// picks one at start from the CPU's features (DLNModel/CPU/VectorCode.swift): one binary runs on every such CPU at
// the speed of an AVX-512 build where AVX-512 is there. Results are bit-identical either way. These modules are
// optimised even in debug builds so that `swift test` exercises realistic sizes quickly.
let environment = ProcessInfo.processInfo.environment
let targetCPU = environment["DLNSIM_TARGET_CPU"].flatMap { $0.isEmpty ? nil : $0 }
#if arch(x86_64)
    let baseCPU = ["-target-cpu", targetCPU ?? "haswell"]
    let wideCPU = ["-target-cpu", "skylake-avx512"]  // AVX-512 F, CD, BW, DQ, VL: Intel since 2017, AMD Zen 4 on
#else
    let baseCPU = targetCPU.map { ["-target-cpu", $0] } ?? []
    let wideCPU: [String] = []  // built, never chosen
#endif
let optimised = ["-O", "-enforce-exclusivity=unchecked"]
let hot: [SwiftSetting] = [.unsafeFlags(baseCPU + optimised)]
let hotWide: [SwiftSetting] = [.unsafeFlags(wideCPU + optimised), .define("DLN_AVX512")]

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
        // The CPU's vector instruction sets (CPUID), for the choice of the hot loops' compilation.
        .target(name: "CPUFeatures"),
        // The CPU engine's hot loops, built for the baseline; DLNVectorAVX512 holds links to the same files, built
        // for AVX-512. Raw pointers in, raw pointers out; VectorAccess: their inlinable vector loads and stores.
        .target(name: "VectorAccess"),
        .target(name: "DLNVector", dependencies: ["VectorAccess"], swiftSettings: hot),
        .target(name: "DLNVectorAVX512", dependencies: ["VectorAccess"], swiftSettings: hotWide),
        // The model families and their CPU twins (and SHA-256, which hashes every output file and checkpoint), built
        // with the baseline's flags. It also embeds Kernels/ (the device twins' source): a family's folder names its
        // own kernel file.
        .target(
            name: "DLNModel", dependencies: ["CPUFeatures", "VectorAccess", "DLNVector", "DLNVectorAVX512"],
            exclude: ["Kernels/README.md"], resources: [.embedInCode("Kernels")], swiftSettings: hot),
        // The theory solvers: pure functions of a problem, no engine. Optimised even in debug builds (dense Newton
        // iterations, quadrature and the DMFT solvers are 10–50× slower unoptimised, and the tests use them), for the
        // same baseline CPU as the engine (AVX2 + FMA on x86-64: the DMFT paths' loops run 4 doubles per instruction,
        // and `addingProduct` is an instruction instead of a call into libm). Swift neither contracts a·b + c into
        // a fused multiply-add nor reorders sums, so this changes no result.
        .target(name: "DLNTheory", dependencies: ["DLNModel"], swiftSettings: [.unsafeFlags(baseCPU + ["-O"])]),
        // The OpenCL engine: builds and runs the kernels of Kernels/ behind the same Engine protocol.
        .target(name: "DLNDevice", dependencies: ["DLNModel", "OpenCLKit"]),
        // The run: configuration, experiments, the runner, output files, figures and studies.
        .target(name: "DLNRun", dependencies: ["DLNModel", "DLNTheory", "DLNDevice", "OpenCLKit", "Yams"]),
        // The command-line tool: argument parsing and printing only.
        .executableTarget(
            name: "dlnsim",
            dependencies: [
                "DLNRun", "DLNModel", "DLNTheory", "DLNDevice", "OpenCLKit", "CPUFeatures",
                .product(name: "ArgumentParser", package: "swift-argument-parser")
            ]),
        .target(name: "TestSupport", dependencies: ["DLNModel", "DLNRun", "DLNTheory"], path: "Tests/TestSupport"),
        .testTarget(name: "OpenCLKitTests", dependencies: ["OpenCLKit", "TestSupport"]),
        .testTarget(
            name: "DLNModelTests",
            dependencies: ["DLNModel", "DLNRun", "DLNTheory", "DLNVector", "DLNVectorAVX512", "TestSupport"]),
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
