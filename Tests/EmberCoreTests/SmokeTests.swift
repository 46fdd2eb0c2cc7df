import Testing
@testable import EmberCore

@Suite struct SmokeTests {
    @Test func addAndBackward() {
        let a = Tensor([1, 2, 3] as [Float])
        let b = Tensor([[10, 20, 30], [40, 50, 60]] as [[Float]])
        a.requiresGrad = true
        let c = (a * b).sum()
        let expected: Double = 10 + 40 + 90 + 40 + 100 + 180
        #expect(c.item() == expected)
        c.backward()
        #expect(a.grad!.scalars == [50, 70, 90])
    }

    @Test func matmulAndSoftmax() {
        let a = Tensor([[1, 2], [3, 4]] as [[Float]])
        let m = matmul(a, a.T)
        #expect(m.scalars == [5, 11, 11, 25])
        let s = Tensor([1, 2, 3] as [Float]).softmax()
        #expect(abs(s.scalars.reduce(0, +) - 1) < 1e-6)
        print(m)
    }
}
