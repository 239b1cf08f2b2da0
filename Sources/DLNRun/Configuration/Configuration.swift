import DLNModel
import DLNTheory
import Foundation
import Yams

/// A fully validated experiment description, read from a YAML file. Its keys (YAML key paths, checks, grid.csv
/// columns, manifest spelling) are listed once, in `ConfigurationKeys.all` (ConfigurationKeys.swift); the defaults
/// are the initial values below.
public struct Configuration: Sendable, Equatable {
    /// The problem's data.
    public struct Problem: Sendable, Equatable {
        /// The defaults.
        public init() {}
        /// Dimension d (synthetic data).
        public var d: Int = 100
        /// Samples n = round(δ·d) (synthetic data).
        public var n: Int = 50
        /// δ = n/d as given (nil when `n` was given directly or data come from files).
        public var delta: Double? = 0.5
        public var designVariance: DesignVariance = .one
        /// Teacher density ρ.
        public var teacherDensity: Double = 0.1
        public var teacherValues: TeacherValues = .ones
        public var teacherSupport: TeacherSupport = .bernoulli
        /// Label noise σ.
        public var noise: Double = 0
        public var sharing: DataSharing = .independent
        /// Seed of the (first) data set.
        public var dataSeed: Int = 0
        /// User data (paths resolved against the configuration's folder); nil for synthetic data.
        public var files: DataFiles?
    }

    /// User-supplied `.npy` files.
    public struct DataFiles: Sendable, Equatable {
        public var x: String
        public var y: String
        public var wStar: String?
        public var u0: String?
        public var v0: String?
        /// A held-out test set for the test error.
        public var xTest: String?
        public var yTest: String?
    }

    /// The network.
    public struct Model: Sendable, Equatable {
        /// The defaults.
        public init() {}
        public var parameterization: Parameterization = .pm
        /// Number of layers (2 for pm and uv).
        public var depth: Int = 2
        /// `uv`: u(0) = α(1 + uNoise·ξ).
        public var uNoise: Double = 0
        /// `uv`: v(0) = α·vNoise·ξ′ (0 gives v(0) = 0).
        public var vNoise: Double = 0
        /// `deep`: u_l(0) = α·layerScales[l] (all 1 by default).
        public var layerScales: [Double]? = nil
        /// `deep`, `deep_pm`: constant or Gaussian entries; positive or random signs.
        public var initEntries: InitEntries = .constant
        public var initSigns: InitSigns = .positive
        /// An earlier run's output folder (with layers.npy): each replica starts from its replica's final layers.
        public var initFrom: String? = nil
    }

    /// The optimiser.
    public struct Training: Sendable, Equatable {
        /// The defaults.
        public init() {}
        public var update: UpdateRule = .gd
        public var loss: LossNormalization = .mean
        /// Number of steps (when no horizon is given).
        public var steps: Int = 1000
        /// Horizon in gradient-flow time t = steps·η; each learning rate then runs round(t/η) steps.
        public var horizon: Double? = nil
        /// The penalty is factor·λ·Σ_l‖u_l‖², so u̇ ∋ −λ_u·u with λ_u = 2·factor·λ (default ½: λ_u = λ).
        public var decayFactor: Double = 0.5
        public var precision: Precision = .float32
        /// The state's representation; nil: log for update flow with pm/uv, the layers otherwise.
        public var representation: Representation? = nil
        /// The order each step sums its residuals in (docs/model.md, "Summation orders"): auto, ascending, strided.
        public var summation: SummationChoice = .auto
        /// The adaptive integrator's settings (update flow).
        public var flow = FlowSettings()
        /// A replica whose train loss exceeds this × max(its initial loss, 1), or is not finite, is frozen at its
        /// last state below the bound and flagged (status 5, resp. 4); the others run on.
        public var maxLossRatio: Double = 1e10
        /// `update: sgd`: rows per step b (1 ≤ b ≤ n; required with sgd unless grid.batch_size lists it).
        public var batchSize: Int? = nil
        /// `update: sgd`: how each step's rows are drawn.
        public var sampling: Sampling = .withReplacement
        /// Label noise σ_ℓ (gd, sgd): each step sees y_i + σ_ℓ·ξ_i with fresh ξ.
        public var labelNoise: Double = 0
        /// Langevin temperature T (gd, sgd): each layer update adds √(2ηT)·ξ.
        public var gradientNoise: Double = 0
        /// Heavy-ball momentum β ∈ [0, 1) (gd, sgd).
        public var momentum: Double = 0
        /// Momentum in Nesterov's look-ahead form.
        public var nesterov: Switch = .off
        /// The learning-rate schedule (gd, sgd): step k uses η·s_k (docs/model.md, "Learning-rate schedules").
        public var schedule = Schedule()
    }

