import DLNModel
import Foundation
import Yams

/// A run of full-matrix deep linear networks f(x) = W_L⋯W_1·x (`model.parameterization: matrix`): its own
/// configuration, read from the same YAML layout as the diagonal models' (name, problem, model, training, grid,
/// seeds, record), with the keys that apply to matrices. Every problem is reported with its key path and line.
public struct MatrixConfiguration: Sendable, Equatable {
    /// The initialisations of `model.init.kind` (see docs/matrix.md).
    public enum InitKind: String, Sendable, CaseIterable, Codable {
        /// Entries N(0, α²/n_{l−1}), independent.
        case gaussian
        /// W_l = α·(a random matrix with orthonormal rows or columns), independent layers.
        case orthogonal
        /// W_l = α·U_l·U_{l−1}ᵀ with random orthonormal frames U_l of r = min_l n_l columns: W_{l+1}ᵀW_{l+1} = W_l W_lᵀ.
        case balanced
        /// Balanced and in the teacher's singular basis (U_0 = V, U_L = U): Saxe et al.'s setting; every mode starts
        /// at strength α^L.
        case aligned
        /// Balanced with W_eff's singular values given (`model.init.singular_values`, times α^L); random frames.
        case spectral
        /// W_l = α·I (ones on the diagonal of each n_l×n_{l−1} layer): balanced when the widths are equal, and
        /// diagonal, so that with commuting (diagonal) measurements the layers stay diagonal.
        case identity
    }

    /// `model.factorization`.
    public enum Factorization: String, Sendable, CaseIterable, Codable {
        /// W_eff = W_L⋯W_1 with independent layers.
        case general
        /// W_eff = U·Uᵀ, U ∈ ℝ^{d×r} (widths [d, r, d]): W_2 = U and W_1 = Uᵀ, one parameter.
        case symmetric
    }

    /// `problem.task`.
    public enum Task: String, Sendable, CaseIterable, Codable {
        /// Teacher–student regression: Y = X·Tᵀ (+ noise).
        case regression
        /// Matrix sensing: y_k = ⟨A_k, T⟩ (+ noise), k < n, with random operators A_k (`problem.operator`).
        case sensing
    }

    /// `problem.operator`: matrix sensing's measurement operators.
    public enum Operator: String, Sendable, CaseIterable, Codable {
        /// Entries N(0, 1), independent: E⟨A, M⟩² = ‖M‖²_F.
        case gaussian
        /// (G + Gᵀ)/2 of a Gaussian G (square only), with a symmetric positive semi-definite teacher U·diag(s)·Uᵀ.
        case symmetric
        /// diag(g), g ~ N(0, I) (square only): commuting measurements, with a diagonal teacher (the singular values
        /// on random coordinates).
        case diagonal
    }

    /// `problem.data`.
    public enum DataSharing: String, Sendable, CaseIterable, Codable {
        case shared, independent
    }

    /// `training.loss`.
    public enum Loss: String, Sendable, CaseIterable, Codable {
        case mean, sum
    }

    /// `training.update`.
    public enum Update: String, Sendable, CaseIterable, Codable {
        /// Gradient descent with step η (`grid.learning_rate`).
        case gd
        /// Gradient flow Ẇ = −∇ℓ − λW to `training.horizon`, adaptive Dormand–Prince per replica.
        case flow
        /// Mini-batch SGD: each step the gradient of b rows (samples, or measurements of sensing) drawn as
        /// `training.sampling` says (`MatrixStochastic`).
        case sgd
    }

    /// `problem.files`: the data from `.npy` files (absolute paths): X (n×n_0), Y (n×n_L, or n when n_L = 1), and
    /// optionally the teacher T (n_L×n_0), which the test error and the mode strengths need.
    public struct Files: Sendable, Equatable {
        public var x: String
        public var y: String
        public var teacher: String?
    }

