import Foundation

/// The package's version, written into every manifest.
public enum DLNSim {
    public static let version = "0.1.0"

    /// The git commit of the source tree this binary was built from, when that tree is still there
    /// (a development checkout); nil for a copied binary.
    public static let gitCommit: String? = {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        guard FileManager.default.fileExists(atPath: root.appendingPathComponent(".git").path) else { return nil }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["git", "-C", root.path, "rev-parse", "HEAD"]
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = FileHandle.nullDevice
        guard (try? p.run()) != nil else { return nil }
        let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        p.waitUntilExit()
        return p.terminationStatus == 0 && text.count == 40 ? text : nil
    }()
}

/// What a run produced: every observable of every replica at every checkpoint.
public struct RunResult: Sendable {
    /// Steps at which observables were recorded (of the first grid point).
    public let checkpoints: [Int]
    /// `steps[g][c]`: the step of checkpoint c of grid point g.
    public let steps: [[Int]]
    /// `observations[c]`: the observables at checkpoint c.
    public let observations: [Observation]
    /// `trainLoss[c][b]`: loss of replica b at checkpoint c.
    public var trainLoss: [[Double]] { observations.map(\.trainLoss) }
    /// The observables' names.
    public var names: [String] { observations.first?.names ?? [] }
    /// Seconds spent stepping and observing (data generation and kernel builds excluded).
    public let seconds: Double
    /// Replicas × steps performed.
    public let replicaSteps: Double
    /// Where it ran.
    public let engine: String

    /// The final state of every batch (`Experiment.groups` order), when asked for.
    public var finalStates: [EngineState]? = nil
    /// `evaluations[c][b]`: gradient evaluations of replica b up to checkpoint c (steps for fixed-step updates).
    public var evaluations: [[Double]] = []
    /// `rejected[c][b]`: rejected step attempts up to checkpoint c (update flow; 0 otherwise).
    public var rejected: [[Double]] = []
    /// Per replica: 0 running, else the integrator froze it (`FlowCounters.reason`), at `frozenAt`.
    public var status: [Int] = []
    /// Per replica: the time at which the integrator froze it (NaN when it did not).
    public var frozenAt: [Double] = []
    /// The shard this result covers (nil: every replica).
    public var shard: Shard? = nil
    /// Rollback states taken for the divergence check in this process, and the seconds they cost.
    public var rollbackSnapshots = 0
    public var rollbackSeconds = 0.0
    /// Gradient evaluations of all replicas.
    public var totalEvaluations: Double { evaluations.last?.reduce(0, +) ?? 0 }

    /// Throughput in replica-steps per second.
    public var replicaStepsPerSecond: Double { seconds > 0 ? replicaSteps / seconds : 0 }
}

/// One slice of the replicas: shard `index` of `count` runs the `index`-th of `count` contiguous pieces of every
/// batch (the same rule in every process, so that `dlnsim merge` puts the pieces back).
public struct Shard: Sendable, Equatable, Codable {
    public let index: Int
    public let count: Int

    public init(index: Int, count: Int) throws(DLNError) {
        guard count >= 1, index >= 0, index < count else {
            throw .invalidProblem("a shard is i/N with 0 ≤ i < N, got \(index)/\(count)")
        }
        self.index = index
        self.count = count
    }

    /// Parses "i/N".
    public init(parsing text: String) throws(DLNError) {
        let parts = text.split(separator: "/")
        guard parts.count == 2, let i = Int(parts[0]), let n = Int(parts[1]) else {
            throw .invalidProblem("--shard takes i/N (e.g. 0/8), got '\(text)'")
        }
        try self.init(index: i, count: n)
    }

    /// This shard's replicas of a batch of `replicas`.
    public func range(of replicas: Int) -> Range<Int> { (index * replicas / count)..<((index + 1) * replicas / count) }
}

/// What a run needs besides the experiment and the engine.
public struct RunOptions {
    /// Keep the final state of every batch (weights output).
    public var keepFinalState = false
    /// Run only this shard's replicas (the others stay NaN, with status −1).
    public var shard: Shard? = nil
    /// Seconds between two checkpoints (nil: none; 0: at every chance).
    public var checkpointInterval: Double? = nil
    /// Writes a checkpoint (the output folder's checkpoint file).
    public var writeCheckpoint: ((RunProgress) throws(DLNError) -> Void)? = nil
    /// Polled between chunks of steps: true stops the run after a checkpoint (signals).
    public var shouldStop: () -> Bool = { false }
    /// Called as the run goes, with (done, total) in units of work.
    public var progress: (Double, Double) -> Void = { _, _ in }
    /// Told when a batch is split further after an allocation failure.
    public var note: (String) -> Void = { _ in }

