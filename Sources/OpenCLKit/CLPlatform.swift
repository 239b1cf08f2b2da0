import COpenCL

/// An OpenCL platform: one installed driver (ICD), such as PoCL or a GPU vendor's runtime.
///
/// Platforms are compared and hashed by ``id``.
// @unchecked Sendable: `cl_platform_id` is an OpaquePointer to a process-global object that is never freed.
public struct CLPlatform: @unchecked Sendable, Hashable {
    /// The platform handle.
    public let id: cl_platform_id
    /// `CL_PLATFORM_NAME`, such as `"Portable Computing Language"`. The corresponding C function is
    /// `clGetPlatformInfo`.
    public let name: String
    /// `CL_PLATFORM_VENDOR`. The corresponding C function is `clGetPlatformInfo`.
    public let vendor: String
    /// `CL_PLATFORM_VERSION`, such as `"OpenCL 3.0 PoCL 3.1"`. The corresponding C function is `clGetPlatformInfo`.
    public let version: String

    init(id: cl_platform_id) throws(CLError) {
        func string(_ param: Int32) throws(CLError) -> String {
            try infoString("clGetPlatformInfo") { clGetPlatformInfo(id, cl_platform_info(param), $0, $1, $2) }
        }
        self.id = id
        name = try string(CL_PLATFORM_NAME)
        vendor = try string(CL_PLATFORM_VENDOR)
        version = try string(CL_PLATFORM_VERSION)
    }

    /// Why no OpenCL library could be opened (the dynamic loader's message), or nil when one was: dlnsim opens
    /// libOpenCL at run time (`DLNSIM_OPENCL_LIBRARY` names another file), so it starts without one.
    public static var loaderProblem: String? { dlnsim_opencl_load_error().map { String(cString: $0) } }

    /// What to say when there is no platform: the missing library, or the missing driver.
    public static var missingPlatformAdvice: String {
        if let problem = loaderProblem {
            return "the OpenCL library could not be loaded (\(problem)); on Debian: apt-get install "
                + "ocl-icd-libopencl1 pocl-opencl-icd, or your GPU vendor's ICD"
        }
        return "no OpenCL platform is installed (on Debian: apt-get install pocl-opencl-icd, or your GPU vendor's ICD)"
    }

    /// The installed platforms, or `[]` when there are none.
    ///
    /// Discovery happens once per process and is cached (the first initialization of some
    /// drivers, PoCL among them, is not thread-safe). The corresponding C function is `clGetPlatformIDs`.
    public static func all() throws(CLError) -> [CLPlatform] { try discovered.get() }

    private static let discovered = Result { () throws(CLError) -> [CLPlatform] in
        var count: cl_uint = 0
        let status = clGetPlatformIDs(0, nil, &count)
        // The ICD loader reports "no driver installed" as CL_PLATFORM_NOT_FOUND_KHR.
        if status == CLError.platformNotFoundKHR || (status == CL_SUCCESS && count == 0) { return [] }
        try check(status, "clGetPlatformIDs")
        var ids = [cl_platform_id?](repeating: nil, count: Int(count))
        try check(clGetPlatformIDs(count, &ids, &count), "clGetPlatformIDs")
        return try ids.prefix(Int(count)).compactMap { $0 }.map { id throws(CLError) in try CLPlatform(id: id) }
    }

    /// The platform's devices of every type, or `[]` when it has none.
    /// The corresponding C function is `clGetDeviceIDs`.
    public func devices() throws(CLError) -> [CLDevice] {
        let all = cl_device_type(CL_DEVICE_TYPE_ALL)
        var count: cl_uint = 0
        let status = clGetDeviceIDs(id, all, 0, nil, &count)
        if status == CL_DEVICE_NOT_FOUND || (status == CL_SUCCESS && count == 0) { return [] }
        try check(status, "clGetDeviceIDs")
        var ids = [cl_device_id?](repeating: nil, count: Int(count))
        try check(clGetDeviceIDs(id, all, count, &ids, &count), "clGetDeviceIDs")
        return try ids.prefix(Int(count)).compactMap { $0 }.map { device throws(CLError) in
            try CLDevice(id: device, platform: self)
        }
    }

    /// Two platforms are equal when they have the same handle.
    public static func == (lhs: CLPlatform, rhs: CLPlatform) -> Bool { lhs.id == rhs.id }

    /// Hashes the handle.
    public func hash(into hasher: inout Hasher) { hasher.combine(id) }
}
