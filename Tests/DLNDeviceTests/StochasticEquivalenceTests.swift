import DLNDevice
import DLNModel
import DLNRun
import OpenCLKit
import TestSupport
import Testing

/// The stochastic steps (update sgd, label noise, gradient noise) on both engines: bit-identical on PoCL and Oclgrind
/// in every kernel shape a run can be given (the stochastic kernels are one shape of their own, but observations use
/// the batch's shape); sequential SGD with b = n is GD bit for bit; a replica's trajectory does not depend on the
/// batch it runs in; a restored snapshot continues bit for bit (mid-epoch, the permutation redrawn).
@Suite(.serialized) struct StochasticEquivalenceTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var d: Int, n: Int, seeds: Int, steps: Int
        var model: Parameterization = .pm, update: UpdateRule = .sgd, depth = 2
        var precision: Precision = .float32, sharing: DataSharing = .shared
        var sampling: Sampling = .withReplacement, batchSizes: [Int] = [1]
        var labelNoise: [Double] = [0], gradientNoise: [Double] = [0]
        var loss: LossNormalization = .mean, eta = 0.02
        var testDescription: String {
            "d=\(d) n=\(n) seeds=\(seeds) \(model.rawValue) \(update.rawValue) \(sampling.rawValue) b=\(batchSizes) "
                + "σℓ=\(labelNoise) T=\(gradientNoise) \(precision.rawValue) \(sharing.rawValue) \(loss.rawValue) ×\(steps)"
        }
    }

    /// Small and awkward (B not a multiple of 16, b not dividing n, several b in one batch): what scripts/oclgrind.sh
    /// runs on Oclgrind, in seconds on PoCL.
    static let smallCases: [Case] = [
        Case(d: 7, n: 5, seeds: 17, steps: 40, batchSizes: [1, 3]),
        Case(
            d: 7, n: 11, seeds: 9, steps: 40, sharing: .independent, sampling: .epochs, batchSizes: [3, 11],
            labelNoise: [0.2]),
        Case(
            d: 37, n: 11, seeds: 17, steps: 30, model: .uv, precision: .float64, sampling: .epochs,
            batchSizes: [4], labelNoise: [0, 0.1], gradientNoise: [1e-4]),
        Case(
            d: 7, n: 5, seeds: 17, steps: 40, model: .deep, depth: 3, sampling: .sequential, batchSizes: [2],
            gradientNoise: [0, 1e-4]),
        Case(
            d: 7, n: 5, seeds: 17, steps: 40, update: .gd, sharing: .independent, labelNoise: [0.3],
            gradientNoise: [1e-4]),
        Case(
            d: 7, n: 5, seeds: 17, steps: 40, precision: .float64, batchSizes: [2], labelNoise: [0.1],
            gradientNoise: [1e-5], loss: .sum),
        // Full-batch GD with noise on shared data: the CPU engine's broadcast path (one row list for the block).
        Case(d: 7, n: 5, seeds: 19, steps: 40, update: .gd, labelNoise: [0, 0.2], gradientNoise: [0, 1e-4])
    ]

    static let cases: [Case] = [
        Case(d: 500, n: 250, seeds: 37, steps: 30, sharing: .independent, batchSizes: [10], labelNoise: [0.1]),
        Case(
            d: 200, n: 100, seeds: 20, steps: 60, model: .uv, precision: .float64, sampling: .epochs,
            batchSizes: [7, 100], gradientNoise: [1e-5])
    ]

    @Test(.needsOpenCL, arguments: smallCases.filter { $0.precision == .float32 }, KernelShape.allCases)
    func smallSizesAgreeStochastic(_ c: Case, shape: KernelShape) throws { try agree(c, shape: shape) }

    @Test(.needsFP64, arguments: smallCases.filter { $0.precision == .float64 }, KernelShape.allCases)
    func smallSizesAgreeStochasticInFloat64(_ c: Case, shape: KernelShape) throws { try agree(c, shape: shape) }

    @Test(.needsOpenCL, arguments: cases.filter { $0.precision == .float32 }, [KernelShape.vector16])
    func cpuAndOpenCLAgreeStochastic(_ c: Case, shape: KernelShape) throws { try agree(c, shape: shape) }

    @Test(.needsFP64, arguments: cases.filter { $0.precision == .float64 }, [KernelShape.scalar])
    func cpuAndOpenCLAgreeStochasticInFloat64(_ c: Case, shape: KernelShape) throws { try agree(c, shape: shape) }

    static func batch(_ c: Case, seedOffset: Int = 0) throws -> Batch {
        try makeBatch(
            d: c.d, n: c.n, replicas: c.seeds, model: c.model, update: c.update, depth: c.depth,
            precision: c.precision, sharing: c.sharing, eta: [c.eta], alpha: [c.model == .deep ? 0.7 : 0.3],
            loss: c.loss, noise: 0.1, seedOffset: seedOffset
        ) { conf in
            conf.training.sampling = c.sampling
            if c.update == .sgd { conf.grid.batchSize = c.batchSizes }
            conf.grid.labelNoise = c.labelNoise
            conf.grid.gradientNoise = c.gradientNoise
        }
    }

    func agree(_ c: Case, shape: KernelShape) throws {
        let device = try DeviceFixture.device(fp64: c.precision == .float64)
        let batch = try Self.batch(c)
        #expect(batch.isStochastic)
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
        let end = (try cpu.observe(), try gpu.observe())
        print(
            "stochastic equivalence \(c.testDescription) B=\(batch.layout.replicas), \(shape.rawValue): max ULP \(ulp) "
                + "on \(device.name)")
        #expect(a.weights.doubles.allSatisfy { $0.isFinite }, "the trajectory diverged; pick a smaller step")
        if DeviceFixture.bitExact(device) {
            #expect(ulp == 0)
            for (k, name) in end.0.names.enumerated() {
                #expect(EquivalenceTests.bits(mid.0.values[k]) == EquivalenceTests.bits(mid.1.values[k]), "\(name)")
                #expect(EquivalenceTests.bits(end.0.values[k]) == EquivalenceTests.bits(end.1.values[k]), "\(name)")
            }
        } else {
            #expect(ulp < 1 << 20)
        }
        #expect(try gpu.canariesIntact())
        // The noise did something: the same batch without it ends elsewhere.
        let quiet = try makeBatch(
            d: c.d, n: c.n, replicas: batch.layout.replicas, model: c.model, update: .gd, depth: c.depth,
            precision: c.precision, sharing: c.sharing, eta: [c.eta], alpha: [c.model == .deep ? 0.7 : 0.3],
            loss: c.loss, noise: 0.1)
        let gd = CPUEngine()
        try gd.initialize(quiet)
        try gd.step(count: c.steps)
        #expect(maxULP(try gd.state(), a) > 0)
    }

    /// `sequential` with b = n is full-batch GD bit for bit, on both engines (the products form in the ascending
    /// summation order: the stochastic kernels have no Gram form and sum in ascending order).
    func sequentialFullBatchIsGD(_ kind: EngineKind, precision: Precision) throws {
        for (model, d, n) in [(Parameterization.pm, 37, 11), (.uv, 7, 5), (.deep, 7, 20)] {
            func make(_ update: UpdateRule) throws -> Batch {
                try makeBatch(
                    d: d, n: n, replicas: 33, model: model, update: update, depth: 3, precision: precision,
                    sharing: .independent, eta: [0.02], alpha: [model == .deep ? 0.7 : 0.3]
                ) { conf in
                    conf.training.sampling = .sequential
                    if update == .sgd { conf.training.batchSize = n }
                }
            }
            let sgd = try make(.sgd)
            // The stochastic kernels' order: ascending.
            let gd = try make(.gd).with(gradientForm: .products, summation: .ascending)
            var states: [EngineState] = []
            var losses: [[Double]] = []
            for batch in [gd, sgd] {
                let engine = try kind.engine(fp64: precision == .float64)
                try engine.initialize(batch)
                try engine.step(count: 50)
                states.append(try engine.state())
                losses.append(try engine.observe().values[0])
            }
            #expect(maxULP(states[0], states[1]) == 0, "\(model) \(precision) on \(kind)")
            #expect(losses[0] == losses[1])
        }
    }

    @Test func sequentialFullBatchIsGDOnCPU() throws {
        try sequentialFullBatchIsGD(.cpu, precision: .float32)
        try sequentialFullBatchIsGD(.cpu, precision: .float64)
    }

    @Test(.needsOpenCL) func sequentialFullBatchIsGDOnOpenCL() throws {
        try sequentialFullBatchIsGD(.opencl, precision: .float32)
    }

    /// A replica's trajectory is the same in a batch of 37 replicas of several grid points and alone (seed offset),
    /// on both engines: its batches and noise are keyed by its seed and the step only.
    func replicaIndependentOfBatch(_ kind: EngineKind) throws {
        for sampling in Sampling.allCases {
            let c = Case(
                d: 9, n: 7, seeds: 37, steps: 45, sharing: .independent, sampling: sampling, batchSizes: [3],
                labelNoise: [0.1], gradientNoise: [1e-4])
            let big = try Self.batch(c)
            let engine = try kind.engine()
            try engine.initialize(big)
            try engine.step(count: c.steps)
            let all = try engine.state()
            let seed = 23
            var one = c
            one.seeds = 1
            let alone = try Self.batch(one, seedOffset: seed)
            let solo = try kind.engine()
            try solo.initialize(alone)
            try solo.step(count: c.steps)
            let w = try solo.state().weights.doubles
            let row = all.weights.doubles[(seed * c.d)..<((seed + 1) * c.d)]
            #expect(Array(row) == w, "\(sampling) on \(kind)")
            #expect(Array(all.weights.doubles[((seed - 1) * c.d)..<(seed * c.d)]) != w)
        }
    }

    @Test func replicaIndependentOfBatchOnCPU() throws { try replicaIndependentOfBatch(.cpu) }
    @Test(.needsOpenCL) func replicaIndependentOfBatchOnOpenCL() throws { try replicaIndependentOfBatch(.opencl) }

    /// A snapshot restored into a fresh engine continues bit for bit, mid-epoch (the permutation cache is not state).
    func resumeIsBitIdentical(_ kind: EngineKind) throws {
        let c = Case(
            d: 9, n: 7, seeds: 20, steps: 40, sharing: .independent, sampling: .epochs, batchSizes: [3],
            labelNoise: [0.1], gradientNoise: [1e-4])
        let batch = try Self.batch(c)
        let straight = try kind.engine()
        try straight.initialize(batch)
        try straight.step(count: 11)
        let saved = try straight.snapshot()
        try straight.step(count: 29)
        let resumed = try kind.engine()
        try resumed.initialize(batch)
        try resumed.step(count: 4)  // a cached permutation of another epoch (tagged with it: redrawn)
        try resumed.restore(saved, replicas: nil)
        try resumed.step(count: 29)
        #expect(maxULP(try straight.state(), try resumed.state()) == 0, "\(kind)")
    }

    @Test func resumeIsBitIdenticalOnCPU() throws { try resumeIsBitIdentical(.cpu) }
    @Test(.needsOpenCL) func resumeIsBitIdenticalOnOpenCL() throws { try resumeIsBitIdentical(.opencl) }
}
