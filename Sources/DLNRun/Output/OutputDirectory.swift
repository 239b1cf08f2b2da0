import DLNModel
import Foundation
import Synchronization

/// One command's write access to an output folder: every command that writes a folder (run, resume, merge, theory,
/// analyze, plot) opens it here first.
///
/// - **Lock.** `DIR/.dlnsim-lock` is locked with `flock` for as long as the command runs (the system releases it
///   when the process ends, however it ends) and holds the holder's pid, command line, host and start time; a
///   second writer is refused with the holder named.
/// - **Staging.** The command writes its files into `DIR/.dlnsim-staging/`, then `commit()` moves them into place:
///   it writes the list of staged files (the journal), removes the previous run's files, renames the staged ones
///   (manifest.json last), removes the checkpoint and writes the marker `.dlnsim-output` with the list of dlnsim's
///   files in the folder. A command killed during those steps leaves the journal behind; the next command that
///   opens the folder completes them before anything else.
/// - **Ownership.** Only files the marker lists (and dlnsim's own lock, staging, checkpoint and temporary files)
///   are dlnsim's: any other entry is the user's, never removed or replaced.
public final class OutputDirectory: @unchecked Sendable {
    /// What `commit()` does with the files already in the folder.
    public enum Mode: String, Sendable {
        /// A new run's files (run, merge): dlnsim's files of the previous run that it does not write again go.
        case replace
        /// More files beside a run's (theory, analyze, plot): dlnsim's files stay.
        case add
    }

    /// The file that marks a folder as dlnsim's and lists dlnsim's files in it.
    public static let marker = ".dlnsim-output"
    /// The lock file.
    public static let lockName = ".dlnsim-lock"
    /// The staging folder.
    public static let stagingName = ".dlnsim-staging"
    /// The journal of a commit under way, in the staging folder.
    static let journalName = ".dlnsim-commit"
    static let writeTestName = ".dlnsim-write-test"

    /// The folder.
    public let path: String
    /// What `commit()` does.
    public let mode: Mode
    /// Whether this command made the folder.
    public let created: Bool
    /// Whether opening the folder completed the interrupted final writes of an earlier command.
    public private(set) var repaired = false
    let lockDescriptor: Int32

    /// The staging folder, `DIR/.dlnsim-staging`.
    public var staging: String { path + "/" + Self.stagingName }

    /// Folders this process holds, by their real path (a second `open` of one returns the same object).
    static let held = Mutex<[String: OutputDirectory]>([:])

    init(path: String, mode: Mode, created: Bool, lockDescriptor: Int32) {
        self.path = path
        self.mode = mode
        self.created = created
        self.lockDescriptor = lockDescriptor
    }

