import DLNDevice
import DLNModel
import Dispatch
import Foundation
import OpenCLKit

/// What a matrix run needs besides its configuration and engine: the shard it runs, the checkpoint it continues,
/// and when and how it writes its own checkpoints.
public struct MatrixRunOptions {
    /// Run only this shard's replicas (`Shard.range(of:)` of the batch; the others stay NaN, with status −1).
    public var shard: Shard? = nil
    /// The checkpoint of an interrupted run to continue from.
    public var resume: MatrixProgress? = nil
    /// Seconds between two checkpoints (nil: none; 0: at every chance). The chances are the recorded checkpoints
    /// and, for gradient descent, every `chunk` steps between them.
    public var checkpointInterval: Double? = nil
    /// Writes a checkpoint (the output folder's checkpoint file).
    public var writeCheckpoint: ((MatrixProgress) throws(DLNError) -> Void)? = nil
    /// Polled at every chance: true writes a checkpoint and stops the run (`DLNError.interrupted`).
    public var shouldStop: () -> Bool = { false }
    /// Called as the run goes, with (done, total) in replica-steps of this process's replicas.
    public var progress: (Double, Double) -> Void = { _, _ in }
    /// Gradient-descent steps between two chances to checkpoint or stop.
    public var chunk = 1024
    /// Replicas per slice at most (nil: as many as the engine holds); the numbers do not depend on it.
    public var sliceLimit: Int? = nil
    /// The checkpoint file `resume` was read from (named when it does not fit the configuration).
    public var resumePath = Checkpoint.fileName

    /// Options of a whole run without checkpoints.
    public init() {}
}

/// The state of an unfinished matrix run at a chance to checkpoint: the slice of replicas in flight and where it
/// is, the observables recorded so far, and what the engine (or the flow's integrator) holds.
public struct MatrixProgress: Sendable, Equatable {
    /// The replicas of the slice in flight.
    public var slice: Range<Int>
    /// The last checkpoint the slice observed, and (gradient descent) the step it reached since.
    public var checkpoint: Int, step: Int
    /// Seconds of work so far.
    public var seconds: Double
    /// The observables so far ([replica][checkpoint], singular values and mode strengths [replica][checkpoint][k]).
    public var trainLoss: [[Double]], testError: [[Double]], effectiveRank: [[Double]], nuclearNorm: [[Double]]
    /// The conservation observable so far ([replica][checkpoint]).
    public var conservation: [[Double]]
    /// Singular values and mode strengths so far ([replica][checkpoint][k]).
    public var singularValues: [[[Double]]], modeStrength: [[[Double]]]
    /// The final layers of the slices done (NaN elsewhere), replica-major.
    public var finalParameters: [Double]
    /// Gradient evaluations and status of every replica (slices done; −1 for replicas not run yet or elsewhere).
    public var flowEvaluations: [Int], flowStatus: [Int]
    /// Gradient descent: the slice's layers now (replica-major, values of the run's precision).
    public var parameters: [Double]
    /// Gradient flow: the slice's integrator.
    public var flow: MatrixFlow.Snapshot?
    /// The sharpness so far ([replica][checkpoint]; empty when not recorded).
    public var sharpness: [[Double]] = []
    /// The PL constant so far ([replica][checkpoint]; empty when not recorded).
    public var plConstant: [[Double]] = []
    /// Momentum: the slice's buffers m now (replica-major; empty without momentum).
    public var velocity: [Double] = []
}

