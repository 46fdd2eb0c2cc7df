import Foundation
import Yams

/// The model of a GAN experiment: `preset: dcgan`, `cgan` or `wgan-gp` with options
/// (`latent`, `features`, `embedding`, and for WGAN-GP `critic_steps`, `gp_weight`).
public struct GANModelConfig: Sendable, Equatable {
    /// The preset name.
    public var preset: String
    /// Noise size.
    public var latent = 64
    /// Base width of both networks.
    public var features = 64
    /// Class embedding size (cgan).
    public var embedding = 16
    /// Critic steps per generator step (wgan-gp).
    public var criticSteps = 5
    /// Gradient penalty weight (wgan-gp).
    public var penaltyWeight = 10.0

    /// Whether the preset is conditioned on the class.
    public var conditional: Bool { preset == GANPreset.conditional }
    /// The training objective of the preset.
    public var loss: GANSpec.Loss { preset == GANPreset.wgan ? .wasserstein : .standard }
}

/// Preset names of the GANs and the options each reads.
enum GANPreset {
    static let dcgan = "dcgan", conditional = "cgan", wgan = "wgan-gp"
    static let names = [dcgan, conditional, wgan]
    static let options: [String: [String]] = [
        dcgan: ["latent", "features"],
        conditional: ["latent", "features", "embedding"],
        wgan: ["latent", "features", "critic_steps", "gp_weight"],
    ]
}

/// Parses the options of a GAN preset.
func parseGANModel(_ preset: String, options: ConfigValue?) throws -> GANModelConfig {
    var c = GANModelConfig(preset: preset)
    guard let options else { return c }
    let m = try options.mapping()
    let known = GANPreset.options[preset] ?? []
    for key in m.keys where !known.contains(key) {
        throw m.optional(key)!.error("not an option of \(preset) (its options: \(known.joined(separator: ", ")))")
    }
    if let x = m.optional("latent") { c.latent = try x.int(atLeast: 1, atMost: 4096) }
    if let x = m.optional("features") { c.features = try x.int(atLeast: 1, atMost: 1024) }
    if let x = m.optional("embedding") { c.embedding = try x.int(atLeast: 1, atMost: 4096) }
    if let x = m.optional("critic_steps") { c.criticSteps = try x.int(atLeast: 1, atMost: 100) }
    if let x = m.optional("gp_weight") { c.penaltyWeight = try x.double(in: 0...1e6, "a non-negative number") }
    try m.finish()
    return c
}

/// What a trained GAN run holds: `model.json` (this, format `ember-gan-model`) beside `model.safetensors` (the
/// generator's weights as `generator.*`, the discriminator's as `discriminator.*`).
public struct GANModelFile: Codable, Sendable {
    /// Always `ember-gan-model`.
    public var format = GANModelFile.formatName
    /// Format version.
    public var version = 1
    /// The run's name.
    public var name: String
    /// The preset (dcgan, cgan, wgan-gp).
    public var preset: String
    /// The networks' sizes and objective.
    public var spec: GANSpec
    /// Class names of the training data (a conditional GAN's `--class` takes an index or a name).
    public var classes: [String]
    /// How pixels map to the generator's [-1, 1]: raw = (x + 1) / 2 * `pixelRange`.
    public var pixelRange: Double
    /// Training provenance.
    public var provenance: Provenance
    /// The effective experiment config (YAML).
    public var config: String

    /// The `format` value of these files.
    public static let formatName = "ember-gan-model"

    /// Whether the `model.json` at `url` is a GAN's.
    static func isGAN(_ url: URL) -> Bool {
        runModelFormat(url) == formatName
    }

    /// Whether the run directory at `path` holds a GAN.
    static func isGANRun(_ path: String) -> Bool { isGAN(URL(fileURLWithPath: path).appendingPathComponent(SavedModel.jsonFile)) }

    /// Writes `model.json` and `model.safetensors` atomically.
    func write(generator: GANGenerator, discriminator: GANDiscriminator, to directory: URL) throws {
        var state: [(String, Tensor)] = generator.stateDict().map { ("generator." + $0.0, $0.1) }
        state += discriminator.stateDict().map { ("discriminator." + $0.0, $0.1) }
        try writeRunModel(state, description: self, to: directory)
    }

    /// Reads a GAN run directory and rebuilds its generator (evaluation mode).
    /// - Throws: `CLIError` naming the file and what is wrong with it.
    public static func load(from path: String) throws -> (file: GANModelFile, generator: GANGenerator) {
        let (file, json) = try readRunModelFile(GANModelFile.self, at: path, kind: "GAN model", format: formatName, isKind: isGAN)
        let dir = json.deletingLastPathComponent()
        guard file.version == 1 else { throw CLIError("\(json.path): version: this ember reads version 1, got \(file.version)") }
        if let problem = file.spec.validate() { throw CLIError("\(json.path): spec: \(problem)") }
        if let c = file.spec.classes, c != file.classes.count {
            throw CLIError("\(json.path): classes: \(file.classes.count) names for a generator of \(c) classes")
        }
        guard file.pixelRange > 0, file.pixelRange.isFinite else { throw CLIError("\(json.path): pixelRange: expected a positive number, got \(file.pixelRange)") }
        let generator = GANGenerator(file.spec, generator: Generator(seed: 0))
        try loadRunWeights(generator, from: dir, prefix: "generator.", what: "generator")
        return (file, generator)
    }
}
