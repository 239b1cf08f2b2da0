/// The widths n_0, …, n_L of a full-matrix deep linear network f(x) = W_L⋯W_1·x, W_l ∈ ℝ^{n_l×n_{l−1}}, and
/// where each piece of a replica's vectors lives (the layout of Kernels/matrix.cl).
public struct MatrixShape: Sendable, Hashable {
    /// n_0 (the input dimension d), …, n_L (the number of outputs).
    public let widths: [Int]

    /// A shape from its widths (at least two, all positive).
    public init(widths: [Int]) {
        precondition(widths.count >= 2 && widths.allSatisfy { $0 > 0 })
        self.widths = widths
    }

    /// Depth L (the number of weight matrices).
    public var depth: Int { widths.count - 1 }
    /// Inputs n_0.
    public var inputs: Int { widths[0] }
    /// Outputs n_L.
    public var outputs: Int { widths[depth] }
    /// Parameters per replica, P = Σ_l n_l·n_{l−1}.
    public var parameterCount: Int { (1...depth).reduce(0) { $0 + widths[$1] * widths[$1 - 1] } }
    /// Where W_l (l = 1…L) starts in a replica's parameter vector; W_l[i][j] is at offset + i·n_{l−1} + j.
    public func layerOffset(_ l: Int) -> Int { (1..<l).reduce(0) { $0 + widths[$1] * widths[$1 - 1] } }
    /// Activations per replica for n samples: n·Σ_{l≥1} n_l.
    public func activationCount(samples n: Int) -> Int { n * widths.dropFirst().reduce(0, +) }
    /// Where h_l (l = 1…L) starts in a replica's activations; h_l[μ][i] is at offset + μ·n_l + i.
    public func activationOffset(_ l: Int, samples n: Int) -> Int { n * widths[1..<l].reduce(0, +) }
    /// Length of each of the two back-propagation vectors: n·max_{l≥1} n_l.
    public func signalCount(samples n: Int) -> Int { n * widths.dropFirst().max()! }
    /// Multiply-adds of one gradient step of one replica on n samples, counted as batched-GEMM implementations
    /// count them: the forward chain n·Σ_l n_l·n_{l−1}, the layer gradients as many again, and the
    /// back-propagated signals n·Σ_{l≥2} n_l·n_{l−1} (the output residual and the update are not counted).
    public func stepMultiplyAdds(samples n: Int) -> Int {
        let products = (1...depth).map { widths[$0] * widths[$0 - 1] }
        return n * (2 * products.reduce(0, +) + products.dropFirst().reduce(0, +))
    }
}

/// One data set of the matrix model: X (n×n_0) and Y (n×n_L), row-major.
public struct MatrixData: Sendable {
    /// The inputs, row-major n×n_0.
    public let x: RealArray
    /// The targets, row-major n×n_L.
    public let y: RealArray

    /// A data set.
    public init(x: RealArray, y: RealArray) {
        self.x = x
        self.y = y
    }
}

