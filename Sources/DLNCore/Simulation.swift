import Foundation

/// The package's version, written into every manifest.
public enum DLNSim {
    public static let version = "0.1.0"
}

/// What a run produced: every observable of every replica at every checkpoint.
public struct RunResult: Sendable {
    /// Steps at which observables were recorded.
    public let checkpoints: [Int]
    /// `observations[c]`: the observables at checkpoint c.
    public let observations: [Observation]
    /// `trainLoss[c][b]`: loss of replica b at checkpoint c.
    public var trainLoss: [[Double]] { observations.map(\.trainLoss) }
    /// The observables' names.
    public var names: [String] { observations.first?.names ?? [] }
    /// Seconds spent stepping and observing (data generation and kernel builds excluded).
    public let seconds: Double
    /// Replicas × steps performed.
    public let replicaSteps: Double
    /// Where it ran.
    public let engine: String

    /// Throughput in replica-steps per second.
    public var replicaStepsPerSecond: Double { seconds > 0 ? replicaSteps / seconds : 0 }
}

/// The data path: initialise an engine with the batch, step to each checkpoint, observe.
public enum Simulation {
    /// Runs an experiment on an engine. `progress(done, total)` is called after each checkpoint, in steps.
    public static func run(_ experiment: Experiment, on engine: any Engine,
                           progress: (Int, Int) -> Void = { _, _ in }) throws(DLNError) -> RunResult {
        try engine.initialize(experiment.batch)
        let start = DispatchTime.now().uptimeNanoseconds
        var observations: [Observation] = []
        var current = 0
        let total = experiment.checkpoints.last ?? 0
        for c in experiment.checkpoints {
            // Long gaps are cut into chunks so that progress keeps moving.
            while current < c {
                let chunk = min(c - current, max(1, total / 200))
                try engine.step(count: chunk)
                current += chunk
                if current < c { progress(current, total) }
            }
            observations.append(try engine.observe())
            progress(current, total)
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        return RunResult(checkpoints: experiment.checkpoints, observations: observations, seconds: seconds,
                         replicaSteps: Double(total) * Double(experiment.batch.layout.replicas),
                         engine: engine.deviceDescription)
    }
}

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

    /// Creates the output folder and checks that a file can be written there, before any work is done.
    public static func prepare(_ directory: String) throws(DLNError) {
        // mkdir -p with the system's reason on failure (Foundation's messages do not say why).
        var path = ""
        for part in directory.split(separator: "/", omittingEmptySubsequences: false) {
            path += (path.isEmpty && part.isEmpty) ? "/" : (path.isEmpty || path == "/" ? "" : "/") + part
            if part.isEmpty { continue }
            if mkdir(path, 0o755) != 0 && errno != EEXIST {
                throw .outputFailure(path: directory, reason: "cannot create \(path): \(String(cString: strerror(errno)))")
            }
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw .outputFailure(path: directory, reason: "exists and is not a folder")
        }
        let probe = URL(fileURLWithPath: directory).appendingPathComponent(".dlnsim-write-test").path
        let fd = open(probe, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else {
            throw .outputFailure(path: directory, reason: "the output folder is not writable: \(String(cString: strerror(errno)))")
        }
        close(fd)
        unlink(probe)
    }

    /// Writes one `<observable>.npy` [grid point, seed, checkpoint] per observable, `steps.npy` [checkpoint], `times.npy`
    /// [grid point, checkpoint] (t = step·η), `grid.csv` and `manifest.json` into `directory`.
    public static func write(_ result: RunResult, experiment: Experiment, to directory: String,
                             state: EngineState? = nil) throws(DLNError) {
        let c = experiment.configuration
        try prepare(directory)
        func path(_ name: String) -> String { URL(fileURLWithPath: directory).appendingPathComponent(name).path }
        let points = experiment.gridPoints
        let G = points.count, S = c.seeds, C = result.checkpoints.count
        for (k, name) in result.names.enumerated() {
            try NPY.write(array(result, observable: k, gridPoints: G, seeds: S), shape: [G, S, C], dtype: .float64, to: path("\(name).npy"))
        }
        try NPY.write(result.checkpoints.map(Double.init), shape: [C], dtype: .int64, to: path("steps.npy"))
        var times: [Double] = []
        for p in points { times += result.checkpoints.map { Double($0) * p.learningRate } }
        try NPY.write(times, shape: [G, C], dtype: .float64, to: path("times.npy"))
        var csv = "point,alpha,weight_decay,learning_rate,lambda_u\n"
        for (g, p) in points.enumerated() {
            csv += "\(g),\(p.alpha),\(p.weightDecay),\(p.learningRate),\(2 * c.training.decayFactor * p.weightDecay)\n"
        }
        try OutputFile.write(text: csv, to: path("grid.csv"))
        let b = experiment.batch
        let manifest: [String: Any] = [
            "dlnsim_version": DLNSim.version,
            "name": c.name,
            "engine": result.engine,
            "precision": b.precision.rawValue,
            "replicas": b.layout.replicas,
            "grid_points": G,
            "seeds": S,
            "d": b.layout.dimension,
            "n": b.layout.samples,
            "steps": c.training.steps,
            "wall_seconds": result.seconds,
            "replica_steps_per_second": result.replicaStepsPerSecond,
            "observables": result.names,
            "arrays": ["<observable>.npy": "[grid point, seed, checkpoint]", "steps.npy": "step of each checkpoint",
                       "times.npy": "gradient-flow time t = step·η [grid point, checkpoint]"],
            "conventions": [
                "loss": c.training.loss == .mean ? "(1/2n)|Xw - y|^2" : "(1/2)|Xw - y|^2",
                "weight_decay": "penalty \(c.training.decayFactor)·λ·Σ_l |u_l|^2, so u' ∋ -λ_u·u with λ_u = \(2 * c.training.decayFactor)·λ",
                "parameterization": c.model.parameterization.rawValue,
                "update": c.training.update.rawValue,
            ],
            "configuration": (try? JSONSerialization.jsonObject(with: JSONEncoder().encode(c))) ?? [:],
        ]
        do {
            let data = try JSONSerialization.data(withJSONObject: manifest, options: [.prettyPrinted, .sortedKeys])
            try OutputFile.write(data, to: path("manifest.json"))
        } catch let e as DLNError { throw e } catch {
            throw .outputFailure(path: path("manifest.json"), reason: "\(error)")
        }
    }
}
