import CPUFeatures
import DLNVector
import DLNVectorAVX512
import Foundation
import VectorAccess

/// The instruction set the CPU engine's hot loops (the products, the matrix model's tiles, the fma peak) run in,
/// chosen at start from the CPU's features: one binary runs everywhere at the speed of the machine it runs on.
///
/// The loops of Sources/DLNVector are compiled twice: for the build's baseline (`DLNSIM_TARGET_CPU`, AVX2 + FMA by
/// default on x86-64) as DLNVector, and for AVX-512 (F, CD, BW, DQ, VL) as DLNVectorAVX512. Both run the same
/// operations in the same order with one fused multiply-add per term, so the choice changes no bit of any result;
/// only how many lanes one instruction covers.
public enum VectorISA: String, Sendable, CaseIterable, CustomStringConvertible {
    /// The build's baseline: AVX2 + FMA on x86-64 unless `DLNSIM_TARGET_CPU` named another CPU.
    case baseline
    /// AVX-512 (x86-64 only).
    case avx512

    public var description: String {
        switch self {
        case .avx512: return "AVX-512"
        case .baseline:
            #if arch(x86_64)
                return "AVX2 + FMA"
            #else
                return "baseline"
            #endif
        }
    }

    /// Whether this CPU (and its operating system) can run this instruction set.
    public var isSupported: Bool { self == .baseline || dln_cpu_has_avx512() != 0 }

    /// The widest instruction set this CPU supports.
    public static var detected: VectorISA { avx512.isSupported ? .avx512 : .baseline }

    /// The instruction set in force: `DLNSIM_CPU_ISA` (baseline, avx2, avx512) when it is set and the CPU runs
    /// it, else `detected`. An unreadable or unsupported value warns on stderr once.
    public static let current: VectorISA = {
        let env = ProcessInfo.processInfo.environment["DLNSIM_CPU_ISA"] ?? ""
        guard !env.isEmpty else { return detected }
        let asked: VectorISA? = env.lowercased() == "avx2" ? .baseline : VectorISA(rawValue: env.lowercased())
        guard let asked, asked.isSupported else {
            let why = asked == nil ? "is not baseline, avx2 or avx512" : "names an instruction set this CPU lacks"
            FileHandle.standardError.write(Data("warning: DLNSIM_CPU_ISA=\(env) \(why); using \(detected)\n".utf8))
            return detected
        }
        return asked
    }()

    /// The compiled loops of this instruction set.
    var kernels: any VectorKernels.Type {
        self == .avx512 ? DLNVectorAVX512.Kernels.self : DLNVector.Kernels.self
    }
}

/// The entry points of one compilation of Sources/DLNVector (see there for what each computes).
protocol VectorKernels: Sendable {
    static func quadProducts(
        double: Bool, x: UnsafeMutableRawPointer, y: UnsafeMutableRawPointer, w: UnsafeMutableRawPointer,
        r: UnsafeMutableRawPointer, g: UnsafeMutableRawPointer, n: Int, d: Int)
    static func pairProducts(
        double: Bool, x: UnsafeMutableRawPointer, y: UnsafeMutableRawPointer, wa: UnsafeMutableRawPointer,
        wb: UnsafeMutableRawPointer, ra: UnsafeMutableRawPointer, rb: UnsafeMutableRawPointer,
        g: UnsafeMutableRawPointer, g2: UnsafeMutableRawPointer, n: Int, d: Int)
    static func matVec(
        double: Bool, rows: Int, d: Int, matrix: UnsafeMutableRawPointer, targets: UnsafeMutableRawPointer,
        w: UnsafeMutableRawPointer, out: UnsafeMutableRawPointer)
    static func panelResidual(
        double: Bool, rows: Int, d: Int, panels: UnsafeMutableRawPointer, targets: UnsafeMutableRawPointer,
        w: UnsafeMutableRawPointer, out: UnsafeMutableRawPointer)
    static func panelGradient(
        double: Bool, n: Int, d: Int, panels: UnsafeMutableRawPointer, r: UnsafeMutableRawPointer,
        g: UnsafeMutableRawPointer)
    static func fusedProducts(
        double: Bool, n: Int, d: Int, x: UnsafeMutableRawPointer, y: UnsafeMutableRawPointer,
        w: UnsafeMutableRawPointer, r: UnsafeMutableRawPointer, g: UnsafeMutableRawPointer)
    static func stripProducts(
        double: Bool, a: UnsafeMutableRawPointer, rows: Int, columns: Int, v: UnsafeMutableRawPointer,
        minus t: UnsafeMutableRawPointer?, into out: UnsafeMutableRawPointer)
    static func stridedProducts(
        double: Bool, x: UnsafeMutableRawPointer, y: UnsafeMutableRawPointer, w: UnsafeMutableRawPointer,
        r: UnsafeMutableRawPointer, g: UnsafeMutableRawPointer, n: Int, d16: Int)
    static func matrixDots(
        double: Bool, rows: Int, columns: Int, depth: Int, a: UnsafeRawPointer, ar: Int, ak: Int, b: UnsafeRawPointer,
        br: Int, bk: Int, out: UnsafeMutableRawPointer, rs: Int, cs: Int, kind: DotsKind, eta: UnsafeRawPointer,
        lambda: UnsafeRawPointer, resume: UnsafeRawPointer?, layer: UnsafeRawPointer?)
    static func peakLoop(iterations: Int, seed: Float) -> Float
    static func peakLoop64(iterations: Int, seed: Double) -> Double
    /// The independent SIMD16<Float> fma chains of one iteration of `peakLoop`.
    static var peakChains: Int { get }
}

extension DLNVector.Kernels: VectorKernels {}
extension DLNVectorAVX512.Kernels: VectorKernels {}
