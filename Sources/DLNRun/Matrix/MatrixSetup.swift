import DLNModel
import Foundation

/// The host side of a matrix run: teachers, data, initial layers and the batch, deterministically from the
/// configuration (a seed's numbers do not depend on the grid point: α, λ and η only scale or use them).
public struct MatrixSetup: Sendable {
    /// One data set: its teacher T = U·diag(s)·Vᵀ (with the full orthogonal frames U, V) and its data.
    public struct Problem: Sendable {
        /// T, row-major n_L×n_0.
        public let teacher: [Double]
        /// The left frame, n_L×n_L (columns u_i; the first k are the teacher's).
        public let u: [Double]
        /// The right frame, n_0×n_0 (columns v_i).
        public let v: [Double]
        /// The data in float64 (the batch holds them rounded to its precision); matrix sensing: X = I_{n_0}, Y = 0.
        public let x: [Double], y: [Double]
        /// Matrix sensing: the operators A_k (row-major n_L×n_0 each, concatenated) and the measured values.
        public var measurements: (a: [Double], y: [Double])? = nil
    }

    public let configuration: MatrixConfiguration
    public let seeds: [Int]
    public let problems: [Problem]
    public let batch: MatrixBatch

    /// Streams of the counter-based generator for the matrix model.
    enum Stream: UInt32 {
        case frames = 21
        case design = 22
        case noise = 23
        case initial = 24
    }

    /// The teacher's singular values: the configured ones, or those of T from `problem.files` (none without T).
    public let teacherSingularValues: [Double]

    /// Builds everything a run needs (reading `problem.files` when given).
    public init(_ c: MatrixConfiguration) throws(DLNError) {
        configuration = c
        seeds = (0..<c.seeds).map { c.seedOffset + $0 }
        let n0 = c.widths[0]
        let nL = c.widths[c.depth]
        let n = c.samples
        let sets = c.data == .shared || c.files != nil ? [seeds[0]] : seeds
        if let files = c.files {
            let (problem, sigma) = try Self.problem(files: files, n0: n0, nL: nL)
            problems = [problem]
            teacherSingularValues = sigma
        } else {
            problems = sets.map { seed in
                c.task == .sensing
                    ? Self.sensing(c, seed: seed, n0: n0, nL: nL, m: n)
                    : Self.problem(c, seed: seed, n0: n0, nL: nL, n: n)
            }
            teacherSingularValues = c.teacherSingularValues
        }
        let points = c.gridPoints
        var initial: [Double] = []
        var dataset: [Int] = []
        var eta: [Double] = []
        var lambda: [Double] = []
        var replicaSeeds: [Int] = []
        var labelNoise: [Double] = []
        var batchSizes: [Int] = []
        var gradientNoise: [Double] = []
        var momentum: [Double] = []
        for point in points {
            for (s, seed) in seeds.enumerated() {
                let k = sets.count == 1 ? 0 : s
                var layers = Self.layers(c, seed: seed, alpha: point.alpha, problem: problems[k])
                if c.factorization == .symmetric {
                    // W_1 = W_2ᵀ: U = W_2 as drawn.
                    let (d, r) = (c.widths[0], c.widths[1])
                    for i in 0..<r { for j in 0..<d { layers[i * d + j] = layers[r * d + j * r + i] } }
                }
                initial += layers
                dataset.append(k)
                replicaSeeds.append(seed)
                eta.append(point.learningRate)
                lambda.append(point.weightDecay)  // λ_u = 2·½·λ: the penalty (λ/2)·Σ_l‖W_l‖²_F
                labelNoise.append(point.labelNoise)
                batchSizes.append(max(1, point.batchSize))
                gradientNoise.append(point.gradientNoise)
                momentum.append(point.momentum)
            }
        }
        let scale = c.loss == .mean ? 1 / Double(n) : 1
        let dynamics =
            c.hasDynamics
            ? MatrixDynamics(
                seeds: replicaSeeds, labelNoise: labelNoise, gradientNoise: gradientNoise, momentum: momentum,
                nesterov: c.nesterov) : nil
        // Label noise works on copies of the step's rows: with full batches, b = n taken in order (GD bit for bit).
        let fullBatches = dynamics?.hasLabelNoise == true
        let factor = c.factorization == .symmetric ? 2.0 : 1.0
        let measurements = problems.compactMap(\.measurements).map {
            MatrixMeasurements(a: RealArray($0.a, precision: c.precision), y: RealArray($0.y, precision: c.precision))
        }
        batch = MatrixBatch(
            shape: MatrixShape(widths: c.widths), samples: c.task == .sensing ? n0 : n, precision: c.precision,
            datasets: problems.map {
                MatrixData(x: RealArray($0.x, precision: c.precision), y: RealArray($0.y, precision: c.precision))
            },
            dataset: dataset, eta: eta, lambdaU: lambda,
            gradientScale: c.factorization == .symmetric ? 2 * scale : scale, lossScale: scale / 2,
            initial: RealArray(initial, precision: c.precision).doubles,
            measurements: c.task == .sensing ? measurements : nil, tied: c.factorization == .symmetric,
            stochastic: c.update == .sgd
                ? MatrixStochastic(
                    seeds: replicaSeeds, batchSizes: batchSizes, sampling: c.sampling,
                    meanLoss: c.loss == .mean, factor: factor)
                : fullBatches
                    ? MatrixStochastic(
                        seeds: replicaSeeds, batchSize: n, sampling: .sequential, meanLoss: c.loss == .mean,
                        factor: factor) : nil,
            dynamics: dynamics, schedule: c.update == .flow ? .constant : c.learningRateSchedule)
    }

