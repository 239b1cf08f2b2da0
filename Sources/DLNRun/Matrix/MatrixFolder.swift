import DLNModel
import Foundation

/// A matrix run's output folder read back for `dlnsim analyze`: its manifest, its configuration (config.yaml, from
/// which the run's teachers, data and initial layers follow deterministically) and its arrays, each checked against
/// the hash manifest.json lists for it, so that a file copied in from another run or changed since is refused by
/// name instead of being set beside this run's predictions.
public struct MatrixFolder {
    /// The folder.
    public let directory: String
    /// manifest.json.
    public let manifest: [String: Any]
    /// The run's configuration, parsed from config.yaml.
    public let configuration: MatrixConfiguration
    /// Grid points, seeds per grid point and checkpoints.
    public let gridPoints: Int, seeds: Int, checkpoints: Int
    /// times.npy: `times[g][c]`.
    public let times: [[Double]]
    /// status.npy: one code per replica (grid point · seeds + seed); 0 ran to the end with a finite loss.
    public let status: [Int]

    /// Reads manifest.json, config.yaml, times.npy and status.npy; refuses, naming the file, a folder that is not a
    /// finished matrix run's (or is one shard of one), a missing or altered file, or a shape that does not fit.
    public init(_ directory: String) throws(DLNError) {
        self.directory = directory
        try OutputDirectory.checkFinished(directory)
        let path = directory + "/manifest.json"
        guard let data = FileManager.default.contents(atPath: path),
            let m = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
        else {
            throw .badFile(path: path, reason: "missing or not JSON: \(directory) is not a dlnsim output folder")
        }
        manifest = m
        guard m["model"] as? String == "matrix" else {
            throw .badFile(path: path, reason: "is not a matrix-model run's (no \"model\": \"matrix\")")
        }
        if let part = m["shard"] as? [String: Any] {
            throw .badFile(
                path: directory,
                reason:
                    "holds shard \(part["index"] ?? "?")/\(part["count"] ?? "?") of a run: put the shards together "
                    + "with `dlnsim merge` and analyze the merged folder")
        }
        guard let seeds = m["seeds"] as? Int, let points = m["grid_points"] as? Int else {
            throw .badFile(path: path, reason: "has no 'seeds' or 'grid_points'")
        }
        let yaml = try Self.verifiedText(directory, manifest: m, "config.yaml")
        let base = m["base_directory"] as? String ?? directory
        configuration = try MatrixConfiguration.parse(yaml: yaml, file: directory + "/config.yaml", baseDirectory: base)
        guard configuration.gridPoints.count == points, configuration.seeds == seeds else {
            throw .badFile(
                path: directory + "/config.yaml",
                reason:
                    "gives \(configuration.gridPoints.count) grid points × \(configuration.seeds) seeds, manifest.json "
                    + "\(points) × \(seeds)")
        }
        gridPoints = points
        self.seeds = seeds
        let t = try Self.verifiedRead(directory, manifest: m, "times.npy")
        guard t.shape.count == 2, t.shape[0] == points, t.shape[1] >= 1 else {
            throw .badFile(
                path: directory + "/times.npy", reason: "has shape \(t.shape), not [\(points), checkpoints]")
        }
        checkpoints = t.shape[1]
        times = (0..<points).map { Array(t.values[($0 * t.shape[1])..<(($0 + 1) * t.shape[1])]) }
        let st = try Self.verifiedRead(directory, manifest: m, "status.npy")
        guard st.shape == [points, seeds] else {
            throw .badFile(path: directory + "/status.npy", reason: "has shape \(st.shape), not [\(points), \(seeds)]")
        }
        status = st.values.map { $0.isFinite ? Int($0) : ReplicaStatus.nonFinite.code }
    }

    /// Replicas in all (grid points × seeds).
    public var replicas: Int { gridPoints * seeds }

    /// Whether a file is among the run's (manifest.json lists it).
    public func has(_ name: String) -> Bool { (manifest["files"] as? [String: String])?[name] != nil }

