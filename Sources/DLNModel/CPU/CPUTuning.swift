import Dispatch
import Foundation

/// The CPU engine's tuning: how the loops run, never what they compute (every choice gives the same bits).
///
/// Two choices are measured per machine. With shared data, whether neighbouring blocks step in register tiles of four
/// blocks, of two or alone (`tileBlocks`: which fits the core's registers and load ports). With independent data, how it is stepped: one
/// replica at a time with its data held in the core's cache (CPU/ReplicaSteps.swift), or blocks of 16 replicas
/// streaming their lane-interleaved data. Which is faster depends on the size of a data set against the caches, so
/// a short calibration (`calibrate()`, about three seconds) times both on growing data sets the first time a batch needs
/// the choice, and caches the result per machine (`cacheFile`, one file per machine key). `DLNSIM_CPU_TUNING` or the commands'
/// `--cpu-tuning` flag override it.
public struct CPUTuning: Sendable, Codable, Equatable {
    /// The data sets (X copied twice, rows and coordinates padded to multiples of 16: 2·n₁₆·d₁₆ elements, in bytes)
    /// that independent-data replicas step one at a time: from `replicaMinBytes` to `replicaBytes`; smaller and
    /// larger ones stream lane-interleaved (a tiny problem wastes most of the padded vectors one replica at a time).
    public var replicaMinBytes: Int
    public var replicaBytes: Int
    /// Where the choice comes from (the built-in default, a calibration and its date, an override).
    public var source: String
    /// The machine it was measured on (`machineKey`), for a calibration.
    public var machine: String?
    /// Each size the calibration timed: data-set bytes, replica-steps/s one replica at a time, interleaved.
    public var measurements: [Measurement]?
    /// Shared data: how many neighbouring blocks with one data set step together, 4 (register tiles of 64 replicas,
    /// 16 accumulators of 16 lanes; when there are at least eight blocks per thread, else 2), 2 (32 replicas, 8
    /// accumulators) or 1 (16 replicas, 4 accumulators). Which is faster depends on the core: 16 accumulators fill
    /// AVX-512's 32 registers but spill from AVX2's 16. The calibration times all three.
    public var tileBlocks: Int
    /// The calibration's replica-steps/s of shared data in tiles of four blocks, two and one.
    public var tileRates: TileRates?

    /// Shared data, tiles of four blocks, two and one, replica-steps/s.
    public struct TileRates: Sendable, Codable, Equatable {
        public var quads: Double
        public var pairs: Double
        public var singles: Double

        public init(quads: Double, pairs: Double, singles: Double) {
            (self.quads, self.pairs, self.singles) = (quads, pairs, singles)
        }

        /// The tile with the highest rate (a tie goes to the larger tile).
        public var fastest: Int { quads >= max(pairs, singles) ? 4 : pairs >= singles ? 2 : 1 }
    }

    /// One size of the calibration.
    public struct Measurement: Sendable, Codable, Equatable {
        public var bytes: Int
        public var perReplica: Double
        public var interleaved: Double

        public init(bytes: Int, perReplica: Double, interleaved: Double) {
            self.bytes = bytes
            self.perReplica = perReplica
            self.interleaved = interleaved
        }
    }

    public init(
        replicaMinBytes: Int = 0, replicaBytes: Int, source: String = "given", machine: String? = nil,
        measurements: [Measurement]? = nil, tileBlocks: Int = 4, tileRates: TileRates? = nil
    ) {
        precondition([1, 2, 4].contains(tileBlocks), "tiles of 1, 2 or 4 blocks")
        self.tileBlocks = tileBlocks
        self.tileRates = tileRates
        self.replicaMinBytes = replicaMinBytes
        self.replicaBytes = replicaBytes
        self.source = source
        self.machine = machine
        self.measurements = measurements
    }

    /// The built-in default (no calibration): from 16 KiB on, what the calibration found on the Xeons
    /// (AVX-512, 2 MiB of L2 per core) this was written on.
    public static let standard = CPUTuning(replicaMinBytes: 16 << 10, replicaBytes: Int.max, source: "built-in default")

