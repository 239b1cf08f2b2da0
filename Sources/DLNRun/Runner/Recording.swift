import DLNModel
import Foundation

/// What a run records besides the observables (opt-in, `record.weights`, `record.layers`, `record.activation`):
/// w (and the layers) at the recorded checkpoints, and per coordinate the first checkpoint time at which
/// |w_i| > τ. The values come from the engine's state at each checkpoint (`Engine.state()`), after the divergence
/// check (a frozen replica's state is the one it was frozen at), so both engines record the same numbers.
/// Replicas are indexed b = grid point · seeds + seed, as in the observables.
public struct Recording: Sendable, Equatable {
    /// The run's checkpoints (indices) whose w weights_t.npy holds: every k-th, the last always included.
    public let checkpoints: [Int]
    /// k of `record.weights` (nil: w is not recorded).
    public let every: Int?
    /// Coordinates per replica and layers recorded (0: none).
    public let d: Int
    public let layerCount: Int
    /// The activation thresholds τ (empty: none).
    public let thresholds: [Double]
    /// Replicas (grid points × seeds).
    public let replicas: Int
    /// `weights[(b·R + r)·d + i]`: w_i of replica b at recorded checkpoint r (NaN until recorded).
    public var weights: [Double]
    /// `layers[((b·R + r)·L + l)·d + i]`.
    public var layers: [Double]
    /// `activation[(b·T + j)·d + i]`: the first time |w_i| > τ_j (NaN while it has not happened).
    public var activation: [Double]

    /// An empty record (every value NaN) of these shapes; with `allocate: false` only the shapes (a plan: the
    /// arrays are empty until `allocated()`).
    public init(
        checkpoints: [Int], every: Int?, d: Int, layerCount: Int, thresholds: [Double], replicas: Int,
        allocate: Bool = true
    ) {
        self.checkpoints = checkpoints
        self.every = every
        self.d = d
        self.layerCount = layerCount
        self.thresholds = thresholds
        self.replicas = replicas
        let R = every == nil || !allocate ? 0 : checkpoints.count
        weights = [Double](repeating: .nan, count: replicas * R * d)
        layers = [Double](repeating: .nan, count: replicas * R * layerCount * d)
        activation = [Double](repeating: .nan, count: allocate ? replicas * thresholds.count * d : 0)
    }

    /// The record of this plan's shapes with its arrays allocated (every value NaN).
    public func allocated() -> Recording {
        Recording(
            checkpoints: checkpoints, every: every, d: d, layerCount: layerCount, thresholds: thresholds,
            replicas: replicas)
    }

    /// The recorded checkpoints of a run of `C` checkpoints: 0, k, 2k, …, and the last.
    public static func recordedCheckpoints(_ C: Int, every k: Int) -> [Int] {
        guard C > 0 else { return [] }
        var out = Array(stride(from: 0, to: C, by: k))
        if out.last != C - 1 { out.append(C - 1) }
        return out
    }

    /// The files and their shapes [grid point, seed, …].
    public func files(gridPoints G: Int, seeds S: Int) -> [(name: String, shape: [Int], values: [Double])] {
        var out: [(String, [Int], [Double])] = []
        if every != nil { out.append(("weights_t.npy", [G, S, checkpoints.count, d], weights)) }
        if layerCount > 0 { out.append(("layers_t.npy", [G, S, checkpoints.count, layerCount, d], layers)) }
        if !thresholds.isEmpty { out.append(("activation_time.npy", [G, S, thresholds.count, d], activation)) }
        return out
    }

    /// Bytes of the files (8 per value; headers left out).
    public var bytes: Double {
        let rows = (every == nil ? 0 : checkpoints.count * (1 + layerCount)) + thresholds.count
        return Double(replicas) * Double(d) * Double(rows) * 8
    }

    /// What a run's grid gives the record: grid points, seeds, checkpoints, and each grid point's d and stored
    /// layer vectors.
    struct Grid {
        let G: Int, S: Int, C: Int
        let ds: [Int], layerCounts: [Int]

