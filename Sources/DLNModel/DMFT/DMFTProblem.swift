import Foundation

/// Settings of the DMFT solver (`theory: dmft` in a run configuration; docs/model.md §6.4).
public struct DMFTSettings: Sendable, Codable, Equatable, Hashable {
    /// The defaults of docs/model.md §6.4.
    public init() {}
    /// Monte-Carlo paths N of the parameter process (common random numbers, fixed across iterations): the given
    /// `chosenPaths`, else the solver's default (60 000 for gd, 4 000 for flow; `solver` nil reads as gd).
    public var paths: Int {
        get { chosenPaths ?? (solver == .flow ? 4_000 : 60_000) }
        set { chosenPaths = newValue }
    }
    /// Paths N_r ≤ N that carry forward-mode tangents for the response function: the given `chosenResponsePaths`,
    /// else the solver's default (4 000 for gd, 300 for flow, whose tangents cost N_r·K³ per iteration), at most
    /// `paths`.
    public var responsePaths: Int {
        get { min(chosenResponsePaths ?? (solver == .flow ? 300 : 4_000), paths) }
        set { chosenResponsePaths = newValue }
    }
    /// `theory.paths` as given (nil: the solver's default).
    public var chosenPaths: Int? = nil
    /// `theory.response_paths` as given (nil: the solver's default).
    public var chosenResponsePaths: Int? = nil
    /// `theory.max_iterations` as given (nil: the solver's default).
    public var chosenMaxIterations: Int? = nil
    /// Damping d: C_r ← d·C_r + (1 − d)·C_r′; nil: the solver's default (`damping(for:)`).
    public var damping: Double? = nil
    /// Stop when max|C_r′ − C_r| / max|C_r′| and max|R_r′ − R_r| are both below this.
    public var tolerance: Double = 1e-4
    /// Give up (and say so) after this many iterations: the given `chosenMaxIterations`, else the solver's default
    /// (100 for gd; 300 for flow, whose damped iteration contracts more slowly on long horizons).
    public var maxIterations: Int {
        get { chosenMaxIterations ?? (solver == .flow ? 300 : 100) }
        set { chosenMaxIterations = newValue }
    }
    /// Seed of the common random numbers.
    public var seed: Int = 0
    /// Independent solves (seeds `seed`, `seed` + 1, …) whose spread gives the Monte-Carlo standard error; the
    /// curve is their mean. The paths' own spread misses the noise of the fixed point (C_r, R_r) itself.
    public var errorSeeds: Int = 4
    /// Also write the converged two-time functions C_Δ(t, s) and R_Δ(t, s) on the checkpoints
    /// (dmft_correlation.npy, dmft_response.npy).
    public var twoTime: Bool = false
    /// GD solver: draw ξ's Karhunen–Loève modes in descending order with fixed signs
    /// (`DMFTSolver.noiseFactor`), as the flow solver always does, so that solves on different grids with the same
    /// seed share their common random numbers mode by mode (for comparisons; off by default).
    public var alignedModes: Bool = false
    /// Which solver (nil: the default rule, `DMFTMapping.solver`; a solve runs with the settings `resolved(for:)`
    /// its solver, which also picks the solver's defaults of `paths`, `responsePaths` and `maxIterations`).
    public var solver: DMFTSolverKind? = nil
    /// The flow solver's log-spaced grid: t_{i+1} − t_i ≤ gridRatio·t_i (after a uniform start).
    public var gridRatio: Double = 0.1
    /// These settings as the solver `kind` runs them: `solver` set, so that the unset counts read its defaults.
    public func resolved(for kind: DMFTSolverKind) -> DMFTSettings {
        var s = self
        s.solver = kind
        return s
    }
    /// The damping a solver runs with: `damping` when given, else 0.5 for the GD solver and 0.15 for the flow solver.
    /// On the flow solver's grids the iteration oscillates slowly and less damping converges in about half the
    /// iterations (grokking example, docs/theory.md); none at all (0) can lock into a two-cycle.
    public func damping(for solver: DMFTSolverKind) -> Double {
        damping ?? (solver == .flow ? 0.15 : 0.5)
    }
    /// The flow solver refuses a grid on which a history deviates from piecewise linear by more than this
    /// (relative to its range), naming the time.
    public var gridTolerance: Double = 0.01
}

/// The DMFT solver: the discrete-time GD solver on the uniform grid of every step, or the gradient-flow solver on a
/// log-spaced grid (docs/theory.md).
public enum DMFTSolverKind: String, Sendable, Codable, CaseIterable, Hashable {
    /// Gradient flow on a non-uniform (log-spaced) grid: memory ∝ K², time ∝ K³ for K grid points.
    case flow
    /// Gradient descent step for step on the uniform grid of every step.
    case gd
}