    /// `training.schedule`: a name and the parameters of that schedule (nil: not given).
    public struct Schedule: Sendable, Equatable {
        /// The defaults (constant).
        public init() {}
        public var name: ScheduleName = .constant
        /// inverse_time: s_k = (1 + k/τ)^(−p); exponential: γ = e^{−1/τ}.
        public var tau: Double? = nil
        /// inverse_time: the power p ∈ (0, 1].
        public var power: Double = 1
        /// exponential: s_k = γ^k; step: the factor per drop.
        public var gamma: Double? = nil
        /// cosine: the steps K of the half period (nil: training.steps).
        public var steps: Int? = nil
        /// cosine: the floor f of s_k.
        public var floor: Double = 0
        /// step: a drop every m steps.
        public var every: Int? = nil
        /// step: drops at these steps.
        public var at: [Int]? = nil
    }

    /// `training.summation`: the summation order of the steps' residuals, or `auto`.
    public enum SummationChoice: String, Sendable, Equatable, CaseIterable {
        /// Strided where it applies and the data are independent per replica (`Batch.automaticSummation`).
        case auto
        case ascending
        case strided

        /// The order of a batch: the one asked for, or the batch's automatic one.
        public func order(for batch: Batch) -> SummationOrder {
            switch self {
            case .auto: batch.automaticSummation
            case .ascending: .ascending
            case .strided: .strided
            }
        }
    }

    /// An on/off key (`true` or `false`).
    public enum Switch: String, Sendable, Equatable, CaseIterable {
        case off = "false"
        case on = "true"
    }

    /// The grid: every combination of the listed values is a grid point. α, λ and η vary inside one batch;
    /// the other axes (nil: the single value of problem/model/training) change the data or the model's shape,
    /// and each of their combinations runs as its own batch.
    public struct Grid: Sendable, Equatable {
        /// The defaults.
        public init() {}
        public var alpha: [Double] = [0.1]
        public var weightDecay: [Double] = [0]
        public var learningRate: [Double] = [0.05]
        public var d: [Int]? = nil
        public var delta: [Double]? = nil
        public var noise: [Double]? = nil
        public var density: [Double]? = nil
        public var depth: [Int]? = nil
        public var parameterization: [Parameterization]? = nil
        public var update: [UpdateRule]? = nil
        public var batchSize: [Int]? = nil
        public var labelNoise: [Double]? = nil
        public var gradientNoise: [Double]? = nil
        public var momentum: [Double]? = nil
        /// Axes paired element by element (`grid.zip`): each list names axes of equal length that vary together.
        public var zip: [[String]]? = nil
    }

    /// When the observables are recorded.
    public struct Record: Sendable, Equatable {
        /// The defaults.
        public init() {}
        /// Number of log-spaced checkpoints between step 1 and the last step (step 0 is always recorded).
        public var checkpoints: Int = 30
        /// Explicit steps, used instead of log spacing when given.
        public var steps: [Int]? = nil
        /// Where log spacing starts: a step (with `training.steps`) or a time (with `training.horizon`).
        public var start: Double? = nil
        /// Extra evenly spaced checkpoints.
        public var linear: Int = 0
        /// Thresholds τ of the support observables #{|w_i| > τ}.
        public var thresholds: [Double] = [0.01, 0.1]
        /// `record.weights`: w at every k-th checkpoint (the last always included) into weights_t.npy; nil: off.
        public var weightsEvery: Int? = nil
        /// `record.layers`: also the layers at those checkpoints (layers_t.npy).
        public var layers: Bool = false
        /// `record.activation`: thresholds τ of the activation times (activation_time.npy); nil: off.
        public var activation: [Double]? = nil
        /// `record.max_bytes`: the largest size of the recorded arrays a run accepts.
        public var maxBytes: Double = 2_147_483_648
        /// `record.sharpness`: Lanczos steps of the sharpness observable; nil: off.
        public var sharpness: Int? = nil
        /// `record.pl_constant`: the most Lanczos steps of the pl_constant observable; nil: off.
        public var plConstant: Int? = nil
    }

