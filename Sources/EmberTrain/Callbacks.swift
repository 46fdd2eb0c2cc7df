import Foundation

/// Hooks into `Trainer.fit`. Every method has an empty default; throw to abort training with an error.
public protocol Callback: AnyObject {
    func trainBegin(_ trainer: Trainer) throws
    func epochBegin(_ trainer: Trainer, epoch: Int) throws
    /// After each optimizer step; `batch` counts the batches done in this epoch; logs hold this batch's values.
    func batchEnd(_ trainer: Trainer, epoch: Int, batch: Int, logs: [String: Double]) throws
    /// Before an epoch's values are recorded in the history: add or change entries (extra validation metrics).
    func recordEpoch(_ trainer: Trainer, epoch: Int, logs: inout [String: Double]) throws
    /// After each epoch (validation included); logs hold the epoch's means ("loss", "val_loss", metrics, "lr").
    func epochEnd(_ trainer: Trainer, epoch: Int, logs: [String: Double]) throws
    func trainEnd(_ trainer: Trainer) throws
    /// When `fit` stops with an error (from a callback, the data, or a checkpoint write); `fit` then rethrows it.
    func trainFailed(_ trainer: Trainer, error: Error)
}

extension Callback {
    public func trainBegin(_ trainer: Trainer) throws {}
    public func epochBegin(_ trainer: Trainer, epoch: Int) throws {}
    public func batchEnd(_ trainer: Trainer, epoch: Int, batch: Int, logs: [String: Double]) throws {}
    public func recordEpoch(_ trainer: Trainer, epoch: Int, logs: inout [String: Double]) throws {}
    public func epochEnd(_ trainer: Trainer, epoch: Int, logs: [String: Double]) throws {}
    public func trainEnd(_ trainer: Trainer) throws {}
    public func trainFailed(_ trainer: Trainer, error: Error) {}
}

/// A callback whose counters must survive a resume (early stopping, plateau schedules, best-checkpoint tracking):
/// `Trainer.saveCheckpoint` stores them in the checkpoint and `fit(resumeFrom:)` puts them back, matching callbacks
/// by position and type. (A callback may instead adopt `Checkpointable`, to save any JSON values and tensors.)
public protocol StatefulCallback: Callback {
    /// Scalar state to save.
    func checkpointState() -> [String: Double]
    /// Tensors to save (e.g. the best weights kept for restore-best).
    func checkpointTensors() -> [String: Tensor]
    /// Puts saved state back; throws when a value is unusable (the state comes from a file).
    func restoreCheckpoint(state: [String: Double], tensors: [String: Tensor]) throws
}

extension StatefulCallback {
    public func checkpointTensors() -> [String: Tensor] { [:] }
}

/// Whether a monitored metric improves when it goes down or up ("auto": up for accuracy-like names).
public enum MonitorMode: String, Sendable { case min, max, auto

    func minimizes(_ metric: String) -> Bool {
        switch self {
        case .min: return true
        case .max: return false
        case .auto: return !(metric.contains("acc") || metric.contains("f1") || metric.contains("auc"))
        }
    }
}

func formatDuration(_ s: Double) -> String {
    let t = Int(s.rounded())
    return t >= 3600 ? String(format: "%d:%02d:%02d", t / 3600, t / 60 % 60, t % 60) : String(format: "%02d:%02d", t / 60, t % 60)
}

/// A progress bar: per-batch loss, throughput and ETA on a terminal; one clean line per epoch otherwise.
public final class ProgressBar: Callback {
    let interactive: Bool
    var epochStart = Date(), examples = 0, lastDraw = Date.distantPast
    let output: (String) -> Void

    /// `interactive`: redraw in place (default: when standard output is a terminal).
    public init(interactive: Bool? = nil, output: ((String) -> Void)? = nil) {
        self.interactive = interactive ?? (isatty(1) == 1)
        self.output = output ?? { s in FileHandle.standardOutput.write(Data(s.utf8)) }
    }

    public func epochBegin(_ trainer: Trainer, epoch: Int) {
        epochStart = Date()
        examples = 0
    }

    public func batchEnd(_ trainer: Trainer, epoch: Int, batch: Int, logs: [String: Double]) {
        examples += 1
        guard interactive else { return }
        let now = Date()
        if now.timeIntervalSince(lastDraw) < 0.1 && batch < trainer.batchesPerEpoch { return }
        lastDraw = now
        let total = Swift.max(trainer.batchesPerEpoch, 1)
        let frac = Double(batch) / Double(total)
        let width = 24, filled = Int(frac * Double(width))
        let bar = String(repeating: "=", count: filled) + (filled < width ? ">" : "") + String(repeating: " ", count: Swift.max(0, width - filled - 1))
        let elapsed = now.timeIntervalSince(epochStart)
        let rate = Double(examples) / Swift.max(elapsed, 1e-9)
        let eta = Double(total - batch) / Swift.max(rate, 1e-9)
        output(String(format: "\repoch %d/%d [%@] %d/%d loss %.4f  %.1f batches/s  ETA %@   ", epoch + 1, trainer.totalEpochs,
                      bar, batch, total, logs["loss"] ?? .nan, rate, formatDuration(eta)))
    }

