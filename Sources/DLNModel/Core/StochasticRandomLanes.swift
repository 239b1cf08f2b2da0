/// `StochasticRandom.gaussian` for the 16 lanes of a block at once: each lane its own Philox key, all lanes the same
/// (stream, step, index). Every lane runs exactly the scalar operations (the branches of the logarithm and the
/// cosine are both evaluated and one is selected, which selects the same bits), so lane j equals
/// `StochasticRandom.gaussian(key: keys[j], …)` bit for bit, and so the kernels' `dln_gauss`.
public enum StochasticLanes {
    /// The keys of up to 16 replicas as two vectors (lanes past `keys.count` get key 0).
    @inlinable
    public static func keys(_ keys: [(UInt32, UInt32)]) -> (SIMD16<UInt32>, SIMD16<UInt32>) {
        var lo = SIMD16<UInt32>()
        var hi = SIMD16<UInt32>()
        for (j, k) in keys.prefix(16).enumerated() {
            lo[j] = k.0
            hi[j] = k.1
        }
        return (lo, hi)
    }

    /// Philox4x32-10 of the counter (index, step mod 2³², stream, step ÷ 2³²) under each lane's key.
    @inlinable
    public static func words(
        key: (SIMD16<UInt32>, SIMD16<UInt32>), stream: StochasticRandom.Stream, step: UInt64, index: UInt32
    ) -> (SIMD16<UInt32>, SIMD16<UInt32>, SIMD16<UInt32>, SIMD16<UInt32>) {
        var c0 = SIMD16<UInt32>(repeating: index)
        var c1 = SIMD16<UInt32>(repeating: UInt32(truncatingIfNeeded: step))
        var c2 = SIMD16<UInt32>(repeating: stream.rawValue)
        var c3 = SIMD16<UInt32>(repeating: UInt32(truncatingIfNeeded: step >> 32))
        var (k0, k1) = key
        for _ in 0..<10 {
            let p0 = SIMD16<UInt64>(truncatingIfNeeded: c0) &* 0xD251_1F53
            let p1 = SIMD16<UInt64>(truncatingIfNeeded: c2) &* 0xCD9E_8D57
            let n0 = SIMD16<UInt32>(truncatingIfNeeded: p1 &>> 32) ^ c1 ^ k0
            let n2 = SIMD16<UInt32>(truncatingIfNeeded: p0 &>> 32) ^ c3 ^ k1
            c1 = SIMD16<UInt32>(truncatingIfNeeded: p1)
            c3 = SIMD16<UInt32>(truncatingIfNeeded: p0)
            c0 = n0
            c2 = n2
            k0 &+= 0x9E37_79B9
            k1 &+= 0xBB67_AE85
        }
        return (c0, c1, c2, c3)
    }

    /// The standard normal of (key, stream, step, index) per lane, in T.
    @inlinable
    public static func gaussian<T: DLNReal>(
        key: (SIMD16<UInt32>, SIMD16<UInt32>), stream: StochasticRandom.Stream, step: UInt64, index: UInt32,
        as: T.Type
    ) -> SIMD16<T> {
        let w = words(key: key, stream: stream, step: step, index: index)
        if T.self == Float.self { return unsafeBitCast(gaussianFloat(w), to: SIMD16<T>.self) }
        return unsafeBitCast(gaussianDouble(w), to: SIMD16<T>.self)
    }

    // MARK: float

    /// `StochasticRandom.gaussianFloat` per lane.
    @inlinable
    public static func gaussianFloat(_ w: (SIMD16<UInt32>, SIMD16<UInt32>, SIMD16<UInt32>, SIMD16<UInt32>))
        -> SIMD16<Float>
    {
        let u1 = SIMD16<Float>(2 &* (w.0 &>> 9) &+ 1) * 5.9604645e-08
        let u2 = SIMD16<Float>(2 &* (w.2 &>> 9) &+ 1) * 5.9604645e-08
        let radius = (-2 * logFloat(u1)).squareRoot()
        return radius * cosTurnFloat(u2)
    }

    /// `StochasticRandom.logFloat` per lane.
    @inlinable
    public static func logFloat(_ x: SIMD16<Float>) -> SIMD16<Float> {
        let bits = unsafeBitCast(x, to: SIMD16<UInt32>.self)
        var e = SIMD16<Int32>(truncatingIfNeeded: (bits &>> 23) & 0xFF) &- 127
        var m = unsafeBitCast((bits & 0x7F_FFFF) | 0x3F80_0000, to: SIMD16<Float>.self)
        let high = m .> 1.4142135
        m.replace(with: m * 0.5, where: high)
        e.replace(with: e &+ 1, where: high)
        let s = (m - 1) / (m + 1)
        let z = s * s
        var p = SIMD16<Float>(repeating: 0.09090909)
        p = p * z + 0.11111111
        p = p * z + 0.14285715
        p = p * z + 0.2
        p = p * z + 0.33333334
        p = p * z + 1
        return SIMD16<Float>(e) * 0.6931472 + 2 * s * p
    }

