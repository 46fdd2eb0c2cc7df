import Foundation

/// Everything needed to continue training exactly where it stopped, in one safetensors file: a bag of named
/// stateful objects (`Checkpointable`: models, optimizers, schedulers, random generators, stateful callbacks,
/// objects of your own) plus the loop position.
///
/// Layout (format 2): each object's tensors are stored as "<name>.<tensor>" ("model.0.weight",
/// "optim.0.exp_avg", "callback.1.EarlyStopping.0.weight") and its JSON values under the metadata key
/// "ember_state.<name>"; the metadata key "ember_checkpoint" holds this struct as JSON: the position (epoch, batch,
/// step), the running epoch sums, the history so far and the object names. Checkpoints of format 1 (one model
/// "model", one optimizer "optim", scheduler, generators and callbacks in "ember_checkpoint") are still read.
/// Written atomically: an interrupted save never replaces a good checkpoint with a torn one.
public struct TrainingCheckpoint: Codable, Sendable {
    /// The format: 2 (nil in format 1).
    public var version: Int?
    /// Epoch (0-based) and the number of its batches already done.
    public var epoch: Int, batch: Int
    /// Training steps taken in total.
    public var step: Int
    /// Running sums of the current epoch's training metrics (so its logs come out identical).
    public var epochSums: [String: Double]
    /// Examples seen in the current epoch.
    public var epochExamples: Int
    /// History of the finished epochs.
    public var history: History
    /// Names of the saved objects (format 2).
    public var objects: [String]?

    // Format 1 only: the state of the one model, optimizer and scheduler, generators and callbacks.
    /// Format 1: optimizer step count per parameter index.
    public var optimizerSteps: [Int: Int]?
    /// Format 1: learning rate per parameter group.
    public var learningRates: [Double]?
    /// Format 1: scheduler position, when a scheduler was attached.
    public var schedulerEpoch: Int?
    /// Format 1: generator states by name ("default", and each layer's, e.g. "model.3.generator").
    public var generators: [String: RandomState]?
    /// Format 1: state of stateful callbacks, keyed "<position>.<type>".
    public var callbacks: [String: [String: Double]]?
    /// Format 1: the optimizer's type name.
    public var optimizer: String?
    /// Format 1: number of parameters in each optimizer group.
    public var parameterGroupSizes: [Int]?

    static let metadataKey = "ember_checkpoint"
    static let statePrefix = "ember_state."

    init(epoch: Int, batch: Int, step: Int, epochSums: [String: Double], epochExamples: Int, history: History, objects: [String]) {
        version = 2
        self.epoch = epoch; self.batch = batch; self.step = step
        self.epochSums = epochSums; self.epochExamples = epochExamples; self.history = history; self.objects = objects
    }

    /// Saves this position with the objects' states to `url`.
    func write(_ states: [(String, CheckpointState)], to url: URL) throws {
        var tensors: [(String, Tensor)] = []
        var metadata = ["format": "ember-checkpoint"]
        for (name, s) in states {
            for key in s.tensors.keys.sorted() { tensors.append((name + "." + key, s.tensors[key]!)) }
            if let json = s.json { metadata[Self.statePrefix + name] = String(decoding: json, as: UTF8.self) }
        }
        let encoder = JSONEncoder()
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
        metadata[Self.metadataKey] = String(decoding: try encoder.encode(self), as: UTF8.self)
        try SafeTensors.write(tensors, metadata: metadata, to: url)
    }

    /// The position saved in the checkpoint at `url` (metadata only; nothing is restored).
    public static func position(at url: URL) throws -> TrainingCheckpoint {
        let (_, meta) = try SafeTensors.read(from: url)
        return try decodeMetadata(meta, path: url.path)
    }

    static func decodeMetadata(_ meta: [String: String], path: String) throws -> TrainingCheckpoint {
        guard let json = meta[metadataKey] else {
            throw FileFormatError.invalid(path: path, reason: "not an Ember training checkpoint (no '\(metadataKey)' metadata)")
        }
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
        let ckpt: TrainingCheckpoint
        do { ckpt = try decoder.decode(TrainingCheckpoint.self, from: Data(json.utf8)) } catch {
            throw FileFormatError.invalid(path: path, reason: "checkpoint metadata is not valid: \(error)")
        }
        if let problem = ckpt.problem {
            throw FileFormatError.invalid(path: path, reason: "checkpoint metadata is not valid: \(problem)")
        }
        return ckpt
    }

