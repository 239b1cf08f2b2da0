import DLNDevice
import DLNModel
import DLNRun
import OpenCLKit
import TestSupport
import Testing

/// The curvature observables (Kernels/curvature.cl) on the device and on the CPU twin (CPU/Curvature.swift): the
/// Lanczos rows are the same bits, so `sharpness` and `pl_constant` are too, for every family, both precisions,
/// shared and independent data, the mean and the sum loss, with weight decay, the products and the Gram form, in
/// every kernel shape. `smallSizes` is what scripts/oclgrind.sh runs on Oclgrind.
@Suite(.serialized, .needsOpenCL) struct CurvatureEquivalenceTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var d: Int, n: Int, B: Int, steps: Int
        var model: Parameterization = .pm, depth = 2
        var precision: Precision = .float32, sharing: DataSharing = .shared
        var lambda: [Double] = [0], loss: LossNormalization = .mean, iterations = 20
        var testDescription: String {
            "d=\(d) n=\(n) B=\(B) \(model.rawValue)\(model.isDeep ? "\(depth)" : "") \(precision.rawValue) "
                + "\(sharing.rawValue) λ=\(lambda) \(loss.rawValue) ×\(steps), \(iterations) Lanczos steps"
        }
    }

    static let smallCases: [Case] = [
        Case(d: 1, n: 1, B: 17, steps: 30),
        Case(d: 7, n: 3, B: 34, steps: 30, sharing: .independent, lambda: [0, 0.01]),
        Case(d: 12, n: 9, B: 17, steps: 30, precision: .float64, loss: .sum),  // n > d/2: the Gram form
        Case(d: 9, n: 5, B: 17, steps: 30, model: .uv, precision: .float64, sharing: .independent, lambda: [0.001]),
        Case(d: 7, n: 5, B: 17, steps: 30, model: .uv),
        Case(d: 11, n: 4, B: 34, steps: 30, model: .deep, depth: 3, lambda: [0, 0.001]),
        Case(d: 7, n: 3, B: 17, steps: 30, model: .deep, depth: 3, precision: .float64, sharing: .independent),
        Case(d: 11, n: 4, B: 17, steps: 30, model: .deepPM, depth: 3, lambda: [0.001], iterations: 5),
        Case(d: 7, n: 3, B: 17, steps: 30, model: .deepPM, depth: 2, precision: .float64, sharing: .independent)
    ]

    @Test(arguments: smallCases.filter { $0.precision == .float32 }, KernelShape.allCases)
    func smallSizesAgree(_ c: Case, shape: KernelShape) throws { try agree(c, shape: shape) }

    @Test(.needsFP64, arguments: smallCases.filter { $0.precision == .float64 }, KernelShape.allCases)
    func smallSizesAgreeInFloat64(_ c: Case, shape: KernelShape) throws { try agree(c, shape: shape) }

    func agree(_ c: Case, shape: KernelShape) throws {
        let device = try DeviceFixture.device(fp64: c.precision == .float64)
        let points = c.lambda.count
        let B = (c.B / points) * points
        let batch = try makeBatch(
            d: c.d, n: c.n, replicas: B, model: c.model, depth: c.depth, precision: c.precision, sharing: c.sharing,
            lambda: c.lambda, eta: [0.01], alpha: [c.model.isDeep ? 0.7 : 0.3], loss: c.loss
        ) { config in
            config.record.sharpness = c.iterations
            config.record.plConstant = c.iterations
        }
        let cpu = CPUEngine()
        let gpu = try OpenCLEngine(device: device, shape: shape)
        try cpu.initialize(batch)
        try gpu.initialize(batch)
        var observations = [(try cpu.observe(), try gpu.observe())]
        try cpu.step(count: c.steps)
        try gpu.step(count: c.steps)
        observations.append((try cpu.observe(), try gpu.observe()))
        let exact = DeviceFixture.bitExact(device)
        for (a, b) in observations {
            #expect(a.names == b.names && a.names.suffix(2) == ["sharpness", "pl_constant"])
            for name in ["sharpness", "pl_constant"] {
                let k = a.names.firstIndex(of: name)!
                #expect(a.values[k].allSatisfy { $0.isFinite && $0 > 0 }, "\(name): \(a.values[k].prefix(4))")
                if exact {
                    #expect(EquivalenceTests.bits(a.values[k]) == EquivalenceTests.bits(b.values[k]), "\(name)")
                } else {
                    let worst = zip(a.values[k], b.values[k]).map { abs($0 - $1) / max(abs($0), 1e-300) }.max() ?? 0
                    #expect(worst < 1e-3, "\(name): relative difference \(worst)")
                }
            }
            // The other observables are unchanged by the curvature kernels.
            #expect(EquivalenceTests.bits(a.values[0]) == EquivalenceTests.bits(b.values[0]) || !exact)
        }
        print(
            "curvature \(c.testDescription), \(shape.rawValue) kernels: sharpness \(observations[1].0.values[16][0]), "
                + "pl_constant \(observations[1].0.values[17][0]) on \(device.name)")
        #expect(try gpu.canariesIntact())
    }
}
