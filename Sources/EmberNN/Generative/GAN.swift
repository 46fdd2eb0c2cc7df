import Foundation

/// The shape of a GAN: image size, latent size, widths, whether it is conditioned on a class, and how it is trained.
///
/// The three families of the DCGAN line share one pair of networks:
/// - `dcgan`: generator of transposed convolutions with batch norm and ReLU, tanh output; discriminator of strided
///   convolutions with LeakyReLU (batch norm on the inner one); the non-saturating BCE losses.
/// - `cgan`: the same, conditioned on a class: the class embedding is concatenated to the noise in the generator and
///   given to the discriminator as an extra image channel.
/// - `wgan-gp`: the Wasserstein loss with a gradient penalty (Gulrajani et al. 2017): the critic has no batch norm
///   (the penalty is per example) and is trained `criticSteps` times per generator step.
public struct GANSpec: Codable, Sendable, Equatable {
    /// How the two networks are trained.
    public enum Loss: String, Codable, Sendable, CaseIterable {
        /// Binary cross-entropy on logits, with the non-saturating generator loss (DCGAN).
        case standard
        /// Wasserstein critic with a gradient penalty (WGAN-GP).
        case wasserstein
    }
    /// Image channels, height and width (height and width divisible by 4: two stride-2 stages).
    public var channels: Int, height: Int, width: Int
    /// Size of the noise vector.
    public var latent = 64
    /// Base width: the generator's stages have 2f then f channels, the discriminator's f then 2f.
    public var features = 64
    /// Number of classes of a conditional GAN; nil: unconditional.
    public var classes: Int?
    /// Size of the class embedding given to the generator (conditional GANs).
    public var embedding = 16
    /// The training objective.
    public var loss = Loss.standard
    /// WGAN-GP: critic steps per generator step.
    public var criticSteps = 5
    /// WGAN-GP: weight of the gradient penalty.
    public var penaltyWeight = 10.0

    /// A spec for `[channels, height, width]` images.
    public init(channels: Int, height: Int, width: Int, latent: Int = 64, features: Int = 64, classes: Int? = nil,
                embedding: Int = 16, loss: Loss = .standard, criticSteps: Int = 5, penaltyWeight: Double = 10) {
        self.channels = channels; self.height = height; self.width = width; self.latent = latent; self.features = features
        self.classes = classes; self.embedding = embedding; self.loss = loss; self.criticSteps = criticSteps
        self.penaltyWeight = penaltyWeight
    }

    /// Whether samples are drawn for a given class.
    public var isConditional: Bool { classes != nil }

    /// What is wrong with the spec, or nil when it can be built.
    public func validate() -> String? {
        guard channels >= 1, channels <= 4 else { return "channels must be 1 to 4, got \(channels)" }
        guard height >= 4, width >= 4, height % 4 == 0, width % 4 == 0, height <= 1024, width <= 1024 else {
            return "image height and width must be multiples of 4 in 4...1024 (two stride-2 stages), got \(height)x\(width)"
        }
        guard (1...4096).contains(latent) else { return "latent must be in 1...4096, got \(latent)" }
        guard (1...1024).contains(features) else { return "features must be in 1...1024, got \(features)" }
        if let c = classes, !(2...100_000).contains(c) { return "classes must be in 2...100000, got \(c)" }
        guard (1...4096).contains(embedding) else { return "embedding must be in 1...4096, got \(embedding)" }
        guard (1...100).contains(criticSteps) else { return "critic steps must be in 1...100, got \(criticSteps)" }
        guard penaltyWeight >= 0, penaltyWeight.isFinite else { return "the penalty weight must be a non-negative number, got \(penaltyWeight)" }
        return nil
    }
}

/// The DCGAN generator: noise (plus, for a conditional GAN, a class embedding) -> linear -> batch norm -> ReLU ->
/// [2f, H/4, W/4] -> transposed conv 4x4 stride 2 -> batch norm -> ReLU -> transposed conv 4x4 stride 2 -> tanh,
/// images in [-1, 1].
public final class GANGenerator: Module {
    /// The class embedding (conditional GANs).
    public let labelEmbedding: Embedding?
    /// Noise (and class embedding) to the [2f, H/4, W/4] starting map.
    public let project: Linear
    /// Batch norm of the starting map.
    public let bn0: BatchNorm1d
    /// Transposed convolution to [f, H/2, W/2].
    public let up1: ConvTranspose2d
    /// Batch norm after `up1`.
    public let bn1: BatchNorm2d
    /// Transposed convolution to [C, H, W] (followed by tanh).
    public let up2: ConvTranspose2d
    /// The sizes.
    public let spec: GANSpec

    /// A generator for `spec`, initialised from `generator`.
    public init(_ spec: GANSpec, generator: Generator = .default) {
        precondition(spec.validate() == nil, "GANGenerator: \(spec.validate() ?? "")")
        self.spec = spec
        let f2 = 2 * spec.features, cells = (spec.height / 4) * (spec.width / 4)
        labelEmbedding = spec.classes.map { Embedding($0, spec.embedding, generator: generator) }
        project = Linear(spec.latent + (spec.classes == nil ? 0 : spec.embedding), f2 * cells, generator: generator)
        bn0 = BatchNorm1d(f2 * cells)
        up1 = ConvTranspose2d(f2, spec.features, kernel: 4, stride: 2, padding: 1, generator: generator)
        bn1 = BatchNorm2d(spec.features)
        up2 = ConvTranspose2d(spec.features, spec.channels, kernel: 4, stride: 2, padding: 1, generator: generator)
    }

