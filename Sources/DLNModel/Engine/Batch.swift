import Foundation

/// An array of reals in the batch's precision.
public enum RealArray: Sendable, Equatable {
    case float([Float])
    case double([Double])

    /// Number of elements.
    public var count: Int {
        switch self {
        case .float(let a): a.count
        case .double(let a): a.count
        }
    }

    /// A range of the values widened to Double.
    public func doubles(_ range: Range<Int>) -> [Double] {
        switch self {
        case .float(let a): a[range].map(Double.init)
        case .double(let a): Array(a[range])
        }
    }

    /// The values widened to Double.
    public var doubles: [Double] {
        switch self {
        case .float(let a): a.map(Double.init)
        case .double(let a): a
        }
    }

    /// The values in type T (which must be the stored type).
    public func values<T: DLNReal>(as: T.Type) -> [T] {
        switch self {
        case .float(let a):
            precondition(T.self == Float.self)
            return a as! [T]
        case .double(let a):
            precondition(T.self == Double.self)
            return a as! [T]
        }
    }

    /// Stores Double values rounded to a precision.
    public init(_ values: [Double], precision: Precision) {
        switch precision {
        case .float32: self = .float(values.map { Float($0) })
        case .float64: self = .double(values)
        }
    }
}

/// One data set: X (n×d, row-major), y (n) and, when known, the teacher w* (d) and a held-out test set.
public struct Dataset: Sendable {
    /// The design, row-major.
    public let x: RealArray
    /// The labels.
    public let y: RealArray
    /// The teacher, if known.
    public let wStar: [Double]?
    /// A held-out test design (n_test×d, row-major) and labels, if given (user data).
    public let test: (x: RealArray, y: RealArray)?

    /// A data set.
    public init(x: RealArray, y: RealArray, wStar: [Double]?, test: (x: RealArray, y: RealArray)? = nil) {
        self.x = x
        self.y = y
        self.wStar = wStar
        self.test = test
    }

    /// Rows of the held-out test set (0 without one).
    public var testSamples: Int { test.map { $0.y.count } ?? 0 }
}

/// How the gradient g = scale·Xᵀ(Xw − y) is computed each step.
public enum GradientForm: String, Sendable, Codable, CaseIterable {
    /// r = Xw − y, then Xᵀr: 2·n·d multiply-adds per replica.
    case products
    /// g = Σw − b with Σ = scale·XᵀX, b = scale·Xᵀy computed once: d² multiply-adds, cheaper when n > d/2.
    /// Not bit-identical to the products (another order of operations): equal to rounding (theory tests: 1e-12
    /// relative in float64).
    case gram

    /// The cheaper form for n samples in d dimensions.
    public static func cheaper(n: Int, d: Int) -> GradientForm { d < 2 * n ? .gram : .products }
}

/// One replica's scalars.
public struct Replica: Sendable, Hashable {
    /// The grid point it belongs to.
    public let gridPoint: Int
    /// Its seed (initialisation noise, and data when data are independent).
    public let seed: Int
    /// Index into `Batch.datasets`.
    public let dataset: Int
    /// Initial scale α.
    public let alpha: Double
    /// Weight decay λ as configured.
    public let lambda: Double
    /// λ_u = 2·factor·λ, the coefficient in u̇ ∋ −λ_u·u.
    public let lambdaU: Double
    /// Step size η.
    public let eta: Double
    /// `update: sgd`: rows per batch b (nil: n, the full batch).
    public let batchSize: Int?
    /// Label noise σ_ℓ: each step sees y_i + σ_ℓ·ξ_i with fresh ξ (0: none).
    public let labelNoise: Double
    /// Langevin temperature T: each layer update adds √(2ηT)·ξ (0: none).
    public let gradientNoise: Double
    /// Heavy-ball momentum β ∈ [0, 1) (0: none).
    public let momentum: Double

    /// A replica's scalars.
    public init(
        gridPoint: Int, seed: Int, dataset: Int, alpha: Double, lambda: Double, lambdaU: Double, eta: Double,
        batchSize: Int? = nil, labelNoise: Double = 0, gradientNoise: Double = 0, momentum: Double = 0
    ) {
        self.gridPoint = gridPoint
        self.seed = seed
        self.dataset = dataset
        self.alpha = alpha
        self.lambda = lambda
        self.lambdaU = lambdaU
        self.eta = eta
        self.batchSize = batchSize
        self.labelNoise = labelNoise
        self.gradientNoise = gradientNoise
        self.momentum = momentum
    }
}

