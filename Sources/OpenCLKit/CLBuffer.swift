import COpenCL

/// A device memory buffer (`cl_mem`) of a fixed size.
///
/// A buffer of zero bytes is valid: it allocates one byte, since OpenCL rejects empty buffers.
/// The buffer owns one reference to its `cl_mem` and releases it in `deinit`; the driver keeps
/// the memory until commands already enqueued on it have finished.
// @unchecked Sendable: OpenCL 1.1+ makes every call on a memory object thread-safe; the handle never changes.
public final class CLBuffer: @unchecked Sendable {
    /// How kernels may access a buffer. The host can always read and write it through a queue.
    public enum Access: Sendable {
        /// `CL_MEM_READ_WRITE`.
        case readWrite
        /// `CL_MEM_READ_ONLY`: kernels only read the buffer.
        case readOnly
        /// `CL_MEM_WRITE_ONLY`: kernels only write the buffer.
        case writeOnly

        var flags: cl_mem_flags {
            switch self {
            case .readWrite: cl_mem_flags(CL_MEM_READ_WRITE)
            case .readOnly: cl_mem_flags(CL_MEM_READ_ONLY)
            case .writeOnly: cl_mem_flags(CL_MEM_WRITE_ONLY)
            }
        }
    }

    /// The context the buffer belongs to.
    public let context: CLContext
    /// The size in bytes, as requested (the allocation is at least one byte).
    public let byteCount: Int
    let handle: cl_mem

    private init(handle: cl_mem, context: CLContext, byteCount: Int) {
        self.handle = handle
        self.context = context
        self.byteCount = byteCount
    }

    /// Allocates an uninitialized buffer of `byteCount` bytes. The corresponding C function is `clCreateBuffer`.
    public convenience init(context: CLContext, byteCount: Int, access: Access = .readWrite) throws(CLError) {
        precondition(byteCount >= 0, "CLBuffer byteCount must not be negative, got \(byteCount)")
        let handle = try create("clCreateBuffer", "\(byteCount) bytes") {
            clCreateBuffer(context.handle, access.flags, max(1, byteCount), nil, &$0)
        }
        self.init(handle: handle, context: context, byteCount: byteCount)
    }

    /// Allocates a buffer holding a copy of `array` (`CL_MEM_COPY_HOST_PTR`).
    /// The corresponding C function is `clCreateBuffer`.
    public convenience init<T: BitwiseCopyable>(
        context: CLContext, copying array: [T], access: Access = .readWrite
    ) throws(CLError) {
        if array.isEmpty {
            try self.init(context: context, byteCount: 0, access: access)
            return
        }
        let byteCount = array.count * MemoryLayout<T>.stride
        let handle = try create("clCreateBuffer", "\(byteCount) bytes") { status in
            array.withUnsafeBytes {
                let flags = access.flags | cl_mem_flags(CL_MEM_COPY_HOST_PTR)
                return clCreateBuffer(
                    context.handle, flags, byteCount, UnsafeMutableRawPointer(mutating: $0.baseAddress), &status)
            }
        }
        self.init(handle: handle, context: context, byteCount: byteCount)
    }

    deinit { clReleaseMemObject(handle) }
}