/// The discrete-time DMFT problem in the units of docs/model.md §6 (X_{μi} ~ N(0, 1/d), ℓ = ½‖Xw − y‖²).
public struct DMFTProblem: Sendable, Hashable {
    /// The parameter process of one coordinate.
    public enum Process: String, Sendable, Hashable {
        /// u_{k+1} = u_k(1 − η(g_k+λ)), v_{k+1} = v_k(1 + η(g_k−λ)), w = (u²−v²)/2, u₀ = v₀ = α.
        case pm
        /// Plain linear regression: w_{k+1} = w_k − η(g_k + λw_k), w₀ = 0 (the oracle of §6.4).
        case linear
    }
    public var process: Process = .pm
    /// δ = n/d.
    public var delta: Double
    /// Step η in DMFT units.
    public var eta: Double
    /// Weight decay λ in DMFT units (u̇ ∋ −λu).
    public var lambda: Double = 0
    /// Initial scale α (pm).
    public var alpha: Double = 1
    /// Label noise σ in DMFT units.
    public var noise: Double = 0
    /// Teacher density ρ (P(w* ≠ 0)).
    public var density: Double = 0.1
    /// Teacher values on the support.
    public var values: TeacherValues = .ones
    /// Gradient steps T; the grid has K = T + 1 points (steps 0…T).
    public var steps: Int

    /// A problem in DMFT units.
    public init(
        process: Process = .pm, delta: Double, eta: Double, lambda: Double = 0, alpha: Double = 1, noise: Double = 0,
        density: Double = 0.1, values: TeacherValues = .ones, steps: Int
    ) {
        self.process = process
        self.delta = delta
        self.eta = eta
        self.lambda = lambda
        self.alpha = alpha
        self.noise = noise
        self.density = density
        self.values = values
        self.steps = steps
    }

    /// Grid points K.
    public var gridSize: Int { steps + 1 }
    /// E[w*²].
    public var secondMoment: Double { density }
}

/// The effective single-coordinate process, run for many paths: the CPU engine (`DMFTCPUPaths`) and the OpenCL
/// engine (DLNDevice's `DeviceDMFTPaths`) conform and compute the same bits.
///
/// Paths p = 0…N−1 are laid out contiguously per grid point: Δ_k of path p at k·N + p. The response paths
/// are the first N_r. Sums over paths are taken in chunks of `DMFTLayout.chunk` (forward) and
/// `DMFTLayout.responseChunk` (tangents) paths, each in ascending p; the engine returns one partial sum per chunk
/// and `DMFTSolver` adds the chunks in ascending order.
public protocol DMFTPathEngine: AnyObject {
    /// A one-line description of where the paths run.
    var description: String { get }
    /// Runs every path under the noise factor `factor` (ξ_k = Σ_j factor[k·rank + j]·Z_j) and the memory kernel
    /// `memory` (R_r, K×K); returns the chunk partials of Σ_p Δ_kΔ_k′ (`[chunk][k][k′]`) and of Σ_p ∂Δ_k/∂h_s
    /// (`[chunk][k][s]`, zero for s ≥ k).
    func iterate(factor: [Double], rank: Int, memory: [Double]) throws(DLNError) -> (
        correlation: [Double], response: [Double]
    )
    /// Δ of every path after the last `iterate` (K×N, `[k][p]`).
    func deviations() throws(DLNError) -> [Double]
}

/// The fixed layout of the path arrays and of the chunked sums.
public enum DMFTLayout {
    /// Paths per chunk of the forward sums.
    public static let chunk = 256
    /// Response paths per chunk of the tangent sums.
    public static let responseChunk = 32

    /// The teacher's value on path p: exactly ⌊(p+1)ρ⌋ − ⌊pρ⌋ on the support (stratified: every prefix of the
    /// paths holds the fraction ρ), the value drawn from `values`.
    public static func teacher(path p: Int, density: Double, values: TeacherValues, rng: CounterRNG) -> Double {
        let on = (Double(p + 1) * density).rounded(.down) - (Double(p) * density).rounded(.down) >= 1
        guard on else { return 0 }
        switch values {
        case .ones: return 1
        case .signs: return rng.uniform(stream: 11, index: UInt64(p)) < 0.5 ? -1 : 1
        case .gaussian: return rng.gaussian(stream: 11, index: UInt64(p))
        }
    }

    /// Common random numbers Z (K×N, `[j][p]`), standard Gaussian.
    public static func noise(gridSize K: Int, paths N: Int, seed: Int) -> [Double] {
        let rng = CounterRNG(seed: UInt64(seed))
        var z = [Double](repeating: 0, count: K * N)
        z.withUnsafeMutableBufferPointer { buf in
            let out = UnsafeSendablePointer(buf.baseAddress!)
            DispatchQueue.concurrentPerform(iterations: K) { j in
                for p in 0..<N { out.pointer[j * N + p] = rng.gaussian(stream: 10, index: UInt64(j * N + p)) }
            }
        }
        return z
    }

    /// Bytes the solver holds for K grid points and N paths (N_r response paths): the K×K matrices, Z and Δ
    /// (K×N each), the response paths' histories, and the chunk partials.
    public static func memoryNeeded(gridSize K: Int, paths N: Int, responsePaths Nr: Int) -> Double {
        let k = Double(K)
        let n = Double(N)
        let chunks = (n / Double(chunk)).rounded(.up) + (Double(Nr) / Double(responseChunk)).rounded(.up)
        return 8 * (12 * k * k + 2 * k * n + 3 * k * Double(Nr) + chunks * k * k + 4 * k * k)
    }
}

/// A pointer that concurrent workers write at disjoint indices.
public struct UnsafeSendablePointer<T>: @unchecked Sendable {  // disjoint writes only
    public let pointer: UnsafeMutablePointer<T>
    public init(_ p: UnsafeMutablePointer<T>) { pointer = p }
}