    /// One array of the run, checked against its hash and against `[grid point, seed, checkpoint] + tail` (or,
    /// with `perSeed` false, `[grid point, checkpoint] + tail`); row-major values.
    public func array(_ name: String, tail: [Int] = [], perSeed: Bool = true) throws(DLNError) -> [Double] {
        let a = try Self.verifiedRead(directory, manifest: manifest, name)
        let shape = (perSeed ? [gridPoints, seeds, checkpoints] : [gridPoints, checkpoints]) + tail
        guard a.shape == shape else {
            throw .badFile(path: directory + "/" + name, reason: "has shape \(a.shape), the run \(shape)")
        }
        return a.values
    }

    /// The last dimension of a [grid point, seed, checkpoint, k] array (k: singular values or modes).
    public func width(of name: String) throws(DLNError) -> Int {
        let a = try Self.verifiedRead(directory, manifest: manifest, name)
        guard a.shape.count >= 3, let k = a.shape.last else {
            throw .badFile(path: directory + "/" + name, reason: "has shape \(a.shape)")
        }
        return k
    }

    /// A file's bytes after checking them against the hash manifest.json lists.
    static func verifiedData(_ dir: String, manifest: [String: Any], _ name: String) throws(DLNError) -> Data {
        let path = dir + "/" + name
        guard let files = manifest["files"] as? [String: String] else {
            throw .badFile(path: dir + "/manifest.json", reason: "lists no file hashes (written by an older dlnsim)")
        }
        guard let listed = files[name] else {
            throw .badFile(path: path, reason: "is not one of the files this run wrote (its manifest.json)")
        }
        guard FileManager.default.fileExists(atPath: path), let data = FileManager.default.contents(atPath: path) else {
            throw .badFile(path: path, reason: "missing: the run wrote it (its manifest.json lists it)")
        }
        let hash = try FileHash.of(path)
        guard hash == listed else {
            throw .badFile(
                path: path,
                reason:
                    "is not the file this run wrote (hash \(hash), its manifest.json lists \(listed)): it was copied "
                    + "from another folder or changed after the run")
        }
        return data
    }

    /// An array of the run, hash-checked.
    static func verifiedRead(_ dir: String, manifest: [String: Any], _ name: String) throws(DLNError) -> NPY.Array {
        _ = try verifiedData(dir, manifest: manifest, name)
        return try NPY.read(path: dir + "/" + name)
    }

    /// A text file of the run, hash-checked.
    static func verifiedText(_ dir: String, manifest: [String: Any], _ name: String) throws(DLNError) -> String {
        String(decoding: try verifiedData(dir, manifest: manifest, name), as: UTF8.self)
    }
}

extension MatrixFolder {
    /// The figures `dlnsim run` drew for this run (singular values against t with Saxe's curves where they apply, the
    /// losses, the final test error and effective rank against α), drawn again from the folder's files for
    /// `dlnsim plot`: file name and SVG text.
    public func figures() throws(DLNError) -> [(name: String, svg: String)] {
        let c = configuration
        var run = MatrixRun(configuration: c, setup: try MatrixSetup(c))
        let (B, C) = (replicas, checkpoints)
        guard run.steps.count == C else {
            throw .badFile(
                path: directory + "/times.npy",
                reason: "has \(C) checkpoints, config.yaml gives \(run.steps.count)")
        }
        func rows(_ name: String) throws(DLNError) -> [[Double]] {
            let v = try array(name + ".npy")
            return (0..<B).map { Array(v[($0 * C)..<(($0 + 1) * C)]) }
        }
        func blocks(_ name: String) throws(DLNError) -> [[[Double]]] {
            let k = try width(of: name)
            let v = try array(name, tail: [k])
            return (0..<B).map { b in (0..<C).map { i in Array(v[((b * C + i) * k)..<((b * C + i + 1) * k)]) } }
        }
        run.trainLoss = try rows("train_loss")
        run.testError = try rows("test_error")
        run.effectiveRank = try rows("effective_rank")
        run.nuclearNorm = try rows("nuclear_norm")
        run.conservation = try rows("conservation")
        if run.configuration.sharpnessIterations != nil { run.sharpness = try rows("sharpness") }
        if run.configuration.plIterations != nil { run.plConstant = try rows("pl_constant") }
        run.singularValues = try blocks("singular_values.npy")
        run.modeStrength = try blocks("mode_strength.npy")
        run.flowStatus = status
        return run.figures().map { (name: $0.0, svg: $0.1) }
    }
}
