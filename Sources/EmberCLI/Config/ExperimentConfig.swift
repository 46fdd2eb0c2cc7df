import Foundation
import Yams

/// What the model predicts.
public enum TaskKind: String, Codable, Sendable {
    /// Class indices; the model outputs one logit per class.
    case classification
    /// Real values; the model outputs one value per target column.
    case regression
}

/// An experiment, as `ember train` reads it from YAML or JSON: where the data comes from and how it is prepared,
/// the model, how it is trained, what is measured, where the outputs go and how the run is tracked. See the README
/// for the schema.
public struct ExperimentConfig {
    /// Data source, split, preparation and augmentation.
    public var data: DataConfig
    /// The network: a preset with options, or a list of layers.
    public var model: ModelConfig
    /// Optimizer, schedule, loss, batch size, epochs, seed and callbacks.
    public var training: TrainingConfig
    /// Metrics computed on the test part.
    public var evaluation: EvaluationConfig
    /// Where the run directory goes.
    public var outputs: OutputConfig
    /// TensorBoard and MLflow tracking.
    public var tracking: TrackingConfig
    /// The effective document (after command-line overrides), saved as `config.yaml` in the run directory.
    public var document: String
    /// The file it was read from, if any.
    public var file: String?

    /// The run directory: `outputs.directory/outputs.name`.
    public var runDirectory: URL {
        URL(fileURLWithPath: outputs.directory).appendingPathComponent(outputs.name)
    }
}

/// A file-based data source.
public struct DataSource: Codable, Equatable, Sendable {
    /// File formats.
    public enum Format: String, Codable, Sendable, CaseIterable {
        /// A CSV table: feature columns and a target column.
        case csv
        /// IDX files (MNIST layout): an inputs file and a labels file.
        case idx
        /// NumPy `.npy` files: an inputs array and a targets array.
        case npy
        /// A NumPy `.npz` archive holding both arrays (`inputs`/`targets` name them; default `x` and `y`).
        case npz
    }
    /// The format.
    public var format: Format
    /// The CSV file, or the inputs file for IDX and npy.
    public var path: String
    /// The labels/targets file (IDX and npy), or the targets array's name in an `.npz` archive.
    public var targets: String?
    /// The inputs array's name in an `.npz` archive.
    public var inputs: String?
    /// The target column (CSV; default: the last column).
    public var target: String?
    /// The feature columns (CSV; default: every numeric column but the target).
    public var features: [String]?
}

/// Folders of image files, one sub-folder per class (`data.images`): decoded with EmberData's `ImageFolder`,
/// converted to `channels` and resized to `size`.
public struct ImageFolderSource: Codable, Equatable, Sendable {
    /// The training folder (`train/<class>/*.png|jpg`).
    public var train: String
    /// The test folder, optional: without it the test part is split off the training images (by class).
    public var test: String?
    /// `[height, width]` every image is resized to; nil: the files' own size, which must be the same for all.
    public var size: [Int]?
    /// 1 (gray) or 3 (RGB).
    public var channels = 3
    /// The resize filter (Pillow's bilinear, or area).
    public var filter = ResizeFilter.bilinear
    /// Skip files that cannot be decoded (listed on standard error) instead of failing on the first.
    public var skipDamaged = true
}

/// How the data is split when a source has no test part of its own, and how much of the training part is held out
/// for validation.
public struct SplitConfig: Codable, Equatable, Sendable {
    /// Fraction held out for testing (used when the source has no test part).
    public var test: Double = 0.2
    /// Fraction of the training part held out for validation (0: none).
    public var validation: Double = 0.1
    /// Keep each class's proportion in every part (classification).
    public var stratify: Bool = true
    /// Seed of the split (default: `training.seed`).
    public var seed: UInt64?
}

