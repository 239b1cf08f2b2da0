import DLNModel
import OpenCLKit

/// The device buffers of a batch: allocated and uploaded once, outputs followed by `OpenCLEngine.canaryCount`
/// canaries. Per block of 16 replicas: the one data set its lanes share, or lane-interleaved data (vector16).
final class DeviceBuffers<T: DLNReal & CLKernelArgument> {
    let layers: CLBuffer, w: CLBuffer, r: CLBuffer, g: CLBuffer, loss: CLBuffer, obs: CLBuffer
    let x: CLBuffer, y: CLBuffer, ds: CLBuffer, eta: CLBuffer, lambda: CLBuffer
    let initial: CLBuffer, teacher: CLBuffer, hasTeacher: CLBuffer, decay: CLBuffer, thresholds: CLBuffer
    let inverseAlphaSquared: CLBuffer
    let xTest: CLBuffer, yTest: CLBuffer
    /// Per block: the data set its lanes share, or −1 with the block's offset into `xi` (`blockXI`).
    let dsPerBlock: [Int32]
    let blockDS: CLBuffer, blockXI: CLBuffer, xi: CLBuffer
    /// The Gram form's Σ = scale·XᵀX and b = scale·Xᵀy per data set, and lane-interleaved per mixed block.
    let gram: (matrix: CLBuffer, vector: CLBuffer, offsets: CLBuffer, interleaved: CLBuffer)?
    /// The value of every canary.
    static var sentinel: T { T(-12345.5) }
    /// The canaries after an output buffer's elements.
    static var canary: [T] { [T](repeating: sentinel, count: OpenCLEngine.canaryCount) }

    init(_ batch: Batch, context: CLContext, shape: KernelShape) throws(CLError) {
        let lay = batch.layout
        let canary = Self.canary
        func buffer<E: BitwiseCopyable>(_ values: [E], readOnly: Bool = true) throws(CLError) -> CLBuffer {
            try CLBuffer(context: context, copying: values, access: readOnly ? .readOnly : .readWrite)
        }
        func output(_ count: Int) throws(CLError) -> CLBuffer {
            try buffer([T](repeating: 0, count: count) + canary, readOnly: false)
        }
        var packed: [T] = []
        for a in batch.initialLayers { packed += lay.pack(a.values(as: T.self), length: lay.dimension, fill: 0) }
        layers = try buffer(packed + canary, readOnly: false)
        w = try output(lay.coordinateCount)
        r = try output(lay.sampleCount)
        g = try output(lay.coordinateCount)
        loss = try output(lay.replicas)
        x = try buffer(batch.datasets.flatMap { $0.x.values(as: T.self) })
        y = try buffer(batch.datasets.flatMap { $0.y.values(as: T.self) })
        ds = try buffer(batch.replicas.map { Int32($0.dataset) })
        eta = try buffer(batch.replicas.map { T($0.eta) })
        lambda = try buffer(batch.replicas.map { T($0.lambdaU) })
        initial = try buffer(packed)
        teacher = try buffer(
            batch.datasets.flatMap { ds in (ds.wStar ?? [Double](repeating: 0, count: lay.dimension)).map { T($0) } })
        hasTeacher = try buffer(batch.datasets.map { Int32($0.wStar == nil ? 0 : 1) })
        decay = try buffer([T](repeating: 1, count: lay.replicas))
        inverseAlphaSquared = try buffer(batch.inverseAlphaSquared.map { T($0) })
        thresholds = try buffer(batch.observables.thresholds.map { T($0) })
        let nt = batch.testSamples
        xTest = try buffer(nt > 0 ? batch.datasets.flatMap { $0.test!.x.values(as: T.self) } : [T(0)])
        yTest = try buffer(nt > 0 ? batch.datasets.flatMap { $0.test!.y.values(as: T.self) } : [T(0)])
        obs = try output(lay.replicas * (batch.observables.kernelCount - 1))

        // Per block: the one data set its lanes share, or −1 and an offset into lane-interleaved data
        // (padding lanes use the block's first replica's data set, as in the CPU engine).
        var dsPerBlock: [Int32] = []
        var xiOffsets: [Int64] = []
        var interleavedData: [T] = []
        let xs = batch.datasets.map { $0.x.values(as: T.self) }
        let ys = batch.datasets.map { $0.y.values(as: T.self) }
        let nd = lay.samples * lay.dimension
        for blk in 0..<lay.blocks {
            let lanes = Self.datasets(batch, block: blk)
            if shape == .vector16 && Set(lanes).count > 1 {
                dsPerBlock.append(-1)
                xiOffsets.append(Int64(interleavedData.count))
                var block = [T](repeating: 0, count: (nd + lay.samples) * Layout.lanes)
                for (lane, s) in lanes.enumerated() {
                    for k in 0..<nd { block[k * Layout.lanes + lane] = xs[s][k] }
                    for i in 0..<lay.samples { block[(nd + i) * Layout.lanes + lane] = ys[s][i] }
                }
                interleavedData += block
            } else {
                dsPerBlock.append(Int32(lanes[0]))
                xiOffsets.append(0)
            }
        }
        self.dsPerBlock = dsPerBlock
        blockDS = try buffer(dsPerBlock)
        blockXI = try buffer(xiOffsets)
        xi = try buffer(interleavedData.isEmpty ? [T(0)] : interleavedData)

        guard batch.gradientForm == .gram else {
            gram = nil
            return
        }
        // Σ = scale·XᵀX and b = scale·Xᵀy per data set (the CPU engine's numbers), and lane-interleaved
        // per block with mixed data (vector16): the residual kernels then compute g = Σw − b, already scaled.
        let dd = lay.dimension
        let forms = (0..<batch.datasets.count).map { k in batch.gram(dataset: k) }
        var offsets: [Int64] = []
        var gi: [T] = []
        for blk in 0..<lay.blocks {
            guard dsPerBlock[blk] < 0 else {
                offsets.append(0)
                continue
            }
            offsets.append(Int64(gi.count))
            var block = [T](repeating: 0, count: (dd * dd + dd) * Layout.lanes)
            for (lane, s) in Self.datasets(batch, block: blk).enumerated() {
                let f = forms[s]
                for k in 0..<(dd * dd) { block[k * Layout.lanes + lane] = T(f.matrix[k]) }
                for j in 0..<dd { block[(dd * dd + j) * Layout.lanes + lane] = T(f.vector[j]) }
            }
            gi += block
        }
        gram = try (
            buffer(forms.flatMap { $0.matrix.map { T($0) } }), buffer(forms.flatMap { $0.vector.map { T($0) } }),
            buffer(offsets), buffer(gi.isEmpty ? [T(0)] : gi)
        )
    }

