import Foundation

/// One training step of your own: given a batch and the trainer, update the models (zero the gradients, run the
/// losses backward, step the optimizers) and return the batch's named scalars ("loss_d", "loss_g"), which the
/// trainer averages over the epoch (weighted by batch size) for the progress bar, callbacks and history.
public typealias TrainingStep = (_ batch: (input: Tensor, target: Tensor), _ trainer: Trainer) throws -> [String: Double]

/// The Keras-style training loop: `fit` with validation, metrics and callbacks; `evaluate`; `predict`; resumable
/// checkpoints. The manual loop stays available (`optimizer.zeroGrad(); loss.backward(); optimizer.step()`); this
/// is a convenience on top of it.
///
/// The classic form trains one model with one optimizer and one loss:
///
/// ```swift
/// let trainer = Trainer(model, optimizer: AdamW(model.parameters), loss: .crossEntropy, metrics: [.accuracy])
/// let history = try trainer.fit(trainLoader, validation: testLoader, epochs: 10,
///                               callbacks: [ProgressBar(), EarlyStopping(patience: 3, restoreBest: true)])
/// ```
///
/// The general form drives a step of your own over any number of models and optimizers (a GAN's generator and
/// discriminator); callbacks, validation, progress bar, history and checkpoints work the same, and a checkpoint
/// holds every model, optimizer, scheduler and `state` object under its name:
///
/// ```swift
/// let trainer = Trainer(models: ["generator": g, "discriminator": d],
///                       optimizers: ["opt_g": optG, "opt_d": optD], state: ["noise": noise]) { batch, _ in
///     let real = batch.input, n = real.shape[0]
///     let fake = g(noise.withState { Tensor.normal([n, 8], rng: &$0) })
///     optD.zeroGrad()
///     let lossD = bce(d(real), ones) + bce(d(fake.detached()), zeros)
///     lossD.backward(); optD.step()
///     optG.zeroGrad()
///     let lossG = bce(d(fake), ones)
///     lossG.backward(); optG.step()
///     return ["loss_d": lossD.item(), "loss_g": lossG.item()]
/// }
/// ```
public final class Trainer {
    /// The model: in the general form, a `ModuleDict` of every model by name (so `model.train()`, `parameterCount`
    /// and callbacks that read `stateDict()` see all of them).
    public let model: Module
    /// The optimizer: in the general form, the first one.
    public let optimizer: Optimizer
    /// The loss of the classic form. In the general form there is none: calling it is a programmer error.
    public let loss: LossFunction
    public let metrics: [TrainingMetric]
    /// Stepped once per epoch, when set (saved in checkpoints as "scheduler").
    public var scheduler: LRScheduler?
    /// The models by name ("model" in the classic form).
    public let models: [(name: String, model: Module)]
    /// The optimizers by name ("optim" in the classic form).
    public let optimizers: [(name: String, optimizer: Optimizer)]
    /// Schedulers of the general form by name, each stepped once per epoch.
    public let schedulers: [(name: String, scheduler: LRScheduler)]
    /// Other objects saved in checkpoints by name (a noise generator, an average of the weights).
    public let state: [(name: String, object: any Checkpointable)]
    let customStep: TrainingStep?
    let validationStep: TrainingStep?
    /// Set by a callback to stop after the current batch.
    public var stopTraining = false
    /// Training steps taken (batches; in the classic form, optimizer steps).
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

    /// Names the checkpoint gives to objects of its own.
    static let reservedNames: Set<String> = ["callback", "rng", "scheduler"]

    /// The classic form: one model, one optimizer, one loss, optional metrics and an epoch scheduler.
    public init(_ model: Module, optimizer: Optimizer, loss: LossFunction, metrics: [TrainingMetric] = [],
                scheduler: LRScheduler? = nil) {
        self.model = model
        self.optimizer = optimizer
        self.loss = loss
        self.metrics = metrics
        self.scheduler = scheduler
        models = [("model", model)]
        optimizers = [("optim", optimizer)]
        schedulers = []
        state = []
        customStep = nil
        validationStep = nil
    }

