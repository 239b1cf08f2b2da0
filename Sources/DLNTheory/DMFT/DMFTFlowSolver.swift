import DLNModel
import Foundation

/// The gradient-flow DMFT on a non-uniform time grid (docs/theory.md, "Gradient-flow DMFT"): the damped fixed-point
/// iteration of the GD solver, with the θ-method paths of `DMFTFlowPaths`, responses that include the same-time
/// (implicit) term, and the closure χ = (I − R_Δ)⁻¹ over the lower triangle with its diagonal.
public enum DMFTFlowSolver {
    /// The grid of a problem whose outputs are at `outputs` (DMFT time).
    public static func grid(_ problem: DMFTProblem, outputs: [Double], settings: DMFTSettings) -> DMFTFlowGrid {
        DMFTFlowGrid(problem: problem, outputs: outputs, ratio: settings.gridRatio)
    }

    /// Refuses what the flow solver does not cover (the linear process) and a grid whose matrices would not fit in
    /// `limit` bytes (default: half the physical memory).
    public static func check(_ problem: DMFTProblem, grid: DMFTFlowGrid, settings: DMFTSettings, limit: Double? = nil)
        throws(DLNError)
    {
        if problem.process != .pm {
            throw .invalidProblem("the gradient-flow DMFT solver covers the pm network only (use the GD solver)")
        }
        let need = DMFTLayout.memoryNeeded(
            gridSize: grid.count, paths: settings.paths, responsePaths: settings.responsePaths)
        let cap = limit ?? Double(ProcessInfo.processInfo.physicalMemory) / 2
        if need > cap {
            throw .invalidProblem(
                String(
                    format: "the flow DMFT grid of K = %d points with %d paths needs %.3g GB, more than the %.3g GB "
                        + "allowed: raise theory.grid_ratio or use fewer paths",
                    grid.count, settings.paths, need / 1e9, cap / 1e9))
        }
    }

    /// Solves `settings.errorSeeds` times (the seed loop of the GD solver) on the grid for `outputs`.
    public static func solve(
        _ problem: DMFTProblem, outputs: [Double], settings: DMFTSettings, progress: ((Int, Double) -> Void)? = nil
    ) throws(DLNError) -> DMFTResult {
        let grid = grid(problem, outputs: outputs, settings: settings)
        try check(problem, grid: grid, settings: settings)
        return try DMFTSolver.solveSeeds(settings, progress: progress) { s, start, report throws(DLNError) in
            solveOnce(problem, grid: grid, settings: s, start: start, progress: report)
        }
    }

    /// One solve with the common random numbers of `settings.seed`.
    public static func solveOnce(
        _ problem: DMFTProblem, grid: DMFTFlowGrid, settings: DMFTSettings,
        start initial: (correlation: [Double], memory: [Double])? = nil, progress: ((Int, Double) -> Void)? = nil
    ) -> DMFTResult {
        let clock = Date()
        let K = grid.count
        let sigma2 = problem.noise * problem.noise
        let paths = DMFTFlowPaths(problem: problem, settings: settings, grid: grid)
        let weights = grid.weights
        var cr = [Double](repeating: problem.secondMoment + sigma2, count: K * K)
        var rr = [Double](repeating: 0, count: K * K)
        if let initial, initial.correlation.count == K * K, initial.memory.count == K * K {
            (cr, rr) = (initial.correlation, initial.memory)
        }
        // (The flow's paths do not throw: the iteration cannot fail.)
        let run = try? DMFTSolver.iterateToFixedPoint(
            correlation: &cr, memory: &rr, settings: settings, damping: settings.damping(for: .flow), progress: progress
        ) { c, r in
            let (factor, rank) = DMFTSolver.noiseFactor(
                c, K, scale: problem.delta, weights: weights, eigen: SymmetricEigen.tridiagonalQL)
            let partial = paths.iterate(factor: factor, rank: rank, memory: r)
            return closure(cd: partial.correlation, rd: partial.response, K: K, sigma2: sigma2)
        }
        let (history, residual, converged, last) = run ?? ([], .nan, false, ([], [], [], [], []))
        let (mean, se) = observables(problem, paths: paths, chi: last.chi, sigma2: sigma2)
        var result = DMFTResult(
            problem: problem, settings: settings, iterations: history.count, residual: residual, converged: converged,
            history: history, seconds: Date().timeIntervalSince(clock),
            engine: "CPU flow (\(ProcessInfo.processInfo.activeProcessorCount) threads, K = \(K))", mean: mean,
            standardError: se, correlation: last.cr, response: last.rr, parameterCorrelation: last.cd,
            parameterResponse: last.rd)
        result.grid = grid
        return result
    }

