import DLNDevice
import DLNModel
import DLNRun
import DLNTheory
import Foundation
import TestSupport
import Testing

// The instances, batches and engines of the theory checks, shared by the fast ones (DLNDeviceTests) and the long
// oracle runs (OracleTests; Tests/OracleTests/TheorySupport.swift is a link to this file).

extension TheoryTests {
    typealias Side = EngineKind

    /// A fresh engine of the kind (with `fp64`, on a device with cl_khr_fp64): see `EngineKind.engine(fp64:)` —
    /// a missing device or a failed construction throws, so the test fails.
    static func engine(_ side: Side, fp64: Bool = false) throws -> any FlowEngine {
        try side.engine(fp64: fp64)
    }

    /// Where the longest oracles run, once: on the OpenCL device when there is one (under CI always: PoCL, which is
    /// bit-identical to the CPU engine, as EquivalenceTests check in the fast tier, so a second run on the CPU
    /// engine would repeat the same numbers), else on the CPU engine. Under CI a missing device fails the test.
    static func oracleSide(fp64: Bool) -> Side {
        if runningUnderCI { return .opencl }
        return (fp64 ? DeviceFixture.supportsFP64 : DeviceFixture.discovered != nil) ? .opencl : .cpu
    }

    /// A random instance: X (n×d) with N(0, 1) entries, a sparse teacher, y = Xw*.
    static func instance(n: Int, d: Int, seed: UInt64, diagonal: [Double]? = nil) -> (
        x: [Double], y: [Double], w: [Double]
    ) {
        let rng = CounterRNG(seed: seed)
        var x = (0..<(n * d)).map { rng.gaussian(stream: 1, index: UInt64($0)) }
        if let s = diagonal {  // n = d, X = diag(√(n·s_j)), so XᵀX/n = diag(s)
            x = [Double](repeating: 0, count: n * d)
            for j in 0..<d { x[j * d + j] = (Double(n) * s[j]).squareRoot() }
        }
        let w = (0..<d).map { j in j % 5 == 0 ? 1 + rng.gaussian(stream: 2, index: UInt64(j)) * 0.3 : 0 }
        return (x, Dense.multiply(x, n, d, w), w)
    }

    static func batch(
        _ x: [Double], _ y: [Double], n: Int, d: Int, alphas: [Double], eta: Double, lambda: Double = 0,
        update: UpdateRule
    ) throws -> Batch {
        let replicas = alphas.enumerated().map {
            Replica(gridPoint: $0, seed: 0, dataset: 0, alpha: $1, lambda: lambda, lambdaU: lambda, eta: eta)
        }
        let layer = alphas.flatMap { [Double](repeating: $0, count: d) }
        return try Batch(
            parameterization: .pm, update: update, loss: .mean, precision: .float64, dimension: d, samples: n,
            datasets: [Dataset(x: .double(x), y: .double(y), wStar: nil)], replicas: replicas,
            initialLayers: [.double(layer), .double(layer)])
    }

    /// Replays the gradient an engine saw from its current state (same data, float64).
    static func gradient(_ x: [Double], _ y: [Double], n: Int, d: Int, w: [Double]) -> [Double] {
        let r = zip(Dense.multiply(x, n, d, w), y).map { $0 - $1 }
        return Dense.multiplyTransposed(x, n, d, r).map { $0 / Double(n) }
    }
}

extension FlowTheoryTests {
    typealias Side = TheoryTests.Side

    static func flowBatch(
        _ x: [Double], _ y: [Double], n: Int, d: Int, alphas: [Double], lambda: Double = 0,
        model: Parameterization = .pm, layers: [[Double]]? = nil, representation: Representation? = nil,
        rtol: Double = 1e-10, atol: Double = 1e-12, precision: Precision = .float64,
        configure: (inout FlowSettings) -> Void = { _ in }
    ) throws -> Batch {
        let replicas = alphas.enumerated().map {
            Replica(gridPoint: $0, seed: 0, dataset: 0, alpha: $1, lambda: lambda, lambdaU: lambda, eta: 0.01)
        }
        let initial =
            layers ?? [
                alphas.flatMap { [Double](repeating: $0, count: d) },
                alphas.flatMap { [Double](repeating: $0, count: d) }
            ]
        var settings = FlowSettings(rtol: rtol, atol: atol)
        configure(&settings)
        var log: LogLayers? = nil
        if layers == nil && model == .pm {  // exact ln α, whatever the precision
            let m = alphas.flatMap { [Double](repeating: Foundation.log($0), count: d) }
            log = LogLayers(
                magnitude: [m, m], sign: [[Double]](repeating: [Double](repeating: 1, count: m.count), count: 2))
        }
        return try Batch(
            parameterization: model, update: .flow, loss: .mean, precision: precision, dimension: d, samples: n,
            datasets: [
                Dataset(x: RealArray(x, precision: precision), y: RealArray(y, precision: precision), wStar: nil)
            ],
            replicas: replicas, initialLayers: initial.map { RealArray($0, precision: precision) },
            representation: representation, flow: settings, logInitial: log)
    }
}
