import DLNModel
import DLNTheory
import Foundation

/// A run's checkpoint: `checkpoint.dlnsim` in its output folder, everything `dlnsim run --resume` needs to
/// continue bit for bit (the configuration's text, the command's options, the observables so far and the
/// engine's state of the slice in flight).
///
/// The file is one JSON header followed by little-endian float64 arrays and a SHA-256 of all that precedes it:
///
///     "DLNSIM-CHECKPOINT 2\n"  UInt64 header length  header (UTF-8 JSON)  arrays…  SHA-256 (32 bytes)
///
/// A file whose checksum does not match is refused as corrupt; the header's values are checked before use, so
/// that even a file with a recomputed checksum is refused with a message rather than crashing the resume. The
/// header also records the size and SHA-256 of every data file the configuration reads (`Origin.inputs`): a
/// resume refuses data files that changed.
///
/// It is written to a temporary file, flushed to disk and renamed over the previous one, so a kill at any
/// moment leaves either the old checkpoint or the new one, never a mix.
public enum Checkpoint {
    public static let fileName = "checkpoint.dlnsim"
    static let magic = Array("DLNSIM-CHECKPOINT 2\n".utf8)
    static let formerMagic = Array("DLNSIM-CHECKPOINT 1\n".utf8)
    static let checksumLength = 32

    /// A data file the run read: its configuration key, path, size and SHA-256, checked again on resume.
    public struct InputFile: Codable, Sendable, Equatable {
        public var key: String
        public var path: String
        public var size: Int
        public var sha256: String
    }

    /// How the run was started: what `--resume` repeats.
    public struct Origin: Codable, Sendable, Equatable {
        /// The configuration file's path (absolute) and its text at the start of the run.
        public var configPath: String
        public var configText: String
        public var device: String
        public var saveWeights: Bool
        public var shard: Shard?
        public var dlnsimVersion: String
        public var gitCommit: String?
        /// The data files the configuration reads (`problem.files`), fingerprinted when the run started.
        public var inputs: [InputFile]
        /// When the run started (its first process; nil in checkpoints of earlier versions).
        public var started: Date?

        public init(
            configPath: String, configText: String, device: String, saveWeights: Bool, shard: Shard?,
            inputs: [InputFile] = []
        ) {
            self.configPath = configPath
            self.configText = configText
            self.device = device
            self.saveWeights = saveWeights
            self.shard = shard
            self.inputs = inputs
            dlnsimVersion = DLNSim.version
            gitCommit = DLNSim.gitCommit
            started = Date()
        }

        /// The configuration, parsed again (relative data paths against the original file's folder).
        public func configuration() throws(DLNError) -> Configuration {
            try Configuration.load(text: configText, path: configPath)
        }
    }

    /// Header fields besides the arrays.
    struct Header: Codable {
        var origin: Origin
        var group: Int, sliceLower: Int, sliceUpper: Int, checkpoint: Int, current: Int
        var seconds: Double, flowEvaluations: Double, done: Double
        var replicas: Int, checkpoints: Int
        var names: [String]
        var snapshot: SnapshotHeader?
        var groupStates: [StateHeader]
        var sliceStates: [StateHeader]
        var arrays: [ArrayHeader]
        /// The shapes of what is recorded (`Recording`; nil: nothing, and in files of earlier versions).
        var recording: RecordingHeader? = nil
        /// The summation order of each batch (nil in files of earlier versions: ascending).
        var summation: [String]? = nil
    }
    struct RecordingHeader: Codable, Equatable {
        var checkpoints: [Int], every: Int?, d: Int, layers: Int, thresholds: [Double], replicas: Int
    }
    struct SnapshotHeader: Codable {
        var replicas: Int, steps: Int, started: Bool
        var buffers: [BufferHeader]
    }
    struct BufferHeader: Codable { var name: String, width: Int, integer: Bool }
    struct StateHeader: Codable { var layers: Int, float: Bool }
    struct ArrayHeader: Codable { var name: String, count: Int }

