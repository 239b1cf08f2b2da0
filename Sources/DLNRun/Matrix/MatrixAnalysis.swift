import DLNModel
import DLNTheory
import Foundation

/// What `dlnsim analyze` sets beside a matrix run (docs/matrix.md): the final observables of every replica and the
/// predictions that apply to the run, with the reason for each one that does not.
///
/// - Saxe's mode dynamics (aligned start, whitened inputs, regression): per mode the half-time, the first time a_i
///   crosses a_i(∞)/2 (`SaxeModes.halfTime`; a_i(∞) = s_i at λ = 0), measured on the recorded times, and the largest
///   |a_i − a_i^theory| over the checkpoints (theory_mode_strength.npy).
/// - The commuting case of matrix sensing (diagonal operators, identity start, equal widths, λ = 0):
///   `MatrixTheory.commutingLimit`, its singular values, test error and nuclear norm against the last checkpoint.
///
/// Replicas whose status is not 0 (diverged, or stopped by the flow's step floor or step limit) are left out of
/// every mean and counted.
public struct MatrixAnalysis {
    /// The folder read.
    public let folder: MatrixFolder
    /// The observables at the last checkpoint, by name (train_loss, test_error, effective_rank, nuclear_norm,
    /// conservation), one value per replica (grid point · seeds + seed).
    public let final: [String: [Double]]
    /// ‖T‖²_F of each replica's teacher (NaN when the run has none).
    public let teacherNormSquared: [Double]
    /// Saxe's predictions, when they apply.
    public let saxe: Saxe?
    /// The commuting sensing limit, when it applies.
    public let commuting: Commuting?
    /// Why a prediction is not available (or holds only in part), in words.
    public let notes: [String]

    /// The scalar observables, in the order printed.
    public static let observables = ["train_loss", "test_error", "effective_rank", "nuclear_norm", "conservation"]

    /// Saxe's mode dynamics beside the run.
    public struct Saxe {
        /// The teacher's singular values s_i of the modes compared.
        public let singularValues: [Double]
        /// `[grid point][mode]`: `SaxeModes.halfTime` from a(0) = α^L (NaN: nothing to learn).
        public let predictedHalfTime: [[Double]]
        /// `[replica][mode]`: the first time a_i reaches a_i(∞)/2, interpolated in ln(a/(a(∞) − a)) between the
        /// checkpoints around it (`MatrixAnalysis.halfTime`; exact for the depth-2 logistic); NaN when not reached.
        public let halfTime: [[Double]]
        /// `[replica][mode]`: max over checkpoints of |a_i − a_i^theory| (theory_mode_strength.npy).
        public let deviation: [[Double]]
        /// The modes' predicted learning order (`SaxeModes.learningOrder`).
        public let predictedOrder: [Int]
    }

    /// The commuting case of matrix sensing beside the run's last checkpoint.
    public struct Commuting {
        /// `[replica][k]`: |diagonal of the predicted limit|, largest first, the k singular values the run recorded.
        public let predictedSingularValues: [[Double]]
        /// `[replica]`: ‖diag(w) − T‖²_F and Σ|w_i| at the predicted limit.
        public let predictedTestError: [Double], predictedNuclearNorm: [Double]
        /// `[replica][k]`: the run's singular values at its last checkpoint.
        public let singularValues: [[Double]]
        /// `[replica]`: ‖σ − σ̂‖₂ / ‖σ̂‖₂ between the run's and the predicted singular values.
        public let distance: [Double]
    }

    /// The seeds of grid point g that ran to the end (status 0).
    public func kept(_ g: Int) -> [Int] { (0..<folder.seeds).filter { folder.status[g * folder.seeds + $0] == 0 } }

    /// Reads a matrix run's folder and computes everything `dlnsim analyze` prints and writes.
    public static func run(_ directory: String) throws(DLNError) -> MatrixAnalysis {
        try MatrixAnalysis(MatrixFolder(directory))
    }

    init(_ f: MatrixFolder) throws(DLNError) {
        folder = f
        let c = f.configuration
        let (B, C) = (f.replicas, f.checkpoints)
        var final: [String: [Double]] = [:]
        for name in Self.observables {
            let a = try f.array(name + ".npy")
            final[name] = (0..<B).map { a[$0 * C + C - 1] }
        }
        self.final = final
        var notes: [String] = []
        // The teachers: their norm follows from the configured spectrum; files and the commuting case need the setup.
        let needsSetup = c.files != nil || MatrixTheory.isCommuting(c)
        var setup: MatrixSetup? = nil
        if needsSetup {
            do { setup = try MatrixSetup(c) } catch {
                notes.append("the run's data could not be read again (\(error.description)): no relative test error")
            }
        }
        if let setup {
            teacherNormSquared = (0..<B).map { b in
                let t = setup.problems[setup.batch.dataset[b]].teacher
                return c.files?.teacher == nil && c.files != nil ? .nan : t.reduce(0) { $0 + $1 * $1 }
            }
        } else {
            let norm = c.files == nil ? c.teacherSingularValues.reduce(0) { $0 + $1 * $1 } : .nan
            teacherNormSquared = [Double](repeating: norm, count: B)
        }
        saxe = try Self.saxe(f, notes: &notes)
        if let setup { commuting = try Self.commuting(f, setup: setup, notes: &notes) } else { commuting = nil }
        if c.task == .sensing && !MatrixTheory.isCommuting(c) {
            notes.append(Self.whyNotCommuting(c))
        }
        if c.update == .gd && (saxe != nil || commuting != nil) {
            notes.append("the predictions are gradient flow's: gradient descent with step η follows them to O(η)")
        }
        self.notes = notes
    }

