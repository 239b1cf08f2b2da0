import COpenCL

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
}
