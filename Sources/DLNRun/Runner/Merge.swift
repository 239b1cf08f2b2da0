import DLNModel
import DLNTheory
import Foundation

/// Puts the output folders of the N shards of one run (`dlnsim run --shard i/N`) back together: the same
/// arrays, statistics and figures as one run of the whole ensemble, bit for bit.
///
/// Every shard's manifest must name the same configuration, dlnsim version and commit, and the same N; each
/// replica is taken from the one shard that ran it (status.npy ≠ −1 there).
public enum ShardMerge {
    /// What the merge did.
    public struct Summary: Sendable {
        public var shards: Int
        public var replicas: Int
        public var frozen: Int
    }

    struct ShardFolder {
        let directory: String
        let manifest: [String: Any]
        let index: Int
        let count: Int
        /// status.npy as read (checked against the run once the experiment is known).
        let statusArray: NPY.Array
        var status: [Int] = []
        let configuration: Configuration
    }

    /// Merges `directories` into `output`.
    public static func merge(_ directories: [String], into output: String) throws(DLNError) -> Summary {
        guard !directories.isEmpty else { throw .invalidProblem("give the shard folders to merge") }
        try refuseOverlap(output: output, shards: directories)
        var shards: [ShardFolder] = []
        for dir in directories {
            try OutputDirectory.checkFinished(dir)
            let path = URL(fileURLWithPath: dir).appendingPathComponent("manifest.json").path
            guard let data = FileManager.default.contents(atPath: path),
                let m = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
            else {
                if Checkpoint.exists(in: dir) {
                    throw .badFile(
                        path: dir,
                        reason:
                            "this shard has not finished (it holds a checkpoint): finish it with `dlnsim run --resume "
                            + "\(dir)`"
                    )
                }
                throw .badFile(path: path, reason: "missing or not JSON: \(dir) is not a dlnsim output folder")
            }
            guard let shard = m["shard"] as? [String: Any], let i = shard["index"] as? Int,
                let n = shard["count"] as? Int
            else {
                throw .badFile(path: path, reason: "not a shard's output (run with --shard i/N)")
            }
            guard (try? Shard(index: i, count: n)) != nil else {
                throw .badFile(path: path, reason: "names shard \(i)/\(n), which is not i/N with 0 ≤ i < N")
            }
            shards.append(
                ShardFolder(
                    directory: dir, manifest: m, index: i, count: n,
                    statusArray: try verifiedRead(dir, manifest: m, "status.npy"),
                    configuration: try Configuration.fromManifest(data: data, path: path)))
        }
        let first = shards[0]
        for s in shards.dropFirst() {
            for key in ["dlnsim_version", "git_commit"]
            where (s.manifest[key] as? String) != (first.manifest[key] as? String) {
                throw .invalidProblem(
                    "\(s.directory) was written by \(key) \(s.manifest[key] ?? "?"), \(first.directory) by "
                        + "\(first.manifest[key] ?? "?"): shards must come from the same dlnsim build"
                )
            }
            if s.configuration != first.configuration {
                throw .invalidProblem(
                    "\(s.directory) and \(first.directory) ran different configurations: they are not shards of one run"
                )
            }
            if s.count != first.count {
                throw .invalidProblem(
                    "\(s.directory) is shard \(s.index)/\(s.count), \(first.directory) shard "
                        + "\(first.index)/\(first.count): different shard counts"
                )
            }
        }
        let N = first.count
        var seen: [Int: String] = [:]
        for s in shards {
            if let other = seen[s.index] {
                throw .invalidProblem("\(s.directory) and \(other) are both shard \(s.index)/\(N)")
            }
            seen[s.index] = s.directory
        }
        let missing = (0..<N).filter { seen[$0] == nil }
        if !missing.isEmpty {
            throw .invalidProblem(
                "shard\(missing.count == 1 ? "" : "s") \(missing.map { "\($0)/\(N)" }.joined(separator: ", ")) "
                    + "missing: the merge needs all \(N)"
            )
        }
        let configuration = first.configuration
        let experiment = try Experiment(configuration)
        // Every shard summed in the order this build gives the configuration (manifests without "summation" were
        // written when every residual was summed in ascending order).
        let orders = experiment.summationOrders.map(\.rawValue)
        for s in shards {
            let recorded = s.manifest["summation"] as? [String] ?? orders.map { _ in SummationOrder.ascending.rawValue }
            guard recorded == orders else {
                throw .invalidProblem(
                    "\(s.directory) summed its residuals in the order \(recorded.joined(separator: ", ")), the "
                        + "configuration now asks for \(orders.joined(separator: ", ")) (training.summation): shards "
                        + "of one run keep one order")
            }
        }
        let G = experiment.gridPoints.count
        let S = experiment.seeds.count
        let C = experiment.checkpointCount
        let B = G * S
        // Every status is a known code, and each shard ran exactly the replicas its index gives it.
        for k in shards.indices {
            shards[k].status = try statusCodes(shards[k], experiment: experiment)
            try checkOwnership(shards[k], experiment: experiment)
        }
        // The owner of every replica.
        var owner = [Int](repeating: -1, count: B)
        for (k, s) in shards.enumerated() {
            for b in 0..<B where s.status[b] != ReplicaStatus.notInShard.code {
                if owner[b] >= 0 {
                    throw .invalidProblem(
                        "replica \(b) (grid point \(b / S), seed \(experiment.seeds[b % S])) was run by both "
                            + "\(shards[owner[b]].directory) and \(s.directory)"
                    )
                }
                owner[b] = k
            }
        }
        if let b = owner.firstIndex(of: -1) {
            throw .invalidProblem("no shard ran replica \(b) (grid point \(b / S), seed \(experiment.seeds[b % S]))")
        }
        /// A [G, S, …] array of every shard, each replica's rows from its owner. `othersNaN`: a shard writes NaN
        /// in the rows of replicas it did not run (observables, weights), which is checked.
        func combine(_ name: String, othersNaN: Bool = true) throws(DLNError) -> NPY.Array? {
            var out: NPY.Array? = nil
            for (k, s) in shards.enumerated() {
                let path = (s.directory as NSString).appendingPathComponent(name)
                guard FileManager.default.fileExists(atPath: path) else {
                    if out != nil || k > 0 { throw .badFile(path: path, reason: "missing (other shards have it)") }
                    return nil
                }
                let a = try verifiedRead(s.directory, manifest: s.manifest, name)
                guard a.shape.count >= 2, a.shape[0] * a.shape[1] == B else {
                    throw .badFile(path: path, reason: "shape \(a.shape) does not start with [\(G), \(S)]")
                }
                if out == nil { out = a }
                guard a.shape == out!.shape else {
                    throw .badFile(path: path, reason: "shape \(a.shape), other shards \(out!.shape)")
                }
                let row = a.values.count / B
                for b in 0..<B where owner[b] == k {
                    for j in 0..<row { out!.values[b * row + j] = a.values[b * row + j] }
                }
                if othersNaN, let b = (0..<B).first(where: { b in owner[b] != k && !a.values[b * row].isNaN }) {
                    throw .badFile(
                        path: path,
                        reason:
                            "holds a value for replica \(b) (grid point \(b / S), seed \(experiment.seeds[b % S])), "
                            + "which shard \(s.index)/\(N) did not run: the file comes from another shard or run")
                }
            }
            return out
        }
        var observations: [Observation] = []
        let names = first.manifest["observables"] as? [String] ?? []
        var perName: [[Double]] = []
        for name in names {
            guard let a = try combine(name + ".npy"), a.shape == [G, S, C] else {
                throw .badFile(path: first.directory + "/" + name + ".npy", reason: "missing or not [\(G), \(S), \(C)]")
            }
            perName.append(a.values)
        }
        // A replica that ran to the end has a finite loss at every checkpoint (non-finite ones are frozen, status 4).
        if let t = names.firstIndex(of: "train_loss") {
            for b in 0..<B where shards[owner[b]].status[b] == ReplicaStatus.ran.code {
                if let c = (0..<C).first(where: { !perName[t][b * C + $0].isFinite }) {
                    throw .badFile(
                        path: shards[owner[b]].directory + "/train_loss.npy",
                        reason:
                            "replica \(b) (grid point \(b / S), seed \(experiment.seeds[b % S])) has status 0 (ran to "
                            + "the end) but a train loss of \(perName[t][b * C + c]) at checkpoint \(c)")
                }
            }
        }
        for c in 0..<C {
            observations.append(Observation(names: names, values: perName.map { v in (0..<B).map { v[$0 * C + c] } }))
        }
        let seconds = shards.reduce(0.0) { $0 + ($1.manifest["wall_seconds"] as? Double ?? 0) }
        let work = shards.reduce(0.0) {
            $0 + ($1.manifest["wall_seconds"] as? Double ?? 0)
                * ($1.manifest["replica_steps_per_second"] as? Double ?? 0)
        }
        let engines = Set(shards.compactMap { $0.manifest["engine"] as? String }).sorted().joined(separator: "; ")
        var result = RunResult(
            checkpoints: experiment.checkpoints, steps: experiment.steps, observations: observations,
            seconds: seconds, replicaSteps: work, engine: engines)
        var status = [Int](repeating: 0, count: B)
        var frozenAt = [Double](repeating: .nan, count: B)
        for b in 0..<B { status[b] = shards[owner[b]].status[b] }
        for s in shards {
            for item in s.manifest["frozen_replicas"] as? [[String: Any]] ?? [] {
                guard let g = item["grid_point"] as? Int, let seed = item["seed"] as? Int,
                    let s = experiment.seeds.firstIndex(of: seed)
                else { continue }
                frozenAt[g * S + s] = item["time"] as? Double ?? .nan
            }
        }
        result.status = status
        result.frozenAt = frozenAt
        func perCheckpoint(_ a: NPY.Array?) -> [[Double]] {
            guard let a else { return [] }
            return (0..<C).map { c in (0..<B).map { a.values[$0 * C + c] } }
        }
        result.evaluations = perCheckpoint(try combine("evaluations.npy", othersNaN: false))
        result.rejected = perCheckpoint(try combine("rejected.npy", othersNaN: false))
        // Trajectories and activation times (record.weights, record.activation): each replica's rows from its owner.
        if var r = try Recording.plan(experiment, file: first.directory + "/manifest.json") {
            for f in r.files(gridPoints: G, seeds: S) {
                guard let a = try combine(f.name), a.shape == f.shape else {
                    throw .badFile(path: first.directory + "/" + f.name, reason: "missing or not of shape \(f.shape)")
                }
                switch f.name {
                case "weights_t.npy": r.weights = a.values
                case "layers_t.npy": r.layers = a.values
                default: r.activation = a.values
                }
            }
            result.recording = r
        }
        // The whole run started when its first shard did (shards written before manifests had `started`: unknown).
        let started = shards.compactMap { ($0.manifest["started"] as? String).flatMap(ISO8601DateFormatter().date) }
            .min()
        try RunOutput.write(result, experiment: experiment, to: output, started: started)
        func path(_ name: String) -> String { URL(fileURLWithPath: output).appendingPathComponent(name).path }
        // Final parameters (--save-weights): one array per file, or one file per grid point.
        if let w = try combine("weights.npy"), let l = try combine("layers.npy") {
            try NPY.write(w.values, shape: w.shape, dtype: .float64, to: path("weights.npy"))
            try NPY.write(l.values, shape: l.shape, dtype: .float64, to: path("layers.npy"))
        }
        if FileManager.default.fileExists(atPath: first.directory + "/weights_0.npy") {
            for g in 0..<G {
                var w: NPY.Array? = nil
                var l: NPY.Array? = nil
                for (k, s) in shards.enumerated() {
                    let a = try verifiedRead(s.directory, manifest: s.manifest, "weights_\(g).npy")
                    let b = try verifiedRead(s.directory, manifest: s.manifest, "layers_\(g).npy")
                    if w == nil {
                        w = a
                        l = b
                    }
                    guard a.shape == w!.shape, b.shape == l!.shape, a.shape.first == S, b.shape.first == S else {
                        throw .badFile(
                            path: "\(s.directory)/weights_\(g).npy",
                            reason:
                                "shapes \(a.shape), \(b.shape) do not match the other shards' \(w!.shape), \(l!.shape)")
                    }
                    let rw = a.values.count / S
                    let rl = b.values.count / S
                    for seed in 0..<S where owner[g * S + seed] == k {
                        for j in 0..<rw { w!.values[seed * rw + j] = a.values[seed * rw + j] }
                        for j in 0..<rl { l!.values[seed * rl + j] = b.values[seed * rl + j] }
                    }
                }
                try NPY.write(w!.values, shape: w!.shape, dtype: .float64, to: path("weights_\(g).npy"))
                try NPY.write(l!.values, shape: l!.shape, dtype: .float64, to: path("layers_\(g).npy"))
            }
        }
        return Summary(shards: N, replicas: B, frozen: status.filter { ReplicaStatus.isFrozen(code: $0) }.count)
    }
}
