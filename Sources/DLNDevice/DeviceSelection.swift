import DLNModel
import OpenCLKit

/// Which engine runs a batch: `auto`, `cpu`, `gpu` (first OpenCL GPU), `opencl` (first OpenCL device) or
/// `opencl:P:D`.
public enum DeviceRequest: Sendable, Equatable, CustomStringConvertible {
    /// An OpenCL GPU if there is one (not a simulator such as Oclgrind), else the CPU engine.
    case auto
    /// The native CPU engine.
    case cpu
    /// The first OpenCL GPU (refused when there is none).
    case gpu
    /// An OpenCL device: platform and device indices, or the first device when nil.
    case opencl(platform: Int?, device: Int?)

    /// Parses `auto`, `cpu`, `gpu`, `opencl`, `opencl:P` or `opencl:P:D`.
    public init(parsing text: String) throws(DLNError) {
        let parts = text.lowercased().split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        switch parts[0] {
        case "auto" where parts.count == 1: self = .auto
        case "cpu" where parts.count == 1: self = .cpu
        case "gpu" where parts.count == 1: self = .gpu
        case "opencl" where parts.count <= 3:
            let numbers = parts.dropFirst().map { Int($0) }
            if numbers.contains(where: { $0 == nil || $0! < 0 }) {
                throw .deviceUnavailable(
                    "'\(text)': platform and device must be indices ≥ 0, as in opencl:0:1 (see `dlnsim devices`)")
            }
            self = .opencl(platform: numbers.first ?? nil, device: numbers.count > 1 ? numbers[1] : nil)
        default:
            throw .deviceUnavailable(
                "'\(text)' is not a device; use auto, cpu, gpu, opencl or opencl:P:D (see `dlnsim devices`)")
        }
    }

    public var description: String {
        switch self {
        case .auto: "auto"
        case .cpu: "cpu"
        case .gpu: "gpu"
        case .opencl(let p, let d): "opencl" + (p.map { ":\($0)" } ?? "") + (d.map { ":\($0)" } ?? "")
        }
    }
}

/// The devices this process can see.
public enum DeviceCatalog {
    /// Every OpenCL platform with its devices.
    public static func platforms() throws(DLNError) -> [(platform: CLPlatform, devices: [CLDevice])] {
        do {
            return try CLPlatform.all().map { p throws(CLError) in (p, try p.devices()) }
        } catch { throw .deviceFailure("cannot list OpenCL devices: \(error)") }
    }

    /// Resolves a request to an OpenCL device, or nil for the CPU engine. `note` receives a line saying which.
    public static func resolve(_ request: DeviceRequest, note: (String) -> Void = { _ in }) throws(DLNError)
        -> CLDevice?
    {
        switch request {
        case .cpu:
            return nil
        case .auto:
            let all = (try? platforms()) ?? []
            let gpus = all.flatMap(\.devices).filter { $0.type == .gpu }
            if let gpu = gpus.first(where: { !isSimulator($0) }) {
                note("device auto: OpenCL GPU \(gpu.name) (\(gpu.platform.name))")
                return gpu
            }
            if let simulator = gpus.first {
                note(
                    "device auto: \(simulator.name) (\(simulator.platform.name)) simulates a GPU, slowly, and is "
                        + "used only when asked for (--device opencl:P:D); using the CPU engine")
                return nil
            }
            note("device auto: no OpenCL GPU found, using the CPU engine")
            return nil
        case .gpu:
            let all: [(platform: CLPlatform, devices: [CLDevice])]
            do { all = try platforms() } catch { all = [] }
            // A simulator (Oclgrind) reports itself as a GPU: it is chosen only by name (opencl:P:D).
            if let gpu = all.flatMap(\.devices).first(where: { $0.type == .gpu && !isSimulator($0) }) {
                note("device gpu: OpenCL GPU \(gpu.name) (\(gpu.platform.name))")
                return gpu
            }
            var found = ["cpu (the CPU engine)"]
            for (p, entry) in all.enumerated() {
                for (d, dev) in entry.devices.enumerated() {
                    let simulated = isSimulator(dev) ? ", a simulator: name it to use it" : ""
                    found.append("opencl:\(p):\(d) (\(dev.name), type \(dev.type.description)\(simulated))")
                }
            }
            throw .deviceUnavailable(
                "gpu requested, but there is no OpenCL GPU here; the devices are \(found.joined(separator: ", ")) (see "
                    + "`dlnsim devices`)")
        case .opencl(let p, let d):
            let all = try platforms()
            guard !all.isEmpty else {
                throw .deviceUnavailable("OpenCL was requested but \(CLPlatform.missingPlatformAdvice)")
            }
            let pi = p ?? 0
            guard pi < all.count else {
                throw .deviceUnavailable("there is no OpenCL platform \(pi); \(all.count) found (see `dlnsim devices`)")
            }
            let devices = all[pi].devices
            let di = d ?? 0
            guard di < devices.count else {
                throw .deviceUnavailable(
                    "platform \(pi) (\(all[pi].platform.name)) has no device \(di); \(devices.count) found (see "
                        + "`dlnsim devices`)"
                )
            }
            note("device: OpenCL \(devices[di].name) (\(all[pi].platform.name))")
            return devices[di]
        }
    }

    /// Whether a device simulates a GPU (Oclgrind, an interpreter that checks every access): `auto` skips it.
    public static func isSimulator(_ device: CLDevice) -> Bool { device.platform.name.contains("Oclgrind") }

    /// The engine for a request.
    public static func engine(for request: DeviceRequest, note: (String) -> Void = { _ in }) throws(DLNError)
        -> any FlowEngine
    {
        if let device = try resolve(request, note: note) { return try OpenCLEngine(device: device) }
        return CPUEngine()
    }
}