    /// The data set of each lane of block `blk`; padding lanes take the block's first replica's.
    static func datasets(_ batch: Batch, block blk: Int) -> [Int] {
        (0..<Layout.lanes).map { lane in
            let b = blk * Layout.lanes + lane
            return batch.replicas[b < batch.layout.replicas ? b : blk * Layout.lanes].dataset
        }
    }
}

extension DeviceBatch {
    func state() throws(CLError) -> EngineState {
        try flow?.enqueueMaterialize(steps: stepsTaken)
        let d = layout.dimension
        let all = try queue.read(buffers.layers, as: T.self, count: layout.layers * layout.coordinateCount)
        let ws = try queue.read(buffers.w, as: T.self, count: layout.coordinateCount)
        func wrap(_ a: [T]) -> RealArray { T.self == Float.self ? .float(a as! [Float]) : .double(a as! [Double]) }
        return EngineState(
            layers: (0..<layout.layers).map {
                wrap(layout.unpack(all, length: d, offset: $0 * layout.coordinateCount))
            },
            weights: wrap(layout.unpack(ws, length: d)))
    }

    /// The state arrays (the CPU engine's order, `StateArray.arrays`) with their device buffers.
    private var stateBuffers: [(StateArray, CLBuffer?)] {
        let arrays = StateArray.arrays(
            layout: layout, flowComponents: flow?.components, log: flow?.log ?? false, momentum: momentum != nil)
        var list: [CLBuffer?] = [buffers.layers, buffers.w] + (momentum.map { [$0.m] } ?? [])
        if let f = flow {
            if f.log { list.append(f.y) }
            // Without update flow the evaluations are counted on the host (nil).
            list += [
                f.f, f.t, f.hdes, f.errprev, f.frozenAt, f.lastRejected, f.status, f.adaptive ? f.evaluations : nil,
                f.rejected, f.attempts
            ]
        }
        return Array(zip(arrays, list))
    }

