import DLNDevice
import DLNModel
import DLNRun
import DLNTheory
import Foundation
import TestSupport
import Testing

/// Oracles of docs/model.md §8 checked against simulations run through the public engine interface, on the CPU
/// engine and on OpenCL.
/// The quick checks (seconds) are here; the long oracle runs are in OracleTests (`swift test --filter OracleTests`).
@Suite(.serialized) struct TheoryTests {

    /// O5: as α grows the interpolator tends to the minimum-ℓ2 one, with an error ∝ α⁻⁴.
    @Test func largeAlphaLimitIsMinimumNorm() throws {
        let (n, d) = (15, 30)
        let (x, y, _) = Self.instance(n: n, d: d, seed: 3)
        let l2 = try #require(ImplicitBias.minimumNorm(x: x, y: y, n: n, d: d))
        var errors: [Double] = []
        for alpha in [10.0, 20.0] {
            let s = ImplicitBias.solve(x: x, y: y, n: n, d: d, beta: [Double](repeating: alpha * alpha, count: d))
            #expect(s.converged)
            errors.append(zip(s.w, l2).map { abs($0 - $1) }.max()!)
        }
        #expect(abs(errors[0] / errors[1] - 16) < 1.0, "error ratio for α ×2: \(errors[0] / errors[1]) (expected 2⁴)")
    }

    /// A rank-deficient X is solved in its row space and says so, never silently; labels outside the range of X
    /// are named as the part no w fits.
    @Test func rankDeficientDesignIsFlagged() {
        let x: [Double] = [1, 2, 3, 2, 4, 6]  // two proportional rows
        let s = ImplicitBias.solve(x: x, y: [1, 2], n: 2, d: 3, beta: [0.1, 0.1, 0.1])
        #expect(s.converged && s.message.contains("rank 1 < n = 2") && s.message.contains("row space"))
        let r = zip(Dense.multiply(x, 2, 3, s.w), [1.0, 2]).map { abs($0 - $1) }
        #expect(r.max()! < 1e-10, "\(r)")
        let inconsistent = ImplicitBias.solve(x: x, y: [1, 3], n: 2, d: 3, beta: [0.1, 0.1, 0.1])
        #expect(inconsistent.message.contains("outside the range of X"), "\(inconsistent.message)")
    }

