import DLNModel
import DLNTheory
import Foundation

extension DMFTSolverKind: ChoiceValue {}

extension DMFTMapping {
    /// Steps up to which a GD run keeps the discrete-time solver by default (exact step for step and affordable).
    public static let exactStepLimit = 1000

    /// The solver of one grid point: `theory.solver` when given; otherwise flow for update flow, and for update gd
    /// when GD follows the flow — η_D·κ₀ ≤ 1, with κ₀ = 2(α² + 1 + σ)(1 + √δ)² the fastest initial relaxation
    /// rate, so that GD contracts every mode monotonically and its gap to the flow is first order in η_D·κ₀ — and
    /// the run is longer than `exactStepLimit` steps (shorter runs keep the exact discrete solver); gd otherwise.
    public static func solver(_ settings: DMFTSettings, problem: DMFTProblem, flowRun: Bool) -> DMFTSolverKind {
        if let chosen = settings.solver { return chosen }
        if flowRun { return .flow }
        let followsFlow = problem.eta * DMFTFlowGrid.stiffness(problem) <= 1
        return followsFlow && problem.steps > exactStepLimit ? .flow : .gd
    }
}
