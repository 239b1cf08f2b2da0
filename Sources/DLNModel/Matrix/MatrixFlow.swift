/// Gradient flow Ẇ = −F(W), F = ∇ℓ + λ_u·W, of the full-matrix model: the adaptive Dormand–Prince 5(4) integrator
/// of the diagonal models (the `DormandPrince` tableau, `FlowMath.control`'s PI controller, `FlowSettings`), with
/// one step size, one time and one set of counters per replica, driven on the host through a `MatrixEngine`.
///
/// Each stage sets the parameters of every replica to its stage state and reads back the gradient of all of them
/// at once (`setParameters`, then `gradient()`). Everything else happens on the host in float64 from the engine's
/// values: a stage's state y − h·Σ_k a[s][k]·F_k is computed in float64 and rounded to the batch's precision when
/// it is set; the error estimate, the controller and the times are float64 for either precision. So the host's
/// part is a pure function of the gradients, and two engines whose gradients agree bit for bit (the CPU engine and
/// PoCL) give the same flow bit for bit.
///
/// The error norm is the **RMS** over a replica's P parameters, as the diagonal flow's:
/// err = √((1/P)·Σ_p (e_p / (atol + rtol·max(|y_p|, |ŷ_p|)))²), with e = h·Σ_k (b_k − b̂_k)·F_k the local error
/// estimate, y the state before the step and ŷ the proposed one. An attempt is accepted when err ≤ 1.
///
/// A replica whose step falls below `FlowMath.floor` (the settings' `minStep`, 16 ulp of t, 1e-30) is frozen with
/// status 1 (2 when the error was not finite: a non-finite state or gradient), one past `maxSteps` attempts with
/// status 3; a frozen replica keeps its last accepted state and time (`FlowCounters.frozenAt`).
public final class MatrixFlow {
    /// The engine whose gradients drive the flow (initialised with `batch` by `init`).
    public let engine: any MatrixEngine
    /// The batch: shapes, data, λ_u per replica, the initial parameters. Its step sizes η are not used.
    public let batch: MatrixBatch
    /// Tolerances, the first and largest step, the step floor and the attempt limit.
    public let settings: FlowSettings
    /// Each replica's time (float64): after `advance(to: t)`, exactly t for every replica still running.
    public private(set) var times: [Double]
    /// What the integrator did, per replica: gradient evaluations (1 to start, 6 per attempt), rejected attempts,
    /// `ReplicaStatus` codes and the time a replica was frozen.
    public private(set) var counters: FlowCounters
    /// The current parameters, replica-major (as `MatrixBatch.initial`): values of the batch's precision.
    public private(set) var state: [Double]

    private let replicas: Int
    private let count: Int
    /// F_1 … F_7 of the current attempt, replica-major; F_1 is the gradient at `state`.
    private var slopes: [[Double]]
    /// A stage's state; after the last stage, the proposed new state.
    private var trial: [Double]
    private var desired: [Double]
    private var errorBefore: [Double]
    private var lastRejected: [Bool]
    private var attempts: [Int]
    private var started = false

    /// A flow of `batch` on `engine` from the batch's initial parameters at t = 0. Initialises the engine with the
    /// batch; throws `invalidProblem` when the settings are not valid, and what the engine throws.
    public init(engine: any MatrixEngine, batch: MatrixBatch, settings: FlowSettings = FlowSettings()) throws(DLNError)
    {
        if let problem = settings.problem { throw .invalidProblem(problem) }
        try engine.initialize(batch)
        self.engine = engine
        self.batch = batch
        self.settings = settings
        replicas = batch.replicas
        count = batch.shape.parameterCount
        let total = replicas * count
        times = [Double](repeating: 0, count: replicas)
        counters = FlowCounters(replicas: replicas)
        state = RealArray(batch.initial, precision: batch.precision).doubles
        slopes = [[Double]](repeating: [Double](repeating: 0, count: total), count: DormandPrince.stages)
        trial = [Double](repeating: 0, count: total)
        desired = [Double](repeating: 0, count: replicas)
        errorBefore = [Double](repeating: 1e-4, count: replicas)
        lastRejected = [Bool](repeating: false, count: replicas)
        attempts = [Int](repeating: 0, count: replicas)
    }

    /// The current parameters in the batch's precision (what `engine.parameters()` holds after `advance`).
    public var parameters: RealArray { RealArray(state, precision: batch.precision) }

