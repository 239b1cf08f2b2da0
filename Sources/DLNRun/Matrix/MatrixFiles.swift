import DLNModel
import DLNTheory
import Foundation

extension MatrixConfiguration {
    /// Reads `problem.files` (X, Y and optionally T): each file is read and its shape checked against the widths here,
    /// so that a bad file is refused before anything runs; n comes from X.
    mutating func readFiles(_ section: YAMLSection, sink: IssueSink, baseDirectory: String, given problem: YAMLSection)
    {
        func path(_ key: String) -> String? {
            guard let p = section.string(key) else { return nil }
            return p.hasPrefix("/") ? p : URL(fileURLWithPath: baseDirectory).appendingPathComponent(p).path
        }
        let x = path("X")
        let y = path("Y")
        let t = path("T")
        section.finish()
        guard let x, let y else {
            sink.add(
                "problem.files", "needs X (n × n0) and Y (n × nL) .npy files; T (nL × n0, the teacher) is optional")
            return
        }
        for key in ["n", "whiten", "noise", "data", "teacher"] where problem.has(key) {
            sink.add("problem.\(key)", "does not apply with problem.files (the data come from the files)")
        }
        files = Files(x: x, y: y, teacher: t)
        do {
            let xs = try NPY.read(path: x)
            guard xs.shape.count == 2, xs.shape[0] >= 1 else {
                sink.add("problem.files.X", "\(x): must be a 2-D array n × n0, got shape \(xs.shape)")
                return
            }
            samples = xs.shape[0]
            let ys = try NPY.read(path: y)
            if !(ys.shape.count == 2 && ys.shape[0] == samples) && !(ys.shape == [samples]) {
                sink.add(
                    "problem.files.Y", "\(y): must be an array n × nL with n = \(samples) (X's rows), got \(ys.shape)")
            }
            if let t {
                let ts = try NPY.read(path: t)
                if ts.shape.count != 2 {
                    sink.add("problem.files.T", "\(t): must be a 2-D array nL × n0, got shape \(ts.shape)")
                }
            }
            if (xs.values + ys.values).contains(where: { !$0.isFinite }) {
                sink.add("problem.files", "X or Y holds a value that is not finite (NaN or infinite)")
            }
        } catch {
            if case .badFile(let p, let reason) = error {
                let key = p == x ? "problem.files.X" : p == y ? "problem.files.Y" : "problem.files.T"
                sink.add(key, "\(p): \(reason)")
            } else {
                sink.add("problem.files", "\(error)")
            }
        }
    }

    /// The shape checks between the files and the widths.
    func checkFiles(_ sink: IssueSink) {
        guard let files else { return }
        let n0 = widths[0]
        let nL = widths[depth]
        guard let xs = try? NPY.read(path: files.x), let ys = try? NPY.read(path: files.y) else { return }
        if xs.shape.count == 2 && xs.shape[1] != n0 {
            sink.add("model.widths[0]", "is \(n0), but X (\(files.x)) has \(xs.shape[1]) columns")
        }
        let outputs = ys.shape.count == 2 ? ys.shape[1] : 1
        if outputs != nL {
            sink.add("model.widths[\(depth)]", "is \(nL), but Y (\(files.y)) has \(outputs) column(s)")
        }
        if let t = files.teacher, let ts = try? NPY.read(path: t), ts.shape.count == 2, ts.shape != [nL, n0] {
            sink.add("problem.files.T", "\(t): must be nL × n0 = \(nL) × \(n0), got \(ts.shape)")
        }
    }
}

extension MatrixSetup {
    /// A data set from `problem.files`: X and Y as given; the teacher T and its singular vectors when T is given
    /// (from the eigen-decomposition of TᵀT; u_i = T·v_i/s_i), else a NaN teacher and no modes.
    static func problem(files: MatrixConfiguration.Files, n0: Int, nL: Int) throws(DLNError) -> (Problem, [Double]) {
        let x = try NPY.read(path: files.x).values
        let y = try NPY.read(path: files.y).values
        guard let path = files.teacher else {
            let nan = [Double](repeating: .nan, count: nL * n0)
            return (Problem(teacher: nan, u: [], v: [], x: x, y: y), [])
        }
        let t = try NPY.read(path: path).values
        var gram = [Double](repeating: 0, count: n0 * n0)
        for i in 0..<n0 {
            for j in 0..<n0 { gram[i * n0 + j] = (0..<nL).reduce(0.0) { $0 + t[$1 * n0 + i] * t[$1 * n0 + j] } }
        }
        let (values, vectors) = SymmetricEigen.decompose(gram, n0)
        let order = values.indices.sorted { values[$0] > values[$1] }
        let top = values[order[0]].squareRoot()
        let rank = min(nL, n0, order.filter { values[$0].squareRoot() > 1e-10 * top }.count)
        var v = [Double](repeating: 0, count: n0 * n0)
        var u = [Double](repeating: 0, count: nL * nL)
        var sigma: [Double] = []
        for (k, e) in order.prefix(rank).enumerated() {
            let s = values[e].squareRoot()
            sigma.append(s)
            for j in 0..<n0 { v[j * n0 + k] = vectors[j * n0 + e] }
            for i in 0..<nL { u[i * nL + k] = (0..<n0).reduce(0.0) { $0 + t[i * n0 + $1] * vectors[$1 * n0 + e] } / s }
        }
        return (Problem(teacher: t, u: u, v: v, x: x, y: y), sigma)
    }
}
