import DLNDevice
import DLNModel
import DLNRun
import DLNTheory
import OpenCLKit
import TestSupport
import Testing

/// The CPU engine and the OpenCL engine run the same operations in the same order: on PoCL and Oclgrind their states
/// are bit-identical (0 ULP). Elsewhere (GPUs) the distance is reported. Canaries past every output buffer
/// must stay untouched.
@Suite(.serialized, .needsOpenCL) struct EquivalenceTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var d: Int, n: Int, B: Int, steps: Int
        var model: Parameterization = .pm, update: UpdateRule = .gd, depth = 2
        var precision: Precision = .float32, sharing: DataSharing = .shared
        var lambda: [Double] = [0], loss: LossNormalization = .mean, eta = 0.02
        /// `training.summation` (auto: strided for independent data in the products form).
        var summation: Configuration.SummationChoice = .auto
        var testDescription: String {
            "d=\(d) n=\(n) B=\(B) \(model.rawValue)\(model.isDeep ? "\(depth)" : "") \(update.rawValue) "
                + "\(precision.rawValue) \(sharing.rawValue) λ=\(lambda) \(loss.rawValue) ×\(steps)"
                + (summation == .auto ? "" : " \(summation.rawValue)")
        }
    }

    static let cases: [Case] = [
        // Awkward sizes, B = 1, 37, 256; at least 1000 steps on each precision and model.
        Case(d: 1, n: 1, B: 1, steps: 1000),
        Case(d: 7, n: 3, B: 37, steps: 1000, sharing: .independent),
        Case(d: 37, n: 3, B: 37, steps: 1000, precision: .float64, lambda: [0, 0.01]),
        Case(d: 37, n: 1, B: 1, steps: 1000, model: .uv, precision: .float64),
        Case(d: 7, n: 3, B: 37, steps: 1000, model: .uv, sharing: .independent, lambda: [0.001]),
        Case(d: 37, n: 3, B: 37, steps: 1000, model: .deep, depth: 3, lambda: [0, 0.001]),
        Case(d: 7, n: 3, B: 37, steps: 1000, model: .deep, depth: 3, precision: .float64, sharing: .independent),
        Case(d: 37, n: 3, B: 37, steps: 1000, model: .deepPM, depth: 3, lambda: [0, 0.001]),
        Case(d: 7, n: 3, B: 37, steps: 1000, model: .deepPM, depth: 2, precision: .float64, sharing: .independent),
        Case(d: 37, n: 3, B: 37, steps: 1000, update: .multiplicative, lambda: [0, 0.01]),
        Case(
            d: 37, n: 3, B: 37, steps: 1000, update: .multiplicative, precision: .float64, sharing: .independent,
            lambda: [0.01]),
        Case(d: 7, n: 1, B: 37, steps: 1000, loss: .sum),
        Case(d: 500, n: 250, B: 256, steps: 20, sharing: .independent),
        Case(d: 500, n: 250, B: 256, steps: 20, update: .multiplicative, lambda: [0.001]),
        Case(d: 500, n: 250, B: 37, steps: 20, model: .uv, precision: .float64),
        Case(
            d: 500, n: 3, B: 256, steps: 200, model: .deep, depth: 4, precision: .float64, lambda: [0.0001], eta: 0.0005
        ),
        Case(d: 37, n: 250, B: 37, steps: 200, precision: .float64, sharing: .independent)
    ]

    /// Small and awkward (B = 17, 33: not multiples of 16; d = 1, 7, 37), every family, update and precision, the
    /// products and the Gram form (n > d/2), 70 steps (the tiled kernel's launches of 32 steps and a remainder):
    /// what scripts/oclgrind.sh runs on Oclgrind (`DLNSIM_TEST_DEVICE=oclgrind`), in seconds on PoCL.
    static let smallCases: [Case] = [
        Case(d: 1, n: 1, B: 17, steps: 70),
        Case(d: 7, n: 3, B: 34, steps: 70, sharing: .independent, lambda: [0, 0.01]),
        Case(d: 37, n: 11, B: 17, steps: 40, model: .uv, precision: .float64, lambda: [0.001]),
        Case(d: 7, n: 5, B: 17, steps: 70, model: .uv, sharing: .independent),
        Case(d: 37, n: 20, B: 34, steps: 40, model: .deep, depth: 3, lambda: [0, 0.001]),
        Case(d: 7, n: 3, B: 17, steps: 70, model: .deep, depth: 3, precision: .float64, sharing: .independent),
        Case(d: 37, n: 20, B: 34, steps: 40, model: .deepPM, depth: 3, lambda: [0, 0.001]),
        Case(d: 7, n: 3, B: 17, steps: 70, model: .deepPM, depth: 2, precision: .float64, sharing: .independent),
        Case(d: 37, n: 11, B: 33, steps: 40, update: .multiplicative, lambda: [0.01]),
        Case(d: 7, n: 5, B: 17, steps: 70, update: .multiplicative, precision: .float64, sharing: .independent),
        Case(d: 37, n: 3, B: 33, steps: 40, precision: .float64, loss: .sum)
    ]

    @Test(arguments: smallCases.filter { $0.precision == .float32 }, KernelShape.allCases)
    func smallSizesAgree(_ c: Case, shape: KernelShape) throws { try agree(c, shape: shape) }

    @Test(.needsFP64, arguments: smallCases.filter { $0.precision == .float64 }, KernelShape.allCases)
    func smallSizesAgreeInFloat64(_ c: Case, shape: KernelShape) throws { try agree(c, shape: shape) }

    /// Independent data stepped one replica at a time (replica_v16.cl), forced on the small sizes where the size rule
    /// would not choose it: every family and update it serves, the products and the Gram form, launches of 256 steps and a
    /// remainder (300 steps), d = 1, 7, 37, 200 (strips of 128, 64 and 16 coordinates). scripts/oclgrind.sh runs them on Oclgrind.
    static let replicaCases: [Case] =
        smallCases.filter { $0.sharing == .independent } + [
            Case(d: 1, n: 1, B: 17, steps: 300, sharing: .independent),  // launches of 256 steps and a remainder
            Case(d: 37, n: 20, B: 34, steps: 40, model: .deepPM, depth: 3, sharing: .independent, lambda: [0, 0.001]),
            Case(d: 200, n: 20, B: 3, steps: 40, sharing: .independent, lambda: [0.001]),  // strips of 128, 64, 16
            Case(d: 37, n: 11, B: 33, steps: 40, update: .multiplicative, sharing: .independent, lambda: [0.01])
        ]

    /// The pair kernels (neighbouring blocks that share a data set), forced on: by default a CPU device with 8-wide
    /// vectors (AVX2) runs single blocks.
    @Test(arguments: smallCases.filter { $0.sharing == .shared && $0.B >= 32 && $0.precision == .float32 })
    func pairKernelsAgree(_ c: Case) throws { try agree(c, shape: .vector16, pairTiles: true) }

    /// Shared data stepped one block per work-item through launches of up to 256 steps (dln_block_steps_v16), forced
    /// on: every family and update it serves in the products form (d ≥ 2n), d = 2, 7, 37, 38 (remainders of the
    /// four-row and four-coordinate loops after the six-wide passes from panels), B not a multiple of 16 (padding lanes
    /// not updated), float64 in halves of eight lanes with n = 13 (two row panels).
    static let blockCases: [Case] =
        smallCases.filter { $0.sharing == .shared && $0.d >= 2 * $0.n } + [
            Case(d: 2, n: 1, B: 17, steps: 300, model: .uv, lambda: [0.001]),  // launches of 256 and 44 steps
            Case(d: 7, n: 3, B: 17, steps: 70, model: .uv),
            Case(d: 38, n: 9, B: 34, steps: 40, model: .deep, depth: 3, lambda: [0, 0.001]),
            Case(d: 37, n: 6, B: 34, steps: 40, model: .deepPM, depth: 3, lambda: [0, 0.001]),
            Case(d: 7, n: 2, B: 17, steps: 70, update: .multiplicative, precision: .float64),
            Case(d: 38, n: 13, B: 17, steps: 40, precision: .float64, lambda: [0.001])
        ]

    @Test(arguments: blockCases.filter { $0.precision == .float32 })
    func blockStepsAgree(_ c: Case) throws { try agree(c, shape: .vector16, blockSteps: true) }

    @Test(.needsFP64, arguments: blockCases.filter { $0.precision == .float64 })
    func blockStepsAgreeInFloat64(_ c: Case) throws { try agree(c, shape: .vector16, blockSteps: true) }

    /// The ascending order (dln_replica_steps_v16), asked for: independent data in the products form default to strided.
    static let ascendingReplicaCases = replicaCases.map { c in
        var c = c
        c.summation = .ascending
        return c
    }

    @Test(arguments: ascendingReplicaCases.filter { $0.precision == .float32 })
    func replicaStepsAgree(_ c: Case) throws { try agree(c, shape: .vector16, replicaSteps: true) }

    @Test(.needsFP64, arguments: ascendingReplicaCases.filter { $0.precision == .float64 })
    func replicaStepsAgreeInFloat64(_ c: Case) throws { try agree(c, shape: .vector16, replicaSteps: true) }

    /// The strided summation order on every shape (dln_replica_strided_v16 on vector16, dln_residual with strided = 1 and the
    /// tiled kernel's DLN_STRIDED residual elsewhere): the independent-data cases in the products form, where it is
    /// the default, d = 1, 7, 37, 200, launches of 256 steps and a remainder, and shared data asked to be strided
    /// (every replica then steps alone from its own copy).
    static let stridedCases: [Case] =
        replicaCases.filter { $0.d >= 2 * $0.n } + [
            Case(d: 37, n: 11, B: 33, steps: 40, sharing: .shared, lambda: [0.01], summation: .strided),
            Case(d: 7, n: 3, B: 17, steps: 300, model: .uv, precision: .float64, summation: .strided)
        ]

    @Test(arguments: stridedCases.filter { $0.precision == .float32 }, KernelShape.allCases)
    func stridedOrderAgrees(_ c: Case, shape: KernelShape) throws { try agree(c, shape: shape, strided: true) }

    @Test(.needsFP64, arguments: stridedCases.filter { $0.precision == .float64 }, KernelShape.allCases)
    func stridedOrderAgreesInFloat64(_ c: Case, shape: KernelShape) throws {
        try agree(c, shape: shape, strided: true)
    }

    /// Bit patterns, every NaN counted as one (the sign of the device's NAN is implementation-defined).
    static func bits(_ values: [Double]) -> [UInt64] { values.map { $0.isNaN ? Double.nan.bitPattern : $0.bitPattern } }

    @Test(arguments: cases.filter { $0.precision == .float32 }, KernelShape.allCases)
    func cpuAndOpenCLAgree(_ c: Case, shape: KernelShape) throws { try agree(c, shape: shape) }

    @Test(.needsFP64, arguments: cases.filter { $0.precision == .float64 }, KernelShape.allCases)
    func cpuAndOpenCLAgreeInFloat64(_ c: Case, shape: KernelShape) throws { try agree(c, shape: shape) }

    func agree(
        _ c: Case, shape: KernelShape, replicaSteps: Bool? = nil, pairTiles: Bool? = nil, blockSteps: Bool? = nil,
        strided: Bool = false
    ) throws {
        let device = try DeviceFixture.device(fp64: c.precision == .float64)
        let points = c.lambda.count
        let B = (c.B / points) * points
        let alpha: [Double] = c.model.isDeep ? [0.7] : [0.3]
        let batch = try makeBatch(
            d: c.d, n: c.n, replicas: B, model: c.model, update: c.update, depth: c.depth,
            precision: c.precision, sharing: c.sharing, lambda: c.lambda,
            eta: [c.model.isDeep ? min(c.eta, 0.01) : c.eta],
            alpha: alpha, loss: c.loss, noise: 0.1
        ) { $0.training.summation = c.summation }
        if strided { #expect(batch.summation == .strided, "the case should sum in the strided order") }
        let cpu = CPUEngine()
        let gpu = try OpenCLEngine(
            device: device, shape: shape, replicaSteps: replicaSteps, pairTiles: pairTiles, blockSteps: blockSteps)
        try cpu.initialize(batch)
        try gpu.initialize(batch)
        if replicaSteps == true || strided && shape == .vector16 {
            #expect(gpu.stepsReplicasAlone, "the batch should step one replica at a time")
        }
        if c.sharing == .shared && batch.summation == .ascending {
            #expect(!gpu.stepsReplicasAlone, "shared data step in blocks")
        }
        if blockSteps == true { #expect(gpu.stepsBlocksAlone, "the batch should step one block per work-item") }
        // Two chunks with an observation between them: observing must not perturb the trajectory.
        try cpu.step(count: c.steps / 2)
        try gpu.step(count: c.steps / 2)
        let mid = (try cpu.observe(), try gpu.observe())
        try cpu.step(count: c.steps - c.steps / 2)
        try gpu.step(count: c.steps - c.steps / 2)
        let (a, b) = (try cpu.state(), try gpu.state())
        let ulp = maxULP(a, b)
        let end = (try cpu.observe(), try gpu.observe())
        #expect(end.0.names == end.1.names && end.0.names.count == Observable.allCases.count + 6)
        let exact = DeviceFixture.bitExact(device)
        let alone =
            gpu.stepsReplicasAlone ? " one replica at a time" : gpu.stepsBlocksAlone ? " one block per work-item" : ""
        print(
            "equivalence \(c.testDescription), \(batch.summation.rawValue) order, \(shape.rawValue) kernels\(alone): "
                + "max ULP \(ulp) on \(device.name)")
        #expect(a.weights.doubles.allSatisfy { $0.isFinite }, "the trajectory diverged; pick a smaller step")
        if exact {
            #expect(ulp == 0)
            // Every observable (train loss, test error, overlaps, norms, supports, conservation) bit for bit.
            for (k, name) in end.0.names.enumerated() {
                #expect(Self.bits(mid.0.values[k]) == Self.bits(mid.1.values[k]), "\(name)")
                #expect(Self.bits(end.0.values[k]) == Self.bits(end.1.values[k]), "\(name)")
            }
        } else {
            #expect(ulp < 1 << 20)
        }
        #expect(try gpu.canariesIntact())
    }
}
