import Foundation

/// Turns a validated configuration into a batch: generates or loads the data, draws the
/// initialisations, and fixes the checkpoint schedule. Deterministic: the same configuration gives the
/// same batch on every machine.
public struct Experiment: Sendable {
    /// The configuration this experiment realises.
    public let configuration: Configuration
    /// The batch to run.
    public let batch: Batch
    /// Steps at which observables are recorded (ascending, starting at 0, ending at training.steps).
    public let checkpoints: [Int]

    /// One grid point's values.
    public struct GridPoint: Sendable, Hashable {
        public let alpha: Double
        public let weightDecay: Double
        public let learningRate: Double
    }

    /// The grid points in output order (α outermost, then λ, then η).
    public var gridPoints: [GridPoint] { Self.gridPoints(configuration) }

    static func gridPoints(_ c: Configuration) -> [GridPoint] {
        var out: [GridPoint] = []
        for a in c.grid.alpha {
            for l in c.grid.weightDecay {
                for e in c.grid.learningRate { out.append(GridPoint(alpha: a, weightDecay: l, learningRate: e)) }
            }
        }
        return out
    }

    /// Builds the experiment (reads user files if the configuration names them).
    public init(_ c: Configuration) throws(DLNError) {
        configuration = c
        checkpoints = Self.schedule(steps: c.training.steps, count: c.record.checkpoints, explicit: c.record.steps)
        let precision = c.training.precision
        let seeds = (0..<c.seeds).map { c.seedOffset + $0 }

        // Data sets.
        var datasets: [Dataset] = []
        let d: Int, n: Int
        var initFromFiles: (u: [Double], v: [Double])? = nil
        if let files = c.problem.files {
            let x = try NPY.read(path: files.x)
            guard x.shape.count == 2 else { throw .badFile(path: files.x, reason: "X must be a 2-D array (n, d), got shape \(x.shape)") }
            n = x.shape[0]; d = x.shape[1]
            guard n >= 1, d >= 1 else { throw .badFile(path: files.x, reason: "X has an empty dimension, shape \(x.shape)") }
            let y = try NPY.read(path: files.y)
            guard y.values.count == n, y.shape.count == 1 || (y.shape.count == 2 && y.shape[1] == 1) else {
                throw .badFile(path: files.y, reason: "y must have shape (\(n),) to match X of shape (\(n), \(d)), got \(y.shape)")
            }
            var wStar: [Double]? = nil
            if let path = files.wStar {
                let w = try NPY.read(path: path)
                guard w.values.count == d, w.shape.count == 1 else {
                    throw .badFile(path: path, reason: "w_star must have shape (\(d),) to match X of shape (\(n), \(d)), got \(w.shape)")
                }
                wStar = w.values
            }
            for (label, array) in [("X", x.values), ("y", y.values), ("w_star", wStar ?? [])] {
                if let k = array.firstIndex(where: { !$0.isFinite }) {
                    throw .badFile(path: label == "X" ? files.x : label == "y" ? files.y : files.wStar!, reason: "\(label) holds a non-finite value at flat index \(k)")
                }
            }
            var test: (x: RealArray, y: RealArray)? = nil
            if let xtPath = files.xTest, let ytPath = files.yTest {
                let xt = try NPY.read(path: xtPath), yt = try NPY.read(path: ytPath)
                guard xt.shape.count == 2, xt.shape[1] == d, xt.shape[0] >= 1 else {
                    throw .badFile(path: xtPath, reason: "X_test must have shape (n_test, \(d)) to match X of shape (\(n), \(d)), got \(xt.shape)")
                }
                guard yt.values.count == xt.shape[0], yt.shape.count == 1 || (yt.shape.count == 2 && yt.shape[1] == 1) else {
                    throw .badFile(path: ytPath, reason: "y_test must have shape (\(xt.shape[0]),) to match X_test, got \(yt.shape)")
                }
                if let k = xt.values.firstIndex(where: { !$0.isFinite }) { throw .badFile(path: xtPath, reason: "X_test holds a non-finite value at flat index \(k)") }
                if let k = yt.values.firstIndex(where: { !$0.isFinite }) { throw .badFile(path: ytPath, reason: "y_test holds a non-finite value at flat index \(k)") }
                test = (RealArray(xt.values, precision: precision), RealArray(yt.values, precision: precision))
            }
            datasets = [Dataset(x: RealArray(x.values, precision: precision), y: RealArray(y.values, precision: precision), wStar: wStar, test: test)]
            if files.u0 != nil || files.v0 != nil {
                guard c.model.parameterization != .deep, let u0p = files.u0, let v0p = files.v0 else {
                    throw .invalidConfiguration(file: "problem.files", issues: [ConfigIssue("problem.files", "u0 and v0 must be given together, for parameterization pm or uv")])
                }
                let u0 = try NPY.read(path: u0p), v0 = try NPY.read(path: v0p)
                for (p, a) in [(u0p, u0), (v0p, v0)] where a.values.count != d || a.shape.count != 1 || a.values.contains(where: { !$0.isFinite }) {
                    throw .badFile(path: p, reason: "an initial layer must have shape (\(d),) with finite values, got shape \(a.shape)")
                }
                if c.grid.alpha.count > 1 {
                    throw .invalidConfiguration(file: "grid.alpha", issues: [ConfigIssue("grid.alpha", "u0 and v0 from files fix the initialisation: list one alpha (it only labels the run)")])
                }
                initFromFiles = (u0.values, v0.values)
            }
        } else {
            d = c.problem.d; n = c.problem.n
            let dataSeeds = c.problem.sharing == .shared ? [c.problem.dataSeed] : seeds.map { c.problem.dataSeed + $0 }
            let problem = c.problem
            let slots = SharedSlots<Dataset>(count: dataSeeds.count)
            DispatchQueue.concurrentPerform(iterations: dataSeeds.count) { k in
                slots[k] = Self.synthetic(seed: dataSeeds[k], d: d, n: n, problem: problem, precision: precision)
            }
            datasets = slots.values
        }

        // Replicas and initial layers.
        let layers = c.model.parameterization == .deep ? c.model.depth : 2
        var replicas: [Replica] = []
        var initial = [[Double]](repeating: [], count: layers)
        for (g, point) in Self.gridPoints(c).enumerated() {
            for (s, seed) in seeds.enumerated() {
                replicas.append(Replica(gridPoint: g, seed: seed, dataset: c.problem.sharing == .shared || c.problem.files != nil ? 0 : s,
                                        alpha: point.alpha, lambda: point.weightDecay,
                                        lambdaU: 2 * c.training.decayFactor * point.weightDecay, eta: point.learningRate))
                let a = point.alpha
                let rng = CounterRNG(seed: UInt64(seed))
                switch c.model.parameterization {
                case .pm:
                    initial[0] += initFromFiles?.u ?? [Double](repeating: a, count: d)
                    initial[1] += initFromFiles?.v ?? [Double](repeating: a, count: d)
                case .uv:
                    if let f = initFromFiles { initial[0] += f.u; initial[1] += f.v; break }
                    initial[0] += (0..<d).map { j in
                        c.model.uNoise == 0 ? a : a * (1 + c.model.uNoise * rng.gaussian(stream: RandomStream.initU.rawValue, index: UInt64(j)))
                    }
                    initial[1] += (0..<d).map { j in
                        c.model.vNoise == 0 ? 0 : a * c.model.vNoise * rng.gaussian(stream: RandomStream.initV.rawValue, index: UInt64(j))
                    }
                case .deep:
                    for l in 0..<layers { initial[l] += [Double](repeating: a * (c.model.layerScales?[l] ?? 1), count: d) }
                }
            }
        }
        batch = try Batch(parameterization: c.model.parameterization, update: c.training.update, loss: c.training.loss,
                          precision: precision, dimension: d, samples: n, datasets: datasets, replicas: replicas,
                          initialLayers: initial.map { RealArray($0, precision: precision) },
                          observables: ObservableSet(thresholds: c.record.thresholds),
                          designVariance: c.problem.files != nil ? nil : (c.problem.designVariance == .one ? 1 : 1 / Double(d)))
    }

