import DLNModel
import Foundation

/// A matrix run's checkpoint: `checkpoint.dlnsim` in its output folder (the name of the diagonal runs' checkpoint,
/// so that every rule about an unfinished run's folder applies to both), with everything `dlnsim run --resume`
/// needs to continue bit for bit: how the run was started (`Checkpoint.Origin`: the configuration's text, the
/// device, --save-weights, --shard, the data files' fingerprints) and its `MatrixProgress`.
///
/// The layout is that of `Checkpoint` with its own first line, one JSON header, little-endian float64 arrays and
/// a SHA-256 of all that precedes it:
///
///     "DLNSIM-MATRIX-CHECKPOINT 1\n"  UInt64 header length  header (UTF-8 JSON)  arrays…  SHA-256 (32 bytes)
///
/// written to a temporary file and renamed over the previous one (`OutputFile.writeDurably`).
public enum MatrixCheckpoint {
    static let magic = Array("DLNSIM-MATRIX-CHECKPOINT 1\n".utf8)

    struct Header: Codable {
        var origin: Checkpoint.Origin
        var sliceLower: Int, sliceUpper: Int, checkpoint: Int, step: Int
        var seconds: Double
        /// Replicas, checkpoints, parameters per replica, singular values and modes per checkpoint.
        var replicas: Int, checkpoints: Int, parameters: Int, singularValues: Int, modes: Int
        var flowStarted: Bool?
        var arrays: [ArrayHeader]
    }
    struct ArrayHeader: Codable { var name: String, count: Int }

    /// Whether a folder holds a matrix run's checkpoint.
    public static func exists(in directory: String) -> Bool {
        guard let handle = FileHandle(forReadingAtPath: directory + "/" + Checkpoint.fileName) else { return false }
        defer { try? handle.close() }
        let head = (try? handle.read(upToCount: magic.count)) ?? Data()
        return [UInt8](head) == magic
    }

    /// Writes a checkpoint into `directory`, atomically.
    public static func write(_ p: MatrixProgress, origin: Checkpoint.Origin, to directory: String) throws(DLNError) {
        let B = p.trainLoss.count
        let C = p.trainLoss.first?.count ?? 0
        var arrays: [(String, [Double])] = [
            ("train_loss", p.trainLoss.flatMap { $0 }), ("test_error", p.testError.flatMap { $0 }),
            ("effective_rank", p.effectiveRank.flatMap { $0 }), ("nuclear_norm", p.nuclearNorm.flatMap { $0 }),
            ("conservation", p.conservation.flatMap { $0 }),
            ("singular_values", p.singularValues.flatMap { $0.flatMap { $0 } }),
            ("mode_strength", p.modeStrength.flatMap { $0.flatMap { $0 } }), ("final_parameters", p.finalParameters),
            ("flow_evaluations", p.flowEvaluations.map(Double.init)), ("flow_status", p.flowStatus.map(Double.init)),
            ("parameters", p.parameters)
        ]
        if !p.sharpness.isEmpty { arrays.append(("sharpness", p.sharpness.flatMap { $0 })) }
        if !p.plConstant.isEmpty { arrays.append(("pl_constant", p.plConstant.flatMap { $0 })) }
        if !p.velocity.isEmpty { arrays.append(("velocity", p.velocity)) }
        if let f = p.flow {
            arrays += [
                ("flow.times", f.times), ("flow.evaluations", f.counters.evaluations.map(Double.init)),
                ("flow.rejected", f.counters.rejected.map(Double.init)),
                ("flow.status", f.counters.status.map(Double.init)), ("flow.frozen_at", f.counters.frozenAt),
                ("flow.state", f.state), ("flow.slope", f.slope), ("flow.desired", f.desired),
                ("flow.error_before", f.errorBefore), ("flow.last_rejected", f.lastRejected.map { $0 ? 1 : 0 }),
                ("flow.attempts", f.attempts.map(Double.init))
            ]
        }
        let header = Header(
            origin: origin, sliceLower: p.slice.lowerBound, sliceUpper: p.slice.upperBound,
            checkpoint: p.checkpoint, step: p.step, seconds: p.seconds, replicas: B, checkpoints: C,
            parameters: B == 0 ? 0 : p.finalParameters.count / B,
            singularValues: p.singularValues.first?.first?.count ?? 0, modes: p.modeStrength.first?.first?.count ?? 0,
            flowStarted: p.flow?.started, arrays: arrays.map { ArrayHeader(name: $0.0, count: $0.1.count) })
        let json: Data
        do { json = try JSONEncoder().encode(header) } catch {
            throw .outputFailure(path: directory, reason: "cannot encode the checkpoint: \(error)")
        }
        var data = Data(magic)
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { data.append(contentsOf: $0) }
        data.append(json)
        for (_, values) in arrays {
            for v in values { withUnsafeBytes(of: v.bitPattern.littleEndian) { data.append(contentsOf: $0) } }
        }
        data.append(contentsOf: SHA256.hash(data))
        try OutputFile.writeDurably(data, to: directory + "/" + Checkpoint.fileName)
    }

