import Foundation
import Testing
@testable import EmberNN

/// The GAN networks' shapes and names, and the WGAN-GP gradient penalty against PyTorch
/// (Fixtures/nn_gan.json, from scripts/golden/make_gan_golden.py).
@Suite struct GANTests {
    static let golden = Fixtures.load("nn_gan")

    /// A float64 tensor from the fixture.
    static func t64(_ j: J) -> Tensor { Tensor(j["data"].doubles, shape: j["shape"].ints) }

    /// The penalty computed with the same critic written with float64 ops equals PyTorch's (value, per-example
    /// gradient norms and the gradients of every weight), to float64 rounding.
    @Test func gradientPenaltyMatchesPyTorchInFloat64() {
        let g = Self.golden
        var w: [String: Tensor] = [:]
        for (k, v) in g["state"].dict {
            let t = Self.t64(v)
            t.requiresGrad = true
            w[k] = t
        }
        func critic(_ x: Tensor) -> Tensor {
            var h = conv2d(x, w["conv1.weight"]!, w["conv1.bias"]!, stride: 2, padding: 1).leakyRelu(0.2)
            h = conv2d(h, w["conv2.weight"]!, w["conv2.bias"]!, stride: 2, padding: 1).leakyRelu(0.2)
            return linear(h.reshaped([x.shape[0], -1]), w["head.weight"]!, w["head.bias"]!).reshaped([-1])
        }
        let penalty = gradientPenalty(critic: critic, real: Self.t64(g["real"]), fake: Self.t64(g["fake"]), alpha: Self.t64(g["alpha"]))
        let want = g["penalty"].double
        #expect(Swift.abs(penalty.item() - want) <= 1e-12 + 1e-9 * Swift.abs(want), "penalty \(penalty.item()) vs PyTorch \(want)")
        penalty.backward()
        for (k, v) in g["grads"].dict.sorted(by: { $0.key < $1.key }) {
            let grad = w[k]!.grad ?? w[k]!.zerosLike()
            expectClose(grad, Self.t64(v), atol: 1e-12, rtol: 1e-9, "d penalty / d \(k)")
        }
    }

    /// The same through `GANDiscriminator` (float32 weights loaded by name): the module is the critic PyTorch's
    /// formula describes, and its parameters get the penalty's gradients.
    @Test func criticModuleGradientPenaltyMatchesPyTorch() throws {
        let g = Self.golden
        let critic = GANDiscriminator(GANSpec(channels: 1, height: 8, width: 8, features: 2, loss: .wasserstein))
        #expect(critic.stateDict().map(\.0) == ["conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias", "head.weight", "head.bias"])
        try critic.loadStateDict(g["state"].dict.mapValues(Self.t64), dtypes: .convertFloats)
        let f32 = { (j: J) in Self.t64(j).cast(.float32) }
        let penalty = gradientPenalty(critic: { critic($0, labels: nil) }, real: f32(g["real"]), fake: f32(g["fake"]), alpha: f32(g["alpha"]))
        let want = g["penalty"].double
        #expect(Swift.abs(penalty.item() - want) <= 1e-6 + 1e-4 * Swift.abs(want), "penalty \(penalty.item()) vs PyTorch \(want)")
        penalty.backward()
        let params = Dictionary(uniqueKeysWithValues: critic.namedParameters())
        for (k, v) in g["grads"].dict.sorted(by: { $0.key < $1.key }) {
            expectClose((params[k]!.grad ?? params[k]!.zerosLike()).cast(.float64), Self.t64(v), atol: 1e-6, rtol: 1e-4, "d penalty / d \(k)")
        }
    }

    /// Output shapes for Fashion-MNIST and digits sizes, conditional and not; the generator's range is tanh's;
    /// a WGAN-GP critic has no batch norm, a DCGAN discriminator has one.
    @Test func shapesAndStructure() {
        for (h, classes) in [(28, nil), (8, 10)] as [(Int, Int?)] {
            let spec = GANSpec(channels: 1, height: h, width: h, latent: 8, features: 4, classes: classes)
            let gen = GANGenerator(spec, generator: Generator(seed: 1)), disc = GANDiscriminator(spec, generator: Generator(seed: 2))
            var rng = RandomState(seed: 3)
            let z = Tensor.normal([5, 8], rng: &rng)
            let y: Tensor? = classes == nil ? nil : Tensor([0, 1, 2, 9, 4] as [Int64])
            let x = gen(z, labels: y)
            #expect(x.shape == [5, 1, h, h])
            let v = x.toArray(Float.self)
            #expect(v.allSatisfy { $0 >= -1 && $0 <= 1 })
            #expect(disc(x, labels: y).shape == [5])
            #expect(disc.bn2 != nil)
        }
        let critic = GANDiscriminator(GANSpec(channels: 3, height: 16, width: 12, loss: .wasserstein))
        #expect(critic.bn2 == nil && !critic.stateDict().contains { $0.0.contains("bn") })
        #expect(GANSpec(channels: 1, height: 30, width: 28).validate()?.contains("multiples of 4") == true)
    }

    /// Sampling is deterministic per seed (same seed and count: same bits), in evaluation mode (each image depends on
    /// its own noise only: a smaller batch gives the same images up to the GEMM's rounding, where batch statistics
    /// would change them entirely), and does not change the generator's mode.
    @Test func samplingIsSeededAndPerImage() {
        let gan = GANTraining(GANSpec(channels: 1, height: 8, width: 8, latent: 6, features: 4, classes: 3), seed: 4)
        let a = gan.sample(count: 6, seed: 9, labels: [0, 1, 2, 0, 1, 2])
        let b = gan.sample(count: 6, seed: 9, labels: [0, 1, 2, 0, 1, 2])
        #expect(a.toArray(Float.self).map(\.bitPattern) == b.toArray(Float.self).map(\.bitPattern))
        let c = gan.sample(count: 6, seed: 10, labels: [0, 1, 2, 0, 1, 2])
        #expect(a.toArray(Float.self) != c.toArray(Float.self))
        // The first two images of a bigger batch with the same seed and labels are the same images.
        let d = gan.sample(count: 2, seed: 9, labels: [0, 1]).toArray(Float.self), first = Array(a.toArray(Float.self).prefix(128))
        #expect(zip(d, first).allSatisfy { Swift.abs($0 - $1) <= 1e-5 })
        #expect(gan.generator.training)
    }
}
