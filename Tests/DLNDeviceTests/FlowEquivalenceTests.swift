import DLNDevice
import DLNModel
import DLNRun
import DLNTheory
import OpenCLKit
import TestSupport
import Testing

/// Gradient flow (update flow: adaptive Dormand–Prince per replica) and the log representation's fixed steps
/// (multiplicative in ρ) on the CPU engine and the OpenCL engine: on PoCL and Oclgrind every layer, w, observable and
/// counter agrees bit for bit, at every checkpoint, for both kernel shapes. Elsewhere (GPUs) only the
/// statuses are compared and the distance is reported.
@Suite(.serialized, .needsOpenCL) struct FlowEquivalenceTests {
    enum Freezes: Sendable { case none, some, all }

    struct Case: CustomTestStringConvertible, Sendable {
        var label: String
        var d: Int, n: Int, B: Int
        var model: Parameterization = .pm, update: UpdateRule = .flow, depth = 2
        var precision: Precision = .float64, sharing: DataSharing = .shared
        var representation: Representation? = nil
        var lambda: [Double] = [0], alpha: [Double] = [0.1], eta = 0.02
        /// Checkpoint times (update flow) or step counts per chunk (fixed steps).
        var times: [Double] = [0.5, 3, 20]
        var steps: [Int] = [150, 350]
        var flow = FlowSettings(rtol: 1e-6, atol: 1e-9)
        /// Replicas expected frozen (status ≠ 0).
        var freezes: Freezes = .none
        var testDescription: String {
            "\(label): d=\(d) n=\(n) B=\(B) \(model.rawValue)\(model.isDeep ? "\(depth)" : "") \(update.rawValue) "
                + "\(precision.rawValue) \(sharing.rawValue) λ=\(lambda) α=\(alpha)"
        }
    }

    static let f32 = FlowSettings(rtol: 1e-4, atol: 1e-6)

    static let cases: [Case] = [
        Case(label: "pm log f64", d: 37, n: 20, B: 36, lambda: [0, 0.01], alpha: [0.1, 1e-30]),
        Case(
            label: "pm log f32", d: 17, n: 11, B: 37, precision: .float32, sharing: .independent, lambda: [0.001],
            flow: f32),
        Case(label: "uv log f64", d: 23, n: 13, B: 36, model: .uv, lambda: [0, 0.01], alpha: [0.3]),
        Case(label: "pm layers f64", d: 19, n: 7, B: 21, representation: .layers, lambda: [0, 0.01, 0.1], alpha: [0.3]),
        Case(
            label: "deep3 f64", d: 13, n: 9, B: 36, model: .deep, depth: 3, lambda: [0.001], alpha: [0.5, 0.7, 1],
            times: [0.5, 3, 10]),
        Case(
            label: "deep3 f32", d: 11, n: 5, B: 19, model: .deep, depth: 3, precision: .float32, sharing: .independent,
            alpha: [0.7], times: [0.5, 3, 10], flow: f32),
        Case(
            label: "multiplicative log f32", d: 37, n: 20, B: 37, update: .multiplicative, precision: .float32,
            representation: .log, lambda: [0.01], alpha: [0.1]),
        Case(
            label: "multiplicative log f64", d: 29, n: 20, B: 34, update: .multiplicative, sharing: .independent,
            representation: .log, lambda: [0, 0.01], alpha: [0.1]),
        Case(label: "pm log f64 large", d: 200, n: 100, B: 40, lambda: [0, 0.01], times: [0.5, 3, 20]),
        // Frozen and finished replicas side by side: a step budget about half the replicas exhaust before t = 20
        // (status 3), and a step floor (status 1); and a first step so large that the state overflows (status 2).
        Case(
            label: "max steps", d: 37, n: 20, B: 37, sharing: .independent, lambda: [0.01], alpha: [0.1],
            times: [1, 20],
            flow: {
                var s = FlowSettings(rtol: 1e-8, atol: 1e-10)
                s.maxSteps = 160
                return s
            }(), freezes: .some),
        Case(
            label: "step floor", d: 37, n: 20, B: 37, sharing: .independent, lambda: [0.01], alpha: [0.1],
            times: [1, 20],
            flow: {
                var s = FlowSettings(rtol: 1e-8, atol: 1e-10)
                s.minStep = 0.03
                s.initialStep = 0.05
                return s
            }(), freezes: .some),
        Case(
            label: "overflow", d: 37, n: 20, B: 21, sharing: .independent, alpha: [0.1], times: [1, 20],
            flow: {
                var s = FlowSettings()
                s.initialStep = 1e6
                s.minStep = 2e5
                return s
            }(), freezes: .all)
    ]

