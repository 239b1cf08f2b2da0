import DLNModel
import DLNRun
import DLNVector
import DLNVectorAVX512
import Foundation
import TestSupport
import Testing

/// The strided summation order (`SummationOrder.strided`, docs/model.md "Summation orders"): the CPU loops give the
/// bits of its definition, written out here as scalar fused multiply-adds, on both instruction sets; the engine uses
/// it where the configuration asks for it, and only there.
@Suite struct StridedOrderTests {
    /// r_i and g_j by the definition: 16 partial sums over j ≡ k (mod 16) (zero past d), the fixed tree, − y_i;
    /// g_j one chain over ascending i.
    static func reference<T: BinaryFloatingPoint>(x: [T], y: [T], w: [T], n: Int, d16: Int) -> (r: [T], g: [T]) {
        var r = [T](repeating: 0, count: n)
        for i in 0..<n {
            var p = [T](repeating: 0, count: 16)
            for j in 0..<d16 { p[j % 16] = p[j % 16].addingProduct(x[i * d16 + j], w[j]) }
            let t = (0..<8).map { p[$0] + p[$0 + 8] }
            let q = (0..<4).map { t[$0] + t[$0 + 4] }
            r[i] = ((q[0] + q[2]) + (q[1] + q[3])) - y[i]
        }
        var g = [T](repeating: 0, count: d16)
        for j in 0..<d16 {
            var a: T = 0
            for i in 0..<n { a = a.addingProduct(x[i * d16 + j], r[i]) }
            g[j] = a
        }
        return (r, g)
    }

    static func check<T: BinaryFloatingPoint & SIMDScalar>(_: T.Type, n: Int, d: Int, avx512: Bool) -> Bool {
        let d16 = (d + 15) / 16 * 16
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15 &+ UInt64(n * 1000 + d)
        func next() -> T {  // uniform in [−1, 1), from a fixed sequence
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return T(Double(state >> 11) / Double(1 << 53) * 2 - 1)
        }
        var x = [T](repeating: 0, count: n * d16)
        for i in 0..<n { for j in 0..<d { x[i * d16 + j] = next() } }
        var w = [T](repeating: 0, count: d16)
        for j in 0..<d { w[j] = next() }
        var y = (0..<n).map { _ in next() }
        var r = [T](repeating: .nan, count: n)
        var g = [T](repeating: .nan, count: d16)
        let double = T.self == Double.self
        x.withUnsafeMutableBytes { xb in
            y.withUnsafeMutableBytes { yb in
                w.withUnsafeMutableBytes { wb in
                    r.withUnsafeMutableBytes { rb in
                        g.withUnsafeMutableBytes { gb in
                            if avx512 {
                                DLNVectorAVX512.Kernels.stridedProducts(
                                    double: double, x: xb.baseAddress!, y: yb.baseAddress!, w: wb.baseAddress!,
                                    r: rb.baseAddress!, g: gb.baseAddress!, n: n, d16: d16)
                            } else {
                                DLNVector.Kernels.stridedProducts(
                                    double: double, x: xb.baseAddress!, y: yb.baseAddress!, w: wb.baseAddress!,
                                    r: rb.baseAddress!, g: gb.baseAddress!, n: n, d16: d16)
                            }
                        }
                    }
                }
            }
        }
        let expected = reference(x: x, y: y, w: w, n: n, d16: d16)
        let ascending = (0..<n).map { i in
            (0..<d).reduce(T(0)) { a, j in a.addingProduct(x[i * d16 + j], w[j]) } - y[i]
        }
        // The order is not the ascending one (for d > 16 the sums differ somewhere), and it is the definition's.
        if d > 16 && n >= 8 && ascending == expected.r { return false }
        let bits = { (a: [T]) in a.map { Double($0).bitPattern } }  // widening is exact
        return bits(r) == bits(expected.r) && bits(g) == bits(expected.g)
    }

    static let sizes: [(n: Int, d: Int)] = [(1, 1), (3, 7), (5, 16), (13, 37), (37, 200), (9, 500), (250, 500)]

