import DLNModel
import DLNRun
import DLNTheory
import Foundation
import TestSupport
import Testing

/// The integrator's pieces on the CPU engine: the e^x − 1 twin, the log representation at scales that underflow
/// the layers, the multiplicative update in ρ, and the outputs of a flow run.
@Suite struct FlowTests {
    @Test func expm1IsAccurateNearZeroAndFar() {
        for x in [-1e-300, -1e-12, -1e-5, -0.1, -0.2499, -0.25, -0.7, -3.0, -40.0] {
            let exact = Foundation.expm1(x)
            #expect(abs(FlowMath.expm1(x) - exact) <= 4 * exact.magnitude.ulp, "x = \(x)")
            let xf = Float(x)
            #expect(
                abs(Double(FlowMath.expm1(xf)) - Foundation.expm1(Double(xf))) <= 4
                    * Double(Float(exact).magnitude.ulp), "x = \(x) (float)")
        }
    }

    @Test func logWeightIsSinh() {
        for (z, lnb, lam, tau) in [
            (0.3, -2.0, 0.0, 0.0), (-1.7, 0.5, 0.1, 3.0), (1e-9, -4.6, 0.0, 0.0), (20.0, -138.0, 0.0, 0.0)
        ] {
            let exact = Foundation.exp(lnb - 2 * lam * tau) * Foundation.sinh(2 * z)
            #expect(
                abs(FlowMath.logWeight(z: z, lnBeta: lnb, lambda: lam, tau: tau) - exact) <= 1e-14 * abs(exact),
                "z = \(z)")
        }
    }

    static func pmBatch(
        alpha: Double, update: UpdateRule, representation: Representation, precision: Precision = .float64,
        lambda: Double = 0
    ) throws -> Batch {
        let (n, d) = (8, 20)
        let rng = CounterRNG(seed: 4)
        let x = (0..<(n * d)).map { rng.gaussian(stream: 1, index: UInt64($0)) }
        let y = (0..<n).map { rng.gaussian(stream: 2, index: UInt64($0)) }
        let layer = [Double](repeating: alpha, count: d)
        let m = [Double](repeating: Foundation.log(alpha), count: d)
        return try Batch(
            parameterization: .pm, update: update, loss: .mean, precision: precision, dimension: d, samples: n,
            datasets: [
                Dataset(x: RealArray(x, precision: precision), y: RealArray(y, precision: precision), wStar: nil)
            ],
            replicas: [
                Replica(gridPoint: 0, seed: 0, dataset: 0, alpha: alpha, lambda: lambda, lambdaU: lambda, eta: 0.05)
            ],
            initialLayers: [RealArray(layer, precision: precision), RealArray(layer, precision: precision)],
            representation: representation,
            flow: precision == .float64 ? FlowSettings(rtol: 1e-9, atol: 1e-12) : FlowSettings(rtol: 1e-6, atol: 1e-8),
            logInitial: LogLayers(
                magnitude: [m, m], sign: [[Double]](repeating: [Double](repeating: 1, count: d), count: 2)))
    }

    /// The multiplicative update in ρ (log representation) is the multiplicative update on the layers, and keeps
    /// u⊙v = α²e^{−2λt} exactly.
    @Test func multiplicativeInLogScaleMatchesTheLayers() throws {
        let a = CPUEngine()
        let b = CPUEngine()
        try a.initialize(try Self.pmBatch(alpha: 0.3, update: .multiplicative, representation: .layers, lambda: 0.01))
        try b.initialize(try Self.pmBatch(alpha: 0.3, update: .multiplicative, representation: .log, lambda: 0.01))
        try a.step(count: 2000)
        try b.step(count: 2000)
        let wa = try a.state().weights.doubles
        let wb = try b.state().weights.doubles
        let scale = wa.map(abs).max()!
        #expect(zip(wa, wb).map { abs($0 - $1) }.max()! < 1e-11 * scale)
        #expect(try b.observe()["conservation"]![0] < 1e-14)
        #expect(try b.flowCounters().evaluations == [2000])
    }

    /// At α = 1e-100 (float64) and α = 1e-50 (float32) the layers underflow to zero; the log representation
    /// still follows the flow: after the search plateau (t ≈ ln(1/α)/‖g‖∞) the loss drops.
    @Test(arguments: [(1e-100, Precision.float64), (1e-50, .float32)])
    func tinyAlphaWorksInLogScale(alpha: Double, precision: Precision) throws {
        let engine = CPUEngine()
        try engine.initialize(try Self.pmBatch(alpha: alpha, update: .flow, representation: .log, precision: precision))
        let start = try engine.observe().trainLoss[0]
        try engine.advance(to: 5)
        #expect(abs(try engine.observe().trainLoss[0] / start - 1) < 1e-6, "still on the plateau")
        try engine.advance(to: 4000)
        let end = try engine.observe().trainLoss[0]
        print(
            "α = \(alpha) \(precision.rawValue): loss \(start) → \(end), evaluations "
                + "\(try engine.flowCounters().evaluations)"
        )
        #expect(end < 1e-3 * start)
        #expect(try engine.flowCounters().status == [0])
    }

    /// A flow run writes evaluations.npy, rejected.npy and status.npy, and the manifest's flow section.
    @Test func flowRunOutputs() throws {
        let yaml = """
            problem: {d: 20, n: 10}
            training: {update: flow, horizon: 50, precision: float64, flow: {rtol: 1e-8, atol: 1e-10}}
            grid: {alpha: [0.01, 1]}
            seeds: 3
            record: {checkpoints: 6, start: 0.1}
            """
        let experiment = try Experiment(try Configuration.parse(yaml: yaml))
        let result = try Simulation.run(experiment, on: CPUEngine())
        #expect(experiment.times[0] == Experiment.timeSchedule(horizon: 50, first: 0.1, count: 6))
        #expect(result.evaluations.count == 7 && result.evaluations[0].allSatisfy { $0 == 0 })
        #expect(zip(result.evaluations[5], result.evaluations[6]).allSatisfy { $0 < $1 })
        #expect(result.status == [Int](repeating: 0, count: 6))
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("dlnsim-flow-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try RunOutput.write(result, experiment: experiment, to: dir)
        let evaluations = try NPY.read(path: dir + "/evaluations.npy")
        #expect(evaluations.shape == [2, 3, 7])
        #expect(try NPY.read(path: dir + "/status.npy").shape == [2, 3])
        let manifest =
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/manifest.json")))
            as! [String: Any]
        let flow = try #require(manifest["flow"] as? [String: Any])
        #expect(flow["rtol"] as? Double == 1e-8 && (manifest["frozen_replicas"] as? [Any])?.isEmpty == true)
    }
}
