import DLNModel
import DLNRun
import DLNTheory
import Foundation

/// How `dlnsim run` shows its progress on stderr.
enum ProgressStyle: String, CaseIterable {
    /// On a terminal one line rewritten in place; otherwise a plain line every 10% or 30 s.
    case auto
    /// One JSON object per line (`Messages`): start, progress (at most 5 a second), warning, note, done, error.
    case json
    /// Nothing.
    case none
}

/// Progress on stderr: the fraction done, replica-steps/s, the time left and the median train loss at the last
/// checkpoint reached.
final class ProgressLine {
    let style: ProgressStyle
    let terminal: Bool
    let start = Date()
    var last = Date.distantPast
    var lastFraction = -1.0
    var shown = false
    /// The last checkpoint reached: its index, the number of checkpoints and the median train loss there.
    var reached: LiveCheckpoint? = nil

    init(style: ProgressStyle) {
        self.style = style
        terminal = isatty(STDERR_FILENO) != 0
    }

    var elapsed: Double { Date().timeIntervalSince(start) }

    /// Whether a line with a train loss has been shown.
    var lossShown = false

    /// A checkpoint was reached: its loss shows now if none has been shown yet, else with the next update.
    func reach(_ point: LiveCheckpoint) {
        reached = point
        update(done: point.done, total: point.total, force: !lossShown && point.trainLossMedian.isFinite)
    }

    func update(done: Double, total: Double) { update(done: done, total: total, force: false) }

    func update(done: Double, total: Double, force: Bool) {
        guard style != .none, total > 0 else { return }
        let now = Date()
        let fraction = done / total
        if force {
            // Shown now, whatever the rate limit.
        } else if terminal || style == .json {
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
        if reached?.trainLossMedian.isFinite == true { lossShown = true }
        if style == .json {
            Messages.emit([
                "event": "progress", "done": done, "total": total, "fraction": fraction, "rate": rate,
                "elapsed": elapsed, "eta": eta, "checkpoint": reached.map { $0.checkpoint + 1 } ?? 0,
                "checkpoints": reached?.checkpoints ?? 0, "batch": (reached?.batch ?? 0) + 1,
                "batches": reached?.batches ?? 1, "train_loss_median": reached?.trainLossMedian ?? Double.nan
            ])
            return
        }
        var text = String(
            format: "%5.1f%%  %.3g replica-steps/s  elapsed %.0f s  ETA %.0f s", 100 * fraction, rate, elapsed, eta)
        if let r = reached, r.trainLossMedian.isFinite {
            text += String(
                format: "  train loss %.4g (median, checkpoint %d/%d)", r.trainLossMedian, r.checkpoint + 1,
                r.checkpoints)
        }
        FileHandle.standardError.write(Data((terminal ? "\r" + text + "   " : "progress: " + text + "\n").utf8))
        shown = true
    }

    func finish() {
        if shown && terminal { FileHandle.standardError.write(Data("\n".utf8)) }
    }
}
