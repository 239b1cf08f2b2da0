import COpenCL

/// A value that can be passed as one argument of a kernel: the scalar types of OpenCL C
/// (`Int32` for `int`, `UInt32` for `uint`, `Int64` for `long`, `Float`, `Double`), a ``CLBuffer``
/// for a `__global` or `__constant` pointer, and ``CLLocal`` for a `__local` pointer.
///
/// `Int` deliberately does not conform: its size differs from every OpenCL C `int`, so an untyped
/// integer literal in ``CLKernel/bind(_:)`` is a compile-time error rather than a wrong-sized argument.
public protocol CLKernelArgument {
    /// Sets argument `index` of `kernel` to this value. The corresponding C function is `clSetKernelArg`.
    func bind(to kernel: CLKernel, at index: Int) throws(CLError)
}

extension Int32: CLKernelArgument {
    public func bind(to kernel: CLKernel, at index: Int) throws(CLError) { try kernel.setScalar(index, self) }
}

extension UInt32: CLKernelArgument {
    public func bind(to kernel: CLKernel, at index: Int) throws(CLError) { try kernel.setScalar(index, self) }
}

extension Int64: CLKernelArgument {
    public func bind(to kernel: CLKernel, at index: Int) throws(CLError) { try kernel.setScalar(index, self) }
}

extension UInt64: CLKernelArgument {
    public func bind(to kernel: CLKernel, at index: Int) throws(CLError) { try kernel.setScalar(index, self) }
}

extension Float: CLKernelArgument {
    public func bind(to kernel: CLKernel, at index: Int) throws(CLError) { try kernel.setScalar(index, self) }
}

extension Double: CLKernelArgument {
    public func bind(to kernel: CLKernel, at index: Int) throws(CLError) { try kernel.setScalar(index, self) }
}

extension CLBuffer: CLKernelArgument {
    /// Binds the buffer to a `__global` or `__constant` pointer argument; the kernel keeps the buffer
    /// alive until the argument is replaced.
    public func bind(to kernel: CLKernel, at index: Int) throws(CLError) { try kernel.setBuffer(index, self) }
}

/// A `__local` pointer argument: `bytes` bytes of local memory per work-group.
public struct CLLocal: CLKernelArgument, Sendable, Equatable {
    /// The bytes of local memory per work-group (positive).
    public let bytes: Int

    /// `bytes` bytes of local memory per work-group.
    public init(bytes: Int) {
        precondition(bytes > 0, "a __local argument needs a positive byte count, got \(bytes)")
        self.bytes = bytes
    }

    public func bind(to kernel: CLKernel, at index: Int) throws(CLError) { try kernel.setLocal(index, bytes: bytes) }
}

extension CLKernel {
    /// Sets every argument of the kernel, in order: `arguments[i]` becomes argument `i`.
    ///
    /// The count must equal ``argumentCount`` (`CL_KERNEL_NUM_ARGS`); otherwise nothing is set and a
    /// ``CLError`` with code ``CLError/invalidKernelArgs`` names the kernel and both counts. An argument
    /// of the wrong size throws ``CLError/invalidArgSize`` naming the kernel and the argument's index.
    ///
    ///     try kernel.bind(Int32(n), Float(2), x, y, CLLocal(bytes: 64))
    public func bind(_ arguments: any CLKernelArgument...) throws(CLError) {
        try bind(arguments)
    }

    /// Sets every argument of the kernel, in order; see ``bind(_:)``.
    public func bind(_ arguments: [any CLKernelArgument]) throws(CLError) {
        guard arguments.count == argumentCount else {
            throw CLError(
                code: CLError.invalidKernelArgs, call: "clSetKernelArg",
                detail:
                    "kernel \(name) takes \(argumentCount) argument\(argumentCount == 1 ? "" : "s") "
                    + "(CL_KERNEL_NUM_ARGS), bind was given \(arguments.count)"
            )
        }
        for (index, argument) in arguments.enumerated() { try argument.bind(to: self, at: index) }
    }
}

extension CLCommandQueue {
    /// Binds every argument of `kernel` (``CLKernel/bind(_:)``) and enqueues it over
    /// `global` in work-groups of `local` (``enqueue(_:global:local:)``): for kernels whose arguments change
    /// from one launch to the next.
    public func launch(
        _ kernel: CLKernel, global: [Int], local: [Int], _ arguments: any CLKernelArgument...
    ) throws(CLError) {
        try kernel.bind(arguments)
        try enqueue(kernel, global: global, local: local)
    }
}
