import DLNDevice
import DLNModel
import DLNTheory
import Dispatch
import Foundation
import OpenCLKit

/// A run of the matrix model: every grid point × seed in one batch (slices of it when the device cannot hold it
/// all), stepped to each checkpoint, observed there; then the output folder.
public struct MatrixRun: Sendable {
    public let configuration: MatrixConfiguration
    public let setup: MatrixSetup
    /// The checkpoint steps (gradient descent; t = η·steps per grid point), or the checkpoint indices (flow, whose
    /// times are `configuration.checkpointTimes`).
    public let steps: [Int]
    /// Each replica's status: 0 finished with a finite loss, 2 non-finite (diverged); gradient flow also 1 (step
    /// floor) and 3 (past training.flow.max_steps); −1 not in this shard. And, for gradient flow, its gradient
    /// evaluations.
    public var flowEvaluations: [Int] = [], flowStatus: [Int] = []
    /// Train loss, test error, effective rank, nuclear norm, conservation: [grid point · seeds + seed][checkpoint].
    public var trainLoss: [[Double]], testError: [[Double]], effectiveRank: [[Double]], nuclearNorm: [[Double]]
    public var conservation: [[Double]]
    /// [replica][checkpoint][k].
    public var singularValues: [[[Double]]], modeStrength: [[[Double]]]
    /// The sharpness (`record.sharpness`), [replica][checkpoint]; NaN when not recorded.
    public var sharpness: [[Double]]
    /// The PL constant (`record.pl_constant`), [replica][checkpoint]; NaN when not recorded.
    public var plConstant: [[Double]]
    /// The final layers, replica-major.
    public var finalParameters: [Double]
    public var deviceDescription = ""
    /// The shard this process ran (nil: every replica).
    public var shard: Shard? = nil
    /// The folder that relative paths of the configuration are read against (recorded in manifest.json, so that
    /// `dlnsim merge` reads the shards' configurations as their runs did).
    public var baseDirectory: String? = nil
    public var seconds = 0.0

    /// Runs a configuration on an engine (`device` nil: the CPU engine). `progress(done, total)` in replica-steps.
    public static func run(
        _ c: MatrixConfiguration, device: CLDevice?, progress: @escaping (Double, Double) -> Void = { _, _ in }
    ) throws(DLNError) -> MatrixRun {
        var options = MatrixRunOptions()
        options.progress = progress
        return try run(c, device: device, options: options)
    }

    init(configuration c: MatrixConfiguration, setup: MatrixSetup) {
        configuration = c
        self.setup = setup
        steps = c.update == .flow ? Array(c.checkpointTimes.indices) : c.checkpointSteps
        stepSums = c.update == .flow ? [] : setup.batch.schedule.sums(at: steps)
        let B = setup.batch.replicas
        let C = steps.count
        let empty = [[Double]](repeating: [Double](repeating: .nan, count: C), count: B)
        trainLoss = empty
        testError = empty
        effectiveRank = empty
        nuclearNorm = empty
        conservation = empty
        sharpness = empty
        plConstant = empty
        singularValues = [[[Double]]](repeating: [[Double]](repeating: [], count: C), count: B)
        modeStrength = singularValues
        finalParameters = [Double](repeating: .nan, count: B * setup.batch.shape.parameterCount)
        curvatures =
            c.sharpnessIterations == nil && c.plIterations == nil
            ? []
            : setup.problems.map {
                MatrixCurvature(
                    problem: $0, widths: c.widths, samples: c.samples, lambda: 0,
                    scale: c.loss == .mean ? 1 / Double(c.samples) : 1, tied: c.factorization == .symmetric)
            }
        initialLayerScale = (0..<B).map { b in
            let P = setup.batch.shape.parameterCount
            return MatrixObservables.largestLayerNormSquared(
                setup.batch.initial[(b * P)..<((b + 1) * P)], shape: setup.batch.shape)
        }
        initialImbalance = (0..<B).map { b in
            let P = setup.batch.shape.parameterCount
            return MatrixObservables.imbalances(setup.batch.initial[(b * P)..<((b + 1) * P)], shape: setup.batch.shape)
        }
    }

    /// The curvature of each data set's loss without weight decay (XᵀX and YᵀX formed once), when the run records
    /// the sharpness or the PL constant.
    let curvatures: [MatrixCurvature]

