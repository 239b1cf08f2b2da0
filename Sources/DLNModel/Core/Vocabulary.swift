/// The names a configuration uses for the model, the update, the loss and the data: the vocabulary every
/// layer shares (the run reads them from YAML, the engines and the theory act on them).

/// How w is built from the layers (docs/model.md §1.1, §4).
public enum Parameterization: String, Sendable, Codable, CaseIterable {
    /// w = (u⊙u − v⊙v)/2 with u(0) = v(0) = α (w(0) = 0).
    case pm
    /// w = u⊙v with u(0) = α(1 + s·ξ), v(0) = α·s′·ξ′.
    case uv
    /// w = u₁⊙…⊙u_L (depth L ≥ 2), u_l(0) = α·c_l.
    case deep
    /// w = u₁⊙…⊙u_L − v₁⊙…⊙v_L (depth L ≥ 2, 2L layer vectors), u_l(0) = v_l(0) = α·c_l (w(0) = 0).
    case deepPM = "deep_pm"

    /// Whether `model.depth` sets the number of factors (deep, deep_pm).
    public var isDeep: Bool { self == .deep || self == .deepPM }
}

/// The entries of the deep models' initial layers (`model.init.entries`).
public enum InitEntries: String, Sendable, Codable, CaseIterable {
    /// u_l,i(0) = α·c_l.
    case constant
    /// u_l,i(0) = α·c_l·ξ_l,i with ξ ~ N(0, 1) drawn per replica (signs random too).
    case gaussian
}

/// The signs of the deep models' initial coordinates (`model.init.signs`).
public enum InitSigns: String, Sendable, Codable, CaseIterable {
    /// As the scales give them (positive by default).
    case positive
    /// The first layer of each product times ±1 per coordinate, drawn per replica.
    case random
}

/// The parameter update.
public enum UpdateRule: String, Sendable, Codable, CaseIterable {
    /// Plain gradient descent with step η on every layer.
    case gd
    /// `pm` only: u ← u·exp(−η(g+λ)), v ← v·exp(η(g−λ)) (mirror descent; exact conservation laws).
    case multiplicative
    /// Gradient flow itself, by an adaptive Dormand–Prince 5(4) integrator with a step size per replica.
    case flow
    /// Mini-batch stochastic gradient descent: each step the gradient of b rows (`training.batch_size`), drawn as
    /// `training.sampling` says (docs/model.md, "Stochastic training").
    case sgd
}

/// How `update: sgd` picks each step's batch (docs/model.md, "Stochastic training").
public enum Sampling: String, Sendable, Codable, CaseIterable {
    /// b indices drawn uniformly from 0..<n each step, independently (repeats possible).
    case withReplacement = "with_replacement"
    /// A fresh permutation of the rows per epoch, batches taken from it in order (the last one of an epoch the
    /// shorter remainder when b does not divide n).
    case epochs
    /// Batches of consecutive rows in index order, no shuffling (the last one of a pass the remainder).
    case sequential
}

/// The loss normalisation (docs/model.md §1.2).
public enum LossNormalization: String, Sendable, Codable, CaseIterable {
    /// ℓ = (1/2n)‖Xw − y‖² (Pesme/Even; N_M).
    case mean
    /// ℓ = ½‖Xw − y‖² (the DMFT paper; N_D).
    case sum
}

/// Variance of the design's entries.
public enum DesignVariance: String, Sendable, Codable, CaseIterable {
    /// x ~ N(0, I).
    case one = "1"
    /// x ~ N(0, I/d).
    case inverseD = "1/d"
}

/// Values of the teacher on its support.
public enum TeacherValues: String, Sendable, Codable, CaseIterable {
    /// w*_i = 1.
    case ones
    /// w*_i = ±1 with equal probability.
    case signs
    /// w*_i ~ N(0, 1).
    case gaussian
}

/// How the teacher's support is drawn.
public enum TeacherSupport: String, Sendable, Codable, CaseIterable {
    /// Each coordinate independently with probability ρ.
    case bernoulli
    /// Exactly round(ρ·d) coordinates, uniformly at random.
    case exact
}

/// Whether replicas share one data set.
public enum DataSharing: String, Sendable, Codable, CaseIterable {
    /// One (X, y) for all replicas; they differ in α, λ, η and initialisation.
    case shared
    /// Each seed its own (X, y), drawn from its own data seed (paired across grid points).
    case independent
}

/// The order in which a gradient step sums the residual r_i = Σ_j X_ij·w_j − y_i (docs/model.md, "Summation
/// orders"). Every engine and kernel sums a replica's residual in its batch's order, so the engines stay
/// bit-identical in both; the gradient g_j = Σ_i X_ij·r_i is one chain in ascending i in both.
public enum SummationOrder: String, Sendable, Codable, CaseIterable {
    /// One chain of fused multiply-adds over ascending j from 0, then − y_i.
    case ascending
    /// Sixteen partial sums p_k (k = 0…15), each a chain of fused multiply-adds over j ≡ k (mod 16) ascending from 0
    /// (X and w taken as zero from d up to the next multiple of 16), added in the fixed tree
    /// ((q₀ + q₂) + (q₁ + q₃)) with q_k = t_k + t_{k+4} and t_k = p_k + p_{k+8}; then − y_i. It lets one replica's
    /// step vectorise along the rows of its own X, one pass over X per step (regime I).
    case strided
}