    public var name = "matrix"
    public var task: Task = .regression
    /// Matrix sensing's operators.
    public var sensingOperator: Operator = .gaussian
    public var files: Files? = nil
    /// n_0, …, n_L.
    public var widths: [Int] = [10, 10, 10]
    public var initKind: InitKind = .gaussian
    public var factorization: Factorization = .general
    /// `spectral`: W_eff's initial singular values (before the factor α^L).
    public var initSingularValues: [Double]? = nil
    /// Samples n (matrix sensing: the number of measurements).
    public var samples = 100
    /// The teacher's singular values (T = U·diag(s)·Vᵀ, random orthonormal U, V).
    public var teacherSingularValues: [Double] = [1]
    /// Inputs with XᵀX/n = I exactly (needs n ≥ n_0).
    public var whiten = false
    /// Label noise σ: Y = X·Tᵀ + σ·ξ.
    public var noise = 0.0
    public var data: DataSharing = .shared
    public var steps = 1000
    public var update: Update = .gd
    /// `update: sgd`: rows per step b (1 ≤ b ≤ n).
    public var batchSize: Int? = nil
    /// `update: sgd`: the axis `grid.batch_size` (nil: training.batch_size for every grid point).
    public var batchSizeAxis: [Int]? = nil
    /// `update: sgd`: how each step's rows are drawn.
    public var sampling: Sampling = .withReplacement
    public var loss: Loss = .mean
    public var precision: Precision = .float32
    /// `update: flow`: the final time and the integrator's tolerances.
    public var horizon: Double? = nil
    public var flow = FlowSettings()
    /// Grid axes: every combination is a grid point (α outermost, then λ, η, σ_ℓ, T, β).
    public var alpha: [Double] = [0.1]
    public var weightDecay: [Double] = [0]
    public var learningRate: [Double] = [0.01]
    /// Label noise σ_ℓ (`training.label_noise` or the axis `grid.label_noise`): each step sees y + σ_ℓ·ξ, ξ fresh.
    public var labelNoise: [Double] = [0]
    /// Langevin noise T (`training.gradient_noise` or `grid.gradient_noise`): √(2ηT)·ξ added to every parameter
    /// after each update.
    public var gradientNoise: [Double] = [0]
    /// Heavy-ball momentum β (`training.momentum` or `grid.momentum`), 0 ≤ β < 1.
    public var momentum: [Double] = [0]
    /// `training.nesterov`: the look-ahead form of momentum.
    public var nesterov = false
    /// `training.schedule`: step k uses η·s_k (gd, sgd), as for the diagonal models.
    public var schedule = Configuration.Schedule()
    /// The stochastic axes given under `grid` (recorded in manifest.json's grid).
    public var stochasticAxes: [String] = []
    public var seeds = 1
    public var seedOffset = 0
    /// Checkpoints after step 0, log- or linearly spaced up to `steps`.
    public var checkpoints = 20
    public var spacing = "log"
    /// How many of W_eff's largest singular values to record (nil: min(n_0, n_L)).
    public var recordSingularValues: Int? = nil
    /// `record.sharpness`: Lanczos steps of the sharpness observable per checkpoint (nil: off).
    public var sharpnessIterations: Int? = nil
    /// `record.pl_constant`: Lanczos steps of the PL-constant observable per checkpoint (nil: off).
    public var plIterations: Int? = nil
    /// `record.activation`: thresholds τ of the modes' activation times (activation_time.npy); nil: off.
    public var activation: [Double]? = nil

    public init() {}

    /// Depth L.
    public var depth: Int { widths.count - 1 }
    /// The singular values recorded per checkpoint.
    public var singularValueCount: Int { min(recordSingularValues ?? Int.max, widths[0], widths[widths.count - 1]) }

    /// Whether a YAML text asks for the matrix model (`model.parameterization: matrix`).
    public static func isMatrix(yaml text: String) -> Bool {
        guard let root = try? Yams.compose(yaml: text), let model = root.mapping?["model"]?.mapping,
            let p = model["parameterization"]?.string
        else { return false }
        return p == "matrix"
    }

    /// Parses and validates a matrix configuration; every problem is listed with its key path.
    public static func parse(yaml text: String, file: String, baseDirectory: String = ".") throws(DLNError)
        -> MatrixConfiguration
    {
        if let issue = YAMLGuard.scan(text).issue { throw .invalidConfiguration(file: file, issues: [issue]) }
        let root: Node?
        do { root = try Yams.compose(yaml: text) } catch {
            throw .invalidConfiguration(file: file, issues: [YAMLSyntax.issue(for: error, text: text)])
        }
        return try parse(root: root, file: file, baseDirectory: baseDirectory)
    }

    /// Parses a configuration with the command line's `key=value` overrides applied to its YAML tree; returns it with
    /// the effective text (the file's own text without overrides), which config.yaml records.
    public static func parse(
        yaml text: String, file: String, baseDirectory: String = ".", overrides: [ConfigOverride]
    ) throws(DLNError) -> (configuration: MatrixConfiguration, text: String) {
        if overrides.isEmpty { return (try parse(yaml: text, file: file, baseDirectory: baseDirectory), text) }
        let (root, effective) = try Configuration.overridden(text: text, path: file, overrides: overrides)
        return (try parse(root: root, file: file, baseDirectory: baseDirectory), effective)
    }