/// Everything an engine needs to run B replicas of one problem shape: data, per-replica scalars and the
/// initial layers. Built on the host, deterministically from the configuration.
public struct Batch: Sendable {
    public let layout: Layout
    public let precision: Precision
    public let parameterization: Parameterization
    public let update: UpdateRule
    public let loss: LossNormalization
    public let datasets: [Dataset]
    public let replicas: [Replica]
    /// Initial layers, replica-major: `initialLayers[l][b·d + j]`.
    public let initialLayers: [RealArray]
    /// What `observe()` records.
    public let observables: ObservableSet
    /// The design's entry variance v for the population test error v·‖w − w*‖²; nil for user data.
    public let designVariance: Double?
    /// How the state is stored: the layers, or (pm, uv) the mirror variable in log scale (Flow.swift).
    public let representation: Representation
    /// The adaptive integrator's settings (`update == .flow`).
    public let flow: FlowSettings
    /// ln|u₀|, ln|v₀| and their signs, exact for any α (the log representation); nil: taken from `initialLayers`.
    public let logInitial: LogLayers?
    /// How the gradient is computed: two products with X, or the Gram form.
    public let gradientForm: GradientForm
    /// `update: sgd`: how each step's batch is drawn.
    public let sampling: Sampling
    /// Momentum in Nesterov's look-ahead form (the gradient at θ + β·m) rather than the heavy ball.
    public let nesterov: Bool
    /// The learning-rate schedule: step k uses η_k = η·s_k (Core/Schedule.swift).
    public let schedule: LearningRateSchedule
    /// S_k of the schedule, continued from the last one asked for (observations come in ascending steps).
    public let scheduleSums: ScheduleSums
    /// The order a step sums each residual in (`stridedApplies` for `.strided`).
    public let summation: SummationOrder

    /// Whether the steps are plain or multiplicative descent in the layers (no flow, log representation, stochastic
    /// steps or momentum): what the many-steps kernels of replica_v16.cl and the strided order serve.
    public var takesPlainSteps: Bool {
        (update == .gd || update == .multiplicative) && representation == .layers && !isStochastic && !hasMomentum
    }

    /// Whether the steps can take the strided summation order: plain steps in the products form.
    public var stridedApplies: Bool { takesPlainSteps && gradientForm == .products }

    /// Whether every block of 16 replicas holds two or more data sets (or a single replica): the independent data of
    /// regime I, where `SummationOrder.strided` is the automatic choice.
    public var blocksHoldIndependentData: Bool {
        let B = layout.replicas
        return stride(from: 0, to: B, by: Layout.lanes).allSatisfy { first in
            let sets = (first..<min(first + Layout.lanes, B)).map { replicas[$0].dataset }
            return sets.count == 1 || Set(sets).count > 1
        }
    }

    /// The order `training.summation: auto` takes: strided where it applies to data independent per block,
    /// ascending otherwise.
    public var automaticSummation: SummationOrder {
        stridedApplies && blocksHoldIndependentData ? .strided : .ascending
    }

    /// Whether the steps carry momentum buffers (CPU/Momentum.swift, Kernels/momentum.cl).
    public var hasMomentum: Bool { nesterov || replicas.contains { $0.momentum != 0 } }

    /// Whether the steps are stochastic (`update: sgd`, label noise or gradient noise): they then run the
    /// stochastic kernels (Kernels/stochastic.cl, CPU/Stochastic.swift), full-batch GD as sequential SGD with b = n.
    public var isStochastic: Bool {
        update == .sgd || replicas.contains { $0.labelNoise > 0 || $0.gradientNoise > 0 }
    }

    /// The batch size b of replica `b` (n for gd).
    public func batchSize(replica b: Int) -> Int {
        update == .sgd ? (replicas[b].batchSize ?? layout.samples) : layout.samples
    }

    /// The sampling the stochastic kernels use (sequential for full-batch gd with noise).
    public var effectiveSampling: Sampling { update == .sgd ? sampling : .sequential }

    /// 1/n (mean loss) or 1 (sum loss): g = gradientScale·Xᵀr.
    public var gradientScale: Double { loss == .mean ? 1 / Double(layout.samples) : 1 }
    /// 1/(2n) or 1/2: ℓ = lossScale·‖r‖².
    public var lossScale: Double { loss == .mean ? 0.5 / Double(layout.samples) : 0.5 }