    /// Reads a folder's matrix checkpoint; a damaged file is refused with the reason, naming it.
    public static func read(from directory: String) throws(DLNError) -> (Checkpoint.Origin, MatrixProgress) {
        let path = directory + "/" + Checkpoint.fileName
        guard let data = FileManager.default.contents(atPath: path) else {
            throw .badFile(
                path: path, reason: "no checkpoint here: the run finished (nothing to resume) or never wrote one")
        }
        return try decode([UInt8](data), path: path)
    }

    /// A checkpoint from its bytes (`path` names it in errors).
    static func decode(_ bytes: [UInt8], path: String) throws(DLNError) -> (Checkpoint.Origin, MatrixProgress) {
        func corrupt(_ why: String) -> DLNError { .badFile(path: path, reason: "corrupt (\(why))") }
        guard bytes.count >= magic.count + 8 + 32, Array(bytes[0..<magic.count]) == magic else {
            throw .badFile(path: path, reason: "not a checkpoint of a matrix-model run")
        }
        let body = bytes.count - 32
        guard Array(bytes[body...]) == SHA256.hash(bytes[0..<body]) else {
            throw .badFile(
                path: path,
                reason:
                    "corrupt (checksum mismatch): the file was damaged after it was written; resume from a copy of "
                    + "the folder, or start over with --force")
        }
        var length: UInt64 = 0
        for i in 0..<8 { length |= UInt64(bytes[magic.count + i]) << (8 * UInt64(i)) }
        let start = magic.count + 8
        guard length <= UInt64(body - start) else { throw corrupt("the header length \(length) exceeds the file") }
        let end = start + Int(length)
        let h: Header
        do { h = try JSONDecoder().decode(Header.self, from: Data(bytes[start..<end])) } catch {
            throw corrupt("unreadable header: \(error)")
        }
        var total = 0
        for a in h.arrays {
            guard a.count >= 0, a.count <= (body - end) / 8 else { throw corrupt("array \(a.name) of \(a.count)") }
            total += 8 * a.count
            guard total <= body - end else { throw corrupt("the arrays exceed the file") }
        }
        guard total == body - end else { throw corrupt("the header lists \(total) bytes of arrays, the file has more") }
        var arrays: [String: [Double]] = [:]
        var offset = end
        for a in h.arrays {
            var values = [Double](repeating: 0, count: a.count)
            for i in 0..<a.count {
                var bits: UInt64 = 0
                for k in 0..<8 { bits |= UInt64(bytes[offset + 8 * i + k]) << (8 * UInt64(k)) }
                values[i] = Double(bitPattern: bits)
            }
            arrays[a.name] = values
            offset += 8 * a.count
        }
        let (B, C, P, K, M) = (h.replicas, h.checkpoints, h.parameters, h.singularValues, h.modes)
        guard [B, C, P, K, M].allSatisfy({ $0 >= 0 && $0 <= body }), h.sliceLower >= 0, h.sliceLower <= h.sliceUpper,
            h.sliceUpper <= B, h.checkpoint >= 0, h.checkpoint < max(C, 1), h.step >= 0,
            h.seconds.isFinite && h.seconds >= 0
        else { throw corrupt("counts or position out of range") }
        func array(_ name: String, _ count: Int) throws(DLNError) -> [Double] {
            guard let v = arrays[name], v.count == count else {
                throw corrupt("the checkpoint's \(name) is missing or has the wrong size")
            }
            return v
        }
        func integers(_ name: String, _ count: Int) throws(DLNError) -> [Int] {
            var out: [Int] = []
            for v in try array(name, count) {
                guard let i = Int(exactly: v), abs(i) < 1 << 52 else { throw corrupt("\(name) holds \(v)") }
                out.append(i)
            }
            return out
        }
        func rows(_ name: String) throws(DLNError) -> [[Double]] {
            let v = try array(name, B * C)
            return (0..<B).map { b in Array(v[(b * C)..<((b + 1) * C)]) }
        }
        func cube(_ name: String, _ k: Int) throws(DLNError) -> [[[Double]]] {
            let v = try array(name, B * C * k)
            return (0..<B).map { b in (0..<C).map { c in Array(v[((b * C + c) * k)..<((b * C + c + 1) * k)]) } }
        }
        let slice = h.sliceLower..<h.sliceUpper
        var flow: MatrixFlow.Snapshot? = nil
        if let started = h.flowStarted {
            let R = slice.count
            var counters = FlowCounters(replicas: R)
            counters.evaluations = try integers("flow.evaluations", R)
            counters.rejected = try integers("flow.rejected", R)
            counters.status = try integers("flow.status", R)
            counters.frozenAt = try array("flow.frozen_at", R)
            flow = MatrixFlow.Snapshot(
                started: started, times: try array("flow.times", R), counters: counters,
                state: try array("flow.state", R * P), slope: try array("flow.slope", R * P),
                desired: try array("flow.desired", R), errorBefore: try array("flow.error_before", R),
                lastRejected: try array("flow.last_rejected", R).map { $0 != 0 },
                attempts: try integers("flow.attempts", R))
        }
        let p = MatrixProgress(
            slice: slice, checkpoint: h.checkpoint, step: h.step, seconds: h.seconds, trainLoss: try rows("train_loss"),
            testError: try rows("test_error"), effectiveRank: try rows("effective_rank"),
            nuclearNorm: try rows("nuclear_norm"), conservation: try rows("conservation"),
            singularValues: try cube("singular_values", K), modeStrength: try cube("mode_strength", M),
            finalParameters: try array("final_parameters", B * P), flowEvaluations: try integers("flow_evaluations", B),
            flowStatus: try integers("flow_status", B),
            parameters: try array("parameters", h.flowStarted == nil ? slice.count * P : 0),
            flow: flow, sharpness: arrays["sharpness"] == nil ? [] : try rows("sharpness"),
            plConstant: arrays["pl_constant"] == nil ? [] : try rows("pl_constant"),
            velocity: arrays["velocity"] == nil ? [] : try array("velocity", slice.count * P))
        return (h.origin, p)
    }

