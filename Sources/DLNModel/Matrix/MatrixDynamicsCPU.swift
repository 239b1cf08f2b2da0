/// The CPU engine's per-lane scalars of `MatrixDynamics` and the momentum buffers m (block-major, as the parameters).
final class MatrixDynamicsState<T: DLNReal>: @unchecked Sendable {  // blocks touch disjoint vectors
    let dynamics: MatrixDynamics
    /// Per replica: the Philox key, σ_ℓ and √(2ηT), each rounded once to T.
    let keys: [(UInt32, UInt32)]
    let sigma: [T], coefficient: [T]
    /// β per block (lanes past B repeat the last replica's).
    let beta: [SIMD16<T>]
    /// The momentum buffers (nil without momentum), zero at the start.
    let mom: UnsafeMutablePointer<SIMD16<T>>?

    init(_ d: MatrixDynamics, batch: MatrixBatch, blocks: Int) {
        dynamics = d
        keys = d.seeds.map { StochasticRandom.key(seed: $0) }
        sigma = d.labelNoise.map { T($0) }
        coefficient = d.langevinCoefficients(eta: batch.eta).map { T($0) }
        let B = batch.replicas
        beta = (0..<blocks).map { k in
            SIMD16<T>((0..<Layout.lanes).map { T(d.momentum[min(k * Layout.lanes + $0, B - 1)]) })
        }
        if d.hasMomentum {
            let count = blocks * batch.shape.parameterCount
            let m: UnsafeMutablePointer<SIMD16<T>> = alignedVectors(count)
            m.initialize(repeating: SIMD16<T>(), count: count)
            mom = m
        } else {
            mom = nil
        }
    }

    deinit { mom?.deallocate() }
}

extension MatrixCPUBatch {
    /// One step of block k (step number `step`) on `data` (nil: the full data): with momentum, F at θ (or at the
    /// look-ahead θ + β·m) and θ' = θ − η·F (+ β·m), m ← θ' − θ; else the fused gradient-descent step. Then Langevin
    /// noise, and the symmetric factorisation's tie. Twin of mx_momentum_pre, the gradient (write_f), mx_momentum_post
    /// and mx_langevin.
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    func dynamicStep(block k: Int, step: Int, data: MatrixStepData<T>?, scratch: UnsafeMutablePointer<SIMD16<T>>) {
        let w = params + k * P
        guard let dyn else { return self.step(block: k, scratch: scratch, f: nil, data: data, step: step) }
        if let mom = dyn.mom {
            let f = scratch + (scratchSize - 2 * P)
            let prev = f + P
            let m = mom + k * P
            let beta = dyn.beta[k]
            let nesterov = dyn.dynamics.nesterov
            for e in 0..<P {
                prev[e] = w[e]
                if nesterov { w[e] = w[e] + beta * m[e] }
            }
            self.step(block: k, scratch: scratch, f: f, data: data)
            let eta = stepEta(k, step)
            for e in 0..<P {
                var t = w[e] - eta * f[e]
                if !nesterov { t = t + beta * m[e] }
                m[e] = t - prev[e]
                w[e] = t
            }
        } else {
            self.step(block: k, scratch: scratch, f: nil, data: data, step: step)
        }
        if dyn.dynamics.hasLangevin && langevin(block: k, step: step, state: dyn) && batch.tied { tie(w) }
    }

    /// θ_e ← θ_e + √(2ηT)·ξ_e for every parameter e of every replica of block k with T > 0 (mx_langevin); whether
    /// any lane moved.
    func langevin(block k: Int, step: Int, state dyn: MatrixDynamicsState<T>) -> Bool {
        let w = params + k * P
        // √s_k rounded once (1 without a schedule: c·1 = c).
        let root = batch.schedule.isConstant ? 1 : T(batch.schedule.factor(step: step).squareRoot())
        var moved = SIMDMask<SIMD16<T.SIMDMaskScalar>>()
        var c = SIMD16<T>()
        var keys: [(UInt32, UInt32)] = []
        for lane in 0..<Layout.lanes {
            let b = k * Layout.lanes + lane
            keys.append(b < batch.replicas ? dyn.keys[b] : (0, 0))
            guard b < batch.replicas, dyn.coefficient[b] != 0 else { continue }
            moved[lane] = true
            c[lane] = dyn.coefficient[b] * root
        }
        let touched = any(moved)
        guard touched else { return false }
        // All 16 lanes' ξ at once (StochasticLanes); lanes without noise keep their bits.
        let key = StochasticLanes.keys(keys)
        for e in 0..<P {
            let xi = StochasticLanes.gaussian(
                key: key, stream: .gradientNoise, step: UInt64(step), index: UInt32(e), as: T.self)
            w[e].replace(with: w[e] + c * xi, where: moved)
        }
        return touched
    }

    /// The targets' label noise (mx_label_noise): y[q·width + c][lane] ← y + σ_ℓ·ξ for the row i = rows[lane][q] it
    /// came from (index i·width + c), on every lane with σ_ℓ ≠ 0.
    func addLabelNoise(
        block k: Int, step: Int, _ y: UnsafeMutablePointer<SIMD16<T>>, rows: UnsafePointer<Int32>, stride: Int,
        count: Int, width: Int, state dyn: MatrixDynamicsState<T>
    ) {
        for lane in 0..<Layout.lanes {
            let b = k * Layout.lanes + lane
            guard b < batch.replicas, dyn.sigma[b] != 0 else { continue }
            let sigma = dyn.sigma[b]
            for q in 0..<count {
                let i = Int(rows[lane * stride + q])
                for c in 0..<width {
                    let xi: T = StochasticRandom.gaussian(
                        key: dyn.keys[b], stream: .labelNoise, step: UInt64(step), index: UInt32(i * width + c))
                    y[q * width + c][lane] = y[q * width + c][lane] + sigma * xi
                }
            }
        }
    }
}
