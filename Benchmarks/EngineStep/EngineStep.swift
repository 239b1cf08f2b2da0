// One gradient step of each engine on the same batch: the CPU engine and (when an OpenCL device exists)
// the OpenCL engine on the first device of the first platform.
//
// Problem: synthetic Gaussian data, d = 500, n = 250, pm parameterisation, plain GD, one grid point
// (α = 0.1, η = 0.01) and B seeds, so B replicas.
//   S: shared data (one X, y for every replica), B ∈ {64, 1024, 8192}, float32; float64 at B = 64 and 1024.
//   I: independent data (one X, y per replica), B ∈ {16, 128}, float32; float64 at B = 128.
//
// One measured iteration = `step(count: 10)` followed by `observe()`. `observe()` reads the per-replica
// losses back, which for the OpenCL engine drains the command queue, so the wall clock covers the kernels
// themselves and not only their enqueueing; the CPU engine does the same work so the two stay comparable.
// (The loss evaluation costs about half a step, so per iteration ≈ 10.5 steps of arithmetic.)
// Building the batch and `initialize` (data upload, kernel build) happen in the setup hook, outside the
// measurement.
//
// Metrics: wall clock per iteration, throughput in iterations/s, and `replica-steps/s`
// = B × 10 / (iteration's wall time), measured per iteration inside the benchmark. The latter is a custom
// metric because Benchmark's scaling factors are powers of 1000 and B × 10 is not.

import Benchmark
import DLNDevice
import DLNModel
import DLNRun
import Foundation

/// Gradient steps per measured iteration.
let stepsPerIteration = 10

/// Replica-steps per second, one sample per iteration (larger is better).
let replicaStepsPerSecond = BenchmarkMetric.custom("replica-steps/s", polarity: .prefersLarger, useScalingFactor: false)

/// One batch shape to measure.
struct Regime: Sendable {
    let sharing: DataSharing
    let replicas: Int
    let precision: Precision

    var label: String {
        let s = sharing == .shared ? "S" : "I"
        let p = precision == .float32 ? "f32" : "f64"
        return "\(s) \(p) B=\(replicas)"
    }

    /// The batch, built exactly as `dlnsim run` builds it from a configuration.
    func batch() throws(DLNError) -> Batch {
        var c = Configuration()
        c.name = "bench"
        c.problem.d = 500
        c.problem.n = 250
        c.problem.delta = nil
        c.problem.sharing = sharing
        c.grid.alpha = [0.1]
        c.grid.weightDecay = [0]
        c.grid.learningRate = [0.01]
        c.seeds = replicas
        c.training.steps = 0
        c.training.precision = precision
        return try Experiment(c).batch
    }
}

let regimes: [Regime] = [
    Regime(sharing: .shared, replicas: 64, precision: .float32),
    Regime(sharing: .shared, replicas: 1024, precision: .float32),
    Regime(sharing: .shared, replicas: 8192, precision: .float32),
    Regime(sharing: .shared, replicas: 64, precision: .float64),
    Regime(sharing: .shared, replicas: 1024, precision: .float64),
    Regime(sharing: .independent, replicas: 16, precision: .float32),
    Regime(sharing: .independent, replicas: 128, precision: .float32),
    Regime(sharing: .independent, replicas: 128, precision: .float64)
]

/// An initialised engine, handed from the setup hook to the measured closure. Engines are not Sendable;
/// Benchmark runs setup and iterations one after another, never concurrently.
final class Prepared: @unchecked Sendable {
    let engine: any Engine
    let replicas: Int
    init(engine: any Engine, replicas: Int) {
        self.engine = engine
        self.replicas = replicas
    }
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput, replicaStepsPerSecond],
        timeUnits: .microseconds,
        // Raw counts, so that both engines' rows read in the same unit (automatic would mix K and #).
        units: [replicaStepsPerSecond: .count, .throughput: .count],
        warmupIterations: 1,
        scalingFactor: .one,
        maxDuration: .seconds(3),
        maxIterations: 50
    )

    // The first device of the first OpenCL platform, as `--device opencl` picks it; none: CPU only.
    let device = (try? DeviceCatalog.platforms())?.first?.devices.first

    var engines: [(name: String, make: @Sendable () throws(DLNError) -> any Engine)] = [("CPU", { CPUEngine() })]
    if let device {
        engines.append(("OpenCL", { () throws(DLNError) -> any Engine in try OpenCLEngine(device: device) }))
    }

    for regime in regimes {
        for (name, make) in engines {
            Benchmark(
                "\(regime.label) \(name)",
                closure: { (benchmark: Benchmark, prepared: Prepared) throws in
                    let engine = prepared.engine
                    let replicaSteps = Double(prepared.replicas * stepsPerIteration)
                    for _ in benchmark.scaledIterations {
                        let start = ContinuousClock.now
                        try engine.step(count: stepsPerIteration)
                        blackHole(try engine.observe())
                        let seconds = start.duration(to: .now) / .seconds(1)
                        benchmark.measurement(replicaStepsPerSecond, Int((replicaSteps / seconds).rounded()))
                    }
                },
                setup: { () throws -> Prepared in
                    let batch = try regime.batch()
                    let engine = try make()
                    try engine.initialize(batch)
                    return Prepared(engine: engine, replicas: batch.replicas.count)
                }
            )
        }
    }
}
