import Dispatch
import Foundation

/// The CPU's fused-multiply-add peak, for `dlnsim bench`'s "% peak": eight independent SIMD16 fma chains per
/// thread. It lives here, in the target built with the CPU engine's flags, so that it measures the same
/// instructions the engine runs (fma on the building machine's vector width).
public enum CPUPeak {
    /// The CPU's measured FP32 fma peak with this build's vector code, on all cores, GFLOP/s.
    public static func measure(threads: Int = System.coreCount) -> Double {
        let iterations = 4_000_000
        let start = DispatchTime.now().uptimeNanoseconds
        let sink = UnsafeMutablePointer<Float>.allocate(capacity: threads)
        defer { sink.deallocate() }
        nonisolated(unsafe) let out = sink
        DispatchQueue.concurrentPerform(iterations: threads) { t in
            out[t] = peakLoop(iterations, seed: Float(t))
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        return Double(threads) * Double(iterations) * 8 * 16 * 2 / seconds / 1e9
    }

    @inline(never)
    static func peakLoop(_ iterations: Int, seed: Float) -> Float {
        let m = SIMD16<Float>(repeating: 0.999999)
        let c = SIMD16<Float>(repeating: 1e-7)
        var a0 = SIMD16<Float>(repeating: seed)
        var a1 = a0 + 1
        var a2 = a0 + 2
        var a3 = a0 + 3
        var a4 = a0 + 4
        var a5 = a0 + 5
        var a6 = a0 + 6
        var a7 = a0 + 7
        for _ in 0..<iterations {
            a0 = a0.addingProduct(m, c)
            a1 = a1.addingProduct(m, c)
            a2 = a2.addingProduct(m, c)
            a3 = a3.addingProduct(m, c)
            a4 = a4.addingProduct(m, c)
            a5 = a5.addingProduct(m, c)
            a6 = a6.addingProduct(m, c)
            a7 = a7.addingProduct(m, c)
        }
        return (a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7).sum()
    }
}
