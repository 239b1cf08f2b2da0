import DLNDevice
import DLNModel
import DLNTheory

extension Bench {
    /// The batch of a benchmark: d × n Gaussian problem, B replicas, shared (S) or independent (I) data.
    public static func batch(regime: String, replicas: Int, d: Int, n: Int, precision: Precision) throws(DLNError)
        -> Batch
    {
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
        return try Experiment(c).batch
    }
}