    /// Advances every running replica to time `target` exactly, each with its own adaptive steps (a step that would
    /// pass `target` is shortened to end on it). Replicas already at or past `target` and frozen replicas do not
    /// move. Afterwards the engine holds the replicas' current parameters (`state`), so that `engine.loss()` and
    /// `engine.parameters()` describe them. Throws what the engine throws.
    public func advance(to target: Double) throws(DLNError) {
        precondition(target.isFinite, "MatrixFlow.advance: the target time must be finite, got \(target)")
        if !started { try start() }
        let running = ReplicaStatus.ran.code
        let maxStep = settings.maxStep ?? .infinity
        while true {
            // Each replica's attempt: h = min(desired, max_step, target − t); 0 for replicas that do not step.
            var h = [Double](repeating: 0, count: replicas)
            var clamped = [Bool](repeating: false, count: replicas)
            var any = false
            for b in 0..<replicas where counters.status[b] == running && times[b] < target {
                let remaining = target - times[b]
                var hh = min(desired[b], maxStep)
                if !(hh < remaining) {
                    hh = remaining
                    clamped[b] = true
                }
                h[b] = hh
                any = true
            }
            if !any { break }
            try attempt(h)
            for b in 0..<replicas where h[b] > 0 { finish(replica: b, h: h[b], clamped: clamped[b], target: target) }
        }
        try engine.setParameters(parameters)
    }

    /// F_1 = F(W(0)) and each replica's first step: `initialStep`, or 0.01·‖y‖/‖F‖ in the error norm's scale
    /// (1e-6 when either is below 1e-5), at most `maxStep`; the rule of the diagonal flow.
    private func start() throws(DLNError) {
        try engine.setParameters(parameters)
        slopes[0] = try engine.gradient().doubles
        let atol = settings.atol
        let rtol = settings.rtol
        let invM = 1 / Double(count)
        for b in 0..<replicas {
            var ys = 0.0
            var fs = 0.0
            for i in (b * count)..<((b + 1) * count) {
                let scale = atol + rtol * abs(state[i])
                let qy = state[i] / scale
                let qf = slopes[0][i] / scale
                ys = ys + qy * qy
                fs = fs + qf * qf
            }
            let d0 = (ys * invM).squareRoot()
            let d1 = (fs * invM).squareRoot()
            var h = (d0 < 1e-5 || d1 < 1e-5) ? 1e-6 : (0.01 * d0) / d1
            if let h0 = settings.initialStep { h = h0 }
            if let hmax = settings.maxStep, h > hmax { h = hmax }
            desired[b] = h
            counters.evaluations[b] = 1
            if !(h > 0) {  // F(W(0)) not finite
                counters.status[b] = ReplicaStatus.nonFinite.code
                counters.frozenAt[b] = 0
            }
        }
        started = true
    }

    /// Stages 2…7 of one attempt: stage s evaluates F at y − h·Σ_{k<s} a[s][k]·F_k (float64, rounded to the
    /// batch's precision). Replicas with h = 0 are set to their current state (their gradients are dropped).
    /// Leaves the proposed state (stage 7's) in `trial`.
    private func attempt(_ h: [Double]) throws(DLNError) {
        let single = batch.precision == .float32
        for s in 1..<DormandPrince.stages {
            let row = DormandPrince.a[s]
            for b in 0..<replicas {
                let range = (b * count)..<((b + 1) * count)
                let hb = h[b]
                guard hb > 0 else {
                    for i in range { trial[i] = state[i] }
                    continue
                }
                for i in range {
                    var acc = row[0] * slopes[0][i]
                    for k in 1..<s { acc = acc + row[k] * slopes[k][i] }
                    let value = state[i] - hb * acc
                    trial[i] = single ? Double(Float(value)) : value
                }
            }
            try engine.setParameters(RealArray(trial, precision: batch.precision))
            slopes[s] = try engine.gradient().doubles
        }
    }

