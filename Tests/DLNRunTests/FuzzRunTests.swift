import DLNModel
import DLNRun
import Foundation
import Testing

/// Mutated small configurations run end to end on the CPU engine: parse, build, train (whole, or one shard),
/// write the output folder, read it back, draw the figures and print the summary table. Each either gives a valid
/// output or fails with a `DLNError` that names a place; none traps.
@Suite struct FuzzRunTests {
    /// Small configurations covering the families, the update rules, steps and horizons, the grid axes, shared
    /// and user data, explicit checkpoints and diverging learning rates.
    static let bases = [
        """
        name: f-pm
        problem:
          d: 6
          n: 4
          noise: 0.1
          data: independent
          teacher: {density: 0.5, values: signs}
        model:
          parameterization: pm
        training:
          update: gd
          steps: 40
          loss: mean
          max_loss_ratio: 100
        grid:
          alpha: [0.1, 1]
          learning_rate: [0.05, 3]
          weight_decay: [0, 0.01]
        seeds: 2
        record:
          checkpoints: 4
          thresholds: [0.01, 0.1]
        """,
        """
        name: f-uv
        problem:
          d: 5
          delta: 0.8
          data: shared
          design_variance: "1/d"
        model:
          parameterization: uv
          init: {u_noise: 0.3, v_noise: 0.1}
        training:
          horizon: 2
          precision: float64
          weight_decay_factor: 0.25
        grid:
          alpha: 0.5
          learning_rate: [0.1, 0.2]
        seeds: 3
        seed_offset: 4
        record:
          checkpoints: 5
          linear: 2
        """,
        """
        name: f-deep
        problem:
          d: 7
          n: 5
          teacher: {density: 0.3, values: gaussian, support: exact}
        model:
          parameterization: deep
          depth: 3
          init: {layer_scales: [1, 0.5, 2]}
        training:
          steps: 30
          loss: sum
        grid:
          alpha: [0.3, 1]
          learning_rate: 0.02
        seeds: 2
        record:
          steps: [0, 1, 5, 30]
        """,
        """
        name: f-mult
        problem:
          d: 6
          n: 3
        model:
          parameterization: pm
        training:
          update: multiplicative
          representation: log
          steps: 25
          precision: float64
        grid:
          alpha: [1e-20, 0.1]
          learning_rate: 0.1
        seeds: 2
        record:
          checkpoints: 3
          start: 2
        """,
        """
        name: f-flow
        problem:
          d: 5
          n: 3
        model:
          parameterization: pm
        training:
          update: flow
          horizon: 3
          precision: float64
          flow: {rtol: 1e-6, atol: 1e-8, max_steps: 2000}
        grid:
          alpha: [0.01, 1]
        seeds: 2
        record:
          checkpoints: 3
          start: 0.1
        """,
        """
        name: f-axes
        problem:
          n: 4
        training:
          horizon: 1
          precision: float64
          flow: {max_steps: 2000}
        grid:
          d: [4, 6]
          noise: [0, 0.1]
          density: [0.2, 0.5]
          update: [gd, flow]
          learning_rate: 0.1
          alpha: 1
        seeds: 2
        record:
          checkpoints: 3
        """,
        """
        name: f-user
        problem:
          files: {X: user_data/X.npy, y: user_data/y.npy, X_test: user_data/X_test.npy, y_test: user_data/y_test.npy}
        training:
          steps: 10
        grid:
          alpha: [0.1, 1]
          learning_rate: 0.001
        seeds: 1
        record:
          checkpoints: 3
        """
    ]

    /// How each case ended.
    struct Tally {
        var refused = 0, failedNamed = 0, skipped = 0, ran = 0, shards = 0, emptyShards = 0, merges = 0
    }

    /// Trains one experiment (a shard of it, or all), writes and reads back its folder, draws its figures and its
    /// table. Throws what the run throws.
    static func runToFolder(_ e: Experiment, shard: Shard?, weights: Bool, dir: String) throws(DLNError) -> RunResult {
        var options = RunOptions()
        options.shard = shard
        options.keepFinalState = weights
        let result = try Simulation.run(e, on: CPUEngine(), options: options)
        try RunOutput.write(result, experiment: e, to: dir)
        let folder = try OutputFolder(dir)
        if shard == nil { _ = try Report.write(folder) }
        _ = RunSummary.table(result, experiment: e)
        return result
    }

