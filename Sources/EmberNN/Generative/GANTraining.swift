import Foundation

/// A GAN's generator, discriminator, their optimizers and the noise generator, with the training step of its loss
/// (`GANSpec.loss`). Give its parts to EmberTrain's custom-step `Trainer`, which checkpoints all of them together
/// (both models, both optimizers, the noise and the step counter) and shows both losses:
///
/// ```swift
/// let gan = GANTraining(GANSpec(channels: 1, height: 28, width: 28), seed: 0)
/// let trainer = Trainer(models: gan.models, optimizers: gan.optimizers, state: gan.state) { batch, _ in
///     gan.step(real: batch.input, labels: gan.spec.isConditional ? batch.target : nil)
/// }
/// try trainer.fit(loader, epochs: 5, callbacks: [ProgressBar()])
/// let samples = gan.sample(count: 64, seed: 1)        // [64, 1, 28, 28] in [-1, 1]
/// ```
///
/// Real images must be scaled to [-1, 1] (the generator's tanh range).
public final class GANTraining {
    /// The sizes and the objective.
    public let spec: GANSpec
    /// The generator.
    public let generator: GANGenerator
    /// The discriminator (a critic for WGAN-GP).
    public let discriminator: GANDiscriminator
    /// Optimizer of the generator's parameters.
    public let generatorOptimizer: Optimizer
    /// Optimizer of the discriminator's parameters.
    public let discriminatorOptimizer: Optimizer
    /// Draws the noise vectors (and the WGAN-GP interpolation weights) of training steps.
    public let noise: Generator
    /// Step counter and the loss of the last generator step (WGAN-GP trains the generator every `criticSteps` steps).
    public let counters: GANCounters

    /// A GAN for `spec` with the given optimizers (Adam with `lr` and `betas`, by default DCGAN's 2e-4 and
    /// (0.5, 0.999)); weights and noise are seeded from `seed`.
    public init(_ spec: GANSpec, seed: UInt64, lr: Double = 2e-4, betas: (Double, Double) = (0.5, 0.999),
                makeOptimizer: ((_ parameters: [Tensor]) -> Optimizer)? = nil) {
        self.spec = spec
        let root = RandomState(seed: seed)
        generator = GANGenerator(spec, generator: Generator(state: root.split(1)))
        discriminator = GANDiscriminator(spec, generator: Generator(state: root.split(2)))
        noise = Generator(state: root.split(3))
        let make = makeOptimizer ?? { Adam($0, lr: lr, betas: betas) }
        generatorOptimizer = make(generator.parameters)
        discriminatorOptimizer = make(discriminator.parameters)
        counters = GANCounters()
    }

    /// The models by checkpoint name ("generator", "discriminator").
    public var models: KeyValuePairs<String, Module> { ["generator": generator, "discriminator": discriminator] }
    /// The optimizers by checkpoint name ("opt_g", "opt_d").
    public var optimizers: KeyValuePairs<String, Optimizer> { ["opt_g": generatorOptimizer, "opt_d": discriminatorOptimizer] }
    /// The other checkpointed state ("noise", "gan_counters").
    public var state: KeyValuePairs<String, any Checkpointable> { ["noise": noise, "gan_counters": counters] }

    /// Noise vectors [n, latent] from the training noise generator.
    func drawNoise(_ n: Int) -> Tensor { noise.withState { Tensor.normal([n, spec.latent], rng: &$0) } }

