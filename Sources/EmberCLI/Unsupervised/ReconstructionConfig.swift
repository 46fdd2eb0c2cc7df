import Foundation
import Yams

/// An `ember train` config with `task: reconstruction`: an autoencoder or VAE on images, with optional anomaly
/// detection (train without one class, score the test images by reconstruction error) and clustering of the codes.
///
/// ```yaml
/// task: reconstruction
/// data: {dataset: fashion-mnist, limit: {train: 60000, test: 10000}, validation: 0.05, holdout_class: 9}
/// model: {preset: conv-vae, latent: 16, likelihood: bernoulli}       # or conv-autoencoder with noise_std
/// training: {optimizer: {name: adam, lr: 0.001}, batch_size: 128, epochs: 5, seed: 0,
///            kl_annealing: {steps: 2000, start: 0}, checkpoint: {every_batches: 200}}
/// evaluation: {clusters: 10}
/// outputs: {directory: runs, name: fashion-vae}
/// tracking: {tensorboard: true}
/// ```
public struct ReconstructionConfig: Sendable {
    /// Which network.
    public enum Preset: String, Sendable { case convAutoencoder = "conv-autoencoder", convVAE = "conv-vae" }

    /// `data.dataset`: fashion-mnist, mnist (needs `data.directory`) or digits.
    public var dataset = "fashion-mnist"
    /// `data.directory`: where the image set's files are.
    public var directory: String?
    /// `data.limit.train` / `data.limit.test`: use only the first N images.
    public var trainLimit: Int?, testLimit: Int?
    /// `data.validation`: fraction of the training images held out for validation.
    public var validation = 0.05
    /// A class left out of training; the test report gives the ROC-AUC of finding it by reconstruction error.
    public var holdoutClass: Int?
    /// `model.preset`.
    public var preset = Preset.convVAE
    /// `model.latent`: size of the code / z.
    public var latent = 16
    /// `model.noise_std`: input corruption of a denoising autoencoder.
    public var noiseStd = 0.0
    /// `model.likelihood` (+ `model.sigma` for gaussian).
    public var likelihood = ReconstructionLoss.bernoulli
    /// `training.optimizer.lr` and `.weight_decay` (AdamW when > 0, else Adam).
    public var lr = 1e-3, weightDecay = 0.0
    /// `training.batch_size`, `training.epochs`.
    public var batchSize = 128, epochs = 5
    /// `training.seed`: initial weights, noise, shuffling, validation split and evaluation draws.
    public var seed: UInt64 = 0
    /// `training.kl_annealing`.
    public var annealing = KLAnnealing(steps: 0)
    /// `training.checkpoint.every_batches`.
    public var everyBatches: Int?
    /// k-means on the test codes (0: no clustering).
    public var clusters = 10
    /// `tracking.tensorboard`.
    public var tensorboard = false
    /// `outputs.directory` and `outputs.name`.
    public var outputDirectory = "runs", name = "reconstruction"
    /// The effective document (with overrides), saved in the run directory.
    public var document = ""
    /// The file the config came from.
    public var file: String?

    /// The run directory.
    public var runDirectory: URL { URL(fileURLWithPath: outputDirectory).appendingPathComponent(name) }

    /// Whether the YAML/JSON text is a reconstruction config (its top level has `task: reconstruction`).
    public static func isReconstruction(_ text: String) -> Bool {
        guard let node = try? Yams.compose(yaml: text), case .mapping(let m) = node else { return false }
        return m.first { $0.key.string == "task" }?.value.string == "reconstruction"
    }