    /// Refuses a checkpoint whose progress does not fit the run its configuration builds, naming what differs.
    static func check(_ p: MatrixProgress, against run: MatrixRun, shard: Shard?, path: String) throws(DLNError) {
        func refuse(_ why: String) -> DLNError {
            .badFile(path: path, reason: "does not fit its configuration (\(why)): start over with --force")
        }
        let c = run.configuration
        let B = run.setup.batch.replicas
        let C = run.steps.count
        let P = run.setup.batch.shape.parameterCount
        let modes = min(run.setup.teacherSingularValues.count, c.widths[0], c.widths[c.depth])
        let own = shard?.range(of: B) ?? 0..<B
        guard p.trainLoss.count == B else { throw refuse("\(p.trainLoss.count) replicas, the configuration \(B)") }
        guard p.trainLoss.first?.count ?? C == C else {
            throw refuse("\(p.trainLoss.first?.count ?? 0) checkpoints, the configuration \(C)")
        }
        guard p.finalParameters.count == B * P else {
            throw refuse("\(p.finalParameters.count / max(B, 1)) parameters per replica, the widths \(c.widths) \(P)")
        }
        guard p.singularValues.first?.first?.count ?? c.singularValueCount == c.singularValueCount,
            p.modeStrength.first?.first?.count ?? modes == modes
        else { throw refuse("other numbers of singular values or modes per checkpoint") }
        guard p.slice.lowerBound >= own.lowerBound, p.slice.upperBound <= own.upperBound, !p.slice.isEmpty else {
            throw refuse("the slice \(p.slice) is outside the replicas \(own) this run owns")
        }
        guard p.checkpoint < C else { throw refuse("checkpoint \(p.checkpoint) of \(C)") }
        if c.update == .flow {
            guard p.flow != nil else { throw refuse("a gradient-descent state for training.update: flow") }
        } else {
            guard p.flow == nil else { throw refuse("a gradient-flow state for training.update: \(c.update.rawValue)") }
            let moving = run.setup.batch.dynamics?.hasMomentum == true
            guard p.velocity.isEmpty != moving else {
                throw refuse(moving ? "no momentum buffers for training.momentum" : "momentum buffers without momentum")
            }
            let next = p.checkpoint + 1 < C ? run.steps[p.checkpoint + 1] : run.steps[p.checkpoint]
            guard p.step >= run.steps[p.checkpoint], p.step <= next else {
                throw refuse("step \(p.step) between checkpoints \(p.checkpoint) and \(p.checkpoint + 1)")
            }
        }
    }
}

extension MatrixCheckpoint {
    /// Size and SHA-256 of the data files a configuration reads (`problem.files`: X, Y and T).
    public static func fingerprints(of c: MatrixConfiguration) throws(DLNError) -> [Checkpoint.InputFile] {
        var out: [Checkpoint.InputFile] = []
        for (key, path) in dataFiles(of: c) {
            guard let digest = SHA256.hash(file: path), let size = Checkpoint.fileSize(path) else {
                throw .badFile(path: key, reason: "\(path): cannot be read")
            }
            out.append(Checkpoint.InputFile(key: key, path: path, size: size, sha256: SHA256.hex(digest)))
        }
        return out
    }

    static func dataFiles(of c: MatrixConfiguration) -> [(String, String)] {
        guard let f = c.files else { return [] }
        return [("problem.files.X", f.x), ("problem.files.Y", f.y)]
            + (f.teacher.map { [("problem.files.T", $0)] } ?? [])
    }

    /// Refuses a resume whose data files are not those the run started with, naming the first that changed.
    public static func verify(_ recorded: [Checkpoint.InputFile], against c: MatrixConfiguration) throws(DLNError) {
        let now = dataFiles(of: c)
        guard now.map(\.0) == recorded.map(\.key) else {
            throw .invalidProblem(
                "the checkpoint lists the data files \(recorded.map(\.key)), the configuration \(now.map(\.0))")
        }
        for file in recorded {
            let why = "resume needs the same data (or start over with --force)"
            guard let size = Checkpoint.fileSize(file.path), let digest = SHA256.hash(file: file.path) else {
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
}
