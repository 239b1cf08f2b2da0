import DLNModel
import DLNRun
import DLNTheory
import Foundation
import TestSupport
import Testing

/// The curvature observables against a dense float64 eigen-solve: the test builds the loss Hessian and the tangent
/// kernel from the engine's layers with its own derivatives (exact finite differences of w, a polynomial of degree
/// ≤ 2 in each layer value), and `Dense.symmetricEigenvalues` gives their spectra.
@Suite struct CurvatureTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var model: Parameterization, depth = 2, d: Int, n: Int, steps: Int
        var lambda = 0.0, loss: LossNormalization = .mean, alpha = 0.5
        var testDescription: String {
            "\(model.rawValue)\(model.isDeep ? "\(depth)" : "") d=\(d) n=\(n) ×\(steps) λ=\(lambda) \(loss.rawValue)"
        }
    }

    static let cases: [Case] = [
        Case(model: .pm, d: 12, n: 8, steps: 0, alpha: 0.1),  // at w = 0: a saddle, eigenvalues ±ḡ_j
        Case(model: .pm, d: 12, n: 8, steps: 300, lambda: 0.01),
        Case(model: .pm, d: 5, n: 8, steps: 200, loss: .sum),  // n > d: K has a null space
        Case(model: .uv, d: 10, n: 6, steps: 200),
        Case(model: .deep, depth: 3, d: 8, n: 6, steps: 200, lambda: 0.001),
        Case(model: .deepPM, depth: 2, d: 9, n: 7, steps: 200),
        Case(model: .deepPM, depth: 3, d: 6, n: 8, steps: 200, lambda: 0.001)
    ]

    /// w of one coordinate from its layer values, written independently of the families.
    static func weight(_ model: Parameterization, _ u: [Double]) -> Double {
        switch model {
        case .pm: return (u[0] * u[0] - u[1] * u[1]) / 2
        case .uv: return u[0] * u[1]
        case .deep: return u.reduce(1, *)
        case .deepPM:
            let h = u.count / 2
            return u[..<h].reduce(1, *) - u[h...].reduce(1, *)
        }
    }

    /// The first and second derivatives of w at u: central differences with step 1/2, exact up to rounding for a
    /// polynomial of degree ≤ 2 in each variable.
    static func derivatives(_ model: Parameterization, _ u: [Double]) -> (jac: [Double], hess: [[Double]]) {
        let L = u.count
        let h = 0.5
        func f(_ shifts: [(Int, Double)]) -> Double {
            var v = u
            for (l, s) in shifts { v[l] += s }
            return weight(model, v)
        }
        let jac = (0..<L).map { l in (f([(l, h)]) - f([(l, -h)])) / (2 * h) }
        var hess = [[Double]](repeating: [Double](repeating: 0, count: L), count: L)
        for l in 0..<L {
            for m in 0..<L {
                hess[l][m] =
                    l == m
                    ? (f([(l, h)]) - 2 * f([]) + f([(l, -h)])) / (h * h)
                    : (f([(l, h), (m, h)]) - f([(l, h), (m, -h)]) - f([(l, -h), (m, h)]) + f([(l, -h), (m, -h)]))
                        / (4 * h * h)
            }
        }
        return (jac, hess)
    }

    @Test(arguments: cases)
    func lanczosMatchesDenseEigenvalues(_ c: Case) throws {
        let batch = try makeBatch(
            d: c.d, n: c.n, replicas: 3, model: c.model, depth: c.depth, precision: .float64, sharing: .independent,
            lambda: [c.lambda], eta: [0.02], alpha: [c.alpha], loss: c.loss
        ) { config in
            config.record.sharpness = 500
            config.record.plConstant = 500
        }
        let engine = CPUEngine()
        try engine.initialize(batch)
        try engine.step(count: c.steps)
        let observation = try engine.observe()
        let state = try engine.state()
        let sharpness = observation.values[try #require(observation.names.firstIndex(of: "sharpness"))]
        let pl = observation.values[try #require(observation.names.firstIndex(of: "pl_constant"))]
        let (n, d) = (c.n, c.d)
        let L = batch.layout.layers
        let scale = batch.gradientScale
        for b in 0..<batch.replicas.count {
            let data = batch.datasets[batch.replicas[b].dataset]
            let x = data.x.doubles
            let y = data.y.doubles
            let layers = (0..<d).map { j in (0..<L).map { l in state.layers[l].doubles[b * d + j] } }
            let w = layers.map { Self.weight(c.model, $0) }
            let r = (0..<n).map { i in (0..<d).reduce(0.0) { $0 + x[i * d + $1] * w[$1] } - y[i] }
            let g = (0..<d).map { j in scale * (0..<n).reduce(0.0) { $0 + x[$1 * d + j] * r[$1] } }
            let parts = layers.map { Self.derivatives(c.model, $0) }
            // Hessian in the P = L·d layer values (index l·d + j).
            let P = L * d
            var H = [Double](repeating: 0, count: P * P)
            for j in 0..<d {
                for k in 0..<d {
                    let a = scale * (0..<n).reduce(0.0) { $0 + x[$1 * d + j] * x[$1 * d + k] }
                    for l in 0..<L {
                        for m in 0..<L { H[(l * d + j) * P + m * d + k] += parts[j].jac[l] * a * parts[k].jac[m] }
                    }
                }
                for l in 0..<L {
                    for m in 0..<L { H[(l * d + j) * P + m * d + j] += g[j] * parts[j].hess[l][m] }
                    H[(l * d + j) * P + l * d + j] += batch.replicas[b].lambdaU
                }
            }
            let hEigen = Dense.symmetricEigenvalues(H, P)
            let top = hEigen.last!
            #expect(abs(sharpness[b] - top) <= 1e-6 * abs(top), "replica \(b): sharpness \(sharpness[b]) vs \(top)")
            // Tangent kernel K = scale·X·diag(D)·Xᵀ, D_j = Σ_l (∂w_j/∂u_l)².
            let D = parts.map { $0.jac.reduce(0) { $0 + $1 * $1 } }
            var K = [Double](repeating: 0, count: n * n)
            for i in 0..<n {
                for k in 0..<n {
                    K[i * n + k] = scale * (0..<d).reduce(0.0) { $0 + x[i * d + $1] * D[$1] * x[k * d + $1] }
                }
            }
            let kEigen = Dense.symmetricEigenvalues(K, n)
            let largest = kEigen.last!
            let smallest = try #require(kEigen.first { $0 > 1e-8 * largest })
            #expect(abs(pl[b] - smallest) <= 1e-6 * smallest, "replica \(b): pl_constant \(pl[b]) vs \(smallest)")
            if c.steps == 0 && c.model == .pm {
                // At w = 0 the saddle's negative eigenvalues are as large as its positive ones: Lanczos still
                // reports the largest (algebraic) one.
                #expect(hEigen.first! < -0.5 * top)
            }
        }
    }

    /// The host's tridiagonal eigenvalues: a known spectrum (the path graph's Laplacian-like matrix 2·I − adjacency
    /// has eigenvalues 2 − 2cos(kπ/(m+1))), and the non-zero rule.
    @Test func tridiagonalEigenvalues() {
        let m = 9
        let alpha = [Double](repeating: 2, count: m)
        let beta = [Double](repeating: -1, count: m - 1)
        for k in 0..<m {
            let exact = 2 - 2 * cos(Double(k + 1) * .pi / Double(m + 1))
            #expect(abs(Tridiagonal.eigenvalue(k, alpha: alpha, beta: beta) - exact) < 1e-14)
        }
        // diag(0, 1e-12, 3, 5): the smallest above 1e-8·5 is 3.
        #expect(Tridiagonal.smallestNonZero(alpha: [0, 1e-12, 3, 5], beta: [0, 0, 0], threshold: 1e-8) == 3)
        #expect(Tridiagonal.smallestNonZero(alpha: [0, 0], beta: [0], threshold: 1e-8) == 0)
        #expect(Tridiagonal.largest(alpha: [], beta: []).isNaN)
    }
}
