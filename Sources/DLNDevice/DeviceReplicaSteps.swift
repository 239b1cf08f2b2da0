import DLNModel
import OpenCLKit

/// Independent data on a CPU device (regime I, vector16 shape): each replica runs a launch's steps alone, one
/// work-item per replica, while its own data set stays in the core's cache (Kernels/replica_v16.cl), instead of
/// blocks of 16 replicas streaming their lane-interleaved data at every step. The twin of the CPU engine's
/// `CPUBatch.replicaSteps`; the same sums in the same order as the block kernels, so the same bits.
///
/// Per data set it holds the strip copy of X, Xᵀ and y (`StripCopy`, 2·n₁₆·d₁₆ + n₁₆ elements), or in the Gram form
/// Σᵀ in strips and c (d·d₁₆ + d₁₆), or in the strided summation order X row-major and y (`StridedCopy`, n₁₆·d₁₆ + n₁₆;
/// kernel `dln_replica_strided_v16`, every block whatever its data), and per replica a scratch of (L + 1)·d₁₆ + max(n₁₆, d₁₆) elements (its layers, w
/// and r, or g, while it steps).
final class DeviceReplicaSteps<T: DLNReal & CLKernelArgument> {
    let copies: CLBuffer, copyAt: CLBuffer, scratch: CLBuffer
    let kernel: CLKernel
    /// The index of the kernel's `steps` argument.
    static var stepsArgument: Int { 5 }

    /// Whether a batch steps one replica at a time on a device of `shape`: the vector16 shape (CPU devices), every
    /// block with mixed data sets (`independent`), plain or multiplicative descent in the layers (no flow,
    /// no log representation, no stochastic steps, no momentum). `forced` nil decides by size: from
    /// `CPUTuning.standard.replicaMinBytes` of copy per data set on (a tiny problem wastes most of each 16-wide vector);
    /// true or false forces it where it applies.
    static func applies(to batch: Batch, shape: KernelShape, forced: Bool?) -> Bool {
        // The strided summation order steps every replica alone on the vector16 shape, whatever its data.
        if shape == .vector16 && batch.summation == .strided { return true }
        guard shape == .vector16, plainSteps(batch), independent(batch) else { return false }
        if let forced { return forced }
        return copySize(batch).bytes >= CPUTuning.standard.replicaMinBytes
    }

    /// Elements of one data set's copy, and of the matrices in it in bytes (what the size rule compares).
    static func copySize(_ batch: Batch) -> (count: Int, bytes: Int) {
        let (n, d) = (batch.layout.samples, batch.layout.dimension)
        let (n16, d16, count) = StripCopy.size(samples: n, dimension: d)
        let size = batch.precision.byteCount
        if batch.summation == .strided { return (n16 * d16 + n16, n16 * d16 * size) }
        return batch.gradientForm == .gram ? (d * d16 + d16, d * d16 * size) : (count, 2 * n16 * d16 * size)
    }

    /// Whether the steps are what the many-steps kernels of replica_v16.cl run: plain or multiplicative descent in the
    /// layers (no flow, log representation, stochastic steps or momentum).
    static func plainSteps(_ batch: Batch) -> Bool { batch.takesPlainSteps }

    /// Whether no block of 16 replicas has one data set for all its replicas (two or more): the blocks would stream
    /// lane-interleaved data (regime I; the replicas of a grid point's seeds may share a data set across points).
    static func independent(_ batch: Batch) -> Bool { batch.blocksHoldIndependentData }

    /// Extra bytes per replica on the device when it `applies`: its data set's copy and its scratch.
    static func bytesPerReplica(_ batch: Batch) -> Int {
        let lay = batch.layout
        let (n16, d16, _) = StripCopy.size(samples: lay.samples, dimension: lay.dimension)
        return (copySize(batch).count + (lay.layers + 1) * d16 + max(n16, d16)) * batch.precision.byteCount
    }

    init(
        _ batch: Batch, program: CLProgram, context: CLContext, buffers b: DeviceBuffers<T>, factors: CLBuffer
    ) throws(CLError) {
        let lay = batch.layout
        let (n, d) = (lay.samples, lay.dimension)
        let (n16, d16, _) = StripCopy.size(samples: n, dimension: d)
        let size = Self.copySize(batch).count
        let gram = batch.gradientForm == .gram
        let sets = Array(Set(batch.replicas.map(\.dataset))).sorted()
        let slot = Dictionary(uniqueKeysWithValues: sets.enumerated().map { ($1, $0) })
        var all = [T](repeating: 0, count: sets.count * size)
        all.withUnsafeMutableBufferPointer { out in
            for (k, s) in sets.enumerated() {
                if gram {
                    let form = batch.gram(dataset: s)
                    StripCopy.fillGram(
                        matrix: form.matrix.map { T($0) }, vector: form.vector.map { T($0) }, dimension: d,
                        into: out.baseAddress! + k * size)
                    continue
                }
                let xs = batch.datasets[s].x.values(as: T.self)
                let ys = batch.datasets[s].y.values(as: T.self)
                let fill: (UnsafePointer<T>, UnsafePointer<T>, Int, Int, UnsafeMutablePointer<T>) -> Void =
                    batch.summation == .strided
                    ? { StridedCopy.fill(x: $0, y: $1, samples: $2, dimension: $3, into: $4) }
                    : { StripCopy.fill(x: $0, y: $1, samples: $2, dimension: $3, into: $4) }
                xs.withUnsafeBufferPointer { x in
                    ys.withUnsafeBufferPointer { y in
                        fill(x.baseAddress!, y.baseAddress!, n, d, out.baseAddress! + k * size)
                    }
                }
            }
        }
        copies = try CLBuffer(context: context, copying: all, access: .readOnly)
        copyAt = try CLBuffer(
            context: context, copying: batch.replicas.map { Int64(slot[$0.dataset]! * size) }, access: .readOnly)
        let per = (lay.layers + 1) * d16 + max(n16, d16)
        scratch = try CLBuffer(
            context: context, copying: [T](repeating: 0, count: lay.replicas * per), access: .readWrite)
        kernel = try CLKernel(
            program: program,
            name: batch.summation == .strided ? "dln_replica_strided_v16" : "dln_replica_steps_v16")
        try kernel.bind(
            Int32(n), Int32(d), Int32(n16), Int32(d16), Int64(lay.coordinateCount), Int32(1),
            T(gram ? 1 : batch.gradientScale), Int32(gram ? 1 : 0), copyAt, copies, b.eta, factors, b.lambda, b.layers,
            b.w, scratch)
    }
}