    /// O7, O8: the whitened closed form matches an independent RK4 integration of ż = −s(z² − 2w̄z − α⁴) to 1e-9,
    /// gradient descent with a small step follows it to O(η), and the half time has its small-α form.
    @Test func whitenedClosedFormOnCPU() throws { try whitenedClosedForm(side: .cpu) }
    @Test(.needsFP64) func whitenedClosedFormOnOpenCL() throws { try whitenedClosedForm(side: .opencl) }
    func whitenedClosedForm(side: Side) throws {
        let (s, wbar, alpha) = (0.8, 1.3, 0.05)
        // Closed form against RK4 on z = u².
        var z = alpha * alpha
        var t = 0.0
        let h = 1e-4
        let a4 = alpha * alpha * alpha * alpha
        func f(_ z: Double) -> Double { -s * (z * z - 2 * wbar * z - a4) }
        var worst = 0.0
        while t < 12 {
            let k1 = f(z)
            let k2 = f(z + h / 2 * k1)
            let k3 = f(z + h / 2 * k2)
            let k4 = f(z + h * k3)
            let sum: Double = k1 + 2 * k2 + 2 * k3 + k4
            z += h / 6 * sum
            t += h
            let numeric: Double = (z - a4 / z) / 2
            worst = max(worst, abs(numeric - ClosedForm.whitened(t: t, s: s, target: wbar, alpha: alpha)))
        }
        #expect(worst < 1e-9)
        #expect(
            ClosedForm.whitened(t: 5, s: s, target: -wbar, alpha: alpha) == -ClosedForm.whitened(
                t: 5, s: s, target: wbar, alpha: alpha))
        let exact = ClosedForm.halfTime(s: s, target: wbar, alpha: 1e-3)
        #expect(abs(ClosedForm.whitened(t: exact, s: s, target: wbar, alpha: 1e-3) - wbar / 2) < 1e-12)
        #expect(abs(ClosedForm.halfTimeSmallAlpha(s: s, target: wbar, alpha: 1e-3) / exact - 1) < 1e-4)
        // The simulator on a diagonal design: d = n = 6, XᵀX/n = diag(s_j).
        let engine = try Self.engine(side, fp64: true)
        let d = 6
        let eta = 1e-3
        let scales: [Double] = (0..<d).map { (j: Int) -> Double in 0.5 + 0.2 * Double(j) }
        let (x, _, _) = Self.instance(n: d, d: d, seed: 5, diagonal: scales)
        let targets: [Double] = (0..<d).map { (j: Int) -> Double in j % 2 == 0 ? 1.0 + 0.1 * Double(j) : -0.7 }
        let y: [Double] = (0..<d).map { (j: Int) -> Double in x[j * d + j] * targets[j] }
        try engine.initialize(try Self.batch(x, y, n: d, d: d, alphas: [0.1], eta: eta, update: .gd))
        try engine.step(count: 6000)
        let w = try engine.state().weights.doubles
        for j in 0..<d {
            let expected = ClosedForm.whitened(t: 6000 * eta, s: scales[j], target: targets[j], alpha: 0.1)
            #expect(abs(w[j] - expected) < 5e-3, "coordinate \(j): GD \(w[j]), gradient flow \(expected)")
        }
    }

    /// O10: with weight decay the dynamics converge to the lasso solution with λ_u, checked by coordinate
    /// descent and by the KKT conditions.
    @Test func weightDecayConvergesToTheLassoOnCPU() throws { try weightDecayConvergesToTheLasso(side: .cpu) }
    @Test(.needsFP64) func weightDecayConvergesToTheLassoOnOpenCL() throws {
        try weightDecayConvergesToTheLasso(side: .opencl)
    }
    func weightDecayConvergesToTheLasso(side: Side) throws {
        let engine = try Self.engine(side, fp64: true)
        let (n, d) = (25, 40)
        let (x, y, _) = Self.instance(n: n, d: d, seed: 21)
        let lambda = 0.2  // the instance's margin λ − max_off|g| is 0.012: inactive coordinates decay like e^{−0.024t}
        try engine.initialize(try Self.batch(x, y, n: n, d: d, alphas: [0.5], eta: 0.02, lambda: lambda, update: .gd))
        try engine.step(count: 50_000)
        let w = try engine.state().weights.doubles
        let lasso = Lasso.solve(x: x, y: y, n: n, d: d, lambda: lambda)
        #expect(lasso.converged)
        #expect(Lasso.kktViolation(x: x, y: y, n: n, d: d, lambda: lambda, w: lasso.w, threshold: 1e-12) < 1e-9)
        let error = zip(w, lasso.w).map { abs($0 - $1) }.max()!
        print("O10 \(side): max |w_sim − w_lasso| = \(error)")
        #expect(error < 1e-6)
        #expect(Lasso.kktViolation(x: x, y: y, n: n, d: d, lambda: lambda, w: w, threshold: 1e-6) < 1e-6)
    }

    /// O6: plain gradient descent converges to the interpolator of its own scale α²∏(1 − η²g²) and offset
    /// −Σ(artanh ηg − ηg), not to the gradient-flow one.
    @Test func discreteGradientDescentImplicitBiasOnCPU() throws { try discreteGradientDescentImplicitBias(side: .cpu) }
    @Test(.needsFP64) func discreteGradientDescentImplicitBiasOnOpenCL() throws {
        try discreteGradientDescentImplicitBias(side: .opencl)
    }
    func discreteGradientDescentImplicitBias(side: Side) throws {
        let engine = try Self.engine(side, fp64: true)
        let (n, d, eta, alpha) = (20, 40, 0.1, 0.5)
        let (x, y, _) = Self.instance(n: n, d: d, seed: 17)
        try engine.initialize(try Self.batch(x, y, n: n, d: d, alphas: [alpha], eta: eta, update: .gd))
        var bias = ImplicitBias.DiscreteGD(alpha: alpha, eta: eta, dimension: d)
        for _ in 0..<4000 {
            bias.record(gradient: Self.gradient(x, y, n: n, d: d, w: try engine.state().weights.doubles))
            try engine.step(count: 1)
        }
        let w = try engine.state().weights.doubles
        #expect(bias.stable)
        let residual = Dense.norm(zip(Dense.multiply(x, n, d, w), y).map { $0 - $1 }) / Dense.norm(y)
        #expect(residual < 1e-11)
        let predicted = bias.solve(x: x, y: y, n: n, d: d)
        #expect(predicted.converged, "\(predicted.message)")
        let error = zip(w, predicted.w).map { abs($0 - $1) }.max()!
        let flow = ImplicitBias.solve(x: x, y: y, n: n, d: d, beta: [Double](repeating: alpha * alpha, count: d))
        let naive = zip(w, flow.w).map { abs($0 - $1) }.max()!
        print("O6 \(side): GD vs its own bias \(error), vs the gradient-flow bias \(naive)")
        #expect(error < 1e-9)
        #expect(naive > 1e-4, "the discrete correction must matter on this instance")
    }

    /// O4′: `uv` from (u₀, v₀) tends to the Bregman interpolator of scale |u₀² − v₀²|/2 and offset
    /// ½arcsinh(w₀/β); with u₀ = √2α, v₀ = 0 that is the `pm` one. Small-step GD is within O(η).
    @Test func uvBregmanBiasOnCPU() throws { try uvBregmanBias(side: .cpu) }
    @Test(.needsFP64) func uvBregmanBiasOnOpenCL() throws { try uvBregmanBias(side: .opencl) }
    func uvBregmanBias(side: Side) throws {
        let engine = try Self.engine(side, fp64: true)
        let (beta, offset) = ImplicitBias.bregman(u0: [Double(2).squareRoot() * 0.3], v0: [0])
        #expect(abs(beta[0] - 0.09) < 1e-15 && offset[0] == 0)
        var c = Configuration()
        c.problem.d = 30
        c.problem.n = 15
        c.problem.delta = nil
        c.problem.teacherDensity = 0.2
        c.model.parameterization = .uv
        c.model.uNoise = 0.3
        c.model.vNoise = 0.5
        c.training.precision = .float64
        c.training.steps = 1
        c.grid.alpha = [0.7]
        c.grid.learningRate = [0.002]
        let batch = try Experiment(c).batch
        try engine.initialize(batch)
        let start = try engine.state()
        try engine.step(count: 40_000)
        let w = try engine.state().weights.doubles
        let (b, o) = ImplicitBias.bregman(u0: start.layers[0].doubles, v0: start.layers[1].doubles)
        let x = batch.datasets[0].x.doubles
        let y = batch.datasets[0].y.doubles
        let s = ImplicitBias.solve(x: x, y: y, n: 15, d: 30, beta: b, offset: o)
        #expect(s.converged)
        let error = zip(w, s.w).map { abs($0 - $1) }.max()!
        let plain = ImplicitBias.solve(x: x, y: y, n: 15, d: 30, beta: b)
        let withoutOffset = zip(w, plain.w).map { abs($0 - $1) }.max()!
        print("O4′ \(side): uv GD (η = 0.002) vs the Bregman bias \(error); without the offset \(withoutOffset)")
        #expect(error < 2e-3 && error < withoutOffset / 5)
    }

    /// O9: the train loss decays at the late-time rate predicted from the fixed point (2% on a float64 fit over
    /// 1e-17…1e-9), and that rate grows with α.
    @Test func lateTimeRateOnCPU() throws { try lateTimeRate(side: .cpu) }
    @Test(.needsFP64) func lateTimeRateOnOpenCL() throws { try lateTimeRate(side: .opencl) }
    func lateTimeRate(side: Side) throws {
        let engine = try Self.engine(side, fp64: true)
        let (n, d, eta) = (20, 40, 0.05)
        let (x, y, _) = Self.instance(n: n, d: d, seed: 29)
        let alphas = [0.7, 1.5]
        try engine.initialize(try Self.batch(x, y, n: n, d: d, alphas: alphas, eta: eta, update: .gd))
        var times: [Double] = []
        var losses: [[Double]] = [[], []]
        for k in 0...800 {
            if k > 0 { try engine.step(count: 10) }
            times.append(Double(k * 10) * eta)
            let l = try engine.observe().trainLoss
            for a in 0..<2 { losses[a].append(l[a]) }
        }
        let w = try engine.state().weights.doubles
        var rates: [Double] = []
        for (a, alpha) in alphas.enumerated() {
            let wa = Array(w[(a * d)..<((a + 1) * d)])
            // GD's own fixed point (its scale shrinks from α² by ∏(1 − η²g²)) barely moves q∞; the limit reached is
            // used.
            let predicted = try #require(
                Rates.predictedRate(
                    x: x, n: n, d: d, limit: wa, beta: [Double](repeating: alpha * alpha, count: d), eta: eta))
            let fitted = try #require(
                Rates.fittedRate(times: times, loss: losses[a]), "the loss never crossed 1e-17…1e-9")
            print("O9 \(side) α = \(alpha): predicted γ = \(predicted), fitted \(fitted)")
            #expect(abs(fitted / predicted - 1) < 0.02)
            rates.append(fitted)
        }
        #expect(rates[1] > rates[0])
    }

    @Test func transitionDetection() {
        let t = (0..<100).map { Double($0) }
        let loss = t.map { 1 / (1 + $0 * $0) }
        let test = t.map { $0 < 40 ? 1.0 : $0 < 60 ? 1 - ($0 - 40) / 20 * 0.9 : 0.1 }
        // Fitted at t ≈ 32; the test error crosses (1 + 0.1)/2 = 0.55 at t = 50.
        #expect(abs((Rates.lazyToRichTime(times: t, trainLoss: loss, testError: test) ?? 0) - 50) < 1e-9)
        #expect(
            abs((Rates.halfwayTime(times: t, values: t.map { 2 * tanh($0 / 10) }) ?? 0) - 10 * atanh(0.5 * tanh(9.9)))
                < 0.5)
        #expect(
            Rates.fittedRate(times: t, loss: t.map { exp(-0.3 * $0) }, low: 1e-12, high: 1e-2).map {
                abs($0 - 0.3) < 1e-12
            } == true)
        #expect(Rates.lazyToRichTime(times: t, trainLoss: t.map { _ in 1 }, testError: test) == nil)
    }

    /// O1, O3: the multiplicative update keeps u⊙v = α²e^{−2λt} and ρ = ½ln(u/v) ∈ range(Xᵀ) to rounding (it is
    /// mirror descent); plain gradient descent does not (the control).
    @Test func conservationAndMirrorInvariantOnCPU() throws { try conservationAndMirrorInvariant(side: .cpu) }
    @Test(.needsFP64) func conservationAndMirrorInvariantOnOpenCL() throws {
        try conservationAndMirrorInvariant(side: .opencl)
    }
    func conservationAndMirrorInvariant(side: Side) throws {
        let engine = try Self.engine(side, fp64: true)
        let (n, d, alpha) = (15, 35, 0.4)
        let (x, y, _) = Self.instance(n: n, d: d, seed: 31)
        var residuals: [UpdateRule: (Double, Double)] = [:]
        for update in [UpdateRule.multiplicative, .gd] {
            try engine.initialize(
                try Self.batch(x, y, n: n, d: d, alphas: [alpha], eta: 0.05, lambda: 0.01, update: update))
            try engine.step(count: 3000)
            let conservation = try #require(try engine.observe()["conservation"]?.first)
            let state = try engine.state()
            let rho = zip(state.layers[0].doubles, state.layers[1].doubles).map { 0.5 * Foundation.log($0 / $1) }
            // Distance of ρ from range(Xᵀ): ρ − Xᵀ(XXᵀ)⁻¹Xρ.
            let l = try #require(Dense.cholesky(Dense.weightedGram(x, n, d, [Double](repeating: 1, count: d)), n))
            let projected = Dense.multiplyTransposed(x, n, d, Dense.choleskySolve(l, n, Dense.multiply(x, n, d, rho)))
            let off = Dense.norm(zip(rho, projected).map { $0 - $1 }) / Dense.norm(rho)
            residuals[update] = (conservation, off)
            print("O1/O3 \(side) \(update.rawValue): conservation residual \(conservation), ρ off range(Xᵀ) \(off)")
        }
        #expect(residuals[.multiplicative]!.0 < 1e-12 && residuals[.multiplicative]!.1 < 1e-12)
        #expect(residuals[.gd]!.0 > 1e-6 && residuals[.gd]!.1 > 1e-6)
    }

    /// O7b: depth-L closed forms. The quadrature reproduces theory.md's example (L = 6, α = 0.1, s = 1, θ̄ = 1.5:
    /// time to θ̄/2 = 1666.70, escape approximation 1666.67), agrees with the L = 2 logistic, and a depth-3
    /// gradient-descent run on a diagonal design follows θ(t) to O(η) on both engines.
    @Test func deepClosedFormsOnCPU() throws { try deepClosedForms(side: .cpu) }
    @Test(.needsFP64) func deepClosedFormsOnOpenCL() throws { try deepClosedForms(side: .opencl) }
    func deepClosedForms(side: Side) throws {
        let exact = ClosedForm.deepTime(theta: 0.75, depth: 6, s: 1, target: 1.5, alpha: 0.1)
        #expect(abs(exact - 1666.70) < 0.01, "\(exact)")
        #expect(abs(ClosedForm.deepEscapeTime(depth: 6, s: 1, target: 1.5, alpha: 0.1) - 1666.67) < 0.01)
        let t2 = ClosedForm.deepTime(theta: 0.6, depth: 2, s: 0.7, target: 1.2, alpha: 0.3)
        #expect(abs(ClosedForm.deepTheta(t: t2, depth: 2, s: 0.7, target: 1.2, alpha: 0.3) - 0.6) < 1e-10)
        let t3 = ClosedForm.deepTime(theta: 0.5, depth: 3, s: 0.9, target: 1.1, alpha: 0.4)
        #expect(abs(ClosedForm.deepTheta(t: t3, depth: 3, s: 0.9, target: 1.1, alpha: 0.4) - 0.5) < 1e-10)
        let engine = try Self.engine(side, fp64: true)
        let d = 4
        let eta = 1e-3
        let alpha = 0.5
        let scales: [Double] = [0.6, 0.9, 1.2, 1.5]
        let (x, _, _) = Self.instance(n: d, d: d, seed: 7, diagonal: scales)
        let targets: [Double] = [0.8, 1.0, 1.3, 0.9]
        let y: [Double] = (0..<d).map { (j: Int) -> Double in x[j * d + j] * targets[j] }
        let layer = [Double](repeating: alpha, count: d)
        let batch = try Batch(
            parameterization: .deep, update: .gd, loss: .mean, precision: .float64, dimension: d, samples: d,
            datasets: [Dataset(x: .double(x), y: .double(y), wStar: nil)],
            replicas: [Replica(gridPoint: 0, seed: 0, dataset: 0, alpha: alpha, lambda: 0, lambdaU: 0, eta: eta)],
            initialLayers: [.double(layer), .double(layer), .double(layer)])
        try engine.initialize(batch)
        try engine.step(count: 4000)
        let w = try engine.state().weights.doubles
        for j in 0..<d {
            let expected = ClosedForm.deepTheta(t: 4, depth: 3, s: scales[j], target: targets[j], alpha: alpha)
            #expect(abs(w[j] - expected) < 5e-3, "coordinate \(j): GD \(w[j]), flow \(expected)")
        }
    }

    /// O5, α → 0: the minimum-ℓ1 interpolator by the LP recovers a sparse teacher exactly, and the implicit-bias
    /// interpolator approaches it as α decreases (as O(1/ln(1/α)) in general, faster here).
    @Test func smallAlphaLimitIsMinimumL1() throws {
        let (n, d) = (20, 40)
        let rng = CounterRNG(seed: 41)
        let x = (0..<(n * d)).map { rng.gaussian(stream: 1, index: UInt64($0)) }
        let teacher = (0..<d).map { j in j % 8 == 0 ? 1 + 0.3 * rng.gaussian(stream: 2, index: UInt64(j)) : 0 }
        let y = Dense.multiply(x, n, d, teacher)
        let l1 = try #require(MinimumL1.solve(x: x, y: y, n: n, d: d))
        #expect(zip(l1, teacher).map { abs($0 - $1) }.max()! < 1e-12)
        var errors: [Double] = []
        for alpha in [1e-2, 1e-4, 1e-6] {
            let s = ImplicitBias.solve(x: x, y: y, n: n, d: d, beta: [Double](repeating: alpha * alpha, count: d))
            #expect(s.converged)
            errors.append(zip(s.w, l1).map { abs($0 - $1) }.max()!)
        }
        #expect(errors[0] > errors[1] && errors[1] > errors[2] && errors[2] < 2e-3, "\(errors)")
        // No interpolator: more independent equations than unknowns.
        let xTall = (0..<(12 * 5)).map { rng.gaussian(stream: 4, index: UInt64($0)) }
        let yTall = (0..<12).map { rng.gaussian(stream: 5, index: UInt64($0)) }
        #expect(MinimumL1.solve(x: xTall, y: yTall, n: 12, d: 5) == nil)
    }

    /// O2 on both engines: u_k⊙v_k = α²∏_j[(1 − ηλ)² − η²g_j²] for `pm` gradient descent, replaying the gradients
    /// from the states (relative 1e-12 after 3000 steps, float64).
    @Test func gradientDescentProductIdentityOnCPU() throws { try gradientDescentProductIdentity(side: .cpu) }
    @Test(.needsFP64) func gradientDescentProductIdentityOnOpenCL() throws {
        try gradientDescentProductIdentity(side: .opencl)
    }
    func gradientDescentProductIdentity(side: Side) throws {
        let engine = try Self.engine(side, fp64: true)
        let (n, d, eta, lambda, alpha) = (20, 40, 0.05, 0.01, 0.3)
        let (x, y, _) = Self.instance(n: n, d: d, seed: 43)
        try engine.initialize(try Self.batch(x, y, n: n, d: d, alphas: [alpha], eta: eta, lambda: lambda, update: .gd))
        var logProduct = [Double](repeating: 2 * log(alpha), count: d)
        for _ in 0..<3000 {
            let g = Self.gradient(x, y, n: n, d: d, w: try engine.state().weights.doubles)
            for j in 0..<d { logProduct[j] += log((1 - eta * lambda) * (1 - eta * lambda) - eta * eta * g[j] * g[j]) }
            try engine.step(count: 1)
        }
        let s = try engine.state()
        let u = s.layers[0].doubles
        let v = s.layers[1].doubles
        let worst = (0..<d).map { abs(u[$0] * v[$0] / exp(logProduct[$0]) - 1) }.max()!
        #expect(worst < 1e-12, "relative error \(worst)")
    }

    /// The Woodworth u^D − v^D path: integrating u̇ = −Du^{D−1}g, v̇ = Dv^{D−1}g (RK4, g = s(w − w̄)) while
    /// accumulating ρ = −∫g, w(t) stays on α^D·h_D(D(D−2)α^{D−2}ρ(t)) (2α²sinh 4ρ for D = 2).
    @Test(arguments: [2, 3, 4])
    func woodworthPath(depth D: Int) {
        let (alpha, s, target) = (0.5, 1.3, 0.4)
        var u = alpha
        var v = alpha
        var rho = 0.0
        func g(_ u: Double, _ v: Double) -> Double { s * (pow(u, Double(D)) - pow(v, Double(D)) - target) }
        func rhs(_ state: (Double, Double, Double)) -> (Double, Double, Double) {
            let gr = g(state.0, state.1)
            return (-Double(D) * pow(state.0, Double(D - 1)) * gr, Double(D) * pow(state.1, Double(D - 1)) * gr, -gr)
        }
        let h = 1e-3
        var worst = 0.0
        for _ in 0..<20_000 {
            let k1 = rhs((u, v, rho))
            let k2 = rhs((u + h / 2 * k1.0, v + h / 2 * k1.1, rho + h / 2 * k1.2))
            let k3 = rhs((u + h / 2 * k2.0, v + h / 2 * k2.1, rho + h / 2 * k2.2))
            let k4 = rhs((u + h * k3.0, v + h * k3.1, rho + h * k3.2))
            u += h / 6 * (k1.0 + 2 * k2.0 + 2 * k3.0 + k4.0)
            v += h / 6 * (k1.1 + 2 * k2.1 + 2 * k3.1 + k4.1)
            rho += h / 6 * (k1.2 + 2 * k2.2 + 2 * k3.2 + k4.2)
            let w = pow(u, Double(D)) - pow(v, Double(D))
            worst = max(worst, abs(w - ClosedForm.woodworth(rho: rho, depth: D, alpha: alpha)))
        }
        #expect(abs(pow(u, Double(D)) - pow(v, Double(D)) - target) < 1e-6, "the flow reached w̄")
        #expect(worst < 1e-10, "\(worst)")
        // D = 2: the potential is the mirror map of the path: dQ/dw = arcsinh(w/(2α²)) = 4ρ.
        let w2 = ClosedForm.woodworth(rho: 0.1, depth: 2, alpha: alpha)
        let eps = 1e-6
        let slope =
            (ClosedForm.woodworthPotential2([w2 + eps], alpha: alpha)
                - ClosedForm.woodworthPotential2([w2 - eps], alpha: alpha)) / (2 * eps)
        #expect(abs(slope - 4 * 0.1) < 1e-6)
    }

    /// O13: the deep mirror invariant. Along a depth-3 run from distinct layer scales, ∇𝒬(θ(t)) − ∇𝒬(θ(0)) lies in
    /// range(Xᵀ) up to the step's O(η) departure from gradient flow: halving η halves its distance from the row
    /// space, while θ(t) − θ(0) itself (the non-mirror control) stays O(1) away.
    @Test func deepMirrorInvariantOnCPU() throws { try deepMirrorInvariant(side: .cpu) }
    @Test(.needsFP64) func deepMirrorInvariantOnOpenCL() throws { try deepMirrorInvariant(side: .opencl) }
    func deepMirrorInvariant(side: Side) throws {
        let engine = try Self.engine(side, fp64: true)
        let (n, d) = (10, 25)
        let (x, y, _) = Self.instance(n: n, d: d, seed: 47)
        var distances: [Double] = []
        var controls: [Double] = []
        for eta in [0.004, 0.002] {
            let scales = [0.6, 0.8, 1.1]
            let layers: [RealArray] = scales.map { .double([Double](repeating: $0, count: d)) }
            let batch = try Batch(
                parameterization: .deep, update: .gd, loss: .mean, precision: .float64, dimension: d, samples: n,
                datasets: [Dataset(x: .double(x), y: .double(y), wStar: nil)],
                replicas: [Replica(gridPoint: 0, seed: 0, dataset: 0, alpha: 1, lambda: 0, lambdaU: 0, eta: eta)],
                initialLayers: layers)
            try engine.initialize(batch)
            try engine.step(count: Int((4 / eta).rounded()))
            let state = try engine.state()
            let displacement = DeepMirror.displacement(
                initial: scales.map { [Double](repeating: $0, count: d) },
                current: state.layers.map(\.doubles))
            distances.append(try #require(DeepMirror.distanceFromRowSpace(displacement, x: x, n: n, d: d)))
            let theta0 = scales.reduce(1, *)
            controls.append(
                try #require(
                    DeepMirror.distanceFromRowSpace(state.weights.doubles.map { $0 - theta0 }, x: x, n: n, d: d)))
        }
        print("O13 \(side): distance from range(Xᵀ) \(distances) for η = 0.004, 0.002; control \(controls)")
        #expect(abs(distances[0] / distances[1] - 2) < 0.2, "first order in η")
        #expect(distances[1] < 1e-2 && controls[1] > 0.1)
    }

    /// O12: saddle to saddle. The Pesme–Flammarion algorithm's plateaus (τ_k, β_k) on a small instance; `pm` GD from
    /// tiny α sits near β_k in the middle of each long plateau, at t = τ·ln(1/α), and closer for smaller α (the
    /// effective threshold is 1 − O(1/ln(1/α)); float64 carries α = 1e-24).
    @Test func saddleToSaddleOnCPU() throws { try saddleToSaddle(side: .cpu) }
    @Test(.needsFP64) func saddleToSaddleOnOpenCL() throws { try saddleToSaddle(side: .opencl) }
    func saddleToSaddle(side: Side) throws {
        let engine = try Self.engine(side, fp64: true)
        let (n, d) = (6, 10)
        let rng = CounterRNG(seed: 53)
        let x = (0..<(n * d)).map { rng.gaussian(stream: 1, index: UInt64($0)) }
        let y = (0..<n).map { rng.gaussian(stream: 2, index: UInt64($0)) }
        let stages = SaddleToSaddle.run(x: x, y: y, n: n, d: d)
        #expect(stages.count >= 4 && stages.last!.loss < 1e-20, "ends at an interpolator")
        // Plateaus long enough to sit on: (τ_k, τ_{k+1}) of length ≥ 0.5.
        let plateaus = (1..<(stages.count - 1)).filter { stages[$0 + 1].tau - stages[$0].tau >= 0.5 }
        #expect(plateaus.count >= 2)
        var errors: [[Double]] = []
        for alpha in [1e-5, 1e-12, 1e-24] {
            let eta = 0.01
            let clock = log(1 / alpha)
            try engine.initialize(try Self.batch(x, y, n: n, d: d, alphas: [alpha], eta: eta, update: .gd))
            var done = 0
            var row: [Double] = []
            for k in plateaus {
                let target = Int(((stages[k].tau + stages[k + 1].tau) / 2 * clock / eta).rounded())
                try engine.step(count: target - done)
                done = target
                let w = try engine.state().weights.doubles
                row.append(zip(w, stages[k].saddle).map { abs($0 - $1) }.max()!)
            }
            errors.append(row)
        }
        print(
            "O12 \(side): plateaus at τ = \(plateaus.map { stages[$0].tau }); mid-plateau max|w − β_k| for α = 1e-5, "
                + "1e-12, 1e-24: \(errors)"
        )
        for k in plateaus.indices {
            #expect(errors[2][k] < errors[1][k] && errors[1][k] < errors[0][k], "closer to the saddle for smaller α")
            #expect(errors[2][k] < 0.06)
        }
    }
}
