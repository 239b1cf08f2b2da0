import DLNModel
import OpenCLKit

/// The gradient-flow integrator (update flow) and the log representation (multiplicative update in ρ) on an
/// OpenCL device: the twin of `FlowState` and the `CPUBatch.flow*` methods (Flow.swift), kernels in
/// Kernels/flow.cl. The CPU engine loops per block of 16 replicas until all reach the target; here every
/// replica advances in *rounds* (plan, six stages, control, accept) until none is running, each replica's
/// sequence of step sizes and acceptances depending on its own data only, so both engines agree bit for bit.
final class DeviceFlow<T: DLNReal & CLKernelArgument> {
    let layout: Layout
    let queue: CLCommandQueue
    /// Log representation (state z, one component) or the layers (state ≡ the batch's layers buffer).
    let log: Bool
    /// Update flow (adaptive steps in time); false: fixed steps of the multiplicative update in ρ.
    let adaptive: Bool
    let components: Int
    let stride: Int
    let count: Int
    /// r = Xw − y and g = scale·Xᵀr in the engine's kernel shape.
    let products: () throws(CLError) -> Void

    let y: CLBuffer, f: CLBuffer, ys: CLBuffer
    let lnBeta: CLBuffer, lnHalf: CLBuffer, sign0: CLBuffer, sign1: CLBuffer
    let tab: CLBuffer, lambda: CLBuffer, eta: CLBuffer, tau: CLBuffer
    let t: CLBuffer, hdes: CLBuffer, errprev: CLBuffer, h: CLBuffer, frozenAt: CLBuffer
    let clamped: CLBuffer, lastRejected: CLBuffer, status: CLBuffer, evaluations: CLBuffer
    let rejected: CLBuffer, attempts: CLBuffer, accepted: CLBuffer, activeOut: CLBuffer
    let weights: CLKernel, stage: CLKernel, derivativeStage: CLKernel, derivativeY: CLKernel
    let start: CLKernel, plan: CLKernel, control: CLKernel, accept: CLKernel, active: CLKernel
    let euler: CLKernel, materialize: CLKernel
    let etaHost: [T]  // padded
    let maxSteps: Int32
    var started = false
    /// Evaluations of the fixed-step path, counted on the host (no replica ever stops there).
    var hostEvaluations: [Int32]
    /// Rounds between two reads of the number of running replicas.
    static var roundsPerCheck: Int { 8 }

