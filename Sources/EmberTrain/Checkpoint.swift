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
        do { return try decoder.decode(TrainingCheckpoint.self, from: Data(json.utf8)) } catch {
            throw FileFormatError.invalid(path: path, reason: "checkpoint metadata is not valid: \(error)")
        }
    }

    /// Reads a checkpoint, restores the model and optimizer tensors from it, and returns the position.
    static func restore(from url: URL, model: Module, optimizer: Optimizer) throws -> (TrainingCheckpoint, [String: Tensor]) {
        let (tensors, meta) = try SafeTensors.read(from: url)
        let ckpt = try decodeMetadata(meta, path: url.path)
        var modelState: [String: Tensor] = [:], optim: [String: Tensor] = [:], callbackTensors: [String: Tensor] = [:]
        for (k, t) in tensors {
            if k.hasPrefix("model.") { modelState[String(k.dropFirst(6))] = t }
            if k.hasPrefix("optim.") { optim[String(k.dropFirst(6))] = t }
            if k.hasPrefix("callback.") { callbackTensors[String(k.dropFirst(9))] = t }
        }
        do { try model.loadStateDict(modelState) } catch {
            throw FileFormatError.invalid(path: url.path, reason: "checkpoint does not fit this model: \(error)")
        }
        optimizer.loadStateDict(OptimizerState(tensors: optim, steps: ckpt.optimizerSteps, lrs: ckpt.learningRates))
        return (ckpt, callbackTensors)
    }
}