    public init() {}
}

/// Where a run stands: everything needed to continue it exactly (written by `Checkpoint`).
public struct RunProgress: Sendable {
    /// The batch (`Experiment.groups`) being run.
    public var group = 0
    /// Its slice of replicas now in the engine (batch-local indices).
    public var slice = 0..<0
    /// The next checkpoint of the slice (`checkpoints.count` when the slice is done).
    public var checkpoint = 0
    /// Steps the slice has taken (fixed-step updates).
    public var current = 0
    /// The engine's state of the slice at this point.
    public var snapshot: EngineSnapshot? = nil
    /// `evaluations[c][b]`, `rejected[c][b]` as in `RunResult`.
    public var evaluations: [[Double]]
    public var rejected: [[Double]]
    /// Per replica: 0 running, 1–3 the integrator froze it, 4–5 it diverged, −1 not in this shard.
    public var status: [Int]
    /// Per replica: the time it was frozen at (NaN when running).
    public var frozenAt: [Double]
    /// Per replica: the train loss at step 0 (the divergence bound's scale).
    public var initialLoss: [Double]
    /// The observables' names and `values[c][k][b]`.
    public var names: [String] = []
    public var values: [[[Double]]] = []
    /// Seconds of stepping and observing so far.
    public var seconds = 0.0
    /// Gradient evaluations of the finished update-flow batches.
    public var flowEvaluations = 0.0
    /// Units of work done (progress).
    public var done = 0.0
    /// Final states of the finished batches, and of the finished slices of this one (when kept).
    public var groupStates: [EngineState] = []
    public var sliceStates: [EngineState] = []

    /// A run at its start: B replicas, C checkpoints.
    public init(replicas B: Int, checkpoints C: Int) {
        evaluations = [[Double]](repeating: [Double](repeating: 0, count: B), count: C)
        rejected = evaluations
        status = [Int](repeating: 0, count: B)
        frozenAt = [Double](repeating: .nan, count: B)
        initialLoss = [Double](repeating: .nan, count: B)
    }
}

