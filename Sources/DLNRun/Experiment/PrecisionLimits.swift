import DLNModel
import Foundation

/// What a precision can carry. A run stored as layers starts from u_l = α·c_l and w ~ α^L·∏c_l; when either is
/// outside the precision's normal range the run cannot start (zero or infinite layers) or keeps only a few digits
/// (subnormal products), so it is refused. A first step smaller than one ulp of the parameters it moves leaves
/// them unchanged: the run is then constant, and the grid points are named in a warning.
enum PrecisionLimits {
    /// The smallest normal and the largest finite number of a precision.
    static func range(_ precision: Precision) -> (low: Double, high: Double) {
        switch precision {
        case .float32: (Double(Float.leastNormalMagnitude), Double(Float.greatestFiniteMagnitude))
        case .float64: (Double.leastNormalMagnitude, Double.greatestFiniteMagnitude)
        }
    }

    /// The problems of the α grid with this precision: one per α that some grid point stores as layers and
    /// cannot represent. Runs whose initial layers come from files (α only labels them) and runs in the log
    /// representation (only ln α is stored) are not limited.
    static func rangeProblems(_ c: Configuration) -> [ConfigIssue] {
        if c.problem.files?.u0 != nil || c.problem.files?.v0 != nil { return [] }
        let precision = c.training.precision
        let (low, high) = range(precision)
        let families = c.grid.parameterization ?? [c.model.parameterization]
        let depths = c.grid.depth ?? [c.model.depth]
        let updates = c.grid.update ?? [c.training.update]
        let scales = c.model.layerScales ?? []
        var issues: [ConfigIssue] = []
        for (i, alpha) in c.grid.alpha.enumerated() where alpha > 0 {
            let key = c.grid.alpha.count == 1 ? "grid.alpha" : "grid.alpha[\(i)]"
            search: for family in families {
                for update in updates {
                    let representation =
                        c.training.representation
                        ?? (update == .flow && family.family.hasLogRepresentation ? .log : .layers)
                    if representation == .log && family.family.hasLogRepresentation { continue }
                    for depth in family.family.fixedDepth.map({ [$0] }) ?? depths {
                        // log10 of the smallest layer α·|c_l| and of the weight scale α^L·∏|c_l|, in logs so that
                        // Double itself does not underflow.
                        let logScales = (0..<depth).map { l in
                            l < scales.count && family.isDeep ? log10(abs(scales[l])) : 0
                        }
                        let smallest = log10(alpha) + logScales.min()!
                        let largest = log10(alpha) + logScales.max()!
                        let weight = Double(depth) * log10(alpha) + logScales.reduce(0, +)
                        let power = depth == 2 ? "α²" : "α^\(depth)"
                        let what: String
                        let below: Bool
                        if smallest < log10(low) || largest > log10(high) {
                            what = "its initial layers (about \(alpha)) are"
                            below = smallest < log10(low)
                        } else if weight < log10(low) || weight > log10(high) {
                            what = "the product of its layers (\(power) ≈ 1e\(Int(weight.rounded()))) is"
                            below = weight < log10(low)
                        } else {
                            continue
                        }
                        let limit =
                            below
                            ? String(format: "below the smallest normal %@ number (%.3g)", precision.rawValue, low)
                            : String(format: "above the largest %@ number (%.3g)", precision.rawValue, high)
                        var advice = precision == .float32 ? "use precision: float64, a" : "use a"
                        advice += below ? " larger α" : " smaller α"
                        if family.family.hasLogRepresentation {
                            advice +=
                                ", or update: flow (or multiplicative with training.representation: log), which "
                                + "stores only ln α"
                        }
                        let model = family.isDeep ? "\(family.rawValue), depth \(depth)" : family.rawValue
                        issues.append(
                            ConfigIssue(
                                key,
                                "α = \(alpha) (parameterization \(model)): \(what) \(limit), so the run would not "
                                    + "move or would keep only a few digits; \(advice)"))
                        break search
                    }
                }
            }
        }
        return issues
    }