    /// Why the commuting prediction does not apply to a sensing run.
    static func whyNotCommuting(_ c: MatrixConfiguration) -> String {
        if c.sensingOperator != .diagonal {
            return
                "no closed form for \(c.sensingOperator.rawValue) sensing operators: that gradient flow from a small "
                + "start tends to the minimum-nuclear-norm solution is a conjecture there (Gunasekar et al.), "
                + "proved only for commuting (diagonal) operators"
        }
        var missing: [String] = []
        if c.initKind != .identity { missing.append("the identity start (this run: \(c.initKind.rawValue))") }
        if Set(c.widths).count != 1 { missing.append("equal widths (this run: \(c.widths))") }
        return "the commuting prediction needs " + missing.joined(separator: " and ")
            + ": only then do the layers stay diagonal and equal"
    }

    /// Saxe's half-times and the distance to theory_mode_strength.npy; nil (with the reason) outside their setting.
    static func saxe(_ f: MatrixFolder, notes: inout [String]) throws(DLNError) -> Saxe? {
        let c = f.configuration
        guard c.task == .regression else { return nil }
        guard c.files == nil else {
            notes.append("Saxe's modes: not for your own data (problem.files): no aligned start, no whitening")
            return nil
        }
        guard c.initKind == .aligned, c.whiten else {
            var missing: [String] = []
            if c.initKind != .aligned { missing.append("the aligned start (this run: \(c.initKind.rawValue))") }
            if !c.whiten { missing.append("whitened inputs (problem.whiten: true)") }
            notes.append(
                "Saxe's mode dynamics: no closed form without " + missing.joined(separator: " and ")
                    + ": the modes do not decouple")
            return nil
        }
        guard f.has("theory_mode_strength.npy") else {
            throw .badFile(
                path: f.directory + "/theory_mode_strength.npy",
                reason: "missing: an aligned, whitened run writes it (its manifest.json does not list it)")
        }
        let (B, C, S) = (f.replicas, f.checkpoints, f.seeds)
        let m = try f.width(of: "mode_strength.npy")
        let measured = try f.array("mode_strength.npy", tail: [m])
        let theory = try f.array("theory_mode_strength.npy", tail: [m], perSeed: false)
        let s = Array(c.teacherSingularValues.prefix(m))
        let L = c.depth
        // Sum loss: the mean-loss flow with decay λ/n at time n·t (SaxeModes' note).
        let scale = c.loss == .mean ? 1.0 : Double(c.samples)
        let points = c.gridPoints
        var predicted: [[Double]] = []
        for p in points {
            let a0 = Foundation.pow(p.alpha, Double(L))
            predicted.append(
                s.map { SaxeModes.halfTime(s: $0, a0: a0, depth: L, lambdaU: p.weightDecay / scale, timeScale: scale) })
        }
        var half: [[Double]] = []
        var deviation: [[Double]] = []
        for b in 0..<B {
            let g = b / S
            let a0 = Foundation.pow(points[g].alpha, Double(L))
            let t = f.times[g]
            half.append(
                s.indices.map { i in
                    let end = SaxeModes.limit(s: s[i], a0: a0, depth: L, lambdaU: points[g].weightDecay / scale)
                    let a = (0..<C).map { measured[(b * C + $0) * m + i] }
                    return halfTime(a, times: t, limit: end, start: a0)
                })
            deviation.append(
                s.indices.map { i in
                    (0..<C).map { k in abs(measured[(b * C + k) * m + i] - theory[(g * C + k) * m + i]) }
                        .max() ?? .nan
                })
        }
        return Saxe(
            singularValues: s, predictedHalfTime: predicted, halfTime: half, deviation: deviation,
            predictedOrder: SaxeModes.learningOrder(singularValues: s))
    }

