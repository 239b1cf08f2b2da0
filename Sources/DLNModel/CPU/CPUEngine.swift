import Dispatch
import Foundation

/// The native engine: the same arithmetic as the OpenCL kernels, vectorised over the 16 replicas of a block
/// (`SIMD16`), multi-threaded over blocks. Replicas are independent, so a block runs all the steps between
/// two observations on its own, its state and data staying in cache.
public final class CPUEngine: FlowEngine {
    // Concrete cases (not an existential) so that the optimiser specialises the hot loops for each type.
    private enum Storage {
        case float(CPUBatch<Float>)
        case double(CPUBatch<Double>)
    }
    private var impl: Storage?
    /// Worker threads (default: all cores).
    public let threads: Int
    /// How the loops run (never what they compute); nil: `CPUTuning.current`, resolved when a batch first needs it.
    public let tuning: CPUTuning?
    /// The instruction set of the hot loops (never changes a result).
    public let isa: VectorISA

    /// A CPU engine using `threads` worker threads (nil: one per core), `tuning` (nil: `CPUTuning.current`) and the
    /// hot loops compiled for `isa` (default: `VectorISA.current`; one the CPU lacks falls back to the baseline).
    public init(threads: Int? = nil, tuning: CPUTuning? = nil, isa: VectorISA = .current) {
        self.threads = max(1, threads ?? System.coreCount)
        self.tuning = tuning
        self.isa = isa.isSupported ? isa : .baseline
    }

    /// Replicas that fit in half of the memory the process may use (`HostMemory.available`).
    public func replicaCapacity(_ batch: Batch) -> Int {
        var (per, shared) = batch.memoryFootprint
        if shared == 0 {  // independent data: the lane-interleaved copy, and the two padded per-replica copies
            let (n, d) = (batch.layout.samples, batch.layout.dimension)
            per += (n * d + n + 2 * ((n + 15) / 16 * 16) * ((d + 15) / 16 * 16)) * batch.precision.byteCount
        }
        let budget = HostMemory.available.bytes / 2 - Double(shared)
        return max(Layout.lanes, Int(budget / Double(per)))
    }

    public var deviceDescription: String {
        "CPU engine (\(threads) thread\(threads == 1 ? "" : "s"), SIMD16 over replicas, \(isa))"
    }

    public func initialize(_ batch: Batch) throws(DLNError) {
        switch batch.precision {
        case .float32: impl = .float(try CPUBatch<Float>(batch, threads: threads, tuning: tuning, isa: isa))
        case .float64: impl = .double(try CPUBatch<Double>(batch, threads: threads, tuning: tuning, isa: isa))
        }
    }

    public func step(count: Int) throws(DLNError) {
        switch impl {
        case .float(let b): b.step(count: count)
        case .double(let b): b.step(count: count)
        case nil: preconditionFailure("initialize the engine first")
        }
    }

    public func observe() throws(DLNError) -> Observation {
        switch impl {
        case .float(let b): return b.observe()
        case .double(let b): return b.observe()
        case nil: preconditionFailure("initialize the engine first")
        }
    }

    public func advance(to time: Double) throws(DLNError) {
        switch impl {
        case .float(let b): b.advance(to: time)
        case .double(let b): b.advance(to: time)
        case nil: preconditionFailure("initialize the engine first")
        }
    }

    public func advance(to time: Double, stoppingIf stop: () -> Bool) throws(DLNError) -> Bool {
        switch impl {
        case .float(let b): return b.advance(to: time, stoppingIf: stop)
        case .double(let b): return b.advance(to: time, stoppingIf: stop)
        case nil: preconditionFailure("initialize the engine first")
        }
    }

    public func flowCounters() throws(DLNError) -> FlowCounters {
        switch impl {
        case .float(let b): return b.flow.map { b.flowCounters(flow: $0) } ?? FlowCounters(replicas: b.layout.replicas)
        case .double(let b): return b.flow.map { b.flowCounters(flow: $0) } ?? FlowCounters(replicas: b.layout.replicas)
        case nil: preconditionFailure("initialize the engine first")
        }
    }

    public func state() throws(DLNError) -> EngineState {
        switch impl {
        case .float(let b): return b.state()
        case .double(let b): return b.state()
        case nil: preconditionFailure("initialize the engine first")
        }
    }

    public func snapshot() throws(DLNError) -> EngineSnapshot {
        switch impl {
        case .float(let b): return b.snapshot()
        case .double(let b): return b.snapshot()
        case nil: preconditionFailure("initialize the engine first")
        }
    }

    public func restore(_ snapshot: EngineSnapshot, replicas: [Int]?) throws(DLNError) {
        switch impl {
        case .float(let b): try b.restore(snapshot, replicas: replicas)
        case .double(let b): try b.restore(snapshot, replicas: replicas)
        case nil: preconditionFailure("initialize the engine first")
        }
    }
}