    /// 1/α² per replica: the effective_scale_sq observables are α_eff²·(1/α²), with this factor rounded once to the
    /// batch's precision on both engines.
    public var inverseAlphaSquared: [Double] { replicas.map { 1 / ($0.alpha * $0.alpha) } }

    /// e^{−2λ_u·t} per replica after `steps` steps (t = η·S_steps, steps·η without a schedule): the decay of the
    /// conserved quantities.
    public func decay(afterSteps steps: Int) -> [Double] {
        let sum = scheduleSums.sum(at: steps)  // S_k = Σ_{j<k} s_j (= k without a schedule)
        return replicas.map { r in Foundation.exp(-2 * r.lambdaU * sum * r.eta) }
    }

    /// e^{−2λ_u·t} per replica at per-replica times t.
    public func decay(atTimes times: [Double]) -> [Double] {
        zip(replicas, times).map { r, t in Foundation.exp(-2 * r.lambdaU * t) }
    }

    /// Rows of the held-out test sets (all data sets have the same number, 0 without).
    public var testSamples: Int { datasets.first?.testSamples ?? 0 }

    /// A batch from explicit parts (tests and custom drivers); checks shapes.
    public init(
        parameterization: Parameterization, update: UpdateRule, loss: LossNormalization,
        precision: Precision, dimension d: Int, samples n: Int,
        datasets: [Dataset], replicas: [Replica], initialLayers: [RealArray],
        observables: ObservableSet = ObservableSet(thresholds: [0.01, 0.1]),
        designVariance: Double? = nil, representation: Representation? = nil,
        flow: FlowSettings = FlowSettings(), logInitial: LogLayers? = nil,
        gradientForm: GradientForm? = nil, sampling: Sampling = .withReplacement, nesterov: Bool = false,
        schedule: LearningRateSchedule = .constant, summation: SummationOrder = .ascending
    ) throws(DLNError) {
        let layers = parameterization.family.fixedDepth ?? initialLayers.count
        guard d >= 1, n >= 1 else { throw .invalidProblem("d and n must be positive, got d = \(d), n = \(n)") }
        guard !replicas.isEmpty else { throw .invalidProblem("a batch needs at least one replica") }
        guard initialLayers.count == layers, layers >= 2, parameterization != .deepPM || layers % 2 == 0 && layers >= 4
        else {
            throw .invalidProblem(
                "\(parameterization.rawValue) needs \(layers) initial layers, got \(initialLayers.count)")
        }
        for (l, a) in initialLayers.enumerated() where a.count != replicas.count * d {
            throw .invalidProblem("initial layer \(l) holds \(a.count) values, B·d = \(replicas.count * d)")
        }
        for (s, ds) in datasets.enumerated() {
            guard ds.x.count == n * d else {
                throw .invalidProblem("data set \(s): X holds \(ds.x.count) values, n·d = \(n * d)")
            }
            guard ds.y.count == n else {
                throw .invalidProblem("data set \(s): y holds \(ds.y.count) values, n = \(n)")
            }
        }
        for (s, ds) in datasets.enumerated() {
            if let w = ds.wStar, w.count != d {
                throw .invalidProblem("data set \(s): w* holds \(w.count) values, d = \(d)")
            }
            if let t = ds.test, t.x.count != t.y.count * d {
                throw .invalidProblem("data set \(s): the test set's X and y do not match d = \(d)")
            }
            if ds.testSamples != datasets[0].testSamples {
                throw .invalidProblem("data sets must have test sets of one size")
            }
        }
        if observables.thresholds.contains(where: { !($0 > 0) || !$0.isFinite }) {
            throw .invalidProblem("support thresholds must be positive and finite")
        }
        for (b, r) in replicas.enumerated() where !(0..<datasets.count).contains(r.dataset) {
            throw .invalidProblem("replica \(b) refers to data set \(r.dataset), there are \(datasets.count)")
        }
        if update == .multiplicative && !parameterization.family.hasMultiplicativeUpdate {
            throw .invalidProblem("the multiplicative update is defined for pm only")
        }
        let rep = representation ?? (update == .flow && parameterization.family.hasLogRepresentation ? .log : .layers)
        if rep == .log {
            guard parameterization.family.hasLogRepresentation else {
                throw .invalidProblem("the log representation is for pm and uv (deep layers can change sign)")
            }
            guard update != .gd else {
                throw .invalidProblem(
                    "the log representation needs update multiplicative or flow (plain GD is not a flow in ρ)")
            }
        }
        if let message = flow.problem { throw .invalidProblem(message) }
        let noisy = replicas.contains { $0.labelNoise != 0 || $0.gradientNoise != 0 }
        if nesterov || replicas.contains(where: { $0.momentum != 0 }) {
            guard update == .gd || update == .sgd, rep == .layers else {
                throw .invalidProblem("momentum is for update gd and sgd on the layers")
            }
            guard replicas.allSatisfy({ $0.momentum >= 0 && $0.momentum < 1 }) else {
                throw .invalidProblem("momentum must be in [0, 1)")
            }
        }
        if update == .sgd || noisy {
            guard update == .gd || update == .sgd else {
                throw .invalidProblem(
                    "label and gradient noise are for update gd and sgd, not \(update.rawValue)")
            }
            guard rep == .layers else {
                throw .invalidProblem("the stochastic updates need the layers representation, not log")
            }
        }
        for (b, r) in replicas.enumerated() {
            if let size = r.batchSize, update == .sgd, !(1...n).contains(size) {
                throw .invalidProblem("replica \(b): batch size \(size) is outside 1…n = \(n)")
            }
            guard r.labelNoise >= 0, r.labelNoise.isFinite, r.gradientNoise >= 0, r.gradientNoise.isFinite else {
                throw .invalidProblem("replica \(b): label and gradient noise must be finite and ≥ 0")
            }
        }
        if update == .flow {
            let floor = precision == .float32 ? 1e-6 : 2e-15  // about 10 ulp of 1
            if flow.rtol < floor {
                throw .invalidProblem(
                    "flow.rtol = \(flow.rtol) is below what \(precision.rawValue) resolves (at least \(floor)); use a "
                        + "larger rtol or float64"
                )
            }
        }
        if let li = logInitial,
            li.magnitude.count != 2 || li.sign.count != 2
                || li.magnitude.contains(where: { $0.count != replicas.count * d })
                || li.sign.contains(where: { $0.count != replicas.count * d })
        {
            throw .invalidProblem("logInitial must hold 2 layers of B·d values")
        }
        self.representation = rep
        // The stochastic kernels gather rows of X: they have no Gram form.
        self.gradientForm = update == .sgd || noisy ? .products : (gradientForm ?? GradientForm.cheaper(n: n, d: d))
        self.sampling = sampling
        self.nesterov = nesterov
        self.schedule = schedule
        scheduleSums = ScheduleSums(schedule)
        self.flow = flow
        self.logInitial = logInitial
        self.layout = Layout(replicas: replicas.count, dimension: d, samples: n, layers: layers)
        self.precision = precision
        self.parameterization = parameterization
        self.update = update
        self.loss = loss
        self.datasets = datasets
        self.replicas = replicas
        self.initialLayers = initialLayers
        self.observables = observables
        self.designVariance = designVariance
        self.summation = summation
        if summation == .strided && !stridedApplies {
            throw .invalidProblem(
                "the strided summation order is for update gd or multiplicative in the products form (n ≤ d/2), "
                    + "without noise or momentum")
        }
    }

