/// Loads and stores of SIMD16 vectors for the CPU engine's loops (Sources/DLNVector).
///
/// A module of its own so that the helpers are inlinable: a debug build compiles a module file by file, and a
/// function of another file of the same module is then an opaque, generic call inside the loops; an `@inlinable`
/// function of another module is inlined and specialised into them, with the instruction set of the module that uses
/// it.

/// What a finished sum of the matrix model's register tiles becomes (DLNVector/MatrixDots.swift; the engine's
/// `DotsOutput` names it).
public enum DotsKind: Sendable {
    /// out = s.
    case plain
    /// A layer update, out being the layer: out ← old − η·(s + λ·old) (mx_update).
    case update
    /// The gradient F = s + λ·W into out, W in `layer` (mx_update with write_f).
    case gradient
}

/// The scalar types the loops run on (Float and Double).
public typealias Scalar = BinaryFloatingPoint & SIMDScalar

/// The 16 elements at p + offset (no alignment needed).
@inlinable @inline(__always)
public func load<T: Scalar>(_ p: UnsafeMutablePointer<T>, _ offset: Int) -> SIMD16<T> {
    UnsafeRawPointer(p + offset).loadUnaligned(as: SIMD16<T>.self)
}

/// Stores v at p + offset (no alignment needed).
@inlinable @inline(__always)
public func store<T: Scalar>(_ v: SIMD16<T>, _ p: UnsafeMutablePointer<T>, _ offset: Int) {
    UnsafeMutableRawPointer(p + offset).storeBytes(of: v, as: SIMD16<T>.self)
}

/// p as a pointer to T (the loops' raw arguments, bound by the engine).
@inlinable @inline(__always)
public func typed<T>(_ p: UnsafeMutableRawPointer, _: T.Type) -> UnsafeMutablePointer<T> {
    p.assumingMemoryBound(to: T.self)
}
