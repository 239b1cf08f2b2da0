import ArgumentParser
import DLNDevice
import DLNModel
import DLNRun
import DLNTheory
import Foundation

struct Merge: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Combine the output folders of the shards of one run (dlnsim run --shard i/N) into one output.",
        discussion: """
            Each replica is taken from the shard that ran it; the statistics and figures are computed again over the \
            whole ensemble. The result is bit-identical to running the whole configuration at once. Refuses folders of \
            different configurations, dlnsim builds or shard counts, names any missing shard, refuses a shard file that \
            is not the one the shard wrote (its hash is in the shard's manifest.json) and an --out that is, holds or \
            lies inside a shard folder. A shard that holds no replicas (more shards than a batch has) is accepted.
              dlnsim merge runs/shard-0 runs/shard-1 runs/shard-2 --out runs/all
            See docs/cluster.md.
            """)

    @Argument(help: "The shards' output folders (all N of them, any order).")
    var folders: [String]

    @Option(help: "Output folder for the merged run.")
    var out: String

    @Flag(
        help: ArgumentHelp(
            "Write into a folder that holds files dlnsim did not write (they stay untouched; a file of the same name "
                + "as an output is never replaced).")
    )
    var force = false

    func run() throws {
        var opened: OutputDirectory? = nil
        do {
            try ShardMerge.refuseOverlap(output: out, shards: folders)
            let matrix = try MatrixMerge.kind(of: folders)
            let directory = try OutputDirectory.open(out, mode: .replace, force: force)
            opened = directory
            if matrix {
                // The matrix model's shards: the run's own files (figures included), written for the whole.
                let merged = try MatrixMerge.merge(folders)
                _ = try merged.run.write(to: directory, saveWeights: merged.saveWeights, yaml: merged.yaml)
                print(
                    "merged \(folders.count) shards: \(merged.run.setup.batch.replicas) "
                        + "replicas of the matrix model into \(out)")
                return
            }
            let staging = try directory.stage()
            let summary = try ShardMerge.merge(folders, into: staging)
            var folder = try OutputFolder(staging)
            let configuration = try folder.configuration()
            if configuration.theory != nil {
                reportTheory(
                    try DMFTStudy.solveAndWrite(
                        configuration, to: staging, request: try DeviceRequest(parsing: configuration.device ?? "auto"))
                )
                folder = try OutputFolder(staging)
            }
            try Report.write(folder, extra: DMFTStudy.figures(folder))
            try directory.commit()
            print(
                "merged \(summary.shards) shards: \(summary.replicas) "
                    + "replicas\(summary.frozen > 0 ? " (\(summary.frozen) frozen, left out of stats.csv)" : "") into "
                    + "\(out)"
            )
            print("figures: \(out)/report.html")
        } catch {
            opened?.abandon()
            fail(error)
        }
    }
}