    /// Writes `progress` into `directory`, atomically.
    public static func write(_ progress: RunProgress, origin: Origin, to directory: String) throws(DLNError) {
        var arrays: [(String, [Double])] = []
        let C = progress.evaluations.count
        let B = progress.status.count
        arrays.append(("evaluations", progress.evaluations.flatMap { $0 }))
        arrays.append(("rejected", progress.rejected.flatMap { $0 }))
        arrays.append(("status", progress.status.map(Double.init)))
        arrays.append(("frozen_at", progress.frozenAt))
        arrays.append(("initial_loss", progress.initialLoss))
        arrays.append(("values", progress.values.flatMap { $0.flatMap { $0 } }))
        var snapshotHeader: SnapshotHeader? = nil
        if let s = progress.snapshot {
            snapshotHeader = SnapshotHeader(
                replicas: s.replicas, steps: s.steps, started: s.started,
                buffers: s.buffers.map { BufferHeader(name: $0.name, width: $0.width, integer: $0.integer) })
            for b in s.buffers { arrays.append(("snapshot." + b.name, b.values)) }
        }
        func states(_ list: [EngineState], _ prefix: String) -> [StateHeader] {
            list.enumerated().map { i, st in
                for (l, layer) in st.layers.enumerated() { arrays.append(("\(prefix)\(i).layer\(l)", layer.doubles)) }
                arrays.append(("\(prefix)\(i).w", st.weights.doubles))
                if case .float = st.weights { return StateHeader(layers: st.layers.count, float: true) }
                return StateHeader(layers: st.layers.count, float: false)
            }
        }
        let gs = states(progress.groupStates, "group")
        let ss = states(progress.sliceStates, "slice")
        let recording = progress.recording.map { r in
            arrays += [("record.weights", r.weights), ("record.layers", r.layers), ("record.activation", r.activation)]
            return RecordingHeader(
                checkpoints: r.checkpoints, every: r.every, d: r.d, layers: r.layerCount, thresholds: r.thresholds,
                replicas: r.replicas)
        }
        var header = Header(
            origin: origin, group: progress.group, sliceLower: progress.slice.lowerBound,
            sliceUpper: progress.slice.upperBound, checkpoint: progress.checkpoint, current: progress.current,
            seconds: progress.seconds, flowEvaluations: progress.flowEvaluations, done: progress.done,
            replicas: B, checkpoints: C, names: progress.names, snapshot: snapshotHeader,
            groupStates: gs, sliceStates: ss, arrays: arrays.map { ArrayHeader(name: $0.0, count: $0.1.count) })
        header.recording = recording
        header.summation = progress.summation
        let json: Data
        do { json = try JSONEncoder().encode(header) } catch {
            throw .outputFailure(path: directory, reason: "cannot encode the checkpoint: \(error)")
        }
        var data = Data(magic)
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { data.append(contentsOf: $0) }
        data.append(json)
        for (_, values) in arrays {
            #if _endian(little)
                values.withUnsafeBytes { data.append(contentsOf: $0) }
            #else
                for v in values { withUnsafeBytes(of: v.bitPattern.littleEndian) { data.append(contentsOf: $0) } }
            #endif
        }
        data.append(contentsOf: SHA256.hash(data))
        try OutputFile.writeDurably(data, to: URL(fileURLWithPath: directory).appendingPathComponent(fileName).path)
    }

    /// Whether a folder holds a checkpoint.
    public static func exists(in directory: String) -> Bool {
        FileManager.default.fileExists(atPath: URL(fileURLWithPath: directory).appendingPathComponent(fileName).path)
    }

    /// Reads a folder's checkpoint.
    public static func read(from directory: String) throws(DLNError) -> (Origin, RunProgress) {
        let path = URL(fileURLWithPath: directory).appendingPathComponent(fileName).path
        guard let data = FileManager.default.contents(atPath: path) else {
            throw .badFile(
                path: path,
                reason: FileManager.default.fileExists(atPath: directory)
                    ? "no checkpoint here: the run finished (nothing to resume) or never wrote one"
                    : "no such folder")
        }
        return try decode([UInt8](data), path: path)
    }

