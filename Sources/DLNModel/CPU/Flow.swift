import Dispatch
import Foundation

/// Gradient flow: the adaptive Dormand–Prince integrator and the log representation, block by block.
/// Twin of Kernels/flow.cl, operation for operation.
extension CPUBatch {
    typealias Flow = FlowState<T>

    /// w of one block from a state vector at per-lane times τ. Twin of dln_flow_weights.
    func flowWeights(block blk: Int, state: UnsafeMutablePointer<T>, tau: V, flow fs: Flow) {
        let d = layout.dimension
        let L = Layout.lanes
        let base = blk * d * L
        if fs.log {
            let lam = load(lambda, blk * L)
            for j in 0..<d {
                let o = base + j * L
                let z = load(state, o)
                let lb = load(fs.lnBeta, o)
                var out = V(repeating: 0)
                for lane in 0..<L {
                    out[lane] = FlowMath.logWeight(z: z[lane], lnBeta: lb[lane], lambda: lam[lane], tau: tau[lane])
                }
                store(out, w, o)
            }
        } else {
            let stride = layout.coordinateCount
            let depth = layout.layers
            family.weightBlock(state + base, w + base, stride, depth, d)
        }
    }

    /// F with ẏ = −F, from the state and the gradient sums. Log: F = g·scale. Layers: the gradient-descent
    /// direction: pm F_u = u(g+λ), F_v = v(λ−g); uv F_u = g·v + λu, F_v = g·u + λv; deep F_l = g·∏_{k≠l}u_k + λu_l.
    /// Twin of dln_flow_derivative.
    func flowDerivative(
        block blk: Int, state: UnsafeMutablePointer<T>, g: UnsafeMutablePointer<V>,
        into out: UnsafeMutablePointer<T>, flow fs: Flow
    ) {
        let d = layout.dimension
        let L = Layout.lanes
        let stride = layout.coordinateCount
        let base = blk * d * L
        let scale = V(repeating: gradientScale)
        let lam = load(lambda, blk * L)
        if fs.log {
            for j in 0..<d { store(g[j] * scale, out, base + j * L) }
            return
        }
        let depth = layout.layers
        withUnsafeTemporaryAllocation(of: V.self, capacity: depth) { scratch in
            family.flowDerivativeBlock(state + base, g, scale, lam, out + base, stride, depth, d, scratch.baseAddress!)
        }
    }

    /// One full derivative evaluation F(state, τ) of a block into `out`.
    func flowEvaluate(
        block blk: Int, state: UnsafeMutablePointer<T>, tau: V, into out: UnsafeMutablePointer<T>,
        g: UnsafeMutablePointer<V>, flow fs: Flow
    ) {
        flowWeights(block: blk, state: state, tau: tau, flow: fs)
        products(block: blk, g: g)
        flowDerivative(block: blk, state: state, g: g, into: out, flow: fs)
    }

    /// Per-lane Σ(x/(atol + rtol·|y|))² over a block's state, in ascending (component, coordinate).
    func flowNormSum(block blk: Int, _ x: UnsafeMutablePointer<T>, flow fs: Flow) -> V {
        let d = layout.dimension
        let L = Layout.lanes
        var acc = V(repeating: 0)
        for l in 0..<fs.components {
            for j in 0..<d {
                let o = l * fs.stride + blk * d * L + j * L
                let sc = V(repeating: fs.atol) + V(repeating: fs.rtol) * vabs(load(fs.y, o))
                let q = load(x, o) / sc
                acc = acc.addingProduct(q, q)
            }
        }
        return acc
    }

    /// F₁ = F(y₀, 0) and the first step of every replica. Twin of dln_flow_start.
    func flowStart(flow fs: Flow) {
        let L = Layout.lanes
        forEachBlock { blk in
            let g = UnsafeMutablePointer<V>.allocate(capacity: self.layout.dimension)
            defer { g.deallocate() }
            self.flowEvaluate(block: blk, state: fs.y, tau: V(repeating: 0), into: fs.f, g: g, flow: fs)
            let d0s = self.flowNormSum(block: blk, fs.y, flow: fs)
            let d1s = self.flowNormSum(block: blk, fs.f, flow: fs)
            for lane in 0..<L {
                let b = blk * L + lane
                guard fs.status[b] == ReplicaStatus.ran.rawValue else { continue }
                let d0 = (d0s[lane] * fs.invM).squareRoot()
                let d1 = (d1s[lane] * fs.invM).squareRoot()
                var h: T = (d0 < T(1e-5) || d1 < T(1e-5)) ? T(1e-6) : (T(0.01) * d0) / d1
                if let h0 = fs.initialStep { h = h0 }
                if h > fs.hmax { h = fs.hmax }
                fs.hdes[b] = h
                fs.errprev[b] = T(1e-4)
                fs.evaluations[b] = 1
                if !(h > 0) {
                    fs.status[b] = ReplicaStatus.nonFinite.rawValue
                    fs.frozenAt[b] = 0
                }  // F(y₀) not finite
            }
        }
        fs.started = true
    }

