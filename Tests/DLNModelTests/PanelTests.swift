import DLNVector
import Testing

@testable import DLNModel

/// The single-block products of shared data read X from packed panels (Sources/DLNVector/Panels.swift): on both
/// instruction sets and in both precisions they give the bits of the ascending definition, written out here as scalar
/// fused multiply-adds, lane by lane, and write nothing past their n residuals or d gradient sums (the panels are
/// padded to six rows or columns).
@Suite struct PanelTests {
    static func check<T: BinaryFloatingPoint & SIMDScalar>(_: T.Type, n: Int, d: Int, avx512: Bool) -> [String] {
        let L = 16
        var state: UInt64 = 0xD1B5_4A32_D192_ED03 &+ UInt64(n * 1000 + d)
        func next() -> T {  // uniform in [−1, 1), from a fixed sequence
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return T(Double(state >> 11) / Double(1 << 53) * 2 - 1)
        }
        var x = (0..<(n * d)).map { _ in next() }
        var y = (0..<n).map { _ in next() }
        var w = (0..<(d * L)).map { _ in next() }  // 16 lanes' weights, w[j·16 + lane]
        let w6 = DLNVector.Kernels.panelWidth
        var rowPanels = [T](repeating: .nan, count: (n + w6 - 1) / w6 * w6 * d)
        var columnPanels = [T](repeating: .nan, count: n * ((d + w6 - 1) / w6 * w6))
        let guardCount = 3 * L  // elements past the end that must stay untouched
        var r = [T](repeating: .nan, count: n * L + guardCount)
        var g = [T](repeating: .nan, count: d * L + guardCount)
        let double = T.self == Double.self
        let kernels = (avx512 ? VectorISA.avx512 : .baseline).kernels  // the compilation of each instruction set
        x.withUnsafeMutableBufferPointer { xb in
            rowPanels.withUnsafeMutableBufferPointer {
                DLNVector.Kernels.rowPanels(xb.baseAddress!, rows: n, columns: d, into: $0.baseAddress!)
            }
            columnPanels.withUnsafeMutableBufferPointer {
                DLNVector.Kernels.columnPanels(xb.baseAddress!, rows: n, columns: d, into: $0.baseAddress!)
            }
        }
        rowPanels.withUnsafeMutableBytes { rp in
            y.withUnsafeMutableBytes { yb in
                w.withUnsafeMutableBytes { wb in
                    r.withUnsafeMutableBytes { rb in
                        kernels.panelResidual(
                            double: double, rows: n, d: d, panels: rp.baseAddress!, targets: yb.baseAddress!,
                            w: wb.baseAddress!, out: rb.baseAddress!)
                    }
                }
            }
        }
        columnPanels.withUnsafeMutableBytes { cp in
            r.withUnsafeMutableBytes { rb in
                g.withUnsafeMutableBytes { gb in
                    kernels.panelGradient(
                        double: double, n: n, d: d, panels: cp.baseAddress!, r: rb.baseAddress!, g: gb.baseAddress!)
                }
            }
        }
        var wrong: [String] = []
        let bits = { (v: T) in Double(v).bitPattern }  // widening is exact
        for lane in 0..<L {
            var rl = [T](repeating: 0, count: n)
            for i in 0..<n {
                var a: T = 0
                for j in 0..<d { a = a.addingProduct(x[i * d + j], w[j * L + lane]) }
                rl[i] = a - y[i]
                if bits(r[i * L + lane]) != bits(rl[i]) { wrong.append("r[\(i)] lane \(lane)") }
            }
            for j in 0..<d {
                var a: T = 0
                for i in 0..<n { a = a.addingProduct(x[i * d + j], rl[i]) }
                if bits(g[j * L + lane]) != bits(a) { wrong.append("g[\(j)] lane \(lane)") }
            }
        }
        if !r[(n * L)...].allSatisfy(\.isNaN) { wrong.append("a write past the residuals") }
        if !g[(d * L)...].allSatisfy(\.isNaN) { wrong.append("a write past the gradient") }
        return wrong
    }

    /// n and d below, at and past multiples of six (padded panels), one to many panels.
    static let sizes: [(n: Int, d: Int)] = [
        (1, 1), (3, 8), (5, 7), (6, 6), (7, 13), (10, 9), (13, 37), (37, 200), (250, 500)
    ]

    @Test func baselineLoopsGiveTheAscendingBits() {
        for (n, d) in Self.sizes {
            #expect(Self.check(Float.self, n: n, d: d, avx512: false).isEmpty, "float32 n = \(n), d = \(d)")
            #expect(Self.check(Double.self, n: n, d: d, avx512: false).isEmpty, "float64 n = \(n), d = \(d)")
        }
    }

    @Test(.enabled(if: VectorISA.avx512.isSupported, "this CPU has no AVX-512: its loops cannot run here"))
    func avx512LoopsGiveTheAscendingBits() {
        for (n, d) in Self.sizes {
            #expect(Self.check(Float.self, n: n, d: d, avx512: true).isEmpty, "float32 n = \(n), d = \(d)")
            #expect(Self.check(Double.self, n: n, d: d, avx512: true).isEmpty, "float64 n = \(n), d = \(d)")
        }
    }
}