    /// The replicas in `range` as a batch of their own (with only the data sets they use). Replicas are
    /// independent, so running the slices one after the other gives the same results as the whole batch.
    public func slice(_ range: Range<Int>) throws(DLNError) -> Batch {
        let d = layout.dimension
        let used = Array(Set(replicas[range].map(\.dataset))).sorted()
        let remap = Dictionary(uniqueKeysWithValues: used.enumerated().map { ($1, $0) })
        let reps = replicas[range].map { r in
            Replica(
                gridPoint: r.gridPoint, seed: r.seed, dataset: remap[r.dataset]!, alpha: r.alpha, lambda: r.lambda,
                lambdaU: r.lambdaU, eta: r.eta, batchSize: r.batchSize, labelNoise: r.labelNoise,
                gradientNoise: r.gradientNoise, momentum: r.momentum)
        }
        let values = (range.lowerBound * d)..<(range.upperBound * d)
        func cut(_ a: RealArray) -> RealArray {
            switch a {
            case .float(let v): .float(Array(v[values]))
            case .double(let v): .double(Array(v[values]))
            }
        }
        let log = logInitial.map {
            LogLayers(magnitude: $0.magnitude.map { Array($0[values]) }, sign: $0.sign.map { Array($0[values]) })
        }
        return try Batch(
            parameterization: parameterization, update: update, loss: loss, precision: precision, dimension: d,
            samples: layout.samples, datasets: used.map { datasets[$0] }, replicas: reps,
            initialLayers: initialLayers.map(cut), observables: observables, designVariance: designVariance,
            representation: representation, flow: flow, logInitial: log, gradientForm: gradientForm,
            sampling: sampling, nesterov: nesterov, schedule: schedule, summation: summation)
    }

