import DLNModel
import DLNTheory
import Foundation

/// Writes a run's output folder: arrays NumPy loads directly, a grid table and a manifest.
public enum RunOutput {
    /// Values of one observable as [grid point, seed, checkpoint], flattened.
    public static func array(_ result: RunResult, observable k: Int, gridPoints G: Int, seeds S: Int) -> [Double] {
        let C = result.checkpoints.count
        var out = [Double](repeating: 0, count: G * S * C)
        for g in 0..<G {
            for s in 0..<S {
                for c in 0..<C { out[(g * S + s) * C + c] = result.observations[c].values[k][g * S + s] }
            }
        }
        return out
    }

    /// weights.npy [grid point, seed, d] and layers.npy [grid point, seed, layer, d] when every grid point has
    /// the same d and depth; otherwise one weights_<point>.npy [seed, d] and layers_<point>.npy per grid point.
    @discardableResult
    static func writeWeights(_ states: [EngineState], experiment: Experiment, path: (String) -> String) throws(DLNError)
        -> [String]
    {
        let S = experiment.seeds.count
        let G = experiment.gridPoints.count
        var perPoint: [(w: [Double], layers: [[Double]], d: Int)?] = Array(repeating: nil, count: G)
        for (group, state) in zip(experiment.groups, states) {
            let d = group.batch.layout.dimension
            let w = state.weights.doubles
            let ls = state.layers.map(\.doubles)
            for (local, g) in group.points.enumerated() {
                let range = (local * S * d)..<((local + 1) * S * d)
                perPoint[g] = (Array(w[range]), ls.map { Array($0[range]) }, d)
            }
        }
        let all = perPoint.compactMap { $0 }
        let uniform = Set(all.map(\.d)).count == 1 && Set(all.map(\.layers.count)).count == 1
        if uniform, let first = all.first {
            let d = first.d
            let L = first.layers.count
            try NPY.write(all.flatMap(\.w), shape: [G, S, d], dtype: .float64, to: path("weights.npy"))
            var layers: [Double] = []
            for p in all { for s in 0..<S { for l in 0..<L { layers += p.layers[l][(s * d)..<((s + 1) * d)] } } }
            try NPY.write(layers, shape: [G, S, L, d], dtype: .float64, to: path("layers.npy"))
            return ["weights.npy", "layers.npy"]
        } else {
            for (g, p) in all.enumerated() {
                try NPY.write(p.w, shape: [S, p.d], dtype: .float64, to: path("weights_\(g).npy"))
                var layers: [Double] = []
                for s in 0..<S { for l in 0..<p.layers.count { layers += p.layers[l][(s * p.d)..<((s + 1) * p.d)] } }
                try NPY.write(layers, shape: [S, p.layers.count, p.d], dtype: .float64, to: path("layers_\(g).npy"))
            }
            return all.indices.flatMap { ["weights_\($0).npy", "layers_\($0).npy"] }
        }
    }

    /// Makes a folder and its parents (mkdir -p), with the system's reason on failure.
    static func makeFolder(_ directory: String) throws(DLNError) {
        // Foundation's messages do not say why.
        var path = ""
        for part in directory.split(separator: "/", omittingEmptySubsequences: false) {
            path += (path.isEmpty && part.isEmpty) ? "/" : (path.isEmpty || path == "/" ? "" : "/") + part
            if part.isEmpty { continue }
            if mkdir(path, 0o755) != 0 && errno != EEXIST {
                throw .outputFailure(
                    path: directory, reason: "cannot create \(path): \(String(cString: strerror(errno)))")
            }
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw .outputFailure(path: directory, reason: "exists and is not a folder")
        }
    }

    /// Checks that a new file can be made in a folder: a file of a name no other process uses, created with
    /// O_EXCL | O_NOFOLLOW (never through a link), then removed.
    static func checkWritable(_ directory: String) throws(DLNError) {
        let probe = directory + "/" + OutputDirectory.writeTestName + "-\(getpid())"
        unlink(probe)
        let fd = open(probe, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw .outputFailure(
                path: directory, reason: "the output folder is not writable: \(String(cString: strerror(errno)))")
        }
        close(fd)
        unlink(probe)
    }

    /// Creates a folder and checks that a file can be written there, before any work is done.
    public static func prepare(_ directory: String) throws(DLNError) {
        try makeFolder(directory)
        try checkWritable(directory)
    }