    /// What makes this position unusable (negative counters, a history whose lists disagree with its epoch count,
    /// an unknown format), or nil.
    var problem: String? {
        if let v = version, v != 2 { return "format version \(v) is not one this Ember reads (1 or 2)" }
        let counters: [(String, Int?)] = [("epoch", epoch), ("batch", batch), ("step", step), ("epochExamples", epochExamples),
                                          ("schedulerEpoch", schedulerEpoch), ("history.epochs", history.epochs)]
        for case let (name, v?) in counters where v < 0 { return "\(name) is \(v); expected a count >= 0" }
        for (name, values) in history.metrics.sorted(by: { $0.key < $1.key }) where values.count != history.epochs {
            return "history.metrics[\"\(name)\"] has \(values.count) values for \(history.epochs) epochs"
        }
        if version == 2, objects == nil { return "the list of saved objects is missing" }
        return nil
    }

    /// Reads the checkpoint at `url`: the position and every saved object's state by name. Nothing is restored.
    public static func read(from url: URL) throws -> (TrainingCheckpoint, [String: CheckpointState]) {
        let (tensors, meta) = try SafeTensors.read(from: url)
        let ckpt = try decodeMetadata(meta, path: url.path)
        guard let names = ckpt.objects else { return (ckpt, ckpt.formatOneStates(tensors)) }
        var states: [String: CheckpointState] = [:]
        for name in names { states[name] = CheckpointState(tensors: [:], json: meta[statePrefix + name].map { Data($0.utf8) }) }
        // A tensor belongs to the object with the longest name that prefixes it ("callback.1.EarlyStopping" holds
        // "callback.1.EarlyStopping.fc.weight").
        let byLength = names.sorted { $0.count > $1.count }
        for (key, t) in tensors {
            guard let owner = byLength.first(where: { key.hasPrefix($0 + ".") }) else {
                throw FileFormatError.invalid(path: url.path, reason: "checkpoint tensor '\(key)' belongs to no saved object (\(names))")
            }
            states[owner]!.tensors[String(key.dropFirst(owner.count + 1))] = t
        }
        return (ckpt, states)
    }

    /// The objects of a format-1 checkpoint, under the names the classic `Trainer` gives them.
    func formatOneStates(_ tensors: [String: Tensor]) -> [String: CheckpointState] {
        func under(_ prefix: String) -> [String: Tensor] {
            var out: [String: Tensor] = [:]
            for (k, t) in tensors where k.hasPrefix(prefix) { out[String(k.dropFirst(prefix.count))] = t }
            return out
        }
        var states: [String: CheckpointState] = [:]
        var layerGenerators: [String: RandomState] = [:]
        for (name, s) in generators ?? [:] where name.hasPrefix("model.") { layerGenerators[String(name.dropFirst(6))] = s }
        states["model"] = layerGenerators.isEmpty ? CheckpointState(tensors: under("model."))
            : CheckpointState(tensors: under("model."), values: ModuleGenerators(generators: layerGenerators))
        if let learningRates, let optimizerSteps {
            states["optim"] = CheckpointState(tensors: under("optim."),
                                              values: FormatOneOptimizer(steps: optimizerSteps, learningRates: learningRates,
                                                                         optimizer: optimizer, parameterGroupSizes: parameterGroupSizes))
        }
        if let schedulerEpoch { states["scheduler"] = CheckpointState(values: ["epoch": schedulerEpoch]) }
        if let d = generators?["default"] { states["rng"] = CheckpointState(values: d) }
        for (key, values) in callbacks ?? [:] {
            states["callback." + key] = CheckpointState(tensors: under("callback.\(key)."), values: values)
        }
        return states
    }
}

/// The JSON a format-1 checkpoint's parts become (the same fields the objects write in format 2).
private struct ModuleGenerators: Codable { var generators: [String: RandomState] }
private struct FormatOneOptimizer: Codable {
    var steps: [Int: Int], learningRates: [Double], optimizer: String?, parameterGroupSizes: [Int]?
}