    /// The same batch with another gradient form (and summation order: nil keeps it, or ascending where the strided
    /// order no longer applies).
    public func with(gradientForm form: GradientForm? = nil, summation: SummationOrder? = nil) throws(DLNError)
        -> Batch
    {
        let form = form ?? gradientForm
        return try Batch(
            parameterization: parameterization, update: update, loss: loss, precision: precision,
            dimension: layout.dimension,
            samples: layout.samples, datasets: datasets, replicas: replicas, initialLayers: initialLayers,
            observables: observables,
            designVariance: designVariance, representation: representation, flow: flow, logInitial: logInitial,
            gradientForm: form, sampling: sampling, nesterov: nesterov, schedule: schedule,
            summation: summation ?? (form == .products ? self.summation : .ascending))
    }

    /// Multiply-adds per replica-step of the gradient: 2·n·d (products), d² (Gram) or 2·b·d (sgd, b averaged over
    /// the replicas).
    public var gradientMultiplyAdds: Double {
        if update == .sgd {
            let b = (0..<replicas.count).reduce(0.0) { $0 + Double(batchSize(replica: $1)) } / Double(replicas.count)
            return 2 * b * Double(layout.dimension)
        }
        return gradientForm == .gram
            ? Double(layout.dimension * layout.dimension) : 2 * Double(layout.samples * layout.dimension)
    }

    /// The Gram form of data set s: scale·XᵀX (d×d, row-major) and scale·Xᵀy, summed in Double from the stored
    /// X and y (ascending i) and rounded once to the run's precision by the engines.
    public func gram(dataset s: Int) -> (matrix: [Double], vector: [Double]) {
        let (n, d) = (layout.samples, layout.dimension)
        let x = datasets[s].x.doubles
        let y = datasets[s].y.doubles
        var g = [Double](repeating: 0, count: d * d)
        var c = [Double](repeating: 0, count: d)
        for i in 0..<n {
            let row = x[(i * d)..<((i + 1) * d)]
            for j in 0..<d {
                let xij = row[row.startIndex + j]
                if xij == 0 { continue }
                c[j] += xij * y[i]
                for k in 0..<d { g[j * d + k] += xij * row[row.startIndex + k] }
            }
        }
        let scale = gradientScale
        return (g.map { $0 * scale }, c.map { $0 * scale })
    }

    /// Bytes an engine holds per replica (state, w, residual, gradient, integrator buffers, own data) and in
    /// total for the shared data, at this batch's precision: for splitting batches to fit memory.
    public var memoryFootprint: (perReplica: Int, shared: Int) {
        let (n, d, L) = (layout.samples, layout.dimension, layout.layers)
        var per = (2 * L + 3) * d + n  // layers, initial layers, w, g, teacher-side scratch; r
        if update == .flow || representation == .log {
            let comps = representation == .log ? 1 : L
            per += (DormandPrince.stages + 2) * comps * d + (representation == .log ? 4 * d : 0)
        }
        if isStochastic { per += 2 * n + 8 }
        if hasMomentum { per += L * d + 1 }  // batch indices and the epoch's permutation (Int32), scalars
        // The curvature observables' scratch and output rows (Kernels/curvature.cl); pl_constant keeps its basis.
        if let k = observables.sharpnessLanczos(stateSize: L * d) { per += 3 * L * d + 2 * d + n + 2 * k }
        if let m = observables.plLanczos(samples: n, dimension: d) { per += 2 * d + 2 * n + m * n + 2 * m }
        let sharedData = Set(replicas.map(\.dataset)).count < replicas.count
        let data = (n * d + n) * (1 + (datasets.first?.testSamples ?? 0) / max(1, n))
        if !sharedData { per += data }
        // The panels of each data set that whole blocks share (CPU/Products.swift `SharedPanels`; on CPU devices the
        // block kernel's, `PanelPacking`): X's rows and columns six at a time, or X's rows and Σ's in the Gram form.
        let six = { (m: Int) in (m + 5) / 6 * 6 }
        let panels = six(n) * d + (gradientForm == .gram ? six(d) * d : n * six(d))
        return (
            per * precision.byteCount + 64, sharedData ? datasets.count * (data + panels) * precision.byteCount : 0
        )
    }
}
