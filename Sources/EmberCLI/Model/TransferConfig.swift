import EmberCore
import EmberNN
import Foundation

/// Transfer learning in a config: start from a trained run instead of a preset or layers.
///
/// ```yaml
/// model:
///   pretrained: runs/fashion-mnist-cnn   # a run directory written by `ember train`
///   head: replace                        # keep (default) or replace: a new last Linear for this data's outputs
///   freeze: [features]                   # parameter-name patterns (`*`, `?`; a name also covers what is below it)
///   lr: {"0.*": 0.0001}                  # discriminative learning rates; other parameters use training.optimizer.lr
///   lora: {rank: 4, alpha: 8, targets: ["*"]}   # LoRA adapters on matching Linear layers; merged before saving
/// ```
public struct TransferConfig: Equatable, Sendable {
    /// A learning rate for the parameters a pattern names.
    public struct Rate: Equatable, Sendable {
        public var pattern: String
        public var lr: Double
    }
    /// LoRA adapter settings.
    public struct LoRA: Equatable, Sendable {
        public var rank: Int
        public var alpha: Double
        public var targets: [String]
    }
    /// The pretrained run directory.
    public var pretrained: String
    /// Replace the last Linear layer with a new one sized for this data.
    public var replaceHead = false
    /// Patterns of parameters to freeze.
    public var freeze: [String] = []
    /// Per-pattern learning rates, in config order (a parameter takes the first that names it).
    public var rates: [Rate] = []
    /// LoRA adapters, when asked for.
    public var lora: LoRA?
}

/// Parses `model.pretrained` and the transfer keys beside it (`head`, `freeze`, `lr`, `lora`).
func parseTransfer(_ pretrained: ConfigValue, in m: ConfigMapping) throws -> TransferConfig {
    var t = TransferConfig(pretrained: try pretrained.string())
    if t.pretrained.isEmpty { throw pretrained.mismatch("the path of a run directory written by `ember train`") }
    if let h = m.optional("head") { t.replaceHead = try h.choice(["keep", "replace"], what: "keep or replace") == "replace" }
    if let f = m.optional("freeze") { t.freeze = try patterns(f) }
    if let l = m.optional("lr") {
        let lm = try l.mapping()
        for key in lm.keys {
            let v = lm.optional(key)!
            guard !key.isEmpty else { throw v.error("an empty parameter pattern") }
            t.rates.append(.init(pattern: key, lr: try v.double(in: 0...10, "a learning rate in [0, 10]")))
        }
        try lm.finish()
    }
    if let l = m.optional("lora") {
        let lm = try l.mapping()
        let rank = try lm.required("rank", expected: "the adapters' rank, e.g. 4").int(atLeast: 1)
        let alpha = try lm.optional("alpha")?.double(in: 0.000001...100_000, "a positive alpha") ?? Double(rank)
        let targets = try lm.optional("targets").map(patterns) ?? ["*"]
        try lm.finish()
        t.lora = .init(rank: rank, alpha: alpha, targets: targets)
    }
    return t
}

private func patterns(_ v: ConfigValue) throws -> [String] {
    let items = v.isScalar ? [v] : try v.list()
    let out = try items.map { try $0.string() }
    guard !out.isEmpty, out.allSatisfy({ !$0.isEmpty }) else { throw v.mismatch("a list of parameter-name patterns, e.g. [features, \"*.bias\"]") }
    return out
}

/// A model started from a pretrained run, with its head, frozen parameters, adapters and parameter groups in place.
struct TransferredModel {
    var architecture: Architecture
    var model: Sequential
    var groups: [ParamGroup]
    var summary: String
}

extension TransferConfig {
    /// Loads the pretrained run and applies this configuration for data of `input` shape and `outputs` units.
    /// - Throws: `ConfigError` at `model.*` naming what does not fit (input shape, head, patterns, LoRA targets).
    func build(input: [Int], outputs: Int, seed: UInt64, file: String?) throws -> TransferredModel {
        func fail(_ key: String, _ message: String) -> ConfigError { ConfigError(path: "model.\(key)", message: message, file: file) }
        let loaded: LoadedModel
        do { loaded = try SavedModel.load(from: pretrained) } catch { throw fail("pretrained", "\(error)") }
        var arch = loaded.saved.architecture
        let model = loaded.model
        model.train()
        guard arch.inputShape == input else {
            throw fail("pretrained", "\(pretrained) takes inputs of shape \(arch.inputShape), but this data gives \(input) "
                       + "(resize images with data.images.size, or prepare the data as the pretrained run did)")
        }
        var notes = ["from \(pretrained)"]
        if replaceHead {
            guard let i = arch.layers.lastIndex(where: { $0.type == "linear" }), let inF = arch.layers[i].inFeatures else {
                throw fail("head", "\(pretrained) has no linear layer to replace")
            }
            arch.layers[i].out = outputs
            arch = try Architecture.resolve(arch.layers, inputShape: arch.inputShape, paths: [], file: file)
            model.replaceModule(at: "\(i)", with: Linear(inF, outputs, bias: arch.layers[i].bias ?? true, generator: Generator(seed: seed)))
            notes.append("new head at layer \(i) (Linear \(inF) -> \(outputs))")
        }
        guard arch.outputShape == [outputs] else {
            throw fail("head", "\(pretrained) outputs \(arch.outputShape) per example but this data needs [\(outputs)]; "
                       + "set model.head: replace for a new output layer")
        }
        do {
            if let l = lora {
                let adapted = try model.applyLoRA(rank: l.rank, alpha: l.alpha, targets: l.targets, generator: Generator(seed: seed &+ 1))
                if replaceHead, let i = arch.layers.lastIndex(where: { $0.type == "linear" }) { try model.unfreeze(matching: ["\(i)"]) }
                notes.append("LoRA rank \(l.rank), alpha \(l.alpha) on layers \(adapted.joined(separator: ", "))")
            }
        } catch { throw fail("lora.targets", "\(error)") }
        do { if !freeze.isEmpty { notes.append("froze \(try model.freeze(matching: freeze).count) tensors") } } catch {
            throw fail("freeze", "\(error)")
        }
        let groups: [ParamGroup]
        do { groups = try model.parameterGroups(learningRates: rates.map { ($0.pattern, $0.lr) }) } catch { throw fail("lr", "\(error)") }
        let trainable = model.trainableParameters.reduce(0) { $0 + $1.count }
        notes.append("\(grouped(trainable)) of \(grouped(model.parameterCount)) parameters trainable")
        return TransferredModel(architecture: arch, model: model, groups: groups, summary: notes.joined(separator: "; "))
    }
}
