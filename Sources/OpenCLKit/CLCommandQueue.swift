import COpenCL
import Synchronization

/// An in-order command queue on its context's device.
///
/// Copies (`write`, `read`) block until done; `fill` and `enqueue` return at once, and later
/// commands on the same queue see their results. The queue releases its `cl_command_queue` in `deinit`.
// @unchecked Sendable: OpenCL 1.1+ makes every enqueue call thread-safe; the handle never changes.
public final class CLCommandQueue: @unchecked Sendable {
    /// The context the queue belongs to.
    public let context: CLContext
    let handle: cl_command_queue
    private let enqueued = Mutex<[String]>([])

    /// The kernels enqueued since the last wait that completed (`finish`, `read`, `write`), in order, each once.
    /// A device that fails a kernel reports it at a later call (`clFinish`, a read): that call's ``CLError``
    /// names these kernels.
    public var pendingKernels: [String] { enqueued.withLock { $0 } }

    /// Checks a call that waits for the queue: on success nothing is pending any more; on failure the error
    /// names the kernels that ran since the last completed wait.
    private func checkWait(_ status: cl_int, _ call: String) throws(CLError) {
        if status == CL_SUCCESS {
            enqueued.withLock { $0.removeAll() }
            return
        }
        let kernels = pendingKernels
        try check(
            status, call,
            kernels.isEmpty
                ? nil : "kernels enqueued since the last completed wait: \(kernels.joined(separator: ", "))")
    }

    /// Creates an in-order queue without profiling. The corresponding C function is `clCreateCommandQueue`.
    public init(context: CLContext) throws(CLError) {
        handle = try create("clCreateCommandQueue") { clCreateCommandQueue(context.handle, context.device.id, 0, &$0) }
        self.context = context
    }

    deinit { clReleaseCommandQueue(handle) }

    /// Copies `array` into `buffer`, starting `offset` elements in, and waits for the copy.
    /// The corresponding C function is `clEnqueueWriteBuffer`.
    public func write<T: BitwiseCopyable>(_ buffer: CLBuffer, from array: [T], offset: Int = 0) throws(CLError) {
        let bytes = range(buffer, T.self, offset, array.count)
        guard !bytes.isEmpty else { return }
        let status = array.withUnsafeBytes {
            clEnqueueWriteBuffer(
                handle, buffer.handle, cl_bool(CL_TRUE), bytes.lowerBound, bytes.count, $0.baseAddress, 0, nil, nil)
        }
        try checkWait(status, "clEnqueueWriteBuffer")
    }

    /// Copies `array.count` elements of `buffer`, starting `offset` elements in, into `array`,
    /// and waits for the copy. The corresponding C function is `clEnqueueReadBuffer`.
    public func read<T: BitwiseCopyable>(_ buffer: CLBuffer, into array: inout [T], offset: Int = 0) throws(CLError) {
        let bytes = range(buffer, T.self, offset, array.count)
        guard !bytes.isEmpty else { return }
        let status = array.withUnsafeMutableBytes { readBytes(buffer, bytes, into: $0.baseAddress) }
        try checkWait(status, "clEnqueueReadBuffer")
    }

    /// Reads `count` elements of type `T` from `buffer`, starting `offset` elements in, and waits for them.
    /// The corresponding C function is `clEnqueueReadBuffer`.
    public func read<T: BitwiseCopyable>(
        _ buffer: CLBuffer, as type: T.Type, count: Int, offset: Int = 0
    ) throws(CLError) -> [T] {
        let bytes = range(buffer, T.self, offset, count)
        var status = CL_SUCCESS
        let array = [T](unsafeUninitializedCapacity: count) { elements, initialized in
            if !bytes.isEmpty { status = readBytes(buffer, bytes, into: UnsafeMutableRawPointer(elements.baseAddress)) }
            initialized = status == CL_SUCCESS ? count : 0
        }
        if !bytes.isEmpty { try checkWait(status, "clEnqueueReadBuffer") }
        return array
    }

