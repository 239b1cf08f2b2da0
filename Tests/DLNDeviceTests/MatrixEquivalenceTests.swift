import DLNDevice
import DLNModel
import OpenCLKit
import TestSupport
import Testing

/// The matrix model (Kernels/matrix.cl, and matrix_v16.cl in the vector16 shape) on the CPU engine and the OpenCL
/// engine, each case in every kernel shape (scalar, tiled, vector16): on PoCL and Oclgrind the parameters, the
/// losses and the gradient agree bit for bit after every chunk of steps; elsewhere (GPUs) within a few ULPs' worth
/// of relative distance. The CPU engine itself is checked against the gradient written as a
/// product of matrices (not back-propagation), in float64.
@Suite(.serialized, .needsOpenCL) struct MatrixEquivalenceTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var label: String
        var widths: [Int]
        var n: Int, B: Int
        var precision: Precision = .float64
        var independent = false
        var lambda = 0.0
        var eta = 0.05
        var steps: [Int] = [3, 5]
        /// Matrix sensing with this many measurements (0: regression on n samples).
        var sensing = 0
        /// The symmetric factorisation U·Uᵀ (sensing, widths [d, r, d]).
        var tied = false
        var testDescription: String {
            "\(label): widths \(widths) n=\(n) B=\(B) \(precision.rawValue)\(independent ? " independent" : "") λ=\(lambda)"
                + (sensing > 0 ? " sensing m=\(sensing)" : "") + (tied ? " UUᵀ" : "")
        }
    }

    /// Small and awkward sizes (B = 17, 33; odd widths; depth 1 to 4): what scripts/oclgrind.sh runs on Oclgrind.
    static let smallCases: [Case] = [
        Case(label: "depth 1", widths: [5, 3], n: 7, B: 17, steps: [2, 1]),
        Case(
            label: "depth 2 f32", widths: [7, 5, 3], n: 9, B: 33, precision: .float32, independent: true, lambda: 0.01,
            steps: [2, 1]),
        Case(label: "depth 3", widths: [6, 5, 4, 2], n: 5, B: 17, lambda: 0.02, steps: [2, 1]),
        Case(label: "depth 4 f32", widths: [3, 9, 1, 4, 2], n: 4, B: 20, precision: .float32, eta: 0.02),
        Case(
            label: "sensing UUᵀ f32", widths: [5, 4, 5], n: 5, B: 17, precision: .float32, independent: true,
            lambda: 0.01, steps: [2, 1], sensing: 11, tied: true)
    ]

    /// Larger sizes, on PoCL only. The "chunked" cases have more samples than the CPU engine's chunk of a layer
    /// gradient (the partial sums are parked and resumed) and widths that leave edges around its register tiles.
    static let cases: [Case] = [
        Case(label: "wide", widths: [30, 25, 20, 5], n: 40, B: 37, precision: .float32, steps: [10, 20]),
        Case(label: "wide f64", widths: [20, 20, 20], n: 50, B: 16, independent: true, lambda: 0.001, steps: [10, 20]),
        Case(
            label: "chunked", widths: [12, 11, 7, 3], n: 3 * MatrixCPUEngine.gradientChunk + 9, B: 20,
            precision: .float32, lambda: 0.01, eta: 0.01, steps: [2, 3]),
        Case(
            label: "chunked f64", widths: [9, 13, 6], n: 2 * MatrixCPUEngine.gradientChunk + 3, B: 17,
            independent: true, eta: 0.01, steps: [2, 3]),
        Case(label: "sensing", widths: [8, 6, 5, 7], n: 8, B: 20, lambda: 0.001, steps: [4, 6], sensing: 40),
        Case(label: "sensing UUᵀ", widths: [9, 4, 9], n: 9, B: 18, steps: [4, 6], sensing: 25, tied: true),
        Case(
            label: "sensing chunked f32", widths: [40, 3, 6], n: 40, B: 16, precision: .float32, eta: 0.01,
            steps: [2, 3], sensing: 30)
    ]

    static func batch(_ c: Case) -> MatrixBatch {
        if c.sensing > 0 {
            return MatrixFixture.sensingBatch(
                widths: c.widths, m: c.sensing, B: c.B, precision: c.precision, independent: c.independent,
                lambda: c.lambda, eta: c.eta, tied: c.tied)
        }
        return MatrixFixture.batch(
            widths: c.widths, n: c.n, B: c.B, precision: c.precision, independent: c.independent, lambda: c.lambda,
            eta: c.eta)
    }

    static func bits(_ a: RealArray) -> [UInt64] { a.doubles.map { $0.isNaN ? Double.nan.bitPattern : $0.bitPattern } }

    /// The shapes of the matrix kernels: one work-item per output, local-memory tiles (GPUs) and 16-wide register
    /// tiles (CPU devices).
    static let shapes: [MatrixKernelShape] = MatrixKernelShape.allCases

    @Test(arguments: smallCases, shapes)
    func smallSizesAgree(_ c: Case, shape: MatrixKernelShape) throws { try agree(c, shape: shape) }

    @Test(arguments: cases, shapes)
    func cpuAndOpenCLAgree(_ c: Case, shape: MatrixKernelShape) throws {
        try agree(c, shape: shape)
    }

    func agree(_ c: Case, shape: MatrixKernelShape) throws {
        let device = try DeviceFixture.device(fp64: c.precision == .float64)
        let batch = Self.batch(c)
        let cpu = MatrixCPUEngine(threads: 2)
        let gpu = try MatrixOpenCLEngine(device: device, shape: shape)
        #expect(gpu.shape == shape)
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
        compare(try cpu.gradient(), try gpu.gradient(), "the initial gradient")
        var done = 0
        for k in c.steps {
            try cpu.step(count: k)
            try gpu.step(count: k)
            done += k
            compare(try cpu.parameters(), try gpu.parameters(), "the parameters after \(done) steps")
            compare(
                RealArray(try cpu.loss(), precision: .float64), RealArray(try gpu.loss(), precision: .float64),
                "the loss after \(done) steps")
        }
        let moved = zip(try cpu.parameters().doubles, batch.initial).contains { $0 != $1 }
        #expect(moved, "the parameters never changed")
        // Padding lanes and a restore: setting the parameters back reproduces the first step exactly.
        try cpu.setParameters(RealArray(batch.initial, precision: c.precision))
        try gpu.setParameters(RealArray(batch.initial, precision: c.precision))
        try cpu.step(count: 1)
        try gpu.step(count: 1)
        compare(try cpu.parameters(), try gpu.parameters(), "one step after restoring the initial parameters")
    }
}