    func snapshot() throws(CLError) -> EngineSnapshot {
        let B = layout.replicas
        var saved: [EngineSnapshot.Buffer] = []
        for (a, buffer) in stateBuffers {
            var values: [Double]
            if let buffer {
                let n = a.extent(replicas: B)
                if a.integer {
                    values = try queue.read(buffer, as: Int32.self, count: n).withUnsafeBufferPointer { p in
                        a.gather(p.baseAddress!, replicas: B) { Double($0) }
                    }
                } else {
                    values = try queue.read(buffer, as: T.self, count: n).withUnsafeBufferPointer { p in
                        a.gather(p.baseAddress!, replicas: B) { Double($0) }
                    }
                }
            } else {
                values = flow!.hostEvaluations.map { Double($0) }
            }
            saved.append(EngineSnapshot.Buffer(name: a.name, width: a.width, integer: a.integer, values: values))
        }
        return EngineSnapshot(replicas: B, steps: stepsTaken, started: flow?.started ?? false, buffers: saved)
    }

    func restore(_ s: EngineSnapshot, replicas only: [Int]?) throws {
        let storage = stateBuffers
        let B = layout.replicas
        try s.check(against: storage.map { ($0.0.name, $0.0.width) }, replicas: B)
        try stochastic?.invalidate()
        if let only {
            try restoreBlocks(s, replicas: only, storage: storage)
            return
        }
        for ((a, buffer), saved) in zip(storage, s.buffers) {
            guard let buffer else {
                flow!.hostEvaluations = saved.values.map { Int32($0) }
                continue
            }
            // Read, patch the replicas' elements, write back: padding and canaries stay as they are.
            let n = a.extent(replicas: B)
            if a.integer {
                var raw = try queue.read(buffer, as: Int32.self, count: n)
                raw.withUnsafeMutableBufferPointer { p in
                    a.scatter(saved.values, into: p.baseAddress!, replicas: B) { Int32($0) }
                }
                try queue.write(buffer, from: raw)
            } else {
                var raw = try queue.read(buffer, as: T.self, count: n)
                raw.withUnsafeMutableBufferPointer { p in
                    a.scatter(saved.values, into: p.baseAddress!, replicas: B) { T($0) }
                }
                try queue.write(buffer, from: raw)
            }
        }
        stepsTaken = s.steps
        flow?.started = s.started
        try queue.finish()
    }

    /// Restores only `replicas`: per coordinate array, the contiguous region of each block that holds one of
    /// them (16 lanes × d per component) is read, patched and written back.
    private func restoreBlocks(_ s: EngineSnapshot, replicas: [Int], storage: [(StateArray, CLBuffer?)]) throws {
        let d = layout.dimension
        let L = Layout.lanes
        let blocks = Set(replicas.map { $0 / L }).sorted()
        for ((a, buffer), saved) in zip(storage, s.buffers) {
            guard let buffer else {
                for b in replicas { flow!.hostEvaluations[b] = Int32(saved.values[b]) }
                continue
            }
            func patch<E: BitwiseCopyable>(_ type: E.Type, _ convert: (Double) -> E) throws {
                if a.perReplica {
                    var raw = try queue.read(buffer, as: E.self, count: layout.replicas)
                    for b in replicas { raw[b] = convert(saved.values[b]) }
                    try queue.write(buffer, from: raw)
                    return
                }
                let components = a.width / d
                for blk in blocks {
                    for comp in 0..<components {
                        let offset = a.index(blk * L, comp * d)
                        var raw = try queue.read(buffer, as: E.self, count: d * L, offset: offset)
                        for b in replicas where b / L == blk {
                            for j in 0..<d { raw[j * L + b % L] = convert(saved.values[b * a.width + comp * d + j]) }
                        }
                        try queue.write(buffer, from: raw, offset: offset)
                    }
                }
            }
            if a.integer { try patch(Int32.self) { Int32($0) } } else { try patch(T.self) { T($0) } }
        }
        try queue.finish()
    }

    func canariesIntact() throws(CLError) -> Bool {
        let n = OpenCLEngine.canaryCount
        let b = buffers
        for (buffer, count) in [
            (b.layers, layout.layers * layout.coordinateCount), (b.w, layout.coordinateCount),
            (b.r, layout.sampleCount), (b.g, layout.coordinateCount), (b.loss, layout.replicas),
            (b.obs, layout.replicas * (observables.kernelCount - 1))
        ] + (flow?.canaried ?? []) + (curvature?.canaried ?? [])
            + (momentum.map { [($0.m, layout.layers * layout.coordinateCount)] } ?? [])
        {
            let tail = try queue.read(buffer, as: T.self, count: n, offset: count)
            if tail.contains(where: { $0 != DeviceBuffers<T>.sentinel }) { return false }
        }
        return true
    }
}
