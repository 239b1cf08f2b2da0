import Foundation

/// The names of `training.schedule` (docs/model.md, "Learning-rate schedules").
public enum ScheduleName: String, Sendable, Codable, CaseIterable {
    /// s_k = 1.
    case constant
    /// s_k = (1 + k/τ)^(−p).
    case inverseTime = "inverse_time"
    /// s_k = γ^k (γ = e^{−1/τ} when given as τ).
    case exponential
    /// s_k = f + (1 − f)·(1 + cos(π·k/K))/2 for k < K, f from step K on.
    case cosine
    /// s_k = γ^{⌊k/m⌋}, or γ^{#{i : k_i ≤ k}} at listed steps k_i.
    case step
}

/// A learning-rate schedule: replica b's step k (counted from 0) uses η_k = η_b·s_k. The factor s_k depends on the
/// step index only, is computed here in Double on the host, rounded once to the run's precision, and multiplied into
/// η in that precision by both engines (`eta[b] * factor`), so that the CPU engine and OpenCL stay bit-identical and
/// `constant` (s_k = 1, an exact product) is the unscheduled run bit for bit. Time is t_k = η·S_k with
/// S_k = Σ_{j<k} s_j, summed in ascending j in Double.
public struct LearningRateSchedule: Sendable, Hashable {
    /// The schedule's kind and parameters.
    public enum Kind: Sendable, Hashable {
        case constant
        case inverseTime(tau: Double, power: Double)
        case exponential(gamma: Double)
        case cosine(steps: Int, floor: Double)
        case every(gamma: Double, steps: Int)
        case milestones(gamma: Double, at: [Int])
    }

    public let kind: Kind

    public init(_ kind: Kind) { self.kind = kind }

    /// s_k = 1.
    public static let constant = LearningRateSchedule(.constant)

    /// Whether this is `constant`: the engines then leave the factor at 1 and time is steps·η. (γ = 1 gives s_k = 1
    /// too, but runs the scheduled path: the factor set each step, t = η·Σ s_k; bit for bit the same run.)
    public var isConstant: Bool {
        if case .constant = kind { return true }
        return false
    }

    /// The factor s_k of step k ≥ 0.
    public func factor(step k: Int) -> Double {
        switch kind {
        case .constant:
            return 1
        case .inverseTime(let tau, let power):
            let base = 1 + Double(k) / tau
            return power == 1 ? 1 / base : Foundation.pow(base, -power)
        case .exponential(let gamma):
            return Foundation.pow(gamma, Double(k))
        case .cosine(let steps, let floor):
            guard k < steps else { return floor }
            return floor + (1 - floor) * (1 + Foundation.cos(Double.pi * Double(k) / Double(steps))) / 2
        case .every(let gamma, let m):
            return Foundation.pow(gamma, Double(k / m))
        case .milestones(let gamma, let at):
            var passed = 0
            while passed < at.count && at[passed] <= k { passed += 1 }
            return Foundation.pow(gamma, Double(passed))
        }
    }

    /// Σ_{k≥0} s_k when it is finite (nil: it diverges): the reachable time is η times it.
    public var totalSum: Double? {
        switch kind {
        case .constant, .inverseTime, .milestones: return nil
        case .exponential(let g): return g < 1 ? 1 / (1 - g) : nil
        case .every(let g, let m): return g < 1 ? Double(m) / (1 - g) : nil
        case .cosine(let steps, let floor):
            guard floor == 0 else { return nil }
            return sums(at: [steps])[0]
        }
    }

