import EmberCore
import EmberTrain
import Foundation

/// A `Trainer` callback that writes TensorBoard event files:
/// - every `stepInterval` optimizer steps, the batch values as `batch/<name>` (e.g. `batch/loss`) at the global step;
/// - every epoch, the epoch logs as `epoch/<name>` (`epoch/loss`, `epoch/val_accuracy`, `epoch/lr`, ...) at the
///   epoch index (0-based);
/// - every `histogramInterval` epochs, a histogram of each parameter (`weights/<name>`) and of its gradient from the
///   epoch's last batch (`gradients/<name>`), names as `Module.namedParameters()` gives them.
///
/// Images and other scalars go through `logImage`, `logSamplePredictions`, `logConfusionMatrix` and `logScalar`,
/// at any time, or each epoch from `onEpochEnd`.
///
/// ```swift
/// let tb = try TensorBoardLogger(logDirectory: URL(fileURLWithPath: "runs/net"))
/// tb.onEpochEnd = { tb, trainer, epoch in
///     try tb.logConfusionMatrix(trainer: trainer, inputs: testX, targets: testY, classes: 10, step: epoch)
/// }
/// try trainer.fit(loader, validation: test, epochs: 5, callbacks: [tb])
/// ```
public final class TensorBoardLogger: Callback {
    /// The event-file writer (also usable directly).
    public let writer: TensorBoardWriter
    /// Log batch values every this many optimizer steps (0 turns batch logging off).
    public var stepInterval: Int
    /// Log weight and gradient histograms every this many epochs (0 turns them off).
    public var histogramInterval: Int
    /// Buckets per histogram.
    public var histogramBins = 30
    /// Called at the end of each epoch, after the logger's own records, with the epoch index.
    public var onEpochEnd: ((TensorBoardLogger, Trainer, Int) throws -> Void)?

    /// A logger writing a new event file in `logDirectory` (the run's folder).
    public init(logDirectory: URL, stepInterval: Int = 1, histogramInterval: Int = 1, scalarStyle: ScalarStyle = .tensor) throws {
        writer = try TensorBoardWriter(logDirectory: logDirectory, scalarStyle: scalarStyle)
        self.stepInterval = stepInterval
        self.histogramInterval = histogramInterval
    }

    // MARK: Callback

    public func batchEnd(_ trainer: Trainer, epoch: Int, batch: Int, logs: [String: Double]) throws {
        guard stepInterval > 0, trainer.step % stepInterval == 0 else { return }
        try writer.addScalars(Dictionary(uniqueKeysWithValues: logs.map { ("batch/" + $0.key, $0.value) }), step: trainer.step)
    }

    public func epochEnd(_ trainer: Trainer, epoch: Int, logs: [String: Double]) throws {
        try writer.addScalars(Dictionary(uniqueKeysWithValues: logs.map { ("epoch/" + $0.key, $0.value) }), step: epoch)
        if histogramInterval > 0, (epoch + 1) % histogramInterval == 0 { try logParameterHistograms(trainer.model, step: epoch) }
        try onEpochEnd?(self, trainer, epoch)
        try writer.flush()
    }

    public func trainEnd(_ trainer: Trainer) throws { try writer.flush() }

    // MARK: logging API

    /// Histograms of every parameter (`weights/<name>`) and of every gradient present (`gradients/<name>`).
    public func logParameterHistograms(_ model: Module, step: Int) throws {
        for (name, p) in model.namedParameters() {
            try writer.addHistogram("weights/" + name, p, step: step, bins: histogramBins)
            if let g = p.grad { try writer.addHistogram("gradients/" + name, g, step: step, bins: histogramBins) }
        }
    }

    /// Logs one scalar.
    public func logScalar(_ tag: String, _ value: Double, step: Int) throws { try writer.addScalar(tag, value, step: step) }

    /// Logs an image.
    public func logImage(_ tag: String, _ image: RasterImage, step: Int) throws { try writer.addImage(tag, image, step: step) }

    /// Logs an image tensor (`[H, W]`, `[C, H, W]` or, with `.hwc`, `[H, W, C]`; floats in 0...1).
    public func logImage(_ tag: String, tensor: Tensor, layout: ImageLayout = .chw, normalize: Bool = false, step: Int) throws {
        try writer.addImage(tag, RasterImage(tensor: tensor, layout: layout, normalize: normalize), step: step)
    }

    /// Logs a grid of sample images framed green (right) or red (wrong), labelled "predicted/actual".
    public func logSamplePredictions(_ tag: String = "samples/predictions", images: Tensor, predicted: [Int], actual: [Int],
                                     layout: ImageLayout = .chw, normalize: Bool = false, step: Int) throws {
        let img = try RasterImage.samplePredictions(images, predicted: predicted, actual: actual, layout: layout, normalize: normalize)
        try writer.addImage(tag, img, step: step)
    }

    /// Runs the trainer's model on `inputs` (classification: argmax of the last axis) and logs the sample grid.
    /// `inputs` must be images: `[N, H, W]` or `[N, C, H, W]`.
    public func logSamplePredictions(_ tag: String = "samples/predictions", trainer: Trainer, inputs: Tensor, targets: Tensor,
                                     normalize: Bool = true, step: Int) throws {
        let predicted = Self.argmaxLabels(trainer.predict(inputs))
        try logSamplePredictions(tag, images: inputs, predicted: predicted, actual: targets.toArray(Int64.self).map { Int($0) },
                                 normalize: normalize, step: step)
    }

    /// Logs a confusion-matrix heat map (rows: actual class, columns: predicted class).
    public func logConfusionMatrix(_ tag: String = "evaluation/confusion_matrix", predicted: [Int], actual: [Int], classes: Int,
                                   step: Int) throws {
        try writer.addImage(tag, RasterImage.confusionMatrix(predicted: predicted, actual: actual, classes: classes), step: step)
    }

    /// Runs the trainer's model on `inputs` and logs the confusion matrix against `targets` (integer classes).
    public func logConfusionMatrix(_ tag: String = "evaluation/confusion_matrix", trainer: Trainer, inputs: Tensor, targets: Tensor,
                                   classes: Int, step: Int) throws {
        let predicted = Self.argmaxLabels(trainer.predict(inputs))
        try logConfusionMatrix(tag, predicted: predicted, actual: targets.toArray(Int64.self).map { Int($0) }, classes: classes, step: step)
    }

    /// Writes buffered records to disk.
    public func flush() throws { try writer.flush() }

    /// Flushes and closes the event file.
    public func close() throws { try writer.close() }

    static func argmaxLabels(_ outputs: Tensor) -> [Int] {
        outputs.argmax(axis: -1).toArray(Int64.self).map { Int($0) }
    }
}
