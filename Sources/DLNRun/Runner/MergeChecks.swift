import DLNModel
import Foundation

/// What `dlnsim merge` checks in every shard folder before it trusts a number of it.
extension ShardMerge {
    /// Refuses an output folder that is a shard folder, lies inside one, or holds one: writing there would
    /// overwrite the shard being read.
    public static func refuseOverlap(output: String, shards: [String]) throws(DLNError) {
        func components(_ path: String) -> [String] {
            URL(fileURLWithPath: path).standardizedFileURL.resolvingSymlinksInPath().pathComponents
        }
        let out = components(output)
        for dir in shards {
            let shard = components(dir)
            let relation: String? =
                out == shard
                ? "is the shard folder \(dir)"
                : out.starts(with: shard)
                    ? "lies inside the shard folder \(dir)"
                    : shard.starts(with: out) ? "holds the shard folder \(dir)" : nil
            if let relation {
                throw .outputFailure(
                    path: output, reason: "\(relation): the merge would overwrite what it reads; choose another --out")
            }
        }
    }

    /// Reads a shard's `.npy` file after checking it against the hash its manifest.json lists (a file copied
    /// from another shard or run, or changed after the shard finished, is refused).
    static func verifiedRead(_ dir: String, manifest: [String: Any], _ name: String) throws(DLNError) -> NPY.Array {
        let path = (dir as NSString).appendingPathComponent(name)
        guard let files = manifest["files"] as? [String: String] else {
            throw .badFile(
                path: dir + "/manifest.json",
                reason: "lists no file hashes (written by an older dlnsim): run this shard again with this one")
        }
        guard let listed = files[name] else {
            throw .badFile(path: path, reason: "is not one of the files this shard wrote (its manifest.json)")
        }
        let hash = try FileHash.of(path)
        guard hash == listed else {
            throw .badFile(
                path: path,
                reason:
                    "is not the file this shard wrote (hash \(hash), its manifest.json lists \(listed)): it was copied "
                    + "from another folder or changed after the run")
        }
        return try NPY.read(path: path)
    }

    /// A shard's status.npy as status codes: shape [grid point, seed], every value one of `ReplicaStatus`.
    static func statusCodes(_ s: ShardFolder, experiment: Experiment) throws(DLNError) -> [Int] {
        let G = experiment.gridPoints.count
        let S = experiment.seeds.count
        let path = s.directory + "/status.npy"
        guard s.statusArray.shape == [G, S] else {
            throw .badFile(path: path, reason: "has shape \(s.statusArray.shape), the run [\(G), \(S)]")
        }
        var codes: [Int] = []
        codes.reserveCapacity(G * S)
        for (b, v) in s.statusArray.values.enumerated() {
            guard let code = Int(exactly: v), ReplicaStatus(code: code) != nil else {
                let known = ReplicaStatus.allCases.map { String($0.code) }.joined(separator: ", ")
                throw .badFile(
                    path: path,
                    reason:
                        "holds \(v) for replica \(b) (grid point \(b / S), seed \(experiment.seeds[b % S])); a "
                        + "status is one of \(known)")
            }
            codes.append(code)
        }
        return codes
    }

    /// Checks that a shard ran exactly the replicas its index gives it (status −1 on all the others).
    static func checkOwnership(_ s: ShardFolder, experiment: Experiment) throws(DLNError) {
        let S = experiment.seeds.count
        guard let shard = try? Shard(index: s.index, count: s.count) else { return }
        for group in experiment.groups {
            let ids = group.points.flatMap { g in (0..<S).map { g * S + $0 } }
            let mine = shard.range(of: ids.count)
            for (k, b) in ids.enumerated() where mine.contains(k) == (s.status[b] == ReplicaStatus.notInShard.code) {
                throw .badFile(
                    path: s.directory + "/status.npy",
                    reason:
                        "says replica \(b) (grid point \(b / S), seed \(experiment.seeds[b % S])) was "
                        + "\(mine.contains(k) ? "not " : "")run, but shard \(s.index)/\(s.count) runs "
                        + "\(mine.contains(k) ? "it" : "other replicas"): the file comes from another shard or run")
            }
        }
    }
}
