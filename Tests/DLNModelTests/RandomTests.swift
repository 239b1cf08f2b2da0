import DLNModel
import DLNRun
import DLNTheory
import TestSupport
import Testing

@Suite struct RandomTests {
    // Known-answer vectors of Random123 (kat_vectors, philox4x32 with 10 rounds).
    @Test func philoxKnownAnswers() {
        let zero = CounterRNG.philox((0, 0, 0, 0), key: (0, 0))
        #expect([zero.0, zero.1, zero.2, zero.3] == [0x6627_e8d5, 0xe169_c58d, 0xbc57_ac4c, 0x9b00_dbd8])
        let ones = CounterRNG.philox((.max, .max, .max, .max), key: (.max, .max))
        #expect([ones.0, ones.1, ones.2, ones.3] == [0x408f_276d, 0x41c8_3b0e, 0xa20b_c7c6, 0x6d54_51fd])
        let pi = CounterRNG.philox(
            (0x243f_6a88, 0x85a3_08d3, 0x1319_8a2e, 0x0370_7344), key: (0xa409_3822, 0x299f_31d0))
        #expect([pi.0, pi.1, pi.2, pi.3] == [0xd16c_fe09, 0x94fd_cceb, 0x5001_e420, 0x2412_6ea1])
    }

    @Test func valuesArePureFunctionsOfSeedStreamIndex() {
        let a = CounterRNG(seed: 42)
        let b = CounterRNG(seed: 42)
        for k in [0, 1, 7, 1 << 33] as [UInt64] {
            #expect(a.gaussian(stream: 1, index: k) == b.gaussian(stream: 1, index: k))
        }
        #expect(a.gaussian(stream: 1, index: 3) != a.gaussian(stream: 2, index: 3))
        #expect(a.gaussian(stream: 1, index: 3) != CounterRNG(seed: 43).gaussian(stream: 1, index: 3))
    }

    @Test func gaussianMoments() {
        let rng = CounterRNG(seed: 7)
        let n = 200_000
        var s1 = 0.0
        var s2 = 0.0
        var s4 = 0.0
        for k in 0..<n {
            let g = rng.gaussian(stream: 1, index: UInt64(k))
            s1 += g
            s2 += g * g
            s4 += g * g * g * g
        }
        let mean = s1 / Double(n)
        let variance = s2 / Double(n) - mean * mean
        #expect(abs(mean) < 0.01)
        #expect(abs(variance - 1) < 0.01)
        #expect(abs(s4 / Double(n) - 3) < 0.06)
        let u = (0..<n).map { rng.uniform(stream: 3, index: UInt64($0)) }
        #expect(u.allSatisfy { $0 > 0 && $0 < 1 })
        #expect(abs(u.reduce(0, +) / Double(n) - 0.5) < 0.005)
    }
}