    /// The first time a recorded strength reaches limit/2 (NaN when it started there or beyond, or never does). In
    /// the logit u = ln(a/(limit − a)), where the depth-2 logistic is a straight line in t, t(u) is interpolated at
    /// u = 0 through the checkpoints k − 2 … k + 1 around the crossing (cubic, four of them when they lie strictly
    /// between 0 and the limit; at least the two that bracket it), else linearly in a.
    public static func halfTime(_ a: [Double], times t: [Double], limit: Double, start: Double) -> Double {
        let target = limit / 2
        guard start < target, limit > 0 else { return .nan }
        guard let k = a.firstIndex(where: { $0 >= target }), k > 0 else { return .nan }
        let (t0, t1) = (t[k - 1], t[k])
        let inside = { (j: Int) in j >= 0 && j < a.count && a[j] > 0 && a[j] < limit }
        if inside(k - 1) && inside(k) {
            var ids = [k - 1, k]
            if inside(k - 2) && inside(k + 1) { ids = [k - 2, k - 1, k, k + 1] }
            let u = ids.map { Foundation.log(a[$0] / (limit - a[$0])) }
            if zip(u, u.dropFirst()).allSatisfy({ $0 < $1 }) {
                // Lagrange's form of the polynomial through (u_j, t_j), at u = 0.
                var value = 0.0
                for j in ids.indices {
                    var w = t[ids[j]]
                    for m in ids.indices where m != j { w *= (0 - u[m]) / (u[j] - u[m]) }
                    value += w
                }
                if value >= t0 && value <= t1 { return value }
                return t0 + (t1 - t0) * (0 - u[ids.count / 2 - 1]) / (u[ids.count / 2] - u[ids.count / 2 - 1])
            }
        }
        let (a0, a1) = (a[k - 1], a[k])
        return a1 > a0 ? t0 + (t1 - t0) * (target - a0) / (a1 - a0) : t1
    }

    /// The commuting sensing limit beside the last checkpoint; nil outside the commuting case.
    static func commuting(_ f: MatrixFolder, setup: MatrixSetup, notes: inout [String]) throws(DLNError) -> Commuting? {
        let c = f.configuration
        guard let limits = MatrixTheory.commutingLimit(setup) else { return nil }
        let (B, C) = (f.replicas, f.checkpoints)
        let k = try f.width(of: "singular_values.npy")
        let sv = try f.array("singular_values.npy", tail: [k])
        let decayed = c.gridPoints.enumerated().filter { $0.element.weightDecay != 0 }.map(\.offset)
        if !decayed.isEmpty {
            notes.append(
                "commuting sensing limit: not at grid point\(decayed.count == 1 ? "" : "s") "
                    + "\(decayed.map(String.init).joined(separator: ", ")) (λ > 0: the prediction is for λ = 0)")
        }
        var predicted: [[Double]] = []
        var test: [Double] = []
        var nuclear: [Double] = []
        var measured: [[Double]] = []
        var distance: [Double] = []
        var unsolved = 0
        for b in 0..<B {
            let w = limits[b]
            let sigma = Array(w.map(abs).sorted(by: >).prefix(k))
            let run = Array(sv[((b * C + C - 1) * k)..<((b * C + C) * k)])
            if c.gridPoints[b / f.seeds].weightDecay == 0 && w.contains(where: \.isNaN) { unsolved += 1 }
            predicted.append(sigma)
            test.append(MatrixTheory.testError(w, teacher: setup.problems[setup.batch.dataset[b]].teacher))
            nuclear.append(w.reduce(0) { $0 + abs($1) })
            measured.append(run)
            let num = zip(run, sigma).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }.squareRoot()
            let den = sigma.reduce(0) { $0 + $1 * $1 }.squareRoot()
            distance.append(num / den)
        }
        if unsolved > 0 {
            notes.append("commuting sensing limit: the solver did not converge for \(unsolved) replica(s) (NaN)")
        }
        return Commuting(
            predictedSingularValues: predicted, predictedTestError: test, predictedNuclearNorm: nuclear,
            singularValues: measured, distance: distance)
    }

    /// Writes the predictions into `directory` (a staging folder), analysis_<quantity>.npy; returns the names with
    /// their shapes (docs/matrix.md lists them).
    public func write(to directory: String) throws(DLNError) -> [(name: String, shape: [Int])] {
        let (G, S) = (folder.gridPoints, folder.seeds)
        var written: [(String, [Int])] = []
        func npy(_ name: String, _ values: [Double], _ shape: [Int]) throws(DLNError) {
            try NPY.write(values, shape: shape, dtype: .float64, to: directory + "/analysis_" + name + ".npy")
            written.append(("analysis_" + name + ".npy", shape))
        }
        try npy(
            "relative_test_error", zip(final["test_error"]!, teacherNormSquared).map { $0 / $1 }, [G, S])
        if let saxe {
            let m = saxe.singularValues.count
            try npy("predicted_half_time", saxe.predictedHalfTime.flatMap { $0 }, [G, m])
            try npy("half_time", saxe.halfTime.flatMap { $0 }, [G, S, m])
            try npy("mode_deviation", saxe.deviation.flatMap { $0 }, [G, S, m])
        }
        if let commuting {
            let k = commuting.predictedSingularValues.first?.count ?? 0
            try npy("predicted_singular_values", commuting.predictedSingularValues.flatMap { $0 }, [G, S, k])
            try npy("predicted_test_error", commuting.predictedTestError, [G, S])
            try npy("predicted_nuclear_norm", commuting.predictedNuclearNorm, [G, S])
            try npy("singular_value_distance", commuting.distance, [G, S])
        }
        return written
    }
}
