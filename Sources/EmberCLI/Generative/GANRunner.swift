import EmberTrack
import Foundation
import Yams

/// What a GAN training run produced.
public struct GANOutcome: @unchecked Sendable {
    /// The effective config.
    public var config: ExperimentConfig
    /// Where the outputs are.
    public var runDirectory: URL
    /// The networks, optimizers and noise.
    public var gan: GANTraining
    /// The training history.
    public var history: History
    /// `model.json`'s content; nil when interrupted.
    public var saved: GANModelFile?
    /// Whether training stopped early because of an interrupt (a checkpoint was written).
    public var interrupted: Bool
    /// Seconds this invocation took.
    public var seconds: Double
}

/// `ember train` for a GAN preset (`dcgan`, `cgan`, `wgan-gp`) on an image dataset: the custom-step Trainer with
/// both networks, both optimizers, the noise and the GAN's counters in every checkpoint (so `--resume` continues
/// bit-identically); the progress bar shows both losses; a grid of samples from fixed noise is written each epoch
/// to `samples/epoch-NNN.png` (and to TensorBoard as `samples/generated`); `report.html` shows the learning curves and
/// the grids. `ember evaluate RUN --classifier CLS_RUN` adds the Fréchet distance and class figures.
public enum GANRunner {
    /// The folder of the per-epoch sample grids.
    static let samplesFolder = "samples"
    /// Seed of the fixed noise of the per-epoch grids.
    static let gridSeed: UInt64 = 20_260_000

