import COpenCL

/// A kernel of a built program, with its arguments.
///
/// Not `Sendable`: `clSetKernelArg` is the one OpenCL call that is not thread-safe, so a kernel
/// stays on one task; create one kernel per task instead. Buffers set as arguments are kept
/// alive by the kernel until the argument is replaced. The kernel releases its `cl_kernel` in `deinit`.
public final class CLKernel {
  /// The program that defines the kernel.
  public let program: CLProgram
  /// The kernel's function name.
  public let name: String
  let handle: cl_kernel
  private var boundBuffers: [Int: CLBuffer] = [:]

  /// Looks up the `__kernel` function `name` in `program`. An unknown name throws a ``CLError``
  /// with code ``CLError/invalidKernelName``. The corresponding C function is `clCreateKernel`.
  public init(program: CLProgram, name: String) throws(CLError) {
    let known = { (try? program.kernelNames().joined(separator: ", ")) ?? "unknown" }
    handle = try create("clCreateKernel", "kernel name: \"\(name)\" (program defines: \(known()))") {
      clCreateKernel(program.handle, name, &$0)
    }
    self.program = program
    self.name = name
  }

  /// Sets scalar argument `index` to `value`, whose size must match the kernel's parameter type
  /// (`Int32` for `int`, `Float` for `float`, ...). The corresponding C function is `clSetKernelArg`.
  public func setArgument<T: BitwiseCopyable>(_ index: Int, _ value: T) throws(CLError) {
    let status = withUnsafeBytes(of: value) { clSetKernelArg(handle, argument(index), $0.count, $0.baseAddress) }
    try bind(index, status, MemoryLayout<T>.size, nil)
  }

  /// Sets `__global` or `__constant` pointer argument `index` to `buffer`.
  /// The corresponding C function is `clSetKernelArg`.
  public func setArgument(_ index: Int, _ buffer: CLBuffer) throws(CLError) {
    var mem: cl_mem? = buffer.handle
    let status = clSetKernelArg(handle, argument(index), MemoryLayout<cl_mem>.size, &mem)
    try bind(index, status, MemoryLayout<cl_mem>.size, buffer)
  }

  /// Sets `__local` pointer argument `index` to `byteCount` bytes of local memory per work-group.
  /// The corresponding C function is `clSetKernelArg`.
  public func setLocalArgument(_ index: Int, byteCount: Int) throws(CLError) {
    precondition(byteCount > 0, "local argument \(index) of \(name) needs a positive byteCount")
    try bind(index, clSetKernelArg(handle, argument(index), byteCount, nil), byteCount, nil)
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

  private func bind(_ index: Int, _ status: cl_int, _ size: Int, _ buffer: CLBuffer?) throws(CLError) {
    try check(status, "clSetKernelArg", "kernel \(name), argument \(index), \(size) bytes")
    boundBuffers[index] = buffer
  }

  deinit { clReleaseKernel(handle) }
}