    /// `StochasticRandom.cosTurnFloat` per lane.
    @inlinable
    public static func cosTurnFloat(_ u: SIMD16<Float>) -> SIMD16<Float> {
        let r = u - u.rounded(.toNearestOrEven)
        var a = unsafeBitCast(unsafeBitCast(r, to: SIMD16<UInt32>.self) & 0x7FFF_FFFF, to: SIMD16<Float>.self)
        let negative = a .> 0.25
        a.replace(with: 0.5 - a, where: negative)
        let x1 = a * 6.2831855
        let z1 = x1 * x1
        var p1 = SIMD16<Float>(repeating: -2.7557319e-07)
        p1 = p1 * z1 + 2.4801588e-05
        p1 = p1 * z1 + -0.0013888889
        p1 = p1 * z1 + 0.041666668
        p1 = p1 * z1 + -0.5
        var c = p1 * z1 + 1
        let x2 = (0.25 - a) * 6.2831855
        let z2 = x2 * x2
        var p2 = SIMD16<Float>(repeating: 2.7557319e-06)
        p2 = p2 * z2 + -0.0001984127
        p2 = p2 * z2 + 0.008333334
        p2 = p2 * z2 + -0.16666667
        p2 = p2 * z2 + 1
        c.replace(with: p2 * x2, where: a .> 0.125)
        c.replace(with: -c, where: negative)
        return c
    }

    // MARK: double

    /// `StochasticRandom.gaussianDouble` per lane.
    @inlinable
    public static func gaussianDouble(_ w: (SIMD16<UInt32>, SIMD16<UInt32>, SIMD16<UInt32>, SIMD16<UInt32>))
        -> SIMD16<Double>
    {
        let k1 = (SIMD16<UInt64>(truncatingIfNeeded: w.0) &<< 20) | SIMD16<UInt64>(truncatingIfNeeded: w.1 &>> 12)
        let k2 = (SIMD16<UInt64>(truncatingIfNeeded: w.2) &<< 20) | SIMD16<UInt64>(truncatingIfNeeded: w.3 &>> 12)
        let u1 = SIMD16<Double>(2 &* k1 &+ 1) * 1.1102230246251565e-16
        let u2 = SIMD16<Double>(2 &* k2 &+ 1) * 1.1102230246251565e-16
        let radius = (-2 * logDouble(u1)).squareRoot()
        return radius * cosTurnDouble(u2)
    }

    /// `StochasticRandom.logDouble` per lane.
    @inlinable
    public static func logDouble(_ x: SIMD16<Double>) -> SIMD16<Double> {
        let bits = unsafeBitCast(x, to: SIMD16<UInt64>.self)
        var e = SIMD16<Int64>(truncatingIfNeeded: (bits &>> 52) & 0x7FF) &- 1023
        var m = unsafeBitCast((bits & 0xF_FFFF_FFFF_FFFF) | 0x3FF0_0000_0000_0000, to: SIMD16<Double>.self)
        let high = m .> 1.4142135623730951
        m.replace(with: m * 0.5, where: high)
        e.replace(with: e &+ 1, where: high)
        let s = (m - 1) / (m + 1)
        let z = s * s
        var p = SIMD16<Double>(repeating: 0.043478260869565216)
        p = p * z + 0.047619047619047616
        p = p * z + 0.05263157894736842
        p = p * z + 0.058823529411764705
        p = p * z + 0.06666666666666667
        p = p * z + 0.07692307692307693
        p = p * z + 0.09090909090909091
        p = p * z + 0.1111111111111111
        p = p * z + 0.14285714285714285
        p = p * z + 0.2
        p = p * z + 0.3333333333333333
        p = p * z + 1
        let r = 2 * s * p
        return SIMD16<Double>(e) * 0.6931471805599453 + r
    }

    /// `StochasticRandom.cosTurnDouble` per lane.
    @inlinable
    public static func cosTurnDouble(_ u: SIMD16<Double>) -> SIMD16<Double> {
        let r = u - u.rounded(.toNearestOrEven)
        var a = unsafeBitCast(
            unsafeBitCast(r, to: SIMD16<UInt64>.self) & 0x7FFF_FFFF_FFFF_FFFF, to: SIMD16<Double>.self)
        let negative = a .> 0.25
        a.replace(with: 0.5 - a, where: negative)
        let x1 = a * 6.283185307179586
        let z1 = x1 * x1
        var p1 = SIMD16<Double>(repeating: 4.779477332387385e-14)
        p1 = p1 * z1 + -1.1470745597729725e-11
        p1 = p1 * z1 + 2.08767569878681e-09
        p1 = p1 * z1 + -2.755731922398589e-07
        p1 = p1 * z1 + 2.48015873015873e-05
        p1 = p1 * z1 + -0.001388888888888889
        p1 = p1 * z1 + 0.041666666666666664
        p1 = p1 * z1 + -0.5
        var c = p1 * z1 + 1
        let x2 = (0.25 - a) * 6.283185307179586
        let z2 = x2 * x2
        var p2 = SIMD16<Double>(repeating: -7.647163731819816e-13)
        p2 = p2 * z2 + 1.6059043836821613e-10
        p2 = p2 * z2 + -2.505210838544172e-08
        p2 = p2 * z2 + 2.755731922398589e-06
        p2 = p2 * z2 + -0.0001984126984126984
        p2 = p2 * z2 + 0.008333333333333333
        p2 = p2 * z2 + -0.16666666666666666
        p2 = p2 * z2 + 1
        c.replace(with: p2 * x2, where: a .> 0.125)
        c.replace(with: -c, where: negative)
        return c
    }
}
