import DLNModel
import Foundation

/// What a resume checks before it continues: the data files are those the run started with, and the
/// checkpoint's progress fits the experiment its configuration builds.
extension Checkpoint {
    /// The data files a configuration reads, with their configuration keys.
    static func dataFiles(of c: Configuration) -> [(String, String)] {
        // (A missing layers.npy is refused with its reason when the experiment is built.)
        let layers = c.model.initFrom.map { PreviousLayers.path($0) + "/layers.npy" }
        let from = layers.flatMap { FileManager.default.fileExists(atPath: $0) ? [("model.init.from", $0)] : nil } ?? []
        guard let f = c.problem.files else { return from }
        let optional: [(String, String?)] = [
            ("w_star", f.wStar), ("u0", f.u0), ("v0", f.v0), ("X_test", f.xTest), ("y_test", f.yTest)
        ]
        return [("problem.files.X", f.x), ("problem.files.y", f.y)]
            + optional.compactMap { key, path in path.map { ("problem.files." + key, $0) } } + from
    }

    /// Size and SHA-256 of every data file a configuration reads.
    public static func fingerprints(of c: Configuration) throws(DLNError) -> [InputFile] {
        var out: [InputFile] = []
        for (key, path) in dataFiles(of: c) {
            guard let digest = SHA256.hash(file: path), let size = fileSize(path) else {
                throw .badFile(path: key, reason: "\(path): cannot be read")
            }
            out.append(InputFile(key: key, path: path, size: size, sha256: SHA256.hex(digest)))
        }
        return out
    }

    /// Refuses a resume whose data files are not those the run started with (size and SHA-256), naming the first
    /// that changed.
    public static func verify(_ recorded: [InputFile], against c: Configuration) throws(DLNError) {
        let now = dataFiles(of: c)
        guard now.map(\.0) == recorded.map(\.key) else {
            throw .invalidProblem(
                "the checkpoint lists the data files \(recorded.map(\.key)), the configuration \(now.map(\.0))")
        }
        for file in recorded {
            let why = "resume needs the same data (or start over with --force)"
            guard let size = fileSize(file.path), let digest = SHA256.hash(file: file.path) else {
                throw .badFile(path: file.key, reason: "\(file.path): cannot be read; \(why)")
            }
            let hex = SHA256.hex(digest)
            if size != file.size || hex != file.sha256 {
                throw .badFile(
                    path: file.key,
                    reason:
                        "\(file.path) changed since the run started (\(size) bytes, SHA-256 \(hex.prefix(16))…; it "
                        + "was \(file.size) bytes, SHA-256 \(file.sha256.prefix(16))…): \(why)")
            }
        }
    }

    static func fileSize(_ path: String) -> Int? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return Int(st.st_size)
    }

    /// Checks that a checkpoint's progress fits the experiment: replica and checkpoint counts, the batch and
    /// slice in flight, the saved final states.
    static func check(
        _ p: RunProgress, against e: Experiment, origin: Origin, path: String
    ) throws(DLNError) {
        func refuse(_ why: String) -> DLNError {
            .badFile(path: path, reason: "does not fit its configuration (\(why)): start over with --force")
        }
        let plan = try Recording.plan(e, file: origin.configPath)
        if let r = p.recording, let plan {
            guard r.checkpoints == plan.checkpoints, r.every == plan.every, r.d == plan.d,
                r.layerCount == plan.layerCount, r.thresholds == plan.thresholds, r.replicas == plan.replicas
            else { throw refuse("its recorded weights or activation times have other shapes than record.* asks for") }
        } else if (p.recording == nil) != (plan == nil) {
            throw refuse(
                plan == nil
                    ? "it holds recorded weights the configuration does not ask for"
                    : "the configuration asks for record.weights or record.activation, which it lacks")
        }
        let orders = e.summationOrders.map(\.rawValue)
        let recorded = p.summation ?? orders.map { _ in SummationOrder.ascending.rawValue }
        guard recorded == orders else {
            throw refuse(
                "its batches summed their residuals in the order \(recorded.joined(separator: ", ")), the configuration "
                    + "asks for \(orders.joined(separator: ", ")) (training.summation); a run keeps one order")
        }
        let B = e.replicaCount
        guard p.status.count == B, p.evaluations.count == e.checkpointCount else {
            throw refuse(
                "\(p.status.count) replicas and \(p.evaluations.count) checkpoints, the configuration has \(B) and "
                    + "\(e.checkpointCount)")
        }
        guard p.group < e.groups.count else { throw refuse("batch \(p.group + 1) of \(e.groups.count)") }
        let group = e.groups[p.group]
        let R = group.batch.layout.replicas
        let own = origin.shard?.range(of: R) ?? 0..<R
        guard p.slice.lowerBound >= own.lowerBound, p.slice.upperBound <= own.upperBound else {
            throw refuse("the slice \(p.slice) is outside the batch's replicas \(own)")
        }
        if let s = p.snapshot, s.replicas != p.slice.count {
            throw refuse("an engine state of \(s.replicas) replicas for a slice of \(p.slice.count)")
        }
        if !p.names.isEmpty, p.names != group.batch.observables.names {
            throw refuse(
                "the observables \(p.names.prefix(3))…, the configuration's \(group.batch.observables.names.prefix(3))…"
            )
        }
        func fits(_ st: EngineState, _ g: Experiment.Group, replicas: Int?) -> Bool {
            let d = g.batch.layout.dimension
            let arrays = st.layers + [st.weights]
            guard st.layers.count == g.batch.layout.layers else { return false }
            let count = st.weights.count
            guard count % d == 0, arrays.allSatisfy({ $0.count == count }) else { return false }
            return replicas.map { $0 * d == count } ?? true
        }
        let expected = origin.saveWeights ? p.group : 0
        guard p.groupStates.count == expected,
            zip(p.groupStates, e.groups).allSatisfy({ fits($0, $1, replicas: $1.batch.layout.replicas) })
        else { throw refuse("\(p.groupStates.count) saved final states before batch \(p.group + 1)") }
        let sliced = p.sliceStates.reduce(0) { $0 + $1.weights.count } / group.batch.layout.dimension
        guard p.sliceStates.allSatisfy({ fits($0, group, replicas: nil) }),
            !origin.saveWeights || p.snapshot == nil || sliced == p.slice.lowerBound - own.lowerBound
        else { throw refuse("saved final states of \(sliced) replicas before the slice \(p.slice)") }
    }
}