/// The data path: for each batch, initialise the engine, step to each checkpoint, observe.
public enum Simulation {
    /// Runs an experiment on an engine. `progress(done, total)` is called as it goes, in replica-steps.
    public static func run(_ experiment: Experiment, on engine: any Engine, keepFinalState: Bool = false,
                           progress: @escaping (Double, Double) -> Void = { _, _ in }) throws(DLNError) -> RunResult {
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
    public static func run(_ experiment: Experiment, on engine: any Engine, options: RunOptions,
                           resume: RunProgress? = nil) throws(DLNError) -> RunResult {
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

    init(_ experiment: Experiment, engine: any Engine, options: RunOptions, resume: RunProgress?) {
        self.experiment = experiment
        self.engine = engine
        self.options = options
        S = experiment.seeds.count
        C = experiment.checkpointCount
        B = experiment.gridPoints.count * S
        p = resume ?? RunProgress(replicas: B, checkpoints: C)
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
                for (k, b) in ids.enumerated() where !mine.contains(k) { p.status[b] = -1 }
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
                        guard case .outOfMemory(let why) = error, restart == nil, range.count > Layout.lanes else { throw error }
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
                let d = group.batch.layout.dimension, L = group.batch.layout.layers
                func nan(_ count: Int) -> EngineState {
                    let a: RealArray = group.batch.precision == .float32 ? .float([Float](repeating: .nan, count: count * d))
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
        var result = RunResult(checkpoints: experiment.checkpoints, steps: experiment.steps,
                               observations: p.values.map { Observation(names: p.names, values: $0) }, seconds: p.seconds,
                               replicaSteps: replicaSteps + p.flowEvaluations, engine: engine.deviceDescription)
        if options.keepFinalState { result.finalStates = p.groupStates }
        result.evaluations = p.evaluations
        result.rejected = p.rejected
        result.status = p.status
        result.frozenAt = p.frozenAt
        result.shard = options.shard
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

    func runSlice(_ group: Experiment.Group, range: Range<Int>, restart: EngineSnapshot?) throws(DLNError) {
        let start = DispatchTime.now().uptimeNanoseconds
        let secondsBefore = p.seconds
        func sliceSeconds() -> Double { Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 }
        let replicas = Double(range.count)
        let last = group.checkpoints.last ?? 0
        let fixed = group.flowTimes == nil
        var c0 = 0, current = 0
        frozenLocal = []
        frozen = nil
        checked = nil
        p.slice = range
        if let snap = restart {
            try engine.restore(snap)
            c0 = p.checkpoint
            current = p.current
            checked = snap
            frozenLocal = (0..<range.count).filter { [4, 5].contains(p.status[global[range.lowerBound + $0]]) }
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
                if times[c] > 0 { try engine.advance(to: times[c]) }
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
            let counters = try engine.flowCounters()
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
                p.values = [[[Double]]](repeating: [[Double]](repeating: [Double](repeating: .nan, count: B), count: o.names.count), count: C)
            }
            for k in 0..<p.names.count {
                for (local, b) in global[range].enumerated() { p.values[c][k][b] = o.values[k][local] }
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
    func diverged(_ losses: [Double], range: Range<Int>) -> [(Int, Int)] {
        var out: [(Int, Int)] = []
        for k in 0..<range.count {
            let b = global[range.lowerBound + k]
            guard p.status[b] == 0 else { continue }
            let loss = losses[k]
            if !loss.isFinite { out.append((k, 4)) } else if loss > factor * max(p.initialLoss[b].isFinite ? p.initialLoss[b] : 1, 1) {
                out.append((k, 5))
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

    func freeze(_ bad: [(Int, Int)], at s: EngineSnapshot, range: Range<Int>) {
        if frozen == nil { frozen = s }
        frozen!.replace(replicas: bad.map(\.0), from: s)
        let replicas = experiment.groups[p.group].batch.replicas
        for (k, code) in bad {
            let b = global[range.lowerBound + k]
            p.status[b] = code
            p.frozenAt[b] = Double(s.steps) * replicas[range.lowerBound + k].eta
            frozenLocal.append(k)
        }
        frozenLocal.sort()
    }
}

/// Writes a run's output folder: arrays NumPy loads directly, a grid table and a manifest.
public enum RunOutput {
    /// Values of one observable as [grid point, seed, checkpoint], flattened.
    public static func array(_ result: RunResult, observable k: Int, gridPoints G: Int, seeds S: Int) -> [Double] {
        let C = result.checkpoints.count
        var out = [Double](repeating: 0, count: G * S * C)
        for g in 0..<G {
            for s in 0..<S {
                for c in 0..<C { out[(g * S + s) * C + c] = result.observations[c].values[k][g * S + s] }
            }
        }
        return out
    }

    /// weights.npy [grid point, seed, d] and layers.npy [grid point, seed, layer, d] when every grid point has
    /// the same d and depth; otherwise one weights_<point>.npy [seed, d] and layers_<point>.npy per grid point.
    static func writeWeights(_ states: [EngineState], experiment: Experiment, path: (String) -> String) throws(DLNError) {
        let S = experiment.seeds.count, G = experiment.gridPoints.count
        var perPoint: [(w: [Double], layers: [[Double]], d: Int)?] = Array(repeating: nil, count: G)
        for (group, state) in zip(experiment.groups, states) {
            let d = group.batch.layout.dimension
            let w = state.weights.doubles, ls = state.layers.map(\.doubles)
            for (local, g) in group.points.enumerated() {
                let range = (local * S * d)..<((local + 1) * S * d)
                perPoint[g] = (Array(w[range]), ls.map { Array($0[range]) }, d)
            }
        }
        let all = perPoint.compactMap { $0 }
        let uniform = Set(all.map(\.d)).count == 1 && Set(all.map(\.layers.count)).count == 1
        if uniform, let first = all.first {
            let d = first.d, L = first.layers.count
            try NPY.write(all.flatMap(\.w), shape: [G, S, d], dtype: .float64, to: path("weights.npy"))
            var layers: [Double] = []
            for p in all { for s in 0..<S { for l in 0..<L { layers += p.layers[l][(s * d)..<((s + 1) * d)] } } }
            try NPY.write(layers, shape: [G, S, L, d], dtype: .float64, to: path("layers.npy"))
        } else {
            for (g, p) in all.enumerated() {
                try NPY.write(p.w, shape: [S, p.d], dtype: .float64, to: path("weights_\(g).npy"))
                var layers: [Double] = []
                for s in 0..<S { for l in 0..<p.layers.count { layers += p.layers[l][(s * p.d)..<((s + 1) * p.d)] } }
                try NPY.write(layers, shape: [S, p.layers.count, p.d], dtype: .float64, to: path("layers_\(g).npy"))
            }
        }
    }

    /// The file that marks a folder as a dlnsim output (so that a rerun may overwrite it).
    public static let marker = ".dlnsim-output"

    static func writeMarker(_ directory: String) throws(DLNError) {
        try OutputFile.write(text: "dlnsim \(DLNSim.version) output folder\n", to: URL(fileURLWithPath: directory).appendingPathComponent(marker).path)
    }

    /// Refuses a folder that exists, is not empty and is not a dlnsim output, unless `force`.
    public static func checkOverwrite(_ directory: String, force: Bool) throws(DLNError) {
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        guard fm.fileExists(atPath: directory, isDirectory: &isDirectory) else { return }
        guard isDirectory.boolValue else { throw .outputFailure(path: directory, reason: "exists and is not a folder") }
        let entries = (try? fm.contentsOfDirectory(atPath: directory)) ?? []
        if entries.isEmpty || entries.contains(marker) || force { return }
        throw .outputFailure(path: directory, reason: "the folder exists and is not a dlnsim output (\(entries.count) entries); choose another --out or pass --force")
    }

    /// Creates the output folder and checks that a file can be written there, before any work is done.
    public static func prepare(_ directory: String) throws(DLNError) {
        // mkdir -p with the system's reason on failure (Foundation's messages do not say why).
        var path = ""
        for part in directory.split(separator: "/", omittingEmptySubsequences: false) {
            path += (path.isEmpty && part.isEmpty) ? "/" : (path.isEmpty || path == "/" ? "" : "/") + part
            if part.isEmpty { continue }
            if mkdir(path, 0o755) != 0 && errno != EEXIST {
                throw .outputFailure(path: directory, reason: "cannot create \(path): \(String(cString: strerror(errno)))")
            }
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw .outputFailure(path: directory, reason: "exists and is not a folder")
        }
        let probe = URL(fileURLWithPath: directory).appendingPathComponent(".dlnsim-write-test").path
        let fd = open(probe, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else {
            throw .outputFailure(path: directory, reason: "the output folder is not writable: \(String(cString: strerror(errno)))")
        }
        close(fd)
        unlink(probe)
        try writeMarker(directory)
    }

    /// Writes one `<observable>.npy` [grid point, seed, checkpoint] per observable, `steps.npy` [checkpoint], `times.npy`
    /// [grid point, checkpoint] (t = step·η), `grid.csv` and `manifest.json` into `directory`.
    public static func write(_ result: RunResult, experiment: Experiment, to directory: String,
                             state: EngineState? = nil) throws(DLNError) {
        let c = experiment.configuration
        try prepare(directory)
        func path(_ name: String) -> String { URL(fileURLWithPath: directory).appendingPathComponent(name).path }
        let points = experiment.gridPoints
        let G = points.count, S = c.seeds, C = result.checkpoints.count
        try writeMarker(directory)
        for (k, name) in result.names.enumerated() {
            try NPY.write(array(result, observable: k, gridPoints: G, seeds: S), shape: [G, S, C], dtype: .float64, to: path("\(name).npy"))
        }
        try NPY.write(result.steps.flatMap { $0.map(Double.init) }, shape: [G, C], dtype: .int64, to: path("steps.npy"))
        try NPY.write(experiment.times.flatMap { $0 }, shape: [G, C], dtype: .float64, to: path("times.npy"))
        var flowInfo: [String: Any] = [:]
        if experiment.hasFlow && !result.evaluations.isEmpty {
            func perReplica(_ v: [[Double]]) -> [Double] {
                var out = [Double](repeating: 0, count: G * S * C)
                for b in 0..<(G * S) { for k in 0..<C { out[b * C + k] = v[k][b] } }
                return out
            }
            try NPY.write(perReplica(result.evaluations), shape: [G, S, C], dtype: .int64, to: path("evaluations.npy"))
            try NPY.write(perReplica(result.rejected), shape: [G, S, C], dtype: .int64, to: path("rejected.npy"))
            let f = c.training.flow
            flowInfo = ["method": "Dormand–Prince 5(4), PI step control, one step size per replica",
                        "rtol": f.rtol, "atol": f.atol, "gradient_evaluations": result.totalEvaluations,
                        "rejected_steps": result.rejected.last?.reduce(0, +) ?? 0]
        }
        let status = result.status.isEmpty ? [Int](repeating: 0, count: G * S) : result.status
        try NPY.write(status.map(Double.init), shape: [G, S], dtype: .int32, to: path("status.npy"))
        let frozen: [[String: Any]] = status.enumerated().compactMap { b, st in
            st <= 0 ? nil : ["grid_point": b / S, "seed": experiment.seeds[b % S], "time": result.frozenAt.isEmpty ? Double.nan : result.frozenAt[b],
                             "status": st, "reason": FlowCounters.reason(st)]
        }
        let columns = experiment.gridColumns
        var csv = "point," + columns.map(\.name).joined(separator: ",") + "\n"
        for (g, p) in points.enumerated() { csv += "\(g)," + columns.map { $0.value(p) }.joined(separator: ",") + "\n" }
        try OutputFile.write(text: csv, to: path("grid.csv"))
        if let states = result.finalStates { try writeWeights(states, experiment: experiment, path: path) }
        let stats = RunStatistics(result, gridPoints: G, seeds: S)
        try OutputFile.write(text: stats.csv(experiment: experiment, checkpoints: result.checkpoints, steps: result.steps), to: path("stats.csv"))
        let b = experiment.batch
        let manifest: [String: Any] = [
            "dlnsim_version": DLNSim.version,
            "git_commit": DLNSim.gitCommit ?? "unknown",
            "name": c.name,
            "engine": result.engine,
            "precision": b.precision.rawValue,
            "replicas": experiment.replicaCount,
            "batches": experiment.groups.count,
            "grid_points": G,
            "seeds": S,
            "d": experiment.gridPoints.map(\.d),
            "n": experiment.gridPoints.map(\.n),
            "steps": c.training.steps,
            "wall_seconds": result.seconds,
            "rollback_snapshots": ["count": result.rollbackSnapshots, "seconds": result.rollbackSeconds],
            "replica_steps_per_second": result.replicaStepsPerSecond,
            "observables": result.names,
            "arrays": ["<observable>.npy": "[grid point, seed, checkpoint]", "steps.npy": "step of each checkpoint [grid point, checkpoint]",
                       "times.npy": "gradient-flow time t = step·η [grid point, checkpoint]",
                       "evaluations.npy": "update flow: gradient evaluations so far [grid point, seed, checkpoint] (steps for fixed-step points)",
                       "rejected.npy": "update flow: rejected steps so far [grid point, seed, checkpoint]",
                       "status.npy": "per replica [grid point, seed]: 0 ran to the end; update flow: 1 step size collapsed, 2 non-finite, 3 too many steps; fixed steps: 4 loss non-finite, 5 loss over the bound (frozen at the last good step, left out of stats.csv); -1 not in this shard",
                       "stats.csv": "ensemble statistics over seeds, one row per grid point × observable × checkpoint",
                       "grid.csv": "one row per grid point"],
            "conventions": [
                "loss": c.training.loss == .mean ? "(1/2n)|Xw - y|^2" : "(1/2)|Xw - y|^2",
                "weight_decay": "penalty \(c.training.decayFactor)·λ·Σ_l |u_l|^2, so u' ∋ -λ_u·u with λ_u = \(2 * c.training.decayFactor)·λ",
                "parameterization": c.model.parameterization.rawValue,
                "update": c.training.update.rawValue,
            ],
            "flow": flowInfo,
            "frozen_replicas": frozen.map { $0.mapValues { v -> Any in (v as? Double).map { $0.isFinite ? $0 as Any : "nan" as Any } ?? v } },
            "shard": result.shard.map { ["index": $0.index, "count": $0.count] as [String: Any] } ?? NSNull(),
            "configuration": (try? JSONSerialization.jsonObject(with: JSONEncoder().encode(c))) ?? [:],
        ]
        do {
            let data = try JSONSerialization.data(withJSONObject: manifest, options: [.prettyPrinted, .sortedKeys])
            try OutputFile.write(data, to: path("manifest.json"))
        } catch let e as DLNError { throw e } catch {
            throw .outputFailure(path: path("manifest.json"), reason: "\(error)")
        }
    }
}
