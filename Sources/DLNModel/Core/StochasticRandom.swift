/// The random numbers of the stochastic updates (`update: sgd`, `label_noise`, `gradient_noise`), computed the same
/// way by the CPU engine and by Kernels/stochastic.cl (`dln_words`, `dln_below`, `dln_gauss`).
///
/// Keying: Philox4x32-10 (`CounterRNG.philox`) with the replica's seed as key and the counter
/// (index, step mod 2³², stream, step ÷ 2³²). A replica's numbers are therefore a function of its seed, the step and
/// the index only: not of the batch it runs in, its grid point or the device. Replicas with the same seed share them
/// across grid points (common random numbers).
///
/// The Gaussian is Box–Muller with our own polynomial logarithm and cosine, evaluated with +, −, ×, ÷ and √ only
/// (all correctly rounded on both sides; the kernels are built with -cl-fp32-correctly-rounded-divide-sqrt and
/// FP_CONTRACT OFF), so that the two engines draw the same bits. The library `log` and `cos` differ between the C
/// library and a device.
public enum StochasticRandom {
    /// The streams (disjoint from the data's `RandomStream` 1–6).
    public enum Stream: UInt32, Sendable {
        /// With-replacement batch draws, index k (the k-th draw of the step).
        case batch = 7
        /// The Fisher–Yates swaps of epoch e (in the step slot), index i.
        case permutation = 8
        /// Label noise ξ_i of row i.
        case labelNoise = 9
        /// Langevin noise ξ of layer l, coordinate j: index l·d + j.
        case gradientNoise = 10
    }

    /// The keys of `seeds` as the kernels read them: (low, high) per seed, flattened.
    public static func keyWords(seeds: [Int]) -> [UInt32] {
        seeds.flatMap { seed -> [UInt32] in
            let k = key(seed: seed)
            return [k.0, k.1]
        }
    }

    /// The Philox key of a seed.
    @inlinable
    public static func key(seed: Int) -> (UInt32, UInt32) {
        let s = UInt64(bitPattern: Int64(seed))
        return (UInt32(truncatingIfNeeded: s), UInt32(truncatingIfNeeded: s >> 32))
    }

    /// The four Philox words of (seed key, stream, step, index). Twin of `dln_words`.
    @inlinable
    public static func words(key: (UInt32, UInt32), stream: Stream, step: UInt64, index: UInt32) -> (
        UInt32, UInt32, UInt32, UInt32
    ) {
        CounterRNG.philox(
            (index, UInt32(truncatingIfNeeded: step), stream.rawValue, UInt32(truncatingIfNeeded: step >> 32)),
            key: key)
    }

    /// ⌊word·m / 2³²⌋: an integer in 0..<m (m ≤ 2³²). Twin of `dln_below`.
    @inlinable
    public static func below(_ m: Int, word: UInt32) -> Int { Int((UInt64(word) &* UInt64(m)) >> 32) }

    /// A standard normal value in T from four Philox words. Twin of `dln_gauss`.
    @inlinable
    public static func gaussian<T: DLNReal>(_ w: (UInt32, UInt32, UInt32, UInt32), as: T.Type) -> T {
        if T.self == Float.self { return T(gaussianFloat(w)) }
        return T(gaussianDouble(w))
    }

    /// The Gaussian of (seed key, stream, step, index) in T.
    @inlinable
    public static func gaussian<T: DLNReal>(key: (UInt32, UInt32), stream: Stream, step: UInt64, index: UInt32)
        -> T
    {
        gaussian(words(key: key, stream: stream, step: step, index: index), as: T.self)
    }

    // MARK: float

    /// Box–Muller in float: u₁, u₂ = (2k + 1)·2⁻²⁴ with k the top 23 bits of words 0 and 2 (never 0 or 1).
    @inlinable
    public static func gaussianFloat(_ w: (UInt32, UInt32, UInt32, UInt32)) -> Float {
        let u1 = Float(2 * (w.0 >> 9) + 1) * 5.9604645e-08  // 2^-24
        let u2 = Float(2 * (w.2 >> 9) + 1) * 5.9604645e-08
        let radius = (Float(-2) * logFloat(u1)).squareRoot()
        return radius * cosTurnFloat(u2)
    }

