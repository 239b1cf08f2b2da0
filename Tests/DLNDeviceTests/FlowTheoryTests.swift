import DLNDevice
import DLNModel
import DLNRun
import DLNTheory
import Foundation
import TestSupport
import Testing

/// The gradient-flow integrator (update flow) against the oracles of docs/model.md §8 at the integrator's tolerance,
/// on the CPU engine and on OpenCL: the whitened closed form, conservation laws and mirror invariants, the
/// implicit bias, and saddle to saddle at α = 1e-30.
/// The quick checks (seconds) are here; the long oracle runs are in OracleTests (`swift test --filter OracleTests`).
@Suite(.serialized) struct FlowTheoryTests {

    /// O7 at the integrator's tolerance: on a diagonal design every coordinate follows the closed form to 1e-8
    /// (rtol 1e-10), in the log representation and on the layers, for α from 0.1 down to 1e-4.
    @Test(arguments: [Representation.log, .layers]) func whitenedClosedFormOnCPU(representation: Representation) throws
    {
        try whitenedClosedForm(side: .cpu, representation: representation)
    }
    @Test(.needsFP64, arguments: [Representation.log, .layers]) func whitenedClosedFormOnOpenCL(
        representation: Representation
    ) throws {
        try whitenedClosedForm(side: .opencl, representation: representation)
    }
    func whitenedClosedForm(side: Side, representation: Representation) throws {
        let engine = try TheoryTests.engine(side, fp64: true)
        let d = 6
        let scales: [Double] = (0..<d).map { (j: Int) -> Double in 0.5 + 0.2 * Double(j) }
        let (x, _, _) = TheoryTests.instance(n: d, d: d, seed: 5, diagonal: scales)
        let targets: [Double] = (0..<d).map { (j: Int) -> Double in j % 2 == 0 ? 1.0 + 0.1 * Double(j) : -0.7 }
        let y: [Double] = (0..<d).map { (j: Int) -> Double in x[j * d + j] * targets[j] }
        let alphas = [0.1, 1e-2, 1e-4]
        try engine.initialize(try Self.flowBatch(x, y, n: d, d: d, alphas: alphas, representation: representation))
        var worst = 0.0
        for t in [0.5, 3.0, 12.0, 40.0] {
            try engine.advance(to: t)
            let w = try engine.state().weights.doubles
            for (k, alpha) in alphas.enumerated() {
                for j in 0..<d {
                    worst = max(
                        worst,
                        abs(w[k * d + j] - ClosedForm.whitened(t: t, s: scales[j], target: targets[j], alpha: alpha)))
                }
            }
        }
        let counters = try engine.flowCounters()
        print(
            "O7 flow \(side) \(representation.rawValue): max |w − closed form| = \(worst), evaluations "
                + "\(counters.evaluations), rejected \(counters.rejected)"
        )
        #expect(worst < 1e-8)
        #expect(counters.status.allSatisfy { $0 == 0 })
    }

    /// O1, O3, O13 at the integrator's tolerance (rtol 1e-13): the two-layer conservation laws with weight decay
    /// (P1 u⊙v = α²e^{−2λt} on the layers, P2 u² − v² ∝ e^{−2λt}), the depth-3 laws (u_j² − u_k² constant), the
    /// P1 mirror invariant ρ ∈ range(Xᵀ), and the deep mirror invariant ∇𝒬(θ(t)) − ∇𝒬(θ₀) ∈ range(Xᵀ)
    /// (gradient descent misses it by O(η), TheoryTests.deepMirrorInvariant).
    @Test func conservationAndMirrorInvariantsOnCPU() throws { try conservationAndMirrorInvariants(side: .cpu) }
    @Test(.needsFP64) func conservationAndMirrorInvariantsOnOpenCL() throws {
        try conservationAndMirrorInvariants(side: .opencl)
    }
    func conservationAndMirrorInvariants(side: Side) throws {
        let engine = try TheoryTests.engine(side, fp64: true)
        let (n, d) = (12, 30)
        let (x, y, _) = TheoryTests.instance(n: n, d: d, seed: 31)
        let rng = CounterRNG(seed: 9)
        // P1 on the layers, with weight decay.
        try engine.initialize(
            try Self.flowBatch(
                x, y, n: n, d: d, alphas: [0.4], lambda: 0.01, representation: .layers, rtol: 1e-13, atol: 1e-15))
        try engine.advance(to: 30)
        let pm = try #require(try engine.observe()["conservation"]?.first)
        let state = try engine.state()
        let rho = zip(state.layers[0].doubles, state.layers[1].doubles).map { 0.5 * Foundation.log($0 / $1) }
        let rhoOff = try #require(DeepMirror.distanceFromRowSpace(rho, x: x, n: n, d: d)) / Dense.norm(rho)
        // P2 from a random unbalanced start, with weight decay.
        let u0 = (0..<d).map { 0.3 * (1 + 0.2 * rng.gaussian(stream: 1, index: UInt64($0))) }
        let v0 = (0..<d).map { 0.1 * rng.gaussian(stream: 2, index: UInt64($0)) }
        try engine.initialize(
            try Self.flowBatch(
                x, y, n: n, d: d, alphas: [0.3], lambda: 0.01, model: .uv, layers: [u0, v0],
                representation: .layers, rtol: 1e-13, atol: 1e-15))
        try engine.advance(to: 30)
        let uv = try #require(try engine.observe()["conservation"]?.first)
        // Depth 3, generic positive layers.
        let scales = [0.6, 0.8, 1.1]
        let layers = scales.enumerated().map { l, s in
            (0..<d).map { s * (1 + 0.1 * rng.gaussian(stream: UInt32(10 + l), index: UInt64($0))) }
        }
        try engine.initialize(
            try Self.flowBatch(x, y, n: n, d: d, alphas: [1], model: .deep, layers: layers, rtol: 1e-13, atol: 1e-15))
        try engine.advance(to: 4)
        let deep = try #require(try engine.observe()["conservation"]?.first)
        let deepState = try engine.state()
        let displacement = DeepMirror.displacement(initial: layers, current: deepState.layers.map(\.doubles))
        let deepOff =
            try #require(DeepMirror.distanceFromRowSpace(displacement, x: x, n: n, d: d)) / Dense.norm(displacement)
        print(
            "O1/O3/O13 flow \(side): conservation pm \(pm), uv \(uv), deep \(deep); ρ off range(Xᵀ) \(rhoOff); deep "
                + "displacement off range(Xᵀ) \(deepOff)"
        )
        #expect(pm < 1e-12 && uv < 1e-12 && deep < 1e-12)
        #expect(rhoOff < 1e-12 && deepOff < 1e-11)
    }

