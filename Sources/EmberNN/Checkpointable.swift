import Foundation

/// The saved state of one object in a training checkpoint: named tensors (a model's weights, an optimizer's
/// moments) and small JSON values (step counts, learning rates, a generator's position, a callback's counters).
public struct CheckpointState {
    /// Tensors by name (without the object's name in front).
    public var tensors: [String: Tensor]
    /// The JSON-encoded values, or nil when the object has none.
    public var json: Data?

    /// A state of tensors and already-encoded JSON.
    public init(tensors: [String: Tensor] = [:], json: Data? = nil) {
        self.tensors = tensors
        self.json = json
    }

    /// A state of tensors and `values`, encoded as JSON (non-finite numbers as "NaN", "Infinity", "-Infinity").
    public init(tensors: [String: Tensor] = [:], values: some Encodable) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
        // Encoding plain values (numbers, strings, dictionaries, arrays) into JSON cannot fail.
        self.init(tensors: tensors, json: try! encoder.encode(values))
    }

    /// The JSON values decoded as `type`; throws `CheckpointStateError` when they are absent or do not decode.
    public func values<T: Decodable>(_ type: T.Type) throws -> T {
        guard let json else { throw CheckpointStateError.missingValues }
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
        do { return try decoder.decode(T.self, from: json) } catch {
            throw CheckpointStateError.invalidValues("\(error)")
        }
    }
}

/// Saved state that cannot be read back.
public enum CheckpointStateError: Error, CustomStringConvertible, Equatable {
    /// The state has no JSON values, and the object needs some.
    case missingValues
    /// The JSON values do not decode (the reason is the decoder's).
    case invalidValues(String)
    /// A value out of range, named.
    case invalidValue(key: String, reason: String)

    public var description: String {
        switch self {
        case .missingValues: return "the saved state has no values"
        case .invalidValues(let r): return "the saved values do not decode: \(r)"
        case .invalidValue(let k, let r): return "'\(k)' \(r)"
        }
    }
}

/// Anything a training checkpoint saves and restores: models, optimizers, schedulers, random generators, stateful
/// callbacks, or an object of your own (an EMA of the weights, a replay buffer). A checkpoint is a bag of these
/// under names; a new kind of state needs no new checkpoint code, only this conformance.
///
/// Restoring is two-phase so that a checkpoint is validated entirely before anything changes: `prepareRestore`
/// checks the saved state and returns the change that applies it (which cannot fail); the trainer prepares every
/// object first and applies the changes only when all of them fit.
///
/// ```swift
/// final class StepCounter: Checkpointable {
///     var count = 0
///     func checkpointState() -> CheckpointState { CheckpointState(values: ["count": count]) }
///     func prepareRestore(from state: CheckpointState) throws -> () -> Void {
///         let n = try state.values([String: Int].self)["count"] ?? 0
///         return { self.count = n }
///     }
/// }
/// ```
public protocol Checkpointable: AnyObject {
    /// The kind of object, for messages ("model", "optimizer", ...).
    var checkpointKind: String { get }
    /// The state to save. Tensors may be live (they are written out before training continues).
    func checkpointState() -> CheckpointState
    /// Checks `state` and returns the change that puts it in place; throws, changing nothing, when it does not fit.
    func prepareRestore(from state: CheckpointState) throws -> () -> Void
}

extension Checkpointable {
    public var checkpointKind: String { String(describing: type(of: self)) }
    /// Validates and applies `state` in one go.
    public func restore(from state: CheckpointState) throws { try prepareRestore(from: state)() }
}

/// A model's checkpoint state: its state dict, and the positions of its layers' random generators (dropout).
extension Module: Checkpointable {
    public var checkpointKind: String { "model" }

    public func checkpointState() -> CheckpointState {
        let gens = namedGenerators()
        var tensors: [String: Tensor] = [:]
        for (name, t) in stateDict() { tensors[name] = t }
        guard !gens.isEmpty else { return CheckpointState(tensors: tensors) }
        return CheckpointState(tensors: tensors, values: ModuleValues(generators: Dictionary(gens.map { ($0.0, $0.1.state) }) { a, _ in a }))
    }

