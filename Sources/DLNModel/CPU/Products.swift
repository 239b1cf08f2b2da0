import DLNVector
import Dispatch
import Foundation
import Synchronization

/// The two products of a step, r = Xw − y and g = Xᵀr, and the step loop that runs them with the update.
/// Twin of Kernels/residual.cl, gradient.cl, products_v16.cl (single blocks, fused) and tiled.cl: the same sums in
/// the same order. Blocks that share a data set run in tiles of two or four, or alone from packed panels of it
/// (`CPUTuning.tileBlocks`, `SharedPanels`). The loops themselves are in Sources/DLNVector, compiled once per
/// instruction set (CPU/VectorCode.swift).
extension CPUBatch {
    /// The gradient sums of one block into g: the two products, or the Gram form.
    @inline(__always)
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    func products(block blk: Int, g: UnsafeMutablePointer<V>) {
        if let gd = gramData {
            let d = layout.dimension
            let out = UnsafeMutableRawPointer(g).assumingMemoryBound(to: T.self)
            if let s = shared[blk] {
                panelResidual(
                    block: blk, rows: d, panels: panels[s]!.gramRows!, targets: gd + s * (d * d + d) + d * d, out: out)
            } else {
                let base = gramInterleaved[blk]!
                matVec(block: blk, rows: d, matrix: base, targets: base + d * d * Layout.lanes, out: out)
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
        let useQuads = tileBlocks == 4 && gramData == nil && layout.blocks >= 8 * threads
        let usePairs = tileBlocks >= 2 && gramData == nil
        var blk = 0
        while blk < layout.blocks {
            if strided {  // the strided order: one replica at a time, whatever the data and the step count
                replicas += (blk * Layout.lanes)..<min((blk + 1) * Layout.lanes, layout.replicas)
                blk += 1
            } else if useQuads, blk + 3 < layout.blocks, let s = shared[blk],
                (1...3).allSatisfy({ self.shared[blk + $0] == s })
            {
                quads.insert(units.count)
                units.append((blk, blk + 1))
                blk += 4
            } else if usePairs, blk + 1 < layout.blocks, let s = shared[blk], shared[blk + 1] == s {
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
                } else if self.shared[a] != nil, self.gramData == nil, self.momentum == nil {
                    self.residual(block: a)
                    self.gradientAndUpdate(block: a, g: g, scratch: scratch, factor: f)
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
            // Each worker takes the next unit when it finishes one, so that a core slowed by another process does not
            // hold up the rest with a fixed share (the units are independent: their results do not depend on which
            // thread runs them).
            let next = Atomic<Int>(workers)
            DispatchQueue.concurrentPerform(iterations: workers) { t in
                var k = t
                while k < total {
                    body(k)
                    k = next.wrappingAdd(1, ordering: .relaxed).oldValue
                }
            }
        }
        stepsTaken += count
    }

    /// r_i = (Σ_j X_ij·w_j, fused multiply-adds in ascending j) − y_i. Twin of `dln_residual`.
    func residual(block blk: Int) {
        let n = layout.samples
        let d = layout.dimension
        let L = Layout.lanes
        if let s = shared[blk] {
            panelResidual(block: blk, rows: n, panels: panels[s]!.rows, targets: y + s * n, out: r + blk * n * L)
        } else {
            let xb = interleaved[blk]!
            matVec(block: blk, rows: n, matrix: xb, targets: xb + n * d * L, out: r + blk * n * L)
        }
    }

    /// out_i = (Σ_j M_ij·w_j, fused multiply-adds in ascending j) − t_i for `rows` rows of a lane-interleaved
    /// d-column matrix M: the residual with (X, y), the Gram gradient with (Σ, b).
    func matVec(
        block blk: Int, rows n: Int, matrix xs: UnsafeMutablePointer<T>, targets ys: UnsafeMutablePointer<T>,
        out rb: UnsafeMutablePointer<T>
    ) {
        let d = layout.dimension
        kernels.matVec(
            double: isDouble, rows: n, d: d, matrix: .init(xs), targets: .init(ys),
            w: .init(w + blk * d * Layout.lanes),
            out: .init(rb))
    }

    /// The same for a matrix M that the whole block shares, given as row panels (`SharedPanels`).
    func panelResidual(
        block blk: Int, rows n: Int, panels: UnsafeMutablePointer<T>, targets ys: UnsafeMutablePointer<T>,
        out rb: UnsafeMutablePointer<T>
    ) {
        let d = layout.dimension
        kernels.panelResidual(
            double: isDouble, rows: n, d: d, panels: .init(panels), targets: .init(ys),
            w: .init(w + blk * d * Layout.lanes), out: .init(rb))
    }

    /// g_j = Σ_i X_ij·r_i, fused multiply-adds in ascending i, for a block that shares one data set. Twin of
    /// `dln_gradient`.
    func gradient(block blk: Int, g: UnsafeMutablePointer<V>) {
        let n = layout.samples
        kernels.panelGradient(
            double: isDouble, n: n, d: layout.dimension, panels: .init(panels[shared[blk]!]!.columns!),
            r: .init(r + blk * n * Layout.lanes), g: .init(g))
    }

    /// The gradient of a block that shares one data set (after `residual`) and the update, a chunk of coordinates at
    /// a time (eight panels, 48 coordinates): each chunk's sums g are updated while they are still in L1 (regime S,
    /// d = 500, n = 250, B = 1024 on a Zen 3 core: the update's share of the step went from 3.2% to 2.6%). The
    /// gradient reads only r, so updating w as it goes changes nothing; the sums and the steps are those of `gradient`
    /// then `update`. A chunk starts at a panel's edge (a multiple of six coordinates).
    func gradientAndUpdate(block blk: Int, g: UnsafeMutablePointer<V>, scratch: UnsafeMutablePointer<V>, factor: T) {
        let n = layout.samples
        let d = layout.dimension
        let chunk = 8 * DLNVector.Kernels.panelWidth
        let columns = panels[shared[blk]!]!.columns!
        var first = 0
        while first < d {
            let count = min(chunk, d - first)
            kernels.panelGradient(
                double: isDouble, n: n, d: count, panels: .init(columns + first * n),
                r: .init(r + blk * n * Layout.lanes), g: .init(g + first))
            update(block: blk, coordinates: first..<(first + count), g: g, scratch: scratch, factor: factor)
            first += count
        }
    }

    /// Residual and gradient in one pass over the rows of lane-interleaved data (the traffic from memory halves;
    /// the sums keep their order).
    func fusedProducts(block blk: Int, g: UnsafeMutablePointer<V>) {
        let n = layout.samples
        let d = layout.dimension
        let L = Layout.lanes
        let xb = interleaved[blk]!
        kernels.fusedProducts(
            double: isDouble, n: n, d: d, x: .init(xb), y: .init(xb + n * d * L), w: .init(w + blk * d * L),
            r: .init(r + blk * n * L), g: .init(g))
    }

    /// The two products for four neighbouring blocks that share a data set (64 replicas per register tile); g holds
    /// the four blocks' sums. Per replica the same sums in the same order as `residual` and `gradient`.
    func quadProducts(_ a: Int, g: UnsafeMutablePointer<V>) {
        let n = layout.samples
        let d = layout.dimension
        let L = Layout.lanes
        let s = shared[a]!
        kernels.quadProducts(
            double: isDouble, x: .init(x + s * n * d), y: .init(y + s * n), w: .init(w + a * d * L),
            r: .init(r + a * n * L), g: .init(g), n: n, d: d)
    }

    /// The two products for two blocks that share a data set (32 replicas per register tile).
    func pairProducts(_ a: Int, _ b: Int, g: UnsafeMutablePointer<V>, g2: UnsafeMutablePointer<V>) {
        let n = layout.samples
        let d = layout.dimension
        let L = Layout.lanes
        let s = shared[a]!
        kernels.pairProducts(
            double: isDouble, x: .init(x + s * n * d), y: .init(y + s * n), wa: .init(w + a * d * L),
            wb: .init(w + b * d * L), ra: .init(r + a * n * L), rb: .init(r + b * n * L), g: .init(g), g2: .init(g2),
            n: n, d: d)
    }
}

/// One shared data set packed for the single-block products (Sources/DLNVector/Panels.swift): X's rows six at a time
/// column by column for the residual, its columns six at a time row by row for the gradient, and in the Gram form Σ's
/// rows. Each panel is read as one stream where the row-major matrix gave six; the sums and their order stay those
/// of the row-major loops.
final class SharedPanels<T: DLNReal>: @unchecked Sendable {  // written once, at the batch's start
    /// X's row panels (the residual, also in the Gram form's observations).
    let rows: UnsafeMutablePointer<T>
    /// X's column panels (the products form's gradient); nil in the Gram form.
    let columns: UnsafeMutablePointer<T>?
    /// Σ's row panels (the Gram form's gradient), after `packGram`.
    private(set) var gramRows: UnsafeMutablePointer<T>?

    init(x: UnsafeMutablePointer<T>, n: Int, d: Int, columns withColumns: Bool) {
        let w = DLNVector.Kernels.panelWidth
        rows = .allocate(capacity: (n + w - 1) / w * w * d)
        DLNVector.Kernels.rowPanels(x, rows: n, columns: d, into: rows)
        if withColumns {
            let c = UnsafeMutablePointer<T>.allocate(capacity: n * ((d + w - 1) / w * w))
            DLNVector.Kernels.columnPanels(x, rows: n, columns: d, into: c)
            columns = c
        } else {
            columns = nil
        }
    }

    /// Packs Σ (d × d, row-major, at `gram`) into row panels.
    func packGram(_ gram: UnsafeMutablePointer<T>, d: Int) {
        let w = DLNVector.Kernels.panelWidth
        let p = UnsafeMutablePointer<T>.allocate(capacity: (d + w - 1) / w * w * d)
        DLNVector.Kernels.rowPanels(gram, rows: d, columns: d, into: p)
        gramRows = p
    }

    deinit {
        rows.deallocate()
        columns?.deallocate()
        gramRows?.deallocate()
    }
}

/// One data set's X (n × d, row-major) packed as the OpenCL block kernel reads it (`dln_block_steps_v16`, on CPU
/// devices): its row panels, then its column panels, the layout of `SharedPanels`. ⌈n/6⌉·6·d + n·⌈d/6⌉·6 values.
public enum PanelPacking {
    /// The number of values `pack` returns.
    public static func count(samples n: Int, dimension d: Int) -> Int {
        let w = DLNVector.Kernels.panelWidth
        return (n + w - 1) / w * w * d + n * ((d + w - 1) / w * w)
    }

    public static func pack<T: BinaryFloatingPoint>(_ x: [T], samples n: Int, dimension d: Int) -> [T] {
        precondition(x.count == n * d, "X has \(x.count) values, not n·d = \(n * d)")
        let w = DLNVector.Kernels.panelWidth
        var out = [T](repeating: 0, count: count(samples: n, dimension: d))
        x.withUnsafeBufferPointer { xb in
            out.withUnsafeMutableBufferPointer { ob in
                DLNVector.Kernels.rowPanels(xb.baseAddress!, rows: n, columns: d, into: ob.baseAddress!)
                DLNVector.Kernels.columnPanels(
                    xb.baseAddress!, rows: n, columns: d, into: ob.baseAddress! + (n + w - 1) / w * w * d)
            }
        }
        return out
    }
}
