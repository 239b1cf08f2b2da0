import DLNModel
import DLNTheory
import Foundation

extension DMFTStudy {
    /// The largest dmft_correlation.npy + dmft_response.npy that `theory.two_time: true` writes, in bytes.
    public static let twoTimeLimit = 256e6

    /// Bytes of the two-time files of a run: 2 files × grid points × checkpoints² × 8.
    public static func twoTimeBytes(_ targets: [DMFTTarget]) -> Double {
        targets.reduce(0) { $0 + 16 * Double($1.checkpoints.count * $1.checkpoints.count) }
    }

    /// Refuses `theory.two_time: true` when the files would exceed `twoTimeLimit`, naming the key.
    static func checkTwoTime(_ settings: DMFTSettings, _ targets: [DMFTTarget], file: String) throws(DLNError) {
        guard settings.twoTime else { return }
        let bytes = twoTimeBytes(targets)
        if bytes > twoTimeLimit {
            let c = targets.map(\.checkpoints.count).max() ?? 0
            throw .invalidConfiguration(
                file: file,
                issues: [
                    ConfigIssue(
                        "theory.two_time",
                        String(
                            format:
                                "the two-time files (%d grid points × %d × %d checkpoints, two matrices) would take "
                                + "%.3g MB, more than the %.0f MB allowed: record fewer checkpoints "
                                + "(record.checkpoints), fewer grid points, or set theory.two_time: false",
                            targets.count, c, c, bytes / 1e6, twoTimeLimit / 1e6))
                ])
        }
    }

    /// The converged C_Δ(t_c, t_c′) and R_Δ(t_c, t_c′) of a solved grid point on its checkpoints c, c′ (row-major
    /// C×C, DMFT units): the correlation E[Δ(t)Δ(s)], and the response E[∂Δ(t)/∂h(s)] to a field h added to the
    /// gradient g at s, per unit of DMFT time (R_Δ(k, k′)/η for GD, R_Δ(k, s) over the field's quadrature weight
    /// for the flow solver), zero for s ≥ t.
    public static func twoTime(_ point: Point) -> (correlation: [Double], response: [Double]) {
        let steps = point.target.checkpoints
        let C = steps.count
        let K = point.result.grid?.count ?? point.result.problem.gridSize
        let cd = point.result.parameterCorrelation
        let rd = point.result.parameterResponse
        var corr = [Double](repeating: .nan, count: C * C)
        var resp = corr
        guard cd.count == K * K, rd.count == K * K else { return (corr, resp) }
        let columns = steps.indices.map { point.result.column(output: $0, step: steps[$0]) }
        // The weight of a field at grid point s: the step η (GD), or θh_{s−1} + (1 − θ)h_s (flow).
        let weights = point.result.grid?.fieldWeights ?? [Double](repeating: point.result.problem.eta, count: K)
        for (i, k) in columns.enumerated() {
            for (j, s) in columns.enumerated() {
                corr[i * C + j] = cd[k * K + s]
                resp[i * C + j] = s < k ? rd[k * K + s] / weights[s] : 0
            }
        }
        return (corr, resp)
    }

    /// Writes dmft_correlation.npy and dmft_response.npy ([grid point, checkpoint t, checkpoint s], DMFT units).
    static func writeTwoTime(_ points: [Point], to dir: URL) throws(DLNError) {
        let G = points.count
        let C = points.first?.target.checkpoints.count ?? 0
        var corr: [Double] = []
        var resp: [Double] = []
        for p in points {
            let m = twoTime(p)
            corr += m.correlation
            resp += m.response
        }
        try NPY.write(
            corr, shape: [G, C, C], dtype: .float64, to: dir.appendingPathComponent("dmft_correlation.npy").path)
        try NPY.write(resp, shape: [G, C, C], dtype: .float64, to: dir.appendingPathComponent("dmft_response.npy").path)
    }
}