    public var name: String = "run"
    public var problem = Problem()
    public var model = Model()
    public var training = Training()
    public var grid = Grid()
    /// Seeds per grid point.
    public var seeds: Int = 1
    /// First seed (seeds are seedOffset, seedOffset+1, …).
    public var seedOffset: Int = 0
    public var record = Record()
    /// Device request (`auto`, `cpu`, `opencl`, `opencl:P:D`); the command line overrides it.
    public var device: String? = nil
    /// `theory: dmft`: the d → ∞ DMFT curve to compute and draw beside the ensemble (nil: none).
    public var theory: DMFTSettings? = nil

    /// A configuration with every default.
    public init() {}

    /// Number of grid points.
    public var gridPoints: Int { unitLengths.reduce(1, *) }
    /// The number of values on each grid axis (`ConfigurationKeys.gridAxes` order: α, λ, η, then the axes that
    /// change the data or the model).
    var axisLengths: [Int] { ConfigurationKeys.gridAxes.map { $0.axisCount?(self) ?? 1 } }
    /// Total replicas: grid points × seeds.
    public var replicaCount: Int { gridPoints * seeds }

    /// Reads and validates a configuration file; every problem is reported at once, with its key path.
    public static func load(path: String) throws(DLNError) -> Configuration {
        try load(text: try text(path: path), path: path)
    }

