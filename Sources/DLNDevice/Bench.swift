import DLNModel
import Dispatch
import Foundation
import OpenCLKit

/// `dlnsim bench`: the same ensemble timed on the CPU engine and on OpenCL devices.
public enum Bench {
    /// One measured configuration.
    public struct Row: Sendable, Codable {
        public let device: String
        public let regime: String
        public let replicas: Int
        public let d: Int
        public let n: Int
        public let precision: String
        public let steps: Int
        /// Best repetition.
        public let seconds: Double
        public let replicaStepsPerSecond: Double
        /// Multiply-adds ×2 per second: 4·n·d per replica-step (the two products; 2·d² for the Gram form) for the
        /// diagonal model, `MatrixShape.stepMultiplyAdds` ×2 for the matrix model.
        public let gflops: Double
        /// The device's measured fma peak in the row's precision, GFLOP/s.
        public let peakGflops: Double
        public var percentOfPeak: Double { peakGflops > 0 ? 100 * gflops / peakGflops : .nan }
        /// Throughput relative to the CPU engine on the same work (nil without a CPU row).
        public var speedupOverCPU: Double?
        /// Why the row has no numbers (device failure, too large), if so.
        public var failure: String?
        /// The matrix model's widths n_0, …, n_L (nil: the diagonal model, of dimension d).
        public var widths: [Int]?
        /// The machine the row was measured on: CPU model, cores and the CPU engine's instruction set (`--json`
        /// rows carry it, since they have no header).
        public var machine: String?

        /// A row.
        public init(
            device: String, regime: String, replicas: Int, d: Int, n: Int, precision: String, steps: Int,
            seconds: Double, replicaStepsPerSecond: Double, gflops: Double, peakGflops: Double,
            speedupOverCPU: Double?, failure: String? = nil, widths: [Int]? = nil
        ) {
            self.device = device
            self.regime = regime
            self.replicas = replicas
            self.d = d
            self.n = n
            self.precision = precision
            self.steps = steps
            self.seconds = seconds
            self.replicaStepsPerSecond = replicaStepsPerSecond
            self.gflops = gflops
            self.peakGflops = peakGflops
            self.speedupOverCPU = speedupOverCPU
            self.failure = failure
            self.widths = widths
        }
    }

    /// Times `steps` steps, until the device has finished them (`Engine.finish`), after a warm-up; best of
    /// `repetitions`. No observation inside the timing (the peers time their steps alone); one after each
    /// repetition checks that the steps ran (a kernel that failed on the device throws there).
    public static func time(_ engine: any Engine, batch: Batch, steps: Int, repetitions: Int) throws(DLNError) -> Double
    {
        try engine.initialize(batch)
        try engine.step(count: max(1, steps / 10))
        _ = try engine.observe()
        var best = Double.infinity
        for _ in 0..<max(1, repetitions) {
            let start = DispatchTime.now().uptimeNanoseconds
            try engine.step(count: steps)
            try engine.finish()
            best = min(best, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
            _ = try engine.observe()
        }
        return best
    }

    /// Times `steps` steps of the matrix model after a warm-up of max(1, steps/10) steps; best of `repetitions`.
    /// Both engines return from `step(count:)` when the steps are done (the OpenCL engine drains its queue), so
    /// nothing is read back inside the measurement.
    public static func time(_ engine: any MatrixEngine, batch: MatrixBatch, steps: Int, repetitions: Int)
        throws(DLNError) -> Double
    {
        try engine.initialize(batch)
        try engine.step(count: max(1, steps / 10))
        var best = Double.infinity
        for _ in 0..<max(1, repetitions) {
            let start = DispatchTime.now().uptimeNanoseconds
            try engine.step(count: steps)
            best = min(best, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        }
        return best
    }

    /// The CPU's fused-multiply-add peak in `precision`, GFLOP/s (`CPUPeak`, measured in the CPU engine's own
    /// build).
    public static func cpuPeak(threads: Int = System.coreCount, precision: Precision = .float32) -> Double {
        CPUPeak.measure(threads: threads, double: precision == .float64)
    }

    /// An OpenCL device's measured fma peak in `precision` (float64 only on devices with `cl_khr_fp64`), GFLOP/s.
    public static func devicePeak(_ device: CLDevice, precision: Precision = .float32) throws(DLNError) -> Double {
        do {
            let context = try CLContext.shared(for: device)
            let queue = try CLCommandQueue(context: context)
            let options = "-cl-std=CL1.2" + (precision == .float64 ? " -D DLN_PEAK_FP64" : "")
            let flopsPerIteration: Double = precision == .float64 ? 64 : 128  // 8 chains of double4 or float8
            let program = try KernelLibrary.program(
                context: context, source: try KernelLibrary.source(files: ["peak.cl"]), options: options)
            let kernel = try CLKernel(program: program, name: "dln_peak")
            let global = max(1, device.computeUnits) * 4096
            let out = try CLBuffer(context: context, byteCount: global * 4)
            var iterations: Int32 = 256
            var best = 0.0
            for _ in 0..<8 {
                try kernel.bind(iterations, Float(1), out)
                let start = DispatchTime.now().uptimeNanoseconds
                try queue.enqueue(kernel, global: [global], local: [64])
                try queue.finish()
                let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
                best = max(best, Double(global) * Double(iterations) * flopsPerIteration / seconds / 1e9)
                if seconds < 0.05 { iterations *= 2 }
            }
            return best
        } catch let e as DLNError { throw e } catch {
            throw .deviceFailure("peak measurement on \(device.name): \(error)")
        }
    }

    /// A table for people.
    public static func table(_ rows: [Row]) -> String {
        func pad(_ s: String, _ w: Int, right: Bool = false) -> String {
            s.count >= w
                ? s
                : (right
                    ? String(repeating: " ", count: w - s.count) + s : s + String(repeating: " ", count: w - s.count))
        }
        let width = max(12, rows.map(\.device.count).max() ?? 12)
        var lines = [
            pad("device", width) + "  regime  " + pad("B", 6, right: true) + "  precision  "
                + pad("replica-steps/s", 15, right: true)
                + pad("GFLOP/s", 10, right: true) + pad("% peak", 9, right: true) + pad("vs CPU", 9, right: true)
        ]
        for r in rows {
            var line =
                pad(r.device, width) + "  " + pad(r.regime, 6) + "  " + pad("\(r.replicas)", 6, right: true) + "  "
                + pad(r.precision, 9) + "  "
            if let failure = r.failure {
                line += "skipped: " + failure
            } else {
                line +=
                    pad(String(format: "%.4g", r.replicaStepsPerSecond), 15, right: true)
                    + pad(String(format: "%.1f", r.gflops), 10, right: true)
                line += pad(String(format: "%.1f%%", r.percentOfPeak), 9, right: true)
                line += pad(r.speedupOverCPU.map { String(format: "%.2f×", $0) } ?? "–", 9, right: true)
            }
            lines.append(line)
        }
        // One peak per device and precision, in the order of the rows.
        var peaks: [(String, Double)] = []
        for r in rows where r.peakGflops > 0 {
            let name = "\(r.device) \(r.precision)"
            if !peaks.contains(where: { $0.0 == name }) { peaks.append((name, r.peakGflops)) }
        }
        lines.append(
            "measured fma peaks: "
                + peaks.map { String(format: "%@ %.0f GFLOP/s", $0.0, $0.1) }.joined(separator: "; "))
        return lines.joined(separator: "\n")
    }
}
