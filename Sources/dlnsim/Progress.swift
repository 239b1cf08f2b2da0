import Foundation

/// One line on stderr, rewritten in place: fraction done, replica-steps/s, time left.
final class ProgressLine {
    let enabled: Bool
    let replicas: Int
    let start = Date()
    var last = Date.distantPast
    var shown = false

    init(enabled: Bool, replicas: Int) {
        self.enabled = enabled && isatty(STDERR_FILENO) != 0
        self.replicas = replicas
    }

    func update(done: Int, total: Int) {
        guard enabled, total > 0 else { return }
        let now = Date()
        guard now.timeIntervalSince(last) > 0.2 || done == total else { return }
        last = now
        let elapsed = now.timeIntervalSince(start)
        let rate = elapsed > 0 ? Double(done) * Double(replicas) / elapsed : 0
        let eta = done > 0 ? elapsed * Double(total - done) / Double(done) : 0
        let line = String(format: "\r%5.1f%%  step %d/%d  %.3g replica-steps/s  ETA %.0f s   ",
                          100 * Double(done) / Double(total), done, total, rate, eta)
        FileHandle.standardError.write(Data(line.utf8))
        shown = true
    }

    func finish() {
        if shown { FileHandle.standardError.write(Data("\n".utf8)) }
    }
}
