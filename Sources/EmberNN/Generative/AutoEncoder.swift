import Foundation

/// The convolutional encoder shared by `ConvAutoEncoder` and `ConvVAE`: two stride-2 4×4 convolutions with ReLU
/// (C×H×W -> 32×H/2×W/2 -> 64×H/4×W/4), flattened. H and W must be divisible by 4 (28×28 Fashion-MNIST: 64×7×7).
public final class ConvEncoder: Module {
    /// The two stride-2 convolutions (C -> 32 -> 64 channels).
    public let conv1: Conv2d, conv2: Conv2d
    /// The input's channels, height and width.
    public let channels: Int, height: Int, width: Int

    /// An encoder for `channels`×`height`×`width` images.
    public init(channels: Int, height: Int, width: Int, generator: Generator = .default) {
        precondition(channels >= 1 && height >= 4 && width >= 4 && height % 4 == 0 && width % 4 == 0,
                     "ConvEncoder: images must be C×H×W with H and W divisible by 4, got \(channels)×\(height)×\(width)")
        self.channels = channels; self.height = height; self.width = width
        conv1 = Conv2d(channels, 32, kernel: 4, stride: 2, padding: 1, generator: generator)
        conv2 = Conv2d(32, 64, kernel: 4, stride: 2, padding: 1, generator: generator)
    }

    /// Features per image after flattening (64 · H/4 · W/4).
    public var features: Int { 64 * (height / 4) * (width / 4) }

    override public func forward(_ x: Tensor) -> Tensor {
        precondition(x.rank == 4 && Array(x.shape[1...]) == [channels, height, width],
                     "ConvEncoder: expected [N, \(channels), \(height), \(width)], got \(x.shape)")
        let h = conv2(conv1(x).relu()).relu()
        return h.reshaped([x.shape[0], features])
    }
}

/// The convolutional decoder: a linear layer to 64×H/4×W/4, then two stride-2 transposed convolutions back to
/// C×H×W. It returns logits; `sigmoid` gives pixel intensities in (0, 1).
public final class ConvDecoder: Module {
    /// Latent values to 64×H/4×W/4 features.
    public let fc: Linear
    /// The two stride-2 transposed convolutions (64 -> 32 -> C channels).
    public let deconv1: ConvTranspose2d, deconv2: ConvTranspose2d
    /// The output's channels, height and width.
    public let channels: Int, height: Int, width: Int

    /// A decoder from `latent` values to `channels`×`height`×`width` logits.
    public init(latent: Int, channels: Int, height: Int, width: Int, generator: Generator = .default) {
        self.channels = channels; self.height = height; self.width = width
        fc = Linear(latent, 64 * (height / 4) * (width / 4), generator: generator)
        deconv1 = ConvTranspose2d(64, 32, kernel: 4, stride: 2, padding: 1, generator: generator)
        deconv2 = ConvTranspose2d(32, channels, kernel: 4, stride: 2, padding: 1, generator: generator)
    }

    override public func forward(_ z: Tensor) -> Tensor {
        let h = fc(z).relu().reshaped([z.shape[0], 64, height / 4, width / 4])
        return deconv2(deconv1(h).relu())
    }
}

/// How a reconstruction is scored against its input (per image: summed over pixels).
public enum ReconstructionLoss: Sendable, Equatable, Codable {
    /// Bernoulli likelihood: binary cross-entropy of the decoder's logits against intensities in [0, 1]. Its value is
    /// the negative log-likelihood in nats of a Bernoulli decoder (on continuous intensities, as is customary for
    /// MNIST-like data).
    case bernoulli
    /// Gaussian likelihood with a fixed standard deviation: 0.5·((x − sigmoid(logit))/σ)² + log(σ√(2π)) per pixel.
    case gaussian(sigma: Double)

    /// The negative log-likelihood of `target` under the decoder's `logits`, summed over every axis but the first:
    /// one value (nats) per image, shape [N].
    public func perImage(logits: Tensor, target: Tensor) -> Tensor {
        precondition(logits.shape == target.shape, "ReconstructionLoss: logits \(logits.shape) and target \(target.shape) differ")
        let axes = Array(1..<logits.rank)
        switch self {
        case .bernoulli:
            return binaryCrossEntropyWithLogits(logits, target, reduction: .none).sum(axes: axes)
        case .gaussian(let sigma):
            precondition(sigma > 0, "ReconstructionLoss.gaussian: sigma must be positive, got \(sigma)")
            let pixels = Double(logits.count / Swift.max(logits.shape[0], 1))
            let sq = (logits.sigmoid() - target.cast(logits.dtype)).square().sum(axes: axes)
            return sq * (0.5 / (sigma * sigma)) + pixels * Foundation.log(sigma * (2 * Double.pi).squareRoot())
        }
    }
}

