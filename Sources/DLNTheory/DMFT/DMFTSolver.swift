import DLNModel
import Foundation

/// The DMFT's prediction on a list of steps: mean and Monte-Carlo standard error per observable.
public struct DMFTResult: Sendable {
    /// The problem solved.
    public let problem: DMFTProblem
    public let settings: DMFTSettings
    /// Fixed-point iterations run.
    public let iterations: Int
    /// The last residual max(max|C_r′ − C_r| / max|C_r′|, max|R_r′ − R_r|).
    public let residual: Double
    /// Whether the residual fell below the tolerance.
    public let converged: Bool
    /// Residual after each iteration.
    public let history: [Double]
    /// Wall time of the solve.
    public let seconds: Double
    /// The engine that ran the paths.
    public let engine: String
    /// The steps at which the observables are given (0…T, all of them).
    public var steps: [Int] { Array(0...problem.steps) }
    /// Per observable (DMFT units: `train_loss` = ½C_r(k,k), `test_error` = C_Δ(k,k), `overlap` = E[w w*],
    /// `norm_sq` = E[w²], `mean_uv` = E[uv], `mean_q` = E[(u² + v²)/2]): mean and standard error at every step 0…T.
    public let mean: [String: [Double]]
    public let standardError: [String: [Double]]
    /// The converged matrices (K×K, row-major): C_r, R_r, C_Δ, R_Δ.
    public let correlation: [Double], response: [Double], parameterCorrelation: [Double], parameterResponse: [Double]

    /// The flow solver's grid (nil for the GD solver, whose grid is every step 0…T and whose arrays are indexed by
    /// step).
    public var grid: DMFTFlowGrid? = nil

    /// The index into the per-step arrays of output time `c` at `step` (the step itself for the GD solver).
    public func column(output c: Int, step: Int) -> Int { grid?.outputIndex[c] ?? step }

    /// The observables, in output order.
    public static let observables = ["train_loss", "test_error", "overlap", "norm_sq", "mean_uv", "mean_q"]
}

/// The damped fixed-point iteration of docs/model.md §6.4.
public enum DMFTSolver {
    /// Refuses a grid whose matrices would not fit: the memory it would need against `limit` bytes (default:
    /// half the host's physical memory).
    public static func checkMemory(_ problem: DMFTProblem, _ settings: DMFTSettings, limit: Double? = nil)
        throws(DLNError)
    {
        let need = DMFTLayout.memoryNeeded(
            gridSize: problem.gridSize, paths: settings.paths, responsePaths: settings.responsePaths)
        let cap = limit ?? Double(ProcessInfo.processInfo.physicalMemory) / 2
        if need > cap {
            throw .invalidProblem(
                String(
                    format:
                        "the DMFT grid of K = %d points with %d paths needs %.3g GB (K² matrices and K×N paths), more "
                        + "than the %.3g GB allowed (half the physical memory): use theory.solver: flow (a log-spaced "
                        + "grid), fewer steps (the Volterra sums need a uniform grid of every step) or fewer paths",
                    problem.gridSize, settings.paths, need / 1e9, cap / 1e9))
        }
    }

    /// One iteration's matrices: C_r′, R_r′, C_Δ, R_Δ and χ.
    public typealias Step = (cr: [Double], rr: [Double], cd: [Double], rd: [Double], chi: [Double])