    /// Validates a composed YAML tree; relative file paths are taken from `baseDirectory`.
    static func parse(root: Node?, file: String, baseDirectory: String = ".") throws(DLNError) -> MatrixConfiguration {
        let sink = IssueSink()
        let top = YAMLSection(path: "", node: root ?? .mapping(.init([])), sink: sink)
        var c = MatrixConfiguration()
        let positive: (Double) -> String? = { $0 > 0 ? nil : "must be positive" }
        let nonNegative: (Double) -> String? = { $0 >= 0 ? nil : "must be ≥ 0" }
        c.name = top.string("name") ?? c.name
        let model = top.section("model")
        _ = model.string("parameterization")
        if model.has("widths") {
            let ws = model.numbers("widths", default: [])
            if ws.count < 2 {
                sink.add("model.widths", "must list at least two widths [n0, …, nL] (depth L ≥ 1), got \(ws.count)")
            } else if let bad = ws.firstIndex(where: { $0 < 1 || $0 != $0.rounded() || $0 > 1e6 }) {
                sink.add("model.widths[\(bad)]", "must be a whole number ≥ 1, got \(ws[bad])")
            } else {
                c.widths = ws.map { Int($0) }
            }
        } else {
            sink.add(
                "model.widths", "is required for the matrix model: [n0, n1, …, nL] (n0 the inputs, nL the outputs)")
        }
        c.factorization = model.choice("factorization", default: .general)
        let initSection = model.section("init")
        c.initKind = initSection.choice("kind", default: .gaussian)
        if initSection.has("singular_values") {
            c.initSingularValues = initSection.numbers("singular_values", default: [1], nonNegative)
        }
        initSection.finish()
        model.finish()
        let problem = top.section("problem")
        c.samples = problem.int("n", default: c.samples) { $0 >= 1 ? nil : "must be ≥ 1" }
        c.task = problem.choice("task", default: .regression)
        if problem.has("operator") { c.sensingOperator = problem.choice("operator", default: .gaussian) }
        if problem.has("files") {
            c.readFiles(problem.section("files"), sink: sink, baseDirectory: baseDirectory, given: problem)
        }
        let teacher = problem.section("teacher")
        c.teacherSingularValues = teacher.numbers("singular_values", default: c.teacherSingularValues, nonNegative)
        teacher.finish()
        c.whiten = problem.bool("whiten", default: false)
        c.noise = problem.double("noise", default: 0, nonNegative)
        c.data = problem.choice("data", default: .shared)
        problem.finish()
        let training = top.section("training")
        c.steps = training.int("steps", default: c.steps) { $0 >= 1 && $0 <= 1_000_000_000 ? nil : "must be 1 … 1e9" }
        c.update = training.choice("update", default: .gd)
        c.batchSize = training.optionalInt("batch_size") { $0 >= 1 ? nil : "must be ≥ 1 (rows per step)" }
        if training.has("sampling") { c.sampling = training.choice("sampling", default: .withReplacement) }
        if c.update == .sgd && c.batchSize == nil && !top.sectionHas("grid", "batch_size") {
            sink.add("training.batch_size", "is required with training.update: sgd (rows per step, 1 ≤ b ≤ n)")
        }
        for key in ["batch_size", "sampling"] where c.update != .sgd && training.has(key) {
            sink.add("training.\(key)", "applies to training.update: sgd")
        }
        let noiseLevel: (Double) -> String? = {
            $0 >= 0 && $0.isFinite ? ($0 <= 1e6 ? nil : "is too large") : "must be ≥ 0 (a noise level)"
        }
        let momentumLevel: (Double) -> String? = { $0 >= 0 && $0 < 1 ? nil : "must be in [0, 1)" }
        let stochastic: [(String, (Double) -> String?, WritableKeyPath<MatrixConfiguration, [Double]>)] = [
            ("label_noise", noiseLevel, \.labelNoise), ("gradient_noise", noiseLevel, \.gradientNoise),
            ("momentum", momentumLevel, \.momentum)
        ]
        let inTraining = Set(stochastic.map(\.0).filter { training.has($0) })
        for (key, check, path) in stochastic where inTraining.contains(key) {
            c[keyPath: path] = [training.double(key, default: 0, check)]
        }
        c.nesterov = training.bool("nesterov", default: false)
        c.schedule = Self.schedule(training, steps: c.steps)
        c.loss = training.choice("loss", default: .mean)
        c.precision = training.choice("precision", default: .float32)
        if training.has("horizon") {
            c.horizon = training.double("horizon", default: 1) { $0 > 0 && $0 < 1e12 ? nil : "must be in (0, 1e12)" }
        }
        let flow = training.section("flow")
        c.flow.rtol = flow.double("rtol", default: c.flow.rtol) { $0 > 0 && $0 < 1 ? nil : "must be in (0, 1)" }
        c.flow.atol = flow.double("atol", default: c.flow.atol) { $0 > 0 ? nil : "must be positive" }
        if let steps = flow.optionalInt("max_steps", { $0 >= 1 ? nil : "must be ≥ 1" }) { c.flow.maxSteps = steps }
        flow.finish()
        training.finish()
        let grid = top.section("grid")
        c.alpha = grid.numbers("alpha", default: c.alpha, positive)
        c.weightDecay = grid.numbers("weight_decay", default: c.weightDecay, nonNegative)
        c.learningRate = grid.numbers("learning_rate", default: c.learningRate, positive)
        for (key, check, path) in stochastic where grid.has(key) {
            if inTraining.contains(key) {
                sink.add("grid.\(key)", "is also set as training.\(key); give it in one place")
            }
            c[keyPath: path] = grid.numbers(key, default: [0], check)
            c.stochasticAxes.append(key)
        }
        if grid.has("batch_size") {
            if training.has("batch_size") {
                sink.add("grid.batch_size", "is also set as training.batch_size; give it in one place")
            }
            if c.update != .sgd { sink.add("grid.batch_size", "applies to training.update: sgd") }
            let sizes = grid.numbers("batch_size", default: [1]) {
                $0 >= 1 && $0 == $0.rounded() && $0 <= 1e8 ? nil : "must be whole numbers ≥ 1 (rows per step)"
            }
            c.batchSizeAxis = sizes.map { Int($0) }
            c.stochasticAxes.append("batch_size")
        }
        grid.finish()
        c.seeds = top.int("seeds", default: 1) { $0 >= 1 && $0 <= 10_000_000 ? nil : "must be 1 … 1e7" }
        c.seedOffset = top.int("seed_offset", default: 0) { $0 >= 0 ? nil : "must be ≥ 0" }
        let record = top.section("record")
        c.checkpoints = record.int("checkpoints", default: c.checkpoints) { $0 >= 1 ? nil : "must be ≥ 1" }
        if let s = record.string("spacing") {
            if ["log", "linear"].contains(s) {
                c.spacing = s
            } else {
                sink.add("record.spacing", "must be log or linear, got '\(s)'")
            }
        }
        c.recordSingularValues = record.optionalInt("singular_values") { $0 >= 1 ? nil : "must be ≥ 1" }
        c.sharpnessIterations = Self.iterations(record, "sharpness")
        c.plIterations = Self.iterations(record, "pl_constant")
        if record.has("activation") { c.activation = record.numbers("activation", default: [], positive) }
        record.finish()
        top.finish()
        if sink.issues.isEmpty { c.check(sink) }
        if !sink.issues.isEmpty { throw .invalidConfiguration(file: file, issues: sink.issues) }
        return c
    }

