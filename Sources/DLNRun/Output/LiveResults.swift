import DLNModel
import Foundation

extension OutputDirectory {
    /// The live results of a running job: `DIR/.dlnsim-live/`, the files of a finished folder as far as the run has got.
    public static let liveName = ".dlnsim-live"

    /// The live-results folder, `DIR/.dlnsim-live`.
    public var live: String { path + "/" + Self.liveName }

    /// Writes a new live-results folder: `body` fills `DIR/.dlnsim-live.new`, which then replaces `DIR/.dlnsim-live`
    /// by two renames (a reader that finds a file missing in between reads again).
    public func writeLive(_ body: (String) throws(DLNError) -> Void) throws(DLNError) {
        let fresh = live + ".new"
        let old = live + ".old"
        Self.remove(fresh)
        Self.remove(old)
        guard mkdir(fresh, 0o755) == 0 else {
            throw .outputFailure(path: fresh, reason: String(cString: strerror(errno)))
        }
        do throws(DLNError) { try body(fresh) } catch {
            Self.remove(fresh)
            throw error
        }
        if Self.exists(live) && rename(live, old) != 0 {
            throw .outputFailure(path: live, reason: String(cString: strerror(errno)))
        }
        guard rename(fresh, live) == 0 else {
            throw .outputFailure(path: live, reason: String(cString: strerror(errno)))
        }
        Self.remove(old)
    }

    /// Removes the live results (the run's final files are in place, or a new run starts in the folder).
    public func removeLive() {
        for name in [live, live + ".new", live + ".old"] { Self.remove(name) }
    }
}

/// Writes a running job's results so far into `DIR/.dlnsim-live/` as checkpoints are reached: at the first
/// checkpoint, then at most every 2 s, and never more often than keeps this writing under a tenth of the run's time.
/// The last checkpoint of the run is left to the final files. A failure to write warns once and the run goes on.
final class LiveResults {
    let directory: OutputDirectory
    let experiment: Experiment
    let started: Date
    let note: (String) -> Void
    var last = -Double.infinity
    var cost = 0.0
    var failed = false

    init(directory: OutputDirectory, experiment: Experiment, started: Date, note: @escaping (String) -> Void) {
        self.directory = directory
        self.experiment = experiment
        self.started = started
        self.note = note
    }

    static var now: Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

    func offer(_ point: LiveCheckpoint) {
        let final = point.checkpoint == point.checkpoints - 1 && point.batch == point.batches - 1
        let t = Self.now
        guard !failed, !final, t - last >= max(2, 10 * cost) else { return }
        do throws(DLNError) {
            try directory.writeLive { folder throws(DLNError) in
                var results = point.results()
                results.recording = nil  // the trajectories come with the finished run only
                results.finalStates = nil
                let info: [String: Any] = [
                    "checkpoints_done": point.checkpoint + 1, "checkpoints": point.checkpoints,
                    "batch": point.batch + 1, "batches": point.batches,
                    "fraction": point.total > 0 ? point.done / point.total : 0,
                    "train_loss_median": point.trainLossMedian.isFinite ? point.trainLossMedian : NSNull(),
                    "updated": isoTime(Date()),
                    "meaning":
                        "a running job's results so far: entries not computed yet are NaN; the batch in the engine has "
                        + "reached checkpoints_done of its checkpoints (earlier batches are complete)"
                ]
                try RunOutput.write(results, experiment: experiment, to: folder, started: started, live: info)
            }
        } catch {
            failed = true
            note("warning: the live results could not be written (\(error)); the run goes on")
        }
        last = Self.now
        cost = last - t
    }
}
