import DLNModel
import Foundation

/// Puts the output folders of the N shards of one matrix run (`dlnsim run --shard i/N`) back together: a
/// `MatrixRun` whose arrays are those of one run of the whole ensemble, bit for bit, so that its `write` gives the
/// same .npy files and draws grid.csv, stats.csv, the figures and manifest.json for the whole.
///
/// Every shard's manifest must say `model: matrix`, name the same dlnsim version and commit and the same N, and
/// its config.yaml must give the same configuration; each replica is taken from the one shard that ran it
/// (status.npy ≠ −1 there, exactly the replicas `Shard.range(of:)` gives it), and every file read is checked
/// against the hash its shard's manifest.json lists.
public enum MatrixMerge {
    /// What a merge gives: the whole run, the configuration's text (config.yaml), and whether the shards kept the
    /// final layers.
    public struct Merged {
        /// The whole run, its arrays taken from the shards.
        public var run: MatrixRun
        /// The configuration's text (the shards' config.yaml).
        public var yaml: String
        /// Whether the shards wrote final_layers.npy (--save-weights).
        public var saveWeights: Bool
    }

    /// The model of an output folder by its manifest.json: true matrix, false diagonal, nil unreadable.
    public static func isMatrix(_ directory: String) -> Bool? {
        guard let data = FileManager.default.contents(atPath: directory + "/manifest.json"),
            let m = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
        else { return nil }
        return (m["model"] as? String) == "matrix"
    }

    /// Whether `directories` are matrix runs (true) or diagonal ones (false); refuses a mix, naming the folder.
    public static func kind(of directories: [String]) throws(DLNError) -> Bool {
        let kinds = directories.map { ($0, isMatrix($0)) }.compactMap { d, k in k.map { (d, $0) } }
        guard let first = kinds.first else { return false }
        if let other = kinds.first(where: { $0.1 != first.1 }) {
            let name = { (matrix: Bool) in matrix ? "a matrix-model run" : "a diagonal-model run" }
            throw .badFile(
                path: other.0,
                reason:
                    "holds \(name(other.1)), \(first.0) \(name(first.1)): they are not shards of one run")
        }
        return first.1
    }

    struct ShardFolder {
        let directory: String
        let manifest: [String: Any]
        let shard: Shard
        let yaml: String
        let configuration: MatrixConfiguration
    }

