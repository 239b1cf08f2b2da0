import Dispatch
import Foundation

/// The two products of a step, r = Xw − y and g = Xᵀr, and the step loop that runs them with the update.
/// Twin of Kernels/residual.cl, gradient.cl, products_v16.cl (single blocks, fused) and tiled.cl: the same sums in
/// the same order. Blocks that share a data set run in tiles of two or four (ProductsV16.swift).
extension CPUBatch {
    /// The gradient sums of one block into g: the two products, or the Gram form.
    @inline(__always)
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    func products(block blk: Int, g: UnsafeMutablePointer<V>) {
        if let gd = gramData {
            let d = layout.dimension
            if let s = shared[blk] {
                let base = gd + s * (d * d + d)
                matVec(
                    block: blk, rows: d, matrix: base, targets: base + d * d, lanes: false,
                    out: UnsafeMutableRawPointer(g).assumingMemoryBound(to: T.self))
            } else {
                let base = gramInterleaved[blk]!
                matVec(
                    block: blk, rows: d, matrix: base, targets: base + d * d * Layout.lanes, lanes: true,
                    out: UnsafeMutableRawPointer(g).assumingMemoryBound(to: T.self))
            }
        } else if shared[blk] == nil {
            fusedProducts(block: blk, g: g)  // independent data: one pass over each replica's X
        } else {
            residual(block: blk)
            gradient(block: blk, g: g)
        }
    }

    @_specialize(where T == Float)
    @_specialize(where T == Double)
    func step(count: Int) {
        guard count > 0 else { return }
        if let fs = flow {
            precondition(!fs.adaptive, "update flow advances in time: use advance(to:)")
            flowEuler(count: count, flow: fs)
            stepsTaken += count
            return
        }
        if let st = stochastic {
            stochasticStep(count: count, state: st)
            return
        }
        let d = layout.dimension
        let depth = layout.layers
        // Work units: two neighbouring blocks that share one data set run together (32 replicas per tile: twice
        // the independent fma chains per load of X), every other block alone.
        // With enough blocks for every thread, four blocks share a tile (64 replicas).
        var units: [(Int, Int?)] = []
        var quads: Set<Int> = []
        var replicas: [Int] = []
        let useQuads = gramData == nil && layout.blocks >= 8 * threads
        var blk = 0
        while blk < layout.blocks {
            if useQuads, blk + 3 < layout.blocks, let s = shared[blk],
                (1...3).allSatisfy({ self.shared[blk + $0] == s })
            {
                quads.insert(units.count)
                units.append((blk, blk + 1))
                blk += 4
            } else if gramData == nil, blk + 1 < layout.blocks, let s = shared[blk], shared[blk + 1] == s {
                units.append((blk, blk + 1))
                blk += 2
            } else if count >= 4, stepsPerReplica(block: blk) {
                // Independent data of the sizes that fit the cache: one replica per unit, all `count` steps at once
                // (from 4 steps per call on: each call reads the replica's copies from memory once; with fewer steps
                // that costs more than the interleaved blocks' streaming).
                replicas += (blk * Layout.lanes)..<min((blk + 1) * Layout.lanes, layout.replicas)
                blk += 1
            } else {
                units.append((blk, nil))
                blk += 1
            }
        }
        if !replicas.isEmpty {
            let sets = Set(replicas.map { dataset[$0] })
            if let gd = gramData {
                replicaData!.prepareGram(sets, gram: gd, d: d, threads: threads)
            } else {
                replicaData!.prepare(sets, x: x, y: y, n: layout.samples, d: d, threads: threads)
            }
        }
        let frozenQuads = quads
        let frozenUnits = units
        let frozenReplicas = replicas
        let first = stepsTaken
        let workers = min(threads, units.count + replicas.count)
        let body: @Sendable (Int) -> Void = { k in
            if k >= frozenUnits.count {
                self.replicaSteps(replica: frozenReplicas[k - frozenUnits.count], first: first, count: count)
                return
            }
            let (a, b) = frozenUnits[k]
            let g = UnsafeMutablePointer<V>.allocate(capacity: 4 * d)
            let scratch = UnsafeMutablePointer<V>.allocate(capacity: 2 * depth)
            defer {
                g.deallocate()
                scratch.deallocate()
            }
            let quad = frozenQuads.contains(k)
            let ahead = self.momentum.flatMap { $0.nesterov ? $0 : nil }
            for step in first..<(first + count) {
                let f = self.rateFactor(step: step)
                if let ms = ahead {  // Nesterov: the products see w at θ + β·m
                    for blk in a..<(quad ? a + 4 : (b ?? a) + 1) { self.lookahead(block: blk, state: ms) }
                }
                if quad {
                    self.quadProducts(a, g: g)
                    for q in 0..<4 { self.update(block: a + q, g: g + q * d, scratch: scratch, factor: f) }
                } else if let b {
                    self.pairProducts(a, b, g: g, g2: g + d)
                    self.update(block: a, g: g, scratch: scratch, factor: f)
                    self.update(block: b, g: g + d, scratch: scratch, factor: f)
                } else {
                    self.products(block: a, g: g)
                    self.update(block: a, g: g, scratch: scratch, factor: f)
                }
            }
        }
        let total = units.count + replicas.count
        if workers <= 1 {
            for k in 0..<total { body(k) }
        } else {
            DispatchQueue.concurrentPerform(iterations: workers) { t in
                var k = t
                while k < total {
                    body(k)
                    k += workers
                }
            }
        }
        stepsTaken += count
    }

