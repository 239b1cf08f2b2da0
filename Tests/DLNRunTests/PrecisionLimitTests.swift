import DLNModel
import DLNRun
import Foundation
import Testing

/// Runs the precision cannot carry: α outside its range is refused at the configuration (with the key path), and
/// a first step below one ulp of the parameters is named in a warning.
@Suite struct PrecisionLimitTests {
    static func issues(_ yaml: String) -> [ConfigIssue] {
        do {
            _ = try Configuration.parse(yaml: yaml, file: "limits.yaml")
            return []
        } catch {
            guard case .invalidConfiguration(_, let issues) = error else {
                Issue.record("\(error)")
                return []
            }
            return issues
        }
    }

    /// α (or α^L) outside the precision's normal range: refused, naming the α and what to do.
    @Test(arguments: [
        (
            "grid: {alpha: 1e-20}", "grid.alpha",
            "the product of its layers (α² ≈ 1e-40) is below the smallest normal float32"
        ),
        (
            "grid: {alpha: [0.1, 1e-46]}", "grid.alpha[1]",
            "its initial layers (about 1e-46) are below the smallest normal"
        ),
        ("grid: {alpha: 1e30}", "grid.alpha", "(α² ≈ 1e60) is above the largest float32 number"),
        (
            "model: {parameterization: deep, depth: 4}\ngrid: {alpha: 1e-10}", "grid.alpha",
            "(parameterization deep, depth 4): the product of its layers (α^4 ≈ 1e-40)"
        ),
        (
            "model: {parameterization: uv}\ntraining: {precision: float64}\ngrid: {alpha: 1e-200}", "grid.alpha",
            "(α² ≈ 1e-400) is below the smallest normal float64 number"
        ),
        (
            "grid: {alpha: 1e-20, parameterization: [uv, deep]}", "grid.alpha",
            "(parameterization uv): the product of its layers"
        )
    ])
    func alphaOutsideThePrecisionIsRefused(_ yaml: String, _ path: String, _ words: String) {
        let found = Self.issues(yaml)
        #expect(found.contains { $0.path == path && $0.message.contains(words) }, "\(found)")
        #expect(found.allSatisfy { !$0.message.contains("α =") || $0.message.contains("use ") })
    }

    /// The same α is fine where it is representable: float64, or the log representation (only ln α stored), or
    /// an initialisation read from files.
    @Test(arguments: [
        "grid: {alpha: 1e-20}\ntraining: {precision: float64}",
        "grid: {alpha: 1e-60}\ntraining: {update: flow, horizon: 10, flow: {rtol: 1e-5}}",
        "grid: {alpha: 1e-30}\ntraining: {update: multiplicative, representation: log}",
        "grid: {alpha: 1e-15}",
        "model: {parameterization: deep, depth: 3}\ngrid: {alpha: 1e-12}"
    ])
    func representableAlphaIsAccepted(_ yaml: String) {
        #expect(Self.issues(yaml).isEmpty, "\(Self.issues(yaml))")
    }

    /// η far below one ulp: the grid point is named (with its η), the others are not.
    @Test func aFirstStepBelowOneUlpIsNamed() throws {
        let yaml = """
            problem: {d: 40, n: 20}
            grid: {alpha: 1, learning_rate: [1e-12, 0.01]}
            seeds: 2
            """
        let e = try Experiment(try Configuration.parse(yaml: yaml, file: "limits.yaml"))
        #expect(e.precisionWarnings.count == 1, "\(e.precisionWarnings)")
        #expect(
            e.precisionWarnings.first?.hasPrefix("warning: grid point 0 (α = 1.0, η = 1e-12") == true,
            "\(e.precisionWarnings)")
        #expect(e.precisionWarnings.first?.contains("moves no parameter by one float32 ulp") == true)
        // The same η moves float64's parameters (a step of 1e-12 relative is 4500 ulps there).
        let e64 = try Experiment(
            try Configuration.parse(yaml: yaml + "\ntraining: {precision: float64}", file: "limits.yaml"))
        #expect(e64.precisionWarnings.isEmpty, "\(e64.precisionWarnings)")
        // uv and deep take their steps from the other layers: a tiny η is caught there too.
        for model in [
            "model: {parameterization: uv, init: {u_noise: 0.5, v_noise: 0.5}}",
            "model: {parameterization: deep, depth: 3}"
        ] {
            let e = try Experiment(try Configuration.parse(yaml: yaml + "\n" + model, file: "limits.yaml"))
            #expect(e.precisionWarnings.count == 1, "\(model): \(e.precisionWarnings)")
        }
    }
}