    /// Small and awkward (B = 17, 33; d = 1, 7, 37), every family, both representations, both precisions, the
    /// products and the Gram form: what scripts/oclgrind.sh runs on Oclgrind, in seconds on PoCL.
    static let smallCases: [Case] = [
        Case(label: "pm log f64", d: 7, n: 5, B: 34, lambda: [0, 0.01], times: [0.1, 0.2]),
        Case(
            label: "uv log f32", d: 37, n: 11, B: 17, model: .uv, precision: .float32, sharing: .independent,
            alpha: [0.3], times: [0.1, 0.2], flow: f32),
        Case(
            label: "pm layers f32", d: 1, n: 1, B: 17, precision: .float32, representation: .layers, times: [0.1, 0.2],
            flow: f32),
        Case(
            label: "deep3 f64", d: 7, n: 3, B: 33, model: .deep, depth: 3, sharing: .independent, alpha: [0.7],
            times: [0.1, 0.2]),
        Case(
            label: "deep_pm3 f64", d: 7, n: 3, B: 17, model: .deepPM, depth: 3, sharing: .independent, alpha: [0.7],
            times: [0.1, 0.2]),
        Case(
            label: "multiplicative log f64", d: 37, n: 20, B: 17, update: .multiplicative, representation: .log,
            lambda: [0.01], alpha: [0.1], steps: [20, 15])
    ]

    @Test(arguments: smallCases.filter { $0.precision == .float32 }, KernelShape.allCases)
    func smallSizesAgree(_ c: Case, shape: KernelShape) throws { try agree(c, shape: shape) }

    @Test(.needsFP64, arguments: smallCases.filter { $0.precision == .float64 }, KernelShape.allCases)
    func smallSizesAgreeInFloat64(_ c: Case, shape: KernelShape) throws { try agree(c, shape: shape) }

    /// Bit patterns, every NaN counted as one (the sign of the device's NAN is implementation-defined).
    static func bits(_ values: [Double]) -> [UInt64] { values.map { $0.isNaN ? Double.nan.bitPattern : $0.bitPattern } }
    static func bits(_ a: RealArray) -> [UInt64] { bits(a.doubles) }
    static func bits(_ s: EngineState) -> [[UInt64]] { s.layers.map { bits($0) } + [bits(s.weights)] }

    @Test(arguments: cases.filter { $0.precision == .float32 }, KernelShape.allCases)
    func cpuAndOpenCLAgree(_ c: Case, shape: KernelShape) throws { try agree(c, shape: shape) }

    @Test(.needsFP64, arguments: cases.filter { $0.precision == .float64 }, KernelShape.allCases)
    func cpuAndOpenCLAgreeInFloat64(_ c: Case, shape: KernelShape) throws { try agree(c, shape: shape) }

