import Foundation

/// The Keras-style training loop over a model, an optimizer and a loss: `fit` with validation, metrics and
/// callbacks; `evaluate`; `predict`. The manual loop stays available (`optimizer.zeroGrad(); loss.backward();
/// optimizer.step()`); this is a convenience on top of it.
///
/// ```swift
/// let trainer = Trainer(model, optimizer: AdamW(model.parameters), loss: .crossEntropy, metrics: [.accuracy])
/// let history = try trainer.fit(trainLoader, validation: testLoader, epochs: 10,
///                               callbacks: [ProgressBar(), EarlyStopping(patience: 3, restoreBest: true)])
/// ```
public final class Trainer {
    public let model: Module
    public let optimizer: Optimizer
    public let loss: LossFunction
    public let metrics: [TrainingMetric]
    /// Stepped once per epoch, when set.
    public var scheduler: LRScheduler?
    /// Set by a callback to stop after the current batch.
    public var stopTraining = false
    /// Optimizer steps taken.
    public private(set) var step = 0
    /// Epoch and batch position of the loop (0-based), for callbacks.
    public private(set) var epoch = 0, batch = 0
    /// Epochs requested by the running `fit`.
    public private(set) var totalEpochs = 0
    /// Batches per epoch of the running `fit`.
    public private(set) var batchesPerEpoch = 0
    /// History of the running (or last) `fit`.
    public private(set) var history = History()
    var epochSums: [String: Double] = [:]
    var epochExamples = 0
    /// Whether the running `fit` continues from a checkpoint (callbacks read it in `trainBegin`).
    public private(set) var isResuming = false
    /// The callbacks of the running `fit` (their state goes into checkpoints).
    var activeCallbacks: [Callback] = []

    /// Key of a stateful callback in checkpoints: its position and type.
    static func callbackKey(_ i: Int, _ cb: Callback) -> String { "\(i).\(type(of: cb))" }

    public init(_ model: Module, optimizer: Optimizer, loss: LossFunction, metrics: [TrainingMetric] = [],
                scheduler: LRScheduler? = nil) {
        self.model = model
        self.optimizer = optimizer
        self.loss = loss
        self.metrics = metrics
        self.scheduler = scheduler
    }

    /// Trains for `epochs` epochs (counting any already done when resuming) and returns the history.
    ///
    /// - Parameter resumeFrom: a checkpoint written by `ModelCheckpoint`/`saveCheckpoint`: the model, optimizer,
    ///   scheduler, generators and loop position are restored and training continues at the exact batch, so the
    ///   result is bit-identical to a run that was never interrupted.
    @discardableResult
    public func fit(_ train: some BatchSource, validation: (any BatchSource)? = nil, epochs: Int,
                    callbacks: [Callback] = [], resumeFrom: URL? = nil) throws -> History {
        do {
            return try runFit(train, validation: validation, epochs: epochs, callbacks: callbacks, resumeFrom: resumeFrom)
        } catch {
            for cb in callbacks { cb.trainFailed(self, error: error) }
            throw error
        }
    }

    private func runFit(_ train: some BatchSource, validation: (any BatchSource)?, epochs: Int,
                        callbacks: [Callback], resumeFrom: URL?) throws -> History {
        totalEpochs = epochs
        isResuming = resumeFrom != nil
        activeCallbacks = callbacks
        defer { activeCallbacks = [] }
        batchesPerEpoch = train.batchesPerEpoch
        stopTraining = false
        history = History()
        var startEpoch = 0, startBatch = 0
        epochSums = [:]
        epochExamples = 0
        if let url = resumeFrom {
            // Callbacks are restored once the checkpoint is known to fit, before the model and optimizer are changed.
            let ck = try TrainingCheckpoint.restore(from: url, model: model, optimizer: optimizer) { ck, cbTensors in
                guard ck.batch <= train.batchesPerEpoch else {
                    throw FileFormatError.invalid(path: url.path, reason: "checkpoint is after batch \(ck.batch) of epoch \(ck.epoch + 1), "
                                                  + "but an epoch has \(train.batchesPerEpoch) batches here (another batch size or data set?)")
                }
                for (i, cb) in callbacks.enumerated() {
                    guard let s = cb as? StatefulCallback else { continue }
                    let key = Self.callbackKey(i, cb)
                    guard let state = ck.callbacks?[key] else { continue }
                    var ts: [String: Tensor] = [:]
                    for (k, t) in cbTensors where k.hasPrefix(key + ".") { ts[String(k.dropFirst(key.count + 1))] = t }
                    do { try s.restoreCheckpoint(state: state, tensors: ts) } catch {
                        throw FileFormatError.invalid(path: url.path, reason: "checkpoint state of callback \(key) is not valid: \(error)")
                    }
                }
            }
            startEpoch = ck.epoch
            startBatch = ck.batch
            step = ck.step
            history = ck.history
            epochSums = ck.epochSums
            epochExamples = ck.epochExamples
            if let e = ck.schedulerEpoch { scheduler?.setEpoch(e) }
            for (name, state) in ck.generators {
                if name == "default" { Generator.default.state = state }
                if name.hasPrefix("model."), let g = model.namedGenerators().first(where: { "model." + $0.0 == name })?.1 {
                    g.state = state
                }
            }
        }
        for cb in callbacks { try cb.trainBegin(self) }
        epochLoop: for e in startEpoch..<Swift.max(startEpoch, epochs) {
            if stopTraining { break }
            epoch = e
            model.train()
            let skip = e == startEpoch ? startBatch : 0
            if skip == 0 { epochSums = [:]; epochExamples = 0 }
            for cb in callbacks { try cb.epochBegin(self, epoch: e) }
            var b = skip
            for (x, y) in train.batches(epoch: e).dropFirst(skip) {
                batch = b
                optimizer.zeroGrad()
                let out = model(x)
                try checkTargets(out, y)
                let l = loss(out, y)
                l.backward()
                optimizer.step()
                step += 1
                let n = x.shape.first ?? 1
                let lv = l.item()
                epochSums["loss", default: 0] += lv * Double(n)
                var logs = ["loss": lv]
                withoutGrad {
                    for m in metrics {
                        let (s, c) = m.batchTotals(out, y)
                        epochSums[m.rawValue, default: 0] += s
                        logs[m.rawValue] = s / Double(Swift.max(c, 1))
                    }
                }
                epochExamples += n
                b += 1
                batch = b
                for cb in callbacks { try cb.batchEnd(self, epoch: e, batch: b, logs: logs) }
                if stopTraining { break epochLoop }
            }
            var logs: [String: Double] = ["loss": (epochSums["loss"] ?? .nan) / Double(Swift.max(epochExamples, 1))]
            for m in metrics { logs[m.rawValue] = (epochSums[m.rawValue] ?? .nan) / Double(Swift.max(epochExamples, 1)) }
            logs["lr"] = optimizer.lr
            if let validation {
                for (k, v) in try evaluate(validation) { logs["val_" + k] = v }
                model.train()
            }
            for cb in callbacks { try cb.recordEpoch(self, epoch: e, logs: &logs) }
            history.append(logs)
            scheduler?.step()
            epoch = e + 1
            batch = 0
            epochSums = [:]
            epochExamples = 0
            // Checkpoint writers run last, so the checkpoint holds every other callback's state for this epoch.
            for cb in callbacks where !(cb is ModelCheckpoint) { try cb.epochEnd(self, epoch: e, logs: logs) }
            for cb in callbacks where cb is ModelCheckpoint { try cb.epochEnd(self, epoch: e, logs: logs) }
            if stopTraining { break }
        }
        for cb in callbacks { try cb.trainEnd(self) }
        return history
    }