/// A random per-example augmentation for image inputs `[C, H, W]`, applied to training batches only (EmberData's
/// `Augmentation` types do the work).
public enum AugmentationSpec: Codable, Equatable, Sendable {
    /// Pad by `padding` pixels of zeros, then crop back to the original size at a random offset (`RandomCrop`).
    case randomCrop(padding: Int)
    /// Mirror left-right with probability `p` (`HorizontalFlip`).
    case horizontalFlip(p: Double)
    /// Mirror top-bottom with probability `p` (`VerticalFlip`).
    case verticalFlip(p: Double)
    /// Rotate by a random angle in ±`degrees` (`RandomRotation`).
    case rotation(degrees: Double)
    /// Random brightness and contrast factors in 1 ± the given amounts (`ColorJitter`).
    case colorJitter(brightness: Double, contrast: Double)
    /// Add Gaussian noise of standard deviation `std` (`GaussianNoise`).
    case gaussianNoise(std: Double)
    /// Erase a random rectangle with probability `p` (`RandomErasing`).
    case randomErasing(p: Double)
}

/// The data section.
public struct DataConfig: Sendable {
    /// A built-in dataset name (`ember datasets`), or nil for files.
    public var dataset: String?
    /// Where a built-in image set's files are (mnist, cifar10; overrides fashion-mnist's default).
    public var directory: String?
    /// Training file(s), when not a built-in set.
    public var train: DataSource?
    /// Test file(s), optional: without them the test part is split off the training data.
    public var test: DataSource?
    /// Folders of image files by class (instead of `dataset` or `train` files).
    public var images: ImageFolderSource?
    /// Classification or regression.
    public var task: TaskKind = .classification
    /// Split fractions.
    public var split = SplitConfig()
    /// Use at most this many training / test examples (quick runs), taken after shuffling.
    public var limitTrain: Int?
    /// Use at most this many test examples.
    public var limitTest: Int?
    /// Factor applied to the raw inputs before preparation (default 1/255 for 8-bit images, else 1).
    public var scale: Double?
    /// Shape of one example as the model sees it (e.g. `[1, 8, 8]` to treat 64 features as an image).
    public var shape: [Int]?
    /// Fitted preparation steps (imputing, scaling), applied to the flattened features.
    public var preparation: [PreparationStep] = []
    /// Training-time augmentations (image inputs).
    public var augmentation: [AugmentationSpec] = []
    /// Text or a time series for a sequence model (`data.text`, `data.series`); nil for the other data sources.
    public var sequence: SequenceDataConfig?
    /// Passages of plays labelled by work, for a text classifier (`data.passages`); nil for the other data sources.
    public var passages: PassagesDataConfig?
}

/// The model section: a preset with options, or explicit layers.
public struct ModelConfig: Sendable {
    /// `mlp`, `lenet` or `cnn-small` (nil with explicit layers).
    public var preset: String?
    /// Preset options.
    public var options = PresetOptions()
    /// Explicit layers; input sizes may be left out and are inferred.
    public var layers: [LayerSpec]?
    /// Key paths of the explicit layers, for error messages.
    var layerPaths: [String] = []
    /// A sequence model preset (`char-lstm`, `lstm-forecaster`) with its options.
    public var sequence: SequenceModelConfig?
    /// Transfer learning: the model starts from a trained run (`model.pretrained`), not a preset or layers.
    public var transfer: TransferConfig?
    /// A GAN preset (`dcgan`, `cgan`, `wgan-gp`) with its options.
    public var gan: GANModelConfig?
    /// The scratch text classifier preset (`text-transformer`) with its options.
    public var text: TextTransformerConfig?
}

/// Options of the model presets (each preset reads the ones it uses).
public struct PresetOptions: Codable, Equatable, Sendable {
    /// Hidden layer widths (mlp; cnn-small's dense layer uses the first).
    public var hidden: [Int]?
    /// Convolution channels per block (cnn-small).
    public var channels: [Int]?
    /// Convolution kernel size (cnn-small).
    public var kernel: Int?
    /// Dropout before the output layer.
    public var dropout: Double?
    /// Batch normalization after each convolution or hidden layer.
    public var batchNorm: Bool?
    /// Activation name (relu, gelu, silu, tanh, sigmoid, elu, leaky_relu).
    public var activation: String?
}

