import DLNModel
import Foundation
import Testing

@testable import DLNRun

/// `MatrixRun.run(_:device:options:)` in process: a run in slices of two replicas, resumed from every chance it had
/// to checkpoint (at recorded checkpoints, between them, at slice boundaries, in another slicing), ends with the
/// arrays of the whole uninterrupted run bit for bit; a checkpoint file reads back as written.
struct MatrixResumeTests {
    static func configuration(_ update: String, _ precision: String) throws -> MatrixConfiguration {
        let training =
            update == "flow"
            ? "{update: flow, horizon: 10, precision: \(precision), flow: {rtol: 1e-6, atol: 1e-8}}"
            : update == "sgd"
                ? "{steps: 700, precision: \(precision), update: sgd, batch_size: 3, sampling: epochs}"
                : update == "noisy"
                    ? "{steps: 700, precision: \(precision), update: sgd, batch_size: 3, sampling: epochs, "
                        + "label_noise: 0.2, gradient_noise: 1e-5, momentum: 0.7, nesterov: true, "
                        + "schedule: {name: step, gamma: 0.5, every: 250}}"
                    : "{steps: 700, precision: \(precision)}"
        return try MatrixConfiguration.parse(
            yaml: """
                model: {parameterization: matrix, widths: [4, 3, 2], init: {kind: gaussian}}
                problem: {n: 10, data: independent, teacher: {singular_values: [1.5, 0.5]}}
                training: \(training)
                grid: {alpha: [0.4, 0.8], learning_rate: 0.03, weight_decay: [0, 0.01]}
                seeds: 2
                record: {checkpoints: 4}
                """, file: "resume.yaml")
    }

    /// Every number a run keeps, as bit patterns (NaN compares equal to the same NaN).
    static func bits(_ r: MatrixRun) -> [UInt64] {
        let scalars = [r.trainLoss, r.testError, r.effectiveRank, r.nuclearNorm, r.conservation].flatMap { $0 }
        let arrays =
            scalars.flatMap { $0 } + r.singularValues.flatMap { $0.flatMap { $0 } }
            + r.modeStrength.flatMap { $0.flatMap { $0 } } + r.finalParameters
            + (r.flowEvaluations + r.flowStatus).map(Double.init)
        return arrays.map(\.bitPattern)
    }

    /// How many numbers of two runs differ in their bits (all of them when the counts differ).
    static func differing(_ a: MatrixRun, _ b: MatrixRun) -> Int {
        let (x, y) = (bits(a), bits(b))
        guard x.count == y.count else { return max(x.count, y.count) }
        return zip(x, y).filter { $0 != $1 }.count
    }

    final class Writes: @unchecked Sendable { var list: [MatrixProgress] = [] }

    /// Mini-batch SGD (epochs of 10 rows in batches of 3: restores mid-epoch) resumes bit for bit too: the engine is
    /// set back to the checkpoint's step; with label noise, Langevin noise, Nesterov momentum and a step schedule
    /// ("noisy") the checkpoint carries the momentum buffers.
    @Test(arguments: ["gd", "flow", "sgd", "noisy"], ["float32", "float64"])
    func resumingFromAnyCheckpointGivesTheWholeRun(update: String, precision: String) throws {
        let c = try Self.configuration(update, precision)
        let whole = try MatrixRun.run(c, device: nil)
        var options = MatrixRunOptions()
        options.sliceLimit = 2
        options.chunk = 150
        options.checkpointInterval = 0
        let writes = Writes()
        options.writeCheckpoint = { p in writes.list.append(p) }
        let sliced = try MatrixRun.run(c, device: nil, options: options)
        #expect(Self.differing(sliced, whole) == 0, "slices of two replicas")
        // 4 slices; gradient descent: checkpoints 0…4 and the chunks between them; flow: checkpoints 0…4.
        #expect(Set(writes.list.map(\.slice)).count == 4)
        #expect(writes.list.count >= 20)
        if update != "flow" { #expect(writes.list.contains { !c.checkpointSteps.contains($0.step) }) }
        #expect(writes.list.allSatisfy { $0.velocity.isEmpty == (update != "noisy") })
        for (i, p) in writes.list.enumerated() {
            var again = MatrixRunOptions()
            again.resume = p
            again.sliceLimit = i % 2 == 0 ? 3 : nil
            let resumed = try MatrixRun.run(c, device: nil, options: again)
            #expect(Self.differing(resumed, whole) == 0, "resumed from checkpoint \(i): \(p.slice), \(p.checkpoint)")
        }
    }

    @Test func checkpointFilesReadBackAsWritten() throws {
        let c = try Self.configuration("flow", "float32")
        var options = MatrixRunOptions()
        options.sliceLimit = 3
        options.checkpointInterval = 0
        let writes = Writes()
        options.writeCheckpoint = { p in writes.list.append(p) }
        _ = try MatrixRun.run(c, device: nil, options: options)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("dlnsim-mxck-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let origin = Checkpoint.Origin(
            configPath: dir + "/resume.yaml", configText: "x", device: "cpu", saveWeights: true,
            shard: try Shard(index: 1, count: 3))
        for p in [writes.list[1], writes.list[7]] {
            try MatrixCheckpoint.write(p, origin: origin, to: dir)
            #expect(MatrixCheckpoint.exists(in: dir) && Checkpoint.exists(in: dir))
            let (o, q) = try MatrixCheckpoint.read(from: dir)
            #expect(o == origin)
            // Equal, NaN for NaN: the arrays' bits, the flow's state, the position.
            #expect(q.slice == p.slice && q.checkpoint == p.checkpoint && q.step == p.step && q.seconds == p.seconds)
            #expect(q.flow?.state == p.flow?.state && q.flow?.desired == p.flow?.desired)
            #expect(q.flow?.counters.evaluations == p.flow?.counters.evaluations && q.flowStatus == p.flowStatus)
            let a = [q.trainLoss, q.conservation].flatMap { $0 }.flatMap { $0 }.map(\.bitPattern)
            let b = [p.trainLoss, p.conservation].flatMap { $0 }.flatMap { $0 }.map(\.bitPattern)
            #expect(a == b)
        }
    }
}
