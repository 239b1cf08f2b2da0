/// The memory layout of every per-replica array, written once here and mirrored in
/// `Kernels/common.cl` (`IDX`).
///
/// Replicas are grouped in blocks of ``lanes`` (16). A per-replica vector of length `m` (a layer, w,
/// the residual r or the gradient g) lives at
///
///     index(b, k) = (b / 16)·m·16 + k·16 + (b % 16)        0 ≤ b < B, 0 ≤ k < m
///
/// so the 16 replicas of a block sit side by side for each coordinate: the CPU engine computes them in
/// one SIMD vector and neighbouring OpenCL work-items read neighbouring addresses. The replica count is
/// padded to `paddedReplicas` (a multiple of 16); padding lanes are never observed. Layers are stacked:
/// layer l starts at l·paddedReplicas·d. Data sets are row-major: X[s] at s·n·d + i·d + j, y[s] at s·n + i.
public struct Layout: Sendable, Hashable {
    /// Replicas per block: the SIMD width of the CPU engine and of the device's replica vectors.
    public static let lanes = 16

    /// Number of replicas B.
    public let replicas: Int
    /// Coordinates d.
    public let dimension: Int
    /// Samples n.
    public let samples: Int
    /// Layers per replica (2 for the two-layer models, L for depth L).
    public let layers: Int

    /// A layout for B replicas of a (d, n, layers) problem.
    public init(replicas: Int, dimension: Int, samples: Int, layers: Int) {
        precondition(replicas > 0 && dimension > 0 && samples > 0 && layers > 0)
        self.replicas = replicas
        self.dimension = dimension
        self.samples = samples
        self.layers = layers
    }

    /// Number of replica blocks.
    public var blocks: Int { (replicas + Self.lanes - 1) / Self.lanes }
    /// B rounded up to a multiple of 16.
    public var paddedReplicas: Int { blocks * Self.lanes }
    /// Elements of one length-d per-replica array (a layer, w or g), padding included.
    public var coordinateCount: Int { paddedReplicas * dimension }
    /// Elements of one length-n per-replica array (the residual), padding included.
    public var sampleCount: Int { paddedReplicas * samples }

    /// Offset of (replica b, element k) in a per-replica array whose vectors have length `m`.
    @inlinable
    public static func index(replica b: Int, element k: Int, length m: Int) -> Int {
        (b / lanes) * m * lanes + k * lanes + (b % lanes)
    }

    /// Scatters replica-major values (`values[b·d + j]`) into this layout (padding left at `fill`).
    public func pack<T>(_ values: [T], length m: Int, fill: T) -> [T] {
        precondition(values.count == replicas * m)
        var out = [T](repeating: fill, count: paddedReplicas * m)
        for b in 0..<replicas {
            for k in 0..<m { out[Self.index(replica: b, element: k, length: m)] = values[b * m + k] }
        }
        return out
    }

    /// Gathers a laid-out array back into replica-major order (`result[b·m + k]`), dropping padding.
    public func unpack<T>(_ laidOut: [T], length m: Int, offset: Int = 0) -> [T] {
        var out: [T] = []
        out.reserveCapacity(replicas * m)
        for b in 0..<replicas {
            for k in 0..<m { out.append(laidOut[offset + Self.index(replica: b, element: k, length: m)]) }
        }
        return out
    }
}
