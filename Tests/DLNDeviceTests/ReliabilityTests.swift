import DLNDevice
import DLNModel
import DLNRun
import DLNTheory
import Foundation
import TestSupport
import Testing

/// Runs that survive: diverging replicas are frozen without touching the others, a run resumes bit for bit
/// from any checkpoint (in memory and through the file), and an allocation failure splits the batch further.
@Suite(.serialized) struct ReliabilityTests {
    typealias Side = EngineKind

    static func bits(_ v: [Double]) -> [UInt64] { v.map { $0.isNaN ? Double.nan.bitPattern : $0.bitPattern } }

    /// α = 1 with η = 1.5 diverges on this data; η = 0.01 does not.
    static func divergent(precision: String = "float32", ratio: String = "", etas: String = "[0.01, 1.5]") throws
        -> Experiment
    {
        try Experiment(
            try Configuration.parse(
                yaml: """
                    problem: {d: 40, n: 20, data: independent, noise: 0.1}
                    training: {steps: 400, precision: \(precision)\(ratio)}
                    grid: {alpha: [0.5, 1], learning_rate: \(etas)}
                    seeds: 5
                    record: {checkpoints: 8}
                    """))
    }

    /// Diverged replicas are flagged (status 4 or 5), frozen at the state before their first bad step, left
    /// out of the statistics; every other replica's numbers are those of a run without them, bit for bit.
    @Test(arguments: ["", ", max_loss_ratio: 1.0e300"]) func divergedReplicasFreezeAtTheirLastGoodStepOnCPU(
        ratio: String
    ) throws {
        try divergedReplicasFreezeAtTheirLastGoodStep(side: .cpu, ratio: ratio)
    }
    @Test(.needsOpenCL, arguments: ["", ", max_loss_ratio: 1.0e300"])
    func divergedReplicasFreezeAtTheirLastGoodStepOnOpenCL(ratio: String) throws {
        try divergedReplicasFreezeAtTheirLastGoodStep(side: .opencl, ratio: ratio)
    }
    func divergedReplicasFreezeAtTheirLastGoodStep(side: Side, ratio: String) throws {
        let (engine, fresh) = (try side.engine(), try side.engine())
        let experiment = try Self.divergent(ratio: ratio)
        let result = try Simulation.run(experiment, on: engine, keepFinalState: true)
        let S = 5
        let G = 4
        let C = result.checkpoints.count
        // Grid points: (α, η) = (0.5, 0.01), (0.5, 1.5), (1, 0.01), (1, 1.5).
        let points = experiment.gridPoints
        var frozen = 0
        for g in 0..<G {
            for s in 0..<S {
                let b = g * S + s
                if points[g].learningRate < 0.1 {
                    #expect(result.status[b] == 0)
                } else {
                    #expect(
                        result.status[b] == (ratio.isEmpty ? 5 : 4),
                        "grid point \(g) seed \(s): status \(result.status[b])")
                    frozen += 1
                }
                // Every observation stays finite: frozen replicas keep their last good state.
                #expect(result.observations.allSatisfy { $0.trainLoss[b].isFinite })
            }
        }
        #expect(frozen == 10)
        let stats = RunStatistics(result, gridPoints: G, seeds: S)
        #expect(stats.excluded == [0, 5, 0, 5])
        #expect(stats.summaries[1][0][C - 1].count == 0 && stats.summaries[0][0][C - 1].count == 5)

