import EmberCLI
import Foundation
import Logging

/// The models a server holds, by name, each with its batcher; reloads them from their run directories (SIGHUP)
/// without dropping a request.
///
/// A reload reads the directory into a new ``ServedModel`` with a new ``Batcher`` and swaps it in under a lock;
/// requests already queued for the old model are answered by it (its batcher drains, then ends), new requests go
/// to the new one. A directory that fails to load leaves the old model serving and is logged.
public final class ModelRegistry: @unchecked Sendable {
    /// One served model: where it comes from and what serves it now.
    struct Slot {
        let path: String
        var batcher: Batcher
    }

    private let lock = NSLock()
    private var slots: [String: Slot] = [:]
    private var order: [String] = []
    private let options: BatchingOptions
    private let observer: (any BatchObserver)?
    private let gate: BatchGate?
    private let logger: Logger
    private let onLoad: @Sendable (ServedModel) -> Void

    /// Loads every directory in `paths`; model names come from the runs' saved names.
    /// - Throws: `CLIError` for a directory that does not hold a model, `ServeError` for two models of one name.
    /// A closed `gate` holds every batcher's batches back (tests only; see ``BatchGate``).
    public init(paths: [String], options: BatchingOptions, observer: (any BatchObserver)? = nil, gate: BatchGate? = nil, logger: Logger,
                onLoad: @escaping @Sendable (ServedModel) -> Void = { _ in }) throws {
        self.options = options
        self.observer = observer
        self.gate = gate
        self.logger = logger
        self.onLoad = onLoad
        for path in paths {
            let model = try ServedModel(path: path)
            if let other = slots[model.name] {
                throw ServeError(400, "\(path) and \(other.path) both hold a model named \(jsonQuotedString(model.name)); "
                                 + "serve them from separate servers or retrain one under another name")
            }
            onLoad(model)
            logger.info("model loaded", metadata: ["model": .string(model.name), "path": .string(path),
                                                   "seconds": .stringConvertible(model.loadSeconds)])
            slots[model.name] = Slot(path: path, batcher: Batcher(model: model, options: options, observer: observer, gate: gate))
            order.append(model.name)
        }
    }

    /// Model names in the order they were given.
    public var names: [String] { lock.withLock { order } }

    /// The batcher serving `name` now.
    public func batcher(_ name: String) throws -> Batcher {
        try lock.withLock {
            guard let s = slots[name] else { throw ServeError.noModel(name, known: order) }
            return s.batcher
        }
    }

    /// Decodes a request for the model serving `name` now and queues it with that model's batcher; `completion`
    /// gets the model that answered, the decoded request and the predictions (or the batcher's error), once.
    ///
    /// A reload may retire the batcher between the lookup and the queueing. The request then goes to the batcher
    /// that replaced it, decoded again for the new model (its inputs may differ), so a reload drops no request.
    /// A batcher that stops while it is still the registry's (the server shutting down) answers 503.
    /// - Throws: ``ServeError`` 404 for an unknown model, or what `decode` throws.
    public func submit<Input: Sendable>(
        _ name: String, clientGone: (@Sendable () -> Bool)? = nil,
        decode: (ServedModel) throws -> (input: Input, values: [Float], count: Int),
        completion: @escaping @Sendable (ServedModel, Input, Result<[Prediction], any Error>) -> Void
    ) throws {
        var refused: (batcher: Batcher, input: Input)?
        while true {
            let b = try batcher(name)
            let model = b.model
            if let r = refused, r.batcher === b {   // stopped and not replaced: the server is shutting down
                completion(model, r.input, .failure(Batcher.shuttingDown(model.name)))
                return
            }
            let d = try decode(model)
            let input = d.input
            if b.enqueue(d.values, count: d.count, clientGone: clientGone, completion: { completion(model, input, $0) }) { return }
            refused = (b, input)
        }
    }

    /// ``submit(_:clientGone:decode:completion:)`` awaited: the model that answered, the decoded request and its
    /// predictions.
    /// - Throws: ``ServeError`` for an unknown model, what `decode` throws, or the batcher's error.
    public func predict<Input: Sendable>(
        _ name: String, clientGone: (@Sendable () -> Bool)? = nil,
        decode: (ServedModel) throws -> (input: Input, values: [Float], count: Int)
    ) async throws -> (model: ServedModel, input: Input, predictions: [Prediction]) {
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<(model: ServedModel, input: Input, predictions: [Prediction]), any Error>) in
            do {
                try submit(name, clientGone: clientGone, decode: decode) { model, input, result in
                    c.resume(with: result.map { (model, input, $0) })
                }
            } catch {
                c.resume(throwing: error)
            }
        }
    }

    /// Whether a model named `name` is served.
    public func serves(_ name: String) -> Bool { lock.withLock { slots[name] != nil } }

    /// The model serving `name` now.
    public func model(_ name: String) throws -> ServedModel { try batcher(name).model }

    /// Every model now, in order.
    public var models: [ServedModel] { lock.withLock { order.compactMap { slots[$0]?.batcher.model } } }

    /// Reloads every model from its directory; returns how many reloaded (failures are logged, the old model stays).
    @discardableResult
    public func reload() -> Int {
        let current = lock.withLock { order.compactMap { name in slots[name].map { (name, $0.path) } } }
        var reloaded = 0
        for (name, path) in current {
            do {
                let model = try ServedModel(path: path, name: name)
                let fresh = Batcher(model: model, options: options, observer: observer, gate: gate)
                let old: Batcher? = lock.withLock {
                    let o = slots[name]?.batcher
                    slots[name]?.batcher = fresh
                    return o
                }
                onLoad(model)
                logger.info("model reloaded", metadata: ["model": .string(name), "path": .string(path),
                                                         "seconds": .stringConvertible(model.loadSeconds)])
                // The old batcher answers what it had queued, then its thread ends and the old model is released.
                if let old { DispatchQueue.global().async { old.finish() } }
                reloaded += 1
            } catch {
                logger.error("model reload failed; the previous model keeps serving",
                             metadata: ["model": .string(name), "path": .string(path), "error": .string("\(error)")])
            }
        }
        return reloaded
    }

    /// Lets every batcher answer what it has queued, then stops them.
    public func finish() {
        let all = lock.withLock { slots.values.map(\.batcher) }
        for b in all { b.finish() }
    }
}
