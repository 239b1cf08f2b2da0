/// An error reported by an OpenCL call: the `cl_int` status, the C function that returned it,
/// and, for program builds, the build options and build log.
public struct CLError: Error, CustomStringConvertible, Sendable {
    /// The `cl_int` status the call returned, such as ``CLError/buildProgramFailure``.
    public let code: Int32
    /// The C function that failed, such as `"clBuildProgram"`.
    public let call: String
    /// The program build log, when the failing call produced one.
    public let buildLog: String?
    /// The build options, when the failing call built a program.
    public let options: String?
    /// Extra context for the message, such as the kernel name that was not found.
    let detail: String?

    init(code: Int32, call: String, buildLog: String? = nil, options: String? = nil, detail: String? = nil) {
        self.code = code
        self.call = call
        self.buildLog = buildLog
        self.options = options
        self.detail = detail
    }

    /// The name of ``code`` as spelled in the OpenCL headers, such as `"CL_BUILD_PROGRAM_FAILURE"`;
    /// `"CL_UNKNOWN_ERROR"` for a code that is not in the table.
    public var name: String { Self.names[code] ?? "CL_UNKNOWN_ERROR" }

    /// A multi-line message: `"clBuildProgram failed: CL_BUILD_PROGRAM_FAILURE (-11)"`, followed by
    /// the detail, the build options and the build log where there are any.
    public var description: String {
        var text = "\(call) failed: \(name) (\(code))"
        if let detail { text += "\n\(detail)" }
        if let options { text += "\nbuild options: \(options.isEmpty ? "(none)" : options)" }
        if let buildLog { text += "\nbuild log:\n\(buildLog.isEmpty ? "(empty)" : buildLog)" }
        return text
    }
}

