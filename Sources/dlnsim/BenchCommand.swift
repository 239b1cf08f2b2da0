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
            "Each row: a warm-up, then the best of several repetitions of `--steps` gradient steps, each timed until "
            + "the device has finished them (the observables are computed after each, outside the timing). GFLOP/s counts the gradient's multiply-adds ×2: 4·n·d "
            + "per replica-step for the two products, 2·d² for the Gram form (chosen when n > d/2); % peak is "
            + "against the device's fused-multiply-add peak in the row's precision, measured here; vs CPU is the speed-up over the CPU "
            + "engine on the same work. Regime S: one data set shared by all replicas; I: each replica its own. "
            + "--matrix times the full-matrix network W_L⋯W_1 instead (see its help)."
    )

    @Option(
        name: .customLong("device"),
        help: "cpu, opencl, opencl:P:D or all (repeatable; default all: the CPU engine and every OpenCL device).")
    var devices: [String] = []

    @Option(name: .customLong("regime"), help: "S (shared data) or I (independent data); repeatable (default both).")
    var regimes: [String] = []

    @Option(
        name: .customLong("batch"), parsing: .upToNextOption,
        help: "Replica counts B (default 64 1024 for S, 16 128 for I; 256 with --matrix).")
    var batches: [Int] = []

    @Option(help: "Dimension d.") var d = 500
    @Option(help: "Samples n (default 250; 400 with --matrix).") var n: Int?
    @Flag(
        help: ArgumentHelp(
            "Time the full-matrix deep linear network f(x) = W_L⋯W_1·x instead (regime S by default): Gaussian data, "
                + "a teacher of rank min(n_0, n_L) with singular values 1, 2, …, layers N(0, α²/n_{l−1}) with α over "
                + "[0.1, 1], gradient descent with step 0.01. GFLOP/s counts 2·n·(2·Σ_l n_l·n_{l−1} + Σ_{l≥2} "
                + "n_l·n_{l−1}) per replica-step (forward, layer gradients, back-propagation).")
    ) var matrix = false
    @Option(
        parsing: .upToNextOption, help: "With --matrix: the widths n_0 n_1 … n_L (default 100 100 100 10).")
    var widths: [Int] = []
    @Option(help: "float32 or float64.") var precision = "float32"
    @Option(help: "Steps per repetition.") var steps = 20
    @Option(help: "Repetitions (the best is reported).") var repetitions = 3
    @Flag(help: "Print JSON rows instead of a table.") var json = false
    @Option(help: "auto (Gram when n > d/2), products or gram.") var gradient = "auto"
    @Option(
        help: ArgumentHelp(
            "The residuals' summation order (training.summation): auto (strided for independent data in the products "
                + "form, else ascending), ascending or strided."))
    var summation = "auto"
    @Option(
        help: ArgumentHelp(
            "How the CPU engine steps independent data (never changing a bit): auto (the cached calibration of "
                + "this machine, measured on first use), calibrate (measure again), standard (the built-in "
                + "default), or a size (e.g. 2M: one replica at a time up to that data-set size). Printed with "
                + "the table. Also DLNSIM_CPU_TUNING.",
            valueName: "mode")
    ) var cpuTuning = "auto"
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

    /// Samples n: --n, or the default of the model.
    var samples: Int { n ?? (matrix ? 400 : 250) }

    func validate() throws {
        guard d >= 1, samples >= 1, steps >= 1, repetitions >= 1 else {
            throw ValidationError("--d, --n, --steps and --repetitions must be positive")
        }
        guard Precision(rawValue: precision) != nil else {
            throw ValidationError("--precision must be float32 or float64, got \(precision)")
        }
        for r in regimes where r != "S" && r != "I" { throw ValidationError("--regime must be S or I, got \(r)") }
        for b in batches where b < 1 { throw ValidationError("--batch values must be positive, got \(b)") }
        guard Configuration.SummationChoice(rawValue: summation) != nil else {
            throw ValidationError("--summation must be auto, ascending or strided, got \(summation)")
        }
        guard gradient == "auto" || GradientForm(rawValue: gradient) != nil else {
            throw ValidationError("--gradient must be auto, products or gram, got \(gradient)")
        }
        if let b = sgdBatch, !(1...samples).contains(b) {
            throw ValidationError("--sgd-batch must be between 1 and n = \(samples), got \(b)")
        }
        if matrix {
            guard sgdBatch == nil, gradient == "auto", flowConfigs.isEmpty else {
                throw ValidationError("--matrix times gradient descent: no --sgd-batch, --gradient or --flow")
            }
            guard widths.isEmpty || (widths.count >= 2 && widths.allSatisfy { $0 >= 1 }) else {
                throw ValidationError("--widths needs at least two positive widths, got \(widths)")
            }
        } else if !widths.isEmpty {
            throw ValidationError("--widths applies to --matrix only")
        }
    }

    /// The engines to time: the CPU engine (device nil) and the requested OpenCL devices.
    func targets() throws -> [(name: String, device: CLDevice?)] {
        var targets: [(name: String, device: CLDevice?)] = []
        for r in devices.isEmpty ? ["all"] : devices {
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
        return targets
    }

    /// Prints the rows as JSON lines or as a table under `header`.
    func printRows(_ rows: [DLNDevice.Bench.Row], header: String) throws {
        if json {
            let encoder = JSONEncoder()
            encoder.nonConformingFloatEncodingStrategy = .convertToString(
                positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
            encoder.keyEncodingStrategy = .convertToSnakeCase
            let machine =
                "\(System.cpuModel ?? "unknown CPU"), \(System.coreCount) cores, CPU engine loops: \(VectorISA.current)"
            for var row in rows {
                row.machine = machine
                print(String(decoding: try encoder.encode(row), as: UTF8.self))
            }
        } else {
            print(header)
            print(DLNDevice.Bench.table(rows))
        }
    }

    func run() throws {
        if !flowConfigs.isEmpty { return runFlowStudy() }
        if matrix { return runMatrix() }
        guard let tuningMode = CPUTuning.Mode(argument: cpuTuning) else {
            fail("--cpu-tuning: give auto, calibrate, standard or a size such as 2M, got \(cpuTuning)")
        }
        CPUTuning.use(tuningMode)
        do {
            let precision = Precision(rawValue: precision)!
            let n = samples
            let targets = try targets()
            var peaks: [String: Double] = [:]
            var rows: [DLNDevice.Bench.Row] = []
            var orders: [String: Set<String>] = [:]  // per regime
            for regime in regimes.isEmpty ? ["S", "I"] : regimes {
                for B in batches.isEmpty ? (regime == "S" ? [64, 1024] : [16, 128]) : batches {
                    var batch = try DLNDevice.Bench.batch(
                        regime: regime, replicas: B, d: d, n: n, precision: precision, sgdBatch: sgdBatch)
                    if let form = GradientForm(rawValue: gradient) { batch = try batch.with(gradientForm: form) }
                    let order = Configuration.SummationChoice(rawValue: summation)!
                    if order != .auto || GradientForm(rawValue: gradient) != nil {
                        batch = try batch.with(summation: order.order(for: batch))
                    }
                    orders[regime, default: []].insert(batch.summation.rawValue)
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
                                if peaks[label + precision.rawValue] == nil {
                                    peaks[label + precision.rawValue] = try DLNDevice.Bench.devicePeak(
                                        dev, precision: precision)
                                }
                            } else {
                                engine = CPUEngine()
                                if peaks[label + precision.rawValue] == nil {
                                    peaks[label + precision.rawValue] = DLNDevice.Bench.cpuPeak(precision: precision)
                                }
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
                                    gflops: rate * 2 * batch.gradientMultiplyAdds / 1e9,
                                    peakGflops: peaks[label + precision.rawValue] ?? 0,
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
            try printRows(
                rows,
                header: "d = \(d), n = \(n), \(steps) steps per repetition, best of \(repetitions); "
                    + "\(System.coreCount) CPU cores (\(System.cpuModel ?? "unknown CPU"), CPU engine loops: \(VectorISA.current)); "
                    + "gradient: "
                    + "\(gradient == "auto" ? "auto (\(GradientForm.cheaper(n: n, d: d).rawValue))" : gradient); "
                    + "summation: \(summation) (\(orderSummary(orders)))")
            if targets.contains(where: { $0.device == nil }) {
                var summary = CPUTuning.current.summary
                if orders.values.contains(where: { $0.contains(SummationOrder.strided.rawValue) }) {
                    summary +=
                        "\nIn the strided summation order every replica steps alone from one copy of its data set, "
                        + "whatever its size (the range above is the ascending order's)"
                }
                if json { note(summary) } else { print(summary) }
            }
        } catch { fail(error) }
    }

    /// "I strided, S ascending": the order each regime's batches summed in.
    func orderSummary(_ orders: [String: Set<String>]) -> String {
        let parts: [String] = orders.keys.sorted(by: >).map { regime in
            let names: [String] = orders[regime]!.sorted()
            return regime + " " + names.joined(separator: "/")
        }
        return parts.joined(separator: ", ")
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