    /// The general form: `step` trains on one batch, updating any of `models` with any of `optimizers`, and returns
    /// the batch's named scalars. `validationStep` (run in evaluation mode without gradients) gives the validation
    /// values ("val_" + name) when `fit` has validation data. `schedulers` are stepped once per epoch. Every model,
    /// optimizer, scheduler and `state` object is saved in checkpoints under its name; names must be unique, without
    /// ".", and not "callback", "rng" or "scheduler" (the checkpoint's own).
    public init(models: KeyValuePairs<String, Module>, optimizers: KeyValuePairs<String, Optimizer>,
                schedulers: KeyValuePairs<String, LRScheduler> = [:], state: KeyValuePairs<String, any Checkpointable> = [:],
                validationStep: TrainingStep? = nil, step: @escaping TrainingStep) {
        precondition(!models.isEmpty && !optimizers.isEmpty, "Trainer: give at least one model and one optimizer")
        var seen = Set<String>()
        for name in models.map(\.key) + optimizers.map(\.key) + schedulers.map(\.key) + state.map(\.key) {
            precondition(!name.isEmpty && !name.contains(".") && !Self.reservedNames.contains(name),
                         "Trainer: '\(name)' cannot name a checkpointed object (names are non-empty, without '.', and not \(Self.reservedNames.sorted()))")
            precondition(seen.insert(name).inserted, "Trainer: the name '\(name)' is used twice; checkpoint names must be unique")
        }
        self.models = models.map { ($0.key, $0.value) }
        self.optimizers = optimizers.map { ($0.key, $0.value) }
        self.schedulers = schedulers.map { ($0.key, $0.value) }
        self.state = state.map { ($0.key, $0.value) }
        model = models.count == 1 ? models[models.startIndex].value : ModuleDict(self.models.map { ($0.name, $0.model) })
        optimizer = optimizers[optimizers.startIndex].value
        loss = .custom { _, _ in preconditionFailure("Trainer: this trainer runs its own step and has no loss function") }
        metrics = []
        scheduler = nil
        customStep = step
        self.validationStep = validationStep
    }

    /// Every object a checkpoint holds, by name, in restore order: stateful callbacks, models, optimizers,
    /// schedulers, other state, and the default random generator ("rng").
    func checkpointObjects(_ callbacks: [Callback]) -> [(name: String, object: any Checkpointable)] {
        var out: [(String, any Checkpointable)] = []
        for (i, cb) in callbacks.enumerated() {
            if let c = cb as? any Checkpointable {
                out.append(("callback." + Self.callbackKey(i, cb), c))
            } else if let s = cb as? StatefulCallback {
                out.append(("callback." + Self.callbackKey(i, cb), StatefulCallbackState(s)))
            }
        }
        out += models.map { ($0.name, $0.model) } + optimizers.map { ($0.name, $0.optimizer) }
        if let scheduler { out.append(("scheduler", scheduler)) }
        out += schedulers.map { ($0.name, $0.scheduler) } + state.map { ($0.name, $0.object) }
        out.append(("rng", Generator.default))
        return out
    }

