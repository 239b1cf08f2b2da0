import Dispatch
import Foundation

/// Slots that concurrent workers fill at disjoint indices (each index is written by one worker only, so no lock).
public final class SharedSlots<T>: @unchecked Sendable {  // disjoint writes, read after the workers finish
    private let storage: UnsafeMutableBufferPointer<T?>
    /// `count` empty slots.
    public init(count: Int) {
        storage = .allocate(capacity: count)
        storage.initialize(repeating: nil)
    }
    deinit {
        storage.baseAddress?.deinitialize(count: storage.count)
        storage.deallocate()
    }
    /// Slot i.
    public subscript(i: Int) -> T? {
        get { storage[i] }
        set { storage[i] = newValue }
    }
    /// Every slot, which must all be filled.
    public var values: [T] { storage.map { $0! } }
}

/// Host facts.
public enum System {
    /// Number of online cores.
    public static var coreCount: Int { max(1, ProcessInfo.processInfo.activeProcessorCount) }
    /// The CPU's model name (Linux: the first `model name` of /proc/cpuinfo), or nil where it cannot be read.
    public static var cpuModel: String? {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("model name") {
            if let colon = line.firstIndex(of: ":") {
                return line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
        }
        return nil
    }
}
