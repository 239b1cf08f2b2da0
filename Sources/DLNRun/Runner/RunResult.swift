import DLNModel
import DLNTheory
import Foundation

/// The package's version, written into every manifest.
public enum DLNSim {
    public static let version = "0.1.0"

    /// The git commit of the source tree this binary was built from, when that tree is still there
    /// (a development checkout); nil for a copied binary.
    public static let gitCommit: String? = {
        // The source tree's root: the nearest folder above this file that holds Package.swift.
        var root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while root.path != "/"
            && !FileManager.default.fileExists(atPath: root.appendingPathComponent("Package.swift").path)
        {
            root = root.deletingLastPathComponent()
        }
        guard FileManager.default.fileExists(atPath: root.appendingPathComponent(".git").path) else { return nil }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["git", "-C", root.path, "rev-parse", "HEAD"]
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = FileHandle.nullDevice
        guard (try? p.run()) != nil else { return nil }
        let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).trimmingCharacters(
            in: .whitespacesAndNewlines)
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
    /// Per replica: 0 running, else the integrator froze it (`ReplicaStatus.reason`), at `frozenAt`.
    public var status: [Int] = []
    /// Per replica: the time at which the integrator froze it (NaN when it did not).
    public var frozenAt: [Double] = []
    /// The shard this result covers (nil: every replica).
    public var shard: Shard? = nil
    /// Rollback states taken for the divergence check in this process, and the seconds they cost.
    public var rollbackSnapshots = 0
    public var rollbackSeconds = 0.0
    /// The trajectories and activation times (`record.weights`, `record.activation`), when asked for.
    public var recording: Recording? = nil
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

    /// How many replicas this shard runs of batches of these sizes (`Experiment.batchSizes`).
    public func replicaCount(batches sizes: [Int]) -> Int { sizes.reduce(0) { $0 + range(of: $1).count } }

    /// nil when this shard holds replicas of batches of these sizes; else why it holds none, in words. (Every
    /// shard holds some when N is at most the largest batch.)
    public func emptiness(batches sizes: [Int]) -> String? {
        guard replicaCount(batches: sizes) == 0 else { return nil }
        let largest = sizes.max() ?? 0
        return
            "shard \(index)/\(count) holds no replicas: every batch is split into \(count) contiguous pieces, and this "
            + "run's largest batch has \(largest) replicas (\(sizes.count) batch\(sizes.count == 1 ? "" : "es"), "
            + "\(sizes.reduce(0, +)) replicas in all); with at most \(largest) shards every shard holds some. Its folder "
            + "holds none, and dlnsim merge accepts it"
    }
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
    /// Called each time a slice of replicas reaches a checkpoint (live results, the progress line's loss).
    public var reached: ((LiveCheckpoint) -> Void)? = nil
    /// What to record from the engine's state at each checkpoint (`Recording.plan`, shapes only; nil: nothing).
    public var recording: Recording? = nil

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
    /// What has been recorded so far (`RunOptions.recording`).
    public var recording: Recording? = nil
    /// The summation order of each batch (`SummationOrder` raw values; nil in checkpoints written before it was
    /// recorded, whose runs summed in ascending order).
    public var summation: [String]? = nil

    /// A run at its start: B replicas, C checkpoints.
    public init(replicas B: Int, checkpoints C: Int) {
        evaluations = [[Double]](repeating: [Double](repeating: 0, count: B), count: C)
        rejected = evaluations
        status = [Int](repeating: 0, count: B)
        frozenAt = [Double](repeating: .nan, count: B)
        initialLoss = [Double](repeating: .nan, count: B)
    }
}

/// A checkpoint just reached by the replicas in the engine, for live results: where the run stands, the median
/// train loss there, and the run's results so far (built on demand: entries not computed yet are NaN).
public struct LiveCheckpoint {
    /// The checkpoint reached (0-based) and the number of checkpoints.
    public let checkpoint: Int
    public let checkpoints: Int
    /// The batch (`Experiment.groups`) being run (0-based) and the number of batches.
    public let batch: Int
    public let batches: Int
    /// The median of the finite train losses of the replicas in the engine at this checkpoint (NaN when none is).
    public let trainLossMedian: Double
    /// Units of work done and in all (as `RunOptions.progress`).
    public let done: Double
    public let total: Double
    /// The results so far.
    public let results: () -> RunResult

    /// The median of the finite values (NaN when there are none).
    public static func median(_ values: [Double]) -> Double {
        let v = values.filter(\.isFinite).sorted()
        guard !v.isEmpty else { return .nan }
        return v.count % 2 == 1 ? v[v.count / 2] : 0.5 * (v[v.count / 2 - 1] + v[v.count / 2])
    }
}
