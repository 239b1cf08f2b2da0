import COpenCL

// The funnel: every OpenCL status in this module goes through `check`, every `errcode_ret`
// through `create`, and every `clGet*Info` through `infoBytes`.

/// Throws a ``CLError`` for `call` unless `status` is `CL_SUCCESS`.
func check(_ status: cl_int, _ call: String, _ detail: @autoclosure () -> String? = nil) throws(CLError) {
    guard status != CL_SUCCESS else { return }
    throw CLError(code: status, call: call, detail: detail())
}

/// Runs a `clCreate*` function that reports through `errcode_ret` and returns the new handle.
func create<Handle>(
    _ call: String, _ detail: @autoclosure () -> String? = nil, _ make: (inout cl_int) -> Handle?
) throws(CLError) -> Handle {
    var status = CL_SUCCESS
    let handle = make(&status)
    try check(status, call, detail())
    guard let handle else { throw CLError(code: CLError.invalidValue, call: call, detail: detail()) }
    return handle
}

/// A `clGet*Info` call with its object and parameter bound: `(size, value, sizeReturned) -> status`.
typealias InfoQuery = (Int, UnsafeMutableRawPointer?, UnsafeMutablePointer<Int>?) -> cl_int

/// Runs the usual two-step `clGet*Info` protocol: ask for the size, then for the bytes.
func infoBytes(_ call: String, _ query: InfoQuery) throws(CLError) -> [UInt8] {
    var size = 0
    try check(query(0, nil, &size), call)
    var bytes = [UInt8](repeating: 0, count: size)
    guard size > 0 else { return bytes }
    try check(bytes.withUnsafeMutableBytes { query(size, $0.baseAddress, nil) }, call)
    return bytes
}

/// A string-valued info parameter, without its NUL terminator and surrounding whitespace.
func infoString(_ call: String, _ query: InfoQuery) throws(CLError) -> String {
    let isPadding = { (byte: UInt8) in byte == 0 || byte == 0x20 || (0x09...0x0D).contains(byte) }
    let bytes = try infoBytes(call, query)
    guard let first = bytes.firstIndex(where: { !isPadding($0) }),
        let last = bytes.lastIndex(where: { !isPadding($0) })
    else { return "" }
    return String(decoding: bytes[first...last], as: UTF8.self)
}

/// An array-valued info parameter, such as `CL_DEVICE_MAX_WORK_ITEM_SIZES`.
func infoArray<T: BitwiseCopyable>(_: T.Type, _ call: String, _ query: InfoQuery) throws(CLError) -> [T] {
    let stride = MemoryLayout<T>.stride
    return try infoBytes(call, query).withUnsafeBytes { raw in
        (0..<raw.count / stride).map { raw.loadUnaligned(fromByteOffset: $0 * stride, as: T.self) }
    }
}

/// A scalar info parameter, such as `CL_DEVICE_MAX_COMPUTE_UNITS`.
func infoValue<T: BitwiseCopyable>(_: T.Type, _ call: String, _ query: InfoQuery) throws(CLError) -> T {
    guard let value = try infoArray(T.self, call, query).first else {
        throw CLError(code: CLError.invalidValue, call: call, detail: "the driver returned no value")
    }
    return value
}