    /// The size of the first step at one coordinate of one layer, in ulps of that layer's value in `precision`
    /// (infinite when a zero value moves).
    static func ulps(step: Double, of value: Double, precision: Precision) -> Double {
        if step == 0 { return 0 }
        let ulp = precision == .float32 ? Double(Float(value).ulp) : value.ulp
        return value == 0 ? .infinity : abs(step) / ulp
    }

    /// One line per grid point whose first step moves no parameter by as much as one ulp of the run's precision
    /// (from its first seed's data and initialisation): such a run stays constant, or nearly. Fixed-step updates
    /// on layers only (gradient flow chooses its own steps; the log representation moves ρ, not the layers).
    static func stalledPoints(_ e: Experiment) -> [String] {
        var lines: [String] = []
        let S = e.seeds.count
        for group in e.groups where group.flowTimes == nil {
            let batch = group.batch
            guard batch.representation == .layers, batch.update != .flow else { continue }
            let d = batch.layout.dimension
            let n = batch.layout.samples
            let L = batch.initialLayers.count
            // g depends on the data and w(0) only: computed once per (data set, w(0)).
            var gradients: [[Double]: [Double]] = [:]
            var designs: [Int: (x: [Double], y: [Double])] = [:]
            for (local, g) in group.points.enumerated() {
                let b = local * S
                let replica = batch.replicas[b]
                let layers = batch.initialLayers.map { $0.doubles((b * d)..<((b + 1) * d)) }
                var w = [Double](repeating: 0, count: d)
                for j in 0..<d {
                    switch batch.parameterization {
                    case .pm: w[j] = (layers[0][j] * layers[0][j] - layers[1][j] * layers[1][j]) * 0.5
                    case .uv: w[j] = layers[0][j] * layers[1][j]
                    case .deep: w[j] = layers.reduce(1) { $0 * $1[j] }
                    case .deepPM:
                        let half = layers.count / 2
                        w[j] =
                            layers[..<half].reduce(1) { $0 * $1[j] } - layers[half...].reduce(1) { $0 * $1[j] }
                    }
                }
                let key = [Double(replica.dataset)] + w
                let gradient: [Double]
                if let cached = gradients[key] {
                    gradient = cached
                } else {
                    if designs[replica.dataset] == nil {
                        let set = batch.datasets[replica.dataset]
                        designs[replica.dataset] = (set.x.doubles, set.y.doubles)
                    }
                    let (x, y) = designs[replica.dataset]!
                    var r = y.map { -$0 }
                    var grad = [Double](repeating: 0, count: d)
                    for i in 0..<n { for j in 0..<d { r[i] += x[i * d + j] * w[j] } }
                    for i in 0..<n { for j in 0..<d { grad[j] += x[i * d + j] * r[i] } }
                    gradient = grad.map { $0 * batch.gradientScale }
                    gradients[key] = gradient
                }
                let (eta, lambda) = (replica.eta, replica.lambdaU)
                var largest = 0.0
                for j in 0..<d {
                    for l in 0..<L {
                        let u = layers[l][j]
                        let step: Double
                        switch batch.parameterization {
                        case .pm: step = eta * ((l == 0 ? gradient[j] : -gradient[j]) + lambda) * u
                        case .uv: step = eta * (gradient[j] * layers[1 - l][j] + lambda * u)
                        case .deep:
                            var others = 1.0
                            for k in 0..<L where k != l { others *= layers[k][j] }
                            step = eta * (gradient[j] * others + lambda * u)
                        case .deepPM:
                            let half = L / 2
                            let base = l < half ? 0 : half
                            var others = 1.0
                            for k in base..<(base + half) where k != l { others *= layers[k][j] }
                            step = eta * ((l < half ? gradient[j] : -gradient[j]) * others + lambda * u)
                        }
                        largest = max(largest, ulps(step: step, of: u, precision: batch.precision))
                    }
                }
                if largest < 1 {
                    let p = e.gridPoints[g]
                    lines.append(
                        "warning: grid point \(g) (α = \(p.alpha), η = \(p.learningRate), λ = \(p.weightDecay), d = \(p.d)): "
                            + String(
                                format: "the first step moves no parameter by one %@ ulp (largest: %.2g ulp)",
                                batch.precision.rawValue, largest)
                            + ", so the run stays (nearly) constant; use precision: float64 or a larger η")
                }
            }
        }
        return lines
    }
}