    /// Writes one `<observable>.npy` [grid point, seed, checkpoint] per observable, `steps.npy` [checkpoint],
    /// `times.npy`
    /// [grid point, checkpoint] (t = step·η), `grid.csv` and `manifest.json` into `directory`.
    public static func write(
        _ result: RunResult, experiment: Experiment, to directory: String,
        state: EngineState? = nil, started: Date? = nil, live: [String: Any]? = nil
    ) throws(DLNError) {
        let c = experiment.configuration
        try makeFolder(directory)
        func path(_ name: String) -> String { URL(fileURLWithPath: directory).appendingPathComponent(name).path }
        let points = experiment.gridPoints
        let G = points.count
        let S = c.seeds
        let C = result.checkpoints.count
        // The files written, hashed into manifest.json (dlnsim merge checks every shard file it reads).
        var written: [String] = []
        for (k, name) in result.names.enumerated() {
            try NPY.write(
                array(result, observable: k, gridPoints: G, seeds: S), shape: [G, S, C], dtype: .float64,
                to: path("\(name).npy"))
            written.append("\(name).npy")
        }
        try NPY.write(result.steps.flatMap { $0.map(Double.init) }, shape: [G, C], dtype: .int64, to: path("steps.npy"))
        try NPY.write(experiment.times.flatMap { $0 }, shape: [G, C], dtype: .float64, to: path("times.npy"))
        written += ["steps.npy", "times.npy"]
        var flowInfo: [String: Any] = [:]
        if experiment.hasFlow && !result.evaluations.isEmpty {
            func perReplica(_ v: [[Double]]) -> [Double] {
                var out = [Double](repeating: 0, count: G * S * C)
                for b in 0..<(G * S) { for k in 0..<C { out[b * C + k] = v[k][b] } }
                return out
            }
            try NPY.write(perReplica(result.evaluations), shape: [G, S, C], dtype: .int64, to: path("evaluations.npy"))
            try NPY.write(perReplica(result.rejected), shape: [G, S, C], dtype: .int64, to: path("rejected.npy"))
            written += ["evaluations.npy", "rejected.npy"]
            let f = c.training.flow
            flowInfo = [
                "method": "Dormand–Prince 5(4), PI step control, one step size per replica",
                "rtol": f.rtol, "atol": f.atol, "gradient_evaluations": result.totalEvaluations,
                "rejected_steps": result.rejected.last?.reduce(0, +) ?? 0
            ]
        }
        let status = result.status.isEmpty ? [Int](repeating: ReplicaStatus.ran.code, count: G * S) : result.status
        try NPY.write(status.map(Double.init), shape: [G, S], dtype: .int32, to: path("status.npy"))
        written.append("status.npy")
        let frozen: [[String: Any]] = status.enumerated().compactMap { b, st in
            !ReplicaStatus.isFrozen(code: st)
                ? nil
                : [
                    "grid_point": b / S, "seed": experiment.seeds[b % S],
                    "time": result.frozenAt.isEmpty ? Double.nan : result.frozenAt[b],
                    "status": st, "reason": ReplicaStatus.reason(st)
                ]
        }
        let columns = experiment.gridColumns
        var csv = "point," + columns.map(\.name).joined(separator: ",") + "\n"
        for (g, p) in points.enumerated() { csv += "\(g)," + columns.map { $0.value(p) }.joined(separator: ",") + "\n" }
        try OutputFile.write(text: csv, to: path("grid.csv"))
        try OutputFile.write(text: c.resolvedYAML, to: path("config.yaml"))
        if let states = result.finalStates { written += try writeWeights(states, experiment: experiment, path: path) }
        for f in result.recording?.files(gridPoints: G, seeds: S) ?? [] {
            try NPY.write(f.values, shape: f.shape, dtype: .float64, to: path(f.name))
            written.append(f.name)
        }
        let stats = RunStatistics(result, gridPoints: G, seeds: S)
        try OutputFile.write(
            text: stats.csv(experiment: experiment, checkpoints: result.checkpoints, steps: result.steps),
            to: path("stats.csv"))
        written += ["grid.csv", "stats.csv"]
        var hashes: [String: String] = [:]
        for name in written { hashes[name] = try FileHash.of(path(name)) }
        let b = experiment.batch
        var manifest: [String: Any] = [
            "dlnsim_version": DLNSim.version,
            "command_line": ProcessInfo.processInfo.arguments,
            "host": ProcessInfo.processInfo.hostName,
            "started": isoTime(started ?? Date(timeIntervalSinceNow: -result.seconds)),
            "finished": isoTime(Date()),
            "git_commit": DLNSim.gitCommit ?? "unknown",
            "name": c.name,
            "engine": result.engine,
            "precision": b.precision.rawValue,
            "summation": experiment.summationOrders.map(\.rawValue),
            "replicas": experiment.replicaCount,
            "batches": experiment.groups.count,
            "grid_points": G,
            "seeds": S,
            "d": experiment.gridPoints.map(\.d),
            "n": experiment.gridPoints.map(\.n),
            "steps": stepsRun(experiment),
            "horizon": c.training.horizon ?? NSNull(),
            "wall_seconds": result.seconds,
            "rollback_snapshots": ["count": result.rollbackSnapshots, "seconds": result.rollbackSeconds],
            "replica_steps_per_second": result.replicaStepsPerSecond,
            "observables": result.names,
            "arrays": [
                "<observable>.npy": "[grid point, seed, checkpoint]",
                "steps.npy": "step of each checkpoint [grid point, checkpoint]",
                "times.npy": "gradient-flow time t = step·η [grid point, checkpoint]",
                "evaluations.npy":
                    "update flow: gradient evaluations so far [grid point, seed, checkpoint] (steps for fixed-step "
                    + "points)",
                "rejected.npy": "update flow: rejected steps so far [grid point, seed, checkpoint]",
                "status.npy": ReplicaStatus.description,
                "stats.csv": "ensemble statistics over seeds, one row per grid point × observable × checkpoint",
                "grid.csv": "one row per grid point",
                "weights_t.npy":
                    "record.weights: w at the recorded checkpoints (recording.checkpoints) [grid point, seed, "
                    + "recorded checkpoint, d]",
                "layers_t.npy": "record.layers: the layers there [grid point, seed, recorded checkpoint, layer, d]",
                "activation_time.npy":
                    "record.activation: the first checkpoint time t at which |w_i| > τ (NaN: never) [grid point, seed, "
                    + "threshold, d]"
            ],
            "recording": result.recording.map { r -> Any in
                [
                    "checkpoints": r.checkpoints, "every": r.every ?? NSNull(), "layers": r.layerCount > 0,
                    "thresholds": r.thresholds
                ] as [String: Any]
            } ?? NSNull(),
            "conventions": [
                "loss": c.training.loss == .mean ? "(1/2n)|Xw - y|^2" : "(1/2)|Xw - y|^2",
                "weight_decay":
                    "penalty \(c.training.decayFactor)·λ·Σ_l |u_l|^2, so u' ∋ -λ_u·u with λ_u = "
                    + "\(2 * c.training.decayFactor)·λ",
                "parameterization": c.model.parameterization.rawValue,
                "update": c.training.update.rawValue
            ],
            "flow": flowInfo,
            "frozen_replicas": frozen.map {
                $0.mapValues { v -> Any in (v as? Double).map { $0.isFinite ? $0 as Any : "nan" as Any } ?? v }
            },
            "warnings": c.warnings + experiment.precisionWarnings,
            "run_id": UUID().uuidString,
            "files": hashes,
            "shard": result.shard.map { ["index": $0.index, "count": $0.count] as [String: Any] } ?? NSNull(),
            "schema_version": Configuration.manifestSchemaVersion,
            "configuration": c.manifestValue
        ]
        if let live {
            manifest["live"] = live
            manifest["finished"] = NSNull()
        }
        do {
            let data = try JSONSerialization.data(withJSONObject: manifest, options: [.prettyPrinted, .sortedKeys])
            try OutputFile.write(data, to: path("manifest.json"))
        } catch let e as DLNError { throw e } catch {
            throw .outputFailure(path: path("manifest.json"), reason: "\(error)")
        }
    }

    /// The steps each grid point ran: `training.steps`, or with a horizon round(t/η) per grid point (one number when
    /// they agree; null for update flow, whose step counts are in evaluations.npy, and null when every point flows).
    static func stepsRun(_ experiment: Experiment) -> Any {
        let c = experiment.configuration
        guard c.training.horizon != nil else { return c.training.steps }
        let perPoint: [Any] = experiment.gridPoints.indices.map { g in
            experiment.gridPoints[g].update == .flow ? NSNull() : (experiment.steps[g].last ?? 0) as Any
        }
        let numbers = perPoint.compactMap { $0 as? Int }
        if numbers.isEmpty { return NSNull() }
        if numbers.count == perPoint.count, Set(numbers).count == 1 { return numbers[0] }
        return perPoint
    }
}

/// A time in ISO 8601, UTC, to the second (2026-12-02T11:25:42Z).
func isoTime(_ date: Date) -> String {
    let f = ISO8601DateFormatter()
    f.timeZone = TimeZone(identifier: "UTC")
    return f.string(from: date)
}