    /// The rules between keys.
    func check(_ sink: IssueSink) {
        checkFiles(sink)
        if update == .flow && horizon == nil {
            sink.add("training.horizon", "is required with training.update: flow (the final time t of the flow)")
        }
        let moving = nesterov || momentum.contains { $0 > 0 }
        for (key, on) in [
            ("label_noise", labelNoise.contains { $0 > 0 }), ("gradient_noise", gradientNoise.contains { $0 > 0 }),
            ("momentum", moving)
        ] where on && update == .flow {
            sink.add(
                (stochasticAxes.contains(key) ? "grid." : "training.") + key,
                "applies to training.update gd and sgd, not flow (gradient flow is deterministic and has no steps)")
        }
        if activation != nil && files != nil && files?.teacher == nil {
            sink.add("record.activation", "needs the teacher's modes: give problem.files.T")
        }
        if schedule.name != .constant && update == .flow {
            sink.add("training.schedule", "applies to training.update gd and sgd, not flow")
        }
        if update != .flow && horizon != nil {
            sink.add("training.horizon", "applies to training.update: flow; gradient descent runs training.steps")
        }
        if update == .sgd, let b = (batchSizeAxis ?? batchSize.map { [$0] })?.max(), b > samples {
            sink.add(
                batchSizeAxis != nil ? "grid.batch_size" : "training.batch_size",
                "b = \(b) is larger than the \(task == .sensing ? "m = \(samples) measurements" : "n = \(samples) samples") "
                    + "a step draws from (1 ≤ b ≤ n)")
        }
        let n0 = widths[0]
        let nL = widths[depth]
        let r = widths.min()!
        if factorization == .symmetric {
            if depth != 2 || widths[0] != widths[2] {
                sink.add(
                    "model.factorization",
                    "symmetric (W_eff = U·Uᵀ) needs widths [d, r, d] (U is d×r), got \(widths)")
            } else if task != .sensing || sensingOperator == .gaussian {
                sink.add(
                    "model.factorization",
                    "symmetric (W_eff = U·Uᵀ) needs problem.task: sensing with problem.operator symmetric or diagonal "
                        + "(⟨A, UUᵀ⟩ sees only A's symmetric part)")
            }
        }
        if task == .sensing {
            if whiten { sink.add("problem.whiten", "applies to problem.task: regression (sensing has no inputs X)") }
            if files != nil {
                sink.add("problem.files", "applies to problem.task: regression (sensing draws its operators A_k)")
            }
            if sensingOperator != .gaussian && n0 != nL {
                sink.add(
                    "problem.operator",
                    "\(sensingOperator.rawValue) operators are square: it needs n0 = nL, got \(n0) and \(nL)")
            }
        } else if sensingOperator != .gaussian {
            sink.add("problem.operator", "applies to problem.task: sensing")
        }
        if whiten && samples < n0 {
            sink.add("problem.whiten", "needs n ≥ n0 (XᵀX/n = I has rank n0): n = \(samples), n0 = \(n0)")
        }
        if files == nil && teacherSingularValues.count > min(n0, nL) {
            sink.add(
                "problem.teacher.singular_values",
                "lists \(teacherSingularValues.count) values, but a \(nL)×\(n0) teacher has at most \(min(n0, nL))")
        }
        if initKind == .aligned && files != nil {
            sink.add("model.init.kind", "aligned needs the teacher's singular vectors: not with problem.files")
        }
        if initKind == .aligned && teacherSingularValues.count > r {
            sink.add(
                "model.init.kind",
                "aligned needs the teacher's rank (\(teacherSingularValues.count)) ≤ the narrowest width (\(r))")
        }
        if initKind == .spectral {
            if let s = initSingularValues {
                if s.count > r {
                    sink.add(
                        "model.init.singular_values",
                        "lists \(s.count) values, but the narrowest width is \(r) (W_eff has rank ≤ \(r))")
                }
            } else {
                sink.add("model.init.singular_values", "is required with model.init.kind: spectral")
            }
        } else if initSingularValues != nil {
            sink.add("model.init.singular_values", "applies to model.init.kind: spectral only")
        }
        for (i, a) in alpha.enumerated() {
            let scale = pow(a, Double(depth))
            let big = Double(widths.max()!) * max(1, initSingularValues?.max() ?? 1)
            if precision == .float32 && (scale * big > 1e30 || (scale > 0 && scale < 1e-30)) {
                sink.add(
                    "grid.alpha[\(i)]",
                    "α^L = \(scale) cannot be represented in float32 (training.precision: float64 can)")
            }
        }
    }

    /// Host memory a run needs, in bytes (estimate): the initial and final layers in float64, the CPU engine's
    /// parameters, activations and signals, the data sets, and the recorded observables.
    public var memoryEstimate: Double {
        let shape = MatrixShape(widths: widths)
        let B = Double(gridPoints.count * seeds)
        let P = Double(shape.parameterCount)
        let per = Double(precision.byteCount)
        let engine = B * (2 * P + Double(shape.activationCount(samples: samples))) * per
        let scratch = Double(
            2 * 16 * (shape.activationCount(samples: samples) + 2 * shape.signalCount(samples: samples)))
        let perSet =
            task == .sensing
            ? samples * (widths[0] * widths[depth] + 1) + widths[0] * (widths[0] + widths[depth])
            : samples * (widths[0] + widths[depth])
        let data = Double(data == .shared ? 1 : seeds) * Double(perSet) * (8 + 16 * per)
        let C = Double(update == .flow ? checkpoints + 1 : checkpointSteps.count)
        let recorded = B * C * Double(5 + singularValueCount + teacherSingularValues.count) * 8
        return 3 * B * P * 8 + engine + scratch * per + data + recorded
    }
}
