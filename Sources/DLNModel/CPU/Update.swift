import Dispatch
import Foundation

/// The element-wise layer update and w = model(layers). Twin of Kernels/update.cl.
extension CPUBatch {
    /// The layer update and w from the gradient sums g (scaled here): the family's step (Families/) at every
    /// coordinate with η·factor (the schedule's s_k in T). `scratch` holds 2·layers vectors. Twin of `dln_update`.
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    func update(block blk: Int, g: UnsafeMutablePointer<V>, scratch: UnsafeMutablePointer<V>, factor: T) {
        update(block: blk, coordinates: 0..<layout.dimension, g: g, scratch: scratch, factor: factor)
    }

    /// The same for the coordinates in `range` only (g[j] for j in it); without momentum, whose update is the whole
    /// block's.
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    func update(
        block blk: Int, coordinates range: Range<Int>, g: UnsafeMutablePointer<V>, scratch: UnsafeMutablePointer<V>,
        factor: T
    ) {
        let d = layout.dimension
        let L = Layout.lanes
        let scale = V(repeating: gradientScale)
        let etaV = load(eta, blk * L) * V(repeating: factor)
        let lamV = load(lambda, blk * L)
        let stride = layout.coordinateCount
        let depth = layout.layers
        if let ms = momentum {
            precondition(range == 0..<d, "the momentum update takes the whole block")
            momentumUpdate(block: blk, g: g, scale: scale, scratch: scratch, state: ms, factor: factor)
            return
        }
        let o = (blk * d + range.lowerBound) * L
        family.stepBlock(
            layers + o, w + o, stride, depth, range.count, etaV, lamV, scale, g + range.lowerBound, scratch,
            family.multiplicative)
    }

    /// w from the layers. Twin of `dln_weight` in update.cl.
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    func computeWeights(block blk: Int) {
        let d = layout.dimension
        let L = Layout.lanes
        let stride = layout.coordinateCount
        let depth = layout.layers
        let lb = layers + blk * d * L
        let wb = w + blk * d * L
        family.weightBlock(lb, wb, stride, depth, d)
    }
}
