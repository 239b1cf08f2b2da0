import DLNModel
import DLNTheory
import Foundation

/// The data path: for each batch, initialise the engine, step to each checkpoint, observe.
public enum Simulation {
    /// Runs an experiment on an engine. `progress(done, total)` is called as it goes, in replica-steps.
    public static func run(
        _ experiment: Experiment, on engine: any Engine, keepFinalState: Bool = false,
        progress: @escaping (Double, Double) -> Void = { _, _ in }
    ) throws(DLNError) -> RunResult {
        var options = RunOptions()
        options.keepFinalState = keepFinalState
        options.progress = progress
        return try run(experiment, on: engine, options: options)
    }

    /// Runs an experiment (or one shard of it), from the start or from `resume`.
    ///
    /// Batches larger than the engine's capacity run in slices; an allocation failure halves the slice and
    /// retries. With fixed steps, a replica whose train loss becomes non-finite or exceeds
    /// `training.max_loss_ratio` × max(initial loss, 1) is frozen at its last state before that step (found
    /// by replaying the interval from the last checked state in ever shorter pieces) and flagged; the others
    /// run on, and their numbers do not change. Checkpoints (`options.writeCheckpoint`) hold everything
    /// needed to continue bit for bit.
    public static func run(
        _ experiment: Experiment, on engine: any Engine, options: RunOptions,
        resume: RunProgress? = nil
    ) throws(DLNError) -> RunResult {
        let runner = SimulationRunner(experiment, engine: engine, options: options, resume: resume)
        return try runner.run()
    }
}

/// The state of one run of `Simulation.run`.
final class SimulationRunner {
    let experiment: Experiment
    let engine: any Engine
    let options: RunOptions
    var p: RunProgress
    let resumed: Bool
    let S: Int, C: Int, B: Int
    let total: Double
    var lastWrite = DispatchTime.now().uptimeNanoseconds
    /// The current slice: its global replica indices, its last checked state (fixed steps), and the states of
    /// its diverged replicas at the step they were frozen.
    var global: [Int] = []
    var checked: EngineSnapshot? = nil
    var frozen: EngineSnapshot? = nil
    var frozenLocal: [Int] = []
    var factor: Double
    /// When the checked state was taken, and what taking it cost (seconds).
    var checkedAt: UInt64 = 0
    var snapshotCost = 0.0
    var snapshots = 0, snapshotSeconds = 0.0
    /// Each grid point's checkpoint times (the activation times' unit).
    lazy var times = experiment.times

    init(_ experiment: Experiment, engine: any Engine, options: RunOptions, resume: RunProgress?) {
        self.experiment = experiment
        self.engine = engine
        self.options = options
        S = experiment.seeds.count
        C = experiment.checkpointCount
        B = experiment.gridPoints.count * S
        p = resume ?? RunProgress(replicas: B, checkpoints: C)
        if resume == nil { p.recording = options.recording?.allocated() }
        p.summation = experiment.summationOrders.map(\.rawValue)
        resumed = resume != nil
        factor = experiment.configuration.training.maxLossRatio
        total = experiment.groups.reduce(0) { sum, g in
            let R = g.batch.layout.replicas
            return sum + g.work * Double(options.shard?.range(of: R).count ?? R) / Double(R)
        }
        if resume == nil, let shard = options.shard {
            // Replicas of other shards: status −1 (and NaN observables).
            for g in experiment.groups {
                let ids = g.points.flatMap { pt in (0..<S).map { pt * S + $0 } }
                let mine = shard.range(of: ids.count)
                for (k, b) in ids.enumerated() where !mine.contains(k) { p.status[b] = ReplicaStatus.notInShard.code }
            }
        }
    }

    var elapsed: Double { Double(DispatchTime.now().uptimeNanoseconds - lastWrite) / 1e9 }
    var due: Bool { options.writeCheckpoint != nil && options.checkpointInterval.map { elapsed >= $0 } ?? false }