    /// Runs one training invocation and writes the run directory.
    public static func run(_ o: TrainOptions, console: Console) throws -> GANOutcome {
        let start = Date()
        let config = try TrainRunner.loadConfig(o)
        guard let g = config.model.gan else { throw CLIError("\(config.file ?? "the config") has no GAN preset (dcgan, cgan, wgan-gp)") }
        guard config.data.sequence == nil, config.data.task == .classification else {
            throw ConfigError(path: "model.preset", message: "\(g.preset) trains on images (a built-in image set, IDX/npy files or image folders)",
                              file: config.file)
        }
        let dir = config.runDirectory, fm = FileManager.default
        try RunDirectory.check(dir, resume: o.resume, overwrite: o.overwrite)
        let checkpoint = dir.appendingPathComponent(SavedModel.checkpointFile)
        if o.resume {
            guard fm.fileExists(atPath: checkpoint.path) else {
                throw CLIError("nothing to resume in \(dir.path): no \(SavedModel.checkpointFile) (run without --resume to start)")
            }
            let done = try TrainRunner.checkpointEpoch(checkpoint)
            guard done <= config.training.epochs else {
                throw CLIError("\(checkpoint.path) has \(done) epochs done; to resume, training.epochs (now \(config.training.epochs)) must be at least \(done)")
            }
        }
        console.line("ember train: \(config.outputs.name)" + (o.resume ? " (resuming)" : "") + " -> \(dir.path)")

        // Data: every training image, scaled to the generator's [-1, 1].
        let images = try GANData.load(config)
        let t = config.training
        var spec = GANSpec(channels: images.shape[0], height: images.shape[1], width: images.shape[2], latent: g.latent,
                           features: g.features, classes: g.conditional ? images.classes.count : nil, embedding: g.embedding,
                           loss: g.loss, criticSteps: g.criticSteps, penaltyWeight: g.penaltyWeight)
        if g.conditional && images.classes.count < 2 {
            throw ConfigError(path: "model.preset", message: "cgan needs class labels (at least 2 classes), the data has \(images.classes.count)", file: config.file)
        }
        if let problem = spec.validate() { throw ConfigError(path: "model.options", message: problem, file: config.file) }
        spec.classes = g.conditional ? images.classes.count : nil
        let optimizerConfig = explicitOptimizer(config) ?? defaultOptimizer(g)
        let gan = GANTraining(spec, seed: t.seed) { TrainingSetup.optimizer(optimizerConfig, $0) }
        let conditional = spec.isConditional
        let trainer = Trainer(models: gan.models, optimizers: gan.optimizers, state: gan.state) { batch, _ in
            gan.step(real: batch.input, labels: conditional ? batch.target : nil)
        }
        let batches = TensorBatches(inputs: images.x, targets: images.y, batchSize: t.batchSize, shuffle: true, seed: t.seed)

        do { try fm.createDirectory(at: dir.appendingPathComponent(samplesFolder), withIntermediateDirectories: true) } catch {
            throw CLIError("run directory \(dir.path) cannot be created: \(fileSystemReason(error, path: dir.path))")
        }
        let lock = try RunDirectory.Lock(dir)
        defer { lock.release() }
        try RunDirectory.check(dir, resume: o.resume, overwrite: o.overwrite)
        AtomicFile.removeStaleTemporaries(in: dir)
        let earlierFiles = RunDirectory.manifest(dir)
        try AtomicFile.write(Data(config.document.utf8), to: dir.appendingPathComponent(SavedModel.configFile))
        console.line("data: \(images.source) - \(grouped(images.count)) images \(spec.channels)x\(spec.height)x\(spec.width), "
                     + "\(images.classes.count) classes, pixels / \(Int(images.pixelRange)) scaled to [-1, 1]")
        console.line("model: \(g.preset) - latent \(spec.latent), features \(spec.features); generator \(grouped(gan.generator.parameterCount)), "
                     + "\(spec.loss == .wasserstein ? "critic" : "discriminator") \(grouped(gan.discriminator.parameterCount)) parameters; "
                     + "\(optimizerConfig.name) lr \(optimizerConfig.lr), betas \(optimizerConfig.betas)"
                     + (spec.loss == .wasserstein ? "; \(spec.criticSteps) critic steps per generator step, penalty weight \(spec.penaltyWeight)" : ""))

        var callbacks: [Callback] = []
        if !o.quiet { callbacks.append(ProgressBar(interactive: console.interactive, output: console.write)) }
        var ownFiles = [SavedModel.configFile, SavedModel.checkpointFile, SavedModel.historyFile]
        var tensorboard: TensorBoardLogger?
        if config.tracking.tensorboard.enabled {
            let tb = try TensorBoardLogger(logDirectory: dir.appendingPathComponent(RunTracking.tensorboardFolder),
                                           stepInterval: config.tracking.tensorboard.everyBatches, histogramInterval: 0)
            tensorboard = tb
            callbacks.append(tb)
            ownFiles.append(RunTracking.tensorboardFolder + "/" + tb.writer.fileURL.lastPathComponent)
            console.line("tracking: TensorBoard -> \(tb.writer.fileURL.deletingLastPathComponent().path)")
        }
        let grids = SampleGrids(gan: gan, directory: dir, tensorboard: config.tracking.tensorboard.images ? tensorboard : nil)
        callbacks.append(grids)
        ownFiles += (0..<t.epochs).map { SampleGrids.file(epoch: $0) }
        try RunDirectory.writeManifest(earlierFiles + ownFiles, in: dir)
        var closingConfig = t
        closingConfig.earlyStopping = nil
        closingConfig.checkpoint.saveBest = false
        let (closing, interrupt, _) = TrainingSetup.closingCallbacks(closingConfig, schedules: (nil, nil, nil), defaultMonitor: "loss_g",
                                                                     directory: dir, checkpoint: checkpoint, options: o)
        callbacks += closing
        if o.handleSignals { InterruptSignal.install() }
        defer { if o.handleSignals { InterruptSignal.uninstall() } }

        let history: History
        do {
            history = try trainer.fit(batches, epochs: t.epochs, callbacks: callbacks, resumeFrom: o.resume ? checkpoint : nil)
        } catch {
            try? tensorboard?.close()
            throw error
        }
        var outcome = GANOutcome(config: config, runDirectory: dir, gan: gan, history: history, saved: nil, interrupted: false,
                                 seconds: Date().timeIntervalSince(start))
        if let at = interrupt.stoppedAt {
            try tensorboard?.close()
            outcome.interrupted = true
            console.line("\nstopped in epoch \(at.epoch + 1), after batch \(at.batch) of \(batches.batchesPerEpoch); checkpoint written to \(checkpoint.path)")
            console.line("continue with: ember train \(o.configPath.map { $0 + " " } ?? "")--resume" + (o.runDirectory.map { " --run-dir \($0)" } ?? ""))
            return outcome
        }
        try tensorboard?.close()
        let last = history.metrics.compactMapValues { $0.last }.filter { !$0.value.isNaN }
        let provenance = Provenance(
            created: ISO8601DateFormatter().string(from: Date()), dataset: images.source, trainExamples: images.count,
            validationExamples: 0, testExamples: 0, epochs: history.epochs, steps: trainer.step, seed: t.seed,
            seconds: Date().timeIntervalSince(start), resumed: o.resume, stoppedEarly: false, lastEpoch: last,
            configFile: config.file, host: ProcessInfo.processInfo.hostName, threads: Threading.threads)
        let saved = GANModelFile(name: config.outputs.name, preset: g.preset, spec: spec, classes: images.classes,
                                 pixelRange: images.pixelRange, provenance: provenance, config: config.document)
        gan.generator.eval()
        gan.discriminator.eval()
        try saved.write(generator: gan.generator, discriminator: gan.discriminator, to: dir)
        var metrics: [(String, JSONValue)] = [("preset", .string(g.preset)), ("epochs", .number(Double(history.epochs))),
                                               ("train_images", .number(Double(images.count))),
                                               ("seconds", .number(provenance.seconds))]
        for (k, v) in last.sorted(by: { $0.key < $1.key }) { metrics.append(("final_" + k, .number(v))) }
        try AtomicFile.write(Data((JSONValue.object(metrics).rendered() + "\n").utf8), to: dir.appendingPathComponent(SavedModel.metricsFile))
        try GANReport.write(run: dir, file: saved, history: history, measurement: nil)
        ownFiles += [SavedModel.modelFile, SavedModel.jsonFile, SavedModel.metricsFile, SavedModel.reportFile]
        if o.resume { ownFiles += earlierFiles } else { RunDirectory.removeStale(listed: earlierFiles, keeping: ownFiles, in: dir) }
        try RunDirectory.writeManifest(Array(Set(ownFiles)).sorted(), in: dir)
        outcome.saved = saved
        outcome.seconds = Date().timeIntervalSince(start)
        let summary = last.sorted(by: { $0.key < $1.key }).filter { !$0.key.hasPrefix("lr") }
            .map { String(format: "%@ %.4f", $0.key, $0.value) }.joined(separator: ", ")
        console.line("last epoch: \(summary)")
        console.line(String(format: "done in %.1f s (%d epochs); outputs in %@/ (sample grids in %@/, report.html)", outcome.seconds,
                            history.epochs, dir.path, samplesFolder))
        return outcome
    }

