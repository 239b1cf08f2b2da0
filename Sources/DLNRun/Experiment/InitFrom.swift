import DLNModel
import Foundation

/// `model.init.from: DIR`: every replica starts from the final layers of the replica with the same grid point and seed
/// in an earlier run written to DIR with `--save-weights` (its layers.npy [grid point, seed, layer, d]). The earlier
/// run must have the same grid points as far as the initialisation goes (parameterization, depth, d, α) and the same
/// seeds; what may differ is how training goes on (η, λ, the update, noise, batch size, momentum, steps).
struct PreviousLayers {
    let folder: String
    let layers: NPY.Array

    /// The folder's path as given, made absolute against the current directory.
    static func path(_ given: String) -> String {
        given.hasPrefix("/")
            ? given
            : URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent(given)
                .standardized.path
    }

    /// Reads and checks DIR against the grid points and seeds of this configuration; every refusal names its key.
    static func load(_ given: String, gridPoints: [Experiment.GridPoint], seeds: [Int]) throws(DLNError)
        -> PreviousLayers
    {
        let folder = path(given)
        func refuse(_ why: String) -> DLNError { .badFile(path: "model.init.from", reason: "\(folder): \(why)") }
        guard FileManager.default.fileExists(atPath: folder + "/manifest.json") else {
            throw refuse("not a finished dlnsim output folder (no manifest.json)")
        }
        try OutputDirectory.checkFinished(folder)
        guard FileManager.default.fileExists(atPath: folder + "/layers.npy") else {
            throw refuse("has no layers.npy: run the earlier configuration with --save-weights")
        }
        guard let data = FileManager.default.contents(atPath: folder + "/manifest.json"),
            let manifest = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any],
            let oldSeeds = manifest["seeds"] as? Int,
            let configuration = manifest["configuration"] as? [String: Any]
        else { throw refuse("manifest.json cannot be read") }
        let offset = configuration["seed_offset"] as? Int ?? 0
        let old = (0..<oldSeeds).map { offset + $0 }
        guard old == seeds else {
            throw .invalidProblem(
                "seeds: model.init.from \(folder) ran the seeds \(describe(old)), this configuration \(describe(seeds)) "
                    + "(seeds and seed_offset must be those of the earlier run)")
        }
        let rows = try grid(folder + "/grid.csv", refuse)
        guard rows.count == gridPoints.count else {
            throw .invalidProblem(
                "grid: model.init.from \(folder) has \(rows.count) grid points, this configuration \(gridPoints.count) "
                    + "(the earlier run's grid point g starts grid point g here)")
        }
        for (g, (row, p)) in zip(rows, gridPoints).enumerated() {
            let checks: [(String, String, String)] = [
                ("model.parameterization", row["parameterization"] ?? "", p.parameterization.rawValue),
                ("model.depth", row["depth"] ?? "", "\(p.depth)"), ("problem.d", row["d"] ?? "", "\(p.d)")
            ]
            for (key, was, now) in checks where was != now {
                throw .invalidProblem(
                    "\(key): grid point \(g) has \(now) here but \(was) in model.init.from \(folder) (a run of the "
                        + "same model and d is needed)")
            }
            if let was = row["alpha"].flatMap(Double.init), abs(was - p.alpha) > 1e-12 * max(abs(was), abs(p.alpha)) {
                throw .invalidProblem(
                    "grid.alpha: grid point \(g) has α = \(p.alpha) here but \(was) in model.init.from \(folder) (the "
                        + "same grid is needed)")
            }
        }
        let layers = try NPY.read(path: folder + "/layers.npy")
        let L = gridPoints.first.map { $0.parameterization.family.layerCount(depth: $0.depth) } ?? 0
        let d = gridPoints.first?.d ?? 0
        guard layers.shape == [gridPoints.count, seeds.count, L, d] else {
            throw refuse(
                "layers.npy has shape \(layers.shape), not [\(gridPoints.count), \(seeds.count), \(L), \(d)] "
                    + "(grid points, seeds, layers, d)")
        }
        if let k = layers.values.firstIndex(where: { !$0.isFinite }) {
            let per = seeds.count * L * d
            throw refuse(
                "layers.npy holds a non-finite value at grid point \(k / per), seed \(seeds[(k % per) / (L * d)]) (the "
                    + "replica was frozen in the earlier run)")
        }
        return PreviousLayers(folder: folder, layers: layers)
    }

    /// The layers of grid point g, seed position s: `[layer][j]`, absolute values.
    func factors(point g: Int, seed s: Int) -> [[Double]] {
        let (S, L, d) = (layers.shape[1], layers.shape[2], layers.shape[3])
        return (0..<L).map { l in
            let start = ((g * S + s) * L + l) * d
            return Array(layers.values[start..<(start + d)])
        }
    }

    static func describe(_ seeds: [Int]) -> String {
        seeds.isEmpty ? "none" : seeds.count == 1 ? "\(seeds[0])" : "\(seeds.first!)…\(seeds.last!)"
    }

    /// grid.csv as one dictionary per row.
    static func grid(_ path: String, _ refuse: (String) -> DLNError) throws(DLNError) -> [[String: String]] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw refuse("no grid.csv") }
        let lines = text.split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false) }
        guard let header = lines.first else { throw refuse("grid.csv is empty") }
        return lines.dropFirst().map { row in
            Dictionary(uniqueKeysWithValues: zip(header.map(String.init), row.map(String.init)))
        }
    }
}