    /// Reads and checks the shard folders and combines them.
    public static func merge(_ directories: [String]) throws(DLNError) -> Merged {
        guard !directories.isEmpty else { throw .invalidProblem("give the shard folders to merge") }
        var shards: [ShardFolder] = []
        for dir in directories { shards.append(try read(dir)) }
        let first = shards[0]
        for s in shards.dropFirst() {
            for key in ["dlnsim_version", "git_commit"]
            where (s.manifest[key] as? String) != (first.manifest[key] as? String) {
                throw .invalidProblem(
                    "\(s.directory) was written by \(key) \(s.manifest[key] ?? "?"), \(first.directory) by "
                        + "\(first.manifest[key] ?? "?"): shards must come from the same dlnsim build")
            }
            if s.configuration != first.configuration {
                throw .invalidProblem(
                    "\(s.directory) and \(first.directory) ran different configurations ("
                        + differences(s.configuration, first.configuration) + "): they are not shards of one run")
            }
            if s.shard.count != first.shard.count {
                throw .invalidProblem(
                    "\(s.directory) is shard \(s.shard.index)/\(s.shard.count), \(first.directory) shard "
                        + "\(first.shard.index)/\(first.shard.count): different shard counts")
            }
        }
        let N = first.shard.count
        var seen: [Int: String] = [:]
        for s in shards {
            if let other = seen[s.shard.index] {
                throw .invalidProblem("\(s.directory) and \(other) are both shard \(s.shard.index)/\(N)")
            }
            seen[s.shard.index] = s.directory
        }
        let missing = (0..<N).filter { seen[$0] == nil }
        if !missing.isEmpty {
            throw .invalidProblem(
                "shard\(missing.count == 1 ? "" : "s") \(missing.map { "\($0)/\(N)" }.joined(separator: ", ")) "
                    + "missing: the merge needs all \(N) (given: \(directories.joined(separator: ", ")))")
        }
        let c = first.configuration
        var run = MatrixRun(configuration: c, setup: try MatrixSetup(c))
        let B = run.setup.batch.replicas
        let S = run.setup.seeds.count
        let G = B / S
        let C = run.steps.count
        var owner = [Int](repeating: -1, count: B)
        for (k, s) in shards.enumerated() {
            for b in s.shard.range(of: B) { owner[b] = k }
        }
        /// A [G, S, …] array of every shard, each replica's rows from its owner; `othersNaN`: the rows of the
        /// replicas a shard did not run must be NaN there (checked).
        func combine(_ name: String, _ tail: [Int], othersNaN: Bool = true) throws(DLNError) -> [Double] {
            let shape = [G, S] + tail
            let row = tail.reduce(1, *)
            var out = [Double](repeating: .nan, count: B * row)
            for (k, s) in shards.enumerated() {
                let a = try ShardMerge.verifiedRead(s.directory, manifest: s.manifest, name)
                guard a.shape == shape else {
                    throw .badFile(path: s.directory + "/" + name, reason: "has shape \(a.shape), the run \(shape)")
                }
                for b in 0..<B where owner[b] == k {
                    out.replaceSubrange((b * row)..<((b + 1) * row), with: a.values[(b * row)..<((b + 1) * row)])
                }
                if othersNaN, row > 0,
                    let b = (0..<B).first(where: {
                        owner[$0] != k && !a.values[($0 * row)..<(($0 + 1) * row)].allSatisfy(\.isNaN)
                    })
                {
                    throw .badFile(
                        path: s.directory + "/" + name,
                        reason:
                            "holds values for replica \(b) (grid point \(b / S), seed \(run.setup.seeds[b % S])), "
                            + "which shard \(s.shard.index)/\(N) did not run: the file comes from another shard or run")
                }
            }
            return out
        }
        // status.npy: −1 exactly on the replicas a shard did not run.
        let status = try combine("status.npy", [], othersNaN: false)
        for (k, s) in shards.enumerated() {
            let own = try ShardMerge.verifiedRead(s.directory, manifest: s.manifest, "status.npy").values
            for b in 0..<B where (own[b] == Double(ReplicaStatus.notInShard.code)) == (owner[b] == k) {
                throw .badFile(
                    path: s.directory + "/status.npy",
                    reason:
                        "says replica \(b) (grid point \(b / S), seed \(run.setup.seeds[b % S])) was "
                        + "\(owner[b] == k ? "not " : "")run, but shard \(s.shard.index)/\(N) runs "
                        + "\(owner[b] == k ? "it" : "other replicas"): the file comes from another shard or run")
            }
        }
        run.flowStatus = status.map { Int($0) }
        func rows(_ v: [Double], _ k: Int) -> [[Double]] {
            (0..<(v.count / k)).map { Array(v[($0 * k)..<(($0 + 1) * k)]) }
        }
        run.trainLoss = rows(try combine("train_loss.npy", [C]), C)
        run.testError = rows(try combine("test_error.npy", [C]), C)
        run.effectiveRank = rows(try combine("effective_rank.npy", [C]), C)
        run.nuclearNorm = rows(try combine("nuclear_norm.npy", [C]), C)
        run.conservation = rows(try combine("conservation.npy", [C]), C)
        if c.sharpnessIterations != nil { run.sharpness = rows(try combine("sharpness.npy", [C]), C) }
        if c.plIterations != nil { run.plConstant = rows(try combine("pl_constant.npy", [C]), C) }
        let K = c.singularValueCount
        let M = min(run.setup.teacherSingularValues.count, c.widths[0], c.widths[c.depth])
        let sv = try combine("singular_values.npy", [C, K])
        let ms = try combine("mode_strength.npy", [C, M])
        run.singularValues = (0..<B).map { b in
            (0..<C).map { i in Array(sv[((b * C + i) * K)..<((b * C + i + 1) * K)]) }
        }
        run.modeStrength = (0..<B).map { b in (0..<C).map { i in Array(ms[((b * C + i) * M)..<((b * C + i + 1) * M)]) }
        }
        if c.update == .flow {
            run.flowEvaluations = try combine("flow_evaluations.npy", [], othersNaN: false).map { Int($0) }
        }
        let P = run.setup.batch.shape.parameterCount
        let kept = shards.map { ($0.manifest["files"] as? [String: String])?["final_layers.npy"] != nil }
        if let k = kept.firstIndex(of: !kept[0]) {
            throw .badFile(
                path: shards[k].directory,
                reason:
                    "\(kept[k] ? "holds" : "lacks") final_layers.npy, \(first.directory) \(kept[0] ? "holds" : "lacks") "
                    + "it: run every shard with or without --save-weights")
        }
        if kept[0] { run.finalParameters = try combine("final_layers.npy", [P]) }
        run.seconds = shards.reduce(0.0) { $0 + ($1.manifest["seconds"] as? Double ?? 0) }
        run.deviceDescription = Set(shards.compactMap { $0.manifest["device"] as? String }).sorted().joined(
            separator: "; ")
        run.baseDirectory = first.manifest["base_directory"] as? String
        return Merged(run: run, yaml: first.yaml, saveWeights: kept[0])
    }

