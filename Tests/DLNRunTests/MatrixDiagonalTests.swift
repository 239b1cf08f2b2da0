import DLNModel
import Foundation
import Testing

@testable import DLNRun

/// The diagonal network is the matrix model with diagonal layers and diagonal data: X = √n·I (n = n_0 = d),
/// Y = X·diag(t), W_l(0) = diag(α·c_l). The matrix model's layers then stay diagonal, and their diagonals equal the
/// `deep` diagonal model's layers (run through its own configuration, data files and engine) to ≤ 1e-12 relative in
/// float64, step for step.
struct MatrixDiagonalTests {
    @Test(arguments: [2, 3])
    func diagonalLayersAreTheDeepModel(depth: Int) throws {
        let d = 6
        let scales = [1.0, 1.5, 0.8, 1.2].prefix(depth)
        let teacher = [1.0, -0.7, 0.4, 0.0, 2.0, 0.25]
        let alpha = 0.6
        let eta = 0.05
        let lambda = 0.01
        let steps = 400
        let root = Double(d).squareRoot()
        let x = (0..<(d * d)).map { $0 / d == $0 % d ? root : 0 }
        let y = (0..<d).map { root * teacher[$0] }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("dlnsim-mxdiag-\(UUID().uuidString)")
            .path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try NPY.write(x, shape: [d, d], dtype: .float64, to: dir + "/X.npy")
        try NPY.write(y, shape: [d], dtype: .float64, to: dir + "/y.npy")
        let yaml = """
            problem: {files: {X: X.npy, y: y.npy}}
            model: {parameterization: deep, depth: \(depth), init: {layer_scales: \(Array(scales))}}
            training: {steps: \(steps), precision: float64}
            grid: {alpha: \(alpha), learning_rate: \(eta), weight_decay: \(lambda)}
            record: {checkpoints: 2}
            """
        let c = try Configuration.parse(yaml: yaml, file: "deep.yaml", baseDirectory: dir)
        let experiment = try Experiment(c)
        let result = try Simulation.run(experiment, on: CPUEngine(), keepFinalState: true)
        let layers = try #require(result.finalStates?.first).layers.map { $0.doubles(0..<d) }

        // The matrix model: widths [d, …, d], Y = X·diag(t) (d outputs); sample μ's residual is non-zero in output μ only,
        // where it is the diagonal model's residual for its label y_μ.
        let shape = MatrixShape(widths: [Int](repeating: d, count: depth + 1))
        var initial: [Double] = []
        for l in 0..<depth { initial += (0..<(d * d)).map { $0 / d == $0 % d ? alpha * scales[l] : 0 } }
        let ymat = (0..<(d * d)).map { $0 / d == $0 % d ? root * teacher[$0 / d] : 0 }
        let batch = MatrixBatch(
            shape: shape, samples: d, precision: .float64,
            datasets: [MatrixData(x: .double(x), y: .double(ymat))], dataset: [0], eta: [eta], lambdaU: [lambda],
            gradientScale: 1 / Double(d), lossScale: 0.5 / Double(d), initial: initial)
        let engine = MatrixCPUEngine(threads: 1)
        try engine.initialize(batch)
        try engine.step(count: steps)
        let p = try engine.parameters().doubles
        var worst = 0.0
        var offDiagonal = 0.0
        for l in 0..<depth {
            for i in 0..<d {
                for j in 0..<d {
                    let v = p[shape.layerOffset(l + 1) + i * d + j]
                    if i == j {
                        worst = max(worst, abs(v - layers[l][i]) / max(abs(layers[l][i]), 1e-12))
                    } else {
                        offDiagonal = max(offDiagonal, abs(v))
                    }
                }
            }
        }
        #expect(worst <= 1e-12, "depth \(depth): largest relative difference of the diagonals \(worst)")
        #expect(offDiagonal == 0, "the layers stay diagonal")
        #expect(layers[0][0] != alpha * scales[0], "the deep model moved")
    }
}
