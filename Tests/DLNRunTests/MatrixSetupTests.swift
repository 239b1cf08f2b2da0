import DLNModel
import DLNTheory
import Foundation
import Testing

@testable import DLNRun

/// The matrix model's configuration, initialisations, data and host observables.
struct MatrixSetupTests {
    static func config(_ yaml: String) throws -> MatrixConfiguration {
        try MatrixConfiguration.parse(yaml: yaml, file: "test.yaml")
    }

    static let base = """
        model: {parameterization: matrix, widths: [6, 5, 4], init: {kind: KIND}}
        problem: {n: 12, whiten: true, teacher: {singular_values: [3, 2]}}
        training: {steps: 10, precision: float64}
        grid: {alpha: [0.5, 0.1]}
        seeds: 3
        """

    static func setup(_ kind: String, extra: String = "") throws -> MatrixSetup {
        try MatrixSetup(try config(base.replacingOccurrences(of: "KIND", with: kind) + extra))
    }

    static func frobenius(_ a: [Double]) -> Double { a.reduce(0) { $0 + $1 * $1 }.squareRoot() }

    @Test func whitenedInputsHaveIdentityCovariance() throws {
        let s = try Self.setup("gaussian")
        let x = s.problems[0].x
        let n = 12
        let d = 6
        for i in 0..<d {
            for j in 0..<d {
                let c = (0..<n).reduce(0.0) { $0 + x[$1 * d + i] * x[$1 * d + j] } / Double(n)
                #expect(abs(c - (i == j ? 1 : 0)) < 1e-12, "XᵀX/n[\(i)][\(j)] = \(c)")
            }
        }
        // Y = X·Tᵀ exactly without noise, and T has the configured singular values.
        let sv = MatrixObservables.singularValues(s.problems[0].teacher, 4, 6)
        #expect(abs(sv[0] - 3) < 1e-12 && abs(sv[1] - 2) < 1e-12 && sv[2] < 1e-7)
    }