    /// r_i = (Σ_j X_ij·w_j, fused multiply-adds in ascending j) − y_i. Twin of `dln_residual`.
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    func residual(block blk: Int) {
        let n = layout.samples
        let d = layout.dimension
        let L = Layout.lanes
        if let s = shared[blk] {
            matVec(block: blk, rows: n, matrix: x + s * n * d, targets: y + s * n, lanes: false, out: r + blk * n * L)
        } else {
            let xb = interleaved[blk]!
            matVec(block: blk, rows: n, matrix: xb, targets: xb + n * d * L, lanes: true, out: r + blk * n * L)
        }
    }

    /// out_i = (Σ_j M_ij·w_j, fused multiply-adds in ascending j) − t_i for `rows` rows of a d-column matrix M
    /// (broadcast, or lane-interleaved when `lanes`): the residual with (X, y), the Gram gradient with (Σ, b).
    /// Twin of `dln_residual` and `dln_residual_v16`.
    func matVec(
        block blk: Int, rows n: Int, matrix xs: UnsafeMutablePointer<T>, targets ys: UnsafeMutablePointer<T>,
        lanes: Bool, out rb: UnsafeMutablePointer<T>
    ) {
        let d = layout.dimension
        let L = Layout.lanes
        let wb = w + blk * d * L
        let rowStride = lanes ? d * L : d
        @inline(__always) func xv(_ row: UnsafeMutablePointer<T>, _ j: Int) -> V {
            lanes ? load(row, j * L) : V(repeating: row[j])
        }
        @inline(__always) func yv(_ i: Int) -> V { lanes ? load(ys, i * L) : V(repeating: ys[i]) }
        // Four rows at a time share each load of w[j]; every row still sums in ascending j.
        var i = 0
        while i + 4 <= n {
            let r0 = xs + i * rowStride
            let r1 = r0 + rowStride
            let r2 = r1 + rowStride
            let r3 = r2 + rowStride
            var a0 = V(repeating: 0)
            var a1 = a0
            var a2 = a0
            var a3 = a0
            for j in 0..<d {
                let wj = load(wb, j * L)
                a0 = a0.addingProduct(xv(r0, j), wj)
                a1 = a1.addingProduct(xv(r1, j), wj)
                a2 = a2.addingProduct(xv(r2, j), wj)
                a3 = a3.addingProduct(xv(r3, j), wj)
            }
            store(a0 - yv(i), rb, i * L)
            store(a1 - yv(i + 1), rb, (i + 1) * L)
            store(a2 - yv(i + 2), rb, (i + 2) * L)
            store(a3 - yv(i + 3), rb, (i + 3) * L)
            i += 4
        }
        while i < n {
            let row = xs + i * rowStride
            var acc = V(repeating: 0)
            for j in 0..<d { acc = acc.addingProduct(xv(row, j), load(wb, j * L)) }
            store(acc - yv(i), rb, i * L)
            i += 1
        }
    }

    /// g_j = (Σ_i X_ij·r_i, fused multiply-adds in ascending i)·scale, then the layer update and w.
    /// Twins of `dln_gradient` and `dln_update`.
    func gradient(block blk: Int, g: UnsafeMutablePointer<V>) {
        let n = layout.samples
        let d = layout.dimension
        let L = Layout.lanes
        let rb = r + blk * n * L
        for j in 0..<d { g[j] = V(repeating: 0) }
        let xs: UnsafeMutablePointer<T>
        let lanes: Bool
        if let s = shared[blk] { (xs, lanes) = (x + s * n * d, false) } else { (xs, lanes) = (interleaved[blk]!, true) }
        let rowStride = lanes ? d * L : d
        @inline(__always) func xv(_ row: UnsafeMutablePointer<T>, _ j: Int) -> V {
            lanes ? load(row, j * L) : V(repeating: row[j])
        }
        // Four rows at a time: each g[j] is loaded and stored once per four rows, still adding rows in ascending i.
        var i = 0
        while i + 4 <= n {
            let q0 = load(rb, i * L)
            let q1 = load(rb, (i + 1) * L)
            let q2 = load(rb, (i + 2) * L)
            let q3 = load(rb, (i + 3) * L)
            let r0 = xs + i * rowStride
            let r1 = r0 + rowStride
            let r2 = r1 + rowStride
            let r3 = r2 + rowStride
            for j in 0..<d {
                var gj = g[j]
                gj = gj.addingProduct(xv(r0, j), q0)
                gj = gj.addingProduct(xv(r1, j), q1)
                gj = gj.addingProduct(xv(r2, j), q2)
                gj = gj.addingProduct(xv(r3, j), q3)
                g[j] = gj
            }
            i += 4
        }
        while i < n {
            let qi = load(rb, i * L)
            let row = xs + i * rowStride
            for j in 0..<d { g[j] = g[j].addingProduct(xv(row, j), qi) }
            i += 1
        }
    }

    /// Residual and gradient in one pass over the rows of lane-interleaved data: row i (16 lanes × d) is
    /// read from memory once, for r_i and then for g += X_i·r_i while it sits in L1. The sums keep their
    /// order (r_i over ascending j, each g_j over ascending i), so the result is bit-identical to the
    /// two-pass form; the traffic from memory halves.
    func fusedProducts(block blk: Int, g: UnsafeMutablePointer<V>) {
        let n = layout.samples
        let d = layout.dimension
        let L = Layout.lanes
        let wb = w + blk * d * L
        let rb = r + blk * n * L
        let xb = interleaved[blk]!
        let yb = xb + n * d * L
        for j in 0..<d { g[j] = V(repeating: 0) }
        for i in 0..<n {
            let row = xb + i * d * L
            var acc = V(repeating: 0)
            for j in 0..<d { acc = acc.addingProduct(load(row, j * L), load(wb, j * L)) }
            let ri = acc - load(yb, i * L)
            store(ri, rb, i * L)
            for j in 0..<d { g[j] = g[j].addingProduct(load(row, j * L), ri) }
        }
    }

}
