import DLNDevice
import DLNModel
import OpenCLKit
import TestSupport
import Testing

/// Mini-batch SGD of the matrix model (stochastic.cl's draws, Kernels/matrix_sgd.cl's gathers, then the unchanged
/// products) on the CPU engine and the OpenCL engine in every kernel shape: on PoCL and Oclgrind the parameters and
/// the losses agree bit for bit after every chunk of steps (across epochs, with a short last batch), and after a
/// restore mid-epoch (parameters and step set back) the continuation agrees too; elsewhere within a few ULPs.
@Suite(.serialized, .needsOpenCL) struct MatrixSGDEquivalenceTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var label: String
        var widths: [Int]
        var n: Int, B: Int, b: Int
        var sampling: Sampling
        var precision: Precision = .float64
        var independent = true
        var lambda = 0.0
        var steps: [Int] = [3, 5]
        var sum = false
        /// Matrix sensing with this many measurements (0: regression on n samples).
        var sensing = 0
        var tied = false
        /// `MatrixDynamics` (replica b: σ_ℓ = sigma·(b mod 3)/2, T = temperature·(b mod 2), β = beta·(b mod 4)/3);
        /// sgd false: full batches in order.
        var sigma = 0.0, temperature = 0.0, beta = 0.0
        var nesterov = false, sgd = true
        /// A learning-rate schedule (constant: none).
        var schedule = LearningRateSchedule.constant
        var testDescription: String {
            "\(label): widths \(widths) B=\(B) b=\(sgd ? b : n) \(sampling.rawValue) \(precision.rawValue)"
                + (sensing > 0 ? " sensing m=\(sensing)" : " n=\(n)") + (tied ? " UUᵀ" : "") + (sum ? " sum" : "")
                + (sigma > 0 ? " σ=\(sigma)" : "") + (temperature > 0 ? " T=\(temperature)" : "")
                + (beta > 0 ? " β=\(beta)" : "") + (nesterov ? " Nesterov" : "")
                + (schedule.isConstant ? "" : " schedule \(schedule.description)")
        }
    }

    /// What scripts/oclgrind.sh runs on Oclgrind: tiny, b not dividing n (a short last batch), B not a multiple of 16.
    static let smallCases: [Case] = [
        Case(
            label: "tiny epochs f32", widths: [4, 3, 2], n: 7, B: 17, b: 3, sampling: .epochs, precision: .float32,
            lambda: 0.01, steps: [2, 2]),
        Case(
            label: "tiny noisy momentum f32", widths: [4, 3, 2], n: 7, B: 17, b: 3, sampling: .withReplacement,
            precision: .float32, lambda: 0.01, steps: [2, 2], sigma: 0.3, temperature: 1e-4, beta: 0.9,
            schedule: LearningRateSchedule(.inverseTime(tau: 1.5, power: 0.5)))
    ]

    /// On PoCL only: every sampling, both precisions, regression and sensing (with the symmetric factorisation),
    /// samples past the CPU engine's gradient chunk.
    static let cases: [Case] = [
        Case(label: "with replacement", widths: [7, 5, 3], n: 20, B: 33, b: 6, sampling: .withReplacement),
        Case(
            label: "chunked f32", widths: [9, 6, 4, 3], n: 90, B: 20, b: 40, sampling: .epochs, precision: .float32,
            lambda: 0.01, steps: [2, 3]),
        Case(
            label: "sequential sum", widths: [6, 5], n: 11, B: 16, b: 4, sampling: .sequential, independent: false,
            steps: [4, 3], sum: true),
        Case(
            label: "sensing", widths: [5, 4, 3], n: 5, B: 18, b: 7, sampling: .epochs, lambda: 0.001, steps: [3, 4],
            sensing: 16),
        Case(
            label: "sensing UUᵀ f32", widths: [5, 3, 5], n: 5, B: 17, b: 5, sampling: .withReplacement,
            precision: .float32, steps: [3, 2], sensing: 12, tied: true),
        Case(
            label: "full batches, label noise, Nesterov", widths: [6, 5, 4], n: 40, B: 19, b: 40, sampling: .sequential,
            steps: [3, 2], sigma: 0.5, temperature: 1e-3, beta: 0.9, nesterov: true, sgd: false),
        Case(
            label: "sensing UUᵀ heavy ball f32", widths: [5, 3, 5], n: 5, B: 18, b: 6, sampling: .epochs,
            precision: .float32, steps: [3, 2], sensing: 14, tied: true, sigma: 0.2, temperature: 1e-4, beta: 0.8,
            schedule: LearningRateSchedule(.cosine(steps: 4, floor: 0.2)))
    ]

    static func batch(_ c: Case) -> MatrixBatch {
        let base =
            c.sensing > 0
            ? MatrixFixture.sensingBatch(
                widths: c.widths, m: c.sensing, B: c.B, precision: c.precision, independent: c.independent,
                lambda: c.lambda, tied: c.tied)
            : MatrixFixture.batch(
                widths: c.widths, n: c.n, B: c.B, precision: c.precision, independent: c.independent,
                lambda: c.lambda, eta: c.sum ? 0.005 : 0.05)
        let seeds = (0..<c.B).map { 100 + $0 % 7 }
        let dynamics =
            c.sigma + c.temperature + c.beta > 0 || c.nesterov
            ? MatrixDynamics(
                seeds: seeds, labelNoise: (0..<c.B).map { c.sigma * Double($0 % 3) / 2 },
                gradientNoise: (0..<c.B).map { c.temperature * Double($0 % 2) },
                momentum: (0..<c.B).map { c.beta * Double($0 % 4) / 3 }, nesterov: c.nesterov) : nil
        return base.with(
            stochastic: MatrixStochastic(
                seeds: seeds, batchSize: c.sgd ? c.b : base.rows, sampling: c.sgd ? c.sampling : .sequential,
                meanLoss: !c.sum, factor: c.tied ? 2 : 1), dynamics: dynamics
        ).with(schedule: c.schedule)
    }

    static func bits(_ a: RealArray) -> [UInt64] { a.doubles.map { $0.isNaN ? Double.nan.bitPattern : $0.bitPattern } }

    @Test(arguments: smallCases, MatrixKernelShape.allCases)
    func smallSizesAgree(_ c: Case, shape: MatrixKernelShape) throws { try agree(c, shape: shape) }

    @Test(arguments: cases, MatrixKernelShape.allCases)
    func cpuAndOpenCLAgree(_ c: Case, shape: MatrixKernelShape) throws { try agree(c, shape: shape) }

    func agree(_ c: Case, shape: MatrixKernelShape) throws {
        let device = try DeviceFixture.device(fp64: c.precision == .float64)
        let batch = Self.batch(c)
        let cpu = MatrixCPUEngine(threads: 2)
        let gpu = try MatrixOpenCLEngine(device: device, shape: shape)
        try cpu.initialize(batch)
        try gpu.initialize(batch)
        let exact = DeviceFixture.bitExact(device)
        func compare(_ a: RealArray, _ b: RealArray, _ what: String) {
            if exact {
                #expect(Self.bits(a) == Self.bits(b), "\(what) differs on \(device.name), \(shape) kernels")
            } else {
                let worst = zip(a.doubles, b.doubles).map { abs($0 - $1) / max(abs($0), 1e-30) }.max() ?? 0
                #expect(
                    worst < (c.precision == .float32 ? 1e-3 : 1e-10),
                    "\(what), \(shape) kernels: relative distance \(worst)")
            }
        }
        var done = 0
        var middle: (params: RealArray, velocity: RealArray?, step: Int)? = nil
        for k in c.steps {
            try cpu.step(count: k)
            try gpu.step(count: k)
            done += k
            #expect(cpu.stepsTaken == done && gpu.stepsTaken == done)
            compare(try cpu.parameters(), try gpu.parameters(), "the parameters after \(done) SGD steps")
            compare(
                RealArray(try cpu.loss(), precision: .float64), RealArray(try gpu.loss(), precision: .float64),
                "the loss after \(done) SGD steps")
            if let v = try cpu.velocity() {
                let w = try #require(try gpu.velocity())
                compare(v, w, "the momentum buffers after \(done) steps")
            }
            if middle == nil { middle = (try cpu.parameters(), try cpu.velocity(), done) }
        }
        let moved = zip(try cpu.parameters().doubles, batch.initial).contains { $0 != $1 }
        #expect(moved, "the parameters never changed")
        // A restore mid-run: the parameters (and momentum buffers) and the step set back, both engines continue as the CPU engine did.
        let last = try cpu.parameters()
        guard let middle else { return }
        for engine in [cpu, gpu] as [any MatrixEngine] {
            try engine.setParameters(middle.params)
            if let v = middle.velocity { try engine.setVelocity(v) }
            engine.stepsTaken = middle.step
            try engine.step(count: done - middle.step)
        }
        compare(last, try cpu.parameters(), "the CPU engine's continuation after a restore")
        compare(try cpu.parameters(), try gpu.parameters(), "the continuation after a restore")
    }
}