    /// The damped fixed-point iteration both solvers run: `next(C_r, R_r)` gives the next matrices; the residual
    /// max(max|C_r′ − C_r| / max|C_r′|, max|R_r′ − R_r|) is recorded and reported; below `settings.tolerance` it
    /// stops (converged), at NaN it stops; else C_r, R_r ← d·(C_r, R_r) + (1 − d)·(C_r′, R_r′), with d = `damping`
    /// (default: the GD solver's, `settings.damping(for: .gd)`).
    static func iterateToFixedPoint(
        correlation cr: inout [Double], memory rr: inout [Double], settings: DMFTSettings, damping: Double? = nil,
        progress: ((Int, Double) -> Void)?, next: ([Double], [Double]) throws(DLNError) -> Step
    ) throws(DLNError) -> (history: [Double], residual: Double, converged: Bool, last: Step) {
        var history: [Double] = []
        var residual = Double.infinity
        var last: Step = ([], [], [], [], [])
        let d = damping ?? settings.damping(for: .gd)
        for _ in 0..<settings.maxIterations {
            let step = try next(cr, rr)
            last = step
            var dc = 0.0
            var scale = 0.0
            var drr = 0.0
            // Swift's max drops a NaN argument, so a non-finite entry is caught on its own: one NaN anywhere in
            // C_r′ or R_r′ (a path that overflowed) makes the residual NaN and stops the iteration unconverged.
            var finite = true
            for i in cr.indices {
                let c = step.cr[i]
                let r = step.rr[i]
                if !c.isFinite || !r.isFinite { finite = false }
                dc = max(dc, abs(c - cr[i]))
                scale = max(scale, abs(c))
                drr = max(drr, abs(r - rr[i]))
            }
            residual = max(dc / max(scale, .leastNormalMagnitude), drr)
            if !residual.isFinite || !finite { residual = .nan }
            history.append(residual)
            progress?(history.count, residual)
            if residual.isNaN { break }
            if residual < settings.tolerance { return (history, residual, true, last) }
            for i in cr.indices {
                cr[i] = d * cr[i] + (1 - d) * step.cr[i]
                rr[i] = d * rr[i] + (1 - d) * step.rr[i]
            }
        }
        return (history, residual, false, last)
    }

    /// Solves the problem with `engine` running the paths (built for this problem and these settings).
    public static func solve(
        _ problem: DMFTProblem, settings: DMFTSettings, engine: any DMFTPathEngine,
        start initial: (correlation: [Double], memory: [Double])? = nil,
        progress: ((Int, Double) -> Void)? = nil
    ) throws(DLNError) -> DMFTResult {
        let start = Date()
        let K = problem.gridSize
        let sigma2 = problem.noise * problem.noise
        var cr = [Double](repeating: problem.secondMoment + sigma2, count: K * K)
        var rr = [Double](repeating: 0, count: K * K)
        if let initial, initial.correlation.count == K * K, initial.memory.count == K * K {
            (cr, rr) = (initial.correlation, initial.memory)
        }
        // The C_r, R_r the last iteration's paths ran under (for the order parameters' replay).
        var input: (cr: [Double], rr: [Double]) = ([], [])
        let run = try iterateToFixedPoint(correlation: &cr, memory: &rr, settings: settings, progress: progress) {
            c, r throws(DLNError) in
            input = (c, r)
            return try iterate(problem, settings: settings, engine: engine, correlation: c, memory: r)
        }
        let (history, residual, converged, last) = (run.history, run.residual, run.converged, run.last)
        // Observables from the last iteration's paths: per-path values, so each mean has a standard error.
        let delta = try engine.deviations()
        let N = settings.paths
        var mean: [String: [Double]] = [:]
        var se: [String: [Double]] = [:]
        for name in DMFTResult.observables {
            mean[name] = [Double](repeating: .nan, count: K)
            se[name] = mean[name]
        }
        if !last.cr.isEmpty {
            let rng = CounterRNG(seed: UInt64(settings.seed))
            let wstar = (0..<N).map {
                DMFTLayout.teacher(path: $0, density: problem.density, values: problem.values, rng: rng)
            }
            // χ·1 for the noise part of C_r′(k,k) = E[(χΔ)_k²] + σ²(χ1)_k².
            let chi = last.chi
            let chiOne = (0..<K).map { k in (0...k).reduce(0.0) { $0 + chi[k * K + $1] } }
            var stats = [[Double]](repeating: [Double](repeating: 0, count: 8), count: K)
            let slots = SharedSlots<[Double]>(count: K)
            delta.withUnsafeBufferPointer { dp in
                let dptr = UnsafeSendablePointer(UnsafeMutablePointer(mutating: dp.baseAddress!))
                DispatchQueue.concurrentPerform(iterations: K) { k in
                    var s = [Double](repeating: 0, count: 8)
                    let base = dptr.pointer
                    for p in 0..<N {
                        let dk = base[k * N + p]
                        var cd = 0.0
                        for j in 0...k { cd += chi[k * K + j] * base[j * N + p] }
                        let w = dk + wstar[p]
                        let l = 0.5 * cd * cd
                        let e = dk * dk
                        let m = w * wstar[p]
                        let q = w * w
                        s[0] += l
                        s[1] += l * l
                        s[2] += e
                        s[3] += e * e
                        s[4] += m
                        s[5] += m * m
                        s[6] += q
                        s[7] += q * q
                    }
                    slots[k] = s
                }
            }
            stats = slots.values
            func ms(_ a: Double, _ b: Double) -> (Double, Double) {
                let m = a / Double(N)
                return (m, (max(0, b / Double(N) - m * m) / Double(max(1, N - 1))).squareRoot())
            }
            for k in 0..<K {
                let s = stats[k]
                let (l, le) = ms(s[0], s[1])
                let (e, ee) = ms(s[2], s[3])
                let (m, me) = ms(s[4], s[5])
                let (q, qe) = ms(s[6], s[7])
                mean["train_loss"]![k] = l + 0.5 * sigma2 * chiOne[k] * chiOne[k]
                se["train_loss"]![k] = le
                mean["test_error"]![k] = e
                se["test_error"]![k] = ee
                mean["overlap"]![k] = m
                se["overlap"]![k] = me
                mean["norm_sq"]![k] = q
                se["norm_sq"]![k] = qe
            }
            let order = orderParameters(
                problem, settings: settings, correlation: input.cr, memory: input.rr, deviations: delta)
            for name in ["mean_uv", "mean_q"] {
                mean[name] = order.mean[name]
                se[name] = order.standardError[name]
            }
        }
        return DMFTResult(
            problem: problem, settings: settings, iterations: history.count, residual: residual, converged: converged,
            history: history, seconds: Date().timeIntervalSince(start), engine: engine.description, mean: mean,
            standardError: se, correlation: last.cr, response: last.rr, parameterCorrelation: last.cd,
            parameterResponse: last.rd)
    }

