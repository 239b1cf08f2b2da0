import DLNModel
import DLNRun
import Foundation
import Testing

/// Shards that hold no replicas, and shard folders that cannot be trusted: `dlnsim merge` neither crashes nor
/// merges what a shard did not write.
@Suite struct ShardCLITests {
    /// Three batches (d = 10, 20, 40) of 4 replicas each: with 8 shards, half of them hold no replica.
    static let config = """
        problem: {n: 20, data: independent}
        training: {steps: 20}
        grid: {d: [10, 20, 40], alpha: 0.1}
        seeds: 4
        record: {checkpoints: 3}
        """

    static func prepare(_ dir: String, shards: Int) throws -> String {
        let path = dir + "/c.yaml"
        try config.write(toFile: path, atomically: true, encoding: .utf8)
        for i in 0..<shards {
            let r = try CLITests.run([
                "run", path, "--device", "cpu", "--out", dir + "/s\(i)", "--quiet", "--shard", "\(i)/\(shards)"
            ])
            #expect(r.status == 0, "shard \(i): \(r.stderr)")
        }
        return path
    }

    /// A shard with no replicas (`--shard 0/8` of batches of 4) trapped in the summary table and wrote nothing;
    /// `--check` called it valid. Now `--check` and the run say it holds none, the run writes a folder with no
    /// replicas, and merge takes it: the merged folder is the whole run, bit for bit.
    @Test func emptyShardsWriteFoldersThatMergeAccepts() throws {
        let dir = CLITests.temporary()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let config = try Self.prepare(dir, shards: 8)
        let check = try CLITests.run(["run", config, "--check", "--shard", "0/8"])
        #expect(check.status == 0)
        #expect(check.stdout.contains("valid: 12 replicas (3 grid points × 4 seeds); shard 0/8 runs 0 of them"))
        #expect(check.stderr.contains("warning: shard 0/8 holds no replicas"), "\(check.stderr)")
        #expect(check.stderr.contains("with at most 4 shards every shard holds some"), "\(check.stderr)")
        let status = try NPY.read(path: dir + "/s0/status.npy")
        #expect(status.shape == [3, 4] && status.values.allSatisfy { $0 == -1 })
        let whole = try CLITests.run(["run", config, "--device", "cpu", "--out", dir + "/whole", "--quiet"])
        #expect(whole.status == 0, "\(whole.stderr)")
        let merged = try CLITests.run(["merge"] + (0..<8).map { dir + "/s\($0)" } + ["--out", dir + "/merged"])
        #expect(merged.status == 0, "\(merged.stderr)")
        #expect(merged.stdout.contains("merged 8 shards: 12 replicas"), "\(merged.stdout)")
        try ReliabilityCLITests.expectSameOutputs(dir + "/whole", dir + "/merged")
        // The merged folder's config.yaml is the whole run's; it started when its first shard did.
        #expect(
            try String(contentsOfFile: dir + "/merged/config.yaml", encoding: .utf8)
                == String(contentsOfFile: dir + "/whole/config.yaml", encoding: .utf8))
        func started(_ folder: String) throws -> String? {
            let data = try Data(contentsOf: URL(fileURLWithPath: folder + "/manifest.json"))
            return (try JSONSerialization.jsonObject(with: data) as? [String: Any])?["started"] as? String
        }
        let first = try (0..<8).compactMap { try started(dir + "/s\($0)") }.min()
        let mergedStart = try started(dir + "/merged")
        #expect(first != nil && mergedStart == first)
    }

    /// Rewrites a shard's file and the hash its manifest lists for it (a file that is consistent with its
    /// manifest, but wrong).
    static func replace(_ name: String, in shard: String, with data: Data) throws {
        try data.write(to: URL(fileURLWithPath: shard + "/" + name))
        let path = shard + "/manifest.json"
        var manifest =
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as! [String: Any]
        var files = manifest["files"] as! [String: String]
        files[name] = FileHash.of(data)
        manifest["files"] = files
        try JSONSerialization.data(withJSONObject: manifest).write(to: URL(fileURLWithPath: path))
    }

    /// NaN or 1e300 in status.npy trapped the merge (Double → Int); an array copied from another shard merged
    /// with exit 0; `--out` set to a shard folder overwrote it. Each is refused now, naming the file.
    @Test func mergeRefusesShardFilesItCannotTrust() throws {
        let dir = CLITests.temporary()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        _ = try Self.prepare(dir, shards: 2)
        let shards = [dir + "/s0", dir + "/s1"]
        func merge(_ out: String) throws -> CLITests.Output { try CLITests.run(["merge"] + shards + ["--out", out]) }
        func expectRefused(_ r: CLITests.Output, _ words: String, sourceLocation: SourceLocation = #_sourceLocation) {
            #expect(r.status == 1, "\(r.stderr)", sourceLocation: sourceLocation)
            #expect(r.stderr.contains(words), "\(r.stderr)", sourceLocation: sourceLocation)
        }
        // --out is a shard folder, lies inside one, or holds one.
        expectRefused(try merge(dir + "/s0"), "is the shard folder")
        expectRefused(try merge(dir + "/s1/sub"), "lies inside the shard folder")
        expectRefused(try merge(dir), "holds the shard folder")
        #expect(try NPY.read(path: dir + "/s0/status.npy").values.contains(0), "the shard is untouched")
        // An array copied from the other shard: its hash is not the one the manifest lists.
        let original = try Data(contentsOf: URL(fileURLWithPath: dir + "/s0/train_loss.npy"))
        try FileManager.default.removeItem(atPath: dir + "/s0/train_loss.npy")
        try FileManager.default.copyItem(atPath: dir + "/s1/train_loss.npy", toPath: dir + "/s0/train_loss.npy")
        expectRefused(try merge(dir + "/m1"), "train_loss.npy: is not the file this shard wrote")
        // The same with the manifest's hash changed to match: the values of replicas it did not run give it away.
        try Self.replace(
            "train_loss.npy", in: dir + "/s0",
            with: try Data(contentsOf: URL(fileURLWithPath: dir + "/s1/train_loss.npy")))
        expectRefused(try merge(dir + "/m2"), "which shard 0/2 did not run: the file comes from another shard or run")
        try Self.replace("train_loss.npy", in: dir + "/s0", with: original)
        // status.npy with NaN, a huge value, an unknown code, or another shard's statuses.
        let status = try NPY.read(path: dir + "/s0/status.npy")
        for (value, words) in [
            (Double.nan, "holds nan for replica 1"), (1e300, "holds 1e+300 for replica 1"),
            (7, "holds 7.0 for replica 1")
        ] {
            var v = status.values
            v[1] = value
            try Self.replace("status.npy", in: dir + "/s0", with: NPY.encode(v, shape: status.shape, dtype: .float64))
            expectRefused(try merge(dir + "/m3"), words)
        }
        try Self.replace(
            "status.npy", in: dir + "/s0", with: try Data(contentsOf: URL(fileURLWithPath: dir + "/s1/status.npy")))
        expectRefused(try merge(dir + "/m4"), "the file comes from another shard or run")
        try Self.replace("status.npy", in: dir + "/s0", with: NPY.encode(status.values, shape: [3, 4], dtype: .int32))
        // A shard that summed in another order (its third batch, d = 40 ≥ 2n, takes the strided one).
        let manifestPath = dir + "/s0/manifest.json"
        let manifest = try String(contentsOfFile: manifestPath, encoding: .utf8)
        // The top-level list (the configuration's training.summation is the string "auto").
        let key = try #require(manifest.range(of: #""summation"\s*:\s*\["#, options: .regularExpression))
        let end = try #require(manifest.range(of: "]", range: key.upperBound..<manifest.endIndex))
        let orders = String(manifest[key.lowerBound..<end.upperBound])
        #expect(orders.contains("\"ascending\"") && orders.contains("\"strided\""), "\(orders)")
        try manifest.replacingCharacters(
            in: key.lowerBound..<end.upperBound, with: orders.replacingOccurrences(of: "strided", with: "ascending")
        ).write(toFile: manifestPath, atomically: true, encoding: .utf8)
        expectRefused(try merge(dir + "/m6"), "summed its residuals in the order ascending, ascending, ascending")
        try manifest.write(toFile: manifestPath, atomically: true, encoding: .utf8)
        // Put back, the shards merge.
        let ok = try merge(dir + "/m5")
        #expect(ok.status == 0, "\(ok.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/m1"), "a refused merge leaves no folder")
    }
}
