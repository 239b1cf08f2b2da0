import DLNDevice
import DLNModel
import DLNRun
import OpenCLKit
import TestSupport
import Testing

/// Learning-rate schedules on both engines: bit-identical on PoCL and Oclgrind for every schedule in every kernel
/// shape (scalar, vector16, tiled; the products and the Gram form; the stochastic steps with Langevin noise; momentum);
/// a `step` schedule with γ = 1 (the scheduled path with factors exactly 1) is the constant run bit for bit; a
/// restored snapshot continues bit for bit (the factor depends on the step index only).
@Suite(.serialized) struct ScheduleTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var schedule: Configuration.Schedule
        var d = 9, n = 5, seeds = 17, steps = 70
        var model: Parameterization = .pm, update: UpdateRule = .gd, precision: Precision = .float32
        var form: GradientForm = .products, batchSize = 2, gradientNoise = 0.0, momentum = 0.0
        var testDescription: String {
            "\(schedule.name.rawValue) \(model.rawValue) \(update.rawValue) \(form.rawValue) T=\(gradientNoise) "
                + "β=\(momentum) \(precision.rawValue) ×\(steps)"
        }
    }

    static func schedule(
        _ name: ScheduleName, tau: Double? = nil, gamma: Double? = nil, steps: Int? = nil, floor: Double = 0,
        every: Int? = nil, at: [Int]? = nil, power: Double = 1
    ) -> Configuration.Schedule {
        var s = Configuration.Schedule()
        (s.name, s.tau, s.gamma, s.steps, s.floor, s.every, s.at, s.power) = (
            name, tau, gamma, steps, floor, every, at, power
        )
        return s
    }

    /// Every schedule (with a parameter that changes within the run), then the stochastic and momentum steps.
    static let smallCases: [Case] = [
        Case(schedule: schedule(.inverseTime, tau: 10, power: 0.7)),
        Case(schedule: schedule(.exponential, gamma: 0.97), model: .uv),
        Case(schedule: schedule(.exponential, tau: 25), form: .gram),
        Case(schedule: schedule(.cosine, steps: 50, floor: 0.1), model: .deep),
        Case(schedule: schedule(.step, gamma: 0.5, every: 20), precision: .float64),
        Case(schedule: schedule(.step, gamma: 0.3, at: [7, 31, 33])),
        Case(schedule: schedule(.cosine, steps: 40), update: .sgd, gradientNoise: 1e-4),
        Case(schedule: schedule(.inverseTime, tau: 5), model: .uv, update: .sgd, precision: .float64, momentum: 0.5),
        Case(schedule: schedule(.exponential, gamma: 0.98), momentum: 0.6)
    ]

    static func batch(_ c: Case, seedOffset: Int = 0, schedule: Configuration.Schedule? = nil) throws -> Batch {
        let b = try makeBatch(
            d: c.d, n: c.n, replicas: c.seeds, model: c.model, update: c.update, depth: 3, precision: c.precision,
            sharing: .independent, eta: [0.05], alpha: [c.model == .deep ? 0.7 : 0.3], seedOffset: seedOffset
        ) { conf in
            conf.training.schedule = schedule ?? c.schedule
            conf.training.steps = c.steps
            if c.update == .sgd { conf.training.batchSize = c.batchSize }
            conf.training.gradientNoise = c.gradientNoise
            conf.training.momentum = c.momentum
        }
        return c.update == .sgd ? b : try b.with(gradientForm: c.form)
    }

    @Test(.needsOpenCL, arguments: smallCases.filter { $0.precision == .float32 }, KernelShape.allCases)
    func smallSizesAgreeScheduled(_ c: Case, shape: KernelShape) throws { try agree(c, shape: shape) }

    @Test(.needsFP64, arguments: smallCases.filter { $0.precision == .float64 }, KernelShape.allCases)
    func smallSizesAgreeScheduledInFloat64(_ c: Case, shape: KernelShape) throws { try agree(c, shape: shape) }

    func agree(_ c: Case, shape: KernelShape) throws {
        let device = try DeviceFixture.device(fp64: c.precision == .float64)
        let batch = try Self.batch(c)
        #expect(!batch.schedule.isConstant)
        let cpu = CPUEngine()
        let gpu = try OpenCLEngine(device: device, shape: shape)
        try cpu.initialize(batch)
        try gpu.initialize(batch)
        // Uneven pieces: the tiled kernel's launches of 32 steps start mid-schedule.
        for piece in [13, 40, c.steps - 53] {
            try cpu.step(count: piece)
            try gpu.step(count: piece)
        }
        let (a, b) = (try cpu.state(), try gpu.state())
        let ulp = maxULP(a, b)
        let end = (try cpu.observe(), try gpu.observe())
        print("schedule equivalence \(c.testDescription), \(shape.rawValue): max ULP \(ulp) on \(device.name)")
        #expect(a.weights.doubles.allSatisfy { $0.isFinite })
        if DeviceFixture.bitExact(device) {
            #expect(ulp == 0)
            for (k, name) in end.0.names.enumerated() {
                #expect(EquivalenceTests.bits(end.0.values[k]) == EquivalenceTests.bits(end.1.values[k]), "\(name)")
            }
        } else {
            #expect(ulp < 1 << 20)
        }
        #expect(try gpu.canariesIntact())
        // The schedule did something: the constant run ends elsewhere.
        let constant = CPUEngine()
        try constant.initialize(try Self.batch(c, schedule: Configuration.Schedule()))
        try constant.step(count: c.steps)
        #expect(maxULP(try constant.state(), a) > 0)
    }

    /// `step` with γ = 1 (every factor exactly 1, set each step on the scheduled path) is the constant run bit for
    /// bit, in every shape and with the stochastic and momentum steps.
    func unitStepIsConstant(_ kind: EngineKind, shapes: [KernelShape]) throws {
        let unit = Self.schedule(.step, gamma: 1, every: 3)
        for c in [
            Case(schedule: unit), Case(schedule: unit, form: .gram), Case(schedule: unit, model: .deep),
            Case(schedule: unit, update: .sgd, gradientNoise: 1e-4), Case(schedule: unit, momentum: 0.5)
        ] {
            for shape in shapes {
                var states: [EngineState] = []
                for s in [unit, Configuration.Schedule()] {
                    let batch = try Self.batch(c, schedule: s)
                    #expect(batch.schedule.isConstant == (s.name == .constant))
                    let engine: any Engine =
                        kind == .cpu ? CPUEngine() : try OpenCLEngine(device: try DeviceFixture.device(), shape: shape)
                    try engine.initialize(batch)
                    try engine.step(count: 37)
                    try engine.step(count: 33)
                    states.append(try engine.state())
                }
                #expect(maxULP(states[0], states[1]) == 0, "\(c.testDescription) \(shape) on \(kind)")
            }
        }
    }

    @Test func unitStepIsConstantOnCPU() throws { try unitStepIsConstant(.cpu, shapes: [.scalar]) }
    @Test(.needsOpenCL) func unitStepIsConstantOnOpenCL() throws {
        try unitStepIsConstant(.opencl, shapes: KernelShape.allCases)
    }

    /// A snapshot restored into a fresh engine (which had run other steps) continues the schedule bit for bit.
    func resumeIsBitIdentical(_ kind: EngineKind) throws {
        for c in [Self.smallCases[0], Self.smallCases[6], Self.smallCases[8]] {
            let batch = try Self.batch(c)
            let straight = try kind.engine()
            try straight.initialize(batch)
            try straight.step(count: 23)
            let saved = try straight.snapshot()
            try straight.step(count: 47)
            let resumed = try kind.engine()
            try resumed.initialize(batch)
            try resumed.step(count: 5)
            try resumed.restore(saved, replicas: nil)
            try resumed.step(count: 47)
            #expect(maxULP(try straight.state(), try resumed.state()) == 0, "\(c.testDescription) on \(kind)")
        }
    }

    @Test func resumeIsBitIdenticalOnCPU() throws { try resumeIsBitIdentical(.cpu) }
    @Test(.needsOpenCL) func resumeIsBitIdenticalOnOpenCL() throws { try resumeIsBitIdentical(.opencl) }
}