    /// How the tuning in force is chosen.
    public enum Mode: Sendable, Equatable {
        /// The cached calibration of this machine, calibrating (and caching) when there is none.
        case auto
        /// The built-in default, without calibrating.
        case standard
        /// Calibrate now and cache the result.
        case calibrate
        /// A fixed replicaBytes.
        case replicaBytes(Int)

        /// `auto`, `standard`, `calibrate` or a number of bytes (suffixes K, M: KiB, MiB).
        public init?(argument: String) {
            switch argument.lowercased() {
            case "auto": self = .auto
            case "standard", "default": self = .standard
            case "calibrate": self = .calibrate
            default:
                let s = argument.uppercased()
                let (digits, unit) =
                    s.hasSuffix("M")
                    ? (String(s.dropLast()), 1 << 20) : s.hasSuffix("K") ? (String(s.dropLast()), 1 << 10) : (s, 1)
                guard let v = Int(digits), v >= 0 else { return nil }
                self = .replicaBytes(v * unit)
            }
        }
    }

    /// One line for people: the range stepped one replica at a time and where it comes from.
    public var summary: String {
        func size(_ b: Int) -> String {
            b >= 1 << 20
                ? String(format: "%.1f MiB", Double(b) / 1_048_576)
                : b >= 1 << 10 ? String(format: "%.0f KiB", Double(b) / 1024) : "\(b) B"
        }
        let range: String
        if replicaMinBytes > replicaBytes || replicaBytes == 0 {
            range = "independent data always in blocks of 16 lane-interleaved replicas"
        } else {
            let lo = replicaMinBytes == 0 ? "any size" : "from \(size(replicaMinBytes))"
            let hi = replicaBytes == Int.max ? "without upper limit" : "up to \(size(replicaBytes))"
            range =
                "independent data one replica at a time for data sets (their copies: 2·n·d, or d·d in the Gram form) "
                + "\(lo) \(hi)"
        }
        var text = "CPU tuning: \(range) (\(source))"
        if let ms = measurements, !ms.isEmpty {
            text +=
                "; measured: "
                + ms.map {
                    "\(size($0.bytes)) \(String(format: "%.2f", $0.perReplica / $0.interleaved))×"
                }.joined(separator: ", ")
        }
        let names = [1: "one block (16", 2: "two blocks (32", 4: "four blocks (64"]
        text += "; shared data in tiles of \(names[tileBlocks]!) replicas)"
        if let t = tileRates {
            text += String(
                format: ", measured four : two : one = %.2f : 1 : %.2f", t.quads / t.pairs, t.singles / t.pairs)
        }
        return text
    }

    private static let lock = NSLock()
    nonisolated(unsafe) private static var mode: Mode? = nil
    nonisolated(unsafe) private static var resolved: CPUTuning? = nil

    /// Sets how `current` is chosen (before the first engine needs it; a later call takes effect on the next
    /// batch).
    public static func use(_ m: Mode) {
        lock.lock()
        defer { lock.unlock() }
        mode = m
        resolved = nil
    }

    /// The mode from `use(_:)`, else `DLNSIM_CPU_TUNING`, else auto.
    static var currentMode: Mode {
        if let m = mode { return m }
        if let v = ProcessInfo.processInfo.environment["DLNSIM_CPU_TUNING"], !v.isEmpty {
            if let m = Mode(argument: v) { return m }
            FileHandle.standardError.write(
                Data(
                    "warning: DLNSIM_CPU_TUNING=\(v) is not auto, calibrate, standard or a size such as 2M; using auto\n"
                        .utf8))
        }
        return .auto
    }

    /// The tuning in force (resolved once: a calibration runs at most once per process).
    public static var current: CPUTuning {
        lock.lock()
        defer { lock.unlock() }
        if let r = resolved { return r }
        let r: CPUTuning
        switch currentMode {
        case .standard: r = standard
        case .replicaBytes(let b): r = CPUTuning(replicaBytes: b, source: "set by --cpu-tuning or DLNSIM_CPU_TUNING")
        case .calibrate: r = calibrateAndCache()
        case .auto: r = cached() ?? calibrateAndCache()
        }
        resolved = r
        return r
    }

