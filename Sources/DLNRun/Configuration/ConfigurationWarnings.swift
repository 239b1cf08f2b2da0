import DLNModel
import Foundation

// The deep models' initialisation choices, read by the key table (ConfigurationKeys.swift).
extension InitEntries: ChoiceValue {}
extension InitSigns: ChoiceValue {}

extension Configuration {
    /// What is valid but almost certainly not meant, one line each (printed by `dlnsim run` and `--check` on stderr,
    /// and listed in manifest.json's "warnings").
    public var warnings: [String] { [identicalSeedsWarning, unsignedDeepWarning].compactMap { $0 } }

    /// `deep` with equal positive layer scales keeps its layers equal and positive (a layer reaches 0 only in the limit
    /// t → ∞), so w ≥ 0 for ever: a teacher with negative entries can never be fitted there.
    var unsignedDeepWarning: String? {
        guard (grid.parameterization ?? [model.parameterization]).contains(.deep), problem.files == nil,
            problem.teacherValues != .ones, model.initEntries == .constant, model.initSigns == .positive
        else { return nil }
        let scales = model.layerScales ?? [1]
        guard let first = scales.first, first > 0, scales.allSatisfy({ $0 == first }) else { return nil }
        return
            "warning: parameterization deep with equal positive layer scales keeps w ≥ 0, but the teacher "
            + "(problem.teacher.values: \(problem.teacherValues.rawValue)) has negative entries, which it can never "
            + "fit; use parameterization: deep_pm (w = ∏u_l − ∏v_l), or distinct model.init.layer_scales"
    }

    /// For deep and deep_pm: which late-time regime the initial layers put the flow in (printed by `--check`), from
    /// the per-coordinate structure that the mirror-flow analysis needs (docs/model.md §1.1): nil for other models.
    public var deepRegime: String? {
        let models = grid.parameterization ?? [model.parameterization]
        guard models.contains(where: \.isDeep), problem.files?.u0 == nil else { return nil }
        let scales = (model.layerScales ?? [1]).map(abs)
        let smallest = scales.min()!
        if model.initEntries == .gaussian {
            return
                "deep initialisation: Gaussian layer entries, so the smallest |u_l(0)| of each coordinate is unique "
                + "(with probability 1): mirror flow, a positive PL constant at the limit, exponential late "
                + "convergence; `analyze` predicts the limit and the rate"
        }
        if scales.allSatisfy({ $0 == smallest }) {
            return
                "deep initialisation: equal layer scales, so the layers stay equal in magnitude and no coordinate of a "
                + "layer product changes sign; deep_pm keeps a positive PL constant at the limit (a coordinate that "
                + "ends at 0 keeps its layers at α), deep loses it where w_i → 0 and its late decay can slow to a "
                + "power law; distinct model.init.layer_scales give a PL limit"
        }
        if scales.filter({ $0 == smallest }).count > 1 {
            return
                "deep initialisation: a tie for the smallest of unequal layer scales \(model.layerScales ?? []): "
                + "outside the mirror-flow description (`analyze` gives no prediction); make the smallest unique"
        }
        return
            "deep initialisation: distinct layer scales with a unique smallest: mirror flow, a positive PL constant "
            + "at the limit, exponential late convergence; `analyze` predicts the limit and the rate"
    }

    /// Whether a parameterization's initial layers are drawn at random (so that seeds differ), here.
    func hasRandomInitialisation(_ p: Parameterization) -> Bool {
        if problem.files?.u0 != nil { return false }  // the initial u, v come from files
        switch p {
        case .pm: return false  // u(0) = v(0) = α
        case .deep, .deepPM: return model.initEntries == .gaussian || model.initSigns == .random  // else α·c_l
        case .uv: return model.uNoise > 0 || model.vNoise > 0
        }
    }

    /// Whether an update rule draws nothing at random (sgd draws its batches).
    static func isDeterministic(_ u: UpdateRule) -> Bool {
        switch u {
        case .gd, .multiplicative, .flow: return true
        case .sgd: return false
        }
    }

    /// Whether some grid point adds label or gradient noise (drawn from each replica's seed).
    var hasStochasticNoise: Bool {
        (grid.labelNoise ?? [training.labelNoise]).contains { $0 > 0 }
            || (grid.gradientNoise ?? [training.gradientNoise]).contains { $0 > 0 }
    }

    /// The seeds of a grid point can only differ through the data (one set per seed with `data: independent`), the
    /// initialisation or the updates. When none of them depends on the seed, every seed gives the same trajectory.
    var identicalSeedsWarning: String? {
        guard seeds > 1 else { return nil }
        let userData = problem.files != nil
        guard userData || problem.sharing == .shared else { return nil }
        guard (grid.update ?? [training.update]).allSatisfy(Self.isDeterministic), !hasStochasticNoise else {
            return nil
        }
        let models = grid.parameterization ?? [model.parameterization]
        let fixed = models.filter { !hasRandomInitialisation($0) }
        guard !fixed.isEmpty else { return nil }
        let affected = gridPoints / models.count * fixed.count
        let which =
            fixed.count == models.count
            ? (gridPoints == 1 ? "the \(seeds) seeds" : "in all \(gridPoints) grid points, the \(seeds) seeds of each")
            : "in the \(affected) grid points (of \(gridPoints)) with parameterization "
                + fixed.map(\.rawValue).joined(separator: ", ") + ", the \(seeds) seeds of each"
        let data = userData ? "the same user data (problem.files) for every seed" : "shared data (problem.data: shared)"
        let initialisation =
            problem.files?.u0 != nil
            ? "initial layers from files"
            : "deterministic initialisation of " + fixed.map(\.rawValue).joined(separator: ", ")
        let remedy =
            (userData ? "" : "use problem.data: independent, or ")
            + "a random initialisation (parameterization uv with model.init.u_noise or v_noise > 0)"
            + (userData ? ", or seeds: 1" : "")
        return
            "warning: \(which) can only give identical trajectories (\(data), "
            + "\(initialisation), deterministic updates), so their spread is 0; \(remedy)"
    }
}