    /// Bad input and trouble: tolerances out of range are refused; a replica whose state overflows, one that
    /// exceeds max_steps and one whose step falls below min_step are frozen and flagged with their time, while
    /// the others run to the end.
    @Test func troubleIsFlaggedPerReplicaOnCPU() throws { try troubleIsFlaggedPerReplica(side: .cpu) }
    @Test(.needsFP64) func troubleIsFlaggedPerReplicaOnOpenCL() throws { try troubleIsFlaggedPerReplica(side: .opencl) }
    func troubleIsFlaggedPerReplica(side: Side) throws {
        let (n, d) = (5, 8)
        let (x, y, _) = TheoryTests.instance(n: n, d: d, seed: 3)
        for (rtol, atol) in [(0.0, 1e-9), (1e-6, -1.0), (2.0, 1e-9), (Double.nan, 1e-9)] {
            #expect(throws: DLNError.self) {
                try Self.flowBatch(x, y, n: n, d: d, alphas: [0.1], rtol: rtol, atol: atol)
            }
        }
        let engine = try TheoryTests.engine(side, fp64: true)
        // Two data sets: replica 1 sees a design of 1e200 (its gradients overflow), replica 0 a normal one.
        let huge = x.map { $0 * 1e200 }
        let replicas = [0, 1].map {
            Replica(gridPoint: $0, seed: 0, dataset: $0, alpha: 0.1, lambda: 0, lambdaU: 0, eta: 0.01)
        }
        let layer = [Double](repeating: 0.1, count: 2 * d)
        let batch = try Batch(
            parameterization: .pm, update: .flow, loss: .mean, precision: .float64, dimension: d, samples: n,
            datasets: [
                Dataset(x: .double(x), y: .double(y), wStar: nil), Dataset(x: .double(huge), y: .double(y), wStar: nil)
            ],
            replicas: replicas, initialLayers: [.double(layer), .double(layer)])
        try engine.initialize(batch)
        let start = try engine.observe().trainLoss[0]
        try engine.advance(to: 10)
        let c = try engine.flowCounters()
        print("flow trouble \(side): status \(c.status), frozen at \(c.frozenAt), evaluations \(c.evaluations)")
        #expect(c.status == [0, 2])
        #expect(c.frozenAt[0].isNaN && c.frozenAt[1] < 10)
        #expect(try engine.observe().trainLoss[0] < 1e-2 * start, "the healthy replica ran on")
        // On the layers, the same replica's first derivative is already infinite: frozen at t = 0, no hang.
        let onLayers = try Batch(
            parameterization: .pm, update: .flow, loss: .mean, precision: .float64, dimension: d, samples: n,
            datasets: batch.datasets, replicas: replicas, initialLayers: [.double(layer), .double(layer)],
            representation: .layers)
        try engine.initialize(onLayers)
        try engine.advance(to: 10)
        let l = try engine.flowCounters()
        #expect(l.status == [0, 2] && l.frozenAt[1] == 0)
        try engine.initialize(try Self.flowBatch(x, y, n: n, d: d, alphas: [0.1, 0.2]) { $0.maxSteps = 5 })
        try engine.advance(to: 100)
        #expect(try engine.flowCounters().status == [3, 3])
        try engine.initialize(
            try Self.flowBatch(x, y, n: n, d: d, alphas: [0.1], rtol: 1e-12, atol: 1e-14) { $0.minStep = 0.5 })
        try engine.advance(to: 100)
        let collapsed = try engine.flowCounters()
        #expect(collapsed.status == [1] && collapsed.frozenAt[0] < 100)
    }
}