    /// The revision of the loops a calibration times: raise it when a change to the hot loops (Sources/DLNVector) or
    /// to how the tiles are chosen could change which choice is faster, so that a new binary calibrates again instead
    /// of keeping an older binary's cached choice (the revision is part of `machineKey`, hence of the cache file).
    public static let loopsRevision = 4

    /// The machine a calibration belongs to: the CPU model, the instruction set of the loops, the core count and the
    /// loops' revision.
    public static var machineKey: String {
        let info = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let line = { (key: String) in
            info.split(separator: "\n").first { $0.hasPrefix(key) }.map {
                $0.split(separator: ":", maxSplits: 1).last!.trimmingCharacters(in: .whitespaces)
            }
        }
        let model = line("model name") ?? "unknown CPU"
        return "\(model), \(VectorISA.current), \(System.coreCount) cores, loops r\(loopsRevision)"
    }

    /// `$XDG_CACHE_HOME/dlnsim/cpu-tuning-<hash of machineKey>.json` (`~/.cache/…` without it).
    public static var cacheFile: URL { cacheFile(machine: machineKey) }

    /// The cache file of a machine: one per machine key, so that the nodes of a cluster with different CPUs can
    /// share a home folder without overwriting each other's calibration.
    public static func cacheFile(machine key: String) -> URL {
        let env = ProcessInfo.processInfo.environment
        let base =
            env["XDG_CACHE_HOME"].flatMap { $0.isEmpty ? nil : URL(fileURLWithPath: $0) }
            ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache")
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325  // FNV-1a, 64 bits
        for byte in key.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        let name = "cpu-tuning-" + String(hash, radix: 16) + ".json"
        return base.appendingPathComponent("dlnsim").appendingPathComponent(name)
    }

    /// The cached calibration, if it was made on this machine.
    static func cached() -> CPUTuning? {
        guard let data = try? Data(contentsOf: cacheFile),
            var t = try? JSONDecoder().decode(CPUTuning.self, from: data), t.machine == machineKey
        else { return nil }
        t.source = "calibrated, cached in \(cacheFile.path)"
        return t
    }

