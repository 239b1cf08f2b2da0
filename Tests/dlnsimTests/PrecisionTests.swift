import DLNRun
import Foundation
import Testing

/// How far float32 runs drift from float64, against an independent NumPy gradient descent on the same data: a
/// strongly correlated regression with n ≪ d (57 samples, 2000 standardised features built from three common
/// factors), the pm model at α = 1 and α = 0.1, run until the float64 loss reaches 1e-6.
///
/// The float32 drift is max |L₃₂ − L₆₄| / L₆₄ over the checkpoints where L₆₄ ≥ 1e-6; dlnsim's may be at most 1.5 ×
/// that of a plain float32 NumPy GD (u ← u − ηg·u in float32; for the multiplicative update u ← u + u·expm1(−ηg)).
/// float64 agrees with NumPy's float64 GD to 1e-10.
/// Forming the step as u·(1 − ηg) instead rounds the factor to float32 first: it drifts 3.8 times further at α = 1.
@Suite(.serialized) struct PrecisionTests {
    /// The data set and the NumPy reference: `python3 script DIR data`, then `python3 script DIR gd α η steps`
    /// (the steps to record are read from DIR/steps.npy, the ones dlnsim recorded).
    static let script = """
        import sys, json, numpy as np
        out, mode = sys.argv[1], sys.argv[2]
        n, d, k = 57, 2000, 3
        if mode == "data":
            rng = np.random.default_rng(7)
            X = rng.standard_normal((n, k)) @ rng.standard_normal((k, d)) + 0.5 * rng.standard_normal((n, d))
            X = (X - X.mean(0)) / X.std(0)
            w_star = np.zeros(d)
            w_star[rng.choice(d, 10, replace=False)] = rng.standard_normal(10)
            np.save(out + "/X.npy", X)
            np.save(out + "/y.npy", X @ w_star)
            sys.exit(0)
        alpha, eta, steps, update = float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
        X, y = np.load(out + "/X.npy"), np.load(out + "/y.npy")
        record = set(int(s) for s in np.load(out + "/steps.npy").ravel())
        def gd(t):
            Xt, yt, e, half, inv = X.astype(t), y.astype(t), t(eta), t(0.5), t(1.0 / n)
            u, v, losses = np.full(d, alpha, t), np.full(d, alpha, t), {}
            for s in range(steps + 1):
                r = Xt @ ((u * u - v * v) * half) - yt
                if s in record:
                    losses[s] = float((r @ r) * half * inv)
                if s == steps:
                    break
                eg = e * ((Xt.T @ r) * inv)
                if update == "gd":
                    u, v = u - eg * u, v + eg * v
                else:
                    u, v = u + u * np.expm1(-eg).astype(t), v + v * np.expm1(eg).astype(t)
            return [losses[s] for s in sorted(record)]
        json.dump({"float32": gd(np.float32), "float64": gd(np.float64)}, open(out + "/reference.json", "w"))
        """

    static func python(_ arguments: [String]) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3"] + arguments
        let err = Pipe()
        p.standardError = err
        try p.run()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        #expect(p.terminationStatus == 0, "python3 \(arguments): \(String(decoding: e, as: UTF8.self))")
    }

    /// dlnsim's train_loss (one replica) for one precision.
    static func run(
        _ dir: String, device: String, precision: String, update: String, alpha: Double, eta: Double, steps: Int
    ) throws -> [Double] {
        let config = dir + "/\(precision).yaml"
        try """
        name: drift
        problem: {files: {X: X.npy, y: y.npy}}
        training: {steps: \(steps), precision: \(precision), update: \(update)}
        grid: {alpha: \(alpha), learning_rate: \(eta)}
        record: {checkpoints: 40}
        """.write(toFile: config, atomically: true, encoding: .utf8)
        let out = dir + "/out-\(precision)"
        let r = try CLITests.run(["run", config, "--device", device, "--out", out, "--quiet"])
        #expect(r.status == 0, "\(r.stderr)")
        try? FileManager.default.removeItem(atPath: dir + "/steps.npy")
        try FileManager.default.copyItem(atPath: out + "/steps.npy", toPath: dir + "/steps.npy")
        return try NPY.read(path: out + "/train_loss.npy").values
    }

    /// (update, α, η, steps): the float64 loss reaches 1e-6 near the last step (at step 2081 and 11134).
    static let cases = [("gd", 1.0, 3e-4, 2100), ("gd", 0.1, 4e-3, 11200), ("multiplicative", 1.0, 3e-4, 2100)]

    static func check(device: String, cases: [(String, Double, Double, Int)]) throws {
        let dir = CLITests.temporary()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let script = dir + "/reference.py"
        try Self.script.write(toFile: script, atomically: true, encoding: .utf8)
        try python([script, dir, "data"])
        for (update, alpha, eta, steps) in cases {
            func loss(_ precision: String) throws -> [Double] {
                try run(dir, device: device, precision: precision, update: update, alpha: alpha, eta: eta, steps: steps)
            }
            let (f32, f64) = (try loss("float32"), try loss("float64"))
            try python([script, dir, "gd", "\(alpha)", "\(eta)", "\(steps)", update])
            let data = try Data(contentsOf: URL(fileURLWithPath: dir + "/reference.json"))
            let reference = try #require(try JSONSerialization.jsonObject(with: data) as? [String: [Double]])
            let (n32, n64) = (try #require(reference["float32"]), try #require(reference["float64"]))
            try #require(n64.count == f64.count && n32.count == f32.count && f32.count == f64.count)
            #expect(n64.last! < 2e-6 && n64.last! > 0, "the float64 loss should end near 1e-6: \(n64.last!)")
            let f64Error = zip(f64, n64).map { abs($0 - $1) / $1 }.max()!
            #expect(
                f64Error <= 1e-10, "\(update), α = \(alpha): float64 differs from NumPy's float64 GD by \(f64Error)")
            let above = n64.indices.filter { n64[$0] >= 1e-6 }
            let drift = above.map { abs(f32[$0] - n64[$0]) / n64[$0] }.max()!
            let numpyDrift = above.map { abs(n32[$0] - n64[$0]) / n64[$0] }.max()!
            #expect(
                drift <= 1.5 * numpyDrift,
                "\(update), α = \(alpha) on \(device): float32 drifts \(drift) from float64, NumPy's float32 GD \(numpyDrift)"
            )
        }
    }

    /// The CPU engine computes the kernels' operations in the same order (bit-identical on PoCL, which the
    /// conformance tests check); here on the shorter of the two runs.
    @Test(.needsNumPy) func float32DriftsNoFurtherThanPlainGDOnTheCPUEngine() throws {
        try Self.check(device: "cpu", cases: [Self.cases[0]])
    }

    @Test(.needsNumPy, .needsOpenCLPlatform) func float32DriftsNoFurtherThanPlainGDOnOpenCL() throws {
        try Self.check(device: "opencl", cases: Self.cases)
    }
}
