import Dispatch
import Foundation

/// One array of an engine's state as `EngineSnapshot` holds it: element k of replica b lives at `index(b, k)`
/// of the engine's own (laid-out) array.
public struct StateArray: Sendable {
    public let name: String
    public let width: Int
    public let integer: Bool
    /// Coordinate arrays: components × d values per replica in `Layout` order, component c at c·stride;
    /// nil: one value per replica at index b.
    @usableFromInline let coordinates: (components: Int, d: Int, stride: Int)?

    /// One value per replica (not a coordinate array).
    public var perReplica: Bool { coordinates == nil }

    /// The element of replica b, value k in the engine's array.
    public func index(_ b: Int, _ k: Int) -> Int {
        guard let c = coordinates else { return b }
        return (k / c.d) * c.stride + Layout.index(replica: b, element: k % c.d, length: c.d)
    }

    /// Elements of the engine's array that hold replicas 0..<B.
    public func extent(replicas B: Int) -> Int { index(B - 1, width - 1) + 1 }

    /// Replicas 0..<B of an engine array, replica-major (block by block, so the reads are contiguous).
    @inlinable public func gather<E>(_ src: UnsafePointer<E>, replicas B: Int, _ convert: (E) -> Double) -> [Double] {
        var out = [Double](repeating: 0, count: B * width)
        out.withUnsafeMutableBufferPointer { dst in visit(replicas: B) { i, o in dst[o] = convert(src[i]) } }
        return out
    }

    /// Writes replicas 0..<B (or only those listed) of replica-major values into an engine array (padding
    /// untouched).
    @inlinable public func scatter<E>(
        _ values: [Double], into dst: UnsafeMutablePointer<E>, replicas B: Int, only: [Int]? = nil,
        _ convert: (Double) -> E
    ) {
        values.withUnsafeBufferPointer { src in
            guard let only else {
                visit(replicas: B) { i, o in dst[i] = convert(src[o]) }
                return
            }
            for b in only { for k in 0..<width { dst[index(b, k)] = convert(src[b * width + k]) } }
        }
    }

    /// Calls body(engine index, snapshot index) for every element of replicas 0..<B.
    @inlinable @inline(__always) func visit(replicas B: Int, _ body: (Int, Int) -> Void) {
        guard let c = coordinates else {
            for b in 0..<B { body(b, b) }
            return
        }
        let L = Layout.lanes
        for blk in 0..<((B + L - 1) / L) {
            let lanes = min(L, B - blk * L)
            for comp in 0..<c.components {
                let base = comp * c.stride + blk * c.d * L
                for j in 0..<c.d {
                    let row = base + j * L
                    let k = comp * c.d + j
                    for lane in 0..<lanes { body(row + lane, (blk * L + lane) * width + k) }
                }
            }
        }
    }

    /// The arrays of a batch's state, in snapshot order: the layers, w, and with the integrator or the log
    /// representation its state z (log), the first-same-as-last derivative and the per-replica controller state.
    public static func arrays(layout: Layout, flowComponents: Int?, log: Bool, momentum: Bool = false)
        -> [StateArray]
    {
        let d = layout.dimension
        let stride = layout.coordinateCount
        func coordinates(_ name: String, _ components: Int) -> StateArray {
            StateArray(name: name, width: components * d, integer: false, coordinates: (components, d, stride))
        }
        var out = [coordinates("layers", layout.layers), coordinates("w", 1)]
        if momentum { out.append(coordinates("momentum", layout.layers)) }
        if let comps = flowComponents {
            if log { out.append(coordinates("z", 1)) }
            out.append(coordinates("derivative", comps))
            for name in ["t", "hdes", "errprev", "frozen_at"] {
                out.append(StateArray(name: name, width: 1, integer: false, coordinates: nil))
            }
            for name in ["last_rejected", "status", "evaluations", "rejected", "attempts"] {
                out.append(StateArray(name: name, width: 1, integer: true, coordinates: nil))
            }
        }
        return out
    }
}

extension CPUBatch {
    /// The state arrays paired with their storage.
    private var stateStorage: [(StateArray, UnsafeMutablePointer<T>?, UnsafeMutablePointer<Int32>?)] {
        let arrays = StateArray.arrays(
            layout: layout, flowComponents: flow?.components, log: flow?.log ?? false, momentum: momentum != nil)
        var reals: [UnsafeMutablePointer<T>] = [layers, w] + (momentum.map { [$0.m] } ?? [])
        var ints: [UnsafeMutablePointer<Int32>] = []
        if let fs = flow {
            if fs.log { reals.append(fs.y) }
            reals += [fs.f, fs.t, fs.hdes, fs.errprev, fs.frozenAt]
            ints = [fs.lastRejected, fs.status, fs.evaluations, fs.rejected, fs.attempts]
        }
        var ri = 0
        var ii = 0
        return arrays.map { a in
            if a.integer {
                ii += 1
                return (a, nil, ints[ii - 1])
            }
            ri += 1
            return (a, reals[ri - 1], nil)
        }
    }

    @_specialize(where T == Float)
    @_specialize(where T == Double)
    func snapshot() -> EngineSnapshot {
        let B = layout.replicas
        let buffers = stateStorage.map { a, real, int in
            let values =
                real.map { p in a.gather(p, replicas: B) { Double($0) } } ?? a.gather(int!, replicas: B) { Double($0) }
            return EngineSnapshot.Buffer(name: a.name, width: a.width, integer: a.integer, values: values)
        }
        return EngineSnapshot(replicas: B, steps: stepsTaken, started: flow?.started ?? false, buffers: buffers)
    }

    @_specialize(where T == Float)
    @_specialize(where T == Double)
    func restore(_ s: EngineSnapshot, replicas only: [Int]?) throws(DLNError) {
        let storage = stateStorage
        try s.check(against: storage.map { ($0.0.name, $0.0.width) }, replicas: layout.replicas)
        for ((a, real, int), buffer) in zip(storage, s.buffers) {
            if let real {
                a.scatter(buffer.values, into: real, replicas: layout.replicas, only: only) { T($0) }
            } else {
                a.scatter(buffer.values, into: int!, replicas: layout.replicas, only: only) { Int32($0) }
            }
        }
        stochastic?.invalidate(replicas: layout.paddedReplicas)
        guard only == nil else { return }
        stepsTaken = s.steps
        flow?.started = s.started
    }
}