    public func epochEnd(_ trainer: Trainer, epoch: Int, logs: [String: Double]) {
        let secs = Date().timeIntervalSince(epochStart)
        let parts = logs.keys.sorted().map { k in k == "lr" ? String(format: "%@ %.3g", k, logs[k]!) : String(format: "%@ %.4f", k, logs[k]!) }
        let line = String(format: "epoch %d/%d - %@ - ", epoch + 1, trainer.totalEpochs, formatDuration(secs)) + parts.joined(separator: " - ")
        output((interactive ? "\r" : "") + line + "\n")
    }
}

/// Stops when the monitored metric has not improved by `minDelta` for `patience` epochs; optionally restores the
/// weights of the best epoch.
public final class EarlyStopping: Callback {
    public let monitor: String, patience: Int, minDelta: Double, restoreBest: Bool
    let minimize: Bool
    public private(set) var best: Double
    public private(set) var bestEpoch = -1
    public private(set) var stoppedEpoch: Int?
    var wait = 0
    var bestState: [String: Tensor]?

    public init(monitor: String = "val_loss", patience: Int = 3, minDelta: Double = 0, mode: MonitorMode = .auto,
                restoreBest: Bool = false) {
        self.monitor = monitor; self.patience = patience; self.minDelta = abs(minDelta); self.restoreBest = restoreBest
        minimize = mode.minimizes(monitor)
        best = minimize ? .infinity : -.infinity
    }

    public func epochEnd(_ trainer: Trainer, epoch: Int, logs: [String: Double]) throws {
        guard let v = logs[monitor] else {
            throw TrainingError.missingMetric(monitor, available: logs.keys.sorted(), callback: "EarlyStopping")
        }
        let improved = minimize ? v < best - minDelta : v > best + minDelta
        if improved {
            best = v
            bestEpoch = epoch
            wait = 0
            if restoreBest {
                var copy: [String: Tensor] = [:]
                withoutGrad { for (name, t) in trainer.model.stateDict() { copy[name] = t.affine(1, 0) } }
                bestState = copy
            }
        } else {
            wait += 1
            if wait >= patience {
                stoppedEpoch = epoch
                trainer.stopTraining = true
            }
        }
    }

    /// A new run starts from scratch (as Keras does); a run resumed from a checkpoint written after this callback
    /// stopped it does not train further.
    public func trainBegin(_ trainer: Trainer) throws {
        if !trainer.isResuming {
            best = minimize ? .infinity : -.infinity
            bestEpoch = -1
            wait = 0
            stoppedEpoch = nil
            bestState = nil
        } else if stoppedEpoch != nil {
            trainer.stopTraining = true
        }
    }

    public func trainEnd(_ trainer: Trainer) throws {
        if restoreBest, stoppedEpoch != nil, let s = bestState { try trainer.model.loadStateDict(s) }
    }
}

extension EarlyStopping: StatefulCallback {
    public func checkpointState() -> [String: Double] {
        var s = ["best": best, "best_epoch": Double(bestEpoch), "wait": Double(wait)]
        if let e = stoppedEpoch { s["stopped_epoch"] = Double(e) }
        return s
    }
    public func checkpointTensors() -> [String: Tensor] { bestState ?? [:] }
    public func restoreCheckpoint(state: [String: Double], tensors: [String: Tensor]) throws {
        let e = try checkpointCount(state, "best_epoch", atLeast: -1), w = try checkpointCount(state, "wait")
        let stopped = try checkpointCount(state, "stopped_epoch")
        if let b = state["best"] { best = b }
        if let e { bestEpoch = e }
        if let w { wait = w }
        stoppedEpoch = stopped
        bestState = tensors.isEmpty ? nil : tensors
    }
}

/// Saves a resumable training checkpoint: every `everyBatches` batches and/or at each epoch end to `last`, and the
/// best epoch by `monitor` to `best` when `saveBest` is set.
public final class ModelCheckpoint: Callback {
    public let directory: URL, monitor: String, saveBest: Bool, everyBatches: Int?
    let minimize: Bool
    public private(set) var best: Double
    /// The rolling checkpoint written during and after each epoch.
    public var lastURL: URL { directory.appendingPathComponent("last.ckpt.safetensors") }
    /// The checkpoint of the best epoch.
    public var bestURL: URL { directory.appendingPathComponent("best.ckpt.safetensors") }

    public init(directory: URL, monitor: String = "val_loss", saveBest: Bool = true, mode: MonitorMode = .auto,
                everyBatches: Int? = nil) {
        self.directory = directory; self.monitor = monitor; self.saveBest = saveBest; self.everyBatches = everyBatches
        minimize = mode.minimizes(monitor)
        best = minimize ? .infinity : -.infinity
    }

    public func batchEnd(_ trainer: Trainer, epoch: Int, batch: Int, logs: [String: Double]) throws {
        if let n = everyBatches, n > 0, trainer.step % n == 0 { try trainer.saveCheckpoint(to: lastURL) }
    }

