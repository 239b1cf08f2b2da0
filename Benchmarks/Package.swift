// swift-tools-version:6.1
// Benchmarks for dlnsim. A separate (nested) package on purpose: `swift build` / `swift test` at the
// repository root never resolve, build or run it, and the root package gains no dependency on
// ordo-one/benchmark. Run from this folder: `swift package --disable-sandbox benchmark` (see README.md).
import PackageDescription

// ordo-one/benchmark 1.38.1 on Swift 6.3+: only the MallocInterposer trait. Its default set would also enable
// RuntimeInterposer, which on Linux with Swift 6.3 pulls in ordo-one/swift-runtime-interposer (ARC counters,
// which this suite does not measure). Swift 6.1/6.2 read the package's Package@swift-6.2.swift manifest, whose
// only trait is Jemalloc (needs libjemalloc-dev and ordo-one/package-jemalloc): build without traits there.
// Only the Swift 6.3 branch has been tried.
#if compiler(>=6.3)
    let benchmarkTraits: Set<Package.Dependency.Trait> = ["MallocInterposer"]
#else
    let benchmarkTraits: Set<Package.Dependency.Trait> = []
#endif

let package = Package(
    name: "dlnsim-benchmarks",
    platforms: [.macOS(.v14)],
    dependencies: [
        // The package under test, by path: its products are built exactly as the root package builds them.
        .package(name: "dlnsim", path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: benchmarkTraits)
    ],
    targets: [
        .executableTarget(
            name: "EngineStep",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "DLNModel", package: "dlnsim"),
                .product(name: "DLNRun", package: "dlnsim"),
                .product(name: "DLNDevice", package: "dlnsim")
            ],
            path: "EngineStep",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        )
    ],
    swiftLanguageModes: [.v6]
)
