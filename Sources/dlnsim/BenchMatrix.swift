import DLNDevice
import DLNModel
import DLNRun
import Foundation
import OpenCLKit

extension BenchCommand {
    /// `bench --matrix`: the full-matrix network on the CPU engine and the OpenCL devices.
    func runMatrix() {
        do {
            let precision = Precision(rawValue: precision)!
            let widths = widths.isEmpty ? [100, 100, 100, 10] : widths
            let n = samples
            let shape = MatrixShape(widths: widths)
            let targets = try targets()
            var peaks: [String: Double] = [:]
            var rows: [DLNDevice.Bench.Row] = []
            for regime in regimes.isEmpty ? ["S"] : regimes {
                for B in batches.isEmpty ? [256] : batches {
                    let batch = DLNDevice.Bench.matrixBatch(
                        widths: widths, n: n, replicas: B, precision: precision, regime: regime)
                    var cpuRate: Double? = nil
                    for target in targets {
                        let label = target.name
                        if !json {
                            FileHandle.standardError.write(Data("timing \(label), \(regime), B = \(B)…\n".utf8))
                        }
                        do {
                            let engine: any MatrixEngine
                            if let dev = target.device {
                                let gpu = try MatrixOpenCLEngine(device: dev)
                                let capacity = gpu.replicaCapacity(batch)
                                if capacity < B {
                                    throw DLNError.deviceFailure(
                                        "too large for the device: \(capacity) replicas fit, \(B) asked")
                                }
                                engine = gpu
                                if peaks[label + precision.rawValue] == nil {
                                    peaks[label + precision.rawValue] = try DLNDevice.Bench.devicePeak(
                                        dev, precision: precision)
                                }
                            } else {
                                engine = MatrixCPUEngine()
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
                                    device: label, regime: regime, replicas: B, d: shape.inputs, n: n,
                                    precision: precision.rawValue, steps: steps, seconds: seconds,
                                    replicaStepsPerSecond: rate,
                                    gflops: rate * 2 * Double(shape.stepMultiplyAdds(samples: n)) / 1e9,
                                    peakGflops: peaks[label + precision.rawValue] ?? 0,
                                    speedupOverCPU: cpuRate.map { rate / $0 },
                                    widths: widths))
                        } catch {
                            rows.append(
                                DLNDevice.Bench.Row(
                                    device: label, regime: regime, replicas: B, d: shape.inputs, n: n,
                                    precision: precision.rawValue, steps: steps, seconds: .nan,
                                    replicaStepsPerSecond: .nan, gflops: .nan, peakGflops: 0, speedupOverCPU: nil,
                                    failure: "\(error)", widths: widths))
                        }
                    }
                }
            }
            try printRows(
                rows,
                header: "matrix model, widths \(widths.map(String.init).joined(separator: " ")), n = \(n), "
                    + "\(steps) steps per repetition, best of \(repetitions); \(System.coreCount) CPU cores "
                    + "(\(System.cpuModel ?? "unknown CPU"), CPU engine loops: \(VectorISA.current))")
        } catch { fail(error) }
    }
}
