import DLNDevice
import DLNModel
import DLNRun
import DLNTheory
import Foundation
import TestSupport
import Testing

/// The Gram form g = Σw − b (Σ = scale·XᵀX, b = scale·Xᵀy), chosen when n > d/2, follows the same trajectory as
/// the two products to rounding: 1e-12 relative in float64 and 1e-4 in float32 after 2000 steps (and under the
/// flow integrator), on both engines; on PoCL each form is bit-identical between the engines (EquivalenceTests
/// covers the Gram form with its n > d/2 cases).
@Suite(.serialized) struct GramTests {
    @Test func theCheaperFormIsChosen() {
        #expect(GradientForm.cheaper(n: 250, d: 500) == .products)
        #expect(GradientForm.cheaper(n: 251, d: 500) == .gram)
        #expect(GradientForm.cheaper(n: 1000, d: 100) == .gram)
    }

    @Test(arguments: Precision.allCases) func gramFollowsTheProductsOnCPU(precision: Precision) throws {
        try gramFollowsTheProducts(side: .cpu, precision: precision)
    }
    @Test(.needsFP64, arguments: Precision.allCases) func gramFollowsTheProductsOnOpenCL(precision: Precision) throws {
        try gramFollowsTheProducts(side: .opencl, precision: precision)
    }
    func gramFollowsTheProducts(side: EngineKind, precision: Precision) throws {
        let engine = try side.engine(fp64: precision == .float64)
        var finals: [GradientForm: [Double]] = [:]
        for form in GradientForm.allCases {
            for update in [UpdateRule.gd, .flow] {
                let batch = try makeBatch(
                    d: 40, n: 100, replicas: 20, model: update == .gd ? .uv : .pm, precision: precision,
                    sharing: .independent, lambda: [0, 0.01], eta: [0.01], alpha: [0.5], noise: 0.1)
                let b = try Batch(
                    parameterization: batch.parameterization, update: update, loss: batch.loss, precision: precision,
                    dimension: 40, samples: 100, datasets: batch.datasets, replicas: batch.replicas,
                    initialLayers: batch.initialLayers,
                    flow: FlowSettings(rtol: precision == .float64 ? 1e-10 : 1e-6, atol: 1e-9),
                    gradientForm: form)
                try engine.initialize(b)
                if update == .gd { try engine.step(count: 2000) } else { try engine.advance(to: 20) }
                finals[form, default: []] += try engine.state().weights.doubles
            }
        }
        let (a, b) = (finals[.products]!, finals[.gram]!)
        let scale = a.map(abs).max()!
        let worst = zip(a, b).map { abs($0 - $1) }.max()! / scale
        print("Gram vs products \(side) \(precision.rawValue): max relative difference \(worst)")
        #expect(worst < (precision == .float64 ? 1e-12 : 1e-4))
        #expect(worst > 0, "the two forms are different computations")
    }
}
