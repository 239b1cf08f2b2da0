import Dispatch
import Foundation

/// The curvature observables `sharpness` and `pl_constant`: Lanczos on the loss Hessian and on the tangent kernel,
/// one replica at a time, with the family's derivatives (`ModelFamily.jacobian`, `hessianApply`). Twin of
/// Kernels/curvature.cl (`dln_sharpness`, `dln_pl_constant`): the same operations in the same order on scalars; the
/// output rows go through the same host code (Core/Tridiagonal.swift) as the device's.
extension CPUBatch {
    /// The curvature observables of every replica, in `ObservableSet.curvatureNames` order.
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    func curvature() -> [[Double]] {
        var results: [[Double]] = []
        let B = layout.replicas
        let float32 = T.self == Float.self
        let depth = layout.layers
        let (n, d) = (layout.samples, layout.dimension)
        if let steps = observables.sharpnessLanczos(stateSize: depth * d) {
            let start = Tridiagonal.startVector(count: depth * d).map { T($0) }
            let breakdown = T(Tridiagonal.breakdown(float32: float32))
            results.append(
                perReplica(B) { b in
                    Tridiagonal.sharpness(
                        row: self.sharpnessRow(replica: b, steps: steps, start: start, breakdown: breakdown),
                        steps: steps)
                })
        }
        if let steps = observables.plLanczos(samples: n, dimension: d) {
            let start = Tridiagonal.startVector(count: n).map { T($0) }
            let breakdown = T(Tridiagonal.breakdown(float32: float32))
            let threshold = Tridiagonal.nonZeroThreshold(float32: float32)
            results.append(
                perReplica(B) { b in
                    Tridiagonal.plConstant(
                        row: self.plRow(replica: b, steps: steps, start: start, breakdown: breakdown), steps: steps,
                        threshold: threshold)
                })
        }
        return results
    }

    private func perReplica(_ count: Int, _ body: @escaping @Sendable (Int) -> Double) -> [Double] {
        let slots = SharedSlots<Double>(count: count)
        DispatchQueue.concurrentPerform(iterations: max(1, min(threads, count))) { t in
            var b = t
            while b < count {
                slots[b] = body(b)
                b += max(1, min(self.threads, count))
            }
        }
        return slots.values
    }

    /// h = H·v for replica b (P = depth·d values, element l·d + j). Twin of `dln_hvp`.
    private func hessianProduct(
        replica b: Int, xs: UnsafeMutablePointer<T>, g: UnsafeMutablePointer<T>, lambda lam: T,
        v: UnsafeMutablePointer<T>, h: UnsafeMutablePointer<T>, t: UnsafeMutablePointer<T>,
        q: UnsafeMutablePointer<T>, scratch s: UnsafeMutablePointer<T>
    ) {
        let (n, d, depth) = (layout.samples, layout.dimension, layout.layers)
        let stride = layout.coordinateCount
        let (u, a, jac, sec) = (s, s + depth, s + 2 * depth, s + 3 * depth)
        for j in 0..<d {
            let o = Layout.index(replica: b, element: j, length: d)
            for l in 0..<depth {
                u[l] = layers[l * stride + o]
                a[l] = v[l * d + j]
            }
            family.jacobian(u, depth, jac)
            var tj = jac[0] * a[0]
            for l in 1..<depth { tj = tj + jac[l] * a[l] }
            t[j] = tj
        }
        for i in 0..<n {
            let row = xs + i * d
            var acc: T = 0
            for j in 0..<d { acc = acc.addingProduct(row[j], t[j]) }
            q[i] = acc
        }
        for j in 0..<d {
            var acc: T = 0
            for i in 0..<n { acc = acc.addingProduct(xs[i * d + j], q[i]) }
            let sj = acc * dataScale
            let o = Layout.index(replica: b, element: j, length: d)
            let gj = g[j]
            for l in 0..<depth {
                u[l] = layers[l * stride + o]
                a[l] = v[l * d + j]
            }
            family.jacobian(u, depth, jac)
            family.hessianApply(u, a, depth, sec)
            for l in 0..<depth { h[l * d + j] = jac[l] * sj + gj * sec[l] + lam * a[l] }
        }
    }

