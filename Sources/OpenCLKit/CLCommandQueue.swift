import COpenCL

/// An in-order command queue on its context's device.
///
/// Copies (`write`, `read`) block until done; `fill` and `enqueue` return at once, and later
/// commands on the same queue see their results. The queue releases its `cl_command_queue` in `deinit`.
// @unchecked Sendable: OpenCL 1.1+ makes every enqueue call thread-safe; the handle never changes.
public final class CLCommandQueue: @unchecked Sendable {
    /// The context the queue belongs to.
    public let context: CLContext
    let handle: cl_command_queue

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
        try check(status, "clEnqueueWriteBuffer")
    }

    /// Copies `array.count` elements of `buffer`, starting `offset` elements in, into `array`,
    /// and waits for the copy. The corresponding C function is `clEnqueueReadBuffer`.
    public func read<T: BitwiseCopyable>(_ buffer: CLBuffer, into array: inout [T], offset: Int = 0) throws(CLError) {
        let bytes = range(buffer, T.self, offset, array.count)
        guard !bytes.isEmpty else { return }
        let status = array.withUnsafeMutableBytes { readBytes(buffer, bytes, into: $0.baseAddress) }
        try check(status, "clEnqueueReadBuffer")
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
        try check(status, "clEnqueueReadBuffer")
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
        try check(status, "clEnqueueFillBuffer")
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
    }

    /// Waits until every enqueued command has finished. The corresponding C function is `clFinish`.
    public func finish() throws(CLError) { try check(clFinish(handle), "clFinish") }

    /// Submits enqueued commands to the device without waiting. The corresponding C function is `clFlush`.
    public func flush() throws(CLError) { try check(clFlush(handle), "clFlush") }

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
