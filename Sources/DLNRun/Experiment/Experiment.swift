import DLNModel
import DLNTheory
import Foundation

/// Turns a validated configuration into batches: generates or loads the data, draws the initialisations,
/// and fixes the checkpoint schedule. Deterministic: the same configuration gives the same batches on every
/// machine. Grid points that share the data and the model's shape (they differ in α, λ, η only) run as one
/// batch; each other combination of the grid's axes is a batch of its own.
public struct Experiment: Sendable {
    /// The configuration this experiment realises.
    public let configuration: Configuration
    /// Every grid point, in output order (axes nested in the order of `GridPoint`'s fields, α outermost).
    public let gridPoints: [GridPoint]
    /// The seeds (each grid point runs one replica per seed).
    public let seeds: [Int]
    /// The batches, with the grid points each holds.
    public let groups: [Group]
    /// `steps[g][c]`: the step of checkpoint c of grid point g.
    public let steps: [[Int]]
    /// `training.schedule` (other than constant): the times η·S_k of every grid point's checkpoints; nil without.
    let scheduledTimes: [[Double]]?
    /// Grid points whose first step is below one ulp of the parameters in the run's precision (see
    /// `PrecisionLimits`): run and manifest.json warn about them.
    public private(set) var precisionWarnings: [String] = []

    /// One grid point's values.
    public struct GridPoint: Sendable, Hashable {
        public let alpha: Double
        public let weightDecay: Double
        public let learningRate: Double
        public let d: Int
        public let n: Int
        public let noise: Double
        public let density: Double
        public let depth: Int
        public let parameterization: Parameterization
        public let update: UpdateRule
        /// λ_u = 2·factor·λ.
        public let lambdaU: Double
        /// `update: sgd`: rows per step (nil: n).
        public let batchSize: Int?
        /// Label noise σ_ℓ and Langevin temperature T.
        public let labelNoise: Double
        public let gradientNoise: Double
        /// Momentum β.
        public let momentum: Double
    }

    /// A batch and the grid points (indices into `gridPoints`) whose replicas it holds, point-major, seed-minor.
    public struct Group: Sendable {
        public let batch: Batch
        public let points: [Int]
        /// The steps of its checkpoints (ascending; the same count for every group); −1 for update flow.
        public let checkpoints: [Int]
        /// Update flow: the times of its checkpoints (nil for the fixed-step updates).
        public let flowTimes: [Double]?

        /// Units of work for progress reports: replica-steps, or for update flow 100 per replica and checkpoint.
        public var work: Double {
            let B = Double(batch.layout.replicas)
            if let times = flowTimes { return B * 100 * Double(times.count) }
            return B * Double(checkpoints.last ?? 0)
        }
    }

    /// A column of grid.csv and stats.csv.
    public struct GridColumn: Sendable {
        public let name: String
        public let value: @Sendable (GridPoint) -> String
    }

    /// The grid's columns, for the tables: the grid axes of `ConfigurationKeys` with the derived λ_u and n.
    public var gridColumns: [GridColumn] { ConfigurationKeys.gridColumns }

    /// Checkpoints per grid point.
    public var checkpointCount: Int { groups.first?.checkpoints.count ?? 0 }
    /// Total replicas over all batches.
    public var replicaCount: Int { gridPoints.count * seeds.count }
    /// `times[g][c]`: gradient-flow time of each checkpoint: steps·η for the fixed-step updates, t = η·S_k =
    /// Σ_{j<k} η_j under a learning-rate schedule.
    public var times: [[Double]] {
        var out =
            scheduledTimes
            ?? steps.enumerated().map { g, s in s.map { Double($0) * gridPoints[g].learningRate } }
        for group in groups { if let t = group.flowTimes { for g in group.points { out[g] = t } } }
        return out
    }
    /// True when some grid point runs update flow.
    public var hasFlow: Bool { groups.contains { $0.flowTimes != nil } }
    /// The first (or only) batch.
    public var batch: Batch { groups[0].batch }
    /// The summation order of each batch (`training.summation`, resolved per batch).
    public var summationOrders: [SummationOrder] { groups.map(\.batch.summation) }
    /// Steps of the first batch's checkpoints.
    public var checkpoints: [Int] { groups[0].checkpoints }
    /// Replica-steps of the whole run.
    public var totalReplicaSteps: Double {
        groups.reduce(0) {
            $0 + ($1.flowTimes == nil ? Double($1.checkpoints.last ?? 0) * Double($1.batch.layout.replicas) : 0)
        }
    }
    /// Units of work of the whole run (progress reports).
    public var totalWork: Double { groups.reduce(0) { $0 + $1.work } }