    /// A synthetic Gaussian data set (theory.md §1.4): X with iid N(0, 1) or N(0, 1/d) entries, a teacher with
    /// Bernoulli(ρ) (or exactly ρd) support, y = Xw* + σε. X is rounded to the run's precision before y is
    /// formed, so y is exactly the teacher's labels on the stored X (plus noise).
    public static func synthetic(seed: Int, d: Int, n: Int, problem p: Configuration.Problem, precision: Precision) -> Dataset {
        let rng = CounterRNG(seed: UInt64(seed))
        let scale = p.designVariance == .one ? 1.0 : 1.0 / Double(d).squareRoot()
        let x: [Double] = (0..<(n * d)).map { k in
            let v = scale * rng.gaussian(stream: RandomStream.design.rawValue, index: UInt64(k))
            return precision == .float32 ? Double(Float(v)) : v
        }
        var support = [Bool](repeating: false, count: d)
        switch p.teacherSupport {
        case .bernoulli:
            for j in 0..<d { support[j] = rng.uniform(stream: RandomStream.teacherSupport.rawValue, index: UInt64(j)) < p.teacherDensity }
        case .exact:
            let k = Int((p.teacherDensity * Double(d)).rounded())
            let order = (0..<d).sorted {
                rng.uniform(stream: RandomStream.teacherSupport.rawValue, index: UInt64($0))
                    < rng.uniform(stream: RandomStream.teacherSupport.rawValue, index: UInt64($1))
            }
            for j in order.prefix(k) { support[j] = true }
        }
        let wStar: [Double] = (0..<d).map { j in
            guard support[j] else { return 0 }
            switch p.teacherValues {
            case .ones: return 1
            case .signs: return rng.uniform(stream: RandomStream.teacherValue.rawValue, index: UInt64(j)) < 0.5 ? -1 : 1
            case .gaussian: return rng.gaussian(stream: RandomStream.teacherValue.rawValue, index: UInt64(j))
            }
        }
        let active = (0..<d).filter { support[$0] }
        let y: [Double] = (0..<n).map { i in
            var s = 0.0
            for j in active { s += x[i * d + j] * wStar[j] }
            if p.noise > 0 { s += p.noise * rng.gaussian(stream: RandomStream.labelNoise.rawValue, index: UInt64(i)) }
            return s
        }
        return Dataset(x: RealArray(x, precision: precision), y: RealArray(y, precision: precision), wStar: wStar)
    }

    /// Step 0, then `count` log-spaced steps from 1 to `steps` (deduplicated), or the explicit steps; always
    /// ends at `steps`.
    public static func schedule(steps: Int, count: Int, explicit: [Int]?) -> [Int] {
        var set: Set<Int> = [0, steps]
        if let explicit { set.formUnion(explicit) } else if steps >= 1 {
            let top = log(Double(steps))
            for k in 0..<count {
                let f = count == 1 ? 1.0 : Double(k) / Double(count - 1)
                set.insert(min(steps, max(1, Int(exp(top * f).rounded()))))
            }
        }
        return set.sorted()
    }
}

/// Slots that concurrent workers fill at disjoint indices.
final class SharedSlots<T>: @unchecked Sendable {  // each slot is written by one worker only
    private var storage: [T?]
    private let lock = NSLock()
    init(count: Int) { storage = [T?](repeating: nil, count: count) }
    subscript(i: Int) -> T? {
        get { lock.withLock { storage[i] } }
        set { lock.withLock { storage[i] = newValue } }
    }
    var values: [T] { storage.map { $0! } }
}