    func run() throws(DLNError) -> RunResult {
        for gi in p.group..<experiment.groups.count {
            let group = experiment.groups[gi]
            global = group.points.flatMap { g in (0..<S).map { g * S + $0 } }
            let R = group.batch.layout.replicas
            let own = options.shard?.range(of: R) ?? 0..<R
            var capacity = min(R, max(Layout.lanes, engine.replicaCapacity(group.batch) / Layout.lanes * Layout.lanes))
            var lower = own.lowerBound
            var restart: EngineSnapshot? = nil
            if resumed && gi == p.group, let snap = p.snapshot {
                lower = p.slice.lowerBound
                restart = snap
            } else {
                p.group = gi
                p.sliceStates = []
            }
            while lower < own.upperBound {
                var range = restart != nil ? p.slice : lower..<min(own.upperBound, lower + capacity)
                while true {
                    do {
                        let batch = range.count == R ? group.batch : try group.batch.slice(range)
                        try engine.initialize(batch)
                        break
                    } catch {
                        guard case .outOfMemory(let why) = error, restart == nil, range.count > Layout.lanes else {
                            throw error
                        }
                        capacity = max(Layout.lanes, range.count / 2 / Layout.lanes * Layout.lanes)
                        options.note("\(why): retrying in slices of \(capacity) replicas")
                        range = lower..<min(own.upperBound, lower + capacity)
                    }
                }
                try runSlice(group, range: range, restart: restart)
                restart = nil
                lower = range.upperBound
            }
            if options.keepFinalState {
                // A shard's states cover its replicas only: the others' are NaN (dlnsim merge fills them in).
                let d = group.batch.layout.dimension
                let L = group.batch.layout.layers
                func nan(_ count: Int) -> EngineState {
                    let a: RealArray =
                        group.batch.precision == .float32
                        ? .float([Float](repeating: .nan, count: count * d))
                        : .double([Double](repeating: .nan, count: count * d))
                    return EngineState(layers: [RealArray](repeating: a, count: L), weights: a)
                }
                var parts = p.sliceStates
                if own.lowerBound > 0 { parts.insert(nan(own.lowerBound), at: 0) }
                if own.upperBound < R { parts.append(nan(R - own.upperBound)) }
                p.groupStates.append(EngineState(concatenating: parts))
            }
            p.sliceStates = []
            if group.flowTimes != nil { p.flowEvaluations += global[own].reduce(0.0) { $0 + p.evaluations[C - 1][$1] } }
        }
        return results()
    }

    /// The results so far (all of them once every batch has run): observables not computed yet are NaN.
    func results() -> RunResult {
        var p = self.p
        if p.names.isEmpty {
            // A shard that holds no replicas observed nothing: every observable is NaN.
            p.names = experiment.configuration.observableSet.names
            p.values = [[[Double]]](
                repeating: [[Double]](repeating: [Double](repeating: .nan, count: B), count: p.names.count), count: C)
        }
        var result = RunResult(
            checkpoints: experiment.checkpoints, steps: experiment.steps,
            observations: p.values.map { Observation(names: p.names, values: $0) }, seconds: p.seconds,
            replicaSteps: replicaSteps + p.flowEvaluations, engine: engine.deviceDescription)
        if options.keepFinalState { result.finalStates = p.groupStates }
        result.evaluations = p.evaluations
        result.rejected = p.rejected
        result.status = p.status
        result.frozenAt = p.frozenAt
        result.shard = options.shard
        result.recording = p.recording
        result.rollbackSnapshots = snapshots
        result.rollbackSeconds = snapshotSeconds
        return result
    }

    /// Replica-steps of the fixed-step batches (this shard's part).
    var replicaSteps: Double {
        experiment.groups.reduce(0) { sum, g in
            guard g.flowTimes == nil else { return sum }
            let R = g.batch.layout.replicas
            return sum + Double(g.checkpoints.last ?? 0) * Double(options.shard?.range(of: R).count ?? R)
        }
    }

    /// The engine as a gradient-flow integrator (`update: flow`), refused when it is not one.
    func flowEngine() throws(DLNError) -> any FlowEngine {
        guard let flow = engine as? any FlowEngine else {
            throw .invalidProblem("\(engine.deviceDescription) cannot integrate gradient flow (update: flow)")
        }
        return flow
    }