extension CLError {
    /// `CL_DEVICE_NOT_FOUND` (-1).
    public static let deviceNotFound: Int32 = -1
    /// `CL_DEVICE_NOT_AVAILABLE` (-2).
    public static let deviceNotAvailable: Int32 = -2
    /// `CL_COMPILER_NOT_AVAILABLE` (-3).
    public static let compilerNotAvailable: Int32 = -3
    /// `CL_MEM_OBJECT_ALLOCATION_FAILURE` (-4).
    public static let memObjectAllocationFailure: Int32 = -4
    /// `CL_OUT_OF_RESOURCES` (-5).
    public static let outOfResources: Int32 = -5
    /// `CL_OUT_OF_HOST_MEMORY` (-6).
    public static let outOfHostMemory: Int32 = -6
    /// `CL_PROFILING_INFO_NOT_AVAILABLE` (-7).
    public static let profilingInfoNotAvailable: Int32 = -7
    /// `CL_MEM_COPY_OVERLAP` (-8).
    public static let memCopyOverlap: Int32 = -8
    /// `CL_IMAGE_FORMAT_MISMATCH` (-9).
    public static let imageFormatMismatch: Int32 = -9
    /// `CL_IMAGE_FORMAT_NOT_SUPPORTED` (-10).
    public static let imageFormatNotSupported: Int32 = -10
    /// `CL_BUILD_PROGRAM_FAILURE` (-11).
    public static let buildProgramFailure: Int32 = -11
    /// `CL_MAP_FAILURE` (-12).
    public static let mapFailure: Int32 = -12
    /// `CL_MISALIGNED_SUB_BUFFER_OFFSET` (-13).
    public static let misalignedSubBufferOffset: Int32 = -13
    /// `CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST` (-14).
    public static let execStatusErrorForEventsInWaitList: Int32 = -14
    /// `CL_COMPILE_PROGRAM_FAILURE` (-15).
    public static let compileProgramFailure: Int32 = -15
    /// `CL_LINKER_NOT_AVAILABLE` (-16).
    public static let linkerNotAvailable: Int32 = -16
    /// `CL_LINK_PROGRAM_FAILURE` (-17).
    public static let linkProgramFailure: Int32 = -17
    /// `CL_DEVICE_PARTITION_FAILED` (-18).
    public static let devicePartitionFailed: Int32 = -18
    /// `CL_KERNEL_ARG_INFO_NOT_AVAILABLE` (-19).
    public static let kernelArgInfoNotAvailable: Int32 = -19
    /// `CL_INVALID_VALUE` (-30).
    public static let invalidValue: Int32 = -30
    /// `CL_INVALID_DEVICE_TYPE` (-31).
    public static let invalidDeviceType: Int32 = -31
    /// `CL_INVALID_PLATFORM` (-32).
    public static let invalidPlatform: Int32 = -32
    /// `CL_INVALID_DEVICE` (-33).
    public static let invalidDevice: Int32 = -33
    /// `CL_INVALID_CONTEXT` (-34).
    public static let invalidContext: Int32 = -34
    /// `CL_INVALID_QUEUE_PROPERTIES` (-35).
    public static let invalidQueueProperties: Int32 = -35
    /// `CL_INVALID_COMMAND_QUEUE` (-36).
    public static let invalidCommandQueue: Int32 = -36
    /// `CL_INVALID_HOST_PTR` (-37).
    public static let invalidHostPtr: Int32 = -37
    /// `CL_INVALID_MEM_OBJECT` (-38).
    public static let invalidMemObject: Int32 = -38
    /// `CL_INVALID_IMAGE_FORMAT_DESCRIPTOR` (-39).
    public static let invalidImageFormatDescriptor: Int32 = -39
    /// `CL_INVALID_IMAGE_SIZE` (-40).
    public static let invalidImageSize: Int32 = -40
    /// `CL_INVALID_SAMPLER` (-41).
    public static let invalidSampler: Int32 = -41
    /// `CL_INVALID_BINARY` (-42).
    public static let invalidBinary: Int32 = -42
    /// `CL_INVALID_BUILD_OPTIONS` (-43).
    public static let invalidBuildOptions: Int32 = -43
    /// `CL_INVALID_PROGRAM` (-44).
    public static let invalidProgram: Int32 = -44
    /// `CL_INVALID_PROGRAM_EXECUTABLE` (-45).
    public static let invalidProgramExecutable: Int32 = -45
    /// `CL_INVALID_KERNEL_NAME` (-46).
    public static let invalidKernelName: Int32 = -46
    /// `CL_INVALID_KERNEL_DEFINITION` (-47).
    public static let invalidKernelDefinition: Int32 = -47
    /// `CL_INVALID_KERNEL` (-48).
    public static let invalidKernel: Int32 = -48
    /// `CL_INVALID_ARG_INDEX` (-49).
    public static let invalidArgIndex: Int32 = -49
    /// `CL_INVALID_ARG_VALUE` (-50).
    public static let invalidArgValue: Int32 = -50
    /// `CL_INVALID_ARG_SIZE` (-51).
    public static let invalidArgSize: Int32 = -51
    /// `CL_INVALID_KERNEL_ARGS` (-52).
    public static let invalidKernelArgs: Int32 = -52
    /// `CL_INVALID_WORK_DIMENSION` (-53).
    public static let invalidWorkDimension: Int32 = -53
    /// `CL_INVALID_WORK_GROUP_SIZE` (-54).
    public static let invalidWorkGroupSize: Int32 = -54
    /// `CL_INVALID_WORK_ITEM_SIZE` (-55).
    public static let invalidWorkItemSize: Int32 = -55
    /// `CL_INVALID_GLOBAL_OFFSET` (-56).
    public static let invalidGlobalOffset: Int32 = -56
    /// `CL_INVALID_EVENT_WAIT_LIST` (-57).
    public static let invalidEventWaitList: Int32 = -57
    /// `CL_INVALID_EVENT` (-58).
    public static let invalidEvent: Int32 = -58
    /// `CL_INVALID_OPERATION` (-59).
    public static let invalidOperation: Int32 = -59
    /// `CL_INVALID_GL_OBJECT` (-60).
    public static let invalidGLObject: Int32 = -60
    /// `CL_INVALID_BUFFER_SIZE` (-61).
    public static let invalidBufferSize: Int32 = -61
    /// `CL_INVALID_MIP_LEVEL` (-62).
    public static let invalidMipLevel: Int32 = -62
    /// `CL_INVALID_GLOBAL_WORK_SIZE` (-63).
    public static let invalidGlobalWorkSize: Int32 = -63
    /// `CL_INVALID_PROPERTY` (-64).
    public static let invalidProperty: Int32 = -64
    /// `CL_INVALID_IMAGE_DESCRIPTOR` (-65).
    public static let invalidImageDescriptor: Int32 = -65
    /// `CL_INVALID_COMPILER_OPTIONS` (-66).
    public static let invalidCompilerOptions: Int32 = -66
    /// `CL_INVALID_LINKER_OPTIONS` (-67).
    public static let invalidLinkerOptions: Int32 = -67
    /// `CL_INVALID_DEVICE_PARTITION_COUNT` (-68).
    public static let invalidDevicePartitionCount: Int32 = -68
    /// `CL_INVALID_PIPE_SIZE` (-69).
    public static let invalidPipeSize: Int32 = -69
    /// `CL_INVALID_DEVICE_QUEUE` (-70).
    public static let invalidDeviceQueue: Int32 = -70
    /// `CL_INVALID_SPEC_ID` (-71).
    public static let invalidSpecID: Int32 = -71
    /// `CL_MAX_SIZE_RESTRICTION_EXCEEDED` (-72).
    public static let maxSizeRestrictionExceeded: Int32 = -72
    /// `CL_PLATFORM_NOT_FOUND_KHR` (-1001).
    public static let platformNotFoundKHR: Int32 = -1001

