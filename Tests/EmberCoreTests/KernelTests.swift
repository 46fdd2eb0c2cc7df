import Foundation
import Testing
@testable import EmberCore

/// The vectorized float32 kernels against libm / plain double-precision references.
@Suite struct KernelTests {
    func maxRelativeError(_ op: (Tensor) -> Tensor, _ ref: (Double) -> Double, from lo: Double, to hi: Double,
                          count: Int = 200_003) -> Double {
        let x = Tensor.linspace(lo, hi, count: count)
        let y = op(x).scalars, xs = x.scalars
        var worst = 0.0
        for i in 0..<count {
            let r = ref(Double(xs[i]))
            let err = abs(Double(y[i]) - r) / max(abs(r), 1e-30)
            worst = max(worst, err)
        }
        return worst
    }

    @Test func expMatchesLibm() {
        // float32 has a 6e-8 unit roundoff; the polynomial exp is within a few ulp over the whole normal range.
        #expect(maxRelativeError({ $0.exp() }, Foundation.exp, from: -87, to: 88) < 5e-7)
        #expect(Tensor([-200, 200, 0] as [Float]).exp().scalars == [0, .infinity, 1])
    }

    @Test func sigmoidAndTanhMatchLibm() {
        #expect(maxRelativeError({ $0.sigmoid() }, { 1 / (1 + Foundation.exp(-$0)) }, from: -30, to: 30) < 2e-6)
        #expect(maxRelativeError({ $0.tanh() }, Foundation.tanh, from: -10, to: 10) < 4e-6)
        #expect(maxRelativeError({ $0.tanh() }, Foundation.tanh, from: -0.1, to: 0.1) < 1e-6)
    }

    @Test func softmaxMatchesDoubleReference() {
        var r = RandomState(seed: 1)
        for cols in [1, 7, 8, 33, 1024] {
            let x = Tensor.normal([5, cols], std: 4, rng: &r)
            let y = x.softmax(axis: 1).scalars, ly = x.logSoftmax(axis: 1).scalars
            let xs = x.toArray(Double.self)
            for row in 0..<5 {
                let v = Array(xs[(row * cols)..<((row + 1) * cols)])
                let m = v.max()!
                let s = v.reduce(0) { $0 + Foundation.exp($1 - m) }
                for j in 0..<cols {
                    let p = Foundation.exp(v[j] - m) / s
                    #expect(abs(Double(y[row * cols + j]) - p) <= 1e-6 + 1e-5 * p)
                    #expect(abs(Double(ly[row * cols + j]) - (v[j] - m - Foundation.log(s))) <= 1e-5)
                }
            }
        }
    }

    @Test func sumIsAccurateForLongVectors() {
        var r = RandomState(seed: 2)
        let x = Tensor.uniform([1_000_003], rng: &r)
        let exact = x.toArray(Double.self).reduce(0, +)
        #expect(abs(x.sum().item() - exact) / exact < 1e-6)
    }
}

