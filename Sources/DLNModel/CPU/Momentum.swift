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
        let (d, L) = (layout.dimension, Layout.lanes)
        lookahead(
            layers + blk * d * L, ms.m + blk * d * L, into: w + blk * d * L, stride: layout.coordinateCount,
            d: d, beta: load(ms.beta, blk * L))
    }

    /// The look-ahead of `d` 16-wide coordinates (at c·16; layer l at l·stride of `lb` and `mb`) into `wb`.
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    func lookahead(
        _ lb: UnsafeMutablePointer<T>, _ mb: UnsafeMutablePointer<T>, into wb: UnsafeMutablePointer<T>, stride: Int,
        d: Int, beta betaV: V
    ) {
        let (depth, L) = (layout.layers, Layout.lanes)
        let y = UnsafeMutablePointer<T>.allocate(capacity: depth * d * L)
        defer { y.deallocate() }
        for l in 0..<depth {
            for j in 0..<d {
                let o = l * stride + j * L
                store(load(lb, o) + betaV * load(mb, o), y, (l * d + j) * L)
            }
        }
        family.weightBlock(y, wb, d * L, depth, d)
    }

    /// The momentum step of one block from the gradient sums g (scaled by `scale` per lane), with η·factor. Twin of
    /// `dln_momentum_update`.
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    func momentumUpdate(
        block blk: Int, g: UnsafeMutablePointer<V>, scale: V, scratch: UnsafeMutablePointer<V>,
        state ms: MomentumState<T>, factor: T
    ) {
        let (d, L) = (layout.dimension, Layout.lanes)
        momentumStep(
            layers + blk * d * L, w + blk * d * L, ms.m + blk * d * L, stride: layout.coordinateCount, d: d,
            eta: load(eta, blk * L) * V(repeating: factor), lambda: load(lambda, blk * L),
            beta: load(ms.beta, blk * L), scale: scale, g: g, scratch: scratch, nesterov: ms.nesterov)
    }

    /// The momentum step of `d` 16-wide coordinates (at c·16; layer l at l·stride of `lb` and `mb`), w into `wb`.
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    func momentumStep(
        _ lb: UnsafeMutablePointer<T>, _ wb: UnsafeMutablePointer<T>, _ mb: UnsafeMutablePointer<T>, stride: Int,
        d: Int, eta: V, lambda: V, beta betaV: V, scale: V, g: UnsafeMutablePointer<V>,
        scratch: UnsafeMutablePointer<V>, nesterov: Bool
    ) {
        let (depth, L) = (layout.layers, Layout.lanes)
        let t = UnsafeMutablePointer<V>.allocate(capacity: depth * d)  // θ before the step
        defer { t.deallocate() }
        for l in 0..<depth {
            for j in 0..<d {
                let o = l * stride + j * L
                t[l * d + j] = load(lb, o)
                if nesterov { store(t[l * d + j] + betaV * load(mb, o), lb, o) }
            }
        }
        family.stepBlock(lb, wb, stride, depth, d, eta, lambda, scale, g, scratch, false)
        for l in 0..<depth {
            for j in 0..<d {
                let o = l * stride + j * L
                let u = load(lb, o)
                let next = nesterov ? u : u + betaV * load(mb, o)
                store(next - t[l * d + j], mb, o)
                store(next, lb, o)
            }
        }
        family.weightBlock(lb, wb, stride, depth, d)
    }
}
