import Dispatch
import Foundation

/// The element-wise layer update and w = model(layers). Twin of Kernels/update.cl.
extension CPUBatch {
    /// The layer update and w from the gradient sums g (scaled here). Twin of `dln_update`.
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    func update(block blk: Int, g: UnsafeMutablePointer<V>, u: UnsafeMutablePointer<V>, next: UnsafeMutablePointer<V>) {
        let d = layout.dimension, L = Layout.lanes
        let scale = V(repeating: gradientScale)
        let etaV = load(eta, blk * L), lamV = load(lambda, blk * L)
        let stride = layout.coordinateCount
        let depth = layout.layers
        let lb = layers + blk * d * L, wb = w + blk * d * L
        for j in 0..<d {
            let gj = g[j] * scale
            let o = j * L
            switch (model, update) {
            case (.pm, .gd):
                // u ← u·(1 − η(g+λ)), v ← v·(1 + η(g−λ))
                let fu = V(repeating: 1) - etaV * (gj + lamV)
                let fv = V(repeating: 1) + etaV * (gj - lamV)
                let nu = load(lb, o) * fu, nv = load(lb, stride + o) * fv
                store(nu, lb, o); store(nv, lb, stride + o)
                store((nu * nu - nv * nv) * V(repeating: 0.5), wb, o)
            case (.pm, .multiplicative):
                // u ← u·exp(−η(g+λ)), v ← v·exp(η(g−λ))
                let a = etaV * (gj + lamV), c = etaV * (gj - lamV)
                var fu = V(repeating: 0), fv = V(repeating: 0)
                for lane in 0..<L {
                    fu[lane] = T.exponential(-a[lane])
                    fv[lane] = T.exponential(c[lane])
                }
                let nu = load(lb, o) * fu, nv = load(lb, stride + o) * fv
                store(nu, lb, o); store(nv, lb, stride + o)
                store((nu * nu - nv * nv) * V(repeating: 0.5), wb, o)
            case (.uv, _):
                // u ← u − η(g·v + λu), v ← v − η(g·u + λv), from the old u, v
                let ou = load(lb, o), ov = load(lb, stride + o)
                let nu = ou - etaV * (gj * ov + lamV * ou)
                let nv = ov - etaV * (gj * ou + lamV * ov)
                store(nu, lb, o); store(nv, lb, stride + o)
                store(nu * nv, wb, o)
            case (.deep, _):
                // u_l ← u_l − η(g·∏_{k≠l} u_k + λu_l), products in ascending k, from the old layers
                for l in 0..<depth { u[l] = load(lb, l * stride + o) }
                var prod = V(repeating: 0)
                for l in 0..<depth {
                    next[l] = u[l] - etaV * (gj * productExcept(depth, l) { u[$0] } + lamV * u[l])
                    store(next[l], lb, l * stride + o)
                    prod = l == 0 ? next[l] : prod * next[l]
                }
                store(prod, wb, o)
            case (.pm, _):
                preconditionFailure("unreachable")
            }
        }
    }

    /// ∏_{k≠l} u_k in ascending k (deep models). Twin of `dln_prod_except` in common.cl.
    @inline(__always)
    func productExcept(_ depth: Int, _ l: Int, _ u: (Int) -> V) -> V {
        var p = V(repeating: 1)
        var started = false
        for k in 0..<depth where k != l {
            p = started ? p * u(k) : u(k)
            started = true
        }
        return p
    }

    /// w from the layers. Twin of `dln_weight` in update.cl.
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    func computeWeights(block blk: Int) {
        let d = layout.dimension, L = Layout.lanes, stride = layout.coordinateCount
        let lb = layers + blk * d * L, wb = w + blk * d * L
        for j in 0..<d {
            let o = j * L
            let u0 = load(lb, o), u1 = load(lb, stride + o)
            switch model {
            case .pm: store((u0 * u0 - u1 * u1) * V(repeating: 0.5), wb, o)
            case .uv: store(u0 * u1, wb, o)
            case .deep:
                var p = u0
                for l in 1..<layout.layers { p = p * load(lb, l * stride + o) }
                store(p, wb, o)
            }
        }
    }
}