    /// `training.optimizer` as the config gives it, or nil when the config has no such key (the preset's default).
    static func explicitOptimizer(_ config: ExperimentConfig) -> OptimizerConfig? {
        guard let root = try? Yams.compose(yaml: config.document), let training = root["training"],
              training["optimizer"] != nil else { return nil }
        return config.training.optimizer
    }

    /// The papers' settings: Adam 2e-4, betas (0.5, 0.999) for DCGAN; Adam 1e-4, betas (0.5, 0.9) for WGAN-GP.
    static func defaultOptimizer(_ g: GANModelConfig) -> OptimizerConfig {
        var o = OptimizerConfig()
        o.name = "adam"
        o.lr = g.loss == .wasserstein ? 1e-4 : 2e-4
        o.betas = g.loss == .wasserstein ? [0.5, 0.9] : [0.5, 0.999]
        o.weightDecay = 0
        return o
    }
}

/// A GAN's training images as the networks see them.
struct GANData {
    /// [N, C, H, W] in [-1, 1].
    var x: Tensor
    /// Class indices [N] (int64).
    var y: Tensor
    var classes: [String]
    /// The raw value of a white pixel (255 for 8-bit images).
    var pixelRange: Double
    var source: String
    var count: Int { x.shape[0] }
    var shape: [Int] { Array(x.shape.dropFirst()) }