/// A (denoising) convolutional autoencoder: `ConvEncoder`, a linear bottleneck of `latent` values, `ConvDecoder`.
///
/// With `noiseStd` > 0 it is a denoising autoencoder: `trainingLoss` corrupts its input with Gaussian noise (clamped
/// to [0, 1]) drawn from its own seeded `noise` generator (saved in checkpoints) and scores the reconstruction
/// against the clean input.
///
/// ```swift
/// let ae = ConvAutoEncoder(channels: 1, height: 28, width: 28, latent: 16, noiseStd: 0.2)
/// let opt = Adam(ae.parameters, lr: 1e-3)
/// let trainer = Trainer(models: ["autoencoder": ae], optimizers: ["optim": opt]) { batch, _ in
///     opt.zeroGrad()
///     let loss = ae.trainingLoss(batch.input)
///     loss.backward(); opt.step()
///     return ["loss": loss.item()]
/// }
/// ```
public final class ConvAutoEncoder: Module {
    /// The convolutional encoder.
    public let encoder: ConvEncoder
    /// Encoder features to the code.
    public let bottleneck: Linear
    /// The code back to image logits.
    public let decoder: ConvDecoder
    /// Draws the denoising corruption (a checkpointed generator).
    public let noise: Generator
    /// Standard deviation of the Gaussian input corruption while training (0: a plain autoencoder).
    public let noiseStd: Double
    /// How reconstructions are scored.
    public let reconstruction: ReconstructionLoss
    /// Size of the code.
    public let latent: Int

    /// An autoencoder for `channels`×`height`×`width` images (H, W divisible by 4) with a `latent`-value code.
    public init(channels: Int, height: Int, width: Int, latent: Int, noiseStd: Double = 0,
                reconstruction: ReconstructionLoss = .bernoulli, generator: Generator = .default, noiseSeed: UInt64 = 0) {
        precondition(latent >= 1, "ConvAutoEncoder: latent must be at least 1, got \(latent)")
        precondition(noiseStd >= 0, "ConvAutoEncoder: noiseStd must be non-negative, got \(noiseStd)")
        encoder = ConvEncoder(channels: channels, height: height, width: width, generator: generator)
        bottleneck = Linear(encoder.features, latent, generator: generator)
        decoder = ConvDecoder(latent: latent, channels: channels, height: height, width: width, generator: generator)
        noise = Generator(seed: noiseSeed)
        self.noiseStd = noiseStd
        self.reconstruction = reconstruction
        self.latent = latent
    }

    /// The codes of `x` ([N, latent]).
    public func encode(_ x: Tensor) -> Tensor { bottleneck(encoder(x)) }
    /// The decoder's logits for codes `z`.
    public func decodeLogits(_ z: Tensor) -> Tensor { decoder(z) }
    /// Reconstructed intensities in (0, 1) for codes `z`.
    public func decode(_ z: Tensor) -> Tensor { decoder(z).sigmoid() }
    /// The reconstruction of `x` (intensities in (0, 1)).
    override public func forward(_ x: Tensor) -> Tensor { decode(encode(x)) }

    /// The per-image reconstruction loss of clean `x` (nats, summed over pixels), shape [N].
    public func reconstructionLoss(_ x: Tensor) -> Tensor {
        reconstruction.perImage(logits: decodeLogits(encode(x)), target: x)
    }

    /// The mean over the batch of the per-image reconstruction loss, the input corrupted first when `noiseStd` > 0
    /// and the module is in training mode.
    public func trainingLoss(_ x: Tensor) -> Tensor {
        var input = x
        if noiseStd > 0 && training {
            let eps = noise.withState { Tensor.normal(x.shape, std: noiseStd, dtype: x.dtype, rng: &$0) }
            input = withoutGrad { (x + eps).clamp(min: 0, max: 1) }
        }
        return reconstruction.perImage(logits: decodeLogits(encode(input)), target: x).mean()
    }

    /// Mean squared error per pixel between each image and its reconstruction, shape [N]: the anomaly score.
    public func reconstructionError(_ x: Tensor) -> Tensor {
        let r = forward(x)
        return (r - x.cast(r.dtype)).square().mean(axes: Array(1..<x.rank))
    }
}