    /// Sets every element of `buffer` to `value`. `T`'s size must be a power of two up to 128 bytes
    /// that divides `buffer.byteCount`. The corresponding C function is `clEnqueueFillBuffer`.
    public func fill<T: BitwiseCopyable>(_ buffer: CLBuffer, with value: T) throws(CLError) {
        let size = MemoryLayout<T>.size
        precondition(
            buffer.byteCount % max(size, 1) == 0,
            "buffer of \(buffer.byteCount) bytes is not a whole number of \(size)-byte patterns")
        try fill(buffer, with: value, offset: 0, count: buffer.byteCount / max(size, 1))
    }

    /// Sets `count` elements of `buffer`, starting `offset` elements in, to `value` (the rest is left as it is).
    /// `T`'s size must be a power of two up to 128 bytes. The corresponding C function is `clEnqueueFillBuffer`.
    public func fill<T: BitwiseCopyable>(_ buffer: CLBuffer, with value: T, offset: Int, count: Int) throws(CLError) {
        let size = MemoryLayout<T>.size
        precondition(
            size > 0 && size <= 128 && size & (size - 1) == 0,
            "fill pattern of \(size) bytes is not a power of two up to 128")
        let bytes = range(buffer, T.self, offset, count)
        guard !bytes.isEmpty else { return }
        let status = withUnsafeBytes(of: value) {
            clEnqueueFillBuffer(handle, buffer.handle, $0.baseAddress, size, bytes.lowerBound, bytes.count, 0, nil, nil)
        }
        guard status != CL_SUCCESS else { return }
        try checkWait(status, "clEnqueueFillBuffer")
    }

    /// Enqueues `kernel` over a `global` range split into work-groups of `local` size (1 to 3
    /// dimensions; each `global[i]` must be a multiple of `local[i]`). A zero `global` extent
    /// enqueues nothing. The corresponding C function is `clEnqueueNDRangeKernel`.
    public func enqueue(_ kernel: CLKernel, global: [Int], local: [Int]) throws(CLError) {
        precondition(
            (1...3).contains(global.count) && local.count == global.count,
            "global \(global) and local \(local) must have the same 1 to 3 dimensions")
        precondition(
            zip(global, local).allSatisfy { $1 > 0 && $0 >= 0 && $0 % $1 == 0 },
            "global size \(global) must be a multiple of local size \(local)")
        guard !global.contains(0) else { return }
        let status = clEnqueueNDRangeKernel(
            handle, kernel.handle, cl_uint(global.count), nil, global, local, 0, nil, nil)
        try check(status, "clEnqueueNDRangeKernel", "kernel \(kernel.name), global \(global), local \(local)")
        enqueued.withLock { if !$0.contains(kernel.name) { $0.append(kernel.name) } }
    }

    /// Waits until every enqueued command has finished. The corresponding C function is `clFinish`.
    public func finish() throws(CLError) { try checkWait(clFinish(handle), "clFinish") }

    /// Submits enqueued commands to the device without waiting. The corresponding C function is `clFlush`.
    public func flush() throws(CLError) {
        let status = clFlush(handle)
        guard status != CL_SUCCESS else { return }
        try checkWait(status, "clFlush")
    }

    private func range<T>(_ buffer: CLBuffer, _: T.Type, _ offset: Int, _ count: Int) -> Range<Int> {
        let stride = MemoryLayout<T>.stride
        precondition(
            offset >= 0 && count >= 0 && (offset + count) * stride <= buffer.byteCount,
            "elements \(offset)..<\(offset + count) of \(T.self) exceed the buffer's \(buffer.byteCount) bytes")
        return offset * stride..<(offset + count) * stride
    }

    private func readBytes(_ buffer: CLBuffer, _ bytes: Range<Int>, into pointer: UnsafeMutableRawPointer?) -> cl_int {
        clEnqueueReadBuffer(
            handle, buffer.handle, cl_bool(CL_TRUE), bytes.lowerBound, bytes.count, pointer, 0, nil, nil)
    }
}
