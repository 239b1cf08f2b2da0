import DLNModel
import TestSupport
import Testing

/// The hot loops compiled for the baseline and for AVX-512 (CPU/VectorCode.swift) give the same bits on every path
/// that uses them: regime-S tiles of one, two and four blocks, the interleaved blocks and the one-replica-at-a-time
/// path of independent data, the Gram form, and the matrix model's register tiles.
struct VectorISATests {
    static let reason = "this CPU has no AVX-512 (F, CD, BW, DQ, VL): only the baseline loops can run here"

    /// weights, layers and train loss after 40 steps and 7 more, on `isa`.
    static func run(_ batch: Batch, isa: VectorISA, threads: Int) throws -> [UInt64] {
        let engine = CPUEngine(threads: threads, tuning: CPUTuning(replicaMinBytes: 0, replicaBytes: .max), isa: isa)
        #expect(engine.isa == isa)
        try engine.initialize(batch)
        var bits: [UInt64] = []
        for count in [40, 7] {
            try engine.step(count: count)
            let s = try engine.state()
            bits += (s.weights.doubles + s.layers.flatMap(\.doubles) + (try engine.observe().trainLoss)).map(
                \.bitPattern)
        }
        return bits
    }

    @Test(.enabled(if: VectorISA.avx512.isSupported, Comment(rawValue: reason)), arguments: Precision.allCases)
    func diagonalPathsGiveTheSameBits(precision: Precision) throws {
        // 160 replicas shared (quads on one thread, pairs and single blocks on eight), 37 independent (d = 37: strips
        // of 16 and a partial block), and the Gram form (n > d/2) both ways.
        let cases: [(Batch, String)] = [
            (try makeBatch(d: 45, n: 22, replicas: 160, precision: precision, lambda: [0, 0.01]), "shared"),
            (try makeBatch(d: 37, n: 13, replicas: 37, precision: precision, sharing: .independent), "independent"),
            (
                try makeBatch(d: 7, n: 40, replicas: 21, precision: precision, sharing: .independent)
                    .with(gradientForm: .gram), "independent, Gram"
            ),
            (try makeBatch(d: 1, n: 9, replicas: 33, precision: precision).with(gradientForm: .gram), "d = 1, Gram")
        ]
        for (batch, name) in cases {
            for threads in [1, 8] {
                let base = try Self.run(batch, isa: .baseline, threads: threads)
                let wide = try Self.run(batch, isa: .avx512, threads: threads)
                #expect(base == wide, "\(name), \(precision), \(threads) threads")
                #expect(base.contains { Double(bitPattern: $0) != 0 }, "\(name): something was computed")
            }
        }
    }

    @Test(.enabled(if: VectorISA.avx512.isSupported, Comment(rawValue: reason)), arguments: Precision.allCases)
    func matrixTilesGiveTheSameBits(precision: Precision) throws {
        // Widths that leave edge tiles in both directions (5×5 and 2×4 tiles, then 5×1, 1×5, 1×1, …).
        let batch = MatrixFixture.batch(widths: [13, 7, 11, 3], n: 12, B: 35, precision: precision, independent: false)
        var results: [[Double]] = []
        for isa in VectorISA.allCases {
            let engine = MatrixCPUEngine(threads: 2, isa: isa)
            #expect(engine.isa == isa)
            try engine.initialize(batch)
            try engine.step(count: 9)
            results.append(try engine.parameters().doubles + (try engine.loss()))
        }
        #expect(results[0].map(\.bitPattern) == results[1].map(\.bitPattern))
    }

    @Test func choiceAndPeak() {
        #expect(VectorISA.baseline.isSupported)
        #expect(VectorISA.detected.isSupported && VectorISA.current.isSupported)
        #expect(VectorISA.avx512.description == "AVX-512")
        // An engine asked for an instruction set the CPU lacks runs the baseline instead of faulting.
        let engine = CPUEngine(threads: 1, isa: .avx512)
        #expect(engine.isa == (VectorISA.avx512.isSupported ? .avx512 : .baseline))
        #expect(CPUPeak.measure(threads: 1, isa: .baseline) > 0.1)
        #expect(CPUPeak.measure(threads: 1, isa: .baseline, double: true) > 0.1)
    }
}
