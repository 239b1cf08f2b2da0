import Foundation

#if canImport(Glibc)
    import Glibc

    @_silgen_name("mallopt") private func glibcMallopt(_ parameter: Int32, _ value: Int32) -> Int32
#endif

/// The host memory a run may use: the machine's physical memory, or less when the process runs under an
/// address-space or data-size limit (`ulimit -v`, `ulimit -d`, as batch systems set them). Under a limit, what the
/// process has mapped already (its libraries, the OpenCL runtime) counts against it.
public enum HostMemory {
    /// The bytes a run may still allocate, and the words that say where the bound comes from.
    public static var available: (bytes: Double, what: String) {
        let physical = Double(ProcessInfo.processInfo.physicalMemory)
        var best = (bytes: physical, what: "this machine's \(gibibytes(physical))")
        let limits: [(Int32, String, String)] = [
            (Int32(RLIMIT_AS.rawValue), "ulimit -v", "VmSize"), (Int32(RLIMIT_DATA.rawValue), "ulimit -d", "VmData")
        ]
        for (resource, name, used) in limits {
            var r = rlimit()
            guard getrlimit(__rlimit_resource_t(resource), &r) == 0, r.rlim_cur != rlim_t.max else { continue }
            // Under an address-space limit, what the threads reserve later counts too: their stacks and malloc
            // arenas (`limitArenas` caps those).
            let threads = Double(ProcessInfo.processInfo.activeProcessorCount + 4)
            let reserved = name == "ulimit -v" ? 64 * 1_048_576 * Double(arenas) + 8 * 1_048_576 * threads : 0
            let left = max(0, Double(r.rlim_cur) - (status(used) ?? 0) - reserved)
            if left < best.bytes {
                best = (
                    left,
                    "the \(gibibytes(left)) this process may still allocate under its limit (\(name) "
                        + "\(r.rlim_cur / 1024))"
                )
            }
        }
        return best
    }

    /// Malloc arenas allowed under an address-space limit (each reserves 64 MiB of addresses).
    static let arenas: Int32 = 2

    /// Under an address-space limit, caps glibc's malloc arenas (by default up to 8 per core, 64 MiB of address
    /// space each, mostly never touched): call at start, before the worker threads.
    public static func limitArenas() {
        var r = rlimit()
        #if canImport(Glibc)
            if getrlimit(__rlimit_resource_t(Int32(RLIMIT_AS.rawValue)), &r) == 0, r.rlim_cur != rlim_t.max {
                _ = glibcMallopt(-8, arenas)  // M_ARENA_MAX (malloc.h)
            }
        #endif
    }

    /// A field of /proc/self/status in bytes (VmSize, VmData, VmHWM, …); nil where there is none.
    public static func status(_ field: String) -> Double? {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix(field + ":") {
            let parts = line.split(separator: " ", omittingEmptySubsequences: true)
            if parts.count >= 2, let kib = Double(parts[1]) { return kib * 1024 }
        }
        return nil
    }

    /// Bytes as GiB (or TiB), three significant digits.
    public static func gibibytes(_ bytes: Double) -> String {
        bytes >= 1024 * 1024 * 1024 * 1024
            ? String(format: "%.3g TiB", bytes / 1_099_511_627_776) : String(format: "%.3g GiB", bytes / 1_073_741_824)
    }
}
