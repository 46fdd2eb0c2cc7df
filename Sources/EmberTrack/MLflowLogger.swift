import EmberTrain
import Foundation

/// A `Trainer` callback that records the run in MLflow, on a tracking server (`MLflowRESTStore`) or in a local
/// file store (`MLflowFileStore`):
/// - at the start: the run (created on the first `trainBegin`), tags (`framework: ember` plus `tags`) and
///   parameters (optimizer, learning rate, epochs, batches per epoch, parameter count, loss, plus `params`);
/// - every `stepInterval` steps: the batch values as `batch/<name>` at the global step;
/// - every epoch: the epoch logs (`loss`, `accuracy`, `val_loss`, `lr`, ...) at the epoch index (0-based);
/// - at the end: the files and folders in `artifacts`, then the run is marked FINISHED (unless
///   `endRunOnTrainEnd` is false, so that a model saved after `fit` can still be added with `logArtifact`).
///
/// ```swift
/// // MLFLOW_TRACKING_URI=http://127.0.0.1:5000 selects the server; otherwise the --mlflow-dir folder.
/// if let mlflow = try MLflowLogger(experiment: "digits", runName: "cnn", mlflowDirectory: dir) {
///     mlflow.params = ["batch_size": "64"]
///     mlflow.endRunOnTrainEnd = false
///     try trainer.fit(loader, epochs: 5, callbacks: [mlflow])
///     try mlflow.logArtifact(file: modelURL)
///     try mlflow.endRun()
/// }
/// ```
///
/// `Trainer` does not tell callbacks about a failed `fit`; call `endRun(status: .failed)` when it throws.
public final class MLflowLogger: Callback {
    /// Where the run is recorded.
    public let store: any MLflowStore
    /// The experiment's name (created when missing).
    public let experiment: String
    /// The run's name (default: "ember-" and 8 hex digits).
    public let runName: String?
    /// Extra parameters logged when the run starts.
    public var params: [String: String]
    /// Extra tags set when the run starts.
    public var tags: [String: String]
    /// Log batch values every this many optimizer steps (0 turns batch logging off).
    public var stepInterval = 1
    /// Files or folders uploaded as artifacts at `trainEnd` (a folder keeps its name and structure).
    public var artifacts: [URL] = []
    /// Mark the run FINISHED at `trainEnd`.
    public var endRunOnTrainEnd = true
    /// The active run, once started.
    public private(set) var run: MLflowRun?
    private var paramsLogged = false

    /// A logger recording into `store`.
    public init(store: any MLflowStore, experiment: String, runName: String? = nil, params: [String: String] = [:],
                tags: [String: String] = [:]) {
        self.store = store; self.experiment = experiment; self.runName = runName; self.params = params; self.tags = tags
    }

    /// A logger for the server in `MLFLOW_TRACKING_URI` when it is set, else for a file store in `mlflowDirectory`;
    /// `nil` when neither is given.
    public convenience init?(experiment: String, runName: String? = nil, mlflowDirectory: URL?,
                             environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        guard let store = try MLflow.store(directory: mlflowDirectory, environment: environment) else { return nil }
        self.init(store: store, experiment: experiment, runName: runName)
    }

    /// Starts the run now (otherwise `trainBegin` does); returns the active run.
    @discardableResult
    public func startRun() throws -> MLflowRun {
        if let run, !run.ended { return run }
        let r = try MLflowRun(store: store, experiment: experiment, runName: runName, tags: ["framework": "ember"].merging(tags) { $1 })
        run = r
        paramsLogged = false
        return r
    }

    // MARK: Callback

    public func trainBegin(_ trainer: Trainer) throws {
        let r = try startRun()
        guard !paramsLogged else { return }
        var p = [
            "optimizer": String(describing: type(of: trainer.optimizer)),
            "lr": "\(trainer.optimizer.lr)",
            "epochs": "\(trainer.totalEpochs)",
            "batches_per_epoch": "\(trainer.batchesPerEpoch)",
            "parameters": "\(trainer.model.parameterCount)",
            "loss": String(describing: trainer.loss),
            "model": String(describing: type(of: trainer.model)),
        ]
        if !trainer.metrics.isEmpty { p["metrics"] = trainer.metrics.map(\.rawValue).joined(separator: ",") }
        if let s = trainer.scheduler { p["scheduler"] = String(describing: type(of: s)) }
        try r.logParams(p.merging(params) { $1 })
        paramsLogged = true
    }

    public func batchEnd(_ trainer: Trainer, epoch: Int, batch: Int, logs: [String: Double]) throws {
        guard stepInterval > 0, trainer.step % stepInterval == 0, let run else { return }
        try run.logMetrics(Dictionary(uniqueKeysWithValues: logs.map { ("batch/" + $0.key, $0.value) }), step: trainer.step)
    }

    public func epochEnd(_ trainer: Trainer, epoch: Int, logs: [String: Double]) throws {
        guard let run else { return }
        try run.logMetrics(logs, step: epoch)
        try run.flush()
    }

    public func trainEnd(_ trainer: Trainer) throws {
        guard let run else { return }
        try run.flush()
        for url in artifacts { try logArtifact(url) }
        if endRunOnTrainEnd { try run.end(status: .finished) }
    }

    /// `fit` failed: flush what was logged and mark the run FAILED, so it does not stay RUNNING.
    public func trainFailed(_ trainer: Trainer, error: Error) {
        guard let run else { return }
        try? run.flush()
        try? run.setTags(["ember.error": String(describing: error).prefix(500).description])
        try? run.end(status: .failed)
    }

    // MARK: manual logging

    /// Uploads a file (or, for a folder, every file in it) to the run's artifacts, under `artifactPath`.
    public func logArtifact(_ url: URL, artifactPath: String? = nil) throws {
        let r = try startRun()
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir) else {
            throw TrackingError.io(path: url.path, reason: "artifact does not exist")
        }
        if isDir.boolValue { try r.logArtifacts(directory: url, artifactPath: artifactPath) } else { try r.logArtifact(file: url, artifactPath: artifactPath) }
    }

    /// Uploads a file to the run's artifacts (alias of `logArtifact(_:artifactPath:)`).
    public func logArtifact(file: URL, artifactPath: String? = nil) throws { try logArtifact(file, artifactPath: artifactPath) }

    /// Logs a metric at `step` (sent with the next flush).
    public func logMetric(_ key: String, _ value: Double, step: Int) throws { try startRun().logMetric(key, value, step: step) }

    /// Sets tags on the run.
    public func setTags(_ tags: [String: String]) throws { try startRun().setTags(tags) }

    /// Flushes metrics and ends the run with `status` (FINISHED by default).
    public func endRun(status: MLflowRunStatus = .finished) throws { try run?.end(status: status) }
}
