import DLNDevice
import DLNModel
import DLNRun
import DLNTheory
import Foundation
import TestSupport
import Testing

/// record.weights, record.layers and record.activation: the arrays hold the engine's state at the recorded
/// checkpoints, the activation times are the first checkpoint time where |w_i| > τ, slices of a batch record what
/// one pass records, and the CPU and OpenCL engines record the same bits.
@Suite(.serialized) struct RecordingTests {
    static func bits(_ v: [Double]) -> [UInt64] { v.map { $0.isNaN ? Double.nan.bitPattern : $0.bitPattern } }

    /// Two grid points (gradient descent: the second with a step size at which replicas may diverge), 5 seeds, d = 24.
    static func experiment(update: String = "gd", every: Int = 1, precision: String = "float32") throws -> Experiment {
        let time = update == "flow" ? "horizon: 20, flow: {rtol: 1.0e-5, atol: 1.0e-7}" : "steps: 400"
        let yaml = """
            problem: {d: 24, n: 12, data: independent, noise: 0.05}
            model: {depth: 2}
            training: {update: \(update), \(time), precision: \(precision)}
            grid: \(update == "flow" ? "{alpha: [0.01, 0.3]}" : "{alpha: [0.3], learning_rate: [0.05, 2.5]}")
            seeds: 5
            record: {checkpoints: 9, weights: {every: \(every)}, layers: true, activation: [0.05, 0.5]}
            """
        return try Experiment(try Configuration.parse(yaml: yaml))
    }

    static func run(_ e: Experiment, on engine: any Engine) throws -> Recording {
        try result(e, on: engine).recording!
    }

    static func result(_ e: Experiment, on engine: any Engine) throws -> RunResult {
        var options = RunOptions()
        options.recording = try Recording.plan(e, file: "test")
        let r = try Simulation.run(e, on: engine, options: options)
        #expect(r.recording != nil)
        return r
    }

    /// weights_t and layers_t against the engine stepped by hand to each checkpoint (grid point 0: no replica
    /// diverges there); activation_time against weights_t.
    @Test func arraysHoldTheEngineStateAtEachCheckpoint() throws {
        let e = try Self.experiment()
        let r = try Self.run(e, on: CPUEngine())
        let (C, d, S, B) = (e.checkpointCount, 24, 5, 10)
        #expect(r.checkpoints == Array(0..<C) && r.d == d && r.layerCount == 2 && r.replicas == B)
        #expect(r.weights.count == B * C * d && r.layers.count == B * C * 2 * d && r.activation.count == B * 2 * d)
        let files = r.files(gridPoints: 2, seeds: S)
        #expect(files.map(\.name) == ["weights_t.npy", "layers_t.npy", "activation_time.npy"])
        #expect(files.map(\.shape) == [[2, S, C, d], [2, S, C, 2, d], [2, S, 2, d]])
        // By hand: the first grid point's batch (both points share one batch; its replicas 0..<S are point 0).
        let engine = CPUEngine()
        try engine.initialize(e.groups[0].batch)
        var current = 0
        for (c, step) in e.groups[0].checkpoints.enumerated() {
            if step > current { try engine.step(count: step - current) }
            current = step
            let st = try engine.state()
            for s in 0..<S {
                let w = st.weights.doubles((s * d)..<((s + 1) * d))
                #expect(Self.bits(Array(r.weights[((s * C + c) * d)..<((s * C + c + 1) * d)])) == Self.bits(w))
                for l in 0..<2 {
                    let layer = st.layers[l].doubles((s * d)..<((s + 1) * d))
                    let at = ((s * C + c) * 2 + l) * d
                    #expect(Self.bits(Array(r.layers[at..<(at + d)])) == Self.bits(layer), "layer \(l)")
                }
            }
        }
        // Activation: the time of the first checkpoint where |w_i| > τ, NaN when there is none.
        var activated = 0
        for b in 0..<B {
            let times = e.times[b / S]
            for (j, tau) in [0.05, 0.5].enumerated() {
                for i in 0..<d {
                    let first = (0..<C).first { abs(r.weights[(b * C + $0) * d + i]) > tau }
                    let got = r.activation[(b * 2 + j) * d + i]
                    if let first {
                        #expect(got == times[first], "replica \(b), τ = \(tau), coordinate \(i)")
                        activated += 1
                    } else {
                        #expect(got.isNaN, "replica \(b), τ = \(tau), coordinate \(i)")
                    }
                }
            }
        }
        #expect(activated > 20 && activated < B * 2 * d, "some coordinates activate, not all: \(activated)")
    }

    /// Every k-th checkpoint, the last always included.
    @Test func everyKthCheckpointKeepsTheLast() throws {
        #expect(Recording.recordedCheckpoints(9, every: 3) == [0, 3, 6, 8])
        #expect(Recording.recordedCheckpoints(7, every: 3) == [0, 3, 6])
        #expect(Recording.recordedCheckpoints(5, every: 10) == [0, 4])
        let all = try Self.run(try Self.experiment(), on: CPUEngine())
        let some = try Self.run(try Self.experiment(every: 3), on: CPUEngine())
        let (C, d) = (all.checkpoints.count, 24)
        #expect(some.checkpoints == Recording.recordedCheckpoints(C, every: 3))
        for b in 0..<10 {
            for (r, c) in some.checkpoints.enumerated() {
                let x = Array(
                    some.weights[((b * some.checkpoints.count + r) * d)..<((b * some.checkpoints.count + r + 1) * d)])
                #expect(Self.bits(x) == Self.bits(Array(all.weights[((b * C + c) * d)..<((b * C + c + 1) * d)])))
            }
        }
        #expect(Self.bits(some.activation) == Self.bits(all.activation), "activation uses every checkpoint")
    }

    /// A batch run in slices records what one pass records (gradient descent with frozen replicas, and flow).
    @Test(arguments: ["gd", "flow"]) func slicesRecordTheSame(update: String) throws {
        let e = try Self.experiment(update: update)
        let result = try Self.result(e, on: CPUEngine())
        let whole = try #require(result.recording)
        if update == "gd" { #expect(result.status.contains { $0 != 0 }, "replicas of η = 2.5 are frozen") }
        let sliced = try Self.run(e, on: LimitedEngine(CPUEngine(), capacity: 16))
        #expect(whole.checkpoints == sliced.checkpoints)
        #expect(Self.bits(whole.weights) == Self.bits(sliced.weights), "weights_t")
        #expect(Self.bits(whole.layers) == Self.bits(sliced.layers), "layers_t")
        #expect(Self.bits(whole.activation) == Self.bits(sliced.activation), "activation_time")
        #expect(!whole.weights.contains { $0.isNaN }, "every replica recorded at every checkpoint (frozen ones too)")
    }

    @Test(.needsOpenCL, arguments: ["gd", "flow"]) func cpuAndOpenCLRecordTheSameBitsOnOpenCL(update: String) throws {
        let e = try Self.experiment(update: update)
        let cpu = try Self.run(e, on: CPUEngine())
        let cl = try Self.run(e, on: try EngineKind.opencl.engine())
        #expect(Self.bits(cpu.weights) == Self.bits(cl.weights), "weights_t")
        #expect(Self.bits(cpu.layers) == Self.bits(cl.layers), "layers_t")
        #expect(Self.bits(cpu.activation) == Self.bits(cl.activation), "activation_time")
    }
}
