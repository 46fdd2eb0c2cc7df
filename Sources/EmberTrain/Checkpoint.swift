import Foundation

/// Everything needed to continue training exactly where it stopped, in one safetensors file: model parameters and
/// buffers ("model.<name>"), optimizer moments ("optim.<i>.<buffer>"), and JSON metadata (under the safetensors
/// key "ember_checkpoint") with the position (epoch, batch, step), optimizer step counts and learning rates,
/// scheduler position, random generator states, running epoch sums and the history so far.
/// Written atomically: an interrupted save never replaces a good checkpoint with a torn one.
public struct TrainingCheckpoint: Codable, Sendable {
    /// Epoch (0-based) and the number of its batches already done.
    public var epoch: Int, batch: Int
    /// Optimizer steps taken in total.
    public var step: Int
    /// Optimizer step count per parameter index.
    public var optimizerSteps: [Int: Int]
    /// Learning rate per parameter group.
    public var learningRates: [Double]
    /// Scheduler position, when a scheduler is attached.
    public var schedulerEpoch: Int?
    /// Generator states by name ("default", and each layer's, e.g. "model.3.generator").
    public var generators: [String: RandomState]
    /// Running sums of the current epoch's training metrics (so its logs come out identical).
    public var epochSums: [String: Double]
    /// Examples seen in the current epoch.
    public var epochExamples: Int
    /// History of the finished epochs.
    public var history: History
    /// State of stateful callbacks, keyed "<position>.<type>" (absent in checkpoints from before it existed).
    public var callbacks: [String: [String: Double]]?
    /// The optimizer's type name, e.g. "Adam" (absent in checkpoints from before it was recorded).
    public var optimizer: String?
    /// Number of parameters in each optimizer group (absent in checkpoints from before it was recorded).
    public var parameterGroupSizes: [Int]?

    static let metadataKey = "ember_checkpoint"

    /// Saves this position with the model and optimizer tensors to `url`.
    func write(model: Module, optimizer: Optimizer, callbackTensors: [(String, Tensor)] = [], to url: URL) throws {
        var tensors: [(String, Tensor)] = model.stateDict().map { ("model." + $0.0, $0.1) } + callbackTensors
        for (k, t) in optimizer.stateDict().tensors { tensors.append(("optim." + k, t)) }
        let encoder = JSONEncoder()
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
        let json = String(decoding: try encoder.encode(self), as: UTF8.self)
        try SafeTensors.write(tensors, metadata: [Self.metadataKey: json, "format": "ember-checkpoint"], to: url)
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

    /// What makes this position unusable (negative counters, a history whose lists disagree with its epoch count),
    /// or nil.
    var problem: String? {
        let counters: [(String, Int?)] = [("epoch", epoch), ("batch", batch), ("step", step), ("epochExamples", epochExamples),
                                          ("schedulerEpoch", schedulerEpoch), ("history.epochs", history.epochs)]
        for case let (name, v?) in counters where v < 0 { return "\(name) is \(v); expected a count >= 0" }
        for (name, values) in history.metrics.sorted(by: { $0.key < $1.key }) where values.count != history.epochs {
            return "history.metrics[\"\(name)\"] has \(values.count) values for \(history.epochs) epochs"
        }
        return nil
    }

    /// Reads a checkpoint, restores the model and optimizer tensors from it, and returns the position. Everything is
    /// checked first: a checkpoint that does not fit (or `restoreOthers`, given the position and the callback
    /// tensors, throwing) leaves model and optimizer as they were.
    static func restore(from url: URL, model: Module, optimizer: Optimizer,
                        restoreOthers: (TrainingCheckpoint, [String: Tensor]) throws -> Void) throws -> TrainingCheckpoint {
        let (tensors, meta) = try SafeTensors.read(from: url)
        let ckpt = try decodeMetadata(meta, path: url.path)
        var modelState: [String: Tensor] = [:], optim: [String: Tensor] = [:], callbackTensors: [String: Tensor] = [:]
        for (k, t) in tensors {
            if k.hasPrefix("model.") { modelState[String(k.dropFirst(6))] = t }
            if k.hasPrefix("optim.") { optim[String(k.dropFirst(6))] = t }
            if k.hasPrefix("callback.") { callbackTensors[String(k.dropFirst(9))] = t }
        }
        let optimizerState = OptimizerState(tensors: optim, steps: ckpt.optimizerSteps, lrs: ckpt.learningRates,
                                            optimizer: ckpt.optimizer, groupSizes: ckpt.parameterGroupSizes)
        // Both checked before either is changed: a checkpoint that does not fit leaves model and optimizer as they were.
        do { try model.validateStateDict(modelState) } catch {
            throw FileFormatError.invalid(path: url.path, reason: "checkpoint does not fit this model: \(error)")
        }
        do { try optimizer.validateStateDict(optimizerState) } catch {
            throw FileFormatError.invalid(path: url.path, reason: "checkpoint does not fit this optimizer: \(error)")
        }
        try restoreOthers(ckpt, callbackTensors)
        try model.loadStateDict(modelState)
        try optimizer.loadStateDict(optimizerState)
        return ckpt
    }
}