    /// A Gaussian generator over one stream of one seed.
    struct Draws {
        let rng: CounterRNG
        let stream: UInt32
        var index: UInt64 = 0
        init(seed: Int, _ stream: Stream) {
            rng = CounterRNG(seed: UInt64(seed))
            self.stream = stream.rawValue
        }
        mutating func next() -> Double {
            defer { index += 1 }
            return rng.gaussian(stream: stream, index: index)
        }
        mutating func matrix(_ rows: Int, _ columns: Int) -> [Double] { (0..<(rows * columns)).map { _ in next() } }
    }

    /// An m×r matrix with orthonormal columns (r ≤ m): Gram–Schmidt, twice, on Gaussian columns.
    static func frame(_ m: Int, _ r: Int, _ draws: inout Draws) -> [Double] {
        precondition(r <= m)
        var q = draws.matrix(m, r)
        for j in 0..<r {
            for _ in 0..<2 {
                for k in 0..<j {
                    var dot = 0.0
                    for i in 0..<m { dot += q[i * r + k] * q[i * r + j] }
                    for i in 0..<m { q[i * r + j] -= dot * q[i * r + k] }
                }
            }
            var norm = 0.0
            for i in 0..<m { norm += q[i * r + j] * q[i * r + j] }
            norm = norm.squareRoot()
            for i in 0..<m { q[i * r + j] /= norm }
        }
        return q
    }

    /// The first r columns of an m×m row-major matrix, as m×r.
    static func columns(_ a: [Double], _ m: Int, _ r: Int) -> [Double] {
        (0..<m).flatMap { i in a[(i * m)..<(i * m + r)] }
    }

    /// A data set's teacher and data.
    static func problem(_ c: MatrixConfiguration, seed: Int, n0: Int, nL: Int, n: Int) -> Problem {
        var frames = Draws(seed: seed, .frames)
        let u = frame(nL, nL, &frames)
        let v = frame(n0, n0, &frames)
        var t = [Double](repeating: 0, count: nL * n0)
        for (k, s) in c.teacherSingularValues.enumerated() {
            for i in 0..<nL { for j in 0..<n0 { t[i * n0 + j] += s * u[i * nL + k] * v[j * n0 + k] } }
        }
        var design = Draws(seed: seed, .design)
        var x = design.matrix(n, n0)
        if c.whiten {
            // X = √n·Q with Q's columns orthonormal (Gram–Schmidt of X's columns): XᵀX/n = I.
            var g = x
            for j in 0..<n0 {
                for _ in 0..<2 {
                    for k in 0..<j {
                        var dot = 0.0
                        for i in 0..<n { dot += g[i * n0 + k] * g[i * n0 + j] }
                        for i in 0..<n { g[i * n0 + j] -= dot * g[i * n0 + k] }
                    }
                }
                var norm = 0.0
                for i in 0..<n { norm += g[i * n0 + j] * g[i * n0 + j] }
                norm = norm.squareRoot()
                for i in 0..<n { g[i * n0 + j] /= norm }
            }
            let root = Double(n).squareRoot()
            x = g.map { $0 * root }
        }
        var noise = Draws(seed: seed, .noise)
        var y = [Double](repeating: 0, count: n * nL)
        for mu in 0..<n {
            for i in 0..<nL {
                var s = 0.0
                for j in 0..<n0 { s += t[i * n0 + j] * x[mu * n0 + j] }
                y[mu * nL + i] = s + (c.noise > 0 ? c.noise * noise.next() : 0)
            }
        }
        return Problem(teacher: t, u: u, v: v, x: x, y: y)
    }

