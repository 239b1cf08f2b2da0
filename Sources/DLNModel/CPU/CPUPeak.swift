import Dispatch
import Foundation

/// The CPU's fused-multiply-add peak, for `dlnsim bench`'s "% peak": independent SIMD16 fma chains per thread, as
/// many as the registers hold (`VectorKernels.peakChains`), in the compilation of the hot loops in use (`VectorISA`), so that it measures the instructions the engine
/// runs.
public enum CPUPeak {
    /// The CPU's measured fma peak with the loops of `isa`, on `threads` threads, GFLOP/s, in float32 (SIMD16<Float>
    /// chains) or float64 (`double`: SIMD8<Double> chains, the same registers): the best of eight timings of about
    /// 7 ms each (one timing alone moved between 100 and 200 GFLOP/s on a shared 2-core machine, and "% peak" with it;
    /// as the OpenCL peak, the best of several).
    public static func measure(threads: Int = System.coreCount, isa: VectorISA = .current, double: Bool = false)
        -> Double
    {
        let kernels = isa.kernels
        let iterations = double ? 2_000_000 : 4_000_000
        let lanes = double ? 8 : 16
        let sink = UnsafeMutablePointer<Double>.allocate(capacity: threads)
        defer { sink.deallocate() }
        nonisolated(unsafe) let out = sink
        var best = 0.0
        for _ in 0..<8 {
            let start = DispatchTime.now().uptimeNanoseconds
            DispatchQueue.concurrentPerform(iterations: threads) { t in
                out[t] =
                    double
                    ? kernels.peakLoop64(iterations: iterations, seed: Double(t))
                    : Double(kernels.peakLoop(iterations: iterations, seed: Float(t)))
            }
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            let flops = Double(threads) * Double(iterations) * Double(kernels.peakChains) * Double(lanes) * 2
            best = max(best, flops / seconds / 1e9)
        }
        return best
    }
}