    /// A configuration file's text, refused when it cannot be a configuration (missing, not UTF-8, TOML, empty).
    public static func text(path: String) throws(DLNError) -> String {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw .badFile(
                path: path,
                reason: FileManager.default.fileExists(atPath: path) ? "cannot read the file" : "no such file")
        }
        return try text(data: data, path: path)
    }

    /// A configuration's text from its bytes (a file's, or standard input's): refused when it cannot be a
    /// configuration (not UTF-8, TOML, empty).
    public static func text(data: Data, path: String) throws(DLNError) -> String {
        guard let text = String(data: data, encoding: .utf8) else {
            throw .badFile(path: path, reason: "not UTF-8 text (a configuration is a YAML file)")
        }
        if URL(fileURLWithPath: path).pathExtension.lowercased() == "toml" {
            throw .invalidConfiguration(
                file: path,
                issues: [
                    ConfigIssue(
                        "",
                        YAMLSyntax.tomlAdvice.replacingOccurrences(
                            of: "this looks like TOML", with: "a .toml file was given"))
                ])
        }
        // An empty file (or one with comments only) is most likely a generator's mistake, not a request for
        // every default; `{}` asks for the defaults explicitly.
        if text.split(whereSeparator: \.isNewline).allSatisfy({
            $0.trimmingCharacters(in: .whitespaces).isEmpty || $0.trimmingCharacters(in: .whitespaces).hasPrefix("#")
        }) {
            throw .invalidConfiguration(
                file: path,
                issues: [
                    ConfigIssue(
                        "",
                        "the file holds no configuration (it is empty or only comments); write {} to run every default")
                ])
        }
        return text
    }

    /// Parses a configuration file's text: relative data paths against its folder, the name from the file
    /// name when the text gives none.
    public static func load(text: String, path: String) throws(DLNError) -> Configuration {
        try load(root: nil, text: text, path: path)
    }

    /// `load(text:path:)` of a tree already composed (nil: compose `text`).
    static func load(root: Node?, text: String, path: String) throws(DLNError) -> Configuration {
        let base = URL(fileURLWithPath: path).deletingLastPathComponent().path
        var config: Configuration
        if let root {
            config = try parse(root: root, text: text, file: path, baseDirectory: base)
        } else {
            config = try parse(yaml: text, file: path, baseDirectory: base)
        }
        if config.name == "run" && !text.contains("name:") {
            config.name = URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
        }
        return config
    }

    /// Whether `text` is a device request: auto, cpu, gpu, opencl, opencl:P or opencl:P:D (as `DeviceRequest`
    /// parses it).
    static func isDeviceRequest(_ text: String) -> Bool {
        let parts = text.lowercased().split(separator: ":", omittingEmptySubsequences: false)
        switch parts[0] {
        case "auto", "cpu", "gpu": return parts.count == 1
        case "opencl": return parts.count <= 3 && parts.dropFirst().allSatisfy { Int($0).map { $0 >= 0 } ?? false }
        default: return false
        }
    }

    static func gibibytes(_ bytes: Double) -> String {
        bytes >= 1024 * 1024 * 1024 * 1024
            ? String(format: "%.3g TiB", bytes / 1_099_511_627_776) : String(format: "%.3g GiB", bytes / 1_073_741_824)
    }

    /// The host memory a run needs at its peak, in bytes (in Double: sizes may be absurd), and its parts in
    /// words: the replicas' layers, the data sets and the recorded observables. Each part counts the copies that
    /// live at once, measured (VmPeak, VmHWM) on runs dominated by each: the layers 5× (the initial layers, and
    /// the engine's layers, w, gradient and scratch), the data 4× (the experiment's, the engine's and the copy
    /// made while packing it), the observables 3× (the record, and the two copies a checkpoint makes while it is
    /// written), and so the recorded arrays (`record.weights`, `record.activation`). User data are not counted
    /// (their files bound them).
    public var memoryEstimate: (bytes: Double, parts: String) {
        let lengths = axisLengths.map(Double.init)
        let inBatch = lengths[0] * lengths[1] * lengths[2]
        let perShape = lengths[5...].reduce(1, *)
        let layers = Double((grid.depth ?? [model.depth]).max() ?? 2)
        var state = 0.0
        var data = 0.0
        var shapes = 0.0
        // The recorded trajectories and activation times (record.weights, record.activation): values per coordinate.
        let checkpointCount = Double((record.steps?.count ?? record.checkpoints) + record.linear + 2)
        let recordedRows =
            (record.weightsEvery.map { (checkpointCount / Double($0)).rounded(.up) + 1 } ?? 0)
            * (record.layers ? 1 + layers : 1) + Double(record.activation?.count ?? 0)
        var recorded = 0.0
        for d in grid.d ?? [problem.d] {
            for delta in grid.delta ?? [problem.delta ?? -1] {
                let n = delta > 0 ? max(1, (delta * Double(d)).rounded()) : Double(problem.n)
                let sets = problem.files != nil ? 0 : (problem.sharing == .shared ? 1 : Double(seeds))
                data += perShape * sets * n * Double(d) * 8
                state += inBatch * perShape * Double(seeds) * layers * Double(d) * 8
                recorded += inBatch * perShape * Double(seeds) * recordedRows * Double(d) * 8
                shapes += perShape
            }
        }
        if problem.files != nil { state = 0 }
        // Zipped axes: fewer points than the product of the axes.
        let zipped = Double(gridPoints) / lengths.reduce(1, *)
        state *= 5 * zipped
        data *= 4
        let checkpoints = Double((record.steps?.count ?? record.checkpoints) + record.linear + 2)
        let output =
            3 * Double(seeds) * inBatch * shapes * checkpoints
            * Double(Observable.allCases.count + 3 * record.thresholds.count + observableSet.curvatureNames.count)
            * 8 * zipped
        // Held like the observables (the record and a checkpoint's two copies); a larger record is refused anyway.
        recorded = 3 * min(recorded * zipped, record.maxBytes)
        return (
            state + data + output + recorded,
            "layers \(Self.gibibytes(state)), data \(Self.gibibytes(data)), observables "
                + "\(Self.gibibytes(output))" + (recorded > 0 ? ", recorded arrays \(Self.gibibytes(recorded))" : "")
        )
    }
}