    /// Trains for `epochs` epochs (counting any already done when resuming) and returns the history.
    ///
    /// - Parameter resumeFrom: a checkpoint written by `ModelCheckpoint`/`saveCheckpoint`: every model, optimizer,
    ///   scheduler, generator, stateful callback and `state` object, and the loop position, are restored (after all of
    ///   them are checked) and training continues at the exact batch, so the
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
            let (ck, saved) = try TrainingCheckpoint.read(from: url)
            guard ck.batch <= train.batchesPerEpoch else {
                throw FileFormatError.invalid(path: url.path, reason: "checkpoint is after batch \(ck.batch) of epoch \(ck.epoch + 1), "
                                              + "but an epoch has \(train.batchesPerEpoch) batches here (another batch size or data set?)")
            }
            // Every object is checked before any is changed: a checkpoint that does not fit leaves everything as it was.
            let objects = checkpointObjects(callbacks)
            var apply: [() -> Void] = []
            for (name, object) in objects {
                let kind = object.checkpointKind
                let what = objects.filter({ $0.object.checkpointKind == kind }).count == 1 ? "this \(kind)" : "\(kind) '\(name)'"
                guard let s = saved[name] else {
                    if object is Module || object is Optimizer {
                        throw FileFormatError.invalid(path: url.path, reason: "checkpoint has no state for \(what) (it holds \(saved.keys.sorted()))")
                    }
                    continue
                }
                do { apply.append(try object.prepareRestore(from: s)) } catch {
                    let reason = name.hasPrefix("callback.") ? "checkpoint state of callback \(name.dropFirst(9)) is not valid: \(error)"
                        : "checkpoint does not fit \(what): \(error)"
                    throw FileFormatError.invalid(path: url.path, reason: reason)
                }
            }
            for change in apply { change() }
            startEpoch = ck.epoch
            startBatch = ck.batch
            step = ck.step
            history = ck.history
            epochSums = ck.epochSums
            epochExamples = ck.epochExamples
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
                let n = x.shape.first ?? 1
                var logs: [String: Double]
                if let customStep {
                    logs = try customStep((x, y), self)
                    for (k, v) in logs { epochSums[k, default: 0] += v * Double(n) }
                } else {
                    optimizer.zeroGrad()
                    let out = model(x)
                    try checkTargets(out, y)
                    let l = loss(out, y)
                    l.backward()
                    optimizer.step()
                    let lv = l.item()
                    epochSums["loss", default: 0] += lv * Double(n)
                    logs = ["loss": lv]
                    withoutGrad {
                        for m in metrics {
                            let (s, c) = m.batchTotals(out, y)
                            epochSums[m.rawValue, default: 0] += s
                            logs[m.rawValue] = s / Double(Swift.max(c, 1))
                        }
                    }
                }
                step += 1
                epochExamples += n
                b += 1
                batch = b
                for cb in callbacks { try cb.batchEnd(self, epoch: e, batch: b, logs: logs) }
                if stopTraining { break epochLoop }
            }
            var logs: [String: Double]
            if customStep != nil {
                logs = epochSums.mapValues { $0 / Double(Swift.max(epochExamples, 1)) }
                if optimizers.count == 1 {
                    logs["lr"] = optimizer.lr
                } else {
                    for (name, opt) in optimizers { logs["lr_" + name] = opt.lr }
                }
            } else {
                logs = ["loss": (epochSums["loss"] ?? .nan) / Double(Swift.max(epochExamples, 1))]
                for m in metrics { logs[m.rawValue] = (epochSums[m.rawValue] ?? .nan) / Double(Swift.max(epochExamples, 1)) }
                logs["lr"] = optimizer.lr
            }
            if let validation {
                for (k, v) in try evaluate(validation) { logs["val_" + k] = v }
                model.train()
            }
            for cb in callbacks { try cb.recordEpoch(self, epoch: e, logs: &logs) }
            history.append(logs)
            scheduler?.step()
            for (_, s) in schedulers { s.step() }
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

    /// Mean loss and metrics over every batch of `data` (epoch 0 of the source), in evaluation mode; in the general
    /// form, the means of what `validationStep` returns.
    public func evaluate(_ data: any BatchSource) throws -> [String: Double] {
        let was = model.training
        model.eval()
        defer { model.train(was) }
        var sums: [String: Double] = [:]
        var n = 0
        if customStep != nil {
            guard let validationStep else {
                preconditionFailure("Trainer.evaluate: this trainer runs its own step; give it a validationStep to evaluate or validate")
            }
            try withoutGrad {
                for (x, y) in data.batches(epoch: 0) {
                    let k = x.shape.first ?? 1
                    for (name, v) in try validationStep((x, y), self) { sums[name, default: 0] += v * Double(k) }
                    n += k
                }
            }
            return sums.mapValues { $0 / Double(Swift.max(n, 1)) }
        }
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
        guard customStep == nil, case .crossEntropy = loss, !target.dtype.isFloatingPoint, output.rank >= 2 else { return }
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

    /// Writes a resumable checkpoint of the current position: every model, optimizer, scheduler, stateful callback,
    /// `state` object and the default generator under its name, with the loop position and history (see
    /// `TrainingCheckpoint`).
    public func saveCheckpoint(to url: URL) throws {
        let objects = checkpointObjects(activeCallbacks)
        let ck = TrainingCheckpoint(epoch: epoch, batch: batch, step: step, epochSums: epochSums, epochExamples: epochExamples,
                                    history: history, objects: objects.map(\.name))
        try ck.write(objects.map { ($0.name, $0.object.checkpointState()) }, to: url)
    }
}

/// A `StatefulCallback` seen as a checkpointed object: its scalar state as JSON values, its tensors as tensors.
final class StatefulCallbackState: Checkpointable {
    let callback: StatefulCallback
    init(_ callback: StatefulCallback) { self.callback = callback }

    var checkpointKind: String { "callback" }

    func checkpointState() -> CheckpointState {
        CheckpointState(tensors: callback.checkpointTensors(), values: callback.checkpointState())
    }

    /// `restoreCheckpoint` checks the values before it changes anything; it is tried here and the callback's own
    /// state put back, so that nothing changes before every object of the checkpoint has been checked.
    func prepareRestore(from state: CheckpointState) throws -> () -> Void {
        let values = try state.values([String: Double].self)
        let (oldValues, oldTensors) = (callback.checkpointState(), callback.checkpointTensors())
        try callback.restoreCheckpoint(state: values, tensors: state.tensors)
        try? callback.restoreCheckpoint(state: oldValues, tensors: oldTensors)
        return { [callback] in try? callback.restoreCheckpoint(state: values, tensors: state.tensors) }
    }
}
