import DLNModel
import DLNRun
import DLNTheory
import Foundation

/// Progress on stderr: on a terminal one line rewritten in place; otherwise a plain line every 10% or 30 s;
/// nothing when quiet. Shows the fraction done, replica-steps/s and the time left.
final class ProgressLine {
    let enabled: Bool
    let terminal: Bool
    let start = Date()
    var last = Date.distantPast
    var lastFraction = -1.0
    var shown = false

    init(enabled: Bool) {
        self.enabled = enabled
        terminal = isatty(STDERR_FILENO) != 0
    }

    func update(done: Double, total: Double) {
        guard enabled, total > 0 else { return }
        let now = Date()
        let fraction = done / total
        if terminal {
            guard now.timeIntervalSince(last) > 0.2 || done == total else { return }
        } else {
            guard
                fraction - lastFraction >= 0.1 || now.timeIntervalSince(last) > 30
                    || (done == total && lastFraction < 1)
            else { return }
        }
        last = now
        lastFraction = fraction
        let elapsed = now.timeIntervalSince(start)
        let rate = elapsed > 0 ? done / elapsed : 0
        let eta = done > 0 ? elapsed * (total - done) / done : 0
        let text = String(
            format: "%5.1f%%  %.3g replica-steps/s  elapsed %.0f s  ETA %.0f s", 100 * fraction, rate, elapsed, eta)
        FileHandle.standardError.write(Data((terminal ? "\r" + text + "   " : "progress: " + text + "\n").utf8))
        shown = true
    }

    func finish() {
        if shown && terminal { FileHandle.standardError.write(Data("\n".utf8)) }
    }
}
