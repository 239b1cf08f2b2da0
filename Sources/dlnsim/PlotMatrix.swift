import DLNModel
import DLNRun
import Foundation

/// `dlnsim plot` for a matrix run's folder: the figures the run drew, drawn again from its files.
extension Plot {
    /// Redraws the matrix run in `directory` (opened and locked by the caller); the diagonal models' options
    /// (--observable, --x, --time linear) do not apply and are refused.
    func plotMatrix(_ directory: OutputDirectory) throws {
        if observable != nil || parameter != nil || time != "log" {
            throw DLNError.invalidProblem(
                "\(folder) is a matrix-model run: `dlnsim plot` redraws its figures as the run drew them; "
                    + "--observable, --x and --time apply to the diagonal models' folders")
        }
        let figures = try MatrixFolder(folder).figures()
        let staging = try directory.stage()
        for (name, svg) in figures { try OutputFile.write(text: svg, to: staging + "/" + name) }
        try directory.commit()
        print("wrote \(figures.map(\.name).joined(separator: ", ")) to \(folder)")
    }
}