    /// One fixed-point map: C_r, R_r → paths → C_Δ, R_Δ → χ → C_r′, R_r′ (docs/model.md §6.4 steps 1–3).
    public static func iterate(
        _ problem: DMFTProblem, settings: DMFTSettings, engine: any DMFTPathEngine,
        correlation cr: [Double], memory rr: [Double]
    ) throws(DLNError)
        -> (cr: [Double], rr: [Double], cd: [Double], rd: [Double], chi: [Double])
    {
        let K = problem.gridSize
        let (factor, rank) = noiseFactor(cr, K, scale: problem.delta, aligned: settings.alignedModes)
        let partials = try engine.iterate(factor: factor, rank: rank, memory: rr)
        let cd = reduce(partials.correlation, K, scale: 1 / Double(settings.paths))
        let rd = reduce(partials.response, K, scale: 1 / Double(settings.responsePaths))
        return closure(cd: cd, rd: rd, K: K, sigma2: problem.noise * problem.noise)
    }

    /// Adds chunk partials (`[chunk][K·K]`) in ascending chunk order, then scales.
    static func reduce(_ partials: [Double], _ K: Int, scale: Double) -> [Double] {
        var out = [Double](repeating: 0, count: K * K)
        let chunks = partials.count / (K * K)
        for c in 0..<chunks { for i in 0..<(K * K) { out[i] += partials[c * K * K + i] } }
        for i in out.indices { out[i] *= scale }
        return out
    }

    /// χ = (I − strict-lower R_Δ)⁻¹, C_r′ = χ(C_Δ + σ²𝟙𝟙ᵀ)χᵀ, R_r′ = strict-lower(χ − I).
    static func closure(cd: [Double], rd: [Double], K: Int, sigma2: Double) -> (
        cr: [Double], rr: [Double], cd: [Double], rd: [Double], chi: [Double]
    ) {
        // Forward substitution: χ lower unit-triangular, χ(I − L) = I ⇔ χ = I + χL, row by row.
        var chi = [Double](repeating: 0, count: K * K)
        for k in 0..<K {
            chi[k * K + k] = 1
            for s in stride(from: k - 1, through: 0, by: -1) {
                var acc = 0.0
                for j in (s + 1)...k { acc += chi[k * K + j] * rd[j * K + s] }
                chi[k * K + s] = acc
            }
        }
        var m = cd
        for i in m.indices { m[i] += sigma2 }
        // t = χ·M, C_r′ = t·χᵀ (χ lower-triangular).
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
        var rr = [Double](repeating: 0, count: K * K)
        for k in 0..<K { for s in 0..<k { rr[k * K + s] = chi[k * K + s] } }
        return (cr, rr, cd, rd, chi)
    }