extension MatrixRun {
    /// Runs a configuration on an engine (`device` nil: the CPU engine) with shards, checkpoints and resumption.
    /// Each replica's numbers do not depend on the slice or shard it runs in, nor on where the run was resumed.
    public static func run(
        _ c: MatrixConfiguration, device: CLDevice?, options: MatrixRunOptions
    ) throws(DLNError) -> MatrixRun {
        let setup = try MatrixSetup(c)
        let engine: any MatrixEngine =
            try device.map { d throws(DLNError) in try MatrixOpenCLEngine(device: d) }
            ?? MatrixCPUEngine()
        var run = MatrixRun(configuration: c, setup: setup)
        run.shard = options.shard
        run.deviceDescription = engine.deviceDescription
        let B = setup.batch.replicas
        let own = options.shard?.range(of: B) ?? 0..<B
        run.flowEvaluations = [Int](repeating: 0, count: B)
        run.flowStatus = [Int](repeating: ReplicaStatus.notInShard.code, count: B)
        let keep = c.singularValueCount
        let modes = min(setup.teacherSingularValues.count, c.widths[0], c.widths[c.depth])
        run.singularValues = run.singularValues.map { $0.map { _ in [Double](repeating: .nan, count: keep) } }
        run.modeStrength = run.modeStrength.map { $0.map { _ in [Double](repeating: .nan, count: modes) } }
        var resume = options.resume
        var previous = 0.0
        var lower = own.lowerBound
        if let p = resume {
            try MatrixCheckpoint.check(p, against: run, shard: options.shard, path: options.resumePath)
            run.adopt(p)
            previous = p.seconds
            lower = p.slice.lowerBound
        }
        let start = DispatchTime.now().uptimeNanoseconds
        func elapsed() -> Double { Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 }
        var lastWrite = 0.0
        var capacity = B
        if let cl = engine as? MatrixOpenCLEngine { capacity = min(B, cl.replicaCapacity(setup.batch)) }
        if let limit = options.sliceLimit { capacity = max(1, min(capacity, limit)) }
        let total = Double(own.count) * Double(c.steps)
        let P = setup.batch.shape.parameterCount
        /// A chance to checkpoint: written when due or asked to stop; then stops if asked.
        func chance(_ state: () throws(DLNError) -> MatrixProgress) throws(DLNError) {
            let stop = options.shouldStop()
            if let write = options.writeCheckpoint, let interval = options.checkpointInterval,
                stop || elapsed() - lastWrite >= interval
            {
                var p = try state()
                p.seconds = previous + elapsed()
                try write(p)
                lastWrite = elapsed()
            }
            if stop { throw .interrupted("the run stopped after writing a checkpoint") }
        }
        while lower < own.upperBound {
            var from: MatrixProgress? = nil
            var range = lower..<min(own.upperBound, lower + capacity)
            // One batch size per engine batch (grid.batch_size): the slice ends where b changes.
            if let b = setup.batch.stochastic?.batchSizes, let cut = range.first(where: { b[$0] != b[lower] }) {
                range = lower..<cut
            }
            if let p = resume, p.slice.lowerBound == lower {
                range = p.slice
                from = p
                resume = nil
            }
            let slice = range.count == B ? setup.batch : setup.batch.slice(range)
            let done = Double(range.lowerBound - own.lowerBound) * Double(c.steps)
            if c.update == .flow {
                let flow = try MatrixFlow(engine: engine, batch: slice, settings: c.flow)
                let times = c.checkpointTimes
                let T = times.last!
                var first = 1
                if let f = from, let snapshot = f.flow {
                    try flow.restore(snapshot)
                    first = f.checkpoint + 1
                } else {
                    try run.observe(engine, replicas: range, checkpoint: 0)
                    try chance { run.progress(range, checkpoint: 0, step: 0, flow: flow.snapshot()) }
                }
                for k in first..<max(first, times.count) {
                    try flow.advance(to: times[k])
                    try run.observe(engine, replicas: range, checkpoint: k)
                    options.progress(done + Double(range.count) * times[k] / T * Double(c.steps), total)
                    try chance { run.progress(range, checkpoint: k, step: k, flow: flow.snapshot()) }
                }
                run.flowEvaluations.replaceSubrange(range, with: flow.counters.evaluations)
                run.flowStatus.replaceSubrange(range, with: flow.counters.status)
            } else {
                try engine.initialize(slice)
                var first = 1
                var current = 0
                if let f = from {
                    try engine.setParameters(RealArray(f.parameters, precision: c.precision))
                    if !f.velocity.isEmpty { try engine.setVelocity(RealArray(f.velocity, precision: c.precision)) }
                    engine.stepsTaken = f.step
                    first = f.checkpoint + 1
                    current = f.step
                } else {
                    try run.observe(engine, replicas: range, checkpoint: 0)
                    try chance { () throws(DLNError) in
                        run.progress(
                            range, checkpoint: 0, step: 0, parameters: try engine.parameters().doubles,
                            velocity: try engine.velocity()?.doubles ?? [])
                    }
                }
                for k in first..<max(first, run.steps.count) {
                    while current < run.steps[k] {
                        let n = min(max(1, options.chunk), run.steps[k] - current)
                        try engine.step(count: n)
                        current += n
                        guard current < run.steps[k] else { break }
                        options.progress(done + Double(range.count) * Double(current), total)
                        try chance { () throws(DLNError) in
                            run.progress(
                                range, checkpoint: k - 1, step: current, parameters: try engine.parameters().doubles,
                                velocity: try engine.velocity()?.doubles ?? [])
                        }
                    }
                    try run.observe(engine, replicas: range, checkpoint: k)
                    options.progress(done + Double(range.count) * Double(current), total)
                    try chance { () throws(DLNError) in
                        run.progress(
                            range, checkpoint: k, step: current, parameters: try engine.parameters().doubles,
                            velocity: try engine.velocity()?.doubles ?? [])
                    }
                }
            }
            let p = try engine.parameters().doubles
            run.finalParameters.replaceSubrange((range.lowerBound * P)..<(range.upperBound * P), with: p)
            lower = range.upperBound
        }
        run.seconds = previous + elapsed()
        if c.update != .flow {
            // Gradient descent (and SGD): status 2 from the first checkpoint whose loss is not finite (the run went on; its
            // later values are NaN or infinite, never mixed with a finite replica's).
            for b in own { run.flowStatus[b] = run.trainLoss[b].allSatisfy(\.isFinite) ? 0 : 2 }
        }
        return run
    }

    /// The run's state at a chance to checkpoint.
    func progress(
        _ slice: Range<Int>, checkpoint: Int, step: Int, parameters: [Double] = [], velocity: [Double] = [],
        flow: MatrixFlow.Snapshot? = nil
    ) -> MatrixProgress {
        MatrixProgress(
            slice: slice, checkpoint: checkpoint, step: step, seconds: seconds, trainLoss: trainLoss,
            testError: testError, effectiveRank: effectiveRank, nuclearNorm: nuclearNorm, conservation: conservation,
            singularValues: singularValues, modeStrength: modeStrength, finalParameters: finalParameters,
            flowEvaluations: flowEvaluations, flowStatus: flowStatus, parameters: parameters, flow: flow,
            sharpness: configuration.sharpnessIterations != nil ? sharpness : [],
            plConstant: configuration.plIterations != nil ? plConstant : [], velocity: velocity)
    }

    /// Takes the observables and counters of a checkpoint.
    mutating func adopt(_ p: MatrixProgress) {
        trainLoss = p.trainLoss
        testError = p.testError
        effectiveRank = p.effectiveRank
        nuclearNorm = p.nuclearNorm
        conservation = p.conservation
        singularValues = p.singularValues
        modeStrength = p.modeStrength
        if !p.sharpness.isEmpty { sharpness = p.sharpness }
        if !p.plConstant.isEmpty { plConstant = p.plConstant }
        finalParameters = p.finalParameters
        flowEvaluations = p.flowEvaluations
        flowStatus = p.flowStatus
    }
}
