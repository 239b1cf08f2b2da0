import DLNDevice
import DLNModel
import DLNRun
import DLNTheory
import Foundation
import TestSupport
import Testing

/// A batch larger than an engine's memory runs in slices, one after the other, with results identical to one
/// pass: observables, integrator counters and final states, for gradient descent and gradient flow.
@Suite(.serialized) struct ChunkingTests {
    static func bits(_ v: [Double]) -> [UInt64] { v.map { $0.isNaN ? Double.nan.bitPattern : $0.bitPattern } }

    @Test(arguments: ["gd", "flow"]) func slicesGiveTheSameResultsOnCPU(update: String) throws {
        try slicesGiveTheSameResults(side: .cpu, update: update)
    }
    @Test(.needsOpenCL, arguments: ["gd", "flow"]) func slicesGiveTheSameResultsOnOpenCL(update: String) throws {
        try slicesGiveTheSameResults(side: .opencl, update: update)
    }
    func slicesGiveTheSameResults(side: EngineKind, update: String) throws {
        let (whole, part) = (try side.engine(), try side.engine())
        let time = update == "flow" ? "horizon: 20, flow: {rtol: 1.0e-5, atol: 1.0e-7}" : "steps: 300"
        let yaml = """
            problem: {d: 30, n: 12, data: independent}
            training: {update: \(update), \(time)}
            grid: {alpha: [0.05, 0.3, 1], weight_decay: [0, 0.01]}
            seeds: 7
            record: {checkpoints: 5}
            """
        let experiment = try Experiment(try Configuration.parse(yaml: yaml))
        #expect(experiment.groups[0].batch.layout.replicas == 42)
        let a = try Simulation.run(experiment, on: whole, keepFinalState: true)
        let limited = LimitedEngine(part, capacity: 16)
        let b = try Simulation.run(experiment, on: limited, keepFinalState: true)
        #expect(limited.largest <= 16, "a slice larger than the capacity")
        for (oa, ob) in zip(a.observations, b.observations) {
            for k in oa.values.indices { #expect(Self.bits(oa.values[k]) == Self.bits(ob.values[k]), "\(oa.names[k])") }
        }
        #expect(a.evaluations == b.evaluations && a.rejected == b.rejected && a.status == b.status)
        let (sa, sb) = (try #require(a.finalStates?.first), try #require(b.finalStates?.first))
        #expect(Self.bits(sa.weights.doubles) == Self.bits(sb.weights.doubles))
        #expect(zip(sa.layers, sb.layers).allSatisfy { Self.bits($0.doubles) == Self.bits($1.doubles) })
    }

    /// The engines' own capacities: a device with little memory gets slices (multiples of 16).
    @Test func capacitiesAreMultiplesOfTheBlock() throws {
        let experiment = try Experiment(
            try Configuration.parse(yaml: "problem: {d: 200, n: 100, data: independent}\nseeds: 100"))
        let batch = experiment.groups[0].batch
        #expect(CPUEngine().replicaCapacity(batch) >= 100)
        let (per, _) = batch.memoryFootprint
        #expect(per >= (200 * 100 + 100) * 4, "independent data count per replica")
    }

    @Test(.needsOpenCL) func deviceCapacityIsAMultipleOfTheBlock() throws {
        let experiment = try Experiment(
            try Configuration.parse(yaml: "problem: {d: 200, n: 100, data: independent}\nseeds: 100"))
        let engine = try EngineKind.opencl.engine()
        let c = engine.replicaCapacity(experiment.groups[0].batch)
        #expect(c >= 16 && c % 16 == 0)
    }
}
