import Foundation

/// The terms of a VAE's negative ELBO for a batch, each one value per image (nats).
public struct VAELossTerms {
    /// Negative log-likelihood of the input under the decoder, per image ([N]).
    public let reconstruction: Tensor
    /// KL(q(z|x) ‖ N(0, I)) per image ([N]).
    public let kl: Tensor

    /// The negative ELBO per image: reconstruction + KL ([N]); its mean is the loss of an unannealed VAE.
    public var negativeELBO: Tensor { reconstruction + kl }

    /// The training objective: the batch mean of reconstruction + `beta` · KL.
    public func loss(beta: Double = 1) -> Tensor { (reconstruction + kl * beta).mean() }

    /// The KL divergence of the diagonal Gaussian N(mu, exp(logVar)) from N(0, I), summed over latent axes:
    /// −½ Σ (1 + logVar − mu² − exp(logVar)).
    public static func gaussianKL(mu: Tensor, logVar: Tensor) -> Tensor {
        precondition(mu.shape == logVar.shape, "gaussianKL: mu \(mu.shape) and logVar \(logVar.shape) differ")
        return ((logVar.exp() + mu.square() - logVar - 1) * 0.5).sum(axes: Array(1..<mu.rank))
    }

    /// The terms for decoder `logits` of `target`, given the posterior's `mu` and `logVar`.
    public init(logits: Tensor, target: Tensor, mu: Tensor, logVar: Tensor, likelihood: ReconstructionLoss) {
        reconstruction = likelihood.perImage(logits: logits, target: target)
        kl = Self.gaussianKL(mu: mu, logVar: logVar)
    }
}

/// Linear KL annealing ("warm-up"): β rises from `start` to 1 over `steps` training steps, then stays at 1.
public struct KLAnnealing: Sendable, Equatable, Codable {
    /// Steps to reach β = 1 (0: no annealing).
    public var steps: Int
    /// β at step 0.
    public var start: Double

    /// Annealing over `steps` steps from `start`.
    public init(steps: Int, start: Double = 0) {
        precondition(steps >= 0 && start >= 0 && start <= 1, "KLAnnealing: steps >= 0 and start in [0, 1], got \(steps), \(start)")
        self.steps = steps
        self.start = start
    }

    /// β at training step `step` (0-based).
    public func beta(step: Int) -> Double {
        steps == 0 ? 1 : Swift.min(1, start + (1 - start) * Double(step) / Double(steps))
    }
}

/// A convolutional variational autoencoder: `ConvEncoder` into two linear heads (the posterior's mean and log
/// variance), a reparameterised sample z = mu + exp(logVar/2)·ε with ε from its own seeded `noise` generator (saved in
/// checkpoints, so a resumed run draws the same ε), and `ConvDecoder` with a Bernoulli or Gaussian likelihood.
///
/// ```swift
/// let vae = ConvVAE(channels: 1, height: 28, width: 28, latent: 16)
/// let opt = Adam(vae.parameters, lr: 1e-3), anneal = KLAnnealing(steps: 2000)
/// let trainer = Trainer(models: ["vae": vae], optimizers: ["optim": opt]) { batch, trainer in
///     opt.zeroGrad()
///     let terms = vae.lossTerms(batch.input)
///     let loss = terms.loss(beta: anneal.beta(step: trainer.step))
///     loss.backward(); opt.step()
///     return ["loss": loss.item(), "kl": terms.kl.mean().item()]
/// }
/// ```
public final class ConvVAE: Module {
    /// The convolutional encoder.
    public let encoder: ConvEncoder
    /// The heads giving the posterior's mean and log variance.
    public let mu: Linear, logVar: Linear
    /// z back to image logits.
    public let decoder: ConvDecoder
    /// Draws ε of the reparameterisation and prior samples.
    public let noise: Generator
    /// The decoder's likelihood.
    public let likelihood: ReconstructionLoss
    /// Size of z.
    public let latent: Int

    /// A VAE for `channels`×`height`×`width` images (H, W divisible by 4) with a `latent`-dimensional z.
    public init(channels: Int, height: Int, width: Int, latent: Int, likelihood: ReconstructionLoss = .bernoulli,
                generator: Generator = .default, noiseSeed: UInt64 = 0) {
        precondition(latent >= 1, "ConvVAE: latent must be at least 1, got \(latent)")
        encoder = ConvEncoder(channels: channels, height: height, width: width, generator: generator)
        mu = Linear(encoder.features, latent, generator: generator)
        logVar = Linear(encoder.features, latent, generator: generator)
        decoder = ConvDecoder(latent: latent, channels: channels, height: height, width: width, generator: generator)
        noise = Generator(seed: noiseSeed)
        self.likelihood = likelihood
        self.latent = latent
    }

    /// The posterior's mean and log variance for `x` (each [N, latent]).
    public func encode(_ x: Tensor) -> (mu: Tensor, logVar: Tensor) {
        let h = encoder(x)
        return (mu(h), logVar(h))
    }

    /// z = mu + exp(logVar/2)·ε, ε ~ N(0, I) from `noise`.
    public func reparameterize(mu: Tensor, logVar: Tensor) -> Tensor {
        let eps = noise.withState { Tensor.normal(mu.shape, dtype: mu.dtype, rng: &$0) }
        return mu + (logVar * 0.5).exp() * eps
    }

    /// The decoder's logits for `z`.
    public func decodeLogits(_ z: Tensor) -> Tensor { decoder(z) }
    /// Mean intensities in (0, 1) for `z`.
    public func decode(_ z: Tensor) -> Tensor { decoder(z).sigmoid() }

    /// The reconstruction of `x` from the posterior mean (deterministic).
    override public func forward(_ x: Tensor) -> Tensor { decode(encode(x).mu) }

    /// The negative-ELBO terms of `x` with one reparameterised sample per image.
    public func lossTerms(_ x: Tensor) -> VAELossTerms {
        let (m, lv) = encode(x)
        let z = reparameterize(mu: m, logVar: lv)
        return VAELossTerms(logits: decodeLogits(z), target: x, mu: m, logVar: lv, likelihood: likelihood)
    }

    /// `count` images decoded from z ~ N(0, I) drawn from `rng`.
    public func sample(_ count: Int, rng: inout RandomState) -> Tensor {
        decode(Tensor.normal([count, latent], rng: &rng))
    }
}