    /// Opens `path` for writing: makes it (with `create`), takes its lock, completes an interrupted commit, cleans
    /// temporary files of dead processes, checks that files can be written there, and refuses a folder holding files
    /// dlnsim did not write, unless `force` (then they stay untouched). `forceOption` names the option that allows
    /// it in the message (nil: the command has none). With `needsMarker`, a folder dlnsim never wrote is refused.
    public static func open(
        _ path: String, mode: Mode, force: Bool = false, forceOption: String? = "--force", create: Bool = true,
        needsMarker: Bool = false
    ) throws(DLNError) -> OutputDirectory {
        var isDirectory: ObjCBool = false
        let existed = FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory)
        if existed && !isDirectory.boolValue { throw .outputFailure(path: path, reason: "exists and is not a folder") }
        if !existed {
            guard create else { throw .badFile(path: path, reason: "no such folder") }
            try RunOutput.makeFolder(path)
        }
        let key = URL(fileURLWithPath: path).resolvingSymlinksInPath().standardizedFileURL.path
        if let same = held.withLock({ $0[key] }) { return same }
        // Checked before the lock too, so that a refused folder is left exactly as it was (a folder another command
        // is writing is refused naming it).
        do {
            try checkEntries(path, mode: mode, force: force, forceOption: forceOption, needsMarker: needsMarker)
        } catch {
            let fd = Glibc.open(path + "/" + lockName, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK)
            if fd >= 0 {
                defer { close(fd) }
                if flock(fd, LOCK_EX | LOCK_NB) != 0 { throw heldBy(fd, path) }
            }
            throw error
        }
        let fd = try lock(path)
        let folder = OutputDirectory(path: path, mode: mode, created: !existed, lockDescriptor: fd)
        do {
            try folder.recover()
            try RunOutput.checkWritable(path)
            try checkEntries(path, mode: mode, force: force, forceOption: forceOption, needsMarker: needsMarker)
        } catch {
            folder.abandon()
            throw error
        }
        held.withLock { $0[key] = folder }
        return folder
    }

    /// Takes the folder's lock, or says who holds it.
    static func lock(_ path: String) throws(DLNError) -> Int32 {
        let file = path + "/" + lockName
        let fd = Glibc.open(file, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, 0o644)
        guard fd >= 0 else {
            if errno == ELOOP { throw symbolicLink(file) }
            throw .outputFailure(
                path: path, reason: "the output folder is not writable: \(String(cString: strerror(errno)))")
        }
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFREG else {
            close(fd)
            throw .outputFailure(path: file, reason: "is not a regular file: remove it")
        }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let error = heldBy(fd, path)
            close(fd)
            throw error
        }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyy-MM-dd HH:mm:ss 'UTC'"
        let command = (["dlnsim"] + CommandLine.arguments.dropFirst()).joined(separator: " ")
        let text =
            "pid \(getpid()) (\(command)) on \(ProcessInfo.processInfo.hostName) since \(formatter.string(from: Date()))\n"
        ftruncate(fd, 0)
        _ = Array(text.utf8).withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
        return fd
    }

    /// The refusal naming the holder of a lock (what its lock file says).
    static func heldBy(_ fd: Int32, _ path: String) -> DLNError {
        var bytes = [UInt8](repeating: 0, count: 4096)
        let n = pread(fd, &bytes, bytes.count, 0)
        let holder = n > 0 ? String(decoding: bytes[0..<n], as: UTF8.self) : ""
        return .outputFailure(
            path: path,
            reason: "is being written by "
                + (holder.isEmpty ? "another dlnsim process" : holder.trimmingCharacters(in: .whitespacesAndNewlines))
                + "; wait until it ends, or choose another output folder")
    }

    static func symbolicLink(_ file: String) -> DLNError {
        .outputFailure(
            path: file, reason: "is a symbolic link; dlnsim never follows links in its output folders: remove it")
    }

    /// Completes an interrupted commit (its journal is in the staging folder) or discards an unfinished staging
    /// folder, then removes temporary files whose process has ended.
    func recover() throws(DLNError) {
        var st = stat()
        if lstat(staging, &st) == 0 {
            if st.st_mode & S_IFMT == S_IFDIR && access(staging + "/" + Self.journalName, F_OK) == 0 {
                try finish()
                repaired = true
            } else {
                Self.remove(staging)
            }
        }
        for name in Self.entries(path) {
            if name.hasPrefix(Self.writeTestName) {
                unlink(path + "/" + name)
            } else if let pid = OutputFile.temporaryOwner(name), pid <= 0 || (kill(pid, 0) != 0 && errno == ESRCH) {
                unlink(path + "/" + name)
            }
        }
    }

    /// Refuses a folder that holds files dlnsim did not write (unless `force`), and a file dlnsim did not write
    /// under a name dlnsim writes (always).
    static func checkEntries(_ path: String, mode: Mode, force: Bool, forceOption: String?, needsMarker: Bool)
        throws(DLNError)
    {
        let marker = readMarker(path)
        // (A folder whose first run was killed in its final writes has no marker yet, but its journal.)
        if needsMarker && !marker.exists && access(path + "/" + stagingName + "/" + journalName, F_OK) != 0 {
            throw .badFile(path: path, reason: "not a dlnsim output folder (it has no \(Self.marker))")
        }
        let own = Set(ownFiles(path, marker))
        let foreign = Self.entries(path).filter { !Self.isInternal($0) && !own.contains($0) }.sorted()
        guard !foreign.isEmpty, mode == .replace || !marker.exists else { return }
        if let clash = foreign.first(where: Self.isDlnsimName), force && mode == .replace {
            throw .outputFailure(
                path: path + "/" + clash,
                reason: "dlnsim did not write this file and never replaces one it did not write: move it, or choose "
                    + "another output folder")
        }
        if force && mode == .replace { return }
        let shown = foreign.prefix(3).joined(separator: ", ") + (foreign.count > 3 ? ", …" : "")
        let them = foreign.count == 1 ? "it" : "them"
        let option = forceOption.map { " or pass \($0) (to write beside \(them), leaving \(them) untouched)" } ?? ""
        throw .outputFailure(
            path: path,
            reason: marker.exists
                ? "holds \(foreign.count) entr\(foreign.count == 1 ? "y" : "ies") dlnsim did not write (\(shown)); "
                    + "move \(foreign.count == 1 ? "it" : "them"), choose another output folder\(option)"
                : "the folder exists and is not a dlnsim output (\(foreign.count) entr\(foreign.count == 1 ? "y" : "ies"): "
                    + "\(shown)); choose another output folder\(option)")
    }

    /// A fresh, empty staging folder to write into.
    public func stage() throws(DLNError) -> String {
        Self.remove(staging)
        guard mkdir(staging, 0o755) == 0 else {
            throw .outputFailure(path: staging, reason: String(cString: strerror(errno)))
        }
        return staging
    }

    /// Moves the staged files into place (see the type's description) and removes the staging folder.
    public func commit() throws(DLNError) {
        let names = Self.entries(staging).filter { $0 != Self.journalName }.sorted()
        let own = Set(Self.ownFiles(path, Self.readMarker(path)))
        for name in names where !Self.isInternal(name) && !own.contains(name) && Self.exists(path + "/" + name) {
            throw .outputFailure(
                path: path + "/" + name,
                reason: "dlnsim did not write this file and never replaces one it did not write: move it")
        }
        let journal = "dlnsim commit\n\(mode.rawValue)\n" + names.map { $0 + "\n" }.joined()
        try OutputFile.write(text: journal, to: staging + "/" + Self.journalName)
        try finish()
    }

    /// The steps of a commit after its journal is written; each may be repeated, so an interrupted commit is
    /// completed by running them again.
    func finish() throws(DLNError) {
        let journalPath = staging + "/" + Self.journalName
        guard let text = try? String(contentsOfFile: journalPath, encoding: .utf8) else {
            throw .badFile(path: journalPath, reason: "unreadable")
        }
        let lines = text.split(separator: "\n").map(String.init)
        guard lines.count >= 2, lines[0] == "dlnsim commit", let mode = Mode(rawValue: lines[1]) else {
            throw .badFile(path: journalPath, reason: "not a dlnsim commit journal")
        }
        let names = Array(lines.dropFirst(2))
        let old = Self.ownFiles(path, Self.readMarker(path))
        let manifest = "manifest.json"
        if mode == .replace {
            // The old manifest goes first: a folder is never read as the old run with new files beside it.
            if Self.exists(staging + "/" + manifest) { unlink(path + "/" + manifest) }
            // Files only: dlnsim writes no folders, so a folder under a listed name is the user's.
            for name in old where !names.contains(name) && !Self.isFolder(path + "/" + name) {
                unlink(path + "/" + name)
            }
        }
        let hold = Int(ProcessInfo.processInfo.environment["DLNSIM_TEST_HOLD_IN_FINAL_WRITES"] ?? "")
        var moved = 0
        for name in names.filter({ $0 != manifest }) + names.filter({ $0 == manifest })
        where Self.exists(staging + "/" + name) {
            guard rename(staging + "/" + name, path + "/" + name) == 0 else {
                throw .outputFailure(path: path + "/" + name, reason: String(cString: strerror(errno)))
            }
            moved += 1
            if let hold, moved == hold {
                // Test hook: hold half-way through the final writes, so that a test can kill the process there.
                FileHandle.standardError.write(Data("dlnsim: holding in the final writes\n".utf8))
                for _ in 0..<12000 { usleep(10_000) }
            }
        }
        if mode == .replace { unlink(path + "/" + Checkpoint.fileName) }
        var list: [String] = []
        for name in (mode == .replace ? names : old + names)
        where !list.contains(name) && Self.exists(path + "/" + name) {
            list.append(name)
        }
        try OutputFile.write(
            text: "dlnsim \(DLNSim.version) output folder\nfiles:\n" + list.map { $0 + "\n" }.joined(),
            to: path + "/" + Self.marker)
        unlink(journalPath)
        Self.remove(staging)
        removeLive()
        OutputFile.syncFolder(path)
    }

    /// Gives the folder up after a failure before anything was committed: removes the staging folder, and a folder
    /// this command made when nothing else is in it.
    public func abandon() {
        // A staging folder with a journal is an interrupted commit: kept for the next command to complete.
        if access(staging + "/" + Self.journalName, F_OK) != 0 { Self.remove(staging) }
        guard created else { return }
        let left = Self.entries(path)
        if left.allSatisfy({ $0 == Self.lockName || $0 == Self.marker }) {
            for name in left { unlink(path + "/" + name) }
            rmdir(path)
        }
    }
}