    /// Parses the document after applying `overrides` (`training.epochs=3`).
    /// - Throws: `ConfigError` naming the key path and what was expected.
    public static func parse(_ text: String, file: String? = nil, overrides: [String] = [], runDirectory: String? = nil) throws -> ReconstructionConfig {
        var root = try ConfigValue.parse(text, file: file)
        if !overrides.isEmpty {
            var node = root.node
            for o in overrides { node = try applyOverride(o, to: node) }
            try SafeYAML.checkExpanded(node, file: file, what: "the document with its overrides")
            root = ConfigValue(node: node, path: "", file: file)
        }
        var c = ReconstructionConfig()
        c.file = file
        c.name = file.map { (($0 as NSString).lastPathComponent as NSString).deletingPathExtension } ?? "reconstruction"
        let top = try root.mapping()
        _ = try top.required("task", expected: "reconstruction").choice(["reconstruction"])

        let data = try top.required("data", expected: "a mapping with `dataset`").mapping()
        c.dataset = try data.required("dataset", expected: "fashion-mnist, mnist or digits").choice(["fashion-mnist", "mnist", "digits"])
        if let d = data.optional("directory") { c.directory = try d.string() }
        if c.dataset == "mnist" && c.directory == nil {
            throw ConfigError(path: "data.directory", message: "mnist needs the folder of your copy of the MNIST files", file: file)
        }
        if let l = data.optional("limit") {
            let m = try l.mapping()
            c.trainLimit = try m.optional("train").map { try $0.int(atLeast: 1) }
            c.testLimit = try m.optional("test").map { try $0.int(atLeast: 1) }
            try m.finish()
        }
        if let v = data.optional("validation") { c.validation = try v.double(in: 0...0.5) }
        if let h = data.optional("holdout_class") { c.holdoutClass = try h.int(atLeast: 0, atMost: 9) }
        try data.finish()

        let model = try top.required("model", expected: "a mapping with `preset`").mapping()
        c.preset = Preset(rawValue: try model.required("preset", expected: "conv-autoencoder or conv-vae")
            .choice(["conv-autoencoder", "conv-vae"]))!
        if let l = model.optional("latent") { c.latent = try l.int(atLeast: 1, atMost: 4096) }
        if let n = model.optional("noise_std") {
            guard c.preset == .convAutoencoder else { throw n.error("noise_std is an option of conv-autoencoder (a denoising autoencoder)") }
            c.noiseStd = try n.double(in: 0...10)
        }
        if let l = model.optional("likelihood") {
            switch try l.choice(["bernoulli", "gaussian"]) {
            case "gaussian":
                let sigma = try model.optional("sigma").map { try $0.positiveDouble() } ?? 0.1
                c.likelihood = .gaussian(sigma: sigma)
            default: c.likelihood = .bernoulli
            }
        } else if let s = model.optional("sigma") { throw s.error("sigma needs likelihood: gaussian") }
        try model.finish(known: ["sigma"])

        if let t = top.optional("training") {
            let m = try t.mapping()
            if let o = m.optional("optimizer") {
                let om = try o.mapping()
                _ = try om.required("name", expected: "adam or adamw").choice(["adam", "adamw"])
                if let lr = om.optional("lr") { c.lr = try lr.positiveDouble() }
                if let wd = om.optional("weight_decay") { c.weightDecay = try wd.double(in: 0...1) }
                try om.finish()
            }
            if let b = m.optional("batch_size") { c.batchSize = try b.int(atLeast: 1, atMost: 1 << 16) }
            if let e = m.optional("epochs") { c.epochs = try e.int(atLeast: 1, atMost: ConfigLimits.maxEpochs) }
            if let s = m.optional("seed") { c.seed = UInt64(try s.int(atLeast: 0)) }
            if let k = m.optional("kl_annealing") {
                guard c.preset == .convVAE else { throw k.error("kl_annealing is an option of conv-vae") }
                let km = try k.mapping()
                let steps = try km.required("steps", expected: "the number of steps over which beta rises to 1").int(atLeast: 0)
                let start = try km.optional("start").map { try $0.double(in: 0...1) } ?? 0
                try km.finish()
                c.annealing = KLAnnealing(steps: steps, start: start)
            }
            if let ck = m.optional("checkpoint") {
                let cm = try ck.mapping()
                c.everyBatches = try cm.optional("every_batches").map { try $0.int(atLeast: 1) }
                try cm.finish()
            }
            try m.finish()
        }
        if let e = top.optional("evaluation") {
            let m = try e.mapping()
            if let k = m.optional("clusters") { c.clusters = try k.int(atLeast: 0, atMost: 1000) }
            try m.finish()
        }
        if let o = top.optional("outputs") {
            let m = try o.mapping()
            if let d = m.optional("directory") { c.outputDirectory = try d.string() }
            if let n = m.optional("name") {
                c.name = try n.string()
                guard !c.name.isEmpty, !c.name.contains("/"), c.name != ".", c.name != ".." else { throw n.mismatch("a name without '/'") }
            }
            try m.finish()
        }
        if let t = top.optional("tracking") {
            let m = try t.mapping()
            if let tb = m.optional("tensorboard") { c.tensorboard = try tb.bool() }
            try m.finish()
        }
        try top.finish()
        if let runDirectory {
            let url = URL(fileURLWithPath: runDirectory)
            c.name = url.lastPathComponent
            c.outputDirectory = url.deletingLastPathComponent().path
        }
        var node = root.node
        node = try setValue(Node(c.outputDirectory, Tag(.str)), at: ["outputs", "directory"], in: node)
        node = try setValue(Node(c.name, Tag(.str)), at: ["outputs", "name"], in: node)
        c.document = (try? Yams.serialize(node: node)) ?? text
        return c
    }
}