    /// One shard folder: finished, a matrix run's, a shard's; its configuration read back from config.yaml.
    static func read(_ dir: String) throws(DLNError) -> ShardFolder {
        try OutputDirectory.checkFinished(dir)
        let path = dir + "/manifest.json"
        guard let data = FileManager.default.contents(atPath: path),
            let m = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
        else {
            if Checkpoint.exists(in: dir) {
                throw .badFile(
                    path: dir,
                    reason:
                        "this shard has not finished (it holds a checkpoint): finish it with `dlnsim run --resume \(dir)`"
                )
            }
            throw .badFile(path: path, reason: "missing or not JSON: \(dir) is not a dlnsim output folder")
        }
        guard (m["model"] as? String) == "matrix" else {
            throw .badFile(path: dir, reason: "holds a diagonal-model run, not a matrix-model shard")
        }
        guard let part = m["shard"] as? [String: Any], let i = part["index"] as? Int, let n = part["count"] as? Int
        else { throw .badFile(path: path, reason: "not a shard's output (run with --shard i/N)") }
        guard let shard = try? Shard(index: i, count: n) else {
            throw .badFile(path: path, reason: "names shard \(i)/\(n), which is not i/N with 0 ≤ i < N")
        }
        let files = m["files"] as? [String: String] ?? [:]
        guard let listed = files["config.yaml"], (try? FileHash.of(dir + "/config.yaml")) == listed,
            let yaml = try? String(contentsOfFile: dir + "/config.yaml", encoding: .utf8)
        else {
            throw .badFile(path: dir + "/config.yaml", reason: "missing, or not the file this shard wrote")
        }
        let base = m["base_directory"] as? String ?? dir
        let c = try MatrixConfiguration.parse(yaml: yaml, file: dir + "/config.yaml", baseDirectory: base)
        return ShardFolder(directory: dir, manifest: m, shard: shard, yaml: yaml, configuration: c)
    }

    /// The fields in which two configurations differ, with their values (e.g. `seeds 4 ≠ 3`).
    public static func differences(_ a: MatrixConfiguration, _ b: MatrixConfiguration) -> String {
        let mine = Mirror(reflecting: a).children
        let theirs = Dictionary(
            Mirror(reflecting: b).children.compactMap { c in c.label.map { ($0, String(describing: c.value)) } },
            uniquingKeysWith: { x, _ in x })
        let differing = mine.compactMap { c -> String? in
            guard let label = c.label else { return nil }
            let value = String(describing: c.value)
            return theirs[label] == value ? nil : "\(label) \(value) ≠ \(theirs[label] ?? "?")"
        }
        return differing.isEmpty ? "their texts differ" : differing.joined(separator: "; ")
    }
}