extension OutputDirectory {
    /// The marker: whether the folder has one, and the files it lists (nil: a marker of an earlier version, which
    /// lists none).
    static func readMarker(_ path: String) -> (exists: Bool, list: [String]?) {
        let file = path + "/" + marker
        var st = stat()
        guard lstat(file, &st) == 0, st.st_mode & S_IFMT == S_IFREG,
            let text = try? String(contentsOfFile: file, encoding: .utf8)
        else { return (false, nil) }
        let lines = text.split(separator: "\n").map(String.init)
        guard let start = lines.firstIndex(of: "files:") else { return (true, nil) }
        return (true, lines[(start + 1)...].filter { !$0.contains("/") && $0 != "." && $0 != ".." })
    }

    /// dlnsim's files in the folder: those the marker lists; for a marker of an earlier version, the entries named
    /// as dlnsim names its files.
    /// (With an interrupted commit, the files its journal lists are dlnsim's too.)
    static func ownFiles(_ path: String, _ marker: (exists: Bool, list: [String]?)) -> [String] {
        var own = marker.list ?? (marker.exists ? entries(path).filter(isDlnsimName) : [])
        let journal = path + "/" + stagingName + "/" + journalName
        if let text = try? String(contentsOfFile: journal, encoding: .utf8) {
            own += text.split(separator: "\n").dropFirst(2).map(String.init).filter { !$0.contains("/") }
        }
        return own
    }

