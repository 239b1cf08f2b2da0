import DLNDevice
import DLNModel
import DLNRun
import OpenCLKit
import TestSupport
import Testing

/// Momentum (heavy ball and Nesterov) on both engines: bit-identical on PoCL and Oclgrind in every kernel shape, with
/// gd and sgd; β = 0 is gradient descent bit for bit; a restored snapshot (the buffers are part of the state)
/// continues bit for bit.
@Suite(.serialized) struct MomentumTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var d: Int, n: Int, seeds: Int, steps: Int
        var model: Parameterization = .pm, update: UpdateRule = .gd, nesterov = false
        var precision: Precision = .float32, sharing: DataSharing = .shared
        var momentum: [Double] = [0.9], labelNoise = 0.0
        var testDescription: String {
            "d=\(d) n=\(n) \(model.rawValue) \(update.rawValue) \(nesterov ? "nesterov" : "heavy ball") β=\(momentum) "
                + "σℓ=\(labelNoise) \(precision.rawValue) \(sharing.rawValue) ×\(steps)"
        }
    }

    static let smallCases: [Case] = [
        Case(d: 7, n: 5, seeds: 17, steps: 40, momentum: [0, 0.9]),
        Case(d: 7, n: 5, seeds: 17, steps: 40, nesterov: true, sharing: .independent, momentum: [0.5, 0.9]),
        Case(d: 37, n: 11, seeds: 17, steps: 30, model: .uv, update: .sgd, precision: .float64, momentum: [0.8]),
        Case(
            d: 7, n: 20, seeds: 17, steps: 40, model: .deep, update: .sgd, nesterov: true, momentum: [0.7],
            labelNoise: 0.1)
    ]

    static func batch(_ c: Case, seedOffset: Int = 0) throws -> Batch {
        try makeBatch(
            d: c.d, n: c.n, replicas: c.seeds, model: c.model, update: c.update, depth: 3, precision: c.precision,
            sharing: c.sharing, eta: [0.01], alpha: [c.model == .deep ? 0.7 : 0.3], seedOffset: seedOffset
        ) { conf in
            conf.grid.momentum = c.momentum
            conf.training.nesterov = c.nesterov ? .on : .off
            if c.update == .sgd { conf.training.batchSize = 3 }
            conf.training.labelNoise = c.labelNoise
        }
    }

    @Test(.needsOpenCL, arguments: smallCases.filter { $0.precision == .float32 }, KernelShape.allCases)
    func smallSizesAgreeMomentum(_ c: Case, shape: KernelShape) throws { try agree(c, shape: shape) }

    @Test(.needsFP64, arguments: smallCases.filter { $0.precision == .float64 }, KernelShape.allCases)
    func smallSizesAgreeMomentumInFloat64(_ c: Case, shape: KernelShape) throws { try agree(c, shape: shape) }

    func agree(_ c: Case, shape: KernelShape) throws {
        let device = try DeviceFixture.device(fp64: c.precision == .float64)
        let batch = try Self.batch(c)
        #expect(batch.hasMomentum)
        let cpu = CPUEngine()
        let gpu = try OpenCLEngine(device: device, shape: shape)
        try cpu.initialize(batch)
        try gpu.initialize(batch)
        try cpu.step(count: c.steps / 2)
        try gpu.step(count: c.steps / 2)
        let mid = (try cpu.observe(), try gpu.observe())
        try cpu.step(count: c.steps - c.steps / 2)
        try gpu.step(count: c.steps - c.steps / 2)
        let (a, b) = (try cpu.state(), try gpu.state())
        let ulp = maxULP(a, b)
        let snaps = (try cpu.snapshot(), try gpu.snapshot())
        print("momentum \(c.testDescription), \(shape.rawValue): max ULP \(ulp) on \(device.name)")
        #expect(a.weights.doubles.allSatisfy { $0.isFinite })
        if DeviceFixture.bitExact(device) {
            #expect(ulp == 0)
            #expect(snaps.0 == snaps.1, "the momentum buffers differ")
            for k in mid.0.names.indices {
                #expect(EquivalenceTests.bits(mid.0.values[k]) == EquivalenceTests.bits(mid.1.values[k]))
            }
        }
        #expect(snaps.0.buffers.map(\.name).contains("momentum"))
        #expect(try gpu.canariesIntact())
    }

    /// β = 0 (heavy ball and Nesterov, in a batch whose other grid point has β = 0.9, so the momentum kernels run) is
    /// plain gradient descent, resp. SGD, bit for bit; β = 0.9 is not.
    func zeroMomentumIsGD(_ kind: EngineKind) throws {
        for (model, update, nesterov) in [
            (Parameterization.pm, UpdateRule.gd, false), (.uv, .gd, true), (.deep, .sgd, false), (.pm, .sgd, true)
        ] {
            var c = Case(d: 7, n: 5, seeds: 9, steps: 50, model: model, update: update, nesterov: nesterov)
            c.momentum = [0, 0.9]
            let with = try Self.batch(c)
            var plain = c
            plain.momentum = [0]
            plain.nesterov = false
            let without = try Self.batch(plain)
            #expect(with.hasMomentum && !without.hasMomentum)
            var weights: [[Double]] = []
            for batch in [with, without] {
                let engine = try kind.engine()
                try engine.initialize(batch)
                try engine.step(count: c.steps)
                weights.append(try engine.state().weights.doubles)
            }
            let half = 9 * c.d  // the β = 0 grid point comes first
            #expect(Array(weights[0][0..<half]) == Array(weights[1][0..<half]), "\(model) \(update) on \(kind)")
            #expect(Array(weights[0][half...]) != Array(weights[1][0..<half]))
        }
    }

    @Test func zeroMomentumIsGDOnCPU() throws { try zeroMomentumIsGD(.cpu) }
    @Test(.needsOpenCL) func zeroMomentumIsGDOnOpenCL() throws { try zeroMomentumIsGD(.opencl) }

    /// A snapshot restored into a fresh engine continues bit for bit (the momentum buffers travel with it).
    func resumeIsBitIdentical(_ kind: EngineKind) throws {
        let c = Case(d: 9, n: 7, seeds: 20, steps: 40, update: .sgd, nesterov: true, momentum: [0.9])
        let batch = try Self.batch(c)
        let straight = try kind.engine()
        try straight.initialize(batch)
        try straight.step(count: 11)
        let saved = try straight.snapshot()
        try straight.step(count: 29)
        let resumed = try kind.engine()
        try resumed.initialize(batch)
        try resumed.restore(saved, replicas: nil)
        try resumed.step(count: 29)
        #expect(maxULP(try straight.state(), try resumed.state()) == 0, "\(kind)")
        // Without the buffers (zeroed) the continuation differs: they are state.
        var cleared = saved
        for i in cleared.buffers.indices where cleared.buffers[i].name == "momentum" {
            cleared.buffers[i].values = cleared.buffers[i].values.map { _ in 0 }
        }
        let wrong = try kind.engine()
        try wrong.initialize(batch)
        try wrong.restore(cleared, replicas: nil)
        try wrong.step(count: 29)
        #expect(maxULP(try straight.state(), try wrong.state()) > 0)
    }

    @Test func resumeIsBitIdenticalOnCPU() throws { try resumeIsBitIdentical(.cpu) }
    @Test(.needsOpenCL) func resumeIsBitIdenticalOnOpenCL() throws { try resumeIsBitIdentical(.opencl) }
}