        // The healthy replicas are exactly those of a run without the divergent learning rate.
        let calm = try Simulation.run(try Self.divergent(ratio: ratio, etas: "[0.01]"), on: fresh)
        for (c, o) in result.observations.enumerated() {
            for k in o.values.indices {
                let healthy = [0, 2].flatMap { g in (0..<S).map { o.values[k][g * S + $0] } }
                #expect(
                    Self.bits(healthy) == Self.bits(calm.observations[c].values[k]), "\(o.names[k]) at checkpoint \(c)")
            }
        }

        // A frozen replica's final state is the state after the last good step: one step more is bad.
        let group = experiment.groups[0]
        let final = try #require(result.finalStates?.first)
        let d = group.batch.layout.dimension
        for s in [0, 3] {
            let b = 1 * S + s
            let local = try #require(group.points.firstIndex(of: 1)) * S + s
            let eta = points[1].learningRate
            let k = Int((result.frozenAt[b] / eta).rounded())
            #expect(k >= 1 && k < 400)
            try fresh.initialize(try group.batch.slice(local..<(local + 1)))
            try fresh.step(count: k)
            let state = try fresh.state()
            #expect(
                Self.bits(state.weights.doubles)
                    == Self.bits(Array(final.weights.doubles[(local * d)..<((local + 1) * d)])))
            let before = try fresh.observe().trainLoss[0]
            try fresh.step(count: 1)
            let after = try fresh.observe().trainLoss[0]
            let bound = experiment.configuration.training.maxLossRatio * max(result.observations[0].trainLoss[b], 1)
            #expect(before.isFinite && before <= bound)
            #expect(!(after.isFinite && after <= bound), "step \(k + 1) has loss \(after), bound \(bound)")
        }
    }

    /// Resuming from a checkpoint (taken at every chance: mid-interval, at observations, between slices)
    /// gives the uninterrupted run bit for bit: observables, counters, status and final states.
    @Test(arguments: ["gd", "flow"]) func resumeIsBitIdenticalOnCPU(update: String) throws {
        try resumeIsBitIdentical(side: .cpu, update: update)
    }
    @Test(.needsOpenCL, arguments: ["gd", "flow"]) func resumeIsBitIdenticalOnOpenCL(update: String) throws {
        try resumeIsBitIdentical(side: .opencl, update: update)
    }
    func resumeIsBitIdentical(side: Side, update: String) throws {
        let (a, b, c) = (try side.engine(), try side.engine(), try side.engine())
        let time = update == "flow" ? "horizon: 20, flow: {rtol: 1.0e-5, atol: 1.0e-7}" : "steps: 300"
        let experiment = try Experiment(
            try Configuration.parse(
                yaml: """
                    problem: {d: 30, n: 12, data: independent}
                    training: {update: \(update), \(time)}
                    grid: {alpha: [0.05, 1], learning_rate: [0.02, 1.5], weight_decay: [0, 0.01]}
                    seeds: 5
                    record: {checkpoints: 6}
                    """))
        var options = RunOptions()
        options.keepFinalState = true
        let whole = try Simulation.run(experiment, on: a, options: options)
        // Every checkpoint of a run in slices of 16.
        var saved: [RunProgress] = []
        options.checkpointInterval = 0
        options.writeCheckpoint = { p in saved.append(p) }
        let sliced = LimitedEngine(b, capacity: 16)
        _ = try Simulation.run(experiment, on: sliced, options: options)
        #expect(saved.count > 8)
        if update == "gd" { #expect(whole.status.contains(where: { $0 > 0 }), "some replicas diverge") }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("dlnsim-resume-\(getpid())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let origin = Checkpoint.Origin(
            configPath: "/x.yaml", configText: "", device: "cpu", saveWeights: true, shard: nil)
        for i in [1, saved.count / 3, saved.count / 2 + 1, saved.count - 1] {
            // Through the file, as `dlnsim run --resume` does.
            try Checkpoint.write(saved[i], origin: origin, to: directory)
            let (_, progress) = try Checkpoint.read(from: directory)
            var plain = RunOptions()
            plain.keepFinalState = true
            let resumed = try Simulation.run(
                experiment, on: LimitedEngine(c, capacity: 16), options: plain, resume: progress)
            for (oa, ob) in zip(whole.observations, resumed.observations) {
                for k in oa.values.indices {
                    #expect(Self.bits(oa.values[k]) == Self.bits(ob.values[k]), "checkpoint \(i): \(oa.names[k])")
                }
            }
            #expect(
                whole.evaluations == resumed.evaluations && whole.rejected == resumed.rejected
                    && whole.status == resumed.status)
            #expect(Self.bits(whole.frozenAt) == Self.bits(resumed.frozenAt))
            let (sa, sb) = (try #require(whole.finalStates?.first), try #require(resumed.finalStates?.first))
            #expect(Self.bits(sa.weights.doubles) == Self.bits(sb.weights.doubles), "checkpoint \(i)")
        }
    }

    /// A stop request (what SIGINT/SIGTERM set) ends the run after a checkpoint, from which it resumes exactly.
    @Test(arguments: [3, 40, 170])
    func stopRequestWritesACheckpointToResumeFrom(polls: Int) throws {
        let experiment = try Self.divergent()
        let whole = try Simulation.run(experiment, on: CPUEngine())
        var options = RunOptions()
        var asked = 0
        var last: RunProgress? = nil
        options.checkpointInterval = 1e9  // none but the stop's
        options.shouldStop = {
            asked += 1
            return asked > polls
        }
        options.writeCheckpoint = { p in last = p }
        #expect(throws: DLNError.self) { try Simulation.run(experiment, on: CPUEngine(), options: options) }
        let progress = try #require(last)
        let resumed = try Simulation.run(experiment, on: CPUEngine(), options: RunOptions(), resume: progress)
        for (oa, ob) in zip(whole.observations, resumed.observations) {
            for k in oa.values.indices { #expect(Self.bits(oa.values[k]) == Self.bits(ob.values[k]), "\(oa.names[k])") }
        }
        #expect(whole.status == resumed.status)
    }

    /// An allocation failure halves the slice until it fits; the numbers are those of one pass.
    @Test func allocationFailureRetriesInSmallerSlicesOnCPU() throws {
        try allocationFailureRetriesInSmallerSlices(side: .cpu)
    }
    @Test(.needsOpenCL) func allocationFailureRetriesInSmallerSlicesOnOpenCL() throws {
        try allocationFailureRetriesInSmallerSlices(side: .opencl)
    }
    func allocationFailureRetriesInSmallerSlices(side: Side) throws {
        let (a, b) = (try side.engine(), try side.engine())
        let experiment = try Self.divergent()
        let whole = try Simulation.run(experiment, on: a)
        let fragile = LimitedEngine(b, capacity: 1_000_000, refuseAbove: 16)
        var notes: [String] = []
        var options = RunOptions()
        options.note = { notes.append($0) }
        let split = try Simulation.run(experiment, on: fragile, options: options)
        #expect(fragile.refused == 1)
        #expect(notes.first?.contains("retrying in slices of") == true)
        for (oa, ob) in zip(whole.observations, split.observations) {
            for k in oa.values.indices { #expect(Self.bits(oa.values[k]) == Self.bits(ob.values[k]), "\(oa.names[k])") }
        }
        #expect(whole.status == split.status)
    }

    /// The engines' snapshots are interchangeable on PoCL: a state saved by one continues on the other.
    @Test(.needsFP64) func snapshotsMoveBetweenEngines() throws {
        let device = try DeviceFixture.device(fp64: true)
        let batch = try makeBatch(
            d: 24, n: 10, replicas: 20, update: .flow, precision: .float64, lambda: [0, 0.01], alpha: [0.1])
        let cpu = CPUEngine()
        let cl = try OpenCLEngine(device: device)
        try cpu.initialize(batch)
        try cl.initialize(batch)
        try cpu.advance(to: 2)
        try cl.restore(try cpu.snapshot())
        try cpu.advance(to: 5)
        try cl.advance(to: 5)
        let (sc, so) = (try cpu.snapshot(), try cl.snapshot())
        for (x, y) in zip(sc.buffers, so.buffers) { #expect(Self.bits(x.values) == Self.bits(y.values), "\(x.name)") }
        #expect(sc.steps == so.steps && sc.started == so.started)
        #expect(maxULP(try cpu.state(), try cl.state()) == 0)
    }
}