    /// ln x for normal x > 0: x = m·2^e with m in [√½, √2), ln m = 2·atanh(s), s = (m − 1)/(m + 1), as an odd
    /// polynomial in s (|s| ≤ 0.1716; truncation < 1e-9). Twin of `dln_log_f`.
    @inlinable
    public static func logFloat(_ x: Float) -> Float {
        let bits = x.bitPattern
        var e = Int32((bits >> 23) & 0xFF) - 127
        var m = Float(bitPattern: (bits & 0x7F_FFFF) | 0x3F80_0000)
        if m > 1.4142135 {
            m = m * 0.5
            e = e + 1
        }
        let s = (m - 1) / (m + 1)
        let z = s * s
        var p: Float = 0.09090909
        p = p * z + 0.11111111
        p = p * z + 0.14285715
        p = p * z + 0.2
        p = p * z + 0.33333334
        p = p * z + 1
        return Float(e) * 0.6931472 + Float(2) * s * p
    }

    /// cos(2πu) for u in [0, 1]: reduced to a ∈ [0, ¼] by exact symmetries, then the Taylor polynomial of cos on
    /// [0, π/4] or of sin on the rest. Twin of `dln_cos_turn_f`.
    @inlinable
    public static func cosTurnFloat(_ u: Float) -> Float {
        var a = Swift.abs(u - u.rounded(.toNearestOrEven))
        var negative = false
        if a > 0.25 {
            a = 0.5 - a
            negative = true
        }
        var c: Float
        if a <= 0.125 {
            let x = a * 6.2831855
            let z = x * x
            var p: Float = -2.7557319e-07
            p = p * z + 2.4801588e-05
            p = p * z + -0.0013888889
            p = p * z + 0.041666668
            p = p * z + -0.5
            c = p * z + 1
        } else {
            let x = (0.25 - a) * 6.2831855
            let z = x * x
            var p: Float = 2.7557319e-06
            p = p * z + -0.0001984127
            p = p * z + 0.008333334
            p = p * z + -0.16666667
            p = p * z + 1
            c = p * x
        }
        return negative ? -c : c
    }

    // MARK: double

    /// Box–Muller in double: u = (2k + 1)·2⁻⁵³ with k the top 52 bits of words (0, 1), resp. (2, 3).
    @inlinable
    public static func gaussianDouble(_ w: (UInt32, UInt32, UInt32, UInt32)) -> Double {
        let k1 = (UInt64(w.0) << 20) | UInt64(w.1 >> 12)
        let k2 = (UInt64(w.2) << 20) | UInt64(w.3 >> 12)
        let u1 = Double(2 * k1 + 1) * 1.1102230246251565e-16  // 2^-53
        let u2 = Double(2 * k2 + 1) * 1.1102230246251565e-16
        let radius = (-2 * logDouble(u1)).squareRoot()
        return radius * cosTurnDouble(u2)
    }

    /// ln x in double (as `logFloat`, truncation < 1e-17). Twin of `dln_log_d`.
    @inlinable
    public static func logDouble(_ x: Double) -> Double {
        let bits = x.bitPattern
        var e = Int64((bits >> 52) & 0x7FF) - 1023
        var m = Double(bitPattern: (bits & 0xF_FFFF_FFFF_FFFF) | 0x3FF0_0000_0000_0000)
        if m > 1.4142135623730951 {
            m = m * 0.5
            e = e + 1
        }
        let s = (m - 1) / (m + 1)
        let z = s * s
        var p: Double = 0.043478260869565216
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
        return Double(e) * 0.6931471805599453 + r
    }

    /// cos(2πu) in double (as `cosTurnFloat`, truncation < 1e-16). Twin of `dln_cos_turn_d`.
    @inlinable
    public static func cosTurnDouble(_ u: Double) -> Double {
        var a = Swift.abs(u - u.rounded(.toNearestOrEven))
        var negative = false
        if a > 0.25 {
            a = 0.5 - a
            negative = true
        }
        var c: Double
        if a <= 0.125 {
            let x = a * 6.283185307179586
            let z = x * x
            var p: Double = 4.779477332387385e-14
            p = p * z + -1.1470745597729725e-11
            p = p * z + 2.08767569878681e-09
            p = p * z + -2.755731922398589e-07
            p = p * z + 2.48015873015873e-05
            p = p * z + -0.001388888888888889
            p = p * z + 0.041666666666666664
            p = p * z + -0.5
            c = p * z + 1
        } else {
            let x = (0.25 - a) * 6.283185307179586
            let z = x * x
            var p: Double = -7.647163731819816e-13
            p = p * z + 1.6059043836821613e-10
            p = p * z + -2.505210838544172e-08
            p = p * z + 2.755731922398589e-06
            p = p * z + -0.0001984126984126984
            p = p * z + 0.008333333333333333
            p = p * z + -0.16666666666666666
            p = p * z + 1
            c = p * x
        }
        return negative ? -c : c
    }
}

