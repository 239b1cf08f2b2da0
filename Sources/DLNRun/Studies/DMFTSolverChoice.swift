import DLNModel
import DLNTheory
import Foundation

extension DMFTSolverKind: ChoiceValue {}

extension ConfigurationSlot {
    /// A `theory:` setting; reads DMFTSettings' default when the section is absent (the manifest's default).
    static func theory(_ kp: WritableKeyPath<DMFTSettings, T> & Sendable) -> Self {
        Self(
            get: { ($0.theory ?? DMFTSettings())[keyPath: kp] },
            set: { c, v in if let v { c.theory?[keyPath: kp] = v } },
            optional: false)
    }
    /// An optional `theory:` setting.
    static func optionalTheory(_ kp: WritableKeyPath<DMFTSettings, T?> & Sendable) -> Self {
        Self(get: { $0.theory?[keyPath: kp] ?? nil }, set: { c, v in c.theory?[keyPath: kp] = v }, optional: true)
    }
}

extension ConfigurationKeys {
    /// `theory.two_time`, `theory.solver`, `theory.grid_ratio`, `theory.grid_tolerance` (after `theory.seed`).
    static let theoryFlow: [ConfigurationKey] = [
        .flag("theory.two_time", .theory(\.twoTime)),
        .choice("theory.solver", v1: "theory.solver", .optionalTheory(\.solver)),
        .number("theory.grid_ratio", v1: "theory.grid_ratio", .theory(\.gridRatio)) {
            $0 >= 1e-4 && $0 <= 1 ? nil : "must be between 1e-4 and 1"
        },
        .number("theory.grid_tolerance", v1: "theory.grid_tolerance", .theory(\.gridTolerance), tolerance)
    ]
}

extension DMFTMapping {
    /// Steps up to which a GD run keeps the discrete-time solver by default (exact step for step and affordable).
    public static let exactStepLimit = 1000

    /// The solver of one grid point: `theory.solver` when given; otherwise flow for update flow, and for a GD run
    /// that follows the flow (`followsFlow`: η_D·κ₀ ≤ 1 and more than `exactStepLimit` steps), gd for every other
    /// GD run (the exact discrete solver). κ₀ = 2(α² + 1 + σ)(1 + √δ)² bounds the fastest initial relaxation rate,
    /// so at η_D·κ₀ ≤ 1 GD contracts every mode monotonically and its gap to the flow is first order in η_D·κ₀ and
    /// confined to the first relaxation (docs/theory.md); a short run keeps the exact solver, which is affordable.
    public static func solver(_ settings: DMFTSettings, problem: DMFTProblem, flowRun: Bool) -> DMFTSolverKind {
        if let chosen = settings.solver { return chosen }
        return flowRun || followsFlow(problem) ? .flow : .gd
    }

    /// Whether GD at this step size follows the gradient flow closely enough for the flow solver to describe it
    /// (η_D·κ₀ ≤ 1), and the run is longer than `exactStepLimit` steps.
    public static func followsFlow(_ problem: DMFTProblem) -> Bool {
        problem.eta * DMFTFlowGrid.stiffness(problem) <= 1 && problem.steps > exactStepLimit
    }
}
