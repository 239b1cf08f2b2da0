import DLNDevice
import DLNModel
import DLNTheory
import Foundation
import OpenCLKit

extension DMFTStudy {
    /// Solves the DMFT of every grid point of a configuration, its Monte-Carlo paths on `device` (nil: the
    /// CPU). `note`, when given, receives one line per fixed-point iteration.
    public static func solve(
        _ configuration: Configuration, file: String, device: CLDevice?, note: ((String) -> Void)?
    ) throws(DLNError) -> [Point] {
        let settings = configuration.theory ?? DMFTSettings()
        if let note {
            // The flow solver's paths run on the host whatever the device (only the GD solver has kernels).
            let found = (try? DMFTMapping.targets(configuration, file: file)) ?? []
            let solvers = Set(found.map(\.solver))
            let place: String
            switch (device, solvers.contains(.gd), solvers.contains(.flow)) {
            case (let d?, true, true): place = "OpenCL \(d.name) (solver gd; solver flow on the CPU)"
            case (let d?, true, false): place = "OpenCL \(d.name)"
            case (_?, false, _): place = "the CPU (solver flow runs on the CPU only; the device is not used)"
            default: place = "the CPU"
            }
            // Each solver's defaults, for the solvers the grid points use (the given values where given).
            let kinds = DMFTSolverKind.allCases.filter { solvers.contains($0) }
            func each<V: Equatable>(_ value: (DMFTSettings) -> V) -> String {
                let values = kinds.map { value(settings.resolved(for: $0)) }
                if values.count < 2 || values.allSatisfy({ $0 == values[0] }) {
                    return "\(values.first ?? value(settings))"
                }
                return zip(values, kinds).map { "\($0) (\($1.rawValue))" }.joined(separator: " / ")
            }
            note(
                "dmft: \(each(\.paths)) paths (\(each(\.responsePaths)) with tangents), damping "
                    + "\(each { $0.damping(for: $0.solver ?? .gd) }), tolerance \(settings.tolerance), at most "
                    + "\(each(\.maxIterations)) iterations, solver \(kinds.map(\.rawValue).joined(separator: " and ")), "
                    + "on \(place)")
        }
        return try run(
            configuration, file: file,
            engine: { problem, settings throws(DLNError) in
                try DMFTEngines.engine(device, problem: problem, settings: settings)
            },
            progress: { g, iteration, residual in
                note?(String(format: "dmft: grid point %d, iteration %d, residual %.3g", g, iteration, residual))
            })
    }

    /// `theory: dmft` beside a run: solves every grid point (paths on the run's device) and writes the curves into
    /// the run's folder, where the figures draw them.
    public static func solveAndWrite(
        _ configuration: Configuration, to outDir: String, request: DeviceRequest
    ) throws(DLNError) -> [Point] {
        let device = try DeviceCatalog.resolve(request)
        let points = try solve(configuration, file: "theory", device: device, note: nil)
        try write(points, to: outDir)
        return points
    }

    /// One line per solved grid point: convergence, cost, and the final test error and train loss with their
    /// Monte-Carlo standard errors.
    public static func reportLines(_ points: [Point]) -> [String] {
        points.map { p in
            let r = p.result
            func last(_ name: String, _ values: [String: [Double]]) -> Double {
                (p.target.scale[name] ?? 1) * (values[name]?.last ?? .nan)
            }
            return String(
                format:
                    "DMFT grid point %d: %@ after %d iterations, residual %.3g, %@ × %d paths in %.2f s on %@; "
                    + "final test error %.4g ± %.2g, train loss %.4g ± %.2g",
                p.target.gridPoint, r.converged ? "converged" : "NOT converged", r.iterations, r.residual,
                r.grid.map { "\($0.count) flow grid points" } ?? "\(r.problem.steps) steps",
                r.settings.paths, r.seconds, r.engine, last("test_error", r.mean), last("test_error", r.standardError),
                last("train_loss", r.mean), last("train_loss", r.standardError))
        }
    }
}
