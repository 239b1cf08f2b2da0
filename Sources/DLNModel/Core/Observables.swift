/// The observables recorded at every checkpoint, per replica (docs/model.md §3). Every engine computes them on
/// its own side (on the device for OpenCL) with the same operations; only these numbers cross to the host.
///
/// - `train_loss`: ℓ(w), (1/2n)‖Xw − y‖² or ½‖Xw − y‖².
/// - `test_error`: synthetic data, E_gen = ‖w − w*‖²_Σ = v·‖w − w*‖² (v = 1 or 1/d, the design variance); user
///   data, the mean of (x·w − y)² over the held-out set.
/// - `overlap`: ⟨w, w*⟩/d; `norm_sq`: ‖w‖²/d.
/// - `mean_uv`: mean(u⊙v); `mean_q`: mean((u² + v²)/2) (two-layer models; NaN for deep).
/// - `l1_norm`, `l2_norm`: ‖w‖₁, ‖w‖₂; `dist_sq`: ‖w − w*‖².
/// - `conservation`: max_i |C_i(t) − C_i(0)e^{−2λ_u t}| / max_i |C_i(0)| with C = u⊙v (pm), u⊙u − v⊙v (uv), max
///   over l of u_l⊙u_l − u_1⊙u_1 (deep); absolute when C(0) = 0. Zero for gradient flow; GD drifts by O(η²).
/// - `effective_scale_sq_mean`, `_min`, `_l1`: r_i = α_eff,i²/α² with α_eff,i² = u_i·v_i (pm), u_i² − v_i² (uv), the
///   quantity gradient flow conserves and each GD step multiplies by (1 − η²g_i²): mean_i r_i, min_i r_i and
///   Σ|w_i|·r_i / ‖w‖₁ (NaN when w = 0); NaN for deep and deep_pm.
/// - `support@τ`: #{i : |w_i| > τ}.
/// - `precision@τ`, `recall@τ`: of supp(w*) by {i : |w_i| > τ} (1 when the predicted, resp. true, support is
///   empty).
///
/// - `sharpness` (opt-in, `record.sharpness`): the largest eigenvalue of the loss Hessian in all layer values;
///   `pl_constant` (opt-in, `record.pl_constant`): the smallest non-zero eigenvalue of the tangent kernel
///   scale·X·diag(Σ_l (∂w/∂u_l)²)·Xᵀ. Both by Lanczos on the engine (Kernels/curvature.cl, CPU/Curvature.swift).
///
/// Quantities that need the teacher are NaN when it is unknown (user data without `w_star`).
public struct ObservableSet: Sendable, Hashable {
    /// The support thresholds τ.
    public let thresholds: [Double]

    /// The fixed observables' names, in output order.
    public static let fixed = Observable.allCases.map(\.name)

    /// `sharpness`: the Lanczos steps (Hessian-vector products) per observation; nil: not recorded.
    public let sharpnessSteps: Int?
    /// `pl_constant`: the most Lanczos steps (tangent-kernel products) per observation; nil: not recorded.
    public let plSteps: Int?

    /// Observables for a list of support thresholds, with the opt-in curvature observables (their steps).
    public init(thresholds: [Double], sharpnessSteps: Int? = nil, plSteps: Int? = nil) {
        self.thresholds = thresholds
        self.sharpnessSteps = sharpnessSteps
        self.plSteps = plSteps
    }

    /// The names of the curvature observables recorded, in output order (after every other observable).
    public var curvatureNames: [String] {
        (sharpnessSteps == nil ? [] : [Self.sharpness]) + (plSteps == nil ? [] : [Self.plConstant])
    }

    /// The Lanczos steps of `sharpness` for a state of P layer values: min(steps, P) (nil: not recorded).
    public func sharpnessLanczos(stateSize P: Int) -> Int? { sharpnessSteps.map { max(1, min($0, P)) } }

