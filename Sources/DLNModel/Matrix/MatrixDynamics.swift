/// The matrix model's stochastic and momentum updates besides mini-batch sampling (`training.label_noise`,
/// `gradient_noise`, `momentum`, `nesterov`), per replica. A step of replica b, on its step's rows (all of them, or
/// the mini-batch that `MatrixStochastic` draws):
/// - label noise σ_ℓ: the targets it sees are y_{i,c} + σ_ℓ·ξ, ξ drawn fresh each step for row i and output c
///   (Philox stream 9, index i·n_L + c; matrix sensing: index k of the measurement);
/// - momentum β (heavy ball): θ' = (θ − η·F(θ)) + β·m; Nesterov: θ' = u − η·F(u) at the look-ahead u = θ + β·m; then
///   m ← θ' − θ. F = ∇ℓ + λ·W is the gradient-descent step's, so that β = 0 is gradient descent bit for bit;
/// - Langevin noise T: after the update, every parameter e gains √(2ηT)·ξ (stream 10, index e; √(2ηT) rounded once
///   to the batch's precision).
/// Twins: Kernels/matrix_sgd.cl's mx_label_noise, mx_momentum_pre, mx_momentum_post and mx_langevin, and
/// `MatrixCPUBatch.dynamicStep`.
public struct MatrixDynamics: Sendable, Hashable {
    /// Each replica's seed (the Philox key of its noise).
    public let seeds: [Int]
    /// σ_ℓ per replica (0: none).
    public let labelNoise: [Double]
    /// T per replica (0: none).
    public let gradientNoise: [Double]
    /// β per replica (0: none).
    public let momentum: [Double]
    /// The look-ahead form of momentum.
    public let nesterov: Bool

    /// A description: one value per replica in every list (checked).
    public init(seeds: [Int], labelNoise: [Double], gradientNoise: [Double], momentum: [Double], nesterov: Bool) {
        let B = seeds.count
        precondition(B > 0 && labelNoise.count == B && gradientNoise.count == B && momentum.count == B)
        self.seeds = seeds
        self.labelNoise = labelNoise
        self.gradientNoise = gradientNoise
        self.momentum = momentum
        self.nesterov = nesterov
    }

    /// Whether any replica has label noise (then every step works on copies of its rows: `MatrixStochastic`).
    public var hasLabelNoise: Bool { labelNoise.contains { $0 != 0 } }
    /// Whether any replica has Langevin noise.
    public var hasLangevin: Bool { gradientNoise.contains { $0 != 0 } }
    /// Whether the state carries momentum buffers (`nesterov` or some β ≠ 0).
    public var hasMomentum: Bool { nesterov || momentum.contains { $0 != 0 } }

    /// √(2·η_b·T_b) per replica, as the updates use it.
    public func langevinCoefficients(eta: [Double]) -> [Double] {
        zip(eta, gradientNoise).map { (2 * $0 * $1).squareRoot() }
    }

    /// The replicas in `range`.
    public func slice(_ range: Range<Int>) -> MatrixDynamics {
        MatrixDynamics(
            seeds: Array(seeds[range]), labelNoise: Array(labelNoise[range]),
            gradientNoise: Array(gradientNoise[range]), momentum: Array(momentum[range]), nesterov: nesterov)
    }
}