        init(_ e: Experiment) {
            (G, S, C) = (e.gridPoints.count, e.seeds.count, e.checkpointCount)
            ds = e.gridPoints.map(\.d)
            layerCounts = e.groups.flatMap { g in g.points.map { _ in g.batch.layout.layers } }
        }

        /// From the configuration alone (no data made): the first batch's checkpoint schedule (every batch has as
        /// many checkpoints). nil with user data, whose files fix d.
        init?(_ c: Configuration) {
            guard c.problem.files == nil else { return nil }
            let points = Experiment.gridPoints(c)
            guard let key = Experiment.batches(c, points: points).order.first else { return nil }
            let count = c.record.checkpoints
            if key.update == .flow, let horizon = c.training.horizon {
                let first = min(c.record.start ?? c.grid.learningRate.max()!, horizon)
                C = Experiment.timeSchedule(horizon: horizon, first: first, count: count, linear: c.record.linear).count
            } else if let horizon = c.training.horizon {
                let etaMax = c.grid.learningRate.max()!
                let first = min(max(etaMax, c.record.start ?? etaMax), horizon)
                let times = Experiment.timeSchedule(
                    horizon: horizon, first: first, count: count, linear: c.record.linear)
                C =
                    Experiment.distinctSteps(
                        times: times, eta: key.eta!, etaMax: etaMax, schedule: c.learningRateSchedule
                    ).count
            } else {
                C =
                    Experiment.schedule(
                        steps: c.training.steps, count: count, explicit: c.record.steps,
                        start: Int((c.record.start ?? 1).rounded()), linear: c.record.linear
                    ).count
            }
            (G, S) = (points.count, c.seeds)
            ds = points.map(\.d)
            layerCounts = points.map { $0.parameterization.family.layerCount(depth: $0.depth) }
        }
    }

    /// The files' names and shapes [grid point, seed, …], and their bytes (8 per value; headers left out), before
    /// anything is allocated.
    static func layout(_ r: Configuration.Record, _ grid: Grid, d: Int, layers L: Int) -> (
        files: [(name: String, shape: [Int])], bytes: Double
    ) {
        let R = r.weightsEvery.map { recordedCheckpoints(grid.C, every: $0).count } ?? 0
        var files: [(String, [Int])] = []
        if r.weightsEvery != nil { files.append(("weights_t.npy", [grid.G, grid.S, R, d])) }
        if r.weightsEvery != nil && r.layers { files.append(("layers_t.npy", [grid.G, grid.S, R, L, d])) }
        if let a = r.activation { files.append(("activation_time.npy", [grid.G, grid.S, a.count, d])) }
        let bytes = files.reduce(0.0) { $0 + $1.1.reduce(8.0) { $0 * Double($1) } }
        return (files, bytes)
    }

    /// The record a run asks for (nil: none) as a plan (shapes only: `allocated()` makes the arrays), refused
    /// (naming the key in `file`) when the grid points differ in d (or, with record.layers, in depth), or when the
    /// arrays would exceed `record.max_bytes`.
    public static func plan(_ e: Experiment, file: String) throws(DLNError) -> Recording? {
        let r = e.configuration.record
        guard let (d, L) = try check(r, Grid(e), file: file) else { return nil }
        let C = e.checkpointCount
        return Recording(
            checkpoints: r.weightsEvery.map { recordedCheckpoints(C, every: $0) } ?? [],
            every: r.weightsEvery, d: d, layerCount: r.layers ? L : 0, thresholds: r.activation ?? [],
            replicas: e.replicaCount, allocate: false)
    }