    /// The device buffers (canaries after the outputs) and kernels; `layers` is the batch's layers buffer.
    init(
        _ batch: Batch, program: CLProgram, context: CLContext, queue: CLCommandQueue, layers: CLBuffer,
        w: CLBuffer, g: CLBuffer, canary: [T], products: @escaping () throws(CLError) -> Void
    ) throws {
        let lay = batch.layout
        layout = lay
        self.queue = queue
        self.products = products
        log = batch.representation == .log
        adaptive = batch.update == .flow
        components = log ? 1 : lay.layers
        stride = lay.coordinateCount
        count = components * stride
        let P = lay.paddedReplicas
        let d = lay.dimension
        if log {
            let k = try LogConstants(batch)
            func packed(_ v: [Double]) -> [T] { lay.pack(v.map { T($0) }, length: d, fill: 0) }
            y = try CLBuffer(context: context, copying: packed(k.z0) + canary)
            lnBeta = try CLBuffer(context: context, copying: packed(k.lnBeta), access: .readOnly)
            lnHalf = try CLBuffer(context: context, copying: packed(k.lnHalf), access: .readOnly)
            sign0 = try CLBuffer(context: context, copying: packed(k.sign0), access: .readOnly)
            sign1 = try CLBuffer(context: context, copying: packed(k.sign1), access: .readOnly)
        } else {
            y = layers
            lnBeta = try CLBuffer(context: context, copying: [T(0)], access: .readOnly)
            lnHalf = lnBeta
            sign0 = lnBeta
            sign1 = lnBeta
        }
        f = try CLBuffer(context: context, copying: [T](repeating: 0, count: DormandPrince.stages * count) + canary)
        ys = try CLBuffer(context: context, copying: [T](repeating: 0, count: count) + canary)
        tab = try CLBuffer(context: context, copying: DormandPrince.packed.map { T($0) }, access: .readOnly)
        var etas = [T](repeating: 0, count: P)
        var lambdas = etas
        for (b, r) in batch.replicas.enumerated() {
            etas[b] = T(r.eta)
            lambdas[b] = T(r.lambdaU)
        }
        etaHost = etas
        lambda = try CLBuffer(context: context, copying: lambdas, access: .readOnly)
        eta = try CLBuffer(context: context, copying: etas, access: .readOnly)
        func reals(_ value: T) throws -> CLBuffer {
            try CLBuffer(context: context, copying: [T](repeating: value, count: P))
        }
        func ints(_ value: Int32 = 0) throws -> CLBuffer {
            try CLBuffer(context: context, copying: [Int32](repeating: value, count: P))
        }
        tau = try reals(0)
        t = try reals(0)
        hdes = try reals(0)
        errprev = try reals(0)
        h = try reals(0)
        frozenAt = try reals(.nan)
        clamped = try ints()
        lastRejected = try ints()
        evaluations = try ints()
        rejected = try ints()
        attempts = try ints()
        accepted = try ints()
        // Padding lanes never step: they start as not in this shard.
        status = try CLBuffer(
            context: context,
            copying: (0..<P).map { $0 < lay.replicas ? ReplicaStatus.ran.rawValue : ReplicaStatus.notInShard.rawValue })
        activeOut = try CLBuffer(context: context, copying: [Int32](repeating: 0, count: 2))
        hostEvaluations = [Int32](repeating: 0, count: lay.replicas)
        let s = batch.flow
        maxSteps = Int32(clamping: s.maxSteps)

        weights = try CLKernel(program: program, name: "dln_flow_weights")
        stage = try CLKernel(program: program, name: "dln_flow_stage")
        derivativeStage = try CLKernel(program: program, name: "dln_flow_derivative")
        derivativeY = try CLKernel(program: program, name: "dln_flow_derivative")
        start = try CLKernel(program: program, name: "dln_flow_start")
        plan = try CLKernel(program: program, name: "dln_flow_plan")
        control = try CLKernel(program: program, name: "dln_flow_control")
        accept = try CLKernel(program: program, name: "dln_flow_accept")
        active = try CLKernel(program: program, name: "dln_flow_active")
        euler = try CLKernel(program: program, name: "dln_flow_euler")
        materialize = try CLKernel(program: program, name: "dln_flow_materialize")

        let dd = Int32(d)
        let st = Int64(stride)
        let cnt = Int64(count)
        // The scalars exactly as FlowState converts them.
        let rtol = T(s.rtol)
        let atol = T(s.atol)
        let hmax = T(s.maxStep ?? .infinity)
        let hmin = T(s.minStep)
        let invM = T(1 / Double(components * d))
        let firstStep: T = s.initialStep.map { T($0) } ?? 0
        // Arguments that change per launch, set alone there: weights 2 (the step), stage 0 (the stage),
        // derivativeStage 2 (the stage's offset), plan 0, control 3 and active 1 (the target), materialize 8 (τ).
        try weights.bind(dd, st, Int64(-1), y, lnBeta, lambda, eta, t, w)
        try stage.bind(Int32(1), dd, st, cnt, tab, y, f, h, t, lnBeta, lambda, ys, w)
        for (k, state) in [(derivativeStage, ys), (derivativeY, y)] {
            try k.bind(dd, st, Int64(0), state, g, lambda, f)
        }
        try start.bind(
            dd, st, rtol, atol, invM, hmax, Int32(s.initialStep == nil ? 0 : 1), firstStep, y, f, status, hdes, errprev,
            evaluations, frozenAt)
        try plan.bind(T(0), hmax, status, t, hdes, h, clamped)
        try control.bind(
            dd, st, cnt, T(0), rtol, atol, hmin, invM, maxSteps, tab, y, ys, f, h, clamped, t, hdes, errprev,
            lastRejected, status, frozenAt, evaluations, rejected, attempts, accepted)
        try accept.bind(dd, st, cnt, accepted, ys, y, f)
        try active.bind(Int32(P), T(0), status, t, hdes, activeOut)
        try euler.bind(dd, eta, g, y)
        try materialize.bind(dd, st, y, lnBeta, lnHalf, sign0, sign1, lambda, tau, layers, w)
    }

    private var elementwise: (global: [Int], local: [Int]) {
        ([layout.paddedReplicas, layout.dimension], [Layout.lanes, 1])
    }
    private var perReplica: (global: [Int], local: [Int]) { ([layout.paddedReplicas], [Layout.lanes]) }

    /// F₁ = F(y, 0) and every replica's first step. Twin of CPUBatch.flowStart.
    func enqueueStart() throws(CLError) {
        try weights.setArgument(2, Int64(-1))
        try queue.enqueue(weights, global: elementwise.global, local: elementwise.local)
        try products()
        try queue.enqueue(derivativeY, global: elementwise.global, local: elementwise.local)
        try queue.enqueue(start, global: perReplica.global, local: perReplica.local)
        started = true
    }