    /// dlnsim's own bookkeeping: the marker, the lock, the staging folder, the checkpoint and temporary files.
    static func isInternal(_ name: String) -> Bool {
        [marker, lockName, stagingName, Checkpoint.fileName].contains(name) || name.hasPrefix(writeTestName)
            || name.hasPrefix(liveName)
            || OutputFile.temporaryOwner(name) != nil
    }

    /// Whether dlnsim writes files of this name (arrays, tables, figures, the report, the DMFT and analysis files).
    public static func isDlnsimName(_ name: String) -> Bool {
        let fixed = [
            "grid.csv", "stats.csv", "dmft.csv", "manifest.json", "dmft_manifest.json", "report.html", "config.yaml"
        ]
        if fixed.contains(name) { return true }
        // <figure>.py: the matplotlib script beside a figure.
        guard name.hasSuffix(".npy") || name.hasSuffix(".svg") || name.hasSuffix(".py") else { return false }
        let stem = String(name.dropLast(name.hasSuffix(".py") ? 3 : 4))
        let prefixes: [String] = ["support@", "precision@", "recall@", "dmft_", "analysis_"]
        if prefixes.contains(where: { stem.hasPrefix($0) }) { return true }
        let words: [String] =
            ObservableSet.fixed + [
                "times", "steps", "status", "evaluations", "rejected", "weights", "layers", "activation"
            ]
        return words.contains { (w: String) -> Bool in stem == w || stem.hasPrefix(w + "_") }
    }

    /// Refuses to read a folder whose last command was killed during its final writes (its journal is still there):
    /// the next command that writes the folder completes them.
    public static func checkFinished(_ folder: String) throws(DLNError) {
        guard access(folder + "/" + stagingName + "/" + journalName, F_OK) == 0 else { return }
        throw .badFile(
            path: folder,
            reason: "its final writes were interrupted (the folder is half old, half new): `dlnsim run --resume "
                + "\(folder)` or `dlnsim plot \(folder)` completes them")
    }

    /// The names in a folder (none when it cannot be read).
    static func entries(_ folder: String) -> [String] {
        (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
    }

    /// Whether an entry exists (a link counts, whatever it points to).
    static func exists(_ path: String) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0
    }

    /// Whether an entry is a folder (a link is not).
    static func isFolder(_ path: String) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0 && st.st_mode & S_IFMT == S_IFDIR
    }

    /// Removes a file, a link (not what it points to) or a folder tree.
    static func remove(_ path: String) {
        var st = stat()
        guard lstat(path, &st) == 0 else { return }
        if st.st_mode & S_IFMT == S_IFDIR {
            try? FileManager.default.removeItem(atPath: path)
        } else {
            unlink(path)
        }
    }
}