/// Everything an engine needs to run B replicas of one full-matrix network: data, per-replica step sizes and
/// weight decays, and the initial layers. Built on the host, deterministically from the configuration.
public struct MatrixBatch: Sendable {
    /// The widths.
    public let shape: MatrixShape
    /// Samples n.
    public let samples: Int
    /// The arithmetic's precision.
    public let precision: Precision
    /// The data sets; replica b uses `datasets[dataset[b]]`.
    public let datasets: [MatrixData]
    /// Each replica's data set.
    public let dataset: [Int]
    /// Each replica's step size η.
    public let eta: [Double]
    /// Each replica's λ_u, the coefficient of W_l in its gradient.
    public let lambdaU: [Double]
    /// The loss's scale in the gradient: 1/n (mean) or 1 (sum).
    public let gradientScale: Double
    /// The loss's scale: 1/(2n) (mean) or 1/2 (sum).
    public let lossScale: Double
    /// The initial parameters, replica-major: replica b's at b·P ..< (b+1)·P (W_1, then W_2, … row-major).
    public let initial: [Double]
    /// Matrix sensing: each data set's measurements (then the data sets are X = I_{n_0}, n = n_0, and the loss is the
    /// measurements' (Kernels/matrix_sensing.cl)); nil: regression on the data sets.
    public let measurements: [MatrixMeasurements]?
    /// The symmetric factorisation W_eff = U·Uᵀ (widths [d, r, d]): W_1 is kept an exact copy of W_2ᵀ after every step
    /// and in every gradient (Kernels/matrix_sensing.cl, mx_tie); the caller doubles `gradientScale` so that layer
    /// 2's gradient is the tied one, (G + Gᵀ)·U = 2G·U for a symmetric G.
    public let tied: Bool
    /// Mini-batch SGD (`update: sgd`): the replicas' seeds, b and the sampling; nil: full-batch steps.
    public let stochastic: MatrixStochastic?
    /// Label noise, Langevin noise and momentum (`MatrixDynamics`); nil: none. Label noise needs `stochastic` (full
    /// batches: b = n, sequential, which is gradient descent bit for bit).
    public let dynamics: MatrixDynamics?
    /// The learning-rate schedule: step k uses η_b·s_k (s_k rounded once to the precision, multiplied into η in it;
    /// Langevin noise √(2ηT) times √s_k rounded once), as for the diagonal models.
    public let schedule: LearningRateSchedule

    /// A batch; the counts must agree (checked).
    public init(
        shape: MatrixShape, samples: Int, precision: Precision, datasets: [MatrixData], dataset: [Int],
        eta: [Double], lambdaU: [Double], gradientScale: Double, lossScale: Double, initial: [Double],
        measurements: [MatrixMeasurements]? = nil, tied: Bool = false, stochastic: MatrixStochastic? = nil,
        dynamics: MatrixDynamics? = nil, schedule: LearningRateSchedule = .constant
    ) {
        let B = dataset.count
        precondition(B > 0 && eta.count == B && lambdaU.count == B)
        precondition(initial.count == B * shape.parameterCount)
        precondition(dataset.allSatisfy { (0..<datasets.count).contains($0) })
        for data in datasets {
            precondition(data.x.count == samples * shape.inputs && data.y.count == samples * shape.outputs)
        }
        self.shape = shape
        self.samples = samples
        self.precision = precision
        self.datasets = datasets
        self.dataset = dataset
        self.eta = eta
        self.lambdaU = lambdaU
        self.gradientScale = gradientScale
        self.lossScale = lossScale
        self.initial = initial
        if let measurements {
            precondition(measurements.count == datasets.count && samples == shape.inputs)
            let m = measurements[0].count
            precondition(
                m > 0 && measurements.allSatisfy { $0.count == m && $0.a.count == m * shape.outputs * shape.inputs })
        }
        self.measurements = measurements
        precondition(!tied || (shape.depth == 2 && shape.inputs == shape.outputs))
        self.tied = tied
        if let stochastic {
            precondition(stochastic.seeds.count == B)
            precondition(stochastic.batchSizes.allSatisfy { $0 <= (measurements?.first?.count ?? samples) })
        }
        self.stochastic = stochastic
        if let dynamics {
            precondition(dynamics.seeds.count == B && (!dynamics.hasLabelNoise || stochastic != nil))
        }
        self.dynamics = dynamics
        self.schedule = schedule
    }

    /// What a mini-batch draws from: the samples n of a regression, the measurements m of matrix sensing.
    public var rows: Int { measurements?.first?.count ?? samples }

    /// Matrix sensing's measurements per data set, m (0: regression).
    public var measurementCount: Int { measurements?.first?.count ?? 0 }

    /// Replicas B.
    public var replicas: Int { dataset.count }
    /// The block layout of B replicas (its `paddedReplicas` and `index`).
    public var layout: Layout {
        Layout(replicas: replicas, dimension: shape.parameterCount, samples: samples, layers: 1)
    }

