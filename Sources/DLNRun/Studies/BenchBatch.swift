import DLNDevice
import DLNModel
import DLNTheory

extension Bench {
    /// The batch of a benchmark: d × n Gaussian problem, B replicas, shared (S) or independent (I) data; gd, or with
    /// `sgdBatch` b, update sgd with b rows per step drawn with replacement.
    public static func batch(
        regime: String, replicas: Int, d: Int, n: Int, precision: Precision, sgdBatch: Int? = nil
    ) throws(DLNError) -> Batch {
        var c = Configuration()
        c.problem.d = d
        c.problem.n = n
        c.problem.delta = nil
        c.problem.sharing = regime == "I" ? .independent : .shared
        c.grid.alpha = [0.1]
        c.grid.learningRate = [0.01]
        c.seeds = replicas
        c.training.steps = 1
        c.training.precision = precision
        c.record.thresholds = []
        if let b = sgdBatch {
            c.training.update = .sgd
            c.training.batchSize = b
        }
        return try Experiment(c).batch
    }
}