    /// The grid points: every combination of the axes' values (`Configuration.gridIndices`: zipped axes pair up),
    /// α outermost.
    static func gridPoints(_ c: Configuration) -> [GridPoint] {
        let p = c.problem
        let g = c.grid
        let (ds, deltas, noises) = (g.d ?? [p.d], g.delta ?? [p.delta ?? -1], g.noise ?? [p.noise])
        let (densities, depths) = (g.density ?? [p.teacherDensity], g.depth ?? [c.model.depth])
        let (models, updates) = (g.parameterization ?? [c.model.parameterization], g.update ?? [c.training.update])
        return c.gridIndices.map { i in
            let (d, delta, model, l) = (ds[i[3]], deltas[i[4]], models[i[8]], g.weightDecay[i[1]])
            let n = delta > 0 ? max(1, Int((delta * Double(d)).rounded())) : p.n
            return GridPoint(
                alpha: g.alpha[i[0]], weightDecay: l, learningRate: g.learningRate[i[2]], d: d, n: n,
                noise: noises[i[5]], density: densities[i[6]], depth: model.family.fixedDepth ?? depths[i[7]],
                parameterization: model, update: updates[i[9]], lambdaU: 2 * c.training.decayFactor * l,
                batchSize: updates[i[9]] == .sgd ? (g.batchSize?[i[10]] ?? c.training.batchSize) : nil,
                labelNoise: g.labelNoise?[i[11]] ?? c.training.labelNoise,
                gradientNoise: g.gradientNoise?[i[12]] ?? c.training.gradientNoise,
                momentum: g.momentum?[i[13]] ?? c.training.momentum)
        }
    }

    /// What makes two grid points need different batches.
    struct GroupKey: Hashable {
        let d: Int, n: Int, noise: Double, density: Double, depth: Int
        let parameterization: Parameterization, update: UpdateRule
        let eta: Double?  // only with a horizon in t: each η runs its own number of steps
    }

    /// The grid points of each batch, in the order the batches run.
    static func batches(_ c: Configuration, points: [GridPoint]) -> (order: [GroupKey], members: [GroupKey: [Int]]) {
        var order: [GroupKey] = []
        var members: [GroupKey: [Int]] = [:]
        for (g, p) in points.enumerated() {
            let key = GroupKey(
                d: p.d, n: p.n, noise: p.noise, density: p.density, depth: p.depth,
                parameterization: p.parameterization, update: p.update,
                eta: c.training.horizon == nil || p.update == .flow ? nil : p.learningRate)
            if members[key] == nil { order.append(key) }
            members[key, default: []].append(g)
        }
        return (order, members)
    }

    /// The replicas of each batch (grid points × seeds), from the configuration alone (no data are made).
    public static func batchSizes(_ c: Configuration) -> [Int] {
        let (order, members) = batches(c, points: gridPoints(c))
        return order.map { members[$0]!.count * c.seeds }
    }

