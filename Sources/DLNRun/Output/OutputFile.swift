import DLNModel
import Foundation

/// Atomic, durable file output: a temporary file of a unique name beside the target, created with
/// `O_CREAT | O_EXCL | O_NOFOLLOW` (a file or a symbolic link planted under that name is never opened, let alone
/// followed), flushed to disk, then renamed over the target (which replaces a link rather than following it), then
/// an `fsync` of the folder. A kill at any moment leaves the old file or the new one, whole; no reader ever sees a
/// half-written file.
public enum OutputFile {
    /// The marker of dlnsim's temporary files: `.<name>.dlnsim-tmp-<pid>-<random>`.
    static let temporaryTag = ".dlnsim-tmp-"

    /// The unique temporary name for a file named `name`.
    static func temporaryName(for name: String) -> String {
        ".\(name)\(temporaryTag)\(getpid())-\(String(UInt64.random(in: 0...UInt64.max), radix: 36))"
    }

    /// The process that wrote a temporary file of dlnsim's (ours, or the `checkpoint.dlnsim.tmp-<pid>` of
    /// earlier versions); nil for any other name.
    static func temporaryOwner(_ name: String) -> pid_t? {
        let tail: Substring
        if let r = name.range(of: temporaryTag), name.hasPrefix(".") {
            tail = name[r.upperBound...]
        } else if name.hasPrefix(Checkpoint.fileName + ".tmp-") {
            tail = name.dropFirst(Checkpoint.fileName.count + 5)
        } else {
            return nil
        }
        return pid_t(tail.prefix(while: \.isNumber))
    }

    /// Writes bytes to `path` atomically and durably.
    public static func write(_ data: Data, to path: String) throws(DLNError) {
        let url = URL(fileURLWithPath: path)
        let folder = url.deletingLastPathComponent().path
        var tmp = ""
        var fd: Int32 = -1
        for _ in 0..<4 {
            tmp = folder + "/" + temporaryName(for: url.lastPathComponent)
            fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o644)
            if fd >= 0 || errno != EEXIST { break }
        }
        guard fd >= 0 else { throw .outputFailure(path: path, reason: String(cString: strerror(errno))) }
        var failure: String? = nil
        data.withUnsafeBytes { raw in
            var done = 0
            while done < raw.count {
                let n = Glibc.write(fd, raw.baseAddress! + done, raw.count - done)
                if n < 0 {
                    if errno == EINTR { continue }
                    failure = String(cString: strerror(errno))
                    return
                }
                done += n
            }
        }
        if failure == nil && fsync(fd) != 0 { failure = String(cString: strerror(errno)) }
        close(fd)
        if failure == nil && rename(tmp, path) != 0 { failure = String(cString: strerror(errno)) }
        if let failure {
            unlink(tmp)
            throw .outputFailure(path: path, reason: failure)
        }
        syncFolder(folder)
    }

    /// Writes text to `path` atomically.
    public static func write(text: String, to path: String) throws(DLNError) {
        try write(Data(text.utf8), to: path)
    }

    /// The same as `write`: every output is written durably (checkpoints: after a crash or a kill, the old file or
    /// the new one, whole).
    public static func writeDurably(_ data: Data, to path: String) throws(DLNError) {
        try write(data, to: path)
    }

    /// Flushes a folder's entries (renames, removals) to disk.
    static func syncFolder(_ folder: String) {
        let dir = open(folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dir >= 0 {
            fsync(dir)
            close(dir)
        }
    }
}
