import DLNModel
import DLNRun
import DLNTheory
import Foundation
import Synchronization

/// The signal that asked the run to stop (0: none). Set by the handler, polled between chunks of steps.
let stopSignal = Atomic<Int32>(0)

/// SIGINT and SIGTERM ask the run to stop after its next checkpoint; a second one ends it at once (the
/// checkpoint file is replaced atomically, so even then it stays whole).
func installStopHandlers() {
    // A parent may have started us with these blocked (the mask is inherited): unblock them.
    var set = sigset_t()
    sigemptyset(&set)
    sigaddset(&set, SIGINT)
    sigaddset(&set, SIGTERM)
    pthread_sigmask(SIG_UNBLOCK, &set, nil)
    for sig in [SIGINT, SIGTERM] {
        signal(sig) { s in
            stopSignal.store(s, ordering: .relaxed)
            signal(s, SIG_DFL)
        }
    }
}

/// A file-size limit (`ulimit -f`) makes write() past it raise SIGXFSZ, which kills the process by default and
/// loses what was computed: ignored, the write fails with EFBIG like any other, and the run keeps its results
/// (the previous checkpoint, a fallback folder).
func ignoreFileSizeSignal() {
    signal(SIGXFSZ, SIG_IGN)
}

var stopRequested: Bool { stopSignal.load(ordering: .relaxed) != 0 }
