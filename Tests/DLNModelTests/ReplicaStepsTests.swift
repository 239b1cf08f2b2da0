import DLNModel
import DLNRun
import Foundation
import TestSupport
import Testing

/// Independent data stepped one replica at a time, its data in cache (CPU/ReplicaSteps.swift), gives the bits of
/// the lane-interleaved block path: the same sums in the same order. Sizes cover every strip width (128, 64, 16
/// columns) of rows and coordinates, d = 1, a partial last block, and both precisions.
@Suite struct ReplicaStepsTests {
    static let perReplica = CPUTuning(replicaBytes: Int.max)
    static let interleaved = CPUTuning(replicaBytes: 0)

    static func run(_ batch: Batch, tuning: CPUTuning, threads: Int, steps: [Int]) throws -> [UInt64] {
        let engine = CPUEngine(threads: threads, tuning: tuning)
        try engine.initialize(batch)
        var bits: [UInt64] = []
        for count in steps {
            try engine.step(count: count)
            let state = try engine.state()
            bits += state.weights.doubles.map(\.bitPattern)
            for layer in state.layers { bits += layer.doubles.map(\.bitPattern) }
            bits += try engine.observe().trainLoss.map(\.bitPattern)
        }
        return bits
    }

    static let cases: [(model: Parameterization, update: UpdateRule, depth: Int, d: Int, n: Int, replicas: Int)] = [
        (.pm, .gd, 2, 37, 150, 36),  // rows: strips 128 + 16; coordinates: 16 + 16 + 16
        (.uv, .gd, 2, 200, 70, 20),  // coordinates: 128 + 64 + 16; rows: 64 + 16
        (.deep, .gd, 3, 7, 9, 18),
        (.deepPM, .gd, 3, 1, 5, 4),
        (.pm, .multiplicative, 2, 45, 22, 16),
        (.uv, .gd, 2, 23, 70, 18),  // heavy-ball momentum
        (.deep, .gd, 3, 40, 33, 18)  // Nesterov
    ]

    @Test(arguments: [Precision.float32, .float64], 0..<7)
    func perReplicaStepsAreTheBlockPathBitForBit(precision: Precision, index: Int) throws {
        let c = Self.cases[index]
        let batch = try makeBatch(
            d: c.d, n: c.n, replicas: c.replicas, model: c.model, update: c.update, depth: c.depth,
            precision: precision, sharing: .independent, lambda: [0, 0.01], eta: [0.02],
            alpha: c.model == .deep || c.model == .deepPM ? [0.5] : [0.1]
        ) { config in
            config.training.summation = .ascending  // the order the block path shares (StridedOrderTests: the other)
            if index == 0 {  // a schedule: step k uses η·s_k
                config.training.schedule.name = .inverseTime
                config.training.schedule.tau = 10
            }
            if index >= 5 { config.training.momentum = 0.8 }
            if index == 6 { config.training.nesterov = .on }
        }
        #expect(batch.hasMomentum == (index >= 5) && batch.nesterov == (index == 6))
        for form in [GradientForm.products, .gram] {  // forced: the default is the cheaper one
            try Self.compare(
                try batch.with(gradientForm: form), "\(c.model) \(c.update) d=\(c.d) n=\(c.n) \(precision) \(form)")
        }
    }

    static func compare(_ batch: Batch, _ label: String) throws {
        let steps = [1, 40, 7, 3]
        let reference = try Self.run(batch, tuning: Self.interleaved, threads: 1, steps: steps)
        for threads in [1, 3] {
            let got = try Self.run(batch, tuning: Self.perReplica, threads: threads, steps: steps)
            let first = got.indices.first { $0 >= reference.count || got[$0] != reference[$0] }
            #expect(
                got.count == reference.count && first == nil,
                "\(label), \(threads) threads: value \(first ?? -1) differs"
            )
        }
        // The run moved: a test of two frozen states would pass for any path.
        let start = try Self.run(batch, tuning: Self.perReplica, threads: 1, steps: [0])
        #expect(start != Array(reference.prefix(start.count)))
    }
}

/// The calibration's choice from its measurements, and the override's spelling.
@Suite struct CPUTuningTests {
    static func m(_ pairs: [(Int, Bool)]) -> [CPUTuning.Measurement] {
        pairs.map { CPUTuning.Measurement(bytes: $0.0, perReplica: $0.1 ? 1.4 : 1, interleaved: 1.5) }
    }