    /// A checkpoint from its bytes (`path` names it in errors): refused, with the reason, when it is damaged.
    public static func decode(_ bytes: [UInt8], path: String) throws(DLNError) -> (Origin, RunProgress) {
        let (header, start) = try parse(bytes, path: path)
        var offset = start
        var arrays: [String: [Double]] = [:]
        bytes.withUnsafeBytes { raw in
            for a in header.arrays {
                var values = [Double](repeating: 0, count: a.count)
                for i in 0..<a.count {
                    values[i] = Double(
                        bitPattern: UInt64(
                            littleEndian: raw.loadUnaligned(fromByteOffset: offset + 8 * i, as: UInt64.self)))
                }
                arrays[a.name] = values
                offset += 8 * a.count
            }
        }
        let B = header.replicas
        let C = header.checkpoints
        let K = header.names.count
        func array(_ name: String, _ count: Int) throws(DLNError) -> [Double] {
            guard let v = arrays[name], v.count == count else {
                throw .badFile(path: path, reason: "the checkpoint's \(name) is missing or has the wrong size")
            }
            return v
        }
        var p = RunProgress(replicas: B, checkpoints: C)
        let ev = try array("evaluations", C * B)
        let rj = try array("rejected", C * B)
        p.evaluations = (0..<C).map { Array(ev[($0 * B)..<(($0 + 1) * B)]) }
        p.rejected = (0..<C).map { Array(rj[($0 * B)..<(($0 + 1) * B)]) }
        p.status = try array("status", B).map { Int($0) }  // codes checked by `parse`
        p.frozenAt = try array("frozen_at", B)
        p.initialLoss = try array("initial_loss", B)
        p.names = header.names
        let vals = try array("values", K == 0 ? 0 : C * K * B)
        p.values =
            K == 0
            ? [] : (0..<C).map { c in (0..<K).map { k in Array(vals[((c * K + k) * B)..<((c * K + k + 1) * B)]) } }
        p.group = header.group
        p.slice = header.sliceLower..<header.sliceUpper
        p.checkpoint = header.checkpoint
        p.current = header.current
        p.seconds = header.seconds
        p.flowEvaluations = header.flowEvaluations
        p.done = header.done
        if let sh = header.snapshot {
            var buffers: [EngineSnapshot.Buffer] = []
            for b in sh.buffers {
                buffers.append(
                    EngineSnapshot.Buffer(
                        name: b.name, width: b.width, integer: b.integer,
                        values: try array("snapshot." + b.name, b.width * sh.replicas)))
            }
            p.snapshot = EngineSnapshot(replicas: sh.replicas, steps: sh.steps, started: sh.started, buffers: buffers)
        }
        func states(_ list: [StateHeader], _ prefix: String) throws(DLNError) -> [EngineState] {
            var out: [EngineState] = []
            for (i, h) in list.enumerated() {
                func real(_ name: String) throws(DLNError) -> RealArray {
                    guard let v = arrays[name] else {
                        throw .badFile(path: path, reason: "the checkpoint lacks \(name)")
                    }
                    return h.float ? .float(v.map { Float($0) }) : .double(v)
                }
                var layers: [RealArray] = []
                for l in 0..<h.layers { layers.append(try real("\(prefix)\(i).layer\(l)")) }
                out.append(EngineState(layers: layers, weights: try real("\(prefix)\(i).w")))
            }
            return out
        }
        if let h = header.recording {
            var r = Recording(
                checkpoints: h.checkpoints, every: h.every, d: h.d, layerCount: h.layers, thresholds: h.thresholds,
                replicas: h.replicas)
            r.weights = try array("record.weights", r.weights.count)
            r.layers = try array("record.layers", r.layers.count)
            r.activation = try array("record.activation", r.activation.count)
            p.recording = r
        }
        p.summation = header.summation
        p.groupStates = try states(header.groupStates, "group")
        p.sliceStates = try states(header.sliceStates, "slice")
        return (header.origin, p)
    }

    /// Removes a folder's checkpoint (the run finished and wrote its outputs).
    public static func remove(from directory: String) {
        unlink(URL(fileURLWithPath: directory).appendingPathComponent(fileName).path)
    }
}