    /// The Lanczos steps of `pl_constant` for n samples in d dimensions: min(steps, n, d + 1) (nil: not recorded).
    /// The tangent kernel has rank at most min(n, d); one more step lets a start vector with a component in its
    /// null space (n > d) still span the range.
    public func plLanczos(samples n: Int, dimension d: Int) -> Int? { plSteps.map { max(1, min($0, n, d + 1)) } }

    /// The curvature observables' names (files `sharpness.npy`, `pl_constant.npy`).
    public static let sharpness = "sharpness"
    public static let plConstant = "pl_constant"

    /// Every name, in output order (the kernels write them in this order).
    public var names: [String] {
        Self.fixed
            + thresholds.flatMap { t in ["support@\(format(t))", "precision@\(format(t))", "recall@\(format(t))"] }
            + curvatureNames
    }

    /// Number of observables.
    public var count: Int { kernelCount + curvatureNames.count }

    /// Number of observables that loss.cl and observe.cl write (all but the curvature observables).
    public var kernelCount: Int { Self.fixed.count + 3 * thresholds.count }

    /// The `-D` knobs that place each observable in a kernel's output row (observe.cl): `OBS_<NAME>` is the
    /// position of a fixed observable among those after the train loss (which loss.cl computes apart),
    /// `OBS_SUPPORT` that of the first support observable, and `NTHRESH` the number of thresholds. The kernels
    /// and the CPU twin both write by these positions, so this list is the one place that orders them.
    public var kernelOptions: String {
        let fixed = Observable.allCases.filter { $0 != .trainLoss }
        return fixed.map { " -D \($0.kernelKnob)=\($0.index - 1)" }.joined()
            + " -D OBS_SUPPORT=\(fixed.count) -D NTHRESH=\(thresholds.count)"
    }

    /// The label of an observable in figures (a support observable's name as it is).
    public static func label(_ name: String) -> String {
        switch name {
        case sharpness: "sharpness λ_max(∇²ℓ)"
        case plConstant: "PL constant μ"
        default: Observable(rawValue: name)?.label ?? name
        }
    }

    func format(_ t: Double) -> String {
        var s = "\(t)"
        if s.hasSuffix(".0") { s.removeLast(2) }
        return s
    }
}

/// The fixed observables, in output order (the kernels write them in this order): the file `<name>.npy`, the
/// label in figures and the index in `Observation.values`.
public enum Observable: String, Sendable, CaseIterable {
    case trainLoss = "train_loss"
    case testError = "test_error"
    case overlap
    case normSq = "norm_sq"
    case meanUV = "mean_uv"
    case meanQ = "mean_q"
    case l1Norm = "l1_norm"
    case l2Norm = "l2_norm"
    case distSq = "dist_sq"
    case conservation
    case effectiveScaleSqMean = "effective_scale_sq_mean"
    case effectiveScaleSqMin = "effective_scale_sq_min"
    case effectiveScaleSqL1 = "effective_scale_sq_l1"

    /// The name of its output file and stats.csv rows.
    public var name: String { rawValue }
    /// Its index among the observables of every `ObservableSet`.
    public var index: Int { Self.allCases.firstIndex(of: self)! }
    /// Its `-D` knob in observe.cl (`OBS_TEST_ERROR`, …): its position in the kernel's output row.
    public var kernelKnob: String { "OBS_" + rawValue.uppercased() }
    /// Its label in figures.
    public var label: String {
        switch self {
        case .trainLoss: "train loss"
        case .testError: "test error"
        case .overlap: "⟨w, w*⟩/d"
        case .normSq: "‖w‖²/d"
        case .meanUV: "mean(u⊙v)"
        case .meanQ: "mean((u²+v²)/2)"
        case .l1Norm: "‖w‖₁"
        case .l2Norm: "‖w‖₂"
        case .distSq: "‖w − w*‖²"
        case .conservation: "conservation residual"
        case .effectiveScaleSqMean: "mean (α_eff/α)²"
        case .effectiveScaleSqMin: "min (α_eff/α)²"
        case .effectiveScaleSqL1: "|w|-weighted (α_eff/α)²"
        }
    }
}