    /// Every standard status code (OpenCL 1.0 to 3.0) and the common extension codes, by value.
    static let names: [Int32: String] = [
        0: "CL_SUCCESS", -1: "CL_DEVICE_NOT_FOUND", -2: "CL_DEVICE_NOT_AVAILABLE",
        -3: "CL_COMPILER_NOT_AVAILABLE",
        -4: "CL_MEM_OBJECT_ALLOCATION_FAILURE", -5: "CL_OUT_OF_RESOURCES", -6: "CL_OUT_OF_HOST_MEMORY",
        -7: "CL_PROFILING_INFO_NOT_AVAILABLE", -8: "CL_MEM_COPY_OVERLAP",
        -9: "CL_IMAGE_FORMAT_MISMATCH", -10: "CL_IMAGE_FORMAT_NOT_SUPPORTED",
        -11: "CL_BUILD_PROGRAM_FAILURE", -12: "CL_MAP_FAILURE", -13: "CL_MISALIGNED_SUB_BUFFER_OFFSET",
        -14: "CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST", -15: "CL_COMPILE_PROGRAM_FAILURE",
        -16: "CL_LINKER_NOT_AVAILABLE", -17: "CL_LINK_PROGRAM_FAILURE",
        -18: "CL_DEVICE_PARTITION_FAILED", -19: "CL_KERNEL_ARG_INFO_NOT_AVAILABLE",
        -30: "CL_INVALID_VALUE", -31: "CL_INVALID_DEVICE_TYPE", -32: "CL_INVALID_PLATFORM",
        -33: "CL_INVALID_DEVICE", -34: "CL_INVALID_CONTEXT", -35: "CL_INVALID_QUEUE_PROPERTIES",
        -36: "CL_INVALID_COMMAND_QUEUE", -37: "CL_INVALID_HOST_PTR", -38: "CL_INVALID_MEM_OBJECT",
        -39: "CL_INVALID_IMAGE_FORMAT_DESCRIPTOR", -40: "CL_INVALID_IMAGE_SIZE",
        -41: "CL_INVALID_SAMPLER", -42: "CL_INVALID_BINARY", -43: "CL_INVALID_BUILD_OPTIONS",
        -44: "CL_INVALID_PROGRAM", -45: "CL_INVALID_PROGRAM_EXECUTABLE", -46: "CL_INVALID_KERNEL_NAME",
        -47: "CL_INVALID_KERNEL_DEFINITION", -48: "CL_INVALID_KERNEL", -49: "CL_INVALID_ARG_INDEX",
        -50: "CL_INVALID_ARG_VALUE", -51: "CL_INVALID_ARG_SIZE", -52: "CL_INVALID_KERNEL_ARGS",
        -53: "CL_INVALID_WORK_DIMENSION", -54: "CL_INVALID_WORK_GROUP_SIZE",
        -55: "CL_INVALID_WORK_ITEM_SIZE", -56: "CL_INVALID_GLOBAL_OFFSET",
        -57: "CL_INVALID_EVENT_WAIT_LIST", -58: "CL_INVALID_EVENT", -59: "CL_INVALID_OPERATION",
        -60: "CL_INVALID_GL_OBJECT", -61: "CL_INVALID_BUFFER_SIZE", -62: "CL_INVALID_MIP_LEVEL",
        -63: "CL_INVALID_GLOBAL_WORK_SIZE", -64: "CL_INVALID_PROPERTY",
        -65: "CL_INVALID_IMAGE_DESCRIPTOR", -66: "CL_INVALID_COMPILER_OPTIONS",
        -67: "CL_INVALID_LINKER_OPTIONS", -68: "CL_INVALID_DEVICE_PARTITION_COUNT",
        -69: "CL_INVALID_PIPE_SIZE", -70: "CL_INVALID_DEVICE_QUEUE", -71: "CL_INVALID_SPEC_ID",
        -72: "CL_MAX_SIZE_RESTRICTION_EXCEEDED", -1000: "CL_INVALID_GL_SHAREGROUP_REFERENCE_KHR",
        -1001: "CL_PLATFORM_NOT_FOUND_KHR", -1057: "CL_DEVICE_PARTITION_FAILED_EXT",
        -1058: "CL_INVALID_PARTITION_COUNT_EXT", -1059: "CL_INVALID_PARTITION_NAME_EXT"
    ]
}
