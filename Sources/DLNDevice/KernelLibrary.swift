import DLNModel
import Foundation
import OpenCLKit
import Synchronization

/// The OpenCL C sources of Kernels/, embedded in the binary so that a copied release binary runs anywhere.
///
/// Set `DLNSIM_KERNELS_DIR` to a folder of `.cl` files to use those instead (while developing kernels).
public enum KernelLibrary {
    /// The files of a batch's program, in the order they are concatenated: common.cl, the model family's file
    /// (Families/, `ModelFamily.kernelFile`: it defines the dln_family_* functions), then the shared kernels.
    public static func files(for parameterization: Parameterization) -> [String] {
        ["common.cl", parameterization.family.kernelFile] + shared
    }

    /// The kernels every family shares, in order (after common.cl and the family's file).
    static let shared = [
        "residual.cl", "gradient.cl", "products_v16.cl", "update.cl", "replica_v16.cl", "tiled.cl", "loss.cl",
        "observe.cl", "flow.cl",
        "stochastic.cl", "momentum.cl", "curvature.cl"
    ]

    /// The environment variable that overrides the embedded sources.
    public static let overrideVariable = "DLNSIM_KERNELS_DIR"

    static func embedded(_ file: String) -> [UInt8] {
        guard let bytes = KernelSources.embedded(file) else { preconditionFailure("unknown kernel file \(file)") }
        return bytes
    }

    /// The program source: the files (by default a pm batch's), concatenated, from the override folder when one is set.
    public static func source(files: [String] = files(for: .pm)) throws(DLNError) -> String {
        let folder = ProcessInfo.processInfo.environment[overrideVariable].flatMap { $0.isEmpty ? nil : $0 }
        var parts: [String] = []
        for file in files {
            if let folder {
                let path = URL(fileURLWithPath: folder).appendingPathComponent(file).path
                guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                    throw .badFile(path: path, reason: "cannot read kernel source (\(overrideVariable)=\(folder))")
                }
                parts.append("// ---- \(file) (from \(folder))\n" + text)
            } else {
                parts.append("// ---- \(file)\n" + String(decoding: embedded(file), as: UTF8.self))
            }
        }
        return parts.joined(separator: "\n")
    }

    private struct Key: Hashable {
        let device: CLDevice
        let context: ObjectIdentifier
        let source: Int
        let options: String
    }

    private static let cache = Mutex<[Key: CLProgram]>([:])

    /// A built program, from the per-process cache keyed by (device, context, source hash, options).
    public static func program(context: CLContext, source: String, options: String) throws(CLError) -> CLProgram {
        let key = Key(
            device: context.device, context: ObjectIdentifier(context), source: source.hashValue, options: options)
        if let hit = cache.withLock({ $0[key] }) { return hit }
        let program = try CLProgram(context: context, source: source, options: options)
        cache.withLock { $0[key] = program }
        return program
    }
}