    /// `dlnsim run --check`: the size of the record a configuration asks for, in words (nil: none), or its refusal.
    /// User data are read (their files fix d); otherwise nothing is made.
    public static func sizeLine(_ c: Configuration, file: String) throws(DLNError) -> String? {
        guard c.record.weightsEvery != nil || c.record.activation != nil else { return nil }
        let grid: Grid
        if let g = Grid(c) { grid = g } else { grid = Grid(try Experiment(c)) }
        guard let (d, L) = try check(c.record, grid, file: file) else { return nil }
        return sizeText(layout(c.record, grid, d: d, layers: L))
    }

    /// d and the layer count, or the refusal; nil when nothing is recorded.
    static func check(_ r: Configuration.Record, _ grid: Grid, file: String) throws(DLNError) -> (Int, Int)? {
        guard r.weightsEvery != nil || r.activation != nil else { return nil }
        let key = r.weightsEvery != nil ? "record.weights" : "record.activation"
        func refuse(_ why: String) -> DLNError { .invalidConfiguration(file: file, issues: [ConfigIssue(key, why)]) }
        let ds = Set(grid.ds)
        let depths = Set(grid.layerCounts)
        guard ds.count == 1, let d = ds.first else {
            throw refuse("needs one d at every grid point (this grid has d = \(ds.sorted())): run each d separately")
        }
        if r.layers && depths.count != 1 {
            throw refuse(
                "record.layers needs one depth at every grid point (this grid has \(depths.sorted()) layer vectors): "
                    + "run each depth separately")
        }
        let L = depths.first ?? 0
        let plan = layout(r, grid, d: d, layers: L)
        if plan.bytes > r.maxBytes {
            throw refuse(
                "the recorded arrays would take \(sizeText(plan)), above record.max_bytes = \(Int(r.maxBytes)) "
                    + "bytes (\(size(r.maxBytes))): record every k-th checkpoint (record.weights: {every: k}), fewer "
                    + "checkpoints (record.checkpoints), seeds or grid points\(r.layers ? ", drop record.layers" : ""), "
                    + "or raise record.max_bytes")
        }
        return (d, L)
    }

    /// The size, in words: the total and each file's shape.
    static func sizeText(_ plan: (files: [(name: String, shape: [Int])], bytes: Double)) -> String {
        let parts = plan.files.map { f in "\(f.name) \(f.shape.map(String.init).joined(separator: " × ")) × 8 bytes" }
        return "\(size(plan.bytes)) (\(Int(plan.bytes)) bytes: \(parts.joined(separator: "; ")))"
    }

    /// A size in KiB, MiB, GiB or TiB, to three digits.
    public static func size(_ bytes: Double) -> String {
        let units = ["bytes", "KiB", "MiB", "GiB", "TiB"]
        var (value, unit) = (bytes, 0)
        while value >= 1024 && unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        return unit == 0 ? "\(Int(bytes)) bytes" : String(format: "%.3g", value) + " " + units[unit]
    }

    /// Records the engine's state of a slice at checkpoint c: `global[k]` is the replica of the state's k-th
    /// replica, `time[k]` its time at this checkpoint.
    public mutating func record(_ state: EngineState, checkpoint c: Int, global: ArraySlice<Int>, time: [Double]) {
        let w = state.weights.doubles
        let R = checkpoints.count
        let slot = every == nil ? nil : checkpoints.firstIndex(of: c)
        let layerValues = slot != nil && layerCount > 0 ? state.layers.map(\.doubles) : []
        for (k, b) in global.enumerated() {
            let row = (k * d)..<((k + 1) * d)
            if let r = slot {
                weights.replaceSubrange(((b * R + r) * d)..<((b * R + r + 1) * d), with: w[row])
                for l in layerValues.indices {
                    let at = ((b * R + r) * layerCount + l) * d
                    layers.replaceSubrange(at..<(at + d), with: layerValues[l][row])
                }
            }
            for (j, tau) in thresholds.enumerated() {
                let base = (b * thresholds.count + j) * d
                for i in 0..<d where activation[base + i].isNaN && abs(w[k * d + i]) > tau {
                    activation[base + i] = time[k]
                }
            }
        }
    }
}