    func runSlice(_ group: Experiment.Group, range: Range<Int>, restart: EngineSnapshot?) throws(DLNError) {
        let start = DispatchTime.now().uptimeNanoseconds
        let secondsBefore = p.seconds
        func sliceSeconds() -> Double { Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 }
        let replicas = Double(range.count)
        let last = group.checkpoints.last ?? 0
        let fixed = group.flowTimes == nil
        var c0 = 0
        var current = 0
        frozenLocal = []
        frozen = nil
        checked = nil
        p.slice = range
        if let snap = restart {
            try engine.restore(snap)
            c0 = p.checkpoint
            current = p.current
            checked = snap
            frozenLocal = (0..<range.count).filter {
                ReplicaStatus(code: p.status[global[range.lowerBound + $0]])?.isDivergence ?? false
            }
            if !frozenLocal.isEmpty { frozen = snap }
        }
        /// Writes a checkpoint at (next checkpoint c, current steps); stops the run when asked to.
        func checkpoint(next c: Int, snapshot: EngineSnapshot) throws(DLNError) {
            guard let write = options.writeCheckpoint else { return }
            p.checkpoint = c
            p.current = current
            p.snapshot = snapshot
            p.seconds = secondsBefore + sliceSeconds()
            try write(p)
            p.snapshot = nil
            lastWrite = DispatchTime.now().uptimeNanoseconds
            if options.shouldStop() {
                throw .interrupted("the run stopped after writing a checkpoint")
            }
        }
        for c in c0..<C {
            let step = group.checkpoints[c]
            if let times = group.flowTimes {
                if times[c] > 0 {
                    // The integrator asks between steps whether to stop: a stop request writes a checkpoint in
                    // the middle of the interval (a snapshot continues exactly) rather than at its end.
                    let flow = try flowEngine()
                    while try !flow.advance(to: times[c], stoppingIf: options.shouldStop) {
                        try checkpoint(next: c, snapshot: try engine.snapshot())
                    }
                }
                p.done += replicas * 100
            } else {
                // Long gaps are cut into chunks so that progress keeps moving (and checkpoints can be written).
                while current < step {
                    let chunk = min(step - current, max(1, last / 200))
                    try engine.step(count: chunk)
                    current += chunk
                    p.done += Double(chunk) * replicas
                    if current < step {
                        options.progress(p.done, total)
                        if due || options.shouldStop() {
                            _ = try settle(try engine.observe().trainLoss, range: range, current: current, renew: true)
                            try checkpoint(next: c, snapshot: checked!)
                        }
                    }
                }
            }
            var o = try engine.observe()
            let write = due || options.shouldStop()
            if fixed {
                if c == 0 && current == 0 {
                    for k in 0..<range.count { p.initialLoss[global[range.lowerBound + k]] = o.trainLoss[k] }
                }
                if try settle(o.trainLoss, range: range, current: current, renew: write) { o = try engine.observe() }
            }
            let counters = fixed ? FlowCounters(replicas: range.count) : try flowEngine().flowCounters()
            for (k, b) in global[range].enumerated() {
                p.evaluations[c][b] = fixed ? Double(step) : Double(counters.evaluations[k])
                p.rejected[c][b] = Double(counters.rejected[k])
                if !fixed {
                    p.status[b] = counters.status[k]
                    p.frozenAt[b] = counters.frozenAt[k]
                }
            }
            if p.names.isEmpty {
                p.names = o.names
                p.values = [[[Double]]](
                    repeating: [[Double]](repeating: [Double](repeating: .nan, count: B), count: o.names.count),
                    count: C)
            }
            for k in 0..<p.names.count {
                for (local, b) in global[range].enumerated() { p.values[c][k][b] = o.values[k][local] }
            }
            if p.recording != nil {
                let at = global[range].map { times[$0 / S][c] }
                p.recording!.record(try engine.state(), checkpoint: c, global: global[range], time: at)
            }
            if let reached = options.reached {
                reached(
                    LiveCheckpoint(
                        checkpoint: c, checkpoints: C, batch: p.group, batches: experiment.groups.count,
                        trainLossMedian: LiveCheckpoint.median(o.trainLoss), done: p.done, total: total,
                        results: { [unowned self] in self.results() }))
            }
            options.progress(p.done, total)
            if write {
                try checkpoint(next: c + 1, snapshot: fixed ? checked! : try engine.snapshot())
            }
        }
        p.seconds = secondsBefore + sliceSeconds()
        if options.keepFinalState { p.sliceStates.append(try engine.state()) }
    }