/// The optimizer.
public struct OptimizerConfig: Codable, Equatable, Sendable {
    /// `sgd`, `adam`, `adamw`, `rmsprop` or `adagrad`.
    public var name = "adamw"
    /// Learning rate.
    public var lr = 1e-3
    /// Weight decay (decoupled for AdamW, L2 otherwise); default 0.01 for AdamW, else 0.
    public var weightDecay: Double?
    /// Momentum (SGD, RMSprop).
    public var momentum = 0.0
    /// Nesterov momentum (SGD).
    public var nesterov = false
    /// Adam's betas.
    public var betas = [0.9, 0.999]
}

/// A learning-rate schedule.
public enum ScheduleConfig: Codable, Equatable, Sendable {
    /// Constant learning rate.
    case none
    /// Multiply by `gamma` every `stepSize` epochs.
    case step(stepSize: Int, gamma: Double)
    /// Multiply by `gamma` at each milestone epoch.
    case multiStep(milestones: [Int], gamma: Double)
    /// Multiply by `gamma` every epoch.
    case exponential(gamma: Double)
    /// Cosine annealing over the run's epochs down to `minLR`.
    case cosine(minLR: Double)
    /// One-cycle policy over every batch of the run, peaking at `maxLR`.
    case oneCycle(maxLR: Double, pctStart: Double)
    /// Linear warm-up from `startFactor` x lr over `epochs` epochs.
    case warmup(epochs: Int, startFactor: Double)
    /// Reduce by `factor` when `monitor` (nil: the default monitor) stops improving for `patience` epochs.
    case plateau(monitor: String?, factor: Double, patience: Int)
}

/// The loss.
public enum LossConfig: Codable, Equatable, Sendable {
    /// Cross-entropy over logits (classification).
    case crossEntropy(labelSmoothing: Double)
    /// Mean squared error (regression).
    case mse
    /// Mean absolute error (regression).
    case l1
}

/// Early stopping.
public struct EarlyStoppingConfig: Codable, Equatable, Sendable {
    /// The metric watched (`val_loss`, `val_accuracy`, `loss`, ...); nil: `val_loss`, or `loss` without a
    /// validation split.
    public var monitor: String?
    /// Epochs without improvement before stopping.
    public var patience = 5
    /// Smallest change that counts as an improvement.
    public var minDelta = 0.0
    /// Restore the best epoch's weights when stopping early.
    public var restoreBest = true
}

/// Checkpoints in the run directory.
public struct CheckpointConfig: Codable, Equatable, Sendable {
    /// Also write `last.ckpt.safetensors` every this many batches (nil: only at epoch ends).
    public var everyBatches: Int? = 100
    /// Keep the best epoch's checkpoint (`best.ckpt.safetensors`) by `monitor`.
    public var saveBest = true
    /// The metric that picks the best epoch; nil: `val_loss`, or `loss` without a validation split.
    public var monitor: String?
}

/// The training section.
public struct TrainingConfig: Sendable {
    /// Epochs to train (in total, counting any already done when resuming).
    public var epochs = 10
    /// Examples per batch.
    public var batchSize = 32
    /// Seed of initialization, shuffling, dropout, augmentation and (by default) the split.
    public var seed: UInt64 = 0
    /// The optimizer.
    public var optimizer = OptimizerConfig()
    /// The learning-rate schedule.
    public var schedule = ScheduleConfig.none
    /// The loss (default: cross-entropy for classification, MSE for regression).
    public var loss: LossConfig?
    /// Early stopping, when enabled.
    public var earlyStopping: EarlyStoppingConfig?
    /// Checkpointing.
    public var checkpoint = CheckpointConfig()
    /// Scale gradients to at most this global L2 norm before each step (sequence models).
    public var clipGradNorm: Double?
}

/// Metrics computed on the test part after training.
public struct EvaluationConfig: Sendable {
    /// Metric names (see `MetricName`); nil: the task's defaults.
    public var metrics: [String]?
}

/// Where outputs are written: `directory/name`.
public struct OutputConfig: Sendable {
    /// The parent directory of runs (default `runs`).
    public var directory = "runs"
    /// The run's name (default: the config file's name).
    public var name = "run"
}
