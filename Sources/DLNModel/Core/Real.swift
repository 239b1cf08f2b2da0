/// The floating-point types an engine computes in: `Float` (float32) and `Double` (float64).
///
/// Every operation a kernel performs has its twin here, written with the same operations in the same
/// order, so that the CPU engine and an OpenCL device that rounds correctly (PoCL) agree bit for bit.
/// `exponential` is such a twin of `dln_exp` in `Kernels/common.cl`: a plain polynomial evaluated
/// with separate multiplies and adds, because library `exp` differs between the C library and a device.
public protocol DLNReal: BinaryFloatingPoint, SIMDScalar, Sendable, Codable
where Self.RawSignificand: FixedWidthInteger {
    /// The name of this type in OpenCL C (`float` or `double`).
    static var openCLName: String { get }
    /// The precision this type stands for.
    static var precision: Precision { get }
    /// `exp(x)`, bit-identical to `dln_exp` in `Kernels/common.cl`; within 2 ulp of the true value.
    static func exponential(_ x: Self) -> Self
}

/// Numeric precision of a run.
public enum Precision: String, Sendable, Codable, CaseIterable {
    /// IEEE binary32.
    case float32
    /// IEEE binary64; needs `cl_khr_fp64` on an OpenCL device.
    case float64

    /// Bytes per value.
    public var byteCount: Int { self == .float32 ? 4 : 8 }
}

extension Float: DLNReal {
    public static var openCLName: String { "float" }
    public static var precision: Precision { .float32 }

    // Cody–Waite reduction x = k·ln2 + r, |r| ≤ ln2/2, then the degree-7 Taylor polynomial of e^r
    // (truncation error < 6e-9 relative) and an exact scaling by 2^k. Mirrors dln_exp (float).
    @inlinable @inline(__always)
    public static func exponential(_ x: Float) -> Float {
        if x.isNaN { return x }
        let xc = Swift.min(Swift.max(x, -200), 200)
        let k = (xc * 1.442695).rounded(.toNearestOrEven)
        var r = xc - k * 0.69314575
        r = r - k * 1.4286068e-06
        var p: Float = 0.0001984127
        p = p * r + 0.0013888889
        p = p * r + 0.008333334
        p = p * r + 0.041666668
        p = p * r + 0.16666667
        p = p * r + 0.5
        p = p * r + 1.0
        p = p * r + 1.0
        let ki = Int32(k)
        if ki > 127 {  // overflows to +inf exactly as the device does: p·2^127·2^(k−127)
            return p * Float(bitPattern: UInt32(254) << 23)
                * Float(bitPattern: UInt32(Swift.min(ki - 127, 127) + 127) << 23)
        }
        if ki < -126 {  // gradual underflow: p·2^−126·2^(k+126)
            return p * Float(bitPattern: UInt32(1) << 23)
                * Float(bitPattern: UInt32(Swift.max(ki + 126, -126) + 127) << 23)
        }
        return p * Float(bitPattern: UInt32(ki + 127) << 23)
    }
}

extension Double: DLNReal {
    public static var openCLName: String { "double" }
    public static var precision: Precision { .float64 }

    // As for Float, with the degree-13 Taylor polynomial (truncation error < 5e-18 relative).
    // Mirrors dln_exp (double).
    @inlinable @inline(__always)
    public static func exponential(_ x: Double) -> Double {
        if x.isNaN { return x }
        let xc = Swift.min(Swift.max(x, -1500), 1500)
        let k = (xc * 1.4426950408889634).rounded(.toNearestOrEven)
        var r = xc - k * 0.6931471803691238
        r = r - k * 1.9082149292705877e-10
        var p: Double = 1.6059043836821613e-10
        p = p * r + 2.08767569878681e-09
        p = p * r + 2.505210838544172e-08
        p = p * r + 2.755731922398589e-07
        p = p * r + 2.7557319223985893e-06
        p = p * r + 2.48015873015873e-05
        p = p * r + 0.0001984126984126984
        p = p * r + 0.001388888888888889
        p = p * r + 0.008333333333333333
        p = p * r + 0.041666666666666664
        p = p * r + 0.16666666666666666
        p = p * r + 0.5
        p = p * r + 1.0
        p = p * r + 1.0
        let ki = Int64(k)
        if ki > 1023 {
            return p * Double(bitPattern: UInt64(2046) << 52)
                * Double(bitPattern: UInt64(Swift.min(ki - 1023, 1023) + 1023) << 52)
        }
        if ki < -1022 {
            return p * Double(bitPattern: UInt64(1) << 52)
                * Double(bitPattern: UInt64(Swift.max(ki + 1022, -1022) + 1023) << 52)
        }
        return p * Double(bitPattern: UInt64(ki + 1023) << 52)
    }
}
