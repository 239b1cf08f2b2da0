import Foundation

/// Counter-based random numbers: every value is a pure function of (seed, stream, index).
///
/// A replica's problem therefore does not depend on the batch size, the batch order or the device.
/// The generator is Philox4x32-10 (Salmon et al., SC'11, "Parallel random numbers: as easy as
/// 1, 2, 3"): the key is the 64-bit seed, the counter is (index low, index high, stream, 0).
public struct CounterRNG: Sendable, Hashable {
    /// The seed (Philox key).
    public let seed: UInt64

    /// A generator for one seed.
    public init(seed: UInt64) { self.seed = seed }

    /// The four 32-bit Philox4x32-10 output words for a (stream, index) counter.
    @inlinable
    public func words(stream: UInt32, index: UInt64) -> (UInt32, UInt32, UInt32, UInt32) {
        Self.philox(
            (UInt32(truncatingIfNeeded: index), UInt32(truncatingIfNeeded: index >> 32), stream, 0),
            key: (UInt32(truncatingIfNeeded: seed), UInt32(truncatingIfNeeded: seed >> 32)))
    }

    /// The Philox4x32-10 bijection of a 128-bit counter under a 64-bit key.
    @inlinable
    public static func philox(_ counter: (UInt32, UInt32, UInt32, UInt32), key: (UInt32, UInt32)) -> (
        UInt32, UInt32, UInt32, UInt32
    ) {
        var (c0, c1, c2, c3) = counter
        var (k0, k1) = key
        for _ in 0..<10 {
            let p0 = UInt64(0xD251_1F53) &* UInt64(c0)
            let p1 = UInt64(0xCD9E_8D57) &* UInt64(c2)
            let n0 = UInt32(truncatingIfNeeded: p1 >> 32) ^ c1 ^ k0
            let n2 = UInt32(truncatingIfNeeded: p0 >> 32) ^ c3 ^ k1
            c1 = UInt32(truncatingIfNeeded: p1)
            c3 = UInt32(truncatingIfNeeded: p0)
            c0 = n0
            c2 = n2
            k0 &+= 0x9E37_79B9
            k1 &+= 0xBB67_AE85
        }
        return (c0, c1, c2, c3)
    }

    /// Two independent uniforms in (0, 1) with 53 random bits each.
    @inlinable
    public func uniformPair(stream: UInt32, index: UInt64) -> (Double, Double) {
        let (a, b, c, d) = words(stream: stream, index: index)
        let x = (UInt64(a) << 21) ^ UInt64(b >> 11)  // 53 bits
        let y = (UInt64(c) << 21) ^ UInt64(d >> 11)
        let scale = 1.0 / 9_007_199_254_740_992.0  // 2^-53
        return ((Double(x) + 0.5) * scale, (Double(y) + 0.5) * scale)
    }

    /// A uniform value in (0, 1).
    @inlinable
    public func uniform(stream: UInt32, index: UInt64) -> Double {
        uniformPair(stream: stream, index: index).0
    }

    /// A standard normal value (Box–Muller on the counter's two uniforms).
    @inlinable
    public func gaussian(stream: UInt32, index: UInt64) -> Double {
        let (u1, u2) = uniformPair(stream: stream, index: index)
        return (-2 * Foundation.log(u1)).squareRoot() * Foundation.cos(2 * Double.pi * u2)
    }
}

/// The streams of the counter-based generator: one per kind of random quantity.
public enum RandomStream: UInt32, Sendable {
    /// Design matrix entries, index i·d + j.
    case design = 1
    /// Label noise ε, index i.
    case labelNoise = 2
    /// Teacher support draw, index j.
    case teacherSupport = 3
    /// Teacher values (signs or Gaussian), index j.
    case teacherValue = 4
    /// Initialisation noise ξ of the first layer, index j.
    case initU = 5
    /// Initialisation noise ξ′ of the second layer, index j.
    case initV = 6
    /// Gaussian entries of the deep models' initial layers (`model.init.entries: gaussian`), index l·d + j.
    case initLayers = 11
    /// Random signs of the deep models' initial coordinates (`model.init.signs: random`), index l·d + j.
    case initSigns = 12
}