    /// Builds the experiment (reads user files if the configuration names them).
    public init(_ c: Configuration) throws(DLNError) {
        configuration = c
        // User data fix d and n: read (and check) the files first, so that the grid lists their shape.
        var user: UserData? = nil
        if let files = c.problem.files { user = try UserData.load(files, configuration: c) }
        var shaped = c
        if let user { (shaped.problem.d, shaped.problem.n) = (user.d, user.n) }
        let points = Self.gridPoints(shaped)
        gridPoints = points
        seeds = (0..<c.seeds).map { c.seedOffset + $0 }
        var previous: PreviousLayers? = nil
        if let from = c.model.initFrom { previous = try PreviousLayers.load(from, gridPoints: points, seeds: seeds) }
        let (order, members) = Self.batches(c, points: points)
        let rates = c.learningRateSchedule
        // The checkpoint schedule: in steps, or in time t (then per learning rate).
        let count = c.record.checkpoints
        var groups: [Group] = []
        var steps = [[Int]](repeating: [], count: points.count)
        for key in order {
            let indices = members[key]!
            let schedule: [Int]
            var flowTimes: [Double]? = nil
            if key.update == .flow, let horizon = c.training.horizon {
                let first = min(c.record.start ?? c.grid.learningRate.max()!, horizon)
                flowTimes = Self.timeSchedule(horizon: horizon, first: first, count: count, linear: c.record.linear)
                schedule = [Int](repeating: -1, count: flowTimes!.count)
            } else if let horizon = c.training.horizon {
                let etaMax = c.grid.learningRate.max()!
                let first = min(max(etaMax, c.record.start ?? etaMax), horizon)
                let times = Self.timeSchedule(horizon: horizon, first: first, count: count, linear: c.record.linear)
                schedule = Self.distinctSteps(times: times, eta: key.eta!, etaMax: etaMax, schedule: rates)
            } else {
                schedule = Self.schedule(
                    steps: c.training.steps, count: count, explicit: c.record.steps,
                    start: Int((c.record.start ?? 1).rounded()), linear: c.record.linear)
            }
            for g in indices { steps[g] = schedule }
            let batch = try Self.batch(
                c, points: indices.map { ($0, points[$0]) }, seeds: seeds, user: user, previous: previous, rates: rates)
            groups.append(Group(batch: batch, points: indices, checkpoints: schedule, flowTimes: flowTimes))
        }
        self.groups = groups
        self.steps = steps
        if rates.isConstant {
            scheduledTimes = nil
        } else {
            var memo: [[Int]: [Double]] = [:]  // S_k once per distinct list of checkpoint steps
            scheduledTimes = steps.enumerated().map { g, s in
                if memo[s] == nil { memo[s] = rates.sums(at: s) }
                return memo[s]!.map { $0 * points[g].learningRate }
            }
        }
        precisionWarnings = PrecisionLimits.stalledPoints(self)
    }

    /// User data read from .npy files, shared by every grid point.
    struct UserData {
        let dataset: Dataset
        let initial: (u: [Double], v: [Double])?
        let d: Int, n: Int

        /// The test error's scale v of ‖w − w*‖²_Σ = v·‖w − w*‖² for user data with `w_star` and no held-out set:
        /// the design's mean square entry ‖X‖²_F/(nd) (an isotropic test distribution with the training data's
        /// variance; 1 for standardised columns). nil with a held-out set or without a teacher.
        var designVariance: Double? {
            guard dataset.test == nil, dataset.wStar != nil else { return nil }
            let x = dataset.x.doubles
            return x.reduce(0) { $0 + $1 * $1 } / Double(n * d)
        }