    /// Advances every running replica to time `target` (exactly), each with its own steps. With a `deadline`
    /// (uptime in ns) a block stops after the first step attempt that ends past it; each lane's steps depend on
    /// its own state only, so stopping and continuing later gives the same numbers. True when every replica
    /// reached `target` (or stopped running).
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    @discardableResult
    func flowAdvance(to target: T, flow fs: Flow, deadline: UInt64 = .max) -> Bool {
        if !fs.started { flowStart(flow: fs) }
        let d = layout.dimension
        let L = Layout.lanes
        let count = fs.components * fs.stride
        forEachBlock { blk in
            let g = UnsafeMutablePointer<V>.allocate(capacity: d)
            defer { g.deallocate() }
            while true {
                // Each lane's attempt: h = min(hdes, max_step, target − t); 0 for lanes that are done.
                var h = V(repeating: 0)
                var tv = V(repeating: 0)
                var clamped = [Bool](repeating: false, count: L)
                var any = false
                for lane in 0..<L {
                    let b = blk * L + lane
                    tv[lane] = fs.t[b]
                    guard fs.status[b] == ReplicaStatus.ran.rawValue, fs.t[b] < target else { continue }
                    let rem = target - fs.t[b]
                    var hh = fs.hdes[b]
                    if hh > fs.hmax { hh = fs.hmax }
                    if !(hh < rem) {
                        hh = rem
                        clamped[lane] = true
                    }
                    h[lane] = hh
                    any = true
                }
                if !any { break }
                self.flowAttempt(block: blk, h: h, t: tv, g: g, flow: fs)
                // Error norm, controller, acceptance (twin of dln_flow_control).
                var sum = V(repeating: 0)
                for l in 0..<fs.components {
                    for j in 0..<d {
                        let o = l * fs.stride + blk * d * L + j * L
                        var acc = V(repeating: fs.e[0]) * load(fs.f, o)
                        for k in 1..<DormandPrince.stages {
                            acc = acc + V(repeating: fs.e[k]) * load(fs.f, k * count + o)
                        }
                        let err = h * acc
                        let ay = vabs(load(fs.y, o))
                        let an = vabs(load(fs.ys, o))
                        let big = ay.replacing(with: an, where: an .> ay)
                        let sc = V(repeating: fs.atol) + V(repeating: fs.rtol) * big
                        let q = err / sc
                        sum = sum.addingProduct(q, q)
                    }
                }
                var accept = SIMDMask<SIMD16<T.SIMDMaskScalar>>(repeating: false)
                for lane in 0..<L {
                    let b = blk * L + lane
                    guard h[lane] > 0 else { continue }
                    fs.evaluations[b] &+= Int32(DormandPrince.evaluationsPerStep)
                    fs.attempts[b] &+= 1
                    let r = FlowMath.control(
                        sum: sum[lane], invM: fs.invM, h: h[lane], hdes: fs.hdes[b], clamped: clamped[lane],
                        errprev: fs.errprev[b], lastRejected: fs.lastRejected[b] != 0)
                    if r.accepted {
                        fs.t[b] = clamped[lane] ? target : fs.t[b] + h[lane]
                        accept[lane] = true
                    } else {
                        fs.rejected[b] &+= 1
                    }
                    fs.hdes[b] = r.hdes
                    fs.errprev[b] = r.errprev
                    fs.lastRejected[b] = r.rejected ? 1 : 0
                    if fs.t[b] < target {
                        if fs.attempts[b] >= fs.maxSteps {
                            fs.status[b] = ReplicaStatus.tooManySteps.rawValue
                            fs.frozenAt[b] = fs.t[b]
                        } else if r.hdes < FlowMath.floor(t: fs.t[b], minStep: fs.hmin) {
                            fs.status[b] = (r.finite ? ReplicaStatus.stepSizeCollapsed : .nonFinite).rawValue
                            fs.frozenAt[b] = fs.t[b]
                        }
                    }
                }
                // Accepted lanes take the new state, and F₇ becomes F₁ (first same as last).
                for l in 0..<fs.components {
                    for j in 0..<d {
                        let o = l * fs.stride + blk * d * L + j * L
                        store(load(fs.y, o).replacing(with: load(fs.ys, o), where: accept), fs.y, o)
                        store(load(fs.f, o).replacing(with: load(fs.f, 6 * count + o), where: accept), fs.f, o)
                    }
                }
                if deadline != .max && DispatchTime.now().uptimeNanoseconds >= deadline { break }
            }
        }
        return (0..<layout.blocks * L).allSatisfy {
            fs.status[$0] != ReplicaStatus.ran.rawValue || !(fs.t[$0] < target)
        }
    }

