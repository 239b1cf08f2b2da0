import DLNModel
import Foundation

/// The checkpoint schedule: the steps (or times) at which a run observes its replicas.
extension Experiment {
    /// The steps of checkpoint times t for step size η, strictly increasing, from 0 to round(t_last/η): each time
    /// rounded to a step, a step that repeats the one before moved on by one (and back from the last one), so that
    /// every grid point has the same number of distinct checkpoints. When the largest step size `etaMax` has fewer
    /// steps than there are times, the times are first snapped to its distinct steps (then every η ≤ etaMax gives
    /// distinct steps too).
    /// Under a learning-rate schedule a time t maps to the step k whose η·S_k is nearest to t
    /// (`LearningRateSchedule.nearestSteps`), the same rule.
    public static func distinctSteps(
        times: [Double], eta: Double, etaMax: Double, schedule: LearningRateSchedule = .constant
    ) -> [Int] {
        var times = times
        var steps: [Int]
        if schedule.isConstant {
            let coarse = Array(Set(times.map { ($0 / etaMax).rounded() })).sorted()
            if let last = coarse.last, Int(last) + 1 < times.count { times = coarse.map { $0 * etaMax } }
            steps = times.map { Int(($0 / eta).rounded()) }
        } else {
            let coarse = Array(Set(schedule.nearestSteps(times: times, eta: etaMax))).sorted()
            if let last = coarse.last, last + 1 < times.count {
                times = schedule.sums(at: coarse).map { $0 * etaMax }
            }
            steps = schedule.nearestSteps(times: times, eta: eta)
        }
        guard steps.count > 1, steps.last! + 1 >= steps.count else { return Array(Set(steps)).sorted() }
        let total = steps.last!
        for k in 1..<steps.count { steps[k] = max(steps[k], steps[k - 1] + 1) }
        steps[steps.count - 1] = total
        for k in stride(from: steps.count - 2, through: 0, by: -1) { steps[k] = min(steps[k], steps[k + 1] - 1) }
        return steps
    }

    /// Times 0, then `count` log-spaced times from `first` to `horizon`, plus `linear` evenly spaced ones, sorted.
    public static func timeSchedule(horizon: Double, first: Double, count: Int, linear: Int = 0) -> [Double] {
        var out: [Double] = [0]
        if count == 1 {
            out.append(horizon)
        } else {
            let lo = log(first)
            let hi = log(horizon)
            for k in 0..<count { out.append(exp(lo + (hi - lo) * Double(k) / Double(count - 1))) }
            out[out.count - 1] = horizon
        }
        for k in stride(from: 1, through: linear, by: 1) { out.append(horizon * Double(k) / Double(linear)) }
        return Array(Set(out)).sorted()
    }

    /// Step 0, then `count` log-spaced steps from 1 to `steps` (deduplicated), or the explicit steps; always
    /// ends at `steps`.
    /// `start` moves the first log-spaced step; `linear` adds that many evenly spaced steps.
    public static func schedule(steps: Int, count: Int, explicit: [Int]?, start: Int = 1, linear: Int = 0) -> [Int] {
        var set: Set<Int> = [0, steps]
        if let explicit {
            set.formUnion(explicit)
        } else if steps >= 1 {
            let bottom = log(Double(max(1, min(start, steps))))
            let top = log(Double(steps))
            for k in 0..<count {
                let f = count == 1 ? 1.0 : Double(k) / Double(count - 1)
                set.insert(min(steps, max(1, Int(exp(bottom + (top - bottom) * f).rounded()))))
            }
        }
        for k in stride(from: 1, through: linear, by: 1) {
            set.insert(Int((Double(steps) * Double(k) / Double(linear)).rounded()))
        }
        return set.sorted()
    }
}