    /// F with F·Fᵀ = scale·sym(C) with negative eigenvalues clipped (eigendecomposition: C_r is near low rank, so
    /// Cholesky fails); columns with eigenvalues below 1e-13 of the largest are dropped. Returns F (K×rank) and rank.
    ///
    /// With quadrature weights W (a non-uniform time grid) the eigenproblem is that of W^½·C·W^½ = VΛVᵀ and
    /// F = W^−½VΛ^½, so column j samples the j-th Karhunen–Loève mode φ_j(t)√λ_j of the continuous covariance on any
    /// grid (for a uniform grid W ∝ I and this is the plain eigendecomposition). Columns are in descending order of
    /// eigenvalue, each signed so that Σ_k W_k F_kj ≥ 0: solves on different grids then draw the same modes from the
    /// same common random numbers Z_j.
    /// `aligned: false` (the GD solver's default) keeps the columns in the eigensolver's order and signs. `eigen` is the
    /// eigensolver (the flow solver's is `SymmetricEigen.tridiagonalQL`; the GD solver keeps cyclic Jacobi, whose
    /// order `aligned: false` depends on).
    public static func noiseFactor(
        _ c: [Double], _ K: Int, scale: Double, weights: [Double]? = nil, aligned: Bool = true,
        eigen: ([Double], Int) -> (values: [Double], vectors: [Double]) = SymmetricEigen.decompose
    ) -> (factor: [Double], rank: Int) {
        let w = weights ?? [Double](repeating: 1, count: K)
        let root = w.map { $0.squareRoot() }
        var a = [Double](repeating: 0, count: K * K)
        for i in 0..<K {
            for j in 0..<K { a[i * K + j] = 0.5 * scale * (c[i * K + j] + c[j * K + i]) * root[i] * root[j] }
        }
        let (values, vectors) = eigen(a, K)
        let top = values.max() ?? 0
        let kept = (0..<K).filter { values[$0] > 1e-13 * top && values[$0] > 0 }
        let keep = aligned ? kept.sorted { values[$0] > values[$1] } : kept
        var f = [Double](repeating: 0, count: K * max(1, keep.count))
        for (r, j) in keep.enumerated() {
            let s = values[j].squareRoot()
            var sum = 0.0
            for k in 0..<K { sum += vectors[k * K + j] * root[k] }
            let sign: Double = aligned && sum < 0 ? -1 : 1
            for k in 0..<K { f[k * keep.count + r] = sign * vectors[k * K + j] * s / root[k] }
        }
        return (f, max(1, keep.count))
    }
}

/// Eigen-decomposition of a symmetric matrix by cyclic Jacobi rotations (K ≲ a few hundred).
public enum SymmetricEigen {
    /// Eigenvalues and eigenvectors (columns of the row-major K×K matrix) of the symmetric `a`.
    public static func decompose(_ input: [Double], _ n: Int) -> (values: [Double], vectors: [Double]) {
        var a = input
        var v = [Double](repeating: 0, count: n * n)
        for i in 0..<n { v[i * n + i] = 1 }
        for _ in 0..<60 {
            var off = 0.0
            var total = 0.0
            for i in 0..<n {
                for j in 0..<n {
                    let x = a[i * n + j] * a[i * n + j]
                    total += x
                    if i != j { off += x }
                }
            }
            if off <= 1e-30 * total || off == 0 { break }
            for p in 0..<(n - 1) {
                for q in (p + 1)..<n {
                    let apq = a[p * n + q]
                    if abs(apq) < 1e-300 { continue }
                    let app = a[p * n + p]
                    let aqq = a[q * n + q]
                    let theta = (aqq - app) / (2 * apq)
                    let t = (theta >= 0 ? 1.0 : -1.0) / (abs(theta) + (theta * theta + 1).squareRoot())
                    let c = 1 / (t * t + 1).squareRoot()
                    let s = t * c
                    for k in 0..<n {
                        let akp = a[k * n + p]
                        let akq = a[k * n + q]
                        a[k * n + p] = c * akp - s * akq
                        a[k * n + q] = s * akp + c * akq
                    }
                    for k in 0..<n {
                        let apk = a[p * n + k]
                        let aqk = a[q * n + k]
                        a[p * n + k] = c * apk - s * aqk
                        a[q * n + k] = s * apk + c * aqk
                    }
                    for k in 0..<n {
                        let vkp = v[k * n + p]
                        let vkq = v[k * n + q]
                        v[k * n + p] = c * vkp - s * vkq
                        v[k * n + q] = s * vkp + c * vkq
                    }
                }
            }
        }
        return ((0..<n).map { a[$0 * n + $0] }, v)
    }
}