    /// Lanczos on the Hessian of replica b: its output row (α, β, steps taken). Twin of `dln_sharpness`.
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    func sharpnessRow(replica b: Int, steps: Int, start: [T], breakdown: T) -> [T] {
        let (n, d, depth) = (layout.samples, layout.dimension, layout.layers)
        let P = depth * d
        let s = dataset[b]
        let xs = x + s * n * d
        let ys = y + s * n
        let buffer = UnsafeMutablePointer<T>.allocate(capacity: 3 * P + 2 * d + n + 4 * depth)
        defer { buffer.deallocate() }
        let (cv, cp, ch) = (buffer, buffer + P, buffer + 2 * P)
        let (cg, ct, cr) = (buffer + 3 * P, buffer + 3 * P + d, buffer + 3 * P + 2 * d)
        let scratch = cr + n
        var row = [T](repeating: 0, count: 2 * steps)
        for i in 0..<n {
            var acc: T = 0
            for j in 0..<d {
                acc = acc.addingProduct(xs[i * d + j], w[Layout.index(replica: b, element: j, length: d)])
            }
            cr[i] = acc - ys[i]
        }
        for j in 0..<d {
            var acc: T = 0
            for i in 0..<n { acc = acc.addingProduct(xs[i * d + j], cr[i]) }
            cg[j] = acc * dataScale
        }
        let lam = lambda[b]
        var nn: T = 0
        for e in 0..<P { nn = nn.addingProduct(start[e], start[e]) }
        nn = nn.squareRoot()
        for e in 0..<P {
            cv[e] = start[e] / nn
            cp[e] = 0
        }
        var beta: T = 0
        var est: T = 0
        var count = 0
        for k in 0..<steps {
            hessianProduct(replica: b, xs: xs, g: cg, lambda: lam, v: cv, h: ch, t: ct, q: cr, scratch: scratch)
            var alpha: T = 0
            var hn: T = 0
            for e in 0..<P {
                let z = ch[e]
                alpha = alpha.addingProduct(cv[e], z)
                hn = hn.addingProduct(z, z)
            }
            est = T.maximum(est, hn.squareRoot())
            row[k] = alpha
            count = k + 1
            if k + 1 == steps { break }
            var bb: T = 0
            for e in 0..<P {
                let z = ch[e] - alpha * cv[e] - beta * cp[e]
                ch[e] = z
                bb = bb.addingProduct(z, z)
            }
            let nb = bb.squareRoot()
            if !(nb > breakdown * est) { break }
            for e in 0..<P {
                cp[e] = cv[e]
                cv[e] = ch[e] / nb
            }
            beta = nb
            row[steps + k] = nb
        }
        row[2 * steps - 1] = T(count)
        return row
    }

    /// Lanczos with full reorthogonalisation on the tangent kernel of replica b: its output row.
    /// Twin of `dln_pl_constant`.
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    func plRow(replica b: Int, steps: Int, start: [T], breakdown: T) -> [T] {
        let (n, d, depth) = (layout.samples, layout.dimension, layout.layers)
        let stride = layout.coordinateCount
        let xs = x + dataset[b] * n * d
        let buffer = UnsafeMutablePointer<T>.allocate(capacity: 2 * d + 2 * n + steps * n + 2 * depth)
        defer { buffer.deallocate() }
        let (cd, ct, cv, cz) = (buffer, buffer + d, buffer + 2 * d, buffer + 2 * d + n)
        let cq = buffer + 2 * d + 2 * n
        let u = cq + steps * n
        let jac = u + depth
        var row = [T](repeating: 0, count: 2 * steps)
        for j in 0..<d {
            let o = Layout.index(replica: b, element: j, length: d)
            for l in 0..<depth { u[l] = layers[l * stride + o] }
            family.jacobian(u, depth, jac)
            var dsum = jac[0] * jac[0]
            for l in 1..<depth { dsum = dsum + jac[l] * jac[l] }
            cd[j] = dsum
        }
        var nn: T = 0
        for i in 0..<n { nn = nn.addingProduct(start[i], start[i]) }
        nn = nn.squareRoot()
        for i in 0..<n {
            let q = start[i] / nn
            cv[i] = q
            cq[i] = q
        }
        var est: T = 0
        var count = 0
        for k in 0..<steps {
            // z = K·v: t_j = (Σ_i X_ij·v_i)·D_j, z_i = (Σ_j X_ij·t_j)·scale (dln_kernel_apply).
            for j in 0..<d {
                var acc: T = 0
                for i in 0..<n { acc = acc.addingProduct(xs[i * d + j], cv[i]) }
                ct[j] = acc * cd[j]
            }
            for i in 0..<n {
                var acc: T = 0
                for j in 0..<d { acc = acc.addingProduct(xs[i * d + j], ct[j]) }
                cz[i] = acc * dataScale
            }
            var alpha: T = 0
            var hn: T = 0
            for i in 0..<n {
                let z = cz[i]
                alpha = alpha.addingProduct(cv[i], z)
                hn = hn.addingProduct(z, z)
            }
            est = T.maximum(est, hn.squareRoot())
            row[k] = alpha
            count = k + 1
            if k + 1 == steps { break }
            for _ in 0..<2 {
                for m in 0...k {
                    var c: T = 0
                    for i in 0..<n { c = c.addingProduct(cq[m * n + i], cz[i]) }
                    for i in 0..<n { cz[i] = cz[i] - c * cq[m * n + i] }
                }
            }
            var bb: T = 0
            for i in 0..<n { bb = bb.addingProduct(cz[i], cz[i]) }
            let nb = bb.squareRoot()
            if !(nb > breakdown * est) { break }
            for i in 0..<n {
                let q = cz[i] / nb
                cv[i] = q
                cq[(k + 1) * n + i] = q
            }
            row[steps + k] = nb
        }
        row[2 * steps - 1] = T(count)
        return row
    }
}
