import DLNDevice
import DLNModel
import OpenCLKit
import TestSupport
import Testing

/// Gradient flow of the matrix model (`MatrixFlow`) driven by the CPU engine and by the OpenCL engine: the host does
/// the same float64 arithmetic on the gradients either engine returns, so on PoCL and Oclgrind (whose gradients are
/// the CPU engine's bits) the parameters, the times and the counters agree exactly after every checkpoint;
/// elsewhere the parameters agree within 1e-6 (float64) or 1e-3 (float32) of the largest parameter.
@Suite(.serialized, .needsOpenCL) struct MatrixFlowEquivalenceTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var label: String
        var widths: [Int]
        var n: Int, B: Int
        var precision: Precision = .float64
        var independent = false
        var lambda = 0.0
        var testDescription: String {
            "\(label): widths \(widths) n=\(n) B=\(B) \(precision.rawValue)\(independent ? " independent" : "") λ=\(lambda)"
        }
    }

    static let cases: [Case] = [
        Case(label: "depth 1", widths: [5, 3], n: 7, B: 17),
        Case(
            label: "depth 2 f32", widths: [7, 5, 3], n: 9, B: 33, precision: .float32, independent: true, lambda: 0.01),
        Case(label: "depth 3", widths: [6, 5, 4, 2], n: 5, B: 17, lambda: 0.02)
    ]

    static func bits(_ a: [Double]) -> [UInt64] { a.map { $0.isNaN ? Double.nan.bitPattern : $0.bitPattern } }

    @Test(arguments: cases)
    func cpuAndOpenCLFlowAgree(_ c: Case) throws {
        let device = try DeviceFixture.device(fp64: c.precision == .float64)
        let batch = MatrixFixture.batch(
            widths: c.widths, n: c.n, B: c.B, precision: c.precision, independent: c.independent, lambda: c.lambda)
        let settings =
            c.precision == .float64 ? FlowSettings(rtol: 1e-9, atol: 1e-12) : FlowSettings(rtol: 1e-5, atol: 1e-7)
        let gpuEngine = try MatrixOpenCLEngine(device: device)
        let cpu = try MatrixFlow(engine: MatrixCPUEngine(threads: 2), batch: batch, settings: settings)
        let gpu = try MatrixFlow(engine: gpuEngine, batch: batch, settings: settings)
        let exact = DeviceFixture.bitExact(device)
        for t in [0.5, 2.0] {
            try cpu.advance(to: t)
            try gpu.advance(to: t)
            if exact {
                #expect(Self.bits(cpu.state) == Self.bits(gpu.state), "the parameters at t = \(t) on \(device.name)")
                let (a, b) = (cpu.counters, gpu.counters)
                #expect(cpu.times == gpu.times, "the times at t = \(t)")
                #expect(a.evaluations == b.evaluations && a.rejected == b.rejected && a.status == b.status)
                #expect(Self.bits(a.frozenAt) == Self.bits(b.frozenAt), "frozenAt (NaN while running)")
            } else {
                // Gradients a few ULPs apart may tip an accept/reject decision: the paths then differ by about the
                // local error tolerance, not by rounding alone.
                let scale = cpu.state.map(abs).max() ?? 1
                let worst = (zip(cpu.state, gpu.state).map { abs($0 - $1) }.max() ?? 0) / scale
                #expect(worst < (c.precision == .float32 ? 1e-3 : 1e-6), "relative distance \(worst) at t = \(t)")
            }
            #expect(try gpuEngine.parameters() == gpu.parameters, "the OpenCL engine does not hold the flow's state")
        }
        #expect(cpu.state != batch.initial, "the flow never moved")
        #expect(cpu.counters.status.allSatisfy { $0 == ReplicaStatus.ran.code })
    }
}
