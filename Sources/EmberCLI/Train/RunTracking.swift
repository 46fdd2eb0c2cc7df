import EmberTrack
import Foundation
import Yams

/// TensorBoard and MLflow for one `ember train` invocation (EmberTrack's loggers, set up from the config's
/// `tracking:` section):
/// - TensorBoard (unless `tracking.tensorboard: false`): event files in `<run>/tensorboard/` with the batch values
///   plus the learning rate (`batch/loss`, `batch/accuracy`, `batch/lr`) per optimizer step, the epoch values
///   (`epoch/loss`, `epoch/val_accuracy`, `epoch/lr`, ...) per epoch, weight and gradient histograms per epoch, for
///   image classification a grid of sample test predictions per epoch, and after training the test metrics
///   (`test/accuracy`, ...) and the test confusion matrix (`test/confusion_matrix`, classification).
/// - MLflow, on the server in `MLFLOW_TRACKING_URI` or in the file store of `--mlflow-dir` (the option wins):
///   the flattened config and data sizes as parameters, tags, the same batch and epoch values, the test metrics, and
///   the model files, metrics, history and report as artifacts.
final class RunTracking: Callback {
    let tensorboard: TensorBoardLogger?
    let mlflow: MLflowLogger?
    /// Where the event files go.
    let tensorboardDirectory: URL?
    /// The tracking URI or file-store folder MLflow records in.
    let mlflowLocation: String?
    /// Whether that came from `MLFLOW_TRACKING_URI` (not `--mlflow-dir`).
    private let mlflowFromEnvironment: Bool
    /// Whether images (sample predictions, confusion matrix) go to TensorBoard.
    private let images: Bool
    private var closed = false

    /// Sets up the loggers; `samples` (test images as the model sees them, and their classes) are drawn each epoch.
    init(config: ExperimentConfig, directory: URL, options: TrainOptions, samples: (inputs: Tensor, targets: Tensor)?,
         details: [String: String]) throws {
        let t = config.tracking
        images = t.tensorboard.images
        if t.tensorboard.enabled {
            let dir = directory.appendingPathComponent(Self.tensorboardFolder)
            // Histograms are drawn here rather than by the logger: the same records, from a faster float32 read.
            let tb = try TensorBoardLogger(logDirectory: dir, stepInterval: t.tensorboard.everyBatches, histogramInterval: 0)
            let histograms = t.tensorboard.histograms, grid = t.tensorboard.images ? samples : nil
            tb.onEpochEnd = { tb, trainer, epoch in
                if histograms { try Self.logHistograms(tb, trainer.model, step: epoch) }
                if let grid {
                    try tb.logSamplePredictions(Self.samplesTag, trainer: trainer, inputs: grid.inputs, targets: grid.targets,
                                                normalize: true, step: epoch)
                }
            }
            tensorboard = tb
            tensorboardDirectory = dir
        } else {
            tensorboard = nil
            tensorboardDirectory = nil
        }
        if let (store, location) = try Self.mlflowStore(t.mlflow, options: options) {
            let logger = MLflowLogger(store: store, experiment: t.mlflow.experiment, runName: t.mlflow.runName ?? config.outputs.name)
            logger.stepInterval = t.mlflow.everyBatches
            logger.endRunOnTrainEnd = false   // the model and report are uploaded after training
            logger.params = Self.flatten(config.document).merging(details) { $1 }
            var tags = ["ember.run_name": config.outputs.name, "ember.run_directory": directory.path, "ember.task": config.data.task.rawValue,
                        "ember.resumed": options.resume ? "true" : "false"]
            if let file = config.file { tags["ember.config_file"] = file }
            if let ds = config.data.dataset { tags["ember.dataset"] = ds }
            logger.tags = tags.merging(t.mlflow.tags) { $1 }
            mlflow = logger
            mlflowLocation = location
            mlflowFromEnvironment = options.mlflowDirectory == nil
        } else {
            mlflow = nil
            mlflowLocation = nil
            mlflowFromEnvironment = false
        }
    }

    static let tensorboardFolder = "tensorboard"
    static let samplesTag = "samples/predictions"
    static let confusionTag = "test/confusion_matrix"

    /// The MLflow store: a file store in `--mlflow-dir`, else the server (or store) in `MLFLOW_TRACKING_URI` unless
    /// the config turns MLflow off; nil when neither applies.
    static func mlflowStore(_ settings: TrackingConfig.MLflowSettings, options: TrainOptions) throws -> (any MLflowStore, String)? {
        if let dir = options.mlflowDirectory {
            let url = URL(fileURLWithPath: dir).standardizedFileURL
            return (MLflowFileStore(root: url), url.path)
        }
        guard settings.enabled, let uri = options.environment["MLFLOW_TRACKING_URI"], !uri.isEmpty else { return nil }
        do { return (try MLflow.store(trackingURI: uri), uri) } catch {
            throw CLIError("MLFLOW_TRACKING_URI=\(uri): \(error) (expected an http(s):// server or a file-store folder; "
                           + "unset it, or set tracking.mlflow: false, to train without MLflow)")
        }
    }

    /// One line saying where the run is tracked.
    var summary: String? {
        var parts: [String] = []
        if let d = tensorboardDirectory { parts.append("TensorBoard -> \(d.path)") }
        if let m = mlflow, let loc = mlflowLocation { parts.append("MLflow -> \(loc) (experiment \(jsonQuoted(m.experiment)))") }
        return parts.isEmpty ? nil : "tracking: " + parts.joined(separator: "; ")
    }

    // MARK: Callback

