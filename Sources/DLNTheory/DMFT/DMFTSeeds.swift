import DLNModel
import Foundation

extension DMFTSolver {
    /// Solves the problem `settings.errorSeeds` times with independent common random numbers (seeds `seed`,
    /// `seed` + 1, …; each solve after the first starts from the first one's fixed point, so it needs only the
    /// iterations that move it to its own) and reports their mean, with the standard error of that mean from
    /// their spread: s.e. = std over the solves / √(solves). The per-path spread of a single solve misses the
    /// Monte-Carlo noise of its fixed point (C_r, R_r), which dominates once the train loss is small
    /// (docs/model.md §6.4). With one seed, the single solve and its per-path standard errors.
    public static func solve(
        _ problem: DMFTProblem, settings: DMFTSettings,
        engines: (DMFTSettings) throws(DLNError) -> any DMFTPathEngine,
        progress: ((Int, Double) -> Void)? = nil
    ) throws(DLNError) -> DMFTResult {
        try solveSeeds(settings, progress: progress) { s, start, report throws(DLNError) in
            try solve(problem, settings: s, engine: engines(s), start: start, progress: report)
        }
    }

    /// The seed loop of `solve(_:settings:engines:progress:)` for any solver: `one` solves with the settings given
    /// (its seed), from a start (C_r, R_r) when given, reporting (iteration, residual).
    public static func solveSeeds(
        _ settings: DMFTSettings, progress: ((Int, Double) -> Void)? = nil,
        one: (DMFTSettings, (correlation: [Double], memory: [Double])?, ((Int, Double) -> Void)?) throws(DLNError)
            -> DMFTResult
    ) throws(DLNError) -> DMFTResult {
        let first = try one(settings, nil, progress)
        let problem = first.problem
        let count = max(1, settings.errorSeeds)
        // A solve that did not converge is flagged as such; more seeds would not make its curve trustworthy.
        guard count > 1, first.converged, !first.correlation.isEmpty else { return first }
        var runs = [first]
        var iterations = first.iterations
        for r in 1..<count {
            var s = settings
            s.seed = settings.seed + r
            let offset = iterations
            let run = try one(s, (first.correlation, first.response), { progress?(offset + $0, $1) })
            iterations += run.iterations
            runs.append(run)
        }
        let R = Double(count)
        var mean: [String: [Double]] = [:]
        var se: [String: [Double]] = [:]
        for name in DMFTResult.observables {
            let K = first.mean[name]!.count
            mean[name] = (0..<K).map { k in runs.reduce(0) { $0 + $1.mean[name]![k] } / R }
            se[name] = (0..<K).map { k in
                let m = mean[name]![k]
                let ss = runs.reduce(0) { $0 + ($1.mean[name]![k] - m) * ($1.mean[name]![k] - m) }
                return (ss / (R - 1)).squareRoot() / R.squareRoot()
            }
        }
        let residual = runs.contains { $0.residual.isNaN } ? .nan : runs.map(\.residual).max()!
        var out = DMFTResult(
            problem: problem, settings: settings, iterations: iterations, residual: residual,
            converged: runs.allSatisfy(\.converged), history: runs.flatMap(\.history),
            seconds: runs.reduce(0) { $0 + $1.seconds }, engine: first.engine, mean: mean, standardError: se,
            correlation: first.correlation, response: first.response, parameterCorrelation: first.parameterCorrelation,
            parameterResponse: first.parameterResponse)
        out.grid = first.grid
        return out
    }
}
