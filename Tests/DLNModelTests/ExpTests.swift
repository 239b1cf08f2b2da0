import DLNModel
import DLNRun
import DLNTheory
import Foundation
import TestSupport
import Testing

/// `DLNReal.exponential` is the CPU twin of the kernels' dln_exp: check it is an accurate exp.
@Suite struct ExpTests {
    @Test func floatWithinTwoULPOfTheTrueValue() {
        var worst: Int64 = 0
        for k in 0..<200_001 {
            let x = Float(-87 + 175 * Double(k) / 200_000)
            let exact = Float(Foundation.exp(Double(x)))
            worst = max(worst, ulpDistance(Float.exponential(x), exact))
        }
        #expect(worst <= 2)
    }

    @Test func doubleWithinTwoULPOfTheTrueValue() {
        var worst: UInt64 = 0
        for k in 0..<200_001 {
            let x = -700 + 1400 * Double(k) / 200_000
            worst = max(worst, ulpDistance(Double.exponential(x), Foundation.exp(x)))
        }
        #expect(worst <= 2)
    }

    @Test func edgeCases() {
        #expect(Float.exponential(0) == 1)
        #expect(Double.exponential(0) == 1)
        #expect(Float.exponential(.nan).isNaN)
        #expect(Double.exponential(.nan).isNaN)
        #expect(Float.exponential(100) == .infinity)
        #expect(Float.exponential(.infinity) == .infinity)
        #expect(Float.exponential(-.infinity) == 0)
        #expect(Double.exponential(800) == .infinity)
        #expect(Double.exponential(-800) == 0)
        // Gradual underflow: subnormal results stay close to the true value.
        let sub = Float.exponential(-95)
        #expect(sub > 0 && sub.isSubnormal)
        #expect(abs(Double(sub) / Foundation.exp(-95.0) - 1) < 1e-3)
        let dsub = Double.exponential(-720)
        #expect(dsub > 0 && dsub.isSubnormal)
        #expect(abs(dsub / Foundation.exp(-720.0) - 1) < 1e-3)
    }
}