    /// Images [N, C, H, W] for noise `z` [N, latent] and, for a conditional GAN, class indices `labels` [N] (int64).
    public func callAsFunction(_ z: Tensor, labels: Tensor?) -> Tensor {
        precondition(z.rank == 2 && z.shape[1] == spec.latent, "GANGenerator: noise must be [N, \(spec.latent)], got \(z.shape)")
        var input = z
        if let e = labelEmbedding {
            guard let labels else { preconditionFailure("GANGenerator: a conditional generator needs class labels") }
            precondition(labels.shape == [z.shape[0]], "GANGenerator: labels must be [\(z.shape[0])], got \(labels.shape)")
            input = concat([z, e(labels)], axis: 1)
        } else {
            precondition(labels == nil, "GANGenerator: this generator is unconditional; it takes no labels")
        }
        let n = z.shape[0]
        let h = bn0(project(input)).relu().reshaped([n, 2 * spec.features, spec.height / 4, spec.width / 4])
        return up2(bn1(up1(h)).relu()).tanh()
    }

    /// An unconditional generator's images for noise `z`.
    override public func forward(_ x: Tensor) -> Tensor { self(x, labels: nil) }
}

/// The DCGAN discriminator (or WGAN-GP critic): conv 4x4 stride 2 -> LeakyReLU(0.2) -> conv 4x4 stride 2 ->
/// [batch norm, standard loss only] -> LeakyReLU(0.2) -> linear -> one score per image (a logit, or the critic's
/// value). A conditional one sees the class as an extra input channel (a learned H x W map per class).
public final class GANDiscriminator: Module {
    /// The class map (conditional GANs): one H*W plane per class.
    public let labelEmbedding: Embedding?
    /// Strided convolution to [f, H/2, W/2].
    public let conv1: Conv2d
    /// Strided convolution to [2f, H/4, W/4].
    public let conv2: Conv2d
    /// Batch norm of the second stage (standard loss); a WGAN-GP critic has none.
    public let bn2: BatchNorm2d?
    /// The score.
    public let head: Linear
    /// The sizes.
    public let spec: GANSpec

    /// A discriminator for `spec`, initialised from `generator`.
    public init(_ spec: GANSpec, generator: Generator = .default) {
        precondition(spec.validate() == nil, "GANDiscriminator: \(spec.validate() ?? "")")
        self.spec = spec
        labelEmbedding = spec.classes.map { Embedding($0, spec.height * spec.width, generator: generator) }
        conv1 = Conv2d(spec.channels + (spec.classes == nil ? 0 : 1), spec.features, kernel: 4, stride: 2, padding: 1, generator: generator)
        conv2 = Conv2d(spec.features, 2 * spec.features, kernel: 4, stride: 2, padding: 1, generator: generator)
        bn2 = spec.loss == .standard ? BatchNorm2d(2 * spec.features) : nil
        head = Linear(2 * spec.features * (spec.height / 4) * (spec.width / 4), 1, generator: generator)
    }

    /// Scores [N] for images `x` [N, C, H, W] (and class indices `labels` [N] for a conditional GAN).
    public func callAsFunction(_ x: Tensor, labels: Tensor?) -> Tensor {
        precondition(x.rank == 4 && Array(x.shape.dropFirst()) == [spec.channels, spec.height, spec.width],
                     "GANDiscriminator: images must be [N, \(spec.channels), \(spec.height), \(spec.width)], got \(x.shape)")
        let n = x.shape[0]
        var input = x
        if let e = labelEmbedding {
            guard let labels else { preconditionFailure("GANDiscriminator: a conditional discriminator needs class labels") }
            precondition(labels.shape == [n], "GANDiscriminator: labels must be [\(n)], got \(labels.shape)")
            input = concat([x, e(labels).reshaped([n, 1, spec.height, spec.width])], axis: 1)
        } else {
            precondition(labels == nil, "GANDiscriminator: this discriminator is unconditional; it takes no labels")
        }
        var h = conv2(conv1(input).leakyRelu(0.2))
        if let bn2 { h = bn2(h) }
        return head(h.leakyRelu(0.2).reshaped([n, -1])).reshaped([n])
    }

    /// An unconditional discriminator's scores.
    override public func forward(_ x: Tensor) -> Tensor { self(x, labels: nil) }
}

/// The WGAN-GP gradient penalty (Gulrajani et al. 2017): for interpolates x̂ = α real + (1 − α) fake (α per example),
/// mean over the batch of (‖∂ critic(x̂) / ∂ x̂‖₂ − 1)². The input gradient is taken with `createGraph`, so the
/// penalty's own backward reaches the critic's parameters (gradients of gradients).
///
/// - Parameters:
///   - critic: scores [N] (or [N, 1]) for inputs shaped like `real`.
///   - real, fake: [N, ...] batches of the same shape (`fake` is treated as a constant).
///   - alpha: interpolation weights, [N] or broadcastable as [N, 1, ...].
public func gradientPenalty(critic: (Tensor) -> Tensor, real: Tensor, fake: Tensor, alpha: Tensor) -> Tensor {
    precondition(real.shape == fake.shape && real.rank >= 2,
                 "gradientPenalty: real \(real.shape) and fake \(fake.shape) must be batches of the same shape")
    let n = real.shape[0]
    precondition(alpha.count == n, "gradientPenalty: alpha must hold one weight per example (\(n)), got shape \(alpha.shape)")
    let a = alpha.reshaped([n] + Array(repeating: 1, count: real.rank - 1))
    let xHat = withoutGrad { a * real.detached() + (1 - a) * fake.detached() }
    xHat.requiresGrad = true
    let scores = critic(xHat)
    let g = gradients(of: scores.sum(), wrt: [xHat], createGraph: true)[0]
    let norm = (g * g).reshaped([n, -1]).sum(axis: 1).sqrt()
    return (norm - 1).square().mean()
}