    @Test func choiceFollowsTheRunsOfWins() {
        #expect(CPUTuning.choose(Self.m([(4, true), (16, true), (64, true)])) == (0, Int.max))
        #expect(CPUTuning.choose(Self.m([(4, false), (16, true), (64, true)])) == (16, Int.max))
        #expect(CPUTuning.choose(Self.m([(4, false), (16, true), (64, false)])) == (16, 16))
        #expect(CPUTuning.choose(Self.m([(4, true), (16, true), (64, false)])) == (0, 16))
        #expect(CPUTuning.choose(Self.m([(4, true), (16, false), (64, true)])) == (0, Int.max))
        #expect(CPUTuning.choose(Self.m([(4, false), (16, true), (64, false), (256, true)])) == (16, Int.max))
        #expect(CPUTuning.choose(Self.m([(4, false), (16, true), (64, false), (256, true), (512, false)])) == (16, 256))
        let never = CPUTuning.choose(Self.m([(4, false), (16, false)]))
        #expect(never.0 > never.1)
    }

    @Test func eachMachineHasItsOwnCacheFile() {
        let a = CPUTuning.cacheFile(machine: "Xeon, AVX-512, 2 cores")
        let b = CPUTuning.cacheFile(machine: "EPYC, AVX-512, 2 cores")
        #expect(a != b)
        #expect(a == CPUTuning.cacheFile(machine: "Xeon, AVX-512, 2 cores"))
        #expect(a.lastPathComponent.hasPrefix("cpu-tuning-") && a.pathExtension == "json")
        #expect(a.deletingLastPathComponent().lastPathComponent == "dlnsim")
        // A binary whose loops changed calibrates again (the revision is in the key).
        #expect(CPUTuning.machineKey.hasSuffix("loops r\(CPUTuning.loopsRevision)"))
    }

    @Test func modesParse() {
        #expect(CPUTuning.Mode(argument: "auto") == .auto)
        #expect(CPUTuning.Mode(argument: "standard") == .standard)
        #expect(CPUTuning.Mode(argument: "calibrate") == .calibrate)
        #expect(CPUTuning.Mode(argument: "2M") == .replicaBytes(2 << 20))
        #expect(CPUTuning.Mode(argument: "512k") == .replicaBytes(512 << 10))
        #expect(CPUTuning.Mode(argument: "0") == .replicaBytes(0))
        #expect(CPUTuning.Mode(argument: "fast") == nil)
        #expect(CPUTuning.Mode(argument: "-1") == nil)
    }

    /// Tiles of four blocks, of two and of one (the calibrated `tileBlocks`) give the same bits, with a remainder pair
    /// and a single block (11 blocks on one thread: two quads, a pair, a single). Single blocks update a chunk of 48
    /// coordinates as soon as its gradient sums are done (`gradientAndUpdate`): d = 101 is two chunks and a remainder.
    @Test(arguments: Precision.allCases, ["pm", "pm multiplicative", "uv", "deep 3"])
    func tileChoiceKeepsTheBits(precision: Precision, family: String) throws {
        let model: Parameterization = family.hasPrefix("deep") ? .deep : family == "uv" ? .uv : .pm
        let batch = try makeBatch(
            d: 101, n: 19, replicas: 172, model: model,
            update: family.hasSuffix("multiplicative") ? .multiplicative : .gd,
            depth: family.hasPrefix("deep") ? 3 : 2, precision: precision, lambda: [0, 0.01])
        var results: [[UInt64]] = []
        for tile in [4, 2, 1] {
            let engine = CPUEngine(threads: 1, tuning: CPUTuning(replicaBytes: 0, tileBlocks: tile))
            try engine.initialize(batch)
            try engine.step(count: 30)
            results.append((try engine.state().weights.doubles + (try engine.observe().trainLoss)).map(\.bitPattern))
        }
        #expect(results[0] == results[1])
        #expect(results[0] == results[2])
        #expect(CPUTuning(replicaBytes: 0, tileBlocks: 2).summary.contains("two blocks"))
        #expect(CPUTuning(replicaBytes: 0, tileBlocks: 1).summary.contains("one block"))
        #expect(CPUTuning.standard.tileBlocks == 4)
        let rates = CPUTuning.TileRates(quads: 1, pairs: 3, singles: 2)
        #expect(rates.fastest == 2)
        #expect(CPUTuning.TileRates(quads: 1, pairs: 2, singles: 2.5).fastest == 1)
    }
}
