/// One problem found in a configuration, with the key path where it was found.
public struct ConfigIssue: Sendable, Hashable, CustomStringConvertible {
    /// Dotted key path, e.g. `problem.d` or `grid.alpha[2]`.
    public let path: String
    /// What is wrong, in words a researcher understands.
    public let message: String

    /// An issue at a key path.
    public init(_ path: String, _ message: String) {
        self.path = path
        self.message = message
    }

    public var description: String { path.isEmpty ? message : "\(path): \(message)" }
}

/// Errors a user can cause: bad configuration or files, unsupported precision, no device.
///
/// Programmer errors trap instead (`precondition`).
public enum DLNError: Error, CustomStringConvertible, Sendable {
    /// The configuration has one or more problems; all of them are listed.
    case invalidConfiguration(file: String, issues: [ConfigIssue])
    /// A file is missing, unreadable or malformed.
    case badFile(path: String, reason: String)
    /// A value or shape in the problem does not fit (e.g. X and y of different lengths).
    case invalidProblem(String)
    /// The chosen device cannot run the requested precision.
    case unsupportedPrecision(device: String, precision: Precision)
    /// No usable device matches the request.
    case deviceUnavailable(String)
    /// The device failed (kernel build, allocation, launch); the message carries the driver's words.
    case deviceFailure(String)
    /// An output could not be written.
    case outputFailure(path: String, reason: String)
    /// The engine could not allocate a batch (the run retries with smaller slices).
    case outOfMemory(String)
    /// The run stopped on request (a signal) after writing a checkpoint it can resume from.
    case interrupted(String)

    public var description: String {
        switch self {
        case .invalidConfiguration(let file, let issues):
            let head = issues.count == 1 ? "1 problem" : "\(issues.count) problems"
            return "invalid configuration \(file) (\(head)):\n" + issues.map { "  - \($0)" }.joined(separator: "\n")
        case .badFile(let path, let reason):
            return "\(path): \(reason)"
        case .invalidProblem(let message):
            return "invalid problem: \(message)"
        case .unsupportedPrecision(let device, let precision):
            return "\(device) cannot compute in \(precision.rawValue): the device lacks cl_khr_fp64; "
                + "use precision: float32 or another device (--device cpu)"
        case .deviceUnavailable(let message):
            return "no device: \(message)"
        case .deviceFailure(let message):
            return "device failure: \(message)"
        case .outputFailure(let path, let reason):
            return "cannot write \(path): \(reason)"
        case .outOfMemory(let message):
            return "out of memory: \(message)"
        case .interrupted(let message):
            return "interrupted: \(message)"
        }
    }
}
