import DLNRun
import Foundation
import Testing

/// The figures as a user gets them from the command line: the lazy → rich time t_c of `dlnsim analyze` marked on
/// the figures against t, and `dlnsim plot --time linear|log`.
@Suite(.serialized) struct FigureCLITests {
    /// After analyze (λ > 0: t_c computed), each figure against t carries one t_c marker per grid point; the plot
    /// command redraws them on a linear time axis with --time linear, and rejects other scales.
    @Test func transitionTimeMarkedAndLinearTime() throws {
        let dir = CLITests.temporary()
        try
            "problem: {d: 30, n: 15}\ntraining: {steps: 3000}\ngrid: {alpha: [0.01, 0.1], weight_decay: 0.01}\nseeds: 2\n"
            .write(toFile: dir + "/c.yaml", atomically: true, encoding: .utf8)
        let run = try CLITests.run(["run", dir + "/c.yaml", "--out", dir + "/o", "--quiet", "--device", "cpu"])
        #expect(run.status == 0, "\(run.stderr)")
        let svg = { (name: String) in try String(contentsOfFile: dir + "/o/" + name, encoding: .utf8) }
        #expect(try !svg("train_loss.svg").contains("class=\"marker t_c\""))
        let analyze = try CLITests.run(["analyze", dir + "/o"])
        #expect(analyze.status == 0, "\(analyze.stderr)")
        let tc = try NPY.read(path: dir + "/o/analysis_transition_time.npy").values
        #expect(tc.count == 4 && tc.allSatisfy { $0.isFinite && $0 > 0 }, "\(tc)")
        for name in ["train_loss.svg", "test_error.svg"] {
            let text = try svg(name)
            #expect(text.components(separatedBy: "class=\"marker t_c\"").count - 1 == 2, "\(name)")
            #expect(text.contains("t_c: lazy → rich (analyze)") && text.contains("dotted: t_c"), "\(name)")
        }
        #expect(try !svg("train_loss.svg").contains(">0</text>"))
        let linear = try CLITests.run(["plot", dir + "/o", "--time", "linear"])
        #expect(linear.status == 0, "\(linear.stderr)")
        // A linear time axis starts at t = 0; the log one has no tick at 0 (and the train loss axis is log).
        #expect(try svg("train_loss.svg").contains(">0</text>") && svg("train_loss.svg").contains("marker t_c"))
        let bad = try CLITests.run(["plot", dir + "/o", "--time", "lin"])
        #expect(bad.status != 0 && bad.stderr.contains("--time must be 'log' or 'linear', not 'lin'"), "\(bad.stderr)")
    }

    /// Whether python3 can import matplotlib (the figure scripts need it).
    static let hasMatplotlib: Bool = {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", "import matplotlib, numpy"]
        p.standardError = FileHandle.nullDevice
        guard (try? p.run()) != nil else { return false }
        p.waitUntilExit()
        return p.terminationStatus == 0
    }()

    /// A run of three α values, analysed: its folder.
    static func analysedRun() throws -> String {
        let dir = CLITests.temporary()
        try "problem: {d: 20, n: 10}\ntraining: {steps: 200}\ngrid: {alpha: [0.01, 0.1, 1]}\nseeds: 2\n".write(
            toFile: dir + "/c.yaml", atomically: true, encoding: .utf8)
        let run = try CLITests.run(["run", dir + "/c.yaml", "--out", dir + "/o", "--quiet", "--device", "cpu"])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(try CLITests.run(["analyze", dir + "/o"]).status == 0)
        return dir + "/o"
    }

    /// Beside each figure, the matplotlib script that redraws it (a file of dlnsim's).
    @Test func figureScriptsWritten() throws {
        let out = try Self.analysedRun()
        for name in ["train_loss", "test_error", "test_error_vs_alpha"] {
            let script = try String(contentsOfFile: out + "/\(name).py", encoding: .utf8)
            #expect(script.contains("NAME = \"\(name)\"") && script.contains("savefig"), "\(name)")
            #expect(OutputDirectory.isDlnsimName(name + ".py"))
        }
        #expect(!OutputDirectory.isDlnsimName("my_analysis.py"))
    }

    /// The scripts redraw the figures from the folder's files and write PNG and PDF.
    @Test(.enabled(if: FigureCLITests.hasMatplotlib, "python3 cannot import matplotlib and numpy"))
    func figureScriptsRedrawTheFigures() throws {
        let out = try Self.analysedRun()
        for name in ["test_error", "test_error_vs_alpha"] {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            p.arguments = ["python3", out + "/\(name).py"]
            try p.run()
            p.waitUntilExit()
            #expect(p.terminationStatus == 0, "\(name).py")
            for ext in ["png", "pdf"] {
                let size = (try? FileManager.default.attributesOfItem(atPath: out + "/\(name).\(ext)"))?[.size] as? Int
                #expect((size ?? 0) > 1000, "\(name).\(ext)")
            }
        }
    }
}