    /// The config's training images (all of them, or `data.limit.train` drawn with the seed), as [N, C, H, W]:
    /// image sets keep their shape; flat features take `data.shape` or, when their count is a square, [1, s, s].
    static func load(_ config: ExperimentConfig) throws -> GANData {
        let d = config.data
        let (raw, _, source) = try DataReader.load(d, file: config.file)
        var inputs = raw.inputs, targets = raw.targets
        if let n = d.limitTrain, n < raw.count {
            var rng = RandomState(seed: d.split.seed ?? config.training.seed)
            let keep = Array(rng.permutation(raw.count).prefix(n)).sorted()
            let sub = raw.subset(keep)
            inputs = sub.inputs
            targets = sub.targets
        }
        let n = inputs.shape[0]
        var shape = Array(inputs.shape.dropFirst())
        if let s = d.shape {
            guard s.reduce(1, *) == shape.reduce(1, *) else {
                throw ConfigError(path: "data.shape", message: "\(s) does not hold the \(shape.reduce(1, *)) values of each example", file: config.file)
            }
            shape = s
        } else if shape.count == 1 {
            let side = Int(Double(shape[0]).squareRoot().rounded())
            guard side * side == shape[0] else {
                throw ConfigError(path: "data.shape", message: "missing; \(shape[0]) features per example are not a square image: give [channels, height, width]",
                                  file: config.file)
            }
            shape = [1, side, side]
        } else if shape.count == 2 {
            shape = [1] + shape
        }
        guard shape.count == 3 else {
            throw ConfigError(path: "data.shape", message: "a GAN needs images [channels, height, width], got \(shape) per example", file: config.file)
        }
        let maxValue = inputs.count > 0 ? inputs.cast(.float64).max().item() : 1
        let range = d.scale.map { 1 / $0 } ?? (raw.byteImages ? 255 : Swift.max(maxValue, 1e-12))
        let x = withoutGrad { (inputs.cast(.float32).reshaped([n] + shape) * (2 / range) - 1) }
        let classes = raw.classNames.isEmpty ? [] : raw.classNames
        return GANData(x: x, y: targets.cast(.int64), classes: classes, pixelRange: range, source: source)
    }
}

/// Writes a grid of samples from fixed noise at the end of every epoch: `samples/epoch-NNN.png` in the run directory
/// (through AtomicFile) and `samples/generated` in TensorBoard. A conditional GAN's grid has one column per class.
final class SampleGrids: Callback {
    let gan: GANTraining, directory: URL, tensorboard: TensorBoardLogger?
    init(gan: GANTraining, directory: URL, tensorboard: TensorBoardLogger?) {
        self.gan = gan; self.directory = directory; self.tensorboard = tensorboard
    }

    static func file(epoch: Int) -> String { GANRunner.samplesFolder + "/" + String(format: "epoch-%03d.png", epoch + 1) }

    /// The grid of `generator`: 64 samples (8 columns), or for a conditional one 8 rows of one column per class.
    static func grid(_ generator: GANGenerator, seed: UInt64) throws -> RasterImage {
        if let c = generator.spec.classes {
            let count = 8 * c
            let x = GANTraining.sample(generator, count: count, seed: seed, labels: (0..<count).map { $0 % c })
            return try RasterImage.grid(x, columns: c, padding: 2, range: -1...1)
        }
        return try RasterImage.grid(GANTraining.sample(generator, count: 64, seed: seed), columns: 8, padding: 2, range: -1...1)
    }

    func epochEnd(_ trainer: Trainer, epoch: Int, logs: [String: Double]) throws {
        let image = try Self.grid(gan.generator, seed: GANRunner.gridSeed)
        try AtomicFile.write(Data(try image.pngData()), to: directory.appendingPathComponent(Self.file(epoch: epoch)))
        try tensorboard?.logImage("samples/generated", image, step: epoch)
    }
}