    /// D_l(0) and max_l ‖W_l(0)‖²_F of every replica.
    let initialImbalance: [[[Double]]]
    let initialLayerScale: [Double]

    /// The checkpoint times of replica b: t = η·S_k with S_k = Σ_{j<k} s_j (= k without a schedule; gradient
    /// descent and SGD) or the flow's checkpoint times.
    public func times(replica b: Int) -> [Double] {
        configuration.update == .flow ? configuration.checkpointTimes : stepSums.map { $0 * setup.batch.eta[b] }
    }

    /// S_k at the checkpoint steps (the schedule's factors summed once; the steps themselves without one).
    let stepSums: [Double]

    /// Observes the replicas of one slice at checkpoint k.
    mutating func observe(_ engine: any MatrixEngine, replicas range: Range<Int>, checkpoint k: Int) throws(DLNError) {
        let loss = try engine.loss()
        let p = try engine.parameters().doubles
        let shape = setup.batch.shape
        let P = shape.parameterCount
        let modes = min(setup.teacherSingularValues.count, shape.inputs, shape.outputs)
        let slots = SharedSlots<MatrixObservation>(count: range.count)
        let setup = self.setup
        let imbalance = initialImbalance
        let layerScale = initialLayerScale
        let now = range.map { times(replica: $0)[k] }
        let sharp = SharedSlots<Double>(count: range.count)
        let pl = SharedSlots<Double>(count: range.count)
        let c = configuration
        let curvatures = self.curvatures
        DispatchQueue.concurrentPerform(iterations: range.count) { local in
            let b = range.lowerBound + local
            let decay = Foundation.exp(-2 * setup.batch.lambdaU[b] * now[local])
            let layers = p[(local * P)..<((local + 1) * P)]
            slots[local] = MatrixObservables.observe(
                layers, shape: shape, problem: setup.problems[setup.batch.dataset[b]],
                modes: modes, initialImbalance: imbalance[b], initialLayerScale: layerScale[b], decay: decay)
            if !curvatures.isEmpty {
                let curvature = curvatures[setup.batch.dataset[b]].with(lambda: setup.batch.lambdaU[b])
                if let k = c.sharpnessIterations { sharp[local] = curvature.sharpness(layers, iterations: k) }
                if let k = c.plIterations { pl[local] = curvature.plConstant(layers, iterations: k) }
            }
        }
        if configuration.sharpnessIterations != nil {
            for (local, v) in sharp.values.enumerated() { sharpness[range.lowerBound + local][k] = v }
        }
        if configuration.plIterations != nil {
            for (local, v) in pl.values.enumerated() { plConstant[range.lowerBound + local][k] = v }
        }
        let keep = configuration.singularValueCount
        for (local, o) in slots.values.enumerated() {
            let b = range.lowerBound + local
            trainLoss[b][k] = loss[local]
            testError[b][k] = o.testError
            effectiveRank[b][k] = o.effectiveRank
            nuclearNorm[b][k] = o.nuclearNorm
            conservation[b][k] = o.conservation
            singularValues[b][k] = Array(o.singularValues.prefix(keep))
            modeStrength[b][k] = o.modeStrength
        }
    }

    /// Saxe's mode strengths for the aligned initialisation with whitened inputs (nil otherwise): per grid point, per
    /// checkpoint, per teacher mode, from a(0) = α^L (mean loss; the sum loss runs n times faster).
    public var theoryModeStrength: [[[Double]]]? {
        let c = configuration
        guard c.initKind == .aligned, c.whiten else { return nil }
        let timeScale = c.loss == .mean ? 1.0 : Double(c.samples)
        let S = setup.seeds.count
        return c.gridPoints.enumerated().map { g, point in
            let t = times(replica: g * S).map { $0 * timeScale }
            let a0 = pow(point.alpha, Double(c.depth))
            let curves = c.teacherSingularValues.map { s in
                // The sum loss: the mean-loss flow with decay λ/n at time n·t (SaxeModes' note on time).
                SaxeModes.strength(s: s, a0: a0, depth: c.depth, lambdaU: point.weightDecay / timeScale, at: t)
            }
            return t.indices.map { k in curves.map { $0[k] } }
        }
    }
}