    /// Mean loss and metrics over every batch of `data` (epoch 0 of the source), in evaluation mode.
    public func evaluate(_ data: any BatchSource) throws -> [String: Double] {
        let was = model.training
        model.eval()
        defer { model.train(was) }
        var sums: [String: Double] = [:]
        var n = 0
        try withoutGrad {
            for (x, y) in data.batches(epoch: 0) {
                let out = model(x)
                try checkTargets(out, y)
                let k = x.shape.first ?? 1
                sums["loss", default: 0] += loss(out, y).item() * Double(k)
                for m in metrics { sums[m.rawValue, default: 0] += m.batchTotals(out, y).0 }
                n += k
            }
        }
        return sums.mapValues { $0 / Double(Swift.max(n, 1)) }
    }

    /// Targets come from a dataset: class indices a cross-entropy loss cannot use (out of range, not integers) throw
    /// `ClassTargetError` naming the target and its batch row, instead of stopping the process in the loss.
    func checkTargets(_ output: Tensor, _ target: Tensor) throws {
        guard case .crossEntropy = loss, !target.dtype.isFloatingPoint, output.rank >= 2 else { return }
        try validateClassTargets(target, classes: output.shape[1], ignoreIndex: -100, op: "cross-entropy")
    }

    /// Model outputs for `inputs` (examples along axis 0), computed in evaluation mode in batches.
    public func predict(_ inputs: Tensor, batchSize: Int = 256) -> Tensor {
        let was = model.training
        model.eval()
        defer { model.train(was) }
        let n = inputs.shape[0]
        if n == 0 { return withoutGrad { model(inputs) } }
        var parts: [Tensor] = []
        withoutGrad {
            for start in stride(from: 0, to: n, by: batchSize) {
                parts.append(model(inputs.slice(axis: 0, start: start, end: Swift.min(start + batchSize, n))))
            }
        }
        return concat(parts, axis: 0)
    }

    /// Writes a resumable checkpoint of the current position (see `TrainingCheckpoint`).
    public func saveCheckpoint(to url: URL) throws {
        let opt = optimizer.stateDict()
        var gens: [String: RandomState] = ["default": Generator.default.state]
        for (name, g) in model.namedGenerators() { gens["model." + name] = g.state }
        var states: [String: [String: Double]] = [:]
        var tensors: [(String, Tensor)] = []
        for (i, cb) in activeCallbacks.enumerated() {
            guard let s = cb as? StatefulCallback else { continue }
            let key = Self.callbackKey(i, cb)
            states[key] = s.checkpointState()
            for (name, t) in s.checkpointTensors() { tensors.append(("callback.\(key).\(name)", t)) }
        }
        let ck = TrainingCheckpoint(epoch: epoch, batch: batch, step: step, optimizerSteps: opt.steps,
                                    learningRates: opt.lrs, schedulerEpoch: scheduler?.epoch, generators: gens,
                                    epochSums: epochSums, epochExamples: epochExamples, history: history,
                                    callbacks: states, optimizer: opt.optimizer, parameterGroupSizes: opt.groupSizes)
        try ck.write(model: model, optimizer: optimizer, callbackTensors: tensors, to: url)
    }
}