    /// One replica's initial layers W_1, …, W_L (row-major, concatenated).
    static func layers(_ c: MatrixConfiguration, seed: Int, alpha: Double, problem: Problem) -> [Double] {
        let w = c.widths
        let L = c.depth
        var draws = Draws(seed: seed, .initial)
        switch c.initKind {
        case .gaussian:
            return (1...L).flatMap { l in
                draws.matrix(w[l], w[l - 1]).map { alpha * $0 / Double(w[l - 1]).squareRoot() }
            }
        case .orthogonal:
            return (1...L).flatMap { l -> [Double] in
                let rows = w[l]
                let cols = w[l - 1]
                if rows >= cols { return frame(rows, cols, &draws).map { alpha * $0 } }
                let q = frame(cols, rows, &draws)  // cols×rows, orthonormal columns: its transpose has orthonormal rows
                return (0..<rows).flatMap { i in (0..<cols).map { j in alpha * q[j * rows + i] } }
            }
        case .identity:
            return (1...L).flatMap { l in
                (0..<w[l]).flatMap { i in (0..<w[l - 1]).map { j in i == j ? alpha : 0 } }
            }
        case .balanced, .aligned, .spectral:
            let r = w.min()!
            var frames: [[Double]] = (0...L).map { l in frame(w[l], r, &draws) }
            if c.initKind == .aligned {
                frames[0] = columns(problem.v, w[0], r)
                frames[L] = columns(problem.u, w[L], r)
            }
            // Per-layer singular values: α (balanced, aligned) or α·σ_i^{1/L} (spectral, σ padded with zeros).
            let sigma: [Double] = (0..<r).map { i in
                guard c.initKind == .spectral, let s = c.initSingularValues else { return alpha }
                return i < s.count ? alpha * pow(s[i], 1 / Double(L)) : 0
            }
            return (1...L).flatMap { l -> [Double] in
                let a = frames[l]
                let b = frames[l - 1]
                let rows = w[l]
                let cols = w[l - 1]
                return (0..<rows).flatMap { i in
                    (0..<cols).map { j in (0..<r).reduce(0.0) { $0 + a[i * r + $1] * sigma[$1] * b[j * r + $1] } }
                }
            }
        }
    }

    /// A matrix-sensing data set: the teacher (random frames; symmetric: T = U·diag(s)·Uᵀ; diagonal: the singular
    /// values on random coordinates), m operators A_k of `problem.operator` and y_k = ⟨A_k, T⟩ + σ·ξ_k.
    static func sensing(_ c: MatrixConfiguration, seed: Int, n0: Int, nL: Int, m: Int) -> Problem {
        var frames = Draws(seed: seed, .frames)
        var u: [Double]
        var v: [Double]
        switch c.sensingOperator {
        case .gaussian:
            u = frame(nL, nL, &frames)
            v = frame(n0, n0, &frames)
        case .symmetric:
            u = frame(n0, n0, &frames)
            v = u
        case .diagonal:
            // A random permutation (the order of n0 Gaussian draws): column i is the coordinate basis vector e_π(i).
            let keys = (0..<n0).map { _ in frames.next() }
            let order = (0..<n0).sorted { keys[$0] < keys[$1] }
            u = [Double](repeating: 0, count: n0 * n0)
            for (i, p) in order.enumerated() { u[p * n0 + i] = 1 }
            v = u
        }
        var t = [Double](repeating: 0, count: nL * n0)
        for (k, s) in c.teacherSingularValues.enumerated() {
            for i in 0..<nL { for j in 0..<n0 { t[i * n0 + j] += s * u[i * nL + k] * v[j * n0 + k] } }
        }
        var design = Draws(seed: seed, .design)
        let size = nL * n0
        var a = [Double](repeating: 0, count: m * size)
        for k in 0..<m {
            switch c.sensingOperator {
            case .gaussian:
                for e in 0..<size { a[k * size + e] = design.next() }
            case .symmetric:
                let g = design.matrix(n0, n0)
                for i in 0..<n0 { for j in 0..<n0 { a[k * size + i * n0 + j] = (g[i * n0 + j] + g[j * n0 + i]) / 2 } }
            case .diagonal:
                for i in 0..<n0 { a[k * size + i * n0 + i] = design.next() }
            }
        }
        var noise = Draws(seed: seed, .noise)
        let y = (0..<m).map { k -> Double in
            var s = 0.0
            for e in 0..<size { s += a[k * size + e] * t[e] }
            return s + (c.noise > 0 ? c.noise * noise.next() : 0)
        }
        let identity = (0..<(n0 * n0)).map { $0 / n0 == $0 % n0 ? 1.0 : 0 }
        var problem = Problem(
            teacher: t, u: u, v: v, x: identity, y: [Double](repeating: 0, count: n0 * nL))
        problem.measurements = (a, y)
        return problem
    }
}
