import COpenCL

/// A kernel of a built program, with its arguments: ``bind(_:)`` sets them all at once, in order,
/// and ``CLCommandQueue/launch(_:global:local:_:)`` binds and enqueues in one call.
///
/// Not `Sendable`: `clSetKernelArg` is the one OpenCL call that is not thread-safe, so a kernel
/// stays on one task; create one kernel per task instead. Buffers set as arguments are kept
/// alive by the kernel until the argument is replaced. The kernel releases its `cl_kernel` in `deinit`.
public final class CLKernel {
    /// The program that defines the kernel.
    public let program: CLProgram
    /// The kernel's function name.
    public let name: String
    /// The number of arguments the kernel function declares (`CL_KERNEL_NUM_ARGS`); ``bind(_:)``
    /// takes exactly this many.
    public let argumentCount: Int
    let handle: cl_kernel
    private var boundBuffers: [Int: CLBuffer] = [:]

    /// Looks up the `__kernel` function `name` in `program`. An unknown name throws a ``CLError``
    /// with code ``CLError/invalidKernelName``. The corresponding C function is `clCreateKernel`.
    public init(program: CLProgram, name: String) throws(CLError) {
        let known = { (try? program.kernelNames().joined(separator: ", ")) ?? "unknown" }
        let kernel = try create("clCreateKernel", "kernel name: \"\(name)\" (program defines: \(known()))") {
            clCreateKernel(program.handle, name, &$0)
        }
        do {
            argumentCount = Int(
                try infoValue(cl_uint.self, "clGetKernelInfo") {
                    clGetKernelInfo(kernel, cl_kernel_info(CL_KERNEL_NUM_ARGS), $0, $1, $2)
                })
        } catch {
            clReleaseKernel(kernel)  // self is not initialized, so deinit will not release it
            throw error
        }
        handle = kernel
        self.program = program
        self.name = name
    }

    /// Sets argument `index` alone: for the one argument that changes between launches (a step
    /// count, a stage index); ``bind(_:)`` sets them all. The corresponding C function is `clSetKernelArg`.
    public func setArgument(_ index: Int, _ value: some CLKernelArgument) throws(CLError) {
        try value.bind(to: self, at: index)
    }

    /// Sets `__local` pointer argument `index` to `byteCount` bytes of local memory per work-group.
    /// The corresponding C function is `clSetKernelArg`.
    public func setLocalArgument(_ index: Int, byteCount: Int) throws(CLError) {
        precondition(byteCount > 0, "local argument \(index) of \(name) needs a positive byteCount")
        try setLocal(index, bytes: byteCount)
    }

    func setScalar<T: BitwiseCopyable>(_ index: Int, _ value: T) throws(CLError) {
        let status = withUnsafeBytes(of: value) { clSetKernelArg(handle, argument(index), $0.count, $0.baseAddress) }
        try bound(index, status, MemoryLayout<T>.size, nil)
    }

    func setBuffer(_ index: Int, _ buffer: CLBuffer) throws(CLError) {
        var mem: cl_mem? = buffer.handle
        let status = clSetKernelArg(handle, argument(index), MemoryLayout<cl_mem>.size, &mem)
        try bound(index, status, MemoryLayout<cl_mem>.size, buffer)
    }

    func setLocal(_ index: Int, bytes: Int) throws(CLError) {
        try bound(index, clSetKernelArg(handle, argument(index), bytes, nil), bytes, nil)
    }

    /// `CL_KERNEL_PREFERRED_WORK_GROUP_SIZE_MULTIPLE` on `device`: local sizes should be multiples of it.
    /// The corresponding C function is `clGetKernelWorkGroupInfo`.
    public func preferredWorkGroupSizeMultiple(on device: CLDevice) throws(CLError) -> Int {
        try workGroupInfo(CL_KERNEL_PREFERRED_WORK_GROUP_SIZE_MULTIPLE, device)
    }

    /// `CL_KERNEL_WORK_GROUP_SIZE` on `device`: the largest local size (product over dimensions)
    /// this kernel can be enqueued with. The corresponding C function is `clGetKernelWorkGroupInfo`.
    public func maxWorkGroupSize(on device: CLDevice) throws(CLError) -> Int {
        try workGroupInfo(CL_KERNEL_WORK_GROUP_SIZE, device)
    }

    private func workGroupInfo(_ param: Int32, _ device: CLDevice) throws(CLError) -> Int {
        try infoValue(Int.self, "clGetKernelWorkGroupInfo") {
            clGetKernelWorkGroupInfo(handle, device.id, cl_kernel_work_group_info(param), $0, $1, $2)
        }
    }

    private func argument(_ index: Int) -> cl_uint {
        precondition((0...Int(Int32.max)).contains(index), "argument index \(index) of \(name) is out of range")
        return cl_uint(index)
    }

    private func bound(_ index: Int, _ status: cl_int, _ size: Int, _ buffer: CLBuffer?) throws(CLError) {
        try check(status, "clSetKernelArg", "kernel \(name), argument \(index), \(size) bytes")
        boundBuffers[index] = buffer
    }

    deinit { clReleaseKernel(handle) }
}