        static func load(_ files: Configuration.DataFiles, configuration c: Configuration) throws(DLNError) -> UserData
        {
            let precision = c.training.precision
            let x = try NPY.read(path: files.x)
            guard x.shape.count == 2 else {
                throw .badFile(path: files.x, reason: "X must be a 2-D array (n, d), got shape \(x.shape)")
            }
            let n = x.shape[0]
            let d = x.shape[1]
            guard n >= 1, d >= 1 else {
                throw .badFile(path: files.x, reason: "X has an empty dimension, shape \(x.shape)")
            }
            let y = try NPY.read(path: files.y)
            guard y.values.count == n, y.shape.count == 1 || (y.shape.count == 2 && y.shape[1] == 1) else {
                throw .badFile(
                    path: files.y, reason: "y must have shape (\(n),) to match X of shape (\(n), \(d)), got \(y.shape)")
            }
            var wStar: [Double]? = nil
            if let path = files.wStar {
                let w = try NPY.read(path: path)
                guard w.values.count == d, w.shape.count == 1 else {
                    throw .badFile(
                        path: path,
                        reason: "w_star must have shape (\(d),) to match X of shape (\(n), \(d)), got \(w.shape)")
                }
                wStar = w.values
            }
            for (path, label, array) in [
                (files.x, "X", x.values), (files.y, "y", y.values), (files.wStar ?? "", "w_star", wStar ?? [])
            ] {
                if let k = array.firstIndex(where: { !$0.isFinite }) {
                    throw .badFile(
                        path: path,
                        reason: "\(label) holds a non-finite value (\(array[k])) at "
                            + (label == "X" ? "row \(k / d), column \(k % d)" : "index \(k)") + " (0-based)")
                }
            }
            var test: (x: RealArray, y: RealArray)? = nil
            if let xtPath = files.xTest, let ytPath = files.yTest {
                let xt = try NPY.read(path: xtPath)
                let yt = try NPY.read(path: ytPath)
                guard xt.shape.count == 2, xt.shape[1] == d, xt.shape[0] >= 1 else {
                    throw .badFile(
                        path: xtPath,
                        reason:
                            "X_test must have shape (n_test, \(d)) to match X of shape (\(n), \(d)), got \(xt.shape)")
                }
                guard yt.values.count == xt.shape[0], yt.shape.count == 1 || (yt.shape.count == 2 && yt.shape[1] == 1)
                else {
                    throw .badFile(
                        path: ytPath,
                        reason: "y_test must have shape (\(xt.shape[0]),) to match X_test, got \(yt.shape)")
                }
                if let k = xt.values.firstIndex(where: { !$0.isFinite }) {
                    throw .badFile(
                        path: xtPath,
                        reason:
                            "X_test holds a non-finite value (\(xt.values[k])) at row \(k / d), column \(k % d) "
                            + "(0-based)"
                    )
                }
                if let k = yt.values.firstIndex(where: { !$0.isFinite }) {
                    throw .badFile(
                        path: ytPath,
                        reason: "y_test holds a non-finite value (\(yt.values[k])) at index \(k) (0-based)")
                }
                test = (RealArray(xt.values, precision: precision), RealArray(yt.values, precision: precision))
            }
            var initial: (u: [Double], v: [Double])? = nil
            if files.u0 != nil || files.v0 != nil {
                guard !c.model.parameterization.isDeep, c.grid.parameterization == nil, let u0p = files.u0,
                    let v0p = files.v0
                else {
                    throw .invalidProblem(
                        "problem.files: u0 and v0 must be given together, for parameterization pm or uv")
                }
                let u0 = try NPY.read(path: u0p)
                let v0 = try NPY.read(path: v0p)
                for (p, a) in [(u0p, u0), (v0p, v0)]
                where a.values.count != d || a.shape.count != 1 || a.values.contains(where: { !$0.isFinite }) {
                    throw .badFile(
                        path: p,
                        reason: "an initial layer must have shape (\(d),) with finite values, got shape \(a.shape)")
                }
                if c.grid.alpha.count > 1 {
                    throw .invalidProblem(
                        "grid.alpha: u0 and v0 from files fix the initialisation: list one alpha (it only labels the "
                            + "run)"
                    )
                }
                initial = (u0.values, v0.values)
            }
            let dataset = Dataset(
                x: RealArray(x.values, precision: precision), y: RealArray(y.values, precision: precision),
                wStar: wStar, test: test)
            return UserData(dataset: dataset, initial: initial, d: d, n: n)
        }
    }

