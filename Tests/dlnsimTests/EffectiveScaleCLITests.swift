import DLNRun
import Foundation
import Testing

/// The effective-scale observables as a user gets them: `effective_scale_sq_*.npy` at the last checkpoint against a
/// float64 computation from the final layers that `--save-weights` writes (layers.npy [grid point, seed, layer, d]),
/// in a float64 run (the engine tests cover float32).
@Suite struct EffectiveScaleCLITests {
    @Test(arguments: ["pm", "uv"]) func lastCheckpointMatchesTheSavedLayers(model: String) throws {
        let dir = CLITests.temporary()
        let config = dir + "/c.yaml"
        try """
        problem: {d: 9, n: 6, noise: 0.1}
        model: {parameterization: \(model)\(model == "uv" ? ", init: {u_noise: 0.2, v_noise: 0.3}" : "")}
        training: {steps: 300, label_noise: 0.3, precision: float64}
        grid: {alpha: [0.3, 0.05], learning_rate: 0.1}
        seeds: 3
        """.write(toFile: config, atomically: true, encoding: .utf8)
        let run = try CLITests.run(["run", config, "--out", dir + "/o", "--quiet", "--device", "cpu", "--save-weights"])
        #expect(run.status == 0, "\(run.stderr)")
        let layers = try NPY.read(path: dir + "/o/layers.npy")
        let (G, S, d) = (layers.shape[0], layers.shape[1], layers.shape[3])
        #expect(layers.shape == [2, 3, 2, 9])
        func last(_ name: String) throws -> [Double] {
            let a = try NPY.read(path: dir + "/o/\(name).npy")
            let C = a.shape[2]
            return (0..<(G * S)).map { a.values[$0 * C + C - 1] }
        }
        let (mean, low, weighted) = (
            try last("effective_scale_sq_mean"), try last("effective_scale_sq_min"), try last("effective_scale_sq_l1")
        )
        for g in 0..<G {
            let alpha = [0.3, 0.05][g]
            for s in 0..<S {
                let base = (g * S + s) * 2 * d
                let u = Array(layers.values[base..<(base + d)])
                let v = Array(layers.values[(base + d)..<(base + 2 * d)])
                let r = zip(u, v).map { (model == "uv" ? $0 * $0 - $1 * $1 : $0 * $1) / (alpha * alpha) }
                let w = zip(u, v).map { model == "uv" ? $0 * $1 : ($0 * $0 - $1 * $1) / 2 }
                let l1 = w.reduce(0) { $0 + abs($1) }
                let want = [
                    r.reduce(0, +) / Double(d), r.min()!, zip(w, r).reduce(0) { $0 + abs($1.0) * $1.1 } / l1
                ]
                let got = [mean[g * S + s], low[g * S + s], weighted[g * S + s]]
                for k in 0..<3 {
                    #expect(abs(got[k] - want[k]) <= 1e-12 * max(1, abs(want[k])), "g \(g) s \(s): \(got) vs \(want)")
                }
            }
        }
    }
}
