import DLNModel
import DLNTheory
import Foundation

/// `dlnsim analyze`'s label-noise prediction (docs/theory.md, "Label noise: the lasso"): for pm (and uv, whose step is
/// pm's step on the rotated layers ((u+v)/√2, (u−v)/√2), exactly) trained by full-batch
/// gradient descent with label noise σ (`update: gd`, or sgd with b = n without replacement), the time average of w
/// settles at the weighted lasso argmin (1/2n)‖Xw − y‖² + Σλ_j|w_j| with λ_j = λ_u + ησ²c_j/(2n) (mean loss;
/// `Lasso.labelNoiseStrengths`), to first order in η once u⊙v has shrunk to nothing. Beside it, the run's own
/// values: those of w averaged over the recorded checkpoints (record.weights) with t ≥ T/2, or the final ones.
enum LabelNoisePrediction {
    /// The quantities written (analysis_<name>.npy [grid point, seed]), in this order.
    static let quantities = [
        "label_noise_predicted_test_error", "label_noise_predicted_l1_norm", "label_noise_predicted_support",
        "label_noise_test_error", "label_noise_l1_norm", "label_noise_support", "label_noise_distance",
        "label_noise_time_averaged"
    ]

    /// Why no label-noise prediction is given at a grid point that has label noise; nil where it is given.
    static func refusal(_ p: Experiment.GridPoint, sampling: Sampling) -> String? {
        if p.parameterization.isDeep {
            return "\(p.parameterization.rawValue): not derived for depth L (the layers' products do not split into "
                + "one growing and one vanishing factor per coordinate)"
        }
        if p.update == .sgd, let b = p.batchSize, b < p.n {
            return "sgd with b = \(b) < n: the mini-batch noise depends on w and is not diagonal; no lasso is derived"
        }
        if p.update == .sgd && sampling == .withReplacement {
            return "sgd with replacement (b = n): rows repeat within a step, whose noise depends on w"
        }
        if p.gradientNoise > 0 { return "gradient_noise > 0: Langevin noise adds an entropic term, no lasso" }
        if p.momentum > 0 { return "momentum > 0: the effective step is not η; not derived" }
        return nil
    }

    /// What the run did, per replica: the recorded w (weights_t.npy) with its checkpoint indices, or nothing.
    struct Recorded: Sendable {
        let weights: NPY.Array
        let checkpoints: [Int]
    }

    /// The recorded weights and their checkpoints, when the run recorded them.
    static func recorded(_ folder: OutputFolder) throws(DLNError) -> Recorded? {
        let path = folder.directory + "/weights_t.npy"
        guard FileManager.default.fileExists(atPath: path),
            let checkpoints = (folder.manifest["recording"] as? [String: Any])?["checkpoints"] as? [Int]
        else { return nil }
        let a = try NPY.read(path: path)
        guard a.shape.count == 4, a.shape[2] == checkpoints.count else {
            throw .badFile(
                path: path, reason: "shape \(a.shape) does not match \(checkpoints.count) recorded checkpoints")
        }
        return Recorded(weights: a, checkpoints: checkpoints)
    }

    /// The values of one replica (g, s), in the order of `quantities`. `finals` are the run's last test_error,
    /// l1_norm and support@τ; τ the support threshold (the run's first, nil when it has none).
    static func replica(
        x: [Double], y: [Double], n: Int, d: Int, eta: Double, sigma: Double, lambdaU: Double, meanLoss: Bool,
        tau: Double?, testError: ([Double]) -> Double, recorded: Recorded?, times: [Double], g: Int, s: Int,
        seeds S: Int, finals: [Double]
    ) -> [Double] {
        var out = [Double](repeating: .nan, count: quantities.count)
        let lambdas = Lasso.labelNoiseStrengths(
            x: x, n: n, d: d, eta: eta, labelNoise: sigma, weightDecay: lambdaU, meanLoss: meanLoss)
        let lasso = Lasso.solve(x: x, y: y, n: n, d: d, lambdas: lambdas, tolerance: 1e-13)
        guard lasso.converged else { return out }
        func support(_ w: [Double]) -> Double { tau.map { t in Double(w.filter { abs($0) > t }.count) } ?? .nan }
        out[0] = testError(lasso.w)
        out[1] = lasso.w.reduce(0) { $0 + abs($1) }
        out[2] = support(lasso.w)
        if let recorded, let end = times.last {
            // w averaged over the recorded checkpoints of the second half of the run (t ≥ T/2).
            let R = recorded.checkpoints.count
            let late = (0..<R).filter { times[recorded.checkpoints[$0]] >= end / 2 }
            var mean = [Double](repeating: 0, count: d)
            for k in late {
                let base = ((g * S + s) * R + k) * d
                for j in 0..<d { mean[j] += recorded.weights.values[base + j] }
            }
            mean = mean.map { $0 / Double(late.count) }
            out[3] = testError(mean)
            out[4] = mean.reduce(0) { $0 + abs($1) }
            out[5] = support(mean)
            out[6] = zip(mean, lasso.w).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }.squareRoot()
            out[7] = 1
        } else {
            out[3] = finals[0]
            out[4] = finals[1]
            out[5] = finals[2]
            out[7] = 0
        }
        return out
    }
}
