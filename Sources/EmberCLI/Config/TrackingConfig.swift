import Foundation

/// The `tracking:` section: TensorBoard event files in the run directory (on by default) and MLflow (used when
/// `MLFLOW_TRACKING_URI` is set or `ember train --mlflow-dir DIR` is given).
///
/// ```yaml
/// tracking:
///   tensorboard: true            # or false, or {every_batches: 1, histograms: true, images: true, samples: 16}
///   mlflow: {experiment: digits, run_name: cnn-1, tags: {owner: me}, every_batches: 1}   # or false
/// ```
public struct TrackingConfig: Sendable {
    /// TensorBoard event files under `runs/<name>/tensorboard/`.
    public struct TensorBoardSettings: Sendable, Equatable {
        /// Write event files at all.
        public var enabled = true
        /// Log the batch values (`batch/loss`, `batch/accuracy`, `batch/lr`) every this many optimizer steps (0: never).
        public var everyBatches = 1
        /// A histogram of every parameter and of its gradient at the end of each epoch.
        public var histograms = true
        /// For image classification: a grid of sample test predictions each epoch and the test confusion matrix.
        public var images = true
        /// How many test images the sample grid shows.
        public var samples = 16
    }

    /// MLflow: a tracking server (`MLFLOW_TRACKING_URI`) or a file store (`--mlflow-dir`).
    public struct MLflowSettings: Sendable, Equatable {
        /// Log to the server in `MLFLOW_TRACKING_URI` when it is set (false: ignore it; an explicit `--mlflow-dir`
        /// still logs).
        public var enabled = true
        /// The experiment (created when missing).
        public var experiment = "ember"
        /// The run's name (nil: `outputs.name`).
        public var runName: String?
        /// Extra tags of the run.
        public var tags: [String: String] = [:]
        /// Log the batch values (`batch/loss`, ...) every this many optimizer steps (0: never).
        public var everyBatches = 1
    }

    /// TensorBoard settings.
    public var tensorboard = TensorBoardSettings()
    /// MLflow settings.
    public var mlflow = MLflowSettings()

    /// Defaults: TensorBoard on, MLflow when asked for from the command line or the environment.
    public init() {}
}

func parseTracking(_ v: ConfigValue?) throws -> TrackingConfig {
    var t = TrackingConfig()
    guard let v else { return t }
    let m = try v.mapping()
    if let tb = m.optional("tensorboard") {
        if tb.isScalar {
            t.tensorboard.enabled = try tb.bool()
        } else {
            let tm = try tb.mapping()
            if let x = tm.optional("enabled") { t.tensorboard.enabled = try x.bool() }
            if let x = tm.optional("every_batches") { t.tensorboard.everyBatches = try x.int(atLeast: 0) }
            if let x = tm.optional("histograms") { t.tensorboard.histograms = try x.bool() }
            if let x = tm.optional("images") { t.tensorboard.images = try x.bool() }
            if let x = tm.optional("samples") {
                t.tensorboard.samples = try x.int(atLeast: 0)
                guard t.tensorboard.samples <= 256 else { throw x.mismatch("an integer in 0...256") }
            }
            try tm.finish()
        }
    }
    if let ml = m.optional("mlflow") {
        if ml.isScalar {
            t.mlflow.enabled = try ml.bool()
        } else {
            let mm = try ml.mapping()
            if let x = mm.optional("enabled") { t.mlflow.enabled = try x.bool() }
            if let x = mm.optional("experiment") {
                t.mlflow.experiment = try x.string()
                if t.mlflow.experiment.isEmpty { throw x.mismatch("a non-empty experiment name") }
            }
            if let x = mm.optional("run_name") {
                let name = try x.string()
                if name.isEmpty { throw x.mismatch("a non-empty run name") }
                t.mlflow.runName = name
            }
            if let x = mm.optional("tags") {
                let tm = try x.mapping()
                for key in tm.keys {
                    guard let value = tm.optional(key) else { continue }
                    guard value.isScalar else { throw value.mismatch("a string") }
                    t.mlflow.tags[key] = try value.string()
                }
                try tm.finish()
            }
            if let x = mm.optional("every_batches") { t.mlflow.everyBatches = try x.int(atLeast: 0) }
            try mm.finish()
        }
    }
    try m.finish()
    return t
}
