import COpenCL

/// An OpenCL C program, built from source for its context's device.
///
/// The program owns one reference to its `cl_program` and releases it in `deinit`.
// @unchecked Sendable: OpenCL 1.1+ makes every call on a built program thread-safe; nothing here changes.
public final class CLProgram: @unchecked Sendable {
    /// The context the program was built in.
    public let context: CLContext
    /// The log of the successful build (often empty; otherwise compiler warnings).
    public let buildLog: String
    let handle: cl_program

    /// Compiles `source` with `options` (such as `"-cl-fast-relaxed-math -DN=4"`).
    ///
    /// A failed build throws a ``CLError`` carrying the build log and the options.
    /// The corresponding C functions are `clCreateProgramWithSource` and `clBuildProgram`.
    public init(context: CLContext, source: String, options: String = "") throws(CLError) {
        let program = try create("clCreateProgramWithSource") { status in
            source.withCString {
                var text: UnsafePointer<CChar>? = $0
                return clCreateProgramWithSource(context.handle, 1, &text, nil, &status)
            }
        }
        var devices: [cl_device_id?] = [context.device.id]
        let status = clBuildProgram(program, 1, &devices, options, nil, nil)
        let log =
            (try? infoString("clGetProgramBuildInfo") {
                clGetProgramBuildInfo(
                    program, context.device.id, cl_program_build_info(CL_PROGRAM_BUILD_LOG), $0, $1, $2)
            }) ?? ""
        guard status == CL_SUCCESS else {
            clReleaseProgram(program)  // self is not initialized, so deinit will not release it again
            throw CLError(code: status, call: "clBuildProgram", buildLog: log, options: options)
        }
        self.handle = program
        self.context = context
        self.buildLog = log
    }

    /// The names of the kernels the program defines. The corresponding C function is `clGetProgramInfo`.
    public func kernelNames() throws(CLError) -> [String] {
        try infoString("clGetProgramInfo") {
            clGetProgramInfo(handle, cl_program_info(CL_PROGRAM_KERNEL_NAMES), $0, $1, $2)
        }.split(separator: ";").map(String.init)
    }

    deinit { clReleaseProgram(handle) }
}