    public func epochEnd(_ trainer: Trainer, epoch: Int, logs: [String: Double]) throws {
        if saveBest, let v = logs[monitor], minimize ? v < best : v > best {
            best = v
            try trainer.saveCheckpoint(to: bestURL)
        }
        try trainer.saveCheckpoint(to: lastURL)
    }
}

extension ModelCheckpoint: StatefulCallback {
    public func checkpointState() -> [String: Double] { ["best": best] }
    public func restoreCheckpoint(state: [String: Double], tensors: [String: Tensor]) {
        if let b = state["best"] { best = b }
    }
}

/// Steps a learning-rate scheduler after every batch (`perBatch`) or epoch; or, for `ReduceLROnPlateau`, feeds it
/// the monitored metric at each epoch end.
public final class LearningRateSchedule: Callback {
    let scheduler: LRScheduler?
    let plateau: ReduceLROnPlateau?
    let perBatch: Bool, monitor: String

    public init(_ scheduler: LRScheduler, perBatch: Bool = false) {
        self.scheduler = scheduler; plateau = nil; self.perBatch = perBatch; monitor = ""
    }

    public init(_ plateau: ReduceLROnPlateau, monitor: String = "val_loss") {
        scheduler = nil; self.plateau = plateau; perBatch = false; self.monitor = monitor
    }

    public func batchEnd(_ trainer: Trainer, epoch: Int, batch: Int, logs: [String: Double]) {
        if perBatch { scheduler?.step() }
    }

    public func epochEnd(_ trainer: Trainer, epoch: Int, logs: [String: Double]) throws {
        if !perBatch { scheduler?.step() }
        if let plateau {
            guard let v = logs[monitor] else {
                throw TrainingError.missingMetric(monitor, available: logs.keys.sorted(), callback: "LearningRateSchedule")
            }
            plateau.step(metric: v)
        }
    }
}

extension LearningRateSchedule: StatefulCallback {
    public func checkpointState() -> [String: Double] {
        if let scheduler { return ["scheduler_epoch": Double(scheduler.epoch)] }
        guard let plateau else { return [:] }
        return ["best": plateau.best, "bad_epochs": Double(plateau.badEpochs), "cooldown_left": Double(plateau.cooldownLeft)]
    }
    public func restoreCheckpoint(state: [String: Double], tensors: [String: Tensor]) throws {
        if let scheduler, let e = try checkpointCount(state, "scheduler_epoch") { scheduler.setEpoch(e) }
        guard let plateau, let b = state["best"] else { return }
        plateau.restore(best: b, badEpochs: try checkpointCount(state, "bad_epochs") ?? 0,
                        cooldownLeft: try checkpointCount(state, "cooldown_left") ?? 0)
    }
}

/// Stops training as soon as a batch loss is NaN or infinite.
public final class TerminateOnNaN: Callback {
    public private(set) var terminatedAt: (epoch: Int, batch: Int)?
    public init() {}
    public func batchEnd(_ trainer: Trainer, epoch: Int, batch: Int, logs: [String: Double]) {
        if let l = logs["loss"], !l.isFinite {
            terminatedAt = (epoch, batch)
            trainer.stopTraining = true
        }
    }
}

/// Writes one CSV row per epoch (epoch, then metrics in sorted order), rewriting the file atomically each time.
public final class CSVLogger: Callback {
    public let url: URL
    var rows: [String] = []
    var columns: [String] = []

    public init(url: URL) { self.url = url }

    public func epochEnd(_ trainer: Trainer, epoch: Int, logs: [String: Double]) throws {
        if columns.isEmpty { columns = logs.keys.sorted() }
        rows.append(([String(epoch)] + columns.map { logs[$0].map { "\($0)" } ?? "" }).joined(separator: ","))
        let text = (["epoch," + columns.joined(separator: ",")] + rows).joined(separator: "\n") + "\n"
        try AtomicFile.write(Data(text.utf8), to: url)
    }
}

/// Errors raised by the training loop and its callbacks.
public enum TrainingError: Error, CustomStringConvertible {
    case missingMetric(String, available: [String], callback: String)
    /// A callback's saved counter that is not a whole number in range (the checkpoint is damaged).
    case invalidCheckpointValue(key: String, value: Double, minimum: Int)

    public var description: String {
        switch self {
        case .missingMetric(let m, let a, let cb): return "\(cb): metric '\(m)' is not in the logs (available: \(a.joined(separator: ", ")))"
        case .invalidCheckpointValue(let k, let v, let low): return "'\(k)' is \(v); expected a whole number >= \(low)"
        }
    }
}

/// The whole number saved under `key` in a callback's checkpoint state (nil when absent); throws when it is not a
/// whole number in `atLeast...2^53` (NaN, infinite, fractional, negative: a damaged file, never a trap).
func checkpointCount(_ state: [String: Double], _ key: String, atLeast low: Int = 0) throws -> Int? {
    guard let v = state[key] else { return nil }
    guard v.isFinite, v.rounded() == v, v >= Double(low), v <= 9_007_199_254_740_992 else {
        throw TrainingError.invalidCheckpointValue(key: key, value: v, minimum: low)
    }
    return Int(v)
}