    /// χ = (I − R_Δ)⁻¹ with R_Δ lower-triangular including its diagonal (the same-time response of the implicit
    /// step), C_r′ = χ(C_Δ + σ²𝟙𝟙ᵀ)χᵀ, R_r′ = χ − I.
    static func closure(cd: [Double], rd: [Double], K: Int, sigma2: Double) -> (
        cr: [Double], rr: [Double], cd: [Double], rd: [Double], chi: [Double]
    ) {
        // χ(I − R) = I row by row: χ_kk = 1/(1 − R_kk), χ_ks = Σ_{s<j≤k} χ_kj R_js / (1 − R_ss).
        var chi = [Double](repeating: 0, count: K * K)
        for k in 0..<K {
            chi[k * K + k] = 1 / (1 - rd[k * K + k])
            for s in stride(from: k - 1, through: 0, by: -1) {
                var acc = 0.0
                for j in (s + 1)...k { acc += chi[k * K + j] * rd[j * K + s] }
                chi[k * K + s] = acc / (1 - rd[s * K + s])
            }
        }
        var m = cd
        for i in m.indices { m[i] += sigma2 }
        var t = [Double](repeating: 0, count: K * K)
        for k in 0..<K {
            for j in 0...k {
                let c = chi[k * K + j]
                for l in 0..<K { t[k * K + l] += c * m[j * K + l] }
            }
        }
        var cr = [Double](repeating: 0, count: K * K)
        for k in 0..<K {
            for l in 0...k {
                var acc = 0.0
                for j in 0...l { acc += t[k * K + j] * chi[l * K + j] }
                cr[k * K + l] = acc
                cr[l * K + k] = acc
            }
        }
        var rr = chi
        for k in 0..<K { rr[k * K + k] -= 1 }
        return (cr, rr, cd, rd, chi)
    }

    /// Per-path means and standard errors of the observables at every grid point (DMFT units).
    static func observables(_ problem: DMFTProblem, paths: DMFTFlowPaths, chi: [Double], sigma2: Double) -> (
        [String: [Double]], [String: [Double]]
    ) {
        let K = paths.K
        let N = paths.N
        var mean: [String: [Double]] = [:]
        var se: [String: [Double]] = [:]
        for name in DMFTResult.observables {
            mean[name] = [Double](repeating: .nan, count: K)
            se[name] = mean[name]
        }
        guard chi.count == K * K else { return (mean, se) }
        let delta = paths.deviations
        let wstar = paths.wstar
        let logM = paths.logM
        let chiOne = (0..<K).map { k in (0...k).reduce(0.0) { $0 + chi[k * K + $1] } }
        let slots = SharedSlots<[Double]>(count: K)
        DispatchQueue.concurrentPerform(iterations: K) { k in
            var s = [Double](repeating: 0, count: 10)
            let m = exp(logM[k])
            for p in 0..<N {
                let dk = delta[k * N + p]
                var cd = 0.0
                for j in 0...k { cd += chi[k * K + j] * delta[j * N + p] }
                let w = dk + wstar[p]
                let l = 0.5 * cd * cd
                let e = dk * dk
                let o = w * wstar[p]
                let n = w * w
                let q = (w * w + m * m).squareRoot()
                s[0] += l
                s[1] += l * l
                s[2] += e
                s[3] += e * e
                s[4] += o
                s[5] += o * o
                s[6] += n
                s[7] += n * n
                s[8] += q
                s[9] += q * q
            }
            slots[k] = s
        }
        let names = ["train_loss", "test_error", "overlap", "norm_sq", "mean_q"]
        for k in 0..<K {
            let s = slots.values[k]
            for (i, name) in names.enumerated() {
                let m = s[2 * i] / Double(N)
                mean[name]![k] = m
                se[name]![k] = (max(0, s[2 * i + 1] / Double(N) - m * m) / Double(max(1, N - 1))).squareRoot()
            }
            mean["train_loss"]![k] += 0.5 * sigma2 * chiOne[k] * chiOne[k]
            mean["mean_uv"]![k] = exp(logM[k])
            se["mean_uv"]![k] = 0
        }
        return (mean, se)
    }

    /// The grid's resolution check: at every interior grid point, the deviation of the mean test error and train
    /// loss from the straight line through their neighbours (the error of the piecewise-linear histories the
    /// quadrature is exact for), relative to the curve's range; the first point where it exceeds
    /// `settings.gridTolerance`, as (grid time in DMFT units, deviation), or nil.
    public static func coarseness(_ result: DMFTResult) -> (time: Double, deviation: Double)? {
        guard let grid = result.grid else { return nil }
        let t = grid.times
        for name in ["test_error", "train_loss"] {
            guard let y = result.mean[name], y.count == t.count, y.count > 2 else { continue }
            let finite = y.filter(\.isFinite)
            let range = (finite.max() ?? 0) - (finite.min() ?? 0)
            guard range > 0 else { continue }
            for k in 1..<(t.count - 1) {
                let a = (t[k] - t[k - 1]) / (t[k + 1] - t[k - 1])
                let line = (1 - a) * y[k - 1] + a * y[k + 1]
                let dev = abs(y[k] - line) / range
                if dev > result.settings.gridTolerance { return (t[k], dev) }
            }
        }
        return nil
    }
}
