import EmberCore
import EmberNN
import Foundation
import Testing
@testable import EmberMetrics

/// Saliency and integrated gradients on models whose attributions are known in closed form.
@Suite struct AttributionTests {
    /// A linear model x Wᵀ + b with fixed weights (3 classes, 4 features).
    func linearModel() -> Linear {
        let m = Linear(4, 3, generator: Generator(seed: 1))
        m.weight.assign(Tensor([[0.5, -1, 2, 0], [1, 1, -0.5, 3], [-2, 0.25, 0, 1]] as [[Float]]))
        m.bias!.assign(Tensor([0.1, -0.2, 0.3] as [Float]))
        return m
    }

    @Test func linearSaliencyIsTheWeightRow() {
        let m = linearModel()
        let x = Tensor([[1, 2, 3, 4], [-1, 0, 1, 0.5]] as [[Float]])
        let s = saliency(of: m, input: x, targets: [2, 0])
        #expect(s.shape == [2, 4])
        #expect(s.scalars == [-2, 0.25, 0, 1, 0.5, -1, 2, 0])
        #expect(m.training)  // the mode is restored
    }

    @Test func integratedGradientsOfLinearModel() {
        // For f = w·x + b and a zero baseline, IG_i = x_i w_i exactly; they sum to f(x) - f(0) = w·x.
        let m = linearModel()
        let x = Tensor([[1, 2, 3, 4]] as [[Float]])
        let ig = integratedGradients(of: m, input: x, targets: [1], steps: 4)
        #expect(ig.values.scalars == [1, 2, -1.5, 12])
        #expect(Swift.abs(ig.outputDifference[0] - 13.5) < 1e-5)
        #expect(Swift.abs(ig.convergenceDelta[0]) < 1e-5)
    }

    @Test func integratedGradientsQuadraticExact() {
        // f(x) = Σ x_j²: the gradient 2αx is linear along the path, so the trapezoid rule is exact: IG_j = x_j².
        let x = Tensor([[1.5, -2, 0.5], [3, 1, -1]] as [[Float]])
        let ig = integratedGradients(of: { ($0 * $0).sum(axis: 1) }, input: x, targets: nil, steps: 3, batchSize: 2)
        let expected: [Float] = [2.25, 4, 0.25, 9, 1, 1]
        #expect(zip(ig.values.scalars, expected).allSatisfy { Swift.abs($0 - $1) < 1e-5 })
        #expect(ig.convergenceDelta.allSatisfy { Swift.abs($0) < 1e-5 })
    }

    @Test func completenessOnNonlinearNetwork() {
        // A tanh MLP: attributions sum to f(x) - f(baseline) up to the O(1/steps²) trapezoid error.
        let g = Generator(seed: 3)
        let net = Sequential([Linear(5, 8, generator: g), Tanh(), Linear(8, 3, generator: g)])
        var rng = RandomState(seed: 4)
        let x = Tensor.normal([2, 5], rng: &rng)
        let baseline = Tensor.full([5], 0.1)
        let coarse = integratedGradients(of: net, input: x, targets: [0, 2], baseline: baseline, steps: 8)
        let fine = integratedGradients(of: net, input: x, targets: [0, 2], baseline: baseline, steps: 128)
        let fx = withoutGrad { net(x) }.toArray(Double.self), fb = withoutGrad { net(baseline.reshaped([1, 5])) }.toArray(Double.self)
        #expect(Swift.abs(fine.outputDifference[0] - (fx[0] - fb[0])) < 1e-5)
        #expect(Swift.abs(fine.outputDifference[1] - (fx[5] - fb[2])) < 1e-5)
        for i in 0..<2 {
            #expect(Swift.abs(fine.convergenceDelta[i]) < 1e-3)
            #expect(Swift.abs(fine.convergenceDelta[i]) < Swift.abs(coarse.convergenceDelta[i]) || Swift.abs(coarse.convergenceDelta[i]) < 1e-6)
        }
    }

    @Test func imageSaliencyMagnitude() {
        // A "model" scoring class 0 as 2·pixel(0,0,1) - 3·pixel(1,1,0) over [n, 2, 2, 2] images.
        let x = Tensor.zeros([1, 2, 2, 2])
        let model: (Tensor) -> Tensor = { t in
            let a = t.select(axis: 1, 0).select(axis: 1, 0).select(axis: 1, 1)
            let b = t.select(axis: 1, 1).select(axis: 1, 1).select(axis: 1, 0)
            return stack([a * 2 - b * 3, a], axis: 1)
        }
        let s = saliency(of: model, input: x, targets: [0])
        #expect(s.scalars == [0, 2, 0, 0, 0, 0, -3, 0])
        #expect(saliencyMagnitude(s).scalars == [0, 2, 3, 0])
    }
}

/// Group fairness against hand-computed answers under fairlearn's definitions.
@Suite struct FairnessTests {
    @Test func knownGroups() throws {
        // a: y [1,1,0,0] ŷ [1,0,1,0] -> selection 0.5, TPR 0.5, FPR 0.5, accuracy 0.5
        // b: y [1,1,1,0] ŷ [1,1,1,1] -> selection 1.0, TPR 1.0, FPR 1.0, accuracy 0.75
        // c: y [0,0]     ŷ [1,0]     -> selection 0.5, TPR 0 (no positives, as fairlearn), FPR 0.5, accuracy 0.5
        let yTrue = [1, 1, 0, 0, 1, 1, 1, 0, 0, 0]
        let yPred = [1, 0, 1, 0, 1, 1, 1, 1, 1, 0]
        let groups = ["a", "a", "a", "a", "b", "b", "b", "b", "c", "c"]
        let f = try fairness(yTrue: yTrue, yPred: yPred, groups: groups)
        #expect(f.groups.map(\.group) == ["a", "b", "c"])
        #expect(f.groups.map(\.selectionRate) == [0.5, 1.0, 0.5])
        #expect(f.groups.map(\.truePositiveRate) == [0.5, 1.0, 0.0])
        #expect(f.groups.map(\.falsePositiveRate) == [0.5, 1.0, 0.5])
        #expect(f.groups.map(\.accuracy) == [0.5, 0.75, 0.5])
        #expect(f.demographicParityDifference == 0.5)
        #expect(f.equalOpportunityDifference == 1.0)
        #expect(f.equalizedOddsDifference == 1.0)
        #expect(f.overall.selectionRate == 0.7 && f.overall.count == 10)
    }

    @Test func parityAndErrors() throws {
        // Same selection rate and TPR in both groups: every difference is 0.
        let f = try fairness(yTrue: [1, 0, 1, 0], yPred: [1, 0, 1, 0], groups: [1, 1, 2, 2])
        #expect(f.demographicParityDifference == 0 && f.equalOpportunityDifference == 0)
        #expect(throws: MetricError.self) { try fairness(yTrue: [0, 1, 2], yPred: [0, 1, 2], groups: ["a", "a", "b"]) }
        #expect(throws: MetricError.self) { try fairness(yTrue: [0, 1], yPred: [0, 1], groups: ["a"]) }
    }
}