    static func calibrateAndCache() -> CPUTuning {
        var t = calibrate()
        let file = cacheFile
        do {
            try FileManager.default.createDirectory(
                at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
            let enc = JSONEncoder()
            enc.outputFormatting = [.prettyPrinted, .sortedKeys]
            try enc.encode(t).write(to: file, options: .atomic)
            t.source += ", cached in \(file.path)"
        } catch {
            t.source += " (not cached: \(file.path) could not be written)"
        }
        return t
    }

    /// Times 16 replicas per thread (up to four threads) of a float32 `pm` model with independent data, stepped
    /// both ways, on data sets of 4 KiB to 4 MiB (n × 2n); `choose` decides from the rates. About three seconds.
    public static func calibrate() -> CPUTuning {
        var measurements: [Measurement] = []
        let blocks = min(System.coreCount, 4)
        for kib in [4, 16, 64, 256, 1024, 2048, 2560, 3072, 4096] {
            let n = max(16, Int(((Double(kib * 1024) / 16).squareRoot() / 16).rounded()) * 16)  // 2·n·2n·4 bytes
            guard let batch = try? calibrationBatch(n: n, d: 2 * n, replicas: 16 * blocks) else { break }
            let bytes = 2 * n * 2 * n * MemoryLayout<Float>.size
            let steps = max(4, Int(2e8 / Double(16 * blocks * 4 * n * 2 * n)))  // about 10–50 ms per timing
            let one = rate(batch, tuning: CPUTuning(replicaBytes: Int.max), steps: steps)
            let block = rate(batch, tuning: CPUTuning(replicaBytes: 0), steps: steps)
            measurements.append(Measurement(bytes: bytes, perReplica: one, interleaved: block))
        }
        let (lo, hi) = choose(measurements)
        let date = ISO8601DateFormatter().string(from: Date()).prefix(10)
        let tiles = tileCalibration()
        return CPUTuning(
            replicaMinBytes: lo, replicaBytes: hi, source: "calibrated \(date)", machine: machineKey,
            measurements: measurements, tileBlocks: tiles?.fastest ?? 4, tileRates: tiles)
    }

    /// Shared data (one data set, d = 512, n = 256, float32 pm: X is 512 KiB), eight blocks per thread, stepped in tiles
    /// of four blocks, of two and alone (best of three each).
    static func tileCalibration() -> TileRates? {
        let blocks = 8 * System.coreCount
        guard let batch = try? calibrationBatch(n: 256, d: 512, replicas: 16 * blocks, shared: true) else { return nil }
        let steps = max(4, Int(1e9 / Double(16 * blocks * 4 * 256 * 512)))
        let quads = rate(batch, tuning: CPUTuning(replicaBytes: 0, tileBlocks: 4), steps: steps)
        let pairs = rate(batch, tuning: CPUTuning(replicaBytes: 0, tileBlocks: 2), steps: steps)
        let singles = rate(batch, tuning: CPUTuning(replicaBytes: 0, tileBlocks: 1), steps: steps)
        return min(quads, pairs, singles) > 0 ? TileRates(quads: quads, pairs: pairs, singles: singles) : nil
    }

    /// (replicaMinBytes, replicaBytes) from measurements in ascending size: from the smallest size where one
    /// replica at a time "wins" (is at least 0.9× as fast as the interleaved blocks: a shared machine times ±10%) to
    /// the largest such size, a loss between them taken for noise; no lower limit when it wins at the smallest size,
    /// no upper limit when it wins at the largest; never (min > max) when it never wins.
    public static func choose(_ m: [Measurement]) -> (Int, Int) {
        let wins = m.map { $0.perReplica >= 0.9 * $0.interleaved }
        guard let first = wins.firstIndex(of: true), let last = wins.lastIndex(of: true) else { return (Int.max, 0) }
        return (first == 0 ? 0 : m[first].bytes, last == m.count - 1 ? Int.max : m[last].bytes)
    }

    /// Replica-steps per second of `steps` steps (best of three, after a warm-up that builds the copies).
    static func rate(_ batch: Batch, tuning: CPUTuning, steps: Int) -> Double {
        guard let engine = try? CPUBatch<Float>(batch, threads: System.coreCount, tuning: tuning) else { return 0 }
        let B = Double(batch.layout.replicas)
        engine.step(count: 4)  // builds the copies (one replica at a time runs from 4 steps per call on)
        var best = Double.infinity
        for _ in 0..<3 {
            let start = DispatchTime.now().uptimeNanoseconds
            engine.step(count: steps)
            best = min(best, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        }
        return B * Double(steps) / best
    }

    /// `replicas` replicas of `pm`, each its own data set of uniform entries (a fixed linear congruential sequence),
    /// or all one such data set (`shared`).
    static func calibrationBatch(n: Int, d: Int, replicas count: Int, shared: Bool = false) throws(DLNError) -> Batch {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next() -> Double {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Double(state >> 11) / Double(1 << 53) - 0.5
        }
        let datasets = (0..<(shared ? 1 : count)).map { _ in
            Dataset(
                x: RealArray((0..<(n * d)).map { _ in next() / Double(d).squareRoot() }, precision: .float32),
                y: RealArray((0..<n).map { _ in next() }, precision: .float32), wStar: nil)
        }
        let replicas = (0..<count).map {
            Replica(gridPoint: 0, seed: $0, dataset: shared ? 0 : $0, alpha: 0.1, lambda: 0, lambdaU: 0, eta: 0.01)
        }
        let layer = RealArray([Double](repeating: 0.1, count: count * d), precision: .float32)
        return try Batch(
            parameterization: .pm, update: .gd, loss: .mean, precision: .float32, dimension: d, samples: n,
            datasets: datasets, replicas: replicas, initialLayers: [layer, layer], gradientForm: .products)
    }
}
