import DLNModel
import DLNRun
import DLNTheory
import Foundation
import TestSupport
import Testing

/// The built `dlnsim` binary, run as a user would.
@Suite(.serialized) struct CLITests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// The dlnsim executable beside the test bundle (the same build folder).
    static var binary: String {
        let beside = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for dir in [beside, beside.deletingLastPathComponent(), root.appendingPathComponent(".build/debug")] {
            let path = dir.appendingPathComponent("dlnsim").path
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return root.appendingPathComponent(".build/debug/dlnsim").path
    }

    struct Output {
        let status: Int32
        let stdout: String
        let stderr: String
    }

    /// Runs `dlnsim ARGS` (or another `executable`) from the package root; a process killed by a signal reports
    /// 128 + the signal's number, as a shell would.
    static func run(_ arguments: [String], environment: [String: String] = [:], executable: String? = nil) throws
        -> Output
    {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable ?? binary)
        p.arguments = arguments
        p.currentDirectoryURL = root
        p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let (out, err) = (Pipe(), Pipe())
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return Output(
            status: p.terminationReason == .uncaughtSignal ? 128 + p.terminationStatus : p.terminationStatus,
            stdout: String(decoding: o, as: UTF8.self),
            stderr: String(decoding: e, as: UTF8.self))
    }

    /// Whether `dlnsim devices` lists an OpenCL device (probed once; a binary that cannot run counts as none).
    static let openCLPresent: Bool = {
        do { return try run(["devices"]).stdout.contains("opencl:0:0") } catch {
            print("dlnsimTests: cannot run `dlnsim devices`: \(error)")
            return false
        }
    }()

    /// Whether python3 imports NumPy (probed once).
    static let numpyPresent: Bool = {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", "import numpy"]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        do { try p.run() } catch { return false }
        p.waitUntilExit()
        return p.terminationStatus == 0
    }()

    static func temporary() -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("dlnsim-cli-\(UUID().uuidString)").path
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    /// The example config end to end on both engines: the same losses, files NumPy-readable by shape.
    @Test(.needsOpenCLPlatform) func quickstartRunsOnCPUAndOpenCLWithIdenticalLosses() throws {
        let dir = Self.temporary()
        let cpu = try Self.run(["run", "examples/quickstart.yaml", "--device", "cpu", "--out", dir + "/cpu", "--quiet"])
        #expect(cpu.status == 0, "\(cpu.stderr)")
        #expect(cpu.stdout.contains("replica-steps/s"))
        let loss = try NPY.read(path: dir + "/cpu/train_loss.npy")
        #expect(loss.shape == [3, 64, 36] || loss.shape.prefix(2) == [3, 64])
        #expect(loss.values.allSatisfy { $0.isFinite })
        let steps = try NPY.read(path: dir + "/cpu/steps.npy")
        #expect(steps.values.first == 0 && steps.values.last == 3000)
        let grid = try String(contentsOfFile: dir + "/cpu/grid.csv", encoding: .utf8)
        #expect(grid.hasPrefix("point,alpha,weight_decay,learning_rate,lambda_u,"))
        #expect(grid.contains("\n0,0.01,0.0,0.02,"))
        let manifest =
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/cpu/manifest.json")))
            as? [String: Any]
        #expect(manifest?["replicas"] as? Int == 192)
        // Small α ends the run with a larger loss than large α on this horizon (the plateau ~ ln(1/α)).
        let C = loss.shape[2]
        let final = (0..<3).map { g in (0..<64).map { loss.values[(g * 64 + $0) * C + C - 1] }.reduce(0, +) / 64 }
        #expect(final[0] > final[2])

        let cl = try Self.run(["run", "examples/quickstart.yaml", "--device", "opencl", "--out", dir + "/cl", "--quiet"]
        )
        #expect(cl.status == 0, "\(cl.stderr)")
        let clLoss = try NPY.read(path: dir + "/cl/train_loss.npy")
        #expect(
            clLoss.values.map(\.bitPattern) == loss.values.map(\.bitPattern),
            "PoCL and the CPU engine must agree bit for bit")
    }

    /// The real NumPy (and pandas, where installed) read every output file unchanged.
    @Test(.needsNumPy) func numpyReadsTheOutput() throws {
        let dir = Self.temporary()
        // The quickstart's files at a tenth of its work (16 seeds, 750 steps): the layout is what is read.
        let r = try Self.run([
            "run", "examples/quickstart.yaml", "seeds=16", "training.steps=750", "--device", "cpu", "--out", dir,
            "--quiet"
        ])
        #expect(r.status == 0, "\(r.stderr)")
        let script = """
            import glob, json, os, sys, csv
            import numpy as np
            d = sys.argv[1]
            m = json.load(open(os.path.join(d, "manifest.json")))
            G, S = m["grid_points"], m["seeds"]
            times = np.load(os.path.join(d, "times.npy")); steps = np.load(os.path.join(d, "steps.npy"))
            C = times.shape[1]
            assert times.shape == (G, C) and steps.shape == (G, C) and steps.dtype == np.int64, (times.shape, \
            steps.shape)
            names = m["observables"]
            for name in names:
                a = np.load(os.path.join(d, name + ".npy"))
                assert a.shape == (G, S, C) and a.dtype == np.float64, (name, a.shape)
            loss = np.load(os.path.join(d, "train_loss.npy"))
            rows = list(csv.DictReader(open(os.path.join(d, "stats.csv"))))
            assert len(rows) == G * len(names) * C, len(rows)
            for row in rows[:: max(1, len(rows) // 50)]:
                if row["observable"] != "train_loss": continue
                v = loss[int(row["point"]), :, int(row["checkpoint"])]
                assert abs(float(row["mean"]) - v.mean()) <= 1e-12 * abs(v.mean()) + 1e-300
                assert abs(float(row["median"]) - np.median(v)) <= 1e-12 * abs(v.mean()) + 1e-300
                assert abs(float(row["q10"]) - np.quantile(v, 0.1)) <= 1e-12 * abs(v.mean()) + 1e-300
                assert abs(float(row["std"]) - v.std(ddof=1)) <= 1e-9 * abs(v.std()) + 1e-300
            try:
                import pandas as pd
                df = pd.read_csv(os.path.join(d, "stats.csv")); assert len(df) == len(rows)
                pd.read_csv(os.path.join(d, "grid.csv"))
            except ImportError:
                pass
            assert (G, S) == (3, 16), (G, S)
            print("numpy ok", np.__version__, G, S, C, len(names))
            """
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", script, dir]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(p.terminationStatus == 0, "\(text)")
        #expect(text.contains("numpy ok"))
    }

    /// `dlnsim bench` times the CPU engine and every OpenCL device on the same batch (correctness of the
    /// report only; speeds are not asserted).
    @Test func benchComparesEnginesOnTheSameWork() throws {
        let r = try Self.run([
            "bench", "--d", "24", "--n", "12", "--batch", "16", "--steps", "3", "--repetitions", "1", "--json"
        ])
        #expect(r.status == 0, "\(r.stderr)")
        let rows = r.stdout.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        #expect(rows.count >= 2, "one row per regime and engine")
        #expect(
            rows.allSatisfy { ($0["replica_steps_per_second"] as? Double ?? 0) > 0 && ($0["replicas"] as? Int) == 16 })
        #expect(rows.contains { ($0["device"] as? String) == "CPU engine" && ($0["speedup_over_cpu"] as? Double) == 1 })
        #expect(
            rows.allSatisfy { ($0["machine"] as? String ?? "").contains("CPU engine loops: ") }, "rows name the machine"
        )
        if runningUnderCI { #expect(rows.contains { ($0["device"] as? String ?? "").hasPrefix("OpenCL") }) }
        let table = try Self.run([
            "bench", "--d", "8", "--n", "4", "--batch", "16", "--steps", "2", "--repetitions", "1", "--regime", "S",
            "--device", "cpu"
        ])
        #expect(table.status == 0 && table.stdout.contains("replica-steps/s") && table.stdout.contains("CPU engine"))
        let bad = try Self.run(["bench", "--regime", "X"])
        #expect(bad.status != 0 && bad.stderr.contains("--regime must be S or I"))
    }

    /// `dlnsim bench --matrix` times the full-matrix model on the engines and reports the widths, the CPU model and
    /// GFLOP/s as 2·n·(2·Σ n_l·n_{l−1} + Σ_{l≥2} n_l·n_{l−1}) per replica-step; bad widths are refused.
    @Test func benchMatrixTimesTheMatrixModel() throws {
        let r = try Self.run([
            "bench", "--matrix", "--widths", "6", "5", "3", "--n", "20", "--batch", "16", "--steps", "2",
            "--repetitions", "1", "--json"
        ])
        #expect(r.status == 0, "\(r.stderr)")
        let rows = r.stdout.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        let cpu = try #require(rows.first { ($0["device"] as? String) == "CPU engine" })
        #expect(cpu["widths"] as? [Int] == [6, 5, 3] && cpu["n"] as? Int == 20 && cpu["regime"] as? String == "S")
        let rate = try #require(cpu["replica_steps_per_second"] as? Double)
        let gflops = try #require(cpu["gflops"] as? Double)
        let multiplyAdds = 20.0 * (2 * (6 * 5 + 5 * 3) + 5 * 3)
        #expect(rate > 0 && abs(gflops - rate * 2 * multiplyAdds / 1e9) <= 1e-9 * gflops)
        if runningUnderCI { #expect(rows.contains { ($0["device"] as? String ?? "").hasPrefix("OpenCL") }) }
        let table = try Self.run([
            "bench", "--matrix", "--widths", "4", "3", "--n", "6", "--batch", "16", "--steps", "1", "--repetitions",
            "1", "--device", "cpu"
        ])
        #expect(table.status == 0 && table.stdout.contains("matrix model, widths 4 3, n = 6"), "\(table.stdout)")
        if let model = System.cpuModel { #expect(table.stdout.contains(model)) }
        let bad = try Self.run(["bench", "--matrix", "--widths", "5"])
        #expect(bad.status != 0 && bad.stderr.contains("--widths needs at least two positive widths"))
        let stray = try Self.run(["bench", "--widths", "5", "3"])
        #expect(stray.status != 0 && stray.stderr.contains("--widths applies to --matrix only"))
    }

    /// `dlnsim analyze` sets the theory beside a run: with λ = 0 the simulated w of a converged run is the
    /// implicit-bias interpolator; with λ > 0 the lasso.
    @Test func analyzeComparesTheRunWithTheTheory() throws {
        let dir = Self.temporary()
        try """
        problem: {d: 30, n: 15, data: independent}
        training: {update: multiplicative, steps: 20000, precision: float64}
        grid: {alpha: [1.0], weight_decay: [0, 0.1], learning_rate: 0.02}
        seeds: 2
        """.write(toFile: dir + "/a.yaml", atomically: true, encoding: .utf8)
        #expect(
            try Self.run(["run", dir + "/a.yaml", "--out", dir + "/out", "--quiet", "--save-weights", "--device", "cpu"]
            ).status == 0)
        let r = try Self.run(["analyze", dir + "/out"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("predicted") && r.stdout.contains("wrote analysis_"))
        let distance = try NPY.read(path: dir + "/out/analysis_distance_to_prediction.npy")
        #expect(distance.shape == [2, 2])
        // λ = 0: the multiplicative update ends on the implicit-bias interpolator; λ > 0: near the lasso (the
        // inactive coordinates still decay at t = 400, at rate 2·margin).
        #expect(distance.values[0] < 1e-10 && distance.values[1] < 1e-10, "\(distance.values)")
        #expect(distance.values[2] < 1e-2 && distance.values[3] < 1e-2, "\(distance.values)")
        let converged = try NPY.read(path: dir + "/out/analysis_prediction_converged.npy")
        #expect(converged.values.allSatisfy { $0 == 1 })
        let missing = try Self.run(["analyze", dir])
        #expect(missing.status != 0 && missing.stderr.contains("not a dlnsim output folder"))
    }

    @Test func devicesListsEveryPlatform() throws {
        let r = try Self.run(["devices"])
        #expect(r.status == 0)
        if runningUnderCI { #expect(r.stdout.contains("opencl:0:0") && r.stdout.contains("fp64")) }
    }

    @Test(arguments: [
        ("problem: {d: -3}\n", "problem.d: must be a positive integer, got -3"),
        ("model: {parameterization: resnet}\n", "model.parameterization: must be one of pm, uv, deep, deep_pm"),
        ("grid: {alpha: .nan}\n", "grid.alpha: must be a finite number, got NaN"),
        ("unknown_key: 1\n", "unknown_key: unknown key"),
        (
            "training: {horizon: 0.001}\ngrid: {learning_rate: 0.05}\n",
            "training.horizon: t = 0.001 is shorter than one step"
        ),
        ("record: {thresholds: [0.1, 0]}\n", "record.thresholds[1]: must be positive"),
        ("grid: {weight_decay: []}\n", "grid.weight_decay: must list at least one value"),
        ("problem: {d: 50}\ngrid: {d: [10, 20]}\n", "grid.d: is also set as problem.d")
    ])
    func badConfigsFailWithOneClearMessage(_ yaml: String, _ expected: String) throws {
        let dir = Self.temporary()
        try yaml.write(toFile: dir + "/bad.yaml", atomically: true, encoding: .utf8)
        let r = try Self.run(["run", dir + "/bad.yaml", "--out", dir + "/out"])
        #expect(r.status != 0)
        #expect(r.stderr.contains(expected), "\(r.stderr)")
        #expect(r.stderr.contains("bad.yaml"))
        #expect(!FileManager.default.fileExists(atPath: dir + "/out"))
    }

    /// An existing folder that is not a dlnsim output is never overwritten by accident.
    @Test func foreignFoldersNeedForceAndPlotChecksItsInput() throws {
        let dir = Self.temporary()
        try "precious".write(toFile: dir + "/notes.txt", atomically: true, encoding: .utf8)
        let config = dir + "/c.yaml"
        try "problem: {d: 10, n: 5}\ntraining: {steps: 20}\n".write(toFile: config, atomically: true, encoding: .utf8)
        let refused = try Self.run(["run", config, "--out", dir, "--quiet"])
        #expect(
            refused.status != 0 && refused.stderr.contains("is not a dlnsim output")
                && refused.stderr.contains("--force"))
        #expect(!FileManager.default.fileExists(atPath: dir + "/train_loss.npy"))
        let out = dir + "/run"
        #expect(try Self.run(["run", config, "--out", out, "--quiet", "--save-weights"]).status == 0)
        #expect(
            try Self.run(["run", config, "--out", out, "--quiet"]).status == 0, "a dlnsim output folder may be rerun")
        // The rerun's files replace the first run's: it saved no weights, so none are left.
        #expect(
            !FileManager.default.fileExists(atPath: out + "/weights.npy")
                && FileManager.default.fileExists(atPath: out + "/report.html"))
        let plot = try Self.run(["plot", out, "--observable", "l1_norm"])
        #expect(plot.status == 0 && FileManager.default.fileExists(atPath: out + "/l1_norm.svg"))
        let bad = try Self.run(["plot", out, "--observable", "nonsense"])
        #expect(bad.status != 0 && bad.stderr.contains("no observable 'nonsense'") && bad.stderr.contains("train_loss"))
        let badX = try Self.run(["plot", out, "--observable", "l1_norm", "--x", "colour"])
        #expect(badX.status != 0 && badX.stderr.contains("no grid parameter 'colour'"))
        let notOutput = try Self.run(["plot", dir])
        #expect(notOutput.status != 0 && notOutput.stderr.contains("not a dlnsim output folder"))
    }

    /// DLNSIM_KERNELS_DIR replaces the embedded kernels; a kernel that does not build fails with the compiler's log.
    @Test(.needsOpenCLPlatform) func kernelOverrideAndBuildFailure() throws {
        let dir = Self.temporary()
        let kernels = Self.root.appendingPathComponent("Kernels")
        for file in try FileManager.default.contentsOfDirectory(atPath: kernels.path) where file.hasSuffix(".cl") {
            var text = try String(contentsOfFile: kernels.appendingPathComponent(file).path, encoding: .utf8)
            if file == "family_pm.cl" {
                text = text.replacingOccurrences(of: "u[0] = u[0] - su * u[0];", with: "u[0] = u[0] - su_typo * u[0];")
            }
            try text.write(toFile: dir + "/" + file, atomically: true, encoding: .utf8)
        }
        let r = try Self.run(
            ["run", "examples/quickstart.yaml", "--device", "opencl", "--out", dir + "/out", "--quiet"],
            environment: ["DLNSIM_KERNELS_DIR": dir])
        #expect(r.status != 0)
        #expect(r.stderr.contains("CL_BUILD_PROGRAM_FAILURE") && r.stderr.contains("su_typo"), "\(r.stderr)")
        let missing = try Self.run(
            ["run", "examples/quickstart.yaml", "--device", "opencl", "--out", dir + "/out2", "--quiet"],
            environment: ["DLNSIM_KERNELS_DIR": dir + "/nowhere"])
        #expect(missing.status != 0 && missing.stderr.contains("cannot read kernel source"))
    }

    @Test func badDeviceAndMissingFile() throws {
        let bad = try Self.run(["run", "examples/quickstart.yaml", "--device", "tpu"])
        #expect(bad.status != 0 && bad.stderr.contains("'tpu' is not a device"))
        let missing = try Self.run(["run", "nope.yaml"])
        #expect(missing.status != 0 && missing.stderr.contains("nope.yaml: no such file"))
        let noPlatform = try Self.run(
            ["run", "examples/quickstart.yaml", "--device", "opencl"],
            environment: ["OCL_ICD_VENDORS": Self.temporary()])
        #expect(noPlatform.status != 0 && noPlatform.stderr.contains("no OpenCL platform"))
    }

    /// libOpenCL is opened at run time: without it the binary starts, lists the CPU engine, runs on it, and refuses
    /// an OpenCL device naming the library it could not load.
    @Test func startsWithoutAnOpenCLLibrary() throws {
        let gone = ["DLNSIM_OPENCL_LIBRARY": "/nonexistent/libOpenCL.so.1"]
        let devices = try Self.run(["devices"], environment: gone)
        #expect(devices.status == 0, "\(devices.stderr)")
        #expect(devices.stdout.contains("cpu  CPU engine"), "\(devices.stdout)")
        #expect(devices.stdout.contains("/nonexistent/libOpenCL.so.1"), "\(devices.stdout)")
        let dir = Self.temporary()
        let cpu = try Self.run(
            [
                "run", "examples/quickstart.yaml", "training.steps=20", "seeds=2", "--device", "cpu", "--out", dir,
                "--quiet"
            ],
            environment: gone)
        #expect(cpu.status == 0, "\(cpu.stderr)")
        #expect(FileManager.default.fileExists(atPath: dir + "/train_loss.npy"))
        let opencl = try Self.run(
            ["run", "examples/quickstart.yaml", "training.steps=20", "--device", "opencl", "--out", dir + "/b"],
            environment: gone)
        #expect(
            opencl.status == 1 && opencl.stderr.contains("the OpenCL library could not be loaded"), "\(opencl.stderr)")
    }

    @Test(.needsOpenCLPlatform) func float64OnTheDeviceAndUserDataFromNPY() throws {
        let dir = Self.temporary()
        let (n, d) = (8, 12)
        let rng = CounterRNG(seed: 5)
        let x = (0..<(n * d)).map { rng.gaussian(stream: 1, index: UInt64($0)) }
        let y = (0..<n).map { i in x[i * d] - x[i * d + 3] }
        try NPY.write(x, shape: [n, d], dtype: .float64, to: dir + "/X.npy")
        try NPY.write(y, shape: [n], dtype: .float64, to: dir + "/y.npy")
        try """
        problem: {files: {X: X.npy, y: y.npy}}
        training: {steps: 2000, precision: float64}
        grid: {alpha: [0.1, 1.0], learning_rate: 0.05}
        """.write(toFile: dir + "/user.yaml", atomically: true, encoding: .utf8)
        let r = try Self.run(["run", dir + "/user.yaml", "--device", "opencl", "--out", dir + "/out", "--quiet"])
        #expect(r.status == 0, "\(r.stderr)")
        let loss = try NPY.read(path: dir + "/out/train_loss.npy")
        #expect(loss.shape.prefix(2) == [2, 1])
        #expect(loss.values.last! < 1e-6)
    }

    /// Bad input fails in the first second with exit status 1, one message naming the place, and no output folder.
    @Test func badInputFailsFastWithoutAnOutputFolder() throws {
        let dir = Self.temporary()
        try "problem: {d: -1}\ngrid: {alpha: [0.1, .nan]}\n".write(
            toFile: dir + "/bad.yaml", atomically: true, encoding: .utf8)
        let start = Date()
        let bad = try Self.run(["run", dir + "/bad.yaml", "--device", "cpu", "--out", dir + "/out"])
        #expect(bad.status == 1)
        #expect(
            bad.stderr
                == "error: invalid configuration \(dir)/bad.yaml (2 problems):\n  - problem.d: must be a positive "
                + "integer, got -1 (line 1)\n  - grid.alpha[1]: must be a finite number, got NaN (line 2)\n"
        )
        #expect(Date().timeIntervalSince(start) < 10)
        #expect(!FileManager.default.fileExists(atPath: dir + "/out"))
        // A bad data file: named, and the output folder made for it is removed again.
        try NPY.write([1.0, .nan, 3, 4], shape: [2, 2], dtype: .float64, to: dir + "/X.npy")
        try NPY.write([1.0, 2], shape: [2], dtype: .float64, to: dir + "/y.npy")
        try "problem: {files: {X: X.npy, y: y.npy}}\n".write(
            toFile: dir + "/data.yaml", atomically: true, encoding: .utf8)
        let data = try Self.run(["run", dir + "/data.yaml", "--device", "cpu", "--out", dir + "/out"])
        #expect(
            data.status == 1
                && data.stderr
                    == "error: \(dir)/X.npy: X holds a non-finite value (nan) at row 0, column 1 (0-based)\n",
            "\(data.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/out"))
        // An output folder under a file.
        #expect(FileManager.default.createFile(atPath: dir + "/file", contents: Data()), "cannot create the test file")
        let out = try Self.run(["run", "examples/quickstart.yaml", "--device", "cpu", "--out", dir + "/file/out"])
        #expect(
            out.status == 1 && out.stderr.contains("cannot create \(dir)/file/out: Not a directory"), "\(out.stderr)")
        #expect(!out.stderr.contains("dlnsim: 192 replicas"))
    }

    /// `dlnsim theory`: the DMFT files on the run's checkpoints; an uncovered model names its key; a run that does
    /// not converge exits 2 with its residual, files flagged.
    @Test func theoryWritesCurvesAndReportsFailures() throws {
        let dir = Self.temporary()
        let base =
            "problem: {d: 200, delta: 0.5, design_variance: 1/d, noise: 0.1}\ntraining: {loss: sum, steps: 20}\ngrid: "
            + "{learning_rate: 0.2, alpha: [0.5, 1]}\nrecord: {checkpoints: 5}\n"
        try (base + "theory: {paths: 20000, response_paths: 256}\n").write(
            toFile: dir + "/ok.yaml", atomically: true, encoding: .utf8)
        let ok = try Self.run(["theory", dir + "/ok.yaml", "--out", dir + "/ok", "--quiet"])
        #expect(ok.status == 0, "\(ok.stderr)")
        let te = try NPY.read(path: dir + "/ok/dmft_test_error.npy")
        let steps = Experiment.schedule(steps: 20, count: 5, explicit: nil)
        #expect(te.shape == [2, 2, steps.count])
        #expect(abs(te.values[0] - 0.1) < 1e-12)  // C_Δ(0,0) = E[w*²] = ρ with the stratified teacher
        #expect(ok.stdout.contains("converged after"))
        try (base + "model: {parameterization: uv}\ntheory: dmft\n").write(
            toFile: dir + "/uv.yaml", atomically: true, encoding: .utf8)
        let uv = try Self.run(["theory", dir + "/uv.yaml", "--out", dir + "/uv"])
        #expect(uv.status == 1 && uv.stderr.contains("model.parameterization"))
        try (base + "theory: {paths: 500, response_paths: 32, max_iterations: 2}\n").write(
            toFile: dir + "/nc.yaml", atomically: true, encoding: .utf8)
        let nc = try Self.run(["theory", dir + "/nc.yaml", "--out", dir + "/nc", "--quiet"])
        #expect(nc.status == 2 && nc.stderr.contains("did not converge") && nc.stderr.contains("residual"))
        let manifest = try String(contentsOfFile: dir + "/nc/dmft_manifest.json", encoding: .utf8)
        #expect(manifest.contains("\"converged\" : false"))
    }
}

extension Trait where Self == ConditionTrait {
    /// Runs where `dlnsim devices` lists an OpenCL device, and always under CI (where the test then fails on the
    /// run's "no OpenCL platform"); skipped with the reason elsewhere.
    static var needsOpenCLPlatform: Self {
        .enabled(
            if: CLITests.openCLPresent || runningUnderCI,
            Comment(
                rawValue: "no OpenCL platform (`dlnsim devices` lists no device; install pocl-opencl-icd); set CI=true "
                    + "to make this a failure")
        )
    }

    /// Runs where python3 has NumPy, and always under CI (where the test then fails); skipped with the reason
    /// elsewhere.
    static var needsNumPy: Self {
        .enabled(
            if: CLITests.numpyPresent || runningUnderCI, "python3 has no NumPy; set CI=true to make this a failure")
    }
}
