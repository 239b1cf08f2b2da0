import DLNDevice
import DLNModel
import Foundation
import TestSupport
import Testing

/// Update flow stopped between steps (a stop request in the middle of an interval): the snapshot taken there
/// continues, on a fresh engine, to the very numbers of an uninterrupted integration.
@Suite struct FlowStopTests {
    static func bits(_ v: [Double]) -> [UInt64] { v.map { $0.isNaN ? Double.nan.bitPattern : $0.bitPattern } }

    @Test(.needsFP64) func stoppedFlowContinuesExactlyOnOpenCL() throws {
        let device = try DeviceFixture.device(fp64: true)
        try stoppedFlowContinuesExactly { try OpenCLEngine(device: device) }
    }

    func stoppedFlowContinuesExactly(_ make: () throws -> any FlowEngine) throws {
        let batch = try makeBatch(
            d: 24, n: 10, replicas: 20, update: .flow, precision: .float64, lambda: [0, 0.01], alpha: [0.1])
        let whole = try make()
        try whole.initialize(batch)
        try whole.advance(to: 1)
        try whole.advance(to: 40)
        let stopped = try make()
        try stopped.initialize(batch)
        try stopped.advance(to: 1)
        var asked = 0
        // The device asks between groups of rounds: stop at the second question.
        let done = try stopped.advance(
            to: 40,
            stoppingIf: {
                asked += 1
                return asked >= 2
            })
        #expect(!done && asked == 2)
        let snapshot = try stopped.snapshot()
        let t = try #require(snapshot.buffers.first { $0.name == "t" }?.values)
        #expect(t.prefix(20).contains { $0 > 1 && $0 < 40 }, "inside the interval: \(t.prefix(4))")
        let resumed = try make()
        try resumed.initialize(batch)
        try resumed.restore(snapshot)
        try resumed.advance(to: 40)
        let (a, b) = (try whole.snapshot(), try resumed.snapshot())
        for (x, y) in zip(a.buffers, b.buffers) { #expect(Self.bits(x.values) == Self.bits(y.values), "\(x.name)") }
        for (x, y) in zip(try whole.observe().values, try resumed.observe().values) {
            #expect(Self.bits(x) == Self.bits(y))
        }
    }
}
