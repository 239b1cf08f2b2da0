import Foundation

/// The momentum buffers and β per replica (`Batch.hasMomentum`).
final class MomentumState<T: DLNReal>: @unchecked Sendable {  // blocks touch disjoint slices
    /// β per replica (padding: 0).
    let beta: UnsafeMutablePointer<T>
    /// The last displacement m = θ_k − θ_{k−1} of every layer (`Layout`, layers·coordinateCount; 0 at the start).
    let m: UnsafeMutablePointer<T>
    let nesterov: Bool

    init(_ batch: Batch) {
        let lay = batch.layout
        beta = .allocate(capacity: lay.paddedReplicas)
        for b in 0..<lay.paddedReplicas { beta[b] = b < lay.replicas ? T(batch.replicas[b].momentum) : 0 }
        m = .allocate(capacity: lay.layers * lay.coordinateCount)
        m.initialize(repeating: 0, count: lay.layers * lay.coordinateCount)
        nesterov = batch.nesterov
    }

    deinit {
        beta.deallocate()
        m.deallocate()
    }
}

/// Heavy-ball and Nesterov momentum. Twin of Kernels/momentum.cl: θ' = step(θ) + β·m (heavy ball) or
/// θ' = step(θ + β·m) (Nesterov, the products having seen w = model(θ + β·m)), then m ← θ' − θ, θ ← θ',
/// w = model(θ'); step is the family's gradient-descent step, so β = 0 is gradient descent bit for bit.
extension CPUBatch {
    /// Nesterov: w = model(θ + β·m) for the products of the coming step. Twin of `dln_momentum_lookahead`.
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    func lookahead(block blk: Int, state ms: MomentumState<T>) {
        let (d, depth) = (layout.dimension, layout.layers)
        let L = Layout.lanes
        let stride = layout.coordinateCount
        let lb = layers + blk * d * L
        let mb = ms.m + blk * d * L
        let betaV = load(ms.beta, blk * L)
        let y = UnsafeMutablePointer<T>.allocate(capacity: depth * d * L)
        defer { y.deallocate() }
        for l in 0..<depth {
            for j in 0..<d {
                let o = l * stride + j * L
                store(load(lb, o) + betaV * load(mb, o), y, (l * d + j) * L)
            }
        }
        family.weightBlock(y, w + blk * d * L, d * L, depth, d)
    }

    /// The momentum step of one block from the gradient sums g (scaled by `scale` per lane), with η·factor. Twin of
    /// `dln_momentum_update`.
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    func momentumUpdate(
        block blk: Int, g: UnsafeMutablePointer<V>, scale: V, scratch: UnsafeMutablePointer<V>,
        state ms: MomentumState<T>, factor: T
    ) {
        let (d, depth) = (layout.dimension, layout.layers)
        let L = Layout.lanes
        let stride = layout.coordinateCount
        let lb = layers + blk * d * L
        let mb = ms.m + blk * d * L
        let betaV = load(ms.beta, blk * L)
        let t = UnsafeMutablePointer<V>.allocate(capacity: depth * d)  // θ before the step
        defer { t.deallocate() }
        for l in 0..<depth {
            for j in 0..<d {
                let o = l * stride + j * L
                t[l * d + j] = load(lb, o)
                if ms.nesterov { store(t[l * d + j] + betaV * load(mb, o), lb, o) }
            }
        }
        family.stepBlock(
            lb, w + blk * d * L, stride, depth, d, load(eta, blk * L) * V(repeating: factor), load(lambda, blk * L),
            scale, g, scratch, false)
        for l in 0..<depth {
            for j in 0..<d {
                let o = l * stride + j * L
                let u = load(lb, o)
                let next = ms.nesterov ? u : u + betaV * load(mb, o)
                store(next - t[l * d + j], mb, o)
                store(next, lb, o)
            }
        }
        computeWeights(block: blk)
    }
}