    func agree(_ c: Case, shape: KernelShape) throws {
        let device = try DeviceFixture.device(fp64: c.precision == .float64)
        let batch = try makeBatch(
            d: c.d, n: c.n, replicas: c.B, model: c.model, update: c.update, depth: c.depth,
            precision: c.precision, sharing: c.sharing, lambda: c.lambda, eta: [c.eta],
            alpha: c.alpha, noise: 0.1, representation: c.representation, flow: c.flow)
        #expect(batch.representation == (c.representation ?? (c.model.isDeep ? .layers : .log)))
        let cpu = CPUEngine()
        let gpu = try OpenCLEngine(device: device, shape: shape)
        try cpu.initialize(batch)
        try gpu.initialize(batch)
        let exact = DeviceFixture.bitExact(device)
        var worst: UInt64 = 0
        let chunks = c.update == .flow ? c.times.count : c.steps.count
        for k in 0..<chunks {
            if c.update == .flow {
                try cpu.advance(to: c.times[k])
                try gpu.advance(to: c.times[k])
            } else {
                try cpu.step(count: c.steps[k])
                try gpu.step(count: c.steps[k])
            }
            // Observing first materialises the layers and w at each replica's time, then the state.
            let obs = (try cpu.observe(), try gpu.observe())
            let state = (try cpu.state(), try gpu.state())
            let counters = (try cpu.flowCounters(), try gpu.flowCounters())
            let where_ = c.update == .flow ? "t = \(c.times[k])" : "after \(c.steps[0...k].reduce(0, +)) steps"
            worst = max(worst, maxULP(state.0, state.1))
            #expect(obs.0.names == obs.1.names)
            #expect(counters.0.status == counters.1.status, "\(where_)")
            if exact {
                #expect(Self.bits(state.0) == Self.bits(state.1), "layers and w at \(where_)")
                for (i, name) in obs.0.names.enumerated() {
                    #expect(Self.bits(obs.0.values[i]) == Self.bits(obs.1.values[i]), "\(name) at \(where_)")
                }
                #expect(counters.0.evaluations == counters.1.evaluations, "\(where_)")
                #expect(counters.0.rejected == counters.1.rejected, "\(where_)")
                #expect(Self.bits(counters.0.frozenAt) == Self.bits(counters.1.frozenAt), "\(where_)")
            }
        }
        let counters = try cpu.flowCounters()
        let steps = c.update == .flow ? 1 : c.steps.reduce(0, +)
        #expect(counters.evaluations.allSatisfy { $0 >= steps }, "every replica did work")
        if c.freezes != .none {
            let frozen = counters.status.filter { $0 != 0 }.count
            #expect(
                c.freezes == .all ? frozen == c.B : frozen > 0 && frozen < c.B,
                "frozen and finished: \(counters.status)")
            for b in 0..<c.B {
                #expect(counters.status[b] == 0 ? counters.frozenAt[b].isNaN : counters.frozenAt[b] < c.times.last!)
            }
        } else {
            #expect(counters.status.allSatisfy { $0 == 0 }, "\(counters.status)")
            #expect(try cpu.state().weights.doubles.allSatisfy { $0.isFinite })
        }
        print(
            "flow equivalence \(c.testDescription), \(shape.rawValue) kernels: max ULP \(worst), evaluations "
                + "\(counters.evaluations.min()!)…\(counters.evaluations.max()!), rejected "
                + "\(counters.rejected.reduce(0, +)), statuses \(Set(counters.status).sorted()) "
                + "(\(counters.status.filter { $0 != 0 }.count) frozen) on \(device.name)"
        )
        if exact { #expect(worst == 0) }
        #expect(try gpu.canariesIntact())
    }

    /// The fixed-step and flow entry points refuse each other's batches on both engines' terms.
    @Test func wrongEntryPointsThrow() throws {
        let device = try DeviceFixture.device()
        let flowBatch = try makeBatch(d: 5, n: 3, replicas: 3, update: .flow, precision: .float32, flow: Self.f32)
        let gpu = try OpenCLEngine(device: device)
        try gpu.initialize(flowBatch)
        #expect(throws: DLNError.self) { try gpu.step(count: 1) }
        let gd = try makeBatch(d: 5, n: 3, replicas: 3, precision: .float32)
        try gpu.initialize(gd)
        #expect(throws: DLNError.self) { try gpu.advance(to: 1) }
        #expect(try gpu.flowCounters().evaluations == [0, 0, 0])
    }
}