    /// Replicas of the slice (local indices) whose loss is non-finite (4) or over the bound (5), among those
    /// still running.
    func diverged(_ losses: [Double], range: Range<Int>) -> [(Int, ReplicaStatus)] {
        var out: [(Int, ReplicaStatus)] = []
        for k in 0..<range.count {
            let b = global[range.lowerBound + k]
            guard p.status[b] == ReplicaStatus.ran.code else { continue }
            let loss = losses[k]
            if !loss.isFinite {
                out.append((k, .diverged))
            } else if loss > factor * max(p.initialLoss[b].isFinite ? p.initialLoss[b] : 1, 1) {
                out.append((k, .lossBound))
            }
        }
        return out
    }

    /// After the slice reached `current` steps with these losses: freezes the replicas that diverged since the
    /// last checked state at their last good step and puts the frozen ones' states back (they run on as
    /// garbage between observations, never observed). The checked state (the rollback point) is renewed when
    /// `renew`, after a rollback, or when the time since the last one is 20 × what a snapshot costs (at most
    /// 5% of the run). True when the engine's state changed (observe again).
    func settle(_ losses: [Double], range: Range<Int>, current: Int, renew: Bool = false) throws(DLNError) -> Bool {
        let bad = diverged(losses, range: range)
        if !bad.isEmpty {
            if let a = checked, a.steps < current {
                try engine.restore(a)
                try replay(current - a.steps, from: a, range: range)
            } else {
                freeze(bad, at: try engine.snapshot(), range: range)
            }
        }
        var changed = false
        if let store = frozen, !frozenLocal.isEmpty {
            try engine.restore(store, replicas: frozenLocal)
            changed = true
        }
        let since = Double(DispatchTime.now().uptimeNanoseconds - checkedAt) / 1e9
        if renew || !bad.isEmpty || checked == nil || since >= 20 * snapshotCost {
            let t0 = DispatchTime.now().uptimeNanoseconds
            checked = try engine.snapshot()
            checkedAt = DispatchTime.now().uptimeNanoseconds
            snapshotCost = Double(checkedAt - t0) / 1e9
            snapshots += 1
            snapshotSeconds += snapshotCost
        }
        return changed
    }

    /// From state `s0` (every running replica healthy), takes `n` steps; replicas that diverge are frozen at
    /// the state before their first bad step.
    func replay(_ n: Int, from s0: EngineSnapshot, range: Range<Int>) throws(DLNError) {
        try engine.step(count: n)
        let bad = diverged(try engine.observe().trainLoss, range: range)
        if bad.isEmpty { return }
        if n == 1 {
            freeze(bad, at: s0, range: range)
            return
        }
        try engine.restore(s0)
        let piece = (n + 15) / 16
        var done = 0
        while done < n {
            let m = min(piece, n - done)
            try replay(m, from: done == 0 ? s0 : try engine.snapshot(), range: range)
            done += m
        }
    }

    func freeze(_ bad: [(Int, ReplicaStatus)], at s: EngineSnapshot, range: Range<Int>) {
        if frozen == nil { frozen = s }
        frozen!.replace(replicas: bad.map(\.0), from: s)
        let replicas = experiment.groups[p.group].batch.replicas
        let frozenSum = experiment.groups[p.group].batch.scheduleSums.sum(at: s.steps)  // k without a schedule
        for (k, code) in bad {
            let b = global[range.lowerBound + k]
            p.status[b] = code.code
            p.frozenAt[b] = frozenSum * replicas[range.lowerBound + k].eta  // t = η·S_k
            frozenLocal.append(k)
        }
        frozenLocal.sort()
    }
}
