import COpenCL

/// The kind of an OpenCL device (`CL_DEVICE_TYPE`).
public enum CLDeviceType: Sendable, CustomStringConvertible {
    /// `CL_DEVICE_TYPE_CPU`.
    case cpu
    /// `CL_DEVICE_TYPE_GPU`.
    case gpu
    /// `CL_DEVICE_TYPE_ACCELERATOR`.
    case accelerator
    /// `CL_DEVICE_TYPE_CUSTOM`.
    case custom
    /// Any other (vendor-specific) type bits.
    case other

    init(_ bits: cl_device_type) {
        if bits & cl_device_type(CL_DEVICE_TYPE_GPU) != 0 {
            self = .gpu
        } else if bits & cl_device_type(CL_DEVICE_TYPE_CPU) != 0 {
            self = .cpu
        } else if bits & cl_device_type(CL_DEVICE_TYPE_ACCELERATOR) != 0 {
            self = .accelerator
        } else if bits & cl_device_type(CL_DEVICE_TYPE_CUSTOM) != 0 {
            self = .custom
        } else {
            self = .other
        }
    }

    /// `"CPU"`, `"GPU"`, `"Accelerator"`, `"Custom"` or `"Other"`.
    public var description: String {
        switch self {
        case .cpu: "CPU"
        case .gpu: "GPU"
        case .accelerator: "Accelerator"
        case .custom: "Custom"
        case .other: "Other"
        }
    }
}

/// An OpenCL device and a snapshot of its properties, read once when the device is listed.
///
/// Devices are compared and hashed by ``id``. All properties come from `clGetDeviceInfo`.
// @unchecked Sendable: `cl_device_id` is an OpaquePointer to a root device, which the driver never frees.
public struct CLDevice: @unchecked Sendable, Hashable {
    /// The device handle.
    public let id: cl_device_id
    /// The platform the device belongs to.
    public let platform: CLPlatform
    /// `CL_DEVICE_NAME`. The corresponding C function is `clGetDeviceInfo`.
    public let name: String
    /// `CL_DEVICE_VENDOR`. The corresponding C function is `clGetDeviceInfo`.
    public let vendor: String
    /// `CL_DEVICE_VERSION`, such as `"OpenCL 3.0 PoCL ..."`. The corresponding C function is `clGetDeviceInfo`.
    public let version: String
    /// `CL_DRIVER_VERSION`. The corresponding C function is `clGetDeviceInfo`.
    public let driverVersion: String
    /// `CL_DEVICE_OPENCL_C_VERSION`, such as `"OpenCL C 1.2 PoCL"`. The corresponding C function is `clGetDeviceInfo`.
    public let openCLCVersion: String
    /// `CL_DEVICE_TYPE`. The corresponding C function is `clGetDeviceInfo`.
    public let type: CLDeviceType
    /// `CL_DEVICE_MAX_COMPUTE_UNITS`. The corresponding C function is `clGetDeviceInfo`.
    public let computeUnits: Int
    /// `CL_DEVICE_GLOBAL_MEM_SIZE`, in bytes. The corresponding C function is `clGetDeviceInfo`.
    public let globalMemorySize: Int
    /// `CL_DEVICE_MAX_MEM_ALLOC_SIZE`, the largest single buffer in bytes. The corresponding C function is
    /// `clGetDeviceInfo`.
    public let maxAllocationSize: Int
    /// `CL_DEVICE_LOCAL_MEM_SIZE`, in bytes. The corresponding C function is `clGetDeviceInfo`.
    public let localMemorySize: Int
    /// `CL_DEVICE_MAX_WORK_GROUP_SIZE`. The corresponding C function is `clGetDeviceInfo`.
    public let maxWorkGroupSize: Int
    /// `CL_DEVICE_MAX_WORK_ITEM_SIZES`, one limit per dimension. The corresponding C function is `clGetDeviceInfo`.
    public let maxWorkItemSizes: [Int]
    /// `CL_DEVICE_PREFERRED_VECTOR_WIDTH_FLOAT`: the float vector width the device's compiler prefers (a CPU device
    /// reports its SIMD width: 8 with AVX2, 16 with AVX-512). The corresponding C function is `clGetDeviceInfo`.
    public let preferredFloatWidth: Int
    /// `CL_DEVICE_EXTENSIONS`, split at spaces. The corresponding C function is `clGetDeviceInfo`.
    public let extensions: [String]
    /// Whether kernels may use `double`: `cl_khr_fp64` is listed or `CL_DEVICE_DOUBLE_FP_CONFIG` is
    /// nonzero. The corresponding C function is `clGetDeviceInfo`.
    public let supportsFP64: Bool

    init(id: cl_device_id, platform: CLPlatform) throws(CLError) {
        func query(_ param: Int32) -> InfoQuery {
            { clGetDeviceInfo(id, cl_device_info(param), $0, $1, $2) }
        }
        func string(_ param: Int32) throws(CLError) -> String { try infoString("clGetDeviceInfo", query(param)) }
        func int<T: BinaryInteger & BitwiseCopyable>(_ param: Int32, _: T.Type) throws(CLError) -> Int {
            Int(clamping: try infoValue(T.self, "clGetDeviceInfo", query(param)))
        }
        self.id = id
        self.platform = platform
        name = try string(CL_DEVICE_NAME)
        vendor = try string(CL_DEVICE_VENDOR)
        version = try string(CL_DEVICE_VERSION)
        driverVersion = try string(CL_DRIVER_VERSION)
        openCLCVersion = try string(CL_DEVICE_OPENCL_C_VERSION)
        type = CLDeviceType(try infoValue(cl_device_type.self, "clGetDeviceInfo", query(CL_DEVICE_TYPE)))
        computeUnits = try int(CL_DEVICE_MAX_COMPUTE_UNITS, cl_uint.self)
        globalMemorySize = try int(CL_DEVICE_GLOBAL_MEM_SIZE, cl_ulong.self)
        maxAllocationSize = try int(CL_DEVICE_MAX_MEM_ALLOC_SIZE, cl_ulong.self)
        localMemorySize = try int(CL_DEVICE_LOCAL_MEM_SIZE, cl_ulong.self)
        maxWorkGroupSize = try int(CL_DEVICE_MAX_WORK_GROUP_SIZE, Int.self)
        maxWorkItemSizes = try infoArray(Int.self, "clGetDeviceInfo", query(CL_DEVICE_MAX_WORK_ITEM_SIZES))
        preferredFloatWidth = try int(CL_DEVICE_PREFERRED_VECTOR_WIDTH_FLOAT, cl_uint.self)
        extensions = try string(CL_DEVICE_EXTENSIONS).split(separator: " ").map(String.init)
        // Pre-1.2 devices without the extension may reject CL_DEVICE_DOUBLE_FP_CONFIG: that means "no".
        let fp64 = (try? infoValue(cl_device_fp_config.self, "clGetDeviceInfo", query(CL_DEVICE_DOUBLE_FP_CONFIG))) ?? 0
        supportsFP64 = extensions.contains("cl_khr_fp64") || fp64 != 0
    }

    /// Two devices are equal when they have the same handle.
    public static func == (lhs: CLDevice, rhs: CLDevice) -> Bool { lhs.id == rhs.id }

    /// Hashes the handle.
    public func hash(into hasher: inout Hasher) { hasher.combine(id) }
}
