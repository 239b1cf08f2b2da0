import DLNModel
import Foundation
import OpenCLKit

/// The DMFT effective process on an OpenCL device (Kernels/dmft.cl): one work-item per path for the forward pass,
/// one per (response path, source) for the tangents, one per matrix entry and chunk for the sums. Computes the
/// same bits as `DMFTCPUPaths` where the device rounds like IEEE double (PoCL does).
public final class DeviceDMFTPaths: DMFTPathEngine {
    public let device: CLDevice
    let context: CLContext
    let queue: CLCommandQueue
    let paths: CLKernel, correlation: CLKernel, tangents: CLKernel, responseSum: CLKernel
    let problem: DMFTProblem
    let K: Int, N: Int, Nr: Int
    /// Response paths per tangent launch (a multiple of the response chunk), bounding the K·K·Q scratch.
    let batch: Int
    let z: CLBuffer, wstar: CLBuffer, delta: CLBuffer, ha: CLBuffer, hb: CLBuffer, hg: CLBuffer, scratch: CLBuffer
    let corrPartial: CLBuffer, respPartial: CLBuffer

    public var description: String { "OpenCL \(device.name) (\(device.platform.name))" }

    /// Builds the kernels and uploads the common random numbers and the teachers (the same as the CPU engine's).
    public init(device: CLDevice, problem: DMFTProblem, settings: DMFTSettings, scratchBytes: Int = 256 << 20)
        throws(DLNError)
    {
        guard device.supportsFP64 else { throw .unsupportedPrecision(device: device.name, precision: .float64) }
        self.device = device
        self.problem = problem
        K = problem.gridSize
        N = settings.paths
        Nr = min(settings.responsePaths, settings.paths)
        let rc = DMFTLayout.responseChunk
        batch = max(rc, min((Nr + rc - 1) / rc * rc, scratchBytes / (8 * K * K) / rc * rc))
        let zHost = DMFTLayout.noise(gridSize: K, paths: N, seed: settings.seed)
        let rng = CounterRNG(seed: UInt64(settings.seed))
        let wHost = (0..<N).map {
            DMFTLayout.teacher(path: $0, density: problem.density, values: problem.values, rng: rng)
        }
        let chunks = (N + DMFTLayout.chunk - 1) / DMFTLayout.chunk
        let rchunks = (Nr + rc - 1) / rc
        do {
            context = try CLContext.shared(for: device)
            queue = try CLCommandQueue(context: context)
            let program = try KernelLibrary.program(
                context: context, source: try KernelLibrary.source(files: ["dmft.cl"]), options: "-cl-std=CL1.2")
            paths = try CLKernel(program: program, name: "dmft_paths")
            correlation = try CLKernel(program: program, name: "dmft_correlation")
            tangents = try CLKernel(program: program, name: "dmft_tangents")
            responseSum = try CLKernel(program: program, name: "dmft_response")
            z = try CLBuffer(context: context, copying: zHost, access: .readOnly)
            wstar = try CLBuffer(context: context, copying: wHost, access: .readOnly)
            delta = try CLBuffer(context: context, byteCount: 8 * K * N)
            ha = try CLBuffer(context: context, byteCount: 8 * K * Nr)
            hb = try CLBuffer(context: context, byteCount: 8 * K * Nr)
            hg = try CLBuffer(context: context, byteCount: 8 * K * Nr)
            scratch = try CLBuffer(context: context, byteCount: 8 * K * K * batch)
            corrPartial = try CLBuffer(context: context, byteCount: 8 * K * K * chunks)
            respPartial = try CLBuffer(context: context, byteCount: 8 * K * K * rchunks)
        } catch let e as CLError {
            throw .deviceFailure("\(e)")
        } catch let e as DLNError {
            throw e
        } catch {
            throw .deviceFailure("\(error)")
        }
    }

    public func iterate(factor: [Double], rank: Int, memory: [Double]) throws(DLNError) -> (
        correlation: [Double], response: [Double]
    ) {
        let pr = problem
        let linear: Int32 = pr.process == .linear ? 1 : 0
        let C = DMFTLayout.chunk
        let RC = DMFTLayout.responseChunk
        let chunks = (N + C - 1) / C
        let rchunks = (Nr + RC - 1) / RC
        let local = 64
        func round(_ x: Int, _ m: Int) -> Int { (x + m - 1) / m * m }
        do {
            let f = try CLBuffer(context: context, copying: factor, access: .readOnly)
            let m = try CLBuffer(context: context, copying: memory, access: .readOnly)
            try queue.launch(
                paths, global: [round(N, local)], local: [local],
                Int32(K), Int32(N), Int32(Nr), Int32(rank), linear, pr.delta, pr.eta, pr.lambda, pr.alpha,
                z, wstar, f, m, delta, ha, hb, hg)
            try queue.launch(
                correlation, global: [round(K * K, local), chunks], local: [local, 1],
                Int32(K), Int32(N), Int32(C), delta, corrPartial)
            var pbase = 0
            while pbase < Nr {
                let Q = min(batch, Nr - pbase)
                let lq = min(32, round(Q, 8))
                try queue.launch(
                    tangents, global: [round(Q, lq), K], local: [lq, 1],
                    Int32(K), Int32(Nr), Int32(pbase), Int32(Q), linear, pr.delta, pr.eta, pr.lambda, ha, hb, hg, m,
                    scratch)
                let qc = (Q + RC - 1) / RC
                try queue.launch(
                    responseSum, global: [round(K * K, local), qc], local: [local, 1],
                    Int32(K), Int32(Q), Int32(RC), Int32(pbase / RC), scratch, respPartial)
                pbase += Q
            }
            var corr = [Double](repeating: 0, count: chunks * K * K)
            var resp = [Double](repeating: 0, count: rchunks * K * K)
            try queue.read(corrPartial, into: &corr)
            try queue.read(respPartial, into: &resp)
            return (corr, resp)
        } catch {
            throw .deviceFailure("DMFT kernels: \(error)")
        }
    }

    public func deviations() throws(DLNError) -> [Double] {
        var out = [Double](repeating: 0, count: K * N)
        do { try queue.read(delta, into: &out) } catch { throw .deviceFailure("DMFT read-back: \(error)") }
        return out
    }
}

/// The path engine a device request asks for: the OpenCL device, or the CPU engine.
public enum DMFTEngines {
    /// Builds the engine for one problem.
    public static func engine(_ device: CLDevice?, problem: DMFTProblem, settings: DMFTSettings) throws(DLNError)
        -> any DMFTPathEngine
    {
        if let device { return try DeviceDMFTPaths(device: device, problem: problem, settings: settings) }
        return DMFTCPUPaths(problem: problem, settings: settings)
    }
}
