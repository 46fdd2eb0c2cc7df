import Foundation

/// Writes the whole history (every epoch so far, earlier runs of a resumed training included) to `history.csv`
/// after each epoch: `epoch,` then the logged values in sorted column order.
final class HistoryWriter: Callback {
    let url: URL
    init(url: URL) { self.url = url }

    func epochEnd(_ trainer: Trainer, epoch: Int, logs: [String: Double]) throws {
        try AtomicFile.write(Data(Self.csv(trainer.history).utf8), to: url)
    }

    static func csv(_ h: History) -> String {
        let columns = h.metrics.keys.sorted()
        var lines = ["epoch," + columns.joined(separator: ",")]
        for e in 0..<h.epochs {
            lines.append(([String(e + 1)] + columns.map { c in h.metrics[c].map { e < $0.count && !$0[e].isNaN ? "\($0[e])" : "" } ?? "" })
                .joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }
}

/// Stops training after the current batch when an interrupt arrives (Ctrl-C, SIGTERM) or after a set number of
/// batches (tests), writing a resumable checkpoint first.
final class InterruptHandler: Callback {
    let checkpoint: URL
    let watchSignals: Bool
    let stopAfterBatches: Int?
    private var batches = 0
    /// Where training stopped (epoch, batches done in it), once interrupted.
    private(set) var stoppedAt: (epoch: Int, batch: Int)?
    private(set) var signal: Int32 = 0

    init(checkpoint: URL, watchSignals: Bool, stopAfterBatches: Int?) {
        self.checkpoint = checkpoint; self.watchSignals = watchSignals; self.stopAfterBatches = stopAfterBatches
    }

    func batchEnd(_ trainer: Trainer, epoch: Int, batch: Int, logs: [String: Double]) throws {
        batches += 1
        let sig = watchSignals ? InterruptSignal.received : 0
        guard sig != 0 || batches == stopAfterBatches else { return }
        signal = sig
        try trainer.saveCheckpoint(to: checkpoint)
        stoppedAt = (epoch, batch)
        trainer.stopTraining = true
    }
}

/// Steps a per-batch schedule (one-cycle) and puts it back at the right step when training resumes.
final class BatchSchedule: Callback {
    let scheduler: LRScheduler
    init(_ scheduler: LRScheduler) { self.scheduler = scheduler }

    func trainBegin(_ trainer: Trainer) throws {
        if trainer.step > 0 { scheduler.setEpoch(trainer.step) }
    }

    func batchEnd(_ trainer: Trainer, epoch: Int, batch: Int, logs: [String: Double]) throws {
        scheduler.step()
    }
}

/// Builds the optimizer, scheduler and loss of a training config.
enum TrainingSetup {
    static func optimizer(_ o: OptimizerConfig, _ params: [Tensor]) -> Optimizer { optimizer(o, groups: [ParamGroup(params)]) }

    /// The optimizer over parameter groups (a group without its own learning rate takes `o.lr`).
    static func optimizer(_ o: OptimizerConfig, groups: [ParamGroup]) -> Optimizer {
        switch o.name {
        case "sgd": return SGD(groups: groups, lr: o.lr, momentum: o.momentum, weightDecay: o.weightDecay ?? 0, nesterov: o.nesterov)
        case "adam": return Adam(groups: groups, lr: o.lr, betas: (o.betas[0], o.betas[1]), weightDecay: o.weightDecay ?? 0)
        case "rmsprop": return RMSprop(groups: groups, lr: o.lr, weightDecay: o.weightDecay ?? 0, momentum: o.momentum)
        case "adagrad": return Adagrad(groups: groups, lr: o.lr, weightDecay: o.weightDecay ?? 0)
        default: return AdamW(groups: groups, lr: o.lr, betas: (o.betas[0], o.betas[1]), weightDecay: o.weightDecay ?? 0.01)
        }
    }

    /// The callbacks every `ember train` run ends with, in this order: the per-batch schedule, the plateau reducer,
    /// early stopping, the checkpoint writer, the history.csv writer and the interrupt handler (the last two kinds
    /// are returned on their own too: the runner asks them whether and why the run stopped).
    static func closingCallbacks(_ t: TrainingConfig, schedules: (epoch: LRScheduler?, batch: LRScheduler?, plateau: Callback?),
                                 defaultMonitor: String, directory dir: URL, checkpoint: URL,
                                 options o: TrainOptions) -> ([Callback], InterruptHandler, EarlyStopping?) {
        var callbacks: [Callback] = []
        if let s = schedules.batch { callbacks.append(BatchSchedule(s)) }
        if let p = schedules.plateau { callbacks.append(p) }
        let early = t.earlyStopping.map {
            EarlyStopping(monitor: $0.monitor ?? defaultMonitor, patience: $0.patience, minDelta: $0.minDelta, restoreBest: $0.restoreBest)
        }
        if let early { callbacks.append(early) }
        callbacks.append(ModelCheckpoint(directory: dir, monitor: t.checkpoint.monitor ?? defaultMonitor,
                                         saveBest: t.checkpoint.saveBest, everyBatches: t.checkpoint.everyBatches))
        callbacks.append(HistoryWriter(url: dir.appendingPathComponent(SavedModel.historyFile)))
        let interrupt = InterruptHandler(checkpoint: checkpoint, watchSignals: o.handleSignals, stopAfterBatches: o.stopAfterBatches)
        callbacks.append(interrupt)
        return (callbacks, interrupt, early)
    }

    /// The epoch scheduler (stepped by the trainer and saved in checkpoints), the per-batch one, and the plateau
    /// reducer, whichever the config asks for.
    static func schedule(_ s: ScheduleConfig, optimizer: Optimizer, epochs: Int, batchesPerEpoch: Int, lr: Double,
                         defaultMonitor: String) -> (epoch: LRScheduler?, batch: LRScheduler?, plateau: Callback?) {
        switch s {
        case .none: return (nil, nil, nil)
        case .step(let n, let g): return (StepLR(optimizer, stepSize: n, gamma: g), nil, nil)
        case .multiStep(let m, let g): return (MultiStepLR(optimizer, milestones: m, gamma: g), nil, nil)
        case .exponential(let g): return (ExponentialLR(optimizer, gamma: g), nil, nil)
        case .cosine(let minLR): return (CosineAnnealingLR(optimizer, tMax: epochs, etaMin: minLR), nil, nil)
        case .warmup(let n, let f): return (LinearLR(optimizer, startFactor: f, endFactor: 1, totalIters: n), nil, nil)
        case .oneCycle(let maxLR, let pct):
            let peak = maxLR.isNaN ? lr * 10 : maxLR
            return (nil, OneCycleLR(optimizer, maxLR: peak, totalSteps: Swift.max(2, epochs * batchesPerEpoch), pctStart: pct), nil)
        case .plateau(let monitor, let factor, let patience):
            let m = monitor ?? defaultMonitor
            let mode = m.contains("acc") ? "max" : "min"
            return (nil, nil, LearningRateSchedule(ReduceLROnPlateau(optimizer, mode: mode, factor: factor, patience: patience), monitor: m))
        }
    }
}