    @Test func baselineLoopsGiveTheDefinitionsBits() {
        for (n, d) in Self.sizes {
            #expect(Self.check(Float.self, n: n, d: d, avx512: false), "float32 n = \(n), d = \(d)")
            #expect(Self.check(Double.self, n: n, d: d, avx512: false), "float64 n = \(n), d = \(d)")
        }
    }

    @Test(.enabled(if: VectorISA.avx512.isSupported, "this CPU has no AVX-512: its loops cannot run here"))
    func avx512LoopsGiveTheDefinitionsBits() {
        for (n, d) in Self.sizes {
            #expect(Self.check(Float.self, n: n, d: d, avx512: true), "float32 n = \(n), d = \(d)")
            #expect(Self.check(Double.self, n: n, d: d, avx512: true), "float64 n = \(n), d = \(d)")
        }
    }

    /// `training.summation: auto` takes the strided order for independent data in the products form, ascending for
    /// shared data, the Gram form, flow and stochastic steps; `strided` where it cannot apply is refused.
    @Test func automaticChoice() throws {
        func order(_ sharing: DataSharing, n: Int = 5, update: UpdateRule = .gd, momentum: Double = 0) throws
            -> SummationOrder
        {
            try makeBatch(d: 20, n: n, replicas: 32, update: update, precision: .float64, sharing: sharing) { c in
                c.training.momentum = momentum
            }.summation
        }
        #expect(try order(.independent) == .strided)
        #expect(try order(.independent, update: .multiplicative) == .strided)
        #expect(try order(.shared) == .ascending)
        #expect(try order(.independent, n: 15) == .ascending)  // the Gram form
        #expect(try order(.independent, update: .flow) == .ascending)
        #expect(try order(.independent, momentum: 0.5) == .ascending)
        let asked = try makeBatch(d: 20, n: 5, replicas: 32, sharing: .shared) { $0.training.summation = .strided }
        #expect(asked.summation == .strided)
        #expect(
            try makeBatch(d: 20, n: 5, replicas: 32, sharing: .independent) { $0.training.summation = .ascending }
                .summation == .ascending)
        #expect(throws: DLNError.self) {
            _ = try makeBatch(d: 20, n: 15, replicas: 32, sharing: .independent) { $0.training.summation = .strided }
        }
        do {
            _ = try makeBatch(d: 20, n: 5, replicas: 32, update: .flow, precision: .float64) {
                $0.training.summation = .strided
            }
            Issue.record("strided with update flow was accepted")
        } catch {
            #expect("\(error)".contains("training.summation"))
        }
    }

    /// The CPU engine steps in the batch's order: strided and ascending runs of one batch differ in their last bits
    /// and agree to rounding; the strided bits do not depend on the threads or on how the steps are cut into calls.
    @Test(arguments: [Precision.float32, .float64])
    func engineStepsInTheBatchOrder(precision: Precision) throws {
        let batch = try makeBatch(
            d: 45, n: 12, replicas: 32, model: .uv, precision: precision, sharing: .independent, lambda: [0, 0.01],
            eta: [0.05], alpha: [0.5])
        #expect(batch.summation == .strided)
        func final(_ b: Batch, threads: Int = 2) throws -> [Double] {
            let engine = CPUEngine(threads: threads)
            try engine.initialize(b)
            try engine.step(count: 3)  // fewer than 4 steps per call: still the strided path
            try engine.step(count: 60)
            return try engine.state().weights.doubles
        }
        let strided = try final(batch)
        let ascending = try final(try batch.with(summation: .ascending))
        #expect(strided != ascending)
        let scale = strided.map(abs).max() ?? 1
        let tolerance = precision == .float32 ? 1e-4 : 1e-12
        #expect(zip(strided, ascending).allSatisfy { abs($0 - $1) <= tolerance * scale })
        #expect(try final(batch, threads: 1) == strided)
        let whole = CPUEngine(threads: 3)
        try whole.initialize(batch)
        try whole.step(count: 63)
        #expect(try whole.state().weights.doubles == strided)
    }
}
