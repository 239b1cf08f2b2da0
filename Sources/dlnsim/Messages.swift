import ArgumentParser
import DLNModel
import Foundation

/// How dlnsim talks on stderr: text for people, or one JSON object per line for programs (the Python package).
/// JSON is chosen by `DLNSIM_MESSAGES=json` (every subcommand) or by `dlnsim run --progress json`.
enum Messages {
    nonisolated(unsafe) static var json = ProcessInfo.processInfo.environment["DLNSIM_MESSAGES"] == "json"

    /// Switches to JSON before the arguments are parsed when the command line asks for `--progress json`, so that
    /// even an argument error comes out as JSON.
    static func readCommandLine(_ arguments: [String]) {
        for (i, a) in arguments.enumerated() {
            if a == "--progress=json" || (a == "--progress" && i + 1 < arguments.count && arguments[i + 1] == "json") {
                json = true
            }
        }
    }

    /// Writes one JSON object as a line on stderr (non-finite numbers become null).
    static func emit(_ object: [String: Any]) {
        let clean = object.mapValues { v -> Any in
            if let d = v as? Double, !d.isFinite { return NSNull() }
            return v
        }
        guard
            let data = try? JSONSerialization.data(
                withJSONObject: clean, options: [.sortedKeys, .withoutEscapingSlashes])
        else { return }
        FileHandle.standardError.write(data + Data("\n".utf8))
    }

    /// The error event: the message, its kind and, for a configuration, the key path of each problem.
    static func errorObject(_ error: any Error) -> [String: Any] {
        var object: [String: Any] = ["event": "error", "message": "\(error)", "key": NSNull(), "issues": []]
        guard let e = error as? DLNError else {
            object["kind"] = "error"
            return object
        }
        switch e {
        case .invalidConfiguration(let file, let issues):
            object["kind"] = "invalid_configuration"
            object["file"] = file
            object["issues"] = issues.map { ["key": $0.path, "message": $0.message] }
            if let first = issues.first(where: { !$0.path.isEmpty }) { object["key"] = first.path }
        case .badFile(let path, _):
            object["kind"] = "bad_file"
            object["file"] = path
        case .invalidProblem: object["kind"] = "invalid_problem"
        case .unsupportedPrecision: object["kind"] = "unsupported_precision"
        case .deviceUnavailable: object["kind"] = "device_unavailable"
        case .deviceFailure: object["kind"] = "device_failure"
        case .outputFailure(let path, _):
            object["kind"] = "output_failure"
            object["file"] = path
        case .outOfMemory: object["kind"] = "out_of_memory"
        case .interrupted: object["kind"] = "interrupted"
        }
        return object
    }
}

/// Prints a message on stderr and exits non-zero: every user error ends here, with one clear message.
func fail(_ error: any Error) -> Never {
    if Messages.json {
        Messages.emit(Messages.errorObject(error))
    } else {
        FileHandle.standardError.write(Data("error: \(error)\n".utf8))
    }
    Foundation.exit(1)
}

/// Prints a message on stderr and exits non-zero.
func fail(_ message: String) -> Never {
    if Messages.json {
        Messages.emit(["event": "error", "kind": "error", "message": message, "key": NSNull(), "issues": []])
    } else {
        FileHandle.standardError.write(Data("error: \(message)\n".utf8))
    }
    Foundation.exit(1)
}

/// A line on stderr: a warning ("warning: …") or a note; one JSON object in JSON mode.
func note(_ line: String) {
    if Messages.json {
        let warning = line.hasPrefix("warning: ")
        Messages.emit(["event": warning ? "warning" : "note", "message": warning ? String(line.dropFirst(9)) : line])
    } else {
        FileHandle.standardError.write(Data("\(line)\n".utf8))
    }
}