    /// A few hundred mutated configurations (a fixed seed), within about a minute in a debug build.
    @Test func fuzzedConfigurationsRunEndToEnd() throws {
        let examples = ValidationTests.root.appendingPathComponent("examples").path
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("dlnsim-fuzzrun-\(UUID().uuidString)")
            .path
        defer { try? FileManager.default.removeItem(atPath: base) }
        var rng = ValidationTests.SplitMix(state: 20_261_202)
        var tally = Tally()
        let cases = 600
        let start = Date()
        for k in 0..<cases {
            var text = Self.bases[k % Self.bases.count]
            // Every seventh case runs unmutated, every third has two edits.
            if k % 7 != 0 { for _ in 0..<(k % 3 == 0 ? 2 : 1) { text = ValidationTests.mutate(text, &rng) } }
            let c: Configuration
            do { c = try Configuration.parse(yaml: text, file: "fuzz-\(k).yaml", baseDirectory: examples) } catch {
                tally.refused += 1
                guard case .invalidConfiguration(_, let issues) = error, !issues.isEmpty else {
                    Issue.record("case \(k): \(error)\n\(text)")
                    continue
                }
                continue
            }
            // Small ones only: the point is what happens after training, not memory or time.
            let d = (c.grid.d ?? [c.problem.d]).max()!
            let n = max(c.problem.n, Int(((c.grid.delta ?? [c.problem.delta ?? 1]).max()! * Double(d)).rounded()))
            let flowTime = (c.grid.update ?? [c.training.update]).contains(.flow) ? (c.training.horizon ?? 0) : 0
            guard c.replicaCount <= 64, d * n <= 400 || c.problem.files != nil, c.record.checkpoints <= 50,
                c.record.linear <= 50, flowTime <= 10
            else {
                tally.skipped += 1
                continue
            }
            let dir = base + "/\(k)"
            do {
                let e = try Experiment(c)
                guard e.totalReplicaSteps <= 200_000 else {
                    tally.skipped += 1
                    continue
                }
                let shard = k % 3 == 1 ? try Shard(index: k % 5, count: 5) : nil
                let weights = k % 2 == 0  // --save-weights
                let result = try Self.runToFolder(e, shard: shard, weights: weights, dir: dir)
                tally.ran += 1
                // The folder holds what it should: every observable and status.npy with the run's shape.
                let G = e.gridPoints.count
                let S = e.seeds.count
                let status = try NPY.read(path: dir + "/status.npy")
                #expect(status.shape == [G, S], "case \(k)")
                for name in result.names {
                    #expect(try NPY.read(path: dir + "/\(name).npy").shape == [G, S, e.checkpointCount], "case \(k)")
                }
                if shard == nil && k % 10 == 0 {
                    // All three shards of the same run, merged: the whole run's arrays, bit for bit.
                    let parts = (0..<3).map { dir + "-shard\($0)" }
                    for (i, part) in parts.enumerated() {
                        _ = try Self.runToFolder(e, shard: try Shard(index: i, count: 3), weights: weights, dir: part)
                    }
                    _ = try ShardMerge.merge(parts, into: dir + "-merged")
                    let files = try FileManager.default.contentsOfDirectory(atPath: dir).filter {
                        $0.hasSuffix(".npy") || $0.hasSuffix(".csv")
                    }
                    #expect(files.count >= result.names.count + 5 + (weights ? 2 : 0), "case \(k): \(files)")
                    for name in files {
                        let whole = FileManager.default.contents(atPath: dir + "/" + name)
                        #expect(
                            whole != nil && whole == FileManager.default.contents(atPath: dir + "-merged/" + name),
                            "case \(k): \(name)")
                    }
                    tally.merges += 1
                    for extra in parts + [dir + "-merged"] { try? FileManager.default.removeItem(atPath: extra) }
                }
                if let shard {
                    tally.shards += 1
                    let own = status.values.filter { $0 != -1 }.count
                    #expect(own == shard.replicaCount(batches: e.groups.map(\.batch.layout.replicas)), "case \(k)")
                    if own == 0 { tally.emptyShards += 1 }
                }
            } catch let error as DLNError {
                // A named refusal (a data file that does not fit, a problem found while building) is fine.
                tally.failedNamed += 1
                switch error {
                case .badFile(let path, let reason), .outputFailure(let path, let reason):
                    #expect(!path.isEmpty && !reason.isEmpty, "case \(k): \(error)")
                case .invalidConfiguration(let file, let issues):
                    #expect(!file.isEmpty && !issues.isEmpty, "case \(k): \(error)")
                case .invalidProblem(let message):
                    #expect(!message.isEmpty, "case \(k): \(error)")
                default:
                    Issue.record("case \(k): the CPU engine failed: \(error)\n\(text)")
                }
            } catch {
                Issue.record("case \(k): \(error)")
            }
            try? FileManager.default.removeItem(atPath: dir)
        }
        print(
            "fuzz end to end: \(cases) mutated configurations, \(tally.refused) refused, \(tally.skipped) too large, "
                + "\(tally.ran) ran to an output (\(tally.shards) shards, \(tally.emptyShards) empty; \(tally.merges) "
                + "merged from 3 shards), "
                + "\(tally.failedNamed) failed with a named error, "
                + "\(String(format: "%.1f", Date().timeIntervalSince(start))) s")
        #expect(tally.ran >= cases / 6 && tally.refused >= cases / 10 && tally.merges >= 5)
    }
}
