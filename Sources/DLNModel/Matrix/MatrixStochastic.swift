/// Mini-batch SGD of the matrix model (`training.update: sgd`): which replicas draw which rows, and the gradient's
/// scale per batch. Each step, replica b uses the rows `BatchSampler.indices` draws for its seed and the step (the
/// diagonal models' draws, Kernels/stochastic.cl's `dln_sgd_indices`), sorted ascending: the samples of a regression
/// or the measurements of matrix sensing. The step is the full-batch step on those rows, with the loss's scale
/// taken over the batch (1/|B_k| for the mean loss, 1 for the sum).
public struct MatrixStochastic: Sendable, Hashable {
    /// Each replica's seed (the Philox key of its draws).
    public let seeds: [Int]
    /// Rows per step b of each replica. An engine batch has one b (`isUniform`): `MatrixRun` slices a run at every
    /// change of b (the axis `grid.batch_size`).
    public let batchSizes: [Int]
    /// Rows per step b (the first replica's: every replica's in an engine batch).
    public var batchSize: Int { batchSizes[0] }
    /// Whether every replica draws the same number of rows (what an engine runs).
    public var isUniform: Bool { batchSizes.allSatisfy { $0 == batchSizes[0] } }
    /// How the rows are drawn.
    public let sampling: Sampling
    /// Whether the loss is the mean over the batch (scale 1/|B_k|) or the sum (scale 1).
    public let meanLoss: Bool
    /// The factor the gradient's scale carries besides the loss's normalisation: 2 for the symmetric factorisation
    /// (its tied gradient), else 1.
    public let factor: Double

    /// A description; b ≥ 1 (checked) and one seed per replica.
    public init(seeds: [Int], batchSize: Int, sampling: Sampling, meanLoss: Bool, factor: Double = 1) {
        self.init(
            seeds: seeds, batchSizes: [Int](repeating: batchSize, count: seeds.count), sampling: sampling,
            meanLoss: meanLoss, factor: factor)
    }

    /// A description with one b per replica (each ≥ 1, checked).
    public init(seeds: [Int], batchSizes: [Int], sampling: Sampling, meanLoss: Bool, factor: Double = 1) {
        precondition(!seeds.isEmpty && batchSizes.count == seeds.count && batchSizes.allSatisfy { $0 >= 1 })
        self.seeds = seeds
        self.batchSizes = batchSizes
        self.sampling = sampling
        self.meanLoss = meanLoss
        self.factor = factor
    }

    /// The gradient's scale for a batch of `count` rows, as the full batch's is formed: factor·(1/count) (mean) or
    /// factor (sum). With count = n it equals `MatrixBatch.gradientScale` bit for bit.
    public func scale(count: Int) -> Double { meanLoss ? factor * (1 / Double(count)) : factor }

    /// The rows of step `step` out of `rows` (every replica's count is the same: it depends on the step only).
    public func count(step: Int, rows: Int) -> Int {
        switch sampling {
        case .withReplacement: return batchSize
        case .epochs, .sequential:
            let perEpoch = BatchSampler.stepsPerEpoch(n: rows, b: batchSize)
            return Swift.min(batchSize, rows - (step % perEpoch) * batchSize)
        }
    }

    /// The replicas in `range`.
    public func slice(_ range: Range<Int>) -> MatrixStochastic {
        MatrixStochastic(
            seeds: Array(seeds[range]), batchSizes: Array(batchSizes[range]), sampling: sampling, meanLoss: meanLoss,
            factor: factor)
    }

    /// The OpenCL code of a sampling (Kernels/stochastic.cl's DLN_SAMPLING_*).
    public var samplingCode: Int32 {
        switch sampling {
        case .withReplacement: 0
        case .epochs: 1
        case .sequential: 2
        }
    }
}

/// The per-replica state of the draws on the host: the Philox keys and each replica's current epoch permutation.
final class MatrixDraws: @unchecked Sendable {  // blocks touch disjoint replicas
    let keys: [(UInt32, UInt32)]
    let rows: Int
    let perm: UnsafeMutablePointer<Int32>
    let permEpoch: UnsafeMutablePointer<Int64>

    init(_ s: MatrixStochastic, rows: Int) {
        keys = s.seeds.map { StochasticRandom.key(seed: $0) }
        self.rows = rows
        perm = .allocate(capacity: max(1, keys.count * rows))
        permEpoch = .allocate(capacity: keys.count)
        permEpoch.initialize(repeating: -1, count: keys.count)
    }

    deinit {
        perm.deallocate()
        permEpoch.deallocate()
    }
}