    /// Stages 2…7 of one attempted step of a block, lanes with h = 0 included (their results are dropped).
    /// Stage s: y_s = y − h·Σ_k a[s][k]·F_k, evaluated at τ = t + c_s·h. Twin of dln_flow_stage.
    func flowAttempt(block blk: Int, h: V, t: V, g: UnsafeMutablePointer<V>, flow fs: Flow) {
        let d = layout.dimension
        let L = Layout.lanes
        let count = fs.components * fs.stride
        for s in 1..<DormandPrince.stages {
            let row = fs.a[s]
            for l in 0..<fs.components {
                for j in 0..<d {
                    let o = l * fs.stride + blk * d * L + j * L
                    var acc = V(repeating: row[0]) * load(fs.f, o)
                    for k in 1..<s { acc = acc + V(repeating: row[k]) * load(fs.f, k * count + o) }
                    store(load(fs.y, o) - h * acc, fs.ys, o)
                }
            }
            let tau = t + V(repeating: fs.c[s]) * h
            flowEvaluate(block: blk, state: fs.ys, tau: tau, into: fs.f + s * count, g: g, flow: fs)
        }
    }

    /// `count` fixed steps y ← y − η·F(y, kη) in the log representation: the multiplicative update
    /// (ρ ← ρ − ηg, ln m exact). Twin of dln_flow_euler.
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    func flowEuler(count: Int, flow fs: Flow) {
        let d = layout.dimension
        let L = Layout.lanes
        let first = stepsTaken
        forEachBlock { blk in
            let g = UnsafeMutablePointer<V>.allocate(capacity: d)
            defer { g.deallocate() }
            let etaV = load(self.eta, blk * L)
            for k in 0..<count {
                let tau = V(repeating: T(first + k)) * etaV
                self.flowEvaluate(block: blk, state: fs.y, tau: tau, into: fs.f, g: g, flow: fs)
                for j in 0..<d {
                    let o = blk * d * L + j * L
                    store(load(fs.y, o) - etaV * load(fs.f, o), fs.y, o)
                }
            }
            for lane in 0..<L where fs.status[blk * L + lane] == ReplicaStatus.ran.rawValue {
                fs.evaluations[blk * L + lane] &+= Int32(clamping: count)
            }
        }
    }

    /// Layers and w from the state at the replicas' current times (before observing or reading the state).
    /// Log: u, v rebuilt as pm u = s₀e^{h+z−λt}, v = s₁e^{h−z−λt}; uv p = u+v, q = u−v the same way.
    /// Twin of dln_flow_layers.
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    func flowMaterialize(flow fs: Flow, times: [T]) {
        let d = layout.dimension
        let L = Layout.lanes
        let stride = layout.coordinateCount
        forEachBlock { blk in
            var tv = V(repeating: 0)
            for lane in 0..<L { tv[lane] = times[blk * L + lane] }
            self.flowWeights(block: blk, state: fs.y, tau: tv, flow: fs)
            guard fs.log else { return }
            let logLayers = self.family.logLayers
            let lt = load(self.lambda, blk * L) * tv
            for j in 0..<d {
                let o = blk * d * L + j * L
                let z = load(fs.y, o)
                let hl = load(fs.lnHalf, o)
                var eu = V(repeating: 0)
                var ev = V(repeating: 0)
                let xu = (hl + z) - lt
                let xv = (hl - z) - lt
                for lane in 0..<L {
                    eu[lane] = T.exponential(xu[lane])
                    ev[lane] = T.exponential(xv[lane])
                }
                let p = load(fs.sign0, o) * eu
                let q = load(fs.sign1, o) * ev
                let (u, v) = logLayers(p, q)
                store(u, self.layers, o)
                store(v, self.layers, stride + o)
            }
        }
    }

    /// The integrator's counters, per replica.
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    func flowCounters(flow fs: Flow) -> FlowCounters {
        var out = FlowCounters(replicas: layout.replicas)
        for b in 0..<layout.replicas {
            out.evaluations[b] = Int(fs.evaluations[b])
            out.rejected[b] = Int(fs.rejected[b])
            out.status[b] = Int(fs.status[b])
            out.frozenAt[b] = Double(fs.frozenAt[b])
        }
        return out
    }
}
