import COpenCL
import Synchronization

/// An OpenCL context for a single device; buffers, programs and queues are created in it.
///
/// The context owns one reference to its `cl_context` and releases it in `deinit`.
// @unchecked Sendable: OpenCL 1.1+ makes every call on a context thread-safe; the handle never changes.
public final class CLContext: @unchecked Sendable {
    /// The device this context was created for.
    public let device: CLDevice
    let handle: cl_context

    /// Creates a context for `device`. The corresponding C function is `clCreateContext`.
    public init(device: CLDevice) throws(CLError) {
        var devices: [cl_device_id?] = [device.id]
        handle = try create("clCreateContext") { clCreateContext(nil, 1, &devices, nil, nil, &$0) }
        self.device = device
    }

    deinit { clReleaseContext(handle) }

    private static let sharedContexts = Mutex<[CLDevice: CLContext]>([:])

    /// The process's one context for `device`, created on first use and kept for the life of the
    /// process: everything that shares it shares its buffers' address space and the programs built in
    /// it (each user keeps its own ``CLCommandQueue``). Thread-safe; concurrent first calls for one
    /// device get the same context. The corresponding C function is `clCreateContext`.
    public static func shared(for device: CLDevice) throws(CLError) -> CLContext {
        try sharedContexts.withLock { (contexts) throws(CLError) -> CLContext in
            if let context = contexts[device] { return context }
            let context = try CLContext(device: device)
            contexts[device] = context
            return context
        }
    }
}