    /// The error norm, the controller and acceptance of replica b's attempt of step h: an accepted step moves the
    /// replica to the proposed state (and F_7 becomes F_1: first same as last).
    private func finish(replica b: Int, h: Double, clamped: Bool, target: Double) {
        let atol = settings.atol
        let rtol = settings.rtol
        let e = DormandPrince.e
        let range = (b * count)..<((b + 1) * count)
        var sum = 0.0
        for i in range {
            var acc = e[0] * slopes[0][i]
            for k in 1..<DormandPrince.stages { acc = acc + e[k] * slopes[k][i] }
            let scale = atol + rtol * max(abs(state[i]), abs(trial[i]))
            let q = (h * acc) / scale
            sum = sum + q * q
        }
        counters.evaluations[b] += DormandPrince.evaluationsPerStep
        attempts[b] += 1
        let r = FlowMath.control(
            sum: sum, invM: 1 / Double(count), h: h, hdes: desired[b], clamped: clamped, errprev: errorBefore[b],
            lastRejected: lastRejected[b])
        if r.accepted {
            times[b] = clamped ? target : times[b] + h
            let last = DormandPrince.stages - 1
            for i in range {
                state[i] = trial[i]
                slopes[0][i] = slopes[last][i]
            }
        } else {
            counters.rejected[b] += 1
        }
        desired[b] = r.hdes
        errorBefore[b] = r.errprev
        lastRejected[b] = r.rejected
        guard times[b] < target else { return }
        if attempts[b] >= settings.maxSteps {
            counters.status[b] = ReplicaStatus.tooManySteps.code
            counters.frozenAt[b] = times[b]
        } else if r.hdes < FlowMath.floor(t: times[b], minStep: settings.minStep) {
            counters.status[b] = (r.finite ? ReplicaStatus.stepSizeCollapsed : .nonFinite).code
            counters.frozenAt[b] = times[b]
        }
    }
}

extension MatrixFlow {
    /// Everything the integrator carries from one `advance` to the next, per replica: what a checkpoint keeps so that
    /// a resumed flow continues bit for bit (`snapshot()`, then `restore(_:)` on a flow of the same batch).
    public struct Snapshot: Sendable, Equatable {
        /// Whether F(W(0)) and the first steps were computed (false: nothing below is used yet).
        public var started: Bool
        /// Each replica's time.
        public var times: [Double]
        /// Gradient evaluations, rejected attempts, status codes and freezing times.
        public var counters: FlowCounters
        /// The current parameters (replica-major, values of the batch's precision).
        public var state: [Double]
        /// F at `state` (first same as last: the next attempt's first stage).
        public var slope: [Double]
        /// The controller's state: the next step's size, the previous error, whether the last attempt was rejected,
        /// and the attempts so far.
        public var desired: [Double], errorBefore: [Double], lastRejected: [Bool], attempts: [Int]

        /// A snapshot from its parts (a checkpoint's arrays).
        public init(
            started: Bool, times: [Double], counters: FlowCounters, state: [Double], slope: [Double],
            desired: [Double], errorBefore: [Double], lastRejected: [Bool], attempts: [Int]
        ) {
            self.started = started
            self.times = times
            self.counters = counters
            self.state = state
            self.slope = slope
            self.desired = desired
            self.errorBefore = errorBefore
            self.lastRejected = lastRejected
            self.attempts = attempts
        }
    }

    /// The integrator's state now.
    public func snapshot() -> Snapshot {
        Snapshot(
            started: started, times: times, counters: counters, state: state, slope: slopes[0], desired: desired,
            errorBefore: errorBefore, lastRejected: lastRejected, attempts: attempts)
    }

    /// Continues from a snapshot of a flow of the same batch (and settings): the next `advance` computes what the
    /// flow that took the snapshot would have. Throws `invalidProblem` when the sizes do not fit this batch.
    public func restore(_ s: Snapshot) throws(DLNError) {
        let total = replicas * count
        let perReplica = [
            s.times.count, s.counters.evaluations.count, s.counters.rejected.count, s.counters.status.count,
            s.counters.frozenAt.count, s.desired.count, s.errorBefore.count, s.lastRejected.count, s.attempts.count
        ]
        guard perReplica.allSatisfy({ $0 == replicas }), s.state.count == total, s.slope.count == total else {
            throw .invalidProblem(
                "a flow state of \(s.times.count) replicas and \(s.state.count) parameters does not fit a batch of "
                    + "\(replicas) replicas of \(count) parameters")
        }
        started = s.started
        times = s.times
        counters = s.counters
        state = s.state
        slopes[0] = s.slope
        desired = s.desired
        errorBefore = s.errorBefore
        lastRejected = s.lastRejected
        attempts = s.attempts
        try engine.setParameters(parameters)
    }
}