    /// Bytes per replica on an engine (parameters, activations, two signals, the gradient for flow) and shared
    /// (the data sets).
    public var memoryFootprint: (perReplica: Int, shared: Int) {
        let P = shape.parameterCount
        let m = measurementCount
        let per =
            (2 * P + shape.activationCount(samples: samples) + 2 * shape.signalCount(samples: samples) + 4 + m)
        let shared =
            datasets.count * (samples * (shape.inputs + shape.outputs) + m * (shape.inputs * shape.outputs + 1))
        return (per * precision.byteCount, shared * precision.byteCount)
    }

    /// The replicas in `range` as a batch of their own.
    public func slice(_ range: Range<Int>) -> MatrixBatch {
        let P = shape.parameterCount
        return MatrixBatch(
            shape: shape, samples: samples, precision: precision, datasets: datasets,
            dataset: Array(dataset[range]), eta: Array(eta[range]), lambdaU: Array(lambdaU[range]),
            gradientScale: gradientScale, lossScale: lossScale,
            initial: Array(initial[(range.lowerBound * P)..<(range.upperBound * P)]), measurements: measurements,
            tied: tied, stochastic: stochastic?.slice(range), dynamics: dynamics?.slice(range), schedule: schedule)
    }

    /// The same batch with mini-batch SGD as `stochastic` says (nil: full-batch steps).
    public func with(stochastic: MatrixStochastic?) -> MatrixBatch { with(stochastic: stochastic, dynamics: dynamics) }

    /// The same batch with mini-batch SGD and label noise, Langevin noise and momentum as given (nil: none).
    public func with(stochastic: MatrixStochastic?, dynamics: MatrixDynamics?) -> MatrixBatch {
        MatrixBatch(
            shape: shape, samples: samples, precision: precision, datasets: datasets, dataset: dataset, eta: eta,
            lambdaU: lambdaU, gradientScale: gradientScale, lossScale: lossScale, initial: initial,
            measurements: measurements, tied: tied, stochastic: stochastic, dynamics: dynamics, schedule: schedule)
    }

    /// The same batch with a learning-rate schedule.
    public func with(schedule: LearningRateSchedule) -> MatrixBatch {
        MatrixBatch(
            shape: shape, samples: samples, precision: precision, datasets: datasets, dataset: dataset, eta: eta,
            lambdaU: lambdaU, gradientScale: gradientScale, lossScale: lossScale, initial: initial,
            measurements: measurements, tied: tied, stochastic: stochastic, dynamics: dynamics, schedule: schedule)
    }
}

/// An engine for the matrix model: `initialize` → `step(count:)` → `loss()` / `parameters()`. The CPU engine and
/// the OpenCL engine compute the same operations in the same order (Kernels/matrix.cl), so that on a correctly
/// rounding device (PoCL) their parameters agree bit for bit.
public protocol MatrixEngine: AnyObject {
    /// Where the computation runs, in words.
    var deviceDescription: String { get }
    /// Loads a batch: data, per-replica scalars and the initial layers.
    func initialize(_ batch: MatrixBatch) throws(DLNError)
    /// Advances every replica by `count` gradient-descent steps (mini-batch steps with `MatrixBatch.stochastic`).
    func step(count: Int) throws(DLNError)
    /// The steps taken since `initialize`: mini-batch SGD draws step k's rows by it. A restore from a checkpoint
    /// sets it to the checkpoint's step (and the epoch permutations are redrawn).
    var stepsTaken: Int { get set }
    /// The train loss of every replica at the current parameters (the batch's normalisation).
    func loss() throws(DLNError) -> [Double]
    /// The current parameters, replica-major (as `MatrixBatch.initial`), in the batch's precision.
    func parameters() throws(DLNError) -> RealArray
    /// Replaces every replica's parameters (replica-major, the batch's precision).
    func setParameters(_ values: RealArray) throws(DLNError)
    /// F = ∇ℓ + λ_u·W of every replica at the current parameters (replica-major): gradient flow is Ẇ = −F.
    func gradient() throws(DLNError) -> RealArray
    /// Momentum's buffers m = θ_k − θ_{k−1} (replica-major, as `parameters()`); nil without momentum.
    func velocity() throws(DLNError) -> RealArray?
    /// Replaces every replica's momentum buffers (a restore from a checkpoint).
    func setVelocity(_ values: RealArray) throws(DLNError)
}