    func trainBegin(_ trainer: Trainer) throws {
        try tensorboard?.trainBegin(trainer)
        do { try mlflow?.trainBegin(trainer) } catch let e as TrackingError {
            // The first contact with the server: say where the address came from and how to do without.
            throw CLIError(mlflowFromEnvironment
                           ? "MLflow at MLFLOW_TRACKING_URI=\(mlflowLocation ?? ""): \(e) (unset it, or set tracking.mlflow: false, to train without MLflow)"
                           : "MLflow file store \(mlflowLocation ?? ""): \(e)")
        }
    }

    func batchEnd(_ trainer: Trainer, epoch: Int, batch: Int, logs: [String: Double]) throws {
        // The learning rate this step used (the per-batch schedule is stepped by a later callback).
        var withLR = logs
        withLR["lr"] = trainer.optimizer.lr
        try tensorboard?.batchEnd(trainer, epoch: epoch, batch: batch, logs: withLR)
        try mlflow?.batchEnd(trainer, epoch: epoch, batch: batch, logs: withLR)
    }

    func epochEnd(_ trainer: Trainer, epoch: Int, logs: [String: Double]) throws {
        try tensorboard?.epochEnd(trainer, epoch: epoch, logs: logs)
        try mlflow?.epochEnd(trainer, epoch: epoch, logs: logs)
    }

    func trainEnd(_ trainer: Trainer) throws {
        try tensorboard?.trainEnd(trainer)
        try mlflow?.trainEnd(trainer)   // flushes; the run stays open for `finish`
    }

    func trainFailed(_ trainer: Trainer, error: Error) { failed(error) }

    // MARK: after training

    /// The test metrics as `metrics.json` has them (and for classification the confusion matrix) at `step`, the
    /// artifacts (`(file, folder)`; nil: top level), then the event file is closed and the MLflow run marked FINISHED.
    func finish(_ evaluation: EvaluationResult, step: Int, artifacts: [(URL, String?)]) throws {
        let metrics = Dictionary(evaluation.scalars.filter { evaluation.requested.contains($0.0) }.map { ("test/" + $0.0, $0.1) },
                                 uniquingKeysWith: { $1 })
        if let tb = tensorboard {
            try tb.writer.addScalars(metrics, step: step)
            if images, !evaluation.confusion.isEmpty {
                try tb.logImage(Self.confusionTag, try RasterImage.confusionMatrix(evaluation.confusion), step: step)
            }
            try tb.close()
        }
        if let m = mlflow {
            for (k, v) in metrics.sorted(by: { $0.key < $1.key }) { try m.logMetric(k, v, step: step) }
            for (file, folder) in artifacts where FileManager.default.fileExists(atPath: file.path) {
                try m.logArtifact(file, artifactPath: folder)
            }
            try m.endRun(status: .finished)
        }
        closed = true
    }

    /// Training stopped for an interrupt: the event file is closed and the MLflow run marked KILLED (a resumed run
    /// is recorded as a new MLflow run, tagged `ember.resumed`).
    func interrupted(epoch: Int, batch: Int) throws {
        try tensorboard?.close()
        if let m = mlflow {
            try m.setTags(["ember.interrupted": "epoch \(epoch + 1), batch \(batch)"])
            try m.endRun(status: .killed)
        }
        closed = true
    }

    /// Something failed: flush what was logged, close the event file and mark the MLflow run FAILED.
    func failed(_ error: Error) {
        guard !closed else { return }
        closed = true
        try? tensorboard?.close()
        if let m = mlflow, let run = m.run, !run.ended {
            try? m.setTags(["ember.error": String(String(describing: error).prefix(500))])
            try? m.endRun(status: .failed)
        }
    }

    /// A histogram of every parameter (`weights/<name>`) and of its gradient from the epoch's last batch
    /// (`gradients/<name>`), as `TensorBoardLogger.logParameterHistograms` writes them.
    static func logHistograms(_ tb: TensorBoardLogger, _ model: Module, step: Int) throws {
        func values(_ t: Tensor) -> [Double] { t.dtype == .float32 ? t.toArray(Float.self).map(Double.init) : t.toArray(Double.self) }
        for (name, p) in model.namedParameters() {
            try tb.writer.addHistogram("weights/" + name, values: values(p), step: step, bins: tb.histogramBins)
            if let g = p.grad { try tb.writer.addHistogram("gradients/" + name, values: values(g), step: step, bins: tb.histogramBins) }
        }
    }

    // MARK: parameters

    /// The config document as MLflow parameters: dotted key paths of its scalars (`training.optimizer.lr`), lists
    /// written in flow style (`model.options.channels: [32, 64]`).
    static func flatten(_ document: String) -> [String: String] {
        guard let root = try? Yams.compose(yaml: document) else { return [:] }
        var out: [String: String] = [:]
        func walk(_ node: Node, _ path: String) {
            switch node {
            case .mapping(let m):
                for (k, v) in m { walk(v, path.isEmpty ? (k.string ?? "?") : path + "." + (k.string ?? "?")) }
            case .scalar(let s):
                if !path.isEmpty { out[path] = s.string }
            case .sequence:
                if !path.isEmpty { out[path] = flow(node) }
            }
        }
        walk(root, "")
        return out
    }

    /// A node in YAML flow style on one line (`[{conv2d: {out: 8}}, relu]`).
    static func flow(_ node: Node) -> String {
        switch node {
        case .scalar(let s): return s.string
        case .sequence(let seq): return "[" + seq.map(flow).joined(separator: ", ") + "]"
        case .mapping(let m): return "{" + m.map { "\(flow($0.key)): \(flow($0.value))" }.joined(separator: ", ") + "}"
        }
    }
}