    /// One training step on a batch of real images [N, C, H, W] in [-1, 1] (with their classes [N] for a conditional
    /// GAN; fake images are drawn for the same classes). Returns the batch's scalars:
    /// - standard loss: `loss_d` (BCE of real as 1 plus fake as 0), `loss_g` (non-saturating: BCE of fake as 1),
    ///   `d_real` and `d_fake` (the discriminator's mean probability of "real" on each, before its update);
    /// - WGAN-GP: `loss_d` (critic loss with the penalty), `loss_g` (the generator's loss −mean critic(fake) on this
    ///   batch's fakes, before the critic's update; the generator itself steps every `criticSteps` batches),
    ///   `wasserstein` (mean critic(real) − mean critic(fake)) and `gp` (the penalty).
    public func step(real: Tensor, labels: Tensor?) -> [String: Double] {
        precondition(spec.isConditional == (labels != nil),
                     "GANTraining.step: \(spec.isConditional ? "a conditional GAN needs the batch's labels" : "an unconditional GAN takes no labels")")
        let y = labels.map { $0.dtype == .int64 ? $0 : $0.cast(.int64) }
        switch spec.loss {
        case .standard: return standardStep(real, y)
        case .wasserstein: return wassersteinStep(real, y)
        }
    }

    private func standardStep(_ real: Tensor, _ y: Tensor?) -> [String: Double] {
        let n = real.shape[0]
        let ones = Tensor.ones([n]), zeros = Tensor.zeros([n])
        let fake = generator(drawNoise(n), labels: y)
        discriminatorOptimizer.zeroGrad()
        let realLogits = discriminator(real, labels: y)
        let fakeLogits = discriminator(fake.detached(), labels: y)
        let lossD = binaryCrossEntropyWithLogits(realLogits, ones) + binaryCrossEntropyWithLogits(fakeLogits, zeros)
        lossD.backward()
        discriminatorOptimizer.step()
        generatorOptimizer.zeroGrad()
        let lossG = binaryCrossEntropyWithLogits(discriminator(fake, labels: y), ones)
        lossG.backward()
        generatorOptimizer.step()
        // The generator's backward also filled the discriminator's gradients; they are cleared before its next step.
        discriminatorOptimizer.zeroGrad()
        counters.steps += 1
        counters.lastGeneratorLoss = lossG.item()
        let (pReal, pFake) = withoutGrad { (realLogits.sigmoid().mean().item(), fakeLogits.sigmoid().mean().item()) }
        return ["loss_d": lossD.item(), "loss_g": counters.lastGeneratorLoss, "d_real": pReal, "d_fake": pFake]
    }

    private func wassersteinStep(_ real: Tensor, _ y: Tensor?) -> [String: Double] {
        let n = real.shape[0]
        let fake = withoutGrad { generator(drawNoise(n), labels: y) }
        let alpha = noise.withState { Tensor.uniform([n], rng: &$0) }
        discriminatorOptimizer.zeroGrad()
        let realScore = discriminator(real, labels: y).mean(), fakeScore = discriminator(fake, labels: y).mean()
        let gp = gradientPenalty(critic: { self.discriminator($0, labels: y) }, real: real, fake: fake, alpha: alpha)
        let lossD = fakeScore - realScore + spec.penaltyWeight * gp
        lossD.backward()
        discriminatorOptimizer.step()
        discriminatorOptimizer.zeroGrad()
        counters.steps += 1
        if counters.steps % spec.criticSteps == 0 {
            generatorOptimizer.zeroGrad()
            let lossG = -discriminator(generator(drawNoise(n), labels: y), labels: y).mean()
            lossG.backward()
            generatorOptimizer.step()
            discriminatorOptimizer.zeroGrad()
            counters.lastGeneratorLoss = lossG.item()
        }
        return ["loss_d": lossD.item(), "loss_g": -fakeScore.item(),
                "wasserstein": realScore.item() - fakeScore.item(), "gp": gp.item()]
    }

    /// `count` images from the generator in evaluation mode (batch norm with its running statistics, so each image
    /// depends only on its own noise), drawn from a generator seeded with `seed`: the same seed gives the same bits.
    /// `labels` ([count] class indices) are required for a conditional GAN and refused otherwise.
    public func sample(count: Int, seed: UInt64, labels: [Int]? = nil) -> Tensor {
        GANTraining.sample(generator, count: count, seed: seed, labels: labels)
    }

    /// `count` images of `generator` (see the instance method), computed in batches of at most 500.
    public static func sample(_ generator: GANGenerator, count: Int, seed: UInt64, labels: [Int]? = nil) -> Tensor {
        precondition(count >= 1, "GANTraining.sample: count must be positive, got \(count)")
        precondition(generator.spec.isConditional == (labels != nil),
                     "GANTraining.sample: \(generator.spec.isConditional ? "a conditional GAN needs labels" : "an unconditional GAN takes no labels")")
        if let labels { precondition(labels.count == count, "GANTraining.sample: \(labels.count) labels for \(count) samples") }
        var rng = RandomState(seed: seed)
        let z = Tensor.normal([count, generator.spec.latent], rng: &rng)
        let was = generator.training
        generator.eval()
        defer { generator.train(was) }
        var parts: [Tensor] = []
        withoutGrad {
            for start in stride(from: 0, to: count, by: 500) {
                let end = Swift.min(start + 500, count)
                let y = labels.map { Tensor($0[start..<end].map { Int64($0) }) }
                parts.append(generator(z.slice(axis: 0, start: start, end: end), labels: y))
            }
        }
        return parts.count == 1 ? parts[0] : concat(parts, axis: 0)
    }
}

/// The GAN's own counters, saved in checkpoints: steps taken (WGAN-GP's generator runs every `criticSteps`) and the
/// last generator loss (reported on steps without a generator update).
public final class GANCounters: Checkpointable {
    /// Discriminator (critic) steps taken.
    public var steps = 0
    /// The latest generator loss.
    public var lastGeneratorLoss = Double.nan

    /// Fresh counters.
    public init() {}

    /// "GAN counters".
    public var checkpointKind: String { "GAN counters" }

    /// The counters as JSON values.
    public func checkpointState() -> CheckpointState {
        CheckpointState(values: Values(steps: steps, lastGeneratorLoss: lastGeneratorLoss))
    }

    /// Checks the saved counters and returns the change that restores them.
    public func prepareRestore(from state: CheckpointState) throws -> () -> Void {
        let v = try state.values(Values.self)
        guard v.steps >= 0 else { throw CheckpointStateError.invalidValue(key: "steps", reason: "is \(v.steps); expected a count >= 0") }
        return { [self] in steps = v.steps; lastGeneratorLoss = v.lastGeneratorLoss }
    }

    struct Values: Codable { var steps: Int, lastGeneratorLoss: Double }
}
