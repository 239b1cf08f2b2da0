import DLNModel
import DLNRun
import Foundation
import Testing

/// The matrix model's sharpness: Hessian-vector products against central differences of the CPU engine's float64
/// gradient, and Lanczos against a dense eigen-solve of the Hessian built column by column.
struct MatrixCurvatureTests {
    static func setup(_ yaml: String) throws -> MatrixSetup {
        try MatrixSetup(try MatrixConfiguration.parse(yaml: yaml, file: "test.yaml"))
    }

    static let cases: [String] = [
        """
        model: {parameterization: matrix, widths: [4, 3, 5, 2], init: {kind: gaussian}}
        problem: {n: 7, teacher: {singular_values: [2, 1]}, noise: 0.1}
        training: {precision: float64}
        grid: {alpha: 0.8, weight_decay: 0.03}
        seeds: 2
        """,
        """
        model: {parameterization: matrix, widths: [5, 4, 3], init: {kind: gaussian}}
        problem: {task: sensing, n: 9, teacher: {singular_values: [1.5]}}
        training: {precision: float64, loss: sum}
        grid: {alpha: 0.7}
        seeds: 2
        """,
        """
        model: {parameterization: matrix, widths: [4, 3, 4], init: {kind: gaussian}, factorization: symmetric}
        problem: {task: sensing, operator: symmetric, n: 8, teacher: {singular_values: [2, 1]}}
        training: {precision: float64}
        grid: {alpha: 0.9, weight_decay: 0.05}
        seeds: 2
        """
    ]

    static func curvature(_ s: MatrixSetup, replica b: Int) -> MatrixCurvature {
        let c = s.configuration
        let n = c.samples
        return MatrixCurvature(
            problem: s.problems[s.batch.dataset[b]], widths: c.widths, samples: n, lambda: s.batch.lambdaU[b],
            scale: c.loss == .mean ? 1 / Double(n) : 1, tied: c.factorization == .symmetric)
    }

    /// H·v equals (∇(θ + εv) − ∇(θ − εv))/2ε of the engine's gradient to 1e-7 relative (the differences' own error).
    @Test(arguments: cases)
    func hessianVectorProductsAreTheGradientsDerivative(yaml: String) throws {
        let s = try Self.setup(yaml)
        let P = s.batch.shape.parameterCount
        let tied = s.configuration.factorization == .symmetric
        let (d, r) = (s.configuration.widths[0], s.configuration.widths[1])
        let engine = MatrixCPUEngine(threads: 1)
        try engine.initialize(s.batch)
        let theta = s.batch.initial
        let rng = CounterRNG(seed: 3)
        let v = (0..<theta.count).map { rng.gaussian(stream: 1, index: UInt64($0)) }
        func gradientAt(_ sign: Double, _ eps: Double) throws -> [Double] {
            var p = zip(theta, v).map { $0 + sign * eps * $1 }
            if tied {
                for b in 0..<s.batch.replicas {
                    for i in 0..<r { for j in 0..<d { p[b * P + i * d + j] = p[b * P + r * d + j * r + i] } }
                }
            }
            try engine.setParameters(RealArray(p, precision: .float64))
            return try engine.gradient().doubles
        }
        let eps = 1e-5
        let plus = try gradientAt(1, eps)
        let minus = try gradientAt(-1, eps)
        for b in 0..<s.batch.replicas {
            let curvature = Self.curvature(s, replica: b)
            let free = curvature.free(theta[(b * P)..<((b + 1) * P)])
            let direction = curvature.free(v[(b * P)..<((b + 1) * P)])
            let h = curvature.hessianApply(free, direction)
            let offset = tied ? b * P + r * d : b * P
            let fd = (0..<h.count).map { (plus[offset + $0] - minus[offset + $0]) / (2 * eps) }
            let size = h.map(abs).max()!
            let worst = zip(h, fd).map { abs($0 - $1) }.max()! / size
            #expect(worst < 1e-7, "replica \(b): ‖Hv − differences‖∞/‖Hv‖∞ = \(worst)")
        }
    }

    /// Lanczos's largest Ritz value equals the dense Hessian's largest eigenvalue (built from H·e_i) to 1e-9 relative.
    @Test(arguments: cases)
    func sharpnessIsTheLargestHessianEigenvalue(yaml: String) throws {
        let s = try Self.setup(yaml)
        let P = s.batch.shape.parameterCount
        for b in 0..<s.batch.replicas {
            let curvature = Self.curvature(s, replica: b)
            let layers = s.batch.initial[(b * P)..<((b + 1) * P)]
            let free = curvature.free(layers)
            let dim = free.count
            var dense = [Double](repeating: 0, count: dim * dim)
            for i in 0..<dim {
                var e = [Double](repeating: 0, count: dim)
                e[i] = 1
                let column = curvature.hessianApply(free, e)
                for j in 0..<dim { dense[j * dim + i] = column[j] }
            }
            let asymmetry = (0..<dim).flatMap { i in (0..<dim).map { j in abs(dense[i * dim + j] - dense[j * dim + i]) }
            }
            #expect(asymmetry.max()! < 1e-12 * dense.map(abs).max()!, "the Hessian is not symmetric")
            let top = MatrixObservables.symmetricEigenvalues(dense, dim).first!
            let lanczos = curvature.sharpness(layers, iterations: 40)
            #expect(abs(lanczos - top) <= 1e-9 * abs(top), "replica \(b): Lanczos \(lanczos), dense \(top)")
        }
    }