/// Which rows a replica's step uses (`update: sgd`). Twin of `dln_sgd_indices` (Kernels/stochastic.cl).
///
/// With replacement: b draws ⌊word·n/2³²⌋ (word 0 of (seed, batch, step, k)). Epochs and sequential: an epoch has
/// E = ⌈n/b⌉ steps; step s is position p = s mod E of epoch e = s ÷ E and takes positions p·b ..< min((p+1)·b, n)
/// of the epoch's order: the identity (sequential) or a Fisher–Yates permutation drawn from (seed, permutation, e)
/// (epochs). The indices are then sorted ascending (insertion sort), so that the gradient sums rows in ascending
/// index order and `sequential` with b = n is full-batch GD bit for bit.
public enum BatchSampler {
    /// Steps per epoch, ⌈n/b⌉.
    @inlinable
    public static func stepsPerEpoch(n: Int, b: Int) -> Int { (n + b - 1) / b }

    /// The permutation of epoch `epoch` into perm[0..<n]: Fisher–Yates from i = n − 1 down to 1, swapping i with
    /// ⌊word·(i+1)/2³²⌋ (word 0 of (seed, permutation, epoch, i)).
    @inlinable
    public static func permutation(key: (UInt32, UInt32), epoch: UInt64, n: Int, into perm: UnsafeMutablePointer<Int32>)
    {
        for i in 0..<n { perm[i] = Int32(i) }
        var i = n - 1
        while i >= 1 {
            let w = StochasticRandom.words(key: key, stream: .permutation, step: epoch, index: UInt32(i)).0
            let j = StochasticRandom.below(i + 1, word: w)
            let t = perm[i]
            perm[i] = perm[j]
            perm[j] = t
            i -= 1
        }
    }

    /// The sorted row indices of step `step` into out[0..<count]; returns count (b, or the epoch's remainder).
    /// `perm` (n entries) holds the permutation of epoch `permEpoch` (−1: none yet); it is redrawn when the step is
    /// in another epoch (sampling epochs only).
    @inlinable
    public static func indices(
        key: (UInt32, UInt32), step: UInt64, n: Int, b: Int, sampling: Sampling,
        perm: UnsafeMutablePointer<Int32>, permEpoch: inout Int64, into out: UnsafeMutablePointer<Int32>
    ) -> Int {
        var count = b
        switch sampling {
        case .withReplacement:
            for k in 0..<b {
                let w = StochasticRandom.words(key: key, stream: .batch, step: step, index: UInt32(k)).0
                out[k] = Int32(StochasticRandom.below(n, word: w))
            }
        case .sequential, .epochs:
            let perEpoch = UInt64(stepsPerEpoch(n: n, b: b))
            let epoch = step / perEpoch
            let start = Int(step % perEpoch) * b
            count = Swift.min(b, n - start)
            if sampling == .sequential {
                for k in 0..<count { out[k] = Int32(start + k) }
                return count
            }
            if permEpoch != Int64(epoch) {
                permutation(key: key, epoch: epoch, n: n, into: perm)
                permEpoch = Int64(epoch)
            }
            for k in 0..<count { out[k] = perm[start + k] }
        }
        // Insertion sort, ascending.
        var k = 1
        while k < count {
            let v = out[k]
            var m = k - 1
            while m >= 0 && out[m] > v {
                out[m + 1] = out[m]
                m -= 1
            }
            out[m + 1] = v
            k += 1
        }
        return count
    }

    /// The sorted row indices of one step (tests and tools; the engines keep the epoch's permutation).
    public static func indices(seed: Int, step: Int, n: Int, b: Int, sampling: Sampling) -> [Int] {
        let perm = UnsafeMutablePointer<Int32>.allocate(capacity: n)
        let out = UnsafeMutablePointer<Int32>.allocate(capacity: n)
        defer {
            perm.deallocate()
            out.deallocate()
        }
        var epoch: Int64 = -1
        let count = indices(
            key: StochasticRandom.key(seed: seed), step: UInt64(step), n: n, b: b, sampling: sampling, perm: perm,
            permEpoch: &epoch, into: out)
        return (0..<count).map { Int(out[$0]) }
    }
}