    /// About how many steps k it takes for S_k to reach `sum` (the integral of s over [0, k], which is within a few
    /// s_0 = 1 of the sum): to refuse, before any stepping, a horizon that would need too many; +∞ when never.
    public func estimatedSteps(toReach sum: Double) -> Double {
        switch kind {
        case .constant:
            return sum
        case .inverseTime(let tau, let p):
            if p == 1 { return tau * Foundation.expm1(sum / tau) }
            return tau * (Foundation.pow(1 + sum * (1 - p) / tau, 1 / (1 - p)) - 1)
        case .exponential(let g):
            guard g < 1 else { return sum }
            let x = 1 - sum * (1 - g)
            return x > 0 ? Foundation.log(x) / Foundation.log(g) : .infinity
        case .every(let g, let m):
            guard g < 1 else { return sum }
            let x = 1 - sum * (1 - g) / Double(m)
            return x > 0 ? Double(m) * Foundation.log(x) / Foundation.log(g) : .infinity
        case .cosine(let steps, let floor):
            let half = Double(steps) * (1 + floor) / 2
            if sum <= half { return sum / ((1 + floor) / 2) }
            return floor > 0 ? Double(steps) + (sum - half) / floor : .infinity
        case .milestones(let g, let at):
            var (k, s) = (0, 0.0)
            for (i, next) in at.enumerated() {
                let rate = Foundation.pow(g, Double(i))
                if s + rate * Double(next - k) >= sum { return Double(k) + (sum - s) / rate }
                s += rate * Double(next - k)
                k = next
            }
            return Double(k) + (sum - s) / Foundation.pow(g, Double(at.count))
        }
    }

    /// S_k = Σ_{j<k} s_j (ascending j, Double) at each of `steps` (any order, each ≥ 0); S_k = k for `constant`.
    public func sums(at steps: [Int]) -> [Double] {
        if case .constant = kind { return steps.map { Double($0) } }
        let order = steps.indices.sorted { steps[$0] < steps[$1] }
        var out = [Double](repeating: 0, count: steps.count)
        var k = 0
        var sum = 0.0
        for i in order {
            while k < steps[i] {
                sum += factor(step: k)
                k += 1
            }
            out[i] = sum
        }
        return out
    }

    /// The steps whose times η·S_k are nearest to `times` (ascending, ≥ 0): for each time the k with the least
    /// |η·S_k − t| (a tie goes to the later step). Stops at the first step that adds nothing (S_{k+1} = S_k in
    /// Double, or s_k = 0): a time beyond the reachable one maps to that step.
    public func nearestSteps(times: [Double], eta: Double) -> [Int] {
        if case .constant = kind { return times.map { Int(($0 / eta).rounded()) } }
        var out: [Int] = []
        var k = 0
        var sum = 0.0
        for t in times {
            while true {
                let next = sum + factor(step: k)
                guard next > sum else { break }  // the step adds nothing: the reachable time is reached
                if eta * next <= t {
                    sum = next
                    k += 1
                    continue
                }
                if eta * next - t <= t - eta * sum {  // η·S_k ≤ t < η·S_{k+1}: the nearer one
                    sum = next
                    k += 1
                }
                break
            }
            out.append(k)
        }
        return out
    }

    /// The schedule's name in the configuration.
    public var name: ScheduleName {
        switch kind {
        case .constant: .constant
        case .inverseTime: .inverseTime
        case .exponential: .exponential
        case .cosine: .cosine
        case .every, .milestones: .step
        }
    }

    /// The schedule in words, with its parameters ("cosine (K = 1000, floor 0)").
    public var description: String {
        switch kind {
        case .constant: "constant"
        case .inverseTime(let tau, let p): "inverse_time (τ = \(tau), power \(p))"
        case .exponential(let g): "exponential (γ = \(g))"
        case .cosine(let steps, let floor): "cosine (\(steps) steps, floor \(floor))"
        case .every(let g, let m): "step (γ = \(g) every \(m) steps)"
        case .milestones(let g, let at): "step (γ = \(g) at steps \(at.map(String.init).joined(separator: ", ")))"
        }
    }
}

/// S_k = Σ_{j<k} s_j of a schedule, continued from the last step asked for when the next one is later (the run's
/// observations), so that a run of K steps sums each s_k once. The same additions in the same order as
/// `LearningRateSchedule.sums(at:)`: the same bits.
public final class ScheduleSums: @unchecked Sendable {  // the lock guards the memo
    public let schedule: LearningRateSchedule
    private let lock = NSLock()
    private var step = 0
    private var sum = 0.0

    public init(_ schedule: LearningRateSchedule) { self.schedule = schedule }

    /// S_k.
    public func sum(at k: Int) -> Double {
        if schedule.isConstant { return Double(k) }
        lock.lock()
        defer { lock.unlock() }
        if k < step { (step, sum) = (0, 0) }
        while step < k {
            sum += schedule.factor(step: step)
            step += 1
        }
        return sum
    }
}
