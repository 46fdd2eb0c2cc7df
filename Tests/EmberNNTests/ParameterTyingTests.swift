import Foundation
import Testing
@testable import EmberNN

/// A language-model-like module whose output projection is its embedding's weight (weight tying): one Tensor object
/// in two properties.
final class TiedModel: Module {
    let embed: Embedding
    let proj: Tensor
    init(tied: Bool) {
        let e = Embedding(5, 3, generator: Generator(seed: 7))
        embed = e
        proj = tied ? e.weight : Tensor(e.weight.toArray(Float.self), shape: e.weight.shape)
        proj.requiresGrad = true
        super.init()
    }
    override func forward(_ x: Tensor) -> Tensor { linear(embed(x), proj) }
}

/// Tied parameters are one parameter: listed once, stepped once, clipped once.
@Suite struct ParameterTyingTests {
    @Test func tiedParametersAreListedOnceAndSavedUnderBothNames() {
        let m = TiedModel(tied: true)
        #expect(m.parameters.count == 1)
        // PyTorch lists a module's own parameters before its children's: `proj` (TiedModel's own) comes first, and the
        // tied tensor keeps that name (torch 2.13 gives ['proj'] for the same model).
        #expect(m.namedParameters().map(\.0) == ["proj"])
        #expect(m.parameterCount == 15)
        #expect(m.stateDict().map(\.0) == ["proj", "embed.weight"])   // state_dict keeps both keys, as PyTorch
        #expect(TiedModel(tied: false).parameters.count == 2)
    }

    /// One SGD step on a tied model equals the untied model's step with the two gradients summed and applied once.
    @Test func tiedWeightIsUpdatedOnce() throws {
        let x = Tensor([0, 2, 4, 1] as [Int64]), y = Tensor([1, 1, 3, 0] as [Int64])
        let untied = TiedModel(tied: false)
        crossEntropy(untied(x), y).backward()
        let g = try #require(untied.embed.weight.grad) + (try #require(untied.proj.grad))
        let w0 = untied.embed.weight.toArray(Float.self)
        let expected = withoutGrad { Tensor(w0, shape: [5, 3]) - g * 0.1 }.toArray(Float.self)

        let tied = TiedModel(tied: true)
        #expect(tied.embed.weight.toArray(Float.self) == w0)
        let opt = SGD(tied.parameters, lr: 0.1)
        opt.zeroGrad()
        crossEntropy(tied(x), y).backward()
        #expect(tied.embed.weight.grad?.toArray(Float.self) == g.toArray(Float.self))
        opt.step()
        for (a, b) in zip(tied.embed.weight.toArray(Float.self), expected) { #expect(abs(a - b) <= 1e-6, "\(a) vs \(b)") }

        // an optimizer handed the same tensor twice (in one group or two) still steps it once
        for dup in [SGD([tied.proj, tied.embed.weight], lr: 0.1),
                    SGD(groups: [ParamGroup([tied.proj]), ParamGroup([tied.embed.weight], lr: 0.5)], lr: 0.1)] {
            let before = tied.proj.toArray(Float.self)
            let grad = try #require(tied.proj.grad).toArray(Float.self)
            dup.step()
            for i in before.indices { #expect(abs(tied.proj.toArray(Float.self)[i] - (before[i] - 0.1 * grad[i])) <= 1e-6) }
        }
        let adam = Adam([tied.proj, tied.embed.weight, tied.proj])
        #expect(adam.paramGroups.map(\.params.count) == [1])
    }

    /// clipGradNorm counts a tied tensor once (PyTorch's `clip_grad_norm_(model.parameters())`) and scales it once,
    /// also when the list names it twice.
    @Test func clipGradNormCountsATiedTensorOnce() throws {
        let x = Tensor([0, 2, 4, 1] as [Int64]), y = Tensor([1, 1, 3, 0] as [Int64])
        for list in [{ (m: TiedModel) in m.parameters }, { (m: TiedModel) in [m.proj, m.embed.weight] }] {
            let m = TiedModel(tied: true)
            crossEntropy(m(x), y).backward()
            let g = try #require(m.proj.grad).toArray(Float.self)
            let norm = g.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
            let total = clipGradNorm(list(m), maxNorm: 0.01)
            #expect(abs(total - norm) <= 1e-6 * norm)
            let coef = 0.01 / (norm + 1e-6)
            let clipped = try #require(m.proj.grad).toArray(Float.self)
            for (a, b) in zip(clipped, g) { #expect(abs(Double(a) - Double(b) * coef) <= 1e-7) }
        }
    }
}