    /// Every state-dict entry must be present with its shape; generator positions are restored for the layers that
    /// have them (names the model lacks are ignored, as they were in earlier checkpoints).
    public func prepareRestore(from state: CheckpointState) throws -> () -> Void {
        try validateStateDict(state.tensors)
        let gens = state.json == nil ? [:] : try state.values(ModuleValues.self).generators
        let mine = namedGenerators()
        return { [self] in
            _ = try? self.loadStateDict(state.tensors)   // validated above: cannot throw
            for (name, g) in mine { if let s = gens[name] { g.state = s } }
        }
    }
}

struct ModuleValues: Codable { var generators: [String: RandomState] }

/// The optimizer's saved values besides its tensors.
struct OptimizerValues: Codable {
    var steps: [Int: Int]
    var learningRates: [Double]
    var optimizer: String?
    var parameterGroupSizes: [Int]?
}

extension Optimizer: Checkpointable {
    public var checkpointKind: String { "optimizer" }

    public func checkpointState() -> CheckpointState {
        let s = stateDict()
        return CheckpointState(tensors: s.tensors, values: OptimizerValues(steps: s.steps, learningRates: s.lrs, optimizer: s.optimizer,
                                                                           parameterGroupSizes: s.groupSizes))
    }

    public func prepareRestore(from state: CheckpointState) throws -> () -> Void {
        let v = try state.values(OptimizerValues.self)
        let s = OptimizerState(tensors: state.tensors, steps: v.steps, lrs: v.learningRates, optimizer: v.optimizer,
                               groupSizes: v.parameterGroupSizes)
        let (buffers, steps) = try prepare(s)
        return { [self] in
            self.buffers = buffers
            self.steps = steps
            for (g, lr) in zip(self.paramGroups, s.lrs) { g.lr = lr }
        }
    }
}

extension LRScheduler: Checkpointable {
    public var checkpointKind: String { "scheduler" }
    public func checkpointState() -> CheckpointState { CheckpointState(values: ["epoch": epoch]) }
    public func prepareRestore(from state: CheckpointState) throws -> () -> Void {
        guard let e = try state.values([String: Int].self)["epoch"] else { throw CheckpointStateError.invalidValue(key: "epoch", reason: "is missing") }
        guard e >= 0 else { throw CheckpointStateError.invalidValue(key: "epoch", reason: "is \(e); expected a count >= 0") }
        return { [self] in self.setEpoch(e) }
    }
}

extension ReduceLROnPlateau: Checkpointable {
    public var checkpointKind: String { "scheduler" }
    public func checkpointState() -> CheckpointState {
        CheckpointState(values: PlateauValues(best: best, badEpochs: badEpochs, cooldownLeft: cooldownLeft))
    }
    public func prepareRestore(from state: CheckpointState) throws -> () -> Void {
        let v = try state.values(PlateauValues.self)
        guard v.badEpochs >= 0 else { throw CheckpointStateError.invalidValue(key: "badEpochs", reason: "is \(v.badEpochs); expected a count >= 0") }
        guard v.cooldownLeft >= 0 else {
            throw CheckpointStateError.invalidValue(key: "cooldownLeft", reason: "is \(v.cooldownLeft); expected a count >= 0")
        }
        return { [self] in self.restore(best: v.best, badEpochs: v.badEpochs, cooldownLeft: v.cooldownLeft) }
    }
}

struct PlateauValues: Codable { var best: Double, badEpochs: Int, cooldownLeft: Int }

extension Generator: Checkpointable {
    public var checkpointKind: String { "generator" }
    public func checkpointState() -> CheckpointState { CheckpointState(values: state) }
    public func prepareRestore(from state: CheckpointState) throws -> () -> Void {
        let s = try state.values(RandomState.self)
        return { [self] in self.state = s }
    }
}