    /// The outputs f(θ) of replica b at free parameters p (regression: W_eff·x_μ, sensing: ⟨A_k, W_eff⟩), in float64.
    static func outputs(_ s: MatrixSetup, replica b: Int, _ p: [Double]) -> [Double] {
        let c = s.configuration
        let w = c.widths
        let (n0, nL) = (w[0], w[w.count - 1])
        var weff = [Double](repeating: 0, count: nL * n0)
        if c.factorization == .symmetric {
            let r = w[1]  // U = W_2, n0×r
            for i in 0..<n0 { for j in 0..<n0 { for k in 0..<r { weff[i * n0 + j] += p[i * r + k] * p[j * r + k] } } }
        } else {
            var m = (0..<(n0 * n0)).map { $0 / n0 == $0 % n0 ? 1.0 : 0 }  // rows × n0
            var rows = n0
            var offset = 0
            for l in 1..<w.count {
                var next = [Double](repeating: 0, count: w[l] * n0)
                for i in 0..<w[l] {
                    for k in 0..<rows {
                        for j in 0..<n0 { next[i * n0 + j] += p[offset + i * rows + k] * m[k * n0 + j] }
                    }
                }
                offset += w[l] * rows
                (m, rows) = (next, w[l])
            }
            weff = m
        }
        let problem = s.problems[s.batch.dataset[b]]
        if let a = problem.measurements {
            return (0..<a.y.count).map { k in (0..<(nL * n0)).reduce(0.0) { $0 + a.a[k * nL * n0 + $1] * weff[$1] } }
        }
        return (0..<c.samples).flatMap { mu in
            (0..<nL).map { i in (0..<n0).reduce(0.0) { $0 + weff[i * n0 + $1] * problem.x[mu * n0 + $1] } }
        }
    }

    /// The PL constant against a dense eigen-solve of K = c·J·Jᵀ with J from central differences of the outputs (f
    /// is a polynomial in θ: error about h²), the smallest eigenvalue above 1e-8 of the largest; the last case has
    /// K (12×12) of rank at most P = 4, so the zero eigenvalues must be skipped.
    @Test(
        arguments: cases + [
            """
            model: {parameterization: matrix, widths: [2, 1, 2], init: {kind: gaussian}}
            problem: {n: 6, teacher: {singular_values: [1]}}
            training: {precision: float64}
            grid: {alpha: 0.9}
            """
        ])
    func plConstantIsTheSmallestNonZeroKernelEigenvalue(yaml: String) throws {
        let s = try Self.setup(yaml)
        let c = s.configuration
        let P = s.batch.shape.parameterCount
        let scale = c.loss == .mean ? 1 / Double(c.samples) : 1
        for b in 0..<s.batch.replicas {
            let curvature = Self.curvature(s, replica: b)
            let layers = s.batch.initial[(b * P)..<((b + 1) * P)]
            let free = curvature.free(layers)
            let h = 1e-4
            let columns = free.indices.map { e -> [Double] in
                var up = free
                var down = free
                up[e] += h
                down[e] -= h
                return zip(Self.outputs(s, replica: b, up), Self.outputs(s, replica: b, down)).map {
                    ($0 - $1) / (2 * h)
                }
            }
            let dim = columns[0].count
            var kernel = [Double](repeating: 0, count: dim * dim)
            for i in 0..<dim {
                for j in 0..<dim { kernel[i * dim + j] = scale * columns.reduce(0) { $0 + $1[i] * $1[j] } }
            }
            let values = MatrixObservables.symmetricEigenvalues(kernel, dim)
            let top = values.max()!
            let expected = values.filter { $0 > 1e-8 * top }.min()!
            #expect(values.filter { $0 > 1e-8 * top }.count <= free.count, "rank K ≤ P")
            let lanczos = curvature.plConstant(layers, iterations: 100)
            #expect(abs(lanczos - expected) <= 1e-6 * expected, "replica \(b): Lanczos \(lanczos), dense \(expected)")
        }
    }

    /// `record.sharpness` in a run: at every checkpoint the value equals the curvature of the layers there (checked
    /// at the start, from the batch's initial layers), and GD settles where the sharpness is below 2/η (it cannot stay
    /// where it exceeds 2/η): here one seed starts at 16.4 > 2/η = 10 and ends at 9.65, the others start below.
    @Test func runsRecordTheSharpness() throws {
        let c = try MatrixConfiguration.parse(
            yaml: """
                model: {parameterization: matrix, widths: [4, 4, 3], init: {kind: gaussian}}
                problem: {n: 12, teacher: {singular_values: [3, 1]}}
                training: {steps: 3000, precision: float64}
                grid: {alpha: 1.0, learning_rate: 0.2}
                seeds: 3
                record: {checkpoints: 6, sharpness: {iterations: 30}, pl_constant: true}
                """, file: "test.yaml")
        #expect(c.sharpnessIterations == 30 && c.plIterations == 100)
        let run = try MatrixRun.run(c, device: nil)
        let P = run.setup.batch.shape.parameterCount
        for b in 0..<run.setup.batch.replicas {
            let expected = Self.curvature(run.setup, replica: b).sharpness(
                run.setup.batch.initial[(b * P)..<((b + 1) * P)], iterations: 30)
            #expect(run.sharpness[b][0] == expected)
            #expect(run.flowStatus[b] == 0 && run.sharpness[b].allSatisfy { $0.isFinite })
            #expect(run.sharpness[b].last! < 2 / 0.2 * 1.001, "replica \(b): final sharpness \(run.sharpness[b].last!)")
            let pl = Self.curvature(run.setup, replica: b).plConstant(
                run.setup.batch.initial[(b * P)..<((b + 1) * P)], iterations: 100)
            #expect(run.plConstant[b][0] == pl && run.plConstant[b].allSatisfy { $0 > 0 && $0.isFinite })
        }
    }
}