    /// The batch of grid points that share data and shape: replicas point-major, seed-minor.
    static func batch(
        _ c: Configuration, points: [(index: Int, point: GridPoint)], seeds: [Int], user: UserData?,
        previous: PreviousLayers? = nil, rates: LearningRateSchedule = .constant
    ) throws(DLNError) -> Batch {
        let precision = c.training.precision
        let first = points[0].point
        let d = user?.d ?? first.d
        let n = user?.n ?? first.n
        var problem = c.problem
        problem.noise = first.noise
        problem.teacherDensity = first.density
        let shared = user != nil || c.problem.sharing == .shared
        let datasets: [Dataset]
        if let user {
            datasets = [user.dataset]
        } else {
            let dataSeeds = shared ? [c.problem.dataSeed] : seeds.map { c.problem.dataSeed + $0 }
            let slots = SharedSlots<Dataset>(count: dataSeeds.count)
            let frozen = problem
            DispatchQueue.concurrentPerform(iterations: dataSeeds.count) { k in
                slots[k] = Self.synthetic(seed: dataSeeds[k], d: d, n: n, problem: frozen, precision: precision)
            }
            datasets = slots.values
        }
        let layers = first.parameterization.family.layerCount(depth: first.depth)
        var replicas: [Replica] = []
        var initial = [[Double]](repeating: [], count: layers)
        let representation =
            c.training.representation
            ?? (first.update == .flow && first.parameterization.family.hasLogRepresentation ? .log : .layers)
        let wantsLog = representation == .log && first.parameterization.family.hasLogRepresentation
        let initSettings = InitSettings(
            uNoise: c.model.uNoise, vNoise: c.model.vNoise, layerScales: c.model.layerScales,
            entries: c.model.initEntries, signs: c.model.initSigns)
        var logMag = [[Double]](repeating: [], count: 2)
        var logSign = [[Double]](repeating: [], count: 2)
        for (index, point) in points {
            for (s, seed) in seeds.enumerated() {
                replicas.append(
                    Replica(
                        gridPoint: index, seed: seed, dataset: shared ? 0 : s, alpha: point.alpha,
                        lambda: point.weightDecay, lambdaU: point.lambdaU, eta: point.learningRate,
                        batchSize: point.batchSize, labelNoise: point.labelNoise, gradientNoise: point.gradientNoise,
                        momentum: point.momentum))
                let a = point.alpha
                let rng = CounterRNG(seed: UInt64(seed))
                // u_l(0) = α·f_l (user files and model.init.from: absolute values, α = 1 here); the family draws f.
                let scale = user?.initial == nil && previous == nil ? a : 1
                let factors: [[Double]]
                if let previous {
                    factors = previous.factors(point: index, seed: s)
                } else if let f = user?.initial {
                    factors = [f.u, f.v]
                } else {
                    factors = first.parameterization.family.initialFactors(
                        d: d, depth: layers, settings: initSettings, rng: rng)
                }
                for l in 0..<layers { initial[l] += factors[l].map { scale * $0 } }
                if wantsLog {
                    for (l, f) in factors.prefix(2).enumerated() {
                        logMag[l] += f.map { Foundation.log(scale) + Foundation.log(abs($0)) }
                        logSign[l] += f.map { $0 < 0 ? -1 : 1 }
                    }
                }
            }
        }
        if first.update == .sgd, let big = points.compactMap(\.point.batchSize).first(where: { $0 > n }) {
            throw .invalidProblem(
                "\(c.grid.batchSize != nil ? "grid" : "training").batch_size: b = \(big) is larger than n = \(n), the "
                    + "rows of the data set")
        }
        let batch = try Batch(
            parameterization: first.parameterization, update: first.update, loss: c.training.loss,
            precision: precision, dimension: d, samples: n, datasets: datasets, replicas: replicas,
            initialLayers: initial.map { RealArray($0, precision: precision) },
            observables: c.observableSet,
            designVariance: user.map(\.designVariance) ?? (c.problem.designVariance == .one ? 1 : 1 / Double(d)),
            representation: representation, flow: c.training.flow,
            logInitial: wantsLog ? LogLayers(magnitude: logMag, sign: logSign) : nil, sampling: c.training.sampling,
            nesterov: c.training.nesterov == .on, schedule: rates)
        if c.training.summation == .strided && !batch.stridedApplies {
            throw .invalidProblem(
                "training.summation: strided applies to update gd or multiplicative in the products form (n ≤ d/2) "
                    + "without noise or momentum; the batch of d = \(d), n = \(n), update \(first.update.rawValue) "
                    + (batch.gradientForm == .gram ? "takes the Gram form (n > d/2)" : "is not one")
                    + "; use auto or ascending")
        }
        let order = c.training.summation.order(for: batch)
        return order == batch.summation ? batch : try batch.with(summation: order)
    }

    /// A synthetic Gaussian data set (docs/model.md §1.4): X with iid N(0, 1) or N(0, 1/d) entries, a teacher with
    /// Bernoulli(ρ) (or exactly ρd) support, y = Xw* + σε. X is rounded to the run's precision before y is
    /// formed, so y is exactly the teacher's labels on the stored X (plus noise).
    public static func synthetic(seed: Int, d: Int, n: Int, problem p: Configuration.Problem, precision: Precision)
        -> Dataset
    {
        let rng = CounterRNG(seed: UInt64(seed))
        let scale = p.designVariance == .one ? 1.0 : 1.0 / Double(d).squareRoot()
        let x: [Double] = (0..<(n * d)).map { k in
            let v = scale * rng.gaussian(stream: RandomStream.design.rawValue, index: UInt64(k))
            return precision == .float32 ? Double(Float(v)) : v
        }
        var support = [Bool](repeating: false, count: d)
        switch p.teacherSupport {
        case .bernoulli:
            for j in 0..<d {
                support[j] =
                    rng.uniform(stream: RandomStream.teacherSupport.rawValue, index: UInt64(j)) < p.teacherDensity
            }
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
}
