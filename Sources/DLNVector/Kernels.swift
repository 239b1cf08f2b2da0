import VectorAccess

/// The CPU engine's hot loops: the products of a gradient step, the matrix model's register tiles and the fma peak
/// loop. This folder is compiled twice, as DLNVector (for the baseline instruction set: AVX2 + FMA on x86-64) and as
/// DLNVectorAVX512 (the same files, linked, compiled for AVX-512), and DLNModel picks one at start from the CPU's
/// features (DLNModel/CPU/VectorCode.swift). Both compute every result with the same operations in the same order,
/// one fused multiply-add per term, so they give the same bits: the instruction set only changes how many lanes one
/// instruction covers.
///
/// The entry points take raw pointers and a precision flag, so that both compilations expose the same signatures
/// (DLNModel's `VectorKernels` protocol) and the generic loops are specialised here, inside the module that carries
/// the instruction set's flags. Vectors are SIMD16 of the scalar type: 16 replicas, 16 rows or 16 coordinates.
/// Each entry point sits in the file of its loops (an extension of this enum), and the loops are private: then the
/// loops are specialised for Float and Double where they are called and their generic versions are never compiled,
/// even in a debug build, which compiles file by file.
public enum Kernels: Sendable {
    #if DLN_AVX512
        /// The fma peak loop's independent SIMD16<Float> chains: eight (16 zmm registers of AVX-512's 32).
        public static let peakChains = 8
    #else
        /// The fma peak loop's independent SIMD16<Float> chains: five (10 ymm registers of AVX2's 16: eight chains
        /// would spill, and the loop would time the spills, not the peak).
        public static let peakChains = 5
    #endif

    /// `peakChains` independent SIMD16<Float> fma chains of `iterations` steps each (the fma peak's loop); returns
    /// their sum so that nothing is optimised away.
    @inline(never)
    public static func peakLoop(iterations: Int, seed: Float) -> Float {
        peakChainsLoop(SIMD16<Float>.self, iterations: iterations, seed: seed)
    }

    /// The same with SIMD8<Double> chains (the same registers per chain): the float64 peak's loop.
    @inline(never)
    public static func peakLoop64(iterations: Int, seed: Double) -> Double {
        peakChainsLoop(SIMD8<Double>.self, iterations: iterations, seed: seed)
    }
}

/// `Kernels.peakChains` independent fma chains of V, `iterations` steps each; their sum.
@inline(__always)
private func peakChainsLoop<V: SIMD>(_: V.Type, iterations: Int, seed: V.Scalar) -> V.Scalar
where V.Scalar: BinaryFloatingPoint {
    let m = V(repeating: 0.999999)
    let c = V(repeating: 1e-7)
    var a0 = V(repeating: seed)
    var a1 = a0 + 1
    var a2 = a0 + 2
    var a3 = a0 + 3
    var a4 = a0 + 4
    #if DLN_AVX512
        var a5 = a0 + 5
        var a6 = a0 + 6
        var a7 = a0 + 7
    #endif
    for _ in 0..<iterations {
        a0 = a0.addingProduct(m, c)
        a1 = a1.addingProduct(m, c)
        a2 = a2.addingProduct(m, c)
        a3 = a3.addingProduct(m, c)
        a4 = a4.addingProduct(m, c)
        #if DLN_AVX512
            a5 = a5.addingProduct(m, c)
            a6 = a6.addingProduct(m, c)
            a7 = a7.addingProduct(m, c)
        #endif
    }
    #if DLN_AVX512
        return (a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7).sum()
    #else
        return (a0 + a1 + a2 + a3 + a4).sum()
    #endif
}

/// The strips that `stripProducts` takes 16-wide vectors in: eight vectors (128 columns) while they last, then four,
/// then one; (first column, width) each. The CPU engine's copies store each strip contiguously, at c·rows.
public func stripWidths(_ total: Int) -> [(Int, Int)] {
    var out: [(Int, Int)] = []
    var c = 0
    for width in [128, 64, 16] {
        while c + width <= total {
            out.append((c, width))
            c += width
        }
    }
    return out
}
