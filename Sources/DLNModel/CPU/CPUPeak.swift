import Dispatch
import Foundation

/// The CPU's fused-multiply-add peak, for `dlnsim bench`'s "% peak": independent SIMD16 fma chains per thread, as
/// many as the registers hold (`VectorKernels.peakChains`), in the compilation of the hot loops in use (`VectorISA`), so that it measures the instructions the engine
/// runs.
public enum CPUPeak {
    /// The CPU's measured FP32 fma peak with the loops of `isa`, on `threads` threads, GFLOP/s: the best of eight
    /// timings of about 7 ms each (one timing alone moved between 100 and 200 GFLOP/s on a shared 2-core machine, and
    /// "% peak" with it; as the OpenCL peak, the best of several).
    public static func measure(threads: Int = System.coreCount, isa: VectorISA = .current) -> Double {
        let kernels = isa.kernels
        let iterations = 4_000_000
        let sink = UnsafeMutablePointer<Float>.allocate(capacity: threads)
        defer { sink.deallocate() }
        nonisolated(unsafe) let out = sink
        var best = 0.0
        for _ in 0..<8 {
            let start = DispatchTime.now().uptimeNanoseconds
            DispatchQueue.concurrentPerform(iterations: threads) { t in
                out[t] = kernels.peakLoop(iterations: iterations, seed: Float(t))
            }
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            best = max(best, Double(threads) * Double(iterations) * Double(kernels.peakChains) * 16 * 2 / seconds / 1e9)
        }
        return best
    }
}
