import ArgumentParser
import DLNDevice
import DLNModel
import DLNRun
import DLNTheory
import Foundation
import OpenCLKit

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Time the same ensemble on the CPU engine and on OpenCL devices, and compare.",
        discussion:
            "Each row: a warm-up, then the best of several repetitions of `--steps` gradient steps (and the "
            + "observation that drains the device's queue). GFLOP/s counts the gradient's multiply-adds ×2: 4·n·d "
            + "per replica-step for the two products, 2·d² for the Gram form (chosen when n > d/2); % peak is "
            + "against the device's fused-multiply-add peak measured here; vs CPU is the speed-up over the CPU "
            + "engine on the same work. Regime S: one data set shared by all replicas; I: each replica its own."
    )

    @Option(
        name: .customLong("device"),
        help: "cpu, opencl, opencl:P:D or all (repeatable; default all: the CPU engine and every OpenCL device).")
    var devices: [String] = []

    @Option(name: .customLong("regime"), help: "S (shared data) or I (independent data); repeatable (default both).")
    var regimes: [String] = []

    @Option(
        name: .customLong("batch"), parsing: .upToNextOption,
        help: "Replica counts B (default 64 1024 for S, 16 128 for I).")
    var batches: [Int] = []

    @Option(help: "Dimension d.") var d = 500
    @Option(help: "Samples n.") var n = 250
    @Option(help: "float32 or float64.") var precision = "float32"
    @Option(help: "Steps per repetition.") var steps = 20
    @Option(help: "Repetitions (the best is reported).") var repetitions = 3
    @Flag(help: "Print JSON rows instead of a table.") var json = false
    @Option(help: "auto (Gram when n > d/2), products or gram.") var gradient = "auto"
    @Option(
        help: ArgumentHelp(
            "Time update sgd with this many rows per step (drawn with replacement) instead of gd: 4·b·d "
                + "multiply-adds per replica-step.")
    ) var sgdBatch: Int?
    @Option(
        name: .customLong("flow"), parsing: .upToNextOption,
        help: ArgumentHelp(
            "Instead of timing: for each configuration, the gradient evaluations the adaptive integrator (update "
                + "flow) needs against fixed-step gradient descent to follow the gradient flow to --target (float64, "
                + "CPU engine).")
    )
    var flowConfigs: [String] = []
    @Option(help: "With --flow: the relative trajectory error to reach.") var target = 1e-6
    @Option(
        help: ArgumentHelp(
            "With --flow: the most gradient-descent steps actually run (beyond, steps are extrapolated from the "
                + "observed order).")
    ) var maxGdSteps = 1 << 18
    @Option(help: "With --flow: seeds per grid point.") var seeds = 1

    func validate() throws {
        guard d >= 1, n >= 1, steps >= 1, repetitions >= 1 else {
            throw ValidationError("--d, --n, --steps and --repetitions must be positive")
        }
        guard Precision(rawValue: precision) != nil else {
            throw ValidationError("--precision must be float32 or float64, got \(precision)")
        }
        for r in regimes where r != "S" && r != "I" { throw ValidationError("--regime must be S or I, got \(r)") }
        for b in batches where b < 1 { throw ValidationError("--batch values must be positive, got \(b)") }
        guard gradient == "auto" || GradientForm(rawValue: gradient) != nil else {
            throw ValidationError("--gradient must be auto, products or gram, got \(gradient)")
        }
        if let b = sgdBatch, !(1...n).contains(b) {
            throw ValidationError("--sgd-batch must be between 1 and n = \(n), got \(b)")
        }
    }

    func run() throws {
        if !flowConfigs.isEmpty { return runFlowStudy() }
        do {
            let precision = Precision(rawValue: precision)!
            // Engines: the CPU engine and the chosen OpenCL devices.
            var targets: [(name: String, device: CLDevice?)] = []
            let requests = devices.isEmpty ? ["all"] : devices
            for r in requests {
                if r.lowercased() == "all" {
                    targets.append(("CPU engine", nil))
                    for entry in (try? DeviceCatalog.platforms()) ?? [] {
                        for dev in entry.devices { targets.append(("OpenCL \(dev.name)", dev)) }
                    }
                } else if let dev = try DeviceCatalog.resolve(try DeviceRequest(parsing: r)) {
                    targets.append(("OpenCL \(dev.name)", dev))
                } else {
                    targets.append(("CPU engine", nil))
                }
            }
            var peaks: [String: Double] = [:]
            var rows: [DLNDevice.Bench.Row] = []
            for regime in regimes.isEmpty ? ["S", "I"] : regimes {
                for B in batches.isEmpty ? (regime == "S" ? [64, 1024] : [16, 128]) : batches {
                    var batch = try DLNDevice.Bench.batch(
                        regime: regime, replicas: B, d: d, n: n, precision: precision, sgdBatch: sgdBatch)
                    if let form = GradientForm(rawValue: gradient) { batch = try batch.with(gradientForm: form) }
                    var cpuRate: Double? = nil
                    for target in targets {
                        let label = target.name
                        if !json {
                            FileHandle.standardError.write(Data("timing \(label), \(regime), B = \(B)…\n".utf8))
                        }
                        do {
                            let engine: any Engine
                            if let dev = target.device {
                                let bytes = Double(batch.datasets.count * n * d) * Double(precision.byteCount)
                                if bytes > Double(dev.maxAllocationSize) {
                                    throw DLNError.deviceFailure(
                                        String(
                                            format:
                                                "too large for the device: X needs %.2f GiB, max allocation %.2f GiB",
                                            bytes / 1_073_741_824, Double(dev.maxAllocationSize) / 1_073_741_824))
                                }
                                engine = try OpenCLEngine(device: dev)
                                if peaks[label] == nil { peaks[label] = try DLNDevice.Bench.devicePeak(dev) }
                            } else {
                                engine = CPUEngine()
                                if peaks[label] == nil { peaks[label] = DLNDevice.Bench.cpuPeak() }
                            }
                            let seconds = try DLNDevice.Bench.time(
                                engine, batch: batch, steps: steps, repetitions: repetitions)
                            let rate = Double(B * steps) / seconds
                            if target.device == nil { cpuRate = rate }
                            rows.append(
                                DLNDevice.Bench.Row(
                                    device: label, regime: regime, replicas: B, d: d, n: n,
                                    precision: precision.rawValue,
                                    steps: steps, seconds: seconds, replicaStepsPerSecond: rate,
                                    gflops: rate * 2 * batch.gradientMultiplyAdds / 1e9, peakGflops: peaks[label] ?? 0,
                                    speedupOverCPU: cpuRate.map { rate / $0 }))
                        } catch {
                            rows.append(
                                DLNDevice.Bench.Row(
                                    device: label, regime: regime, replicas: B, d: d, n: n,
                                    precision: precision.rawValue,
                                    steps: steps, seconds: .nan, replicaStepsPerSecond: .nan, gflops: .nan,
                                    peakGflops: 0,
                                    speedupOverCPU: nil, failure: "\(error)"))
                        }
                    }
                }
            }
            if json {
                let encoder = JSONEncoder()
                encoder.nonConformingFloatEncodingStrategy = .convertToString(
                    positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
                encoder.keyEncodingStrategy = .convertToSnakeCase
                for row in rows { print(String(decoding: try encoder.encode(row), as: UTF8.self)) }
            } else {
                print(
                    "d = \(d), n = \(n), \(steps) steps per repetition, best of \(repetitions); \(System.coreCount) "
                        + "CPU cores; gradient: "
                        + "\(gradient == "auto" ? "auto (\(GradientForm.cheaper(n: n, d: d).rawValue))" : gradient)"
                )
                print(DLNDevice.Bench.table(rows))
            }
        } catch { fail(error) }
    }

    func runFlowStudy() {
        do {
            var rows: [FlowStudy.Row] = []
            for path in flowConfigs {
                let config = try Configuration.load(path: path)
                rows.append(
                    try FlowStudy.run(
                        config, name: config.name, seeds: seeds, target: target, maxGDSteps: maxGdSteps,
                        engine: CPUEngine()
                    ) { line in
                        if !json { FileHandle.standardError.write(Data((line + "\n").utf8)) }
                    })
            }
            if json {
                let encoder = JSONEncoder()
                encoder.keyEncodingStrategy = .convertToSnakeCase
                for row in rows { print(String(decoding: try encoder.encode(row), as: UTF8.self)) }
            } else {
                print(
                    "Gradient evaluations to follow gradient flow to a relative trajectory error ≤ \(target) "
                        + "(float64, CPU engine; ≈: extrapolated)"
                )
                print(FlowStudy.table(rows))
            }
        } catch { fail(error) }
    }
}
