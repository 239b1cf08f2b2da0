import DLNTheory
import Foundation
import Testing

/// The mode equation of `SaxeModes` against the network it describes: gradient flow of a 3×3, depth-3 full-matrix
/// linear network (whitened inputs, mean loss, weight decay on every layer) from a balanced initialisation aligned
/// with the teacher's singular vectors, integrated by float64 RK4 on all 27 weights.
@Suite struct SaxeMatrixTests {
    typealias Matrix = [Double]  // 3×3, row-major
    static let n = 3

    static func product(_ a: Matrix, _ b: Matrix) -> Matrix {
        var c = Matrix(repeating: 0, count: n * n)
        for i in 0..<n {
            for j in 0..<n {
                for k in 0..<n { c[i * n + j] += a[i * n + k] * b[k * n + j] }
            }
        }
        return c
    }

    static func transpose(_ a: Matrix) -> Matrix {
        (0..<(n * n)).map { a[($0 % n) * n + $0 / n] }
    }

    static func diagonal(_ d: [Double]) -> Matrix {
        (0..<(n * n)).map { $0 % (n + 1) == 0 ? d[$0 / (n + 1)] : 0 }
    }

    static let identity = diagonal([1, 1, 1])

    /// R_z(α)·R_y(β)·R_x(γ).
    static func rotation(_ alpha: Double, _ beta: Double, _ gamma: Double) -> Matrix {
        let (ca, sa, cb, sb, cg, sg) = (cos(alpha), sin(alpha), cos(beta), sin(beta), cos(gamma), sin(gamma))
        let z: Matrix = [ca, -sa, 0, sa, ca, 0, 0, 0, 1]
        let y: Matrix = [cb, 0, sb, 0, 1, 0, -sb, 0, cb]
        let x: Matrix = [1, 0, 0, 0, cg, -sg, 0, sg, cg]
        return product(z, product(y, x))
    }

    /// W_L⋯W_1 restricted to layers first..<last (the identity when empty).
    static func chain(_ w: [Matrix], _ first: Int, _ last: Int) -> Matrix {
        (first..<last).reduce(identity) { product(w[$1], $0) }
    }

    /// dW_l/dt = (W_L⋯W_{l+1})ᵀ(T − W_eff)(W_{l−1}⋯W_1)ᵀ − λ_u·W_l: the mean-loss gradient flow with Σ = I.
    static func velocity(_ w: [Matrix], teacher: Matrix, lambdaU: Double) -> [Matrix] {
        let residual = zip(teacher, chain(w, 0, w.count)).map { $0 - $1 }
        return w.indices.map { l in
            let left = transpose(chain(w, l + 1, w.count))
            let right = transpose(chain(w, 0, l))
            let g = product(left, product(residual, right))
            return zip(g, w[l]).map { $0 - lambdaU * $1 }
        }
    }

    static func step(_ w: [Matrix], _ h: Double, teacher: Matrix, lambdaU: Double) -> [Matrix] {
        func shifted(_ k: [Matrix], _ c: Double) -> [Matrix] {
            zip(w, k).map { wl, kl in zip(wl, kl).map { $0 + c * $1 } }
        }
        let k1 = velocity(w, teacher: teacher, lambdaU: lambdaU)
        let k2 = velocity(shifted(k1, h / 2), teacher: teacher, lambdaU: lambdaU)
        let k3 = velocity(shifted(k2, h / 2), teacher: teacher, lambdaU: lambdaU)
        let k4 = velocity(shifted(k3, h), teacher: teacher, lambdaU: lambdaU)
        return w.indices.map { l in
            (0..<(n * n)).map { i in
                w[l][i] + h / 6 * (k1[l][i] + 2 * k2[l][i] + 2 * k3[l][i] + k4[l][i])
            }
        }
    }

    /// Each mode strength u_iᵀW_eff v_i follows `SaxeModes.strength` to 1e-8 relative at t = 0.5…6 (growth from
    /// 0.01 and 0.05, decay from 3 onto a₊ < s), the cross terms u_iᵀW_eff v_j stay below 1e-10, and the balance
    /// W_{l+1}ᵀW_{l+1} − W_l W_lᵀ stays 0 to 1e-12: the modes decouple as the theory assumes.
    @Test func balancedAlignedNetworkFollowsTheModes() {
        let (depth, lambda) = (3, 0.05)
        let s: [Double] = [2, 1, 0.5]
        let a0: [Double] = [0.01, 3, 0.05]
        let u = Self.rotation(0.4, -0.9, 1.3)
        let v = Self.rotation(-0.2, 0.6, -1.1)
        let teacher = Self.product(u, Self.product(Self.diagonal(s), Self.transpose(v)))
        // W_l = R_l·diag(c0)·R_{l−1}ᵀ with R_0 = V, R_L = U and arbitrary rotations in between.
        let frames = [v, Self.rotation(1.1, 0.3, -0.7), Self.rotation(-1.2, 0.4, 0.9), u]
        let c0 = Self.diagonal(a0.map { Foundation.pow($0, 1 / Double(depth)) })
        var w = (1...depth).map { l in Self.product(frames[l], Self.product(c0, Self.transpose(frames[l - 1]))) }
        let checkpoints: [Double] = [0.5, 1, 2, 4, 6]
        let theory = s.indices.map { i in
            SaxeModes.strength(s: s[i], a0: a0[i], depth: depth, lambdaU: lambda, at: checkpoints)
        }
        let h = 5e-4
        var now = 0.0
        for (k, t) in checkpoints.enumerated() {
            let steps = Int(((t - now) / h).rounded())
            for _ in 0..<steps { w = Self.step(w, h, teacher: teacher, lambdaU: lambda) }
            now = t
            let modes = Self.product(Self.transpose(u), Self.product(Self.chain(w, 0, depth), v))
            for i in 0..<Self.n {
                for j in 0..<Self.n {
                    let m = modes[i * Self.n + j]
                    if i == j {
                        let error = SaxeModesTests.relativeError(m, theory[i][k])
                        #expect(error <= 1e-8, "t = \(t), mode \(i): \(m) vs \(theory[i][k])")
                    } else {
                        #expect(abs(m) <= 1e-10, "t = \(t), cross term (\(i), \(j)): \(m)")
                    }
                }
            }
            for l in 0..<(depth - 1) {
                let above = Self.product(Self.transpose(w[l + 1]), w[l + 1])
                let below = Self.product(w[l], Self.transpose(w[l]))
                let imbalance = zip(above, below).map { abs($0 - $1) }.max()!
                #expect(imbalance <= 1e-12, "t = \(t), layer \(l): \(imbalance)")
            }
        }
    }
}