    /// One round: every running replica attempts one step toward `target`.
    func enqueueRound() throws(CLError) {
        try queue.enqueue(plan, global: perReplica.global, local: perReplica.local)
        for s in 1..<DormandPrince.stages {
            try stage.setArgument(0, Int32(s))
            try queue.enqueue(stage, global: elementwise.global, local: elementwise.local)
            try products()
            try derivativeStage.setArgument(2, Int64(s * count))
            try queue.enqueue(derivativeStage, global: elementwise.global, local: elementwise.local)
        }
        try queue.enqueue(control, global: perReplica.global, local: perReplica.local)
        try queue.enqueue(accept, global: elementwise.global, local: elementwise.local)
    }

    /// (running replicas, those of them stuck with a zero step), read back.
    func running(target: T) throws(CLError) -> (Int, Int) {
        try active.setArgument(1, target)
        try queue.enqueue(active, global: [1], local: [1])
        let out = try queue.read(activeOut, as: Int32.self, count: 2)
        return (Int(out[0]), Int(out[1]))
    }

    /// Advances every running replica to `time` exactly, each with its own steps. Twin of CPUBatch.flowAdvance.
    func advance(to time: Double, stoppingIf stop: () -> Bool = { false }) throws -> Bool {
        precondition(adaptive, "advance(to:) needs update flow")
        let target = T(time)
        if !started { try enqueueStart() }
        try plan.setArgument(0, target)
        try control.setArgument(3, target)
        // Every round with a running replica costs it one attempt, and a replica freezes at flow.max_steps:
        // past that many rounds nothing can still be running.
        let limit = Int(maxSteps) + 2 * Self.roundsPerCheck
        var rounds = 0
        while true {
            let (n, stuck) = try running(target: target)
            if n == 0 { break }
            if stop() { return false }
            if stuck > 0 {
                throw DLNError.invalidProblem(
                    "\(stuck) replica(s) of update flow have a first step of 0 (a non-finite first derivative) and "
                        + "cannot advance: set flow.initial_step"
                )
            }
            if rounds >= limit {
                throw DLNError.deviceFailure("update flow: \(n) replica(s) still running after \(rounds) rounds")
            }
            for _ in 0..<Self.roundsPerCheck { try enqueueRound() }
            try queue.flush()
            rounds += Self.roundsPerCheck
        }
        return true
    }

    /// `count` fixed steps z ← z − η·F(z, kη) from step `first` (the multiplicative update in ρ). Twin of
    /// CPUBatch.flowEuler.
    func euler(count steps: Int, first: Int) throws(CLError) {
        precondition(!adaptive && log, "fixed steps are for the log representation without update flow")
        for k in 0..<steps {
            try weights.setArgument(2, Int64(first + k))
            try queue.enqueue(weights, global: elementwise.global, local: elementwise.local)
            try products()
            try queue.enqueue(euler, global: elementwise.global, local: elementwise.local)
            if k % 256 == 255 { try queue.flush() }
        }
        try queue.flush()
        for b in 0..<hostEvaluations.count { hostEvaluations[b] &+= Int32(clamping: steps) }
    }

    /// Each replica's time (replicas 0..<B): its own with update flow, steps·η otherwise.
    func times(steps: Int) throws(CLError) -> [T] {
        if adaptive { return try queue.read(t, as: T.self, count: layout.replicas) }
        return (0..<layout.replicas).map { T(Double(steps) * Double(etaHost[$0])) }
    }

    /// Layers and w from the state at the replicas' current times. Twin of CPUBatch.flowMaterialize.
    func enqueueMaterialize(steps: Int) throws(CLError) {
        if adaptive {
            try materialize.setArgument(8, t)
        } else {
            try queue.write(tau, from: (0..<layout.paddedReplicas).map { T(Double(steps) * Double(etaHost[$0])) })
            try materialize.setArgument(8, tau)
        }
        try queue.enqueue(materialize, global: elementwise.global, local: elementwise.local)
    }

    /// The integrator's counters, per replica.
    func counters() throws(CLError) -> FlowCounters {
        let B = layout.replicas
        var out = FlowCounters(replicas: B)
        if !adaptive {
            out.evaluations = hostEvaluations.map { Int($0) }
            return out
        }
        let ev = try queue.read(evaluations, as: Int32.self, count: B)
        let rj = try queue.read(rejected, as: Int32.self, count: B)
        let st = try queue.read(status, as: Int32.self, count: B)
        let fz = try queue.read(frozenAt, as: T.self, count: B)
        out.evaluations = ev.map { Int($0) }
        out.rejected = rj.map { Int($0) }
        out.status = st.map { Int($0) }
        out.frozenAt = fz.map { Double($0) }
        return out
    }

    /// The output buffers with canaries, and their lengths.
    var canaried: [(CLBuffer, Int)] {
        var out = [(f, DormandPrince.stages * count), (ys, count)]
        if log { out.append((y, count)) }
        return out
    }
}