    @Test(arguments: ["balanced", "aligned", "spectral"])
    func balancedInitialisationsConserveNothingToStartWith(kind: String) throws {
        let yaml = Self.base.replacingOccurrences(of: "KIND", with: kind)
            .replacingOccurrences(
                of: "init: {kind: spectral}", with: "init: {kind: spectral, singular_values: [2, 1, 0.5]}")
        let setup = try MatrixSetup(try Self.config(yaml))
        let shape = setup.batch.shape
        let P = shape.parameterCount
        for b in 0..<setup.batch.replicas {
            let p = setup.batch.initial[(b * P)..<((b + 1) * P)]
            for d in MatrixObservables.imbalances(p, shape: shape) {
                #expect(Self.frobenius(d) < 1e-12, "replica \(b): ‖D‖ = \(Self.frobenius(d))")
            }
            let alpha = b < 3 ? 0.5 : 0.1
            let sv = MatrixObservables.singularValues(MatrixObservables.product(p, shape: shape), 4, 6)
            let expected: [Double] = kind == "spectral" ? [2, 1, 0.5, 0] : [1, 1, 1, 1]
            // From the Gram matrix: absolute accuracy ≈ √ε·σ_max (a zero singular value comes out ≈ 1e-8·σ_max).
            for (got, e) in zip(sv, expected) {
                #expect(abs(got - alpha * alpha * e) < (e > 0 ? 1e-12 : 1e-7 * alpha * alpha * expected[0]))
            }
            if kind == "aligned" {
                let o = MatrixObservables.observe(
                    p, shape: shape, problem: setup.problems[0], modes: 2, initialImbalance: [], decay: 1)
                for a in o.modeStrength { #expect(abs(a - alpha * alpha) < 1e-12, "a(0) = α^L") }
            }
        }
    }

    @Test func orthogonalLayersHaveOrthonormalRowsOrColumns() throws {
        let setup = try Self.setup("orthogonal")
        let shape = setup.batch.shape
        let p = setup.batch.initial[0..<shape.parameterCount]
        for l in 1...shape.depth {
            let rows = shape.widths[l]
            let cols = shape.widths[l - 1]
            let o = shape.layerOffset(l)
            let sv = MatrixObservables.singularValues(Array(p[o..<(o + rows * cols)]), rows, cols)
            for v in sv { #expect(abs(v - 0.5) < 1e-12, "layer \(l): singular value \(v), α = 0.5") }
        }
    }

    @Test func eigenvaluesMatchJacobi() {
        let m = 9
        var a = [Double](repeating: 0, count: m * m)
        for i in 0..<m {
            for j in 0...i {
                a[i * m + j] = sin(Double(3 * i + 7 * j + 1))
                a[j * m + i] = a[i * m + j]
            }
        }
        let ours = MatrixObservables.symmetricEigenvalues(a, m)
        let jacobi = SymmetricEigen.decompose(a, m).values.sorted(by: >)
        for (x, y) in zip(ours, jacobi) { #expect(abs(x - y) < 1e-12, "\(x) vs \(y)") }
    }

    @Test func gridAndCheckpoints() throws {
        let c = try Self.config(Self.base.replacingOccurrences(of: "KIND", with: "gaussian"))
        #expect(c.gridPoints.count == 2)
        #expect(!c.hasDynamics)
        // The stochastic axes nest inside η: σ_ℓ, then T, then β.
        let noisy = try Self.config(
            "model: {parameterization: matrix, widths: [3, 2]}\ntraining: {gradient_noise: 0.01, nesterov: true}\n"
                + "grid: {alpha: [0.1, 1], label_noise: [0, 0.5], momentum: [0, 0.3, 0.9]}")
        #expect(noisy.gridPoints.count == 12 && noisy.hasDynamics && noisy.nesterov)
        #expect(noisy.gridPoints.map(\.momentum).prefix(4) == [0, 0.3, 0.9, 0])
        #expect(noisy.gridPoints.map(\.labelNoise).prefix(4) == [0, 0, 0, 0.5])
        #expect(noisy.gridPoints.allSatisfy { $0.gradientNoise == 0.01 } && noisy.gridPoints[6].alpha == 1)
        // A schedule: t_k = η·Σ_{j<k} s_j at the checkpoints (here s_j = 0.9^j).
        let scheduled = try Self.config(
            "model: {parameterization: matrix, widths: [3, 2]}\ntraining: {steps: 50, schedule: {name: exponential, "
                + "gamma: 0.9}}\ngrid: {learning_rate: 0.2}\nrecord: {checkpoints: 4}")
        let run = MatrixRun(configuration: scheduled, setup: try MatrixSetup(scheduled))
        for (k, t) in zip(run.steps, run.times(replica: 0)) {
            let expected = 0.2 * (0..<k).reduce(0.0) { $0 + pow(0.9, Double($1)) }
            #expect(abs(t - expected) <= 1e-12 * max(expected, 1), "step \(k): \(t) vs \(expected)")
        }
        #expect(c.checkpointSteps.first == 0 && c.checkpointSteps.last == 10)
        #expect(zip(c.checkpointSteps, c.checkpointSteps.dropFirst()).allSatisfy { $0 < $1 })
    }

    @Test(arguments: [
        ("model: {parameterization: matrix, widths: [3, 2]}\ntraining: {update: sgd}", "training.batch_size"),
        (
            "model: {parameterization: matrix, widths: [3, 2]}\ntraining: {update: sgd, batch_size: 0}",
            "training.batch_size"
        ),
        (
            "model: {parameterization: matrix, widths: [3, 2]}\nproblem: {n: 10}\ntraining: {update: sgd, batch_size: 11}",
            "training.batch_size"
        ),
        ("model: {parameterization: matrix, widths: [3, 2]}\ntraining: {batch_size: 3}", "training.batch_size"),
        (
            "model: {parameterization: matrix, widths: [3, 2]}\ntraining: {update: flow, horizon: 1, sampling: epochs}",
            "training.sampling"
        ),
        (
            "model: {parameterization: matrix, widths: [3, 2]}\ntraining: {update: sgd, batch_size: 2, sampling: shuffled}",
            "training.sampling"
        ),
        (
            "model: {parameterization: matrix, widths: [3, 2]}\ntraining: {update: flow, horizon: 1, label_noise: 0.1}",
            "training.label_noise"
        ),
        (
            "model: {parameterization: matrix, widths: [3, 2]}\ntraining: {update: flow, horizon: 1}\n"
                + "grid: {gradient_noise: [0, 0.01]}",
            "grid.gradient_noise"
        ),
        (
            "model: {parameterization: matrix, widths: [3, 2]}\ntraining: {update: flow, horizon: 1, nesterov: true}",
            "training.momentum"
        ),
        ("model: {parameterization: matrix, widths: [3, 2]}\ntraining: {momentum: 1}", "training.momentum"),
        ("model: {parameterization: matrix, widths: [3, 2]}\ngrid: {label_noise: [0.1, -1]}", "grid.label_noise[1]"),
        (
            "model: {parameterization: matrix, widths: [3, 2]}\ntraining: {momentum: 0.5}\ngrid: {momentum: [0, 0.9]}",
            "grid.momentum"
        ),
        (
            "model: {parameterization: matrix, widths: [3, 2]}\ntraining: {update: sgd, batch_size: 2}\n"
                + "grid: {batch_size: [2, 4]}",
            "grid.batch_size"
        ),
        (
            "model: {parameterization: matrix, widths: [3, 2]}\ntraining: {update: sgd, batch_size: 2, horizon: 3}",
            "training.horizon"
        ),
        (
            "model: {parameterization: matrix, widths: [3, 3]}\nproblem: {task: sensing, n: 6}\n"
                + "training: {update: sgd, batch_size: 7}",
            "training.batch_size"
        ),
        ("model: {parameterization: matrix}", "model.widths"),
        (
            "model: {parameterization: matrix, widths: [3, 2]}\ntraining: {update: flow, horizon: 1, schedule: cosine}",
            "training.schedule"
        ),
        (
            "model: {parameterization: matrix, widths: [3, 2]}\ntraining: {schedule: inverse_time}",
            "training.schedule.tau"
        ),
        ("model: {parameterization: matrix, widths: [3, 2]}\ntraining: {schedule: linear}", "training.schedule"),
        (
            "model: {parameterization: matrix, widths: [3, 2]}\ntraining: {schedule: {name: cosine, gamma: 0.5}}",
            "training.schedule.gamma"
        ),
        ("model: {parameterization: matrix, widths: [3, 2]}\nrecord: {activation: [0.1, -1]}", "record.activation[1]"),
        ("model: {parameterization: matrix, widths: [3, 2]}\nrecord: {pl_constant: 0}", "record.pl_constant"),
        ("model: {parameterization: matrix, widths: [3, 0]}", "model.widths[1]"),
        ("model: {parameterization: matrix, widths: [3]}", "model.widths"),
        ("model: {parameterization: matrix, widths: [8, 2]}\nproblem: {n: 4, whiten: true}", "problem.whiten"),
        (
            "model: {parameterization: matrix, widths: [3, 2]}\nproblem: {teacher: {singular_values: [1, 2, 3]}}",
            "problem.teacher.singular_values"
        ),
        ("model: {parameterization: matrix, widths: [3, 2], init: {kind: spectral}}", "model.init.singular_values"),
        ("model: {parameterization: matrix, widths: [3, 2], init: {kind: normal}}", "model.init.kind"),
        ("model: {parameterization: matrix, widths: [3, 2], depht: 3}", "model.depht"),
        ("model: {parameterization: matrix, widths: [3, 3, 3, 3, 3]}\ngrid: {alpha: 1e-9}", "grid.alpha[0]"),
        ("model: {parameterization: matrix, widths: [3, 2]}\nproblem: {task: classification}", "problem.task"),
        (
            "model: {parameterization: matrix, widths: [3, 2]}\nproblem: {task: sensing, operator: diagonal}",
            "problem.operator"
        ),
        ("model: {parameterization: matrix, widths: [3, 3]}\nproblem: {task: sensing, whiten: true}", "problem.whiten"),
        ("model: {parameterization: matrix, widths: [3, 3]}\nproblem: {operator: symmetric}", "problem.operator"),
        ("model: {parameterization: matrix, widths: [4, 2, 3], factorization: symmetric}", "model.factorization"),
        (
            "model: {parameterization: matrix, widths: [4, 2, 4], factorization: symmetric}\nproblem: {task: sensing}",
            "model.factorization"
        )
    ])
    func badInputNamesItsKey(yaml: String, key: String) {
        do {
            _ = try Self.config(yaml)
            Issue.record("accepted: \(yaml)")
        } catch let error as DLNError {
            guard case .invalidConfiguration(_, let issues) = error else {
                Issue.record("wrong error \(error)")
                return
            }
            #expect(issues.contains { $0.path == key }, "\(issues) should name \(key)")
        } catch {
            Issue.record("wrong error \(error)")
        }
    }
}
