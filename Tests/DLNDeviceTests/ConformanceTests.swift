import DLNDevice
import DLNModel
import DLNRun
import DLNTheory
import Foundation
import TestSupport
import Testing

/// The engine contract, checked the same way on every engine (the CPU engine and the OpenCL engine), for pm, uv and
/// deep models, gradient descent, the multiplicative update and gradient flow, in float32 and float64:
/// - determinism: two engines given the same batch end bit-identical (observing in between changes nothing);
/// - slicing: the batch run as slices of 16 replicas, one after the other, gives the same bits per replica;
/// - snapshot → restore → continue gives the uninterrupted run's bits, on a fresh engine and on the same one;
/// - observables: train loss finite and ≥ 0, norm_sq·d = l2_norm², ‖w‖₁ ≥ ‖w‖₂, a tiny conservation residual for
///   the multiplicative `pm` update (mirror descent keeps u⊙v = α²e^{−2λt});
/// - exact identities of gradient descent in float64 (the `pm` product and the `uv` sum and difference).
/// On OpenCL, float64 runs where the device has cl_khr_fp64 (`.needsFP64`: always under CI).
@Suite(.serialized) struct ConformanceTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var label: String
        var model: Parameterization = .pm, update: UpdateRule = .gd, depth = 2
        var precision: Precision
        var sharing: DataSharing = .shared
        var lambda: [Double] = [0, 0.01]
        var eta = 0.02, alpha = 0.3
        var testDescription: String { label }
        /// Two chunks: steps for fixed-step updates, times for gradient flow.
        var first: Double { update == .flow ? 1 : 60 }
        var second: Double { update == .flow ? 3 : 140 }
    }

    static let float32Cases: [Case] = [
        Case(label: "pm gd f32", precision: .float32),
        Case(label: "pm multiplicative f32", update: .multiplicative, precision: .float32, sharing: .independent),
        Case(label: "uv gd f32", model: .uv, precision: .float32),
        Case(label: "deep3 gd f32", model: .deep, depth: 3, precision: .float32, eta: 0.01, alpha: 0.7),
        Case(label: "pm flow f32", update: .flow, precision: .float32)
    ]
    static let float64Cases: [Case] = [
        Case(label: "pm gd f64", precision: .float64, sharing: .independent),
        Case(label: "pm multiplicative f64", update: .multiplicative, precision: .float64),
        Case(label: "uv gd f64", model: .uv, precision: .float64, sharing: .independent),
        Case(label: "deep3 gd f64", model: .deep, depth: 3, precision: .float64, eta: 0.01, alpha: 0.7),
        Case(label: "pm flow f64", update: .flow, precision: .float64, sharing: .independent),
        Case(label: "deep3 flow f64", model: .deep, update: .flow, depth: 3, precision: .float64, alpha: 0.7),
        Case(label: "deep_pm3 gd f64", model: .deepPM, depth: 3, precision: .float64, eta: 0.01, alpha: 0.7),
        Case(label: "deep_pm2 flow f64", model: .deepPM, update: .flow, depth: 2, precision: .float64, alpha: 0.7)
    ]

    static let replicas = 38, d = 21, n = 9

    static func batch(_ c: Case) throws -> Batch {
        try makeBatch(
            d: d, n: n, replicas: replicas, model: c.model, update: c.update, depth: c.depth, precision: c.precision,
            sharing: c.sharing, lambda: c.lambda, eta: [c.eta], alpha: [c.alpha], noise: 0.1,
            flow: c.precision == .float64 ? FlowSettings(rtol: 1e-8, atol: 1e-10) : FlowSettings(rtol: 1e-5, atol: 1e-7)
        )
    }

    /// Runs an engine from `from` to `time` (steps, or flow time: the integrator lands on every chunk's end, so every
    /// run compared chunks the same way).
    static func run(_ engine: any FlowEngine, _ c: Case, from: Double = 0, to time: Double) throws {
        if c.update == .flow { try engine.advance(to: time) } else { try engine.step(count: Int(time - from)) }
    }

    /// Both chunks.
    static func runBoth(_ engine: any FlowEngine, _ c: Case) throws {
        try run(engine, c, to: c.first)
        try run(engine, c, from: c.first, to: c.second)
    }

    /// Where two bit-pattern tables first differ (nil when identical), for a short failure message.
    static func firstDifference(_ x: [[UInt64]], _ y: [[UInt64]]) -> String? {
        guard x.count == y.count else { return "\(x.count) rows against \(y.count)" }
        for (r, (a, b)) in zip(x, y).enumerated() {
            guard a.count == b.count else { return "row \(r): \(a.count) values against \(b.count)" }
            if let i = a.indices.first(where: { a[$0] != b[$0] }) {
                let n = zip(a, b).filter { $0 != $1 }.count
                return
                    "row \(r), index \(i): \(Double(bitPattern: a[i])) against \(Double(bitPattern: b[i])) (\(n) of "
                    + "\(a.count) differ)"
            }
        }
        return nil
    }

    /// Bit patterns, every NaN counted as one.
    static func bits(_ v: [Double]) -> [UInt64] { v.map { $0.isNaN ? Double.nan.bitPattern : $0.bitPattern } }
    static func bits(_ s: EngineState) -> [[UInt64]] { s.layers.map { bits($0.doubles) } + [bits(s.weights.doubles)] }
    static func bits(_ o: Observation) -> [[UInt64]] { o.values.map { bits($0) } }

    // The same checks on each engine (a trait skips a whole test, so the OpenCL runs are tests of their own).
    @Test(arguments: float32Cases + float64Cases)
    func cpuEngine(_ c: Case) throws { try Self.check(.cpu, c) }

    @Test(.needsOpenCL, arguments: float32Cases)
    func openCLEngine(_ c: Case) throws { try Self.check(.opencl, c) }

    @Test(.needsFP64, arguments: float64Cases)
    func openCLEngineInFloat64(_ c: Case) throws { try Self.check(.opencl, c) }

    static func check(_ kind: EngineKind, _ c: Case) throws {
        let (a, b) = (try kind.engine(fp64: c.precision == .float64), try kind.engine(fp64: c.precision == .float64))
        let batch = try batch(c)
        let B = batch.layout.replicas
        let d = batch.layout.dimension
        #expect(B == replicas)

        // Determinism: a observes between two chunks and snapshots there, b runs straight through.
        try a.initialize(batch)
        try run(a, c, to: c.first)
        let middleObservation = try a.observe()
        let middle = try a.snapshot()
        try run(a, c, from: c.first, to: c.second)
        let (final, observation) = (try a.state(), try a.observe())
        let counters = try a.flowCounters()
        try b.initialize(batch)
        try runBoth(b, c)
        let again = firstDifference(bits(try b.state()), bits(final))
        #expect(again == nil, "two runs of the same batch differ: \(again ?? "")")
        let againObserved = firstDifference(bits(try b.observe()), bits(observation))
        #expect(againObserved == nil, "two runs' observables differ: \(againObserved ?? "")")
        #expect(maxULP(try b.state(), final) == 0)
        if c.update == .flow {
            let other = try b.flowCounters()
            #expect(
                other.evaluations == counters.evaluations && other.rejected == counters.rejected
                    && other.status == counters.status)
        }
        #expect(final.weights.doubles.allSatisfy { $0.isFinite }, "the run diverged")
        #expect(bits(observation) != bits(middleObservation), "the second chunk moved nothing")

        // Slicing: the same replicas in slices of 16 (16, 16, 6), each on the re-initialised engine b.
        var parts: [EngineState] = []
        var sliced: [[Double]] = Array(repeating: [], count: observation.names.count)
        for start in stride(from: 0, to: B, by: 16) {
            try b.initialize(try batch.slice(start..<min(start + 16, B)))
            try runBoth(b, c)
            parts.append(try b.state())
            let o = try b.observe()
            for k in o.values.indices { sliced[k] += o.values[k] }
        }
        let slicedState = firstDifference(bits(EngineState(concatenating: parts)), bits(final))
        #expect(slicedState == nil, "slices of the batch differ from the whole batch: \(slicedState ?? "")")
        let slicedObserved = firstDifference(sliced.map { bits($0) }, bits(observation))
        #expect(slicedObserved == nil, "observables in slices: \(slicedObserved ?? "")")

        // Snapshot → restore → continue, on the other engine (fresh batch) and on the same engine (rewind).
        try b.initialize(batch)
        try b.restore(middle)
        try run(b, c, from: c.first, to: c.second)
        let moved = firstDifference(bits(try b.state()), bits(final))
        #expect(moved == nil, "restored on another engine and continued: \(moved ?? "")")
        let movedObserved = firstDifference(bits(try b.observe()), bits(observation))
        #expect(movedObserved == nil, "observables restored on another engine and continued: \(movedObserved ?? "")")
        try a.restore(middle)
        let rewoundObserved = firstDifference(bits(try a.observe()), bits(middleObservation))
        #expect(rewoundObserved == nil, "the restored state observes as it did: \(rewoundObserved ?? "")")
        try run(a, c, from: c.first, to: c.second)
        let rewound = firstDifference(bits(try a.state()), bits(final))
        #expect(rewound == nil, "rewound and continued: \(rewound ?? "")")

        // Observables' identities.
        let tolerance = c.precision == .float64 ? 1e-12 : 1e-5
        let loss = try #require(observation["train_loss"])
        let normSq = try #require(observation["norm_sq"])
        let l1 = try #require(observation["l1_norm"])
        let l2 = try #require(observation["l2_norm"])
        let conservation = try #require(observation["conservation"])
        for r in 0..<B {
            #expect(loss[r].isFinite && loss[r] >= 0, "replica \(r): train loss \(loss[r])")
            #expect(
                abs(normSq[r] * Double(d) - l2[r] * l2[r]) <= tolerance * max(l2[r] * l2[r], 1e-30),
                "replica \(r): norm_sq·d vs l2_norm²")
            #expect(l1[r] >= l2[r] * (1 - tolerance), "replica \(r): ‖w‖₁ < ‖w‖₂")
            if c.update == .multiplicative {
                #expect(
                    conservation[r] < (c.precision == .float64 ? 1e-12 : 1e-4),
                    "replica \(r): conservation \(conservation[r])")
            }
        }
        let w = final.weights.doubles
        for r in 0..<B {
            let row = w[(r * d)..<((r + 1) * d)]
            let exact = row.reduce(0) { $0 + $1 * $1 }
            #expect(abs(l2[r] * l2[r] - exact) <= 1e-4 * max(exact, 1e-30), "replica \(r): l2_norm against the state")
        }

        // Exact gradient-descent identities, float64: replayed from the states step by step.
        if c.precision == .float64 && c.update == .gd && !c.model.isDeep { try gradientIdentity(on: a, batch, c) }
    }

    static func gradient(_ batch: Batch, weights: [Double], replica b: Int) -> [Double] {
        replayedGradient(batch, weights: weights, replica: b)
    }

    /// pm: u⊙v = α²∏[(1 − ηλ_u)² − η²g²]; uv: u + v and u − v are multiplied by (1 − ηλ_u) ∓ ηg at every step.
    static func gradientIdentity(on engine: any FlowEngine, _ batch: Batch, _ c: Case) throws {
        let B = batch.layout.replicas
        let d = batch.layout.dimension
        let steps = 200
        try engine.initialize(batch)
        let s0 = try engine.state()
        let (u0, v0) = (s0.layers[0].doubles, s0.layers[1].doubles)
        var logA = c.model == .pm ? zip(u0, v0).map { log($0 * $1) } : zip(u0, v0).map { log(abs($0 + $1)) }
        var logB = zip(u0, v0).map { log(abs($0 - $1)) }
        for _ in 0..<steps {
            let w = try engine.state().weights.doubles
            for r in 0..<B {
                let g = gradient(batch, weights: w, replica: r)
                let (eta, lambda) = (batch.replicas[r].eta, batch.replicas[r].lambdaU)
                for j in 0..<d {
                    let k = r * d + j
                    if c.model == .pm {
                        logA[k] += log((1 - eta * lambda) * (1 - eta * lambda) - eta * eta * g[j] * g[j])
                    } else {
                        logA[k] += log(abs((1 - eta * lambda) - eta * g[j]))
                        logB[k] += log(abs((1 - eta * lambda) + eta * g[j]))
                    }
                }
            }
            try engine.step(count: 1)
        }
        let s = try engine.state()
        let (u, v) = (s.layers[0].doubles, s.layers[1].doubles)
        var worst = 0.0
        for k in 0..<(B * d) {
            if c.model == .pm {
                worst = max(worst, abs(u[k] * v[k] / exp(logA[k]) - 1))
            } else {
                worst = max(worst, abs(log(abs(u[k] + v[k])) - logA[k]), abs(log(abs(u[k] - v[k])) - logB[k]))
            }
        }
        #expect(worst < 1e-11, "\(c.label): gradient-descent identity off by \(worst)")
    }
}
