import EmberTrack
import EmberUnsupervised
import Foundation

/// What a reconstruction run produced.
public struct ReconstructionOutcome: @unchecked Sendable {
    /// The effective config.
    public var config: ReconstructionConfig
    /// Where the outputs are.
    public var runDirectory: URL
    /// The trained autoencoder or VAE.
    public var model: Module
    /// The test metrics (`metrics.json`); empty when interrupted.
    public var metrics: [String: Double]
    /// The training history.
    public var history: History
    /// Whether training stopped early because of an interrupt (a checkpoint was written).
    public var interrupted: Bool
    /// Seconds of training (the `fit` call) and of the whole invocation.
    public var trainingSeconds: Double, seconds: Double
}

/// `ember train` for `task: reconstruction` configs: trains a (denoising) convolutional autoencoder or a VAE on an
/// image data set with the custom-step trainer (checkpoints, `--resume`, progress bar, history, TensorBoard), then
/// writes the test reconstruction error, the test ELBO (VAE, nats per image), the anomaly ROC-AUC when
/// `data.holdout_class` is set, k-means ARI/NMI of the test codes against the classes, PNG grids (reconstructions,
/// latent interpolations, samples) and `report.html` with a 2-D PCA scatter of the codes.
public enum ReconstructionRunner {
    /// Reads the config for `o`: the file, or the run directory's saved `config.yaml` when resuming without one.
    public static func loadConfig(_ o: TrainOptions) throws -> ReconstructionConfig {
        if let dir = o.runDirectory { try RunDirectory.checkPath(dir) }
        var path = o.configPath
        if path == nil, o.resume, let dir = o.runDirectory { path = (dir as NSString).appendingPathComponent(SavedModel.configFile) }
        guard let path else { throw CLIError("a reconstruction run needs its config file") }
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch { throw CLIError("config file \(path) cannot be read as UTF-8 text") }
        return try ReconstructionConfig.parse(text, file: path, overrides: o.overrides, runDirectory: o.runDirectory)
    }

    /// Images as [N, C, H, W] float32 in [0, 1] with their labels.
    struct Images {
        var x: [Float]
        var labels: [Int]
        var shape: [Int]   // C, H, W
        var count: Int { labels.count }
        var perImage: Int { shape.reduce(1, *) }
        func tensor(_ rows: Range<Int>? = nil) -> Tensor {
            let r = rows ?? 0..<count
            return Tensor(Array(x[(r.lowerBound * perImage)..<(r.upperBound * perImage)]), shape: [r.count] + shape)
        }
        func subset(_ idx: [Int]) -> Images {
            var out = [Float](); out.reserveCapacity(idx.count * perImage)
            for i in idx { out += x[(i * perImage)..<((i + 1) * perImage)] }
            return Images(x: out, labels: idx.map { labels[$0] }, shape: shape)
        }
    }

    static func load(_ c: ReconstructionConfig) throws -> (train: Images, test: Images, classNames: [String]) {
        func fromImageSet(_ d: ImageDataset) -> Images {
            Images(x: d.pixels.map { Float($0) * d.scale }, labels: d.labels.map(Int.init), shape: d.imageShape)
        }
        var train: Images, test: Images, names: [String]
        switch c.dataset {
        case "digits":
            let d = try Datasets.digits()
            let all = Images(x: d.inputs.toArray(Float.self).map { $0 / 16 }, labels: d.targets.toArray(Int64.self).map(Int.init), shape: [1, 8, 8])
            var rng = RandomState(seed: c.seed)
            let p = rng.permutation(all.count), cut = all.count * 4 / 5
            train = all.subset(Array(p[..<cut])); test = all.subset(Array(p[cut...]))
            names = (0...9).map(String.init)
        case "mnist":
            train = fromImageSet(try Datasets.mnist(.train, directory: c.directory!))
            test = fromImageSet(try Datasets.mnist(.test, directory: c.directory!))
            names = (0...9).map(String.init)
        default:
            let dir = c.directory ?? Datasets.fashionMNISTDirectory
            train = fromImageSet(try Datasets.fashionMNIST(.train, directory: dir))
            test = fromImageSet(try Datasets.fashionMNIST(.test, directory: dir))
            names = Datasets.fashionMNISTClasses
        }
        guard train.shape.count == 3, train.shape[1] % 4 == 0, train.shape[2] % 4 == 0 else {
            throw CLIError("\(c.dataset): images are \(train.shape); the conv presets need C×H×W with H and W divisible by 4")
        }
        if let h = c.holdoutClass {
            train = train.subset(train.labels.indices.filter { train.labels[$0] != h })
        }
        if let n = c.trainLimit, n < train.count { train = train.subset(Array(0..<n)) }
        if let n = c.testLimit, n < test.count { test = test.subset(Array(0..<n)) }
        return (train, test, names)
    }

    /// Runs one training invocation and writes the run directory.
    public static func run(_ o: TrainOptions, console: Console) throws -> ReconstructionOutcome {
        let start = Date()
        let c = try loadConfig(o)
        let dir = c.runDirectory, fm = FileManager.default
        let checkpoint = dir.appendingPathComponent(SavedModel.checkpointFile)
        try RunDirectory.check(dir, resume: o.resume, overwrite: o.overwrite)
        if o.resume && !fm.fileExists(atPath: checkpoint.path) {
            throw CLIError("nothing to resume in \(dir.path): no \(SavedModel.checkpointFile) (run without --resume to start)")
        }
        console.line("ember train: \(c.name) (\(c.preset.rawValue))" + (o.resume ? " (resuming)" : "") + " -> \(dir.path)")
        let (allTrain, test, classNames) = try load(c)
        var rng = RandomState(seed: c.seed)
        let order = rng.permutation(allTrain.count)
        let nVal = Int((Double(allTrain.count) * c.validation).rounded())
        let train = allTrain.subset(Array(order[nVal...])), val = allTrain.subset(Array(order[..<nVal]))
        guard train.count > 0 else { throw CLIError("\(c.dataset): no training images left after the limit, holdout class and validation split") }
        guard test.count > 1 else { throw CLIError("\(c.dataset): the test part needs at least 2 images") }

        let (ch, h, w) = (train.shape[0], train.shape[1], train.shape[2])
        let initGen = Generator(seed: c.seed &+ 1)
        let model: Module, trainer: Trainer
        let optimizerFor: (Module) -> Optimizer = { m in
            c.weightDecay > 0 ? AdamW(m.parameters, lr: c.lr, weightDecay: c.weightDecay) : Adam(m.parameters, lr: c.lr)
        }
        switch c.preset {
        case .convAutoencoder:
            let ae = ConvAutoEncoder(channels: ch, height: h, width: w, latent: c.latent, noiseStd: c.noiseStd,
                                     reconstruction: c.likelihood, generator: initGen, noiseSeed: c.seed &+ 2)
            model = ae; trainer = Trainer.autoencoder(ae, optimizer: optimizerFor(ae))
        case .convVAE:
            let vae = ConvVAE(channels: ch, height: h, width: w, latent: c.latent, likelihood: c.likelihood,
                              generator: initGen, noiseSeed: c.seed &+ 2)
            model = vae; trainer = Trainer.vae(vae, optimizer: optimizerFor(vae), annealing: c.annealing)
        }
        console.line("data: \(c.dataset), \(train.count) training, \(val.count) validation, \(test.count) test images"
                     + (c.holdoutClass.map { " (class \($0) \(classNames[$0]) left out of training)" } ?? ""))
        console.line("model: \(c.preset.rawValue), latent \(c.latent), \(grouped(model.parameterCount)) parameters")

        try fm.createDirectory(at: dir, withIntermediateDirectories: true)
        let lock = try RunDirectory.Lock(dir)
        defer { lock.release() }
        AtomicFile.removeStaleTemporaries(in: dir)
        try AtomicFile.write(Data(c.document.utf8), to: dir.appendingPathComponent(SavedModel.configFile))

        var callbacks: [Callback] = []
        if !o.quiet { callbacks.append(ProgressBar(interactive: console.interactive, output: console.write)) }
        let monitor = nVal > 0 ? "val_loss" : "loss"
        callbacks.append(ModelCheckpoint(directory: dir, monitor: monitor, saveBest: false, everyBatches: c.everyBatches))
        callbacks.append(HistoryWriter(url: dir.appendingPathComponent(SavedModel.historyFile)))
        var tensorboard: TensorBoardLogger?
        if c.tensorboard {
            let tb = try TensorBoardLogger(logDirectory: dir.appendingPathComponent("tensorboard"))
            tensorboard = tb
            callbacks.append(tb)
        }
        let interrupt = InterruptHandler(checkpoint: checkpoint, watchSignals: o.handleSignals, stopAfterBatches: o.stopAfterBatches)
        callbacks.append(interrupt)
        if o.handleSignals { InterruptSignal.install() }
        defer { if o.handleSignals { InterruptSignal.uninstall() } }

        let batches = TensorBatches(inputs: train.tensor(), targets: Tensor.zeros([train.count]), batchSize: c.batchSize, seed: c.seed &+ 3)
        let validation = nVal > 0 ? TensorBatches(inputs: val.tensor(), targets: Tensor.zeros([val.count]), batchSize: 500, shuffle: false) : nil
        let fitStart = Date()
        let history = try trainer.fit(batches, validation: validation, epochs: c.epochs, callbacks: callbacks,
                                      resumeFrom: o.resume ? checkpoint : nil)
        let trainingSeconds = Date().timeIntervalSince(fitStart)
        var outcome = ReconstructionOutcome(config: c, runDirectory: dir, model: model, metrics: [:], history: history,
                                            interrupted: false, trainingSeconds: trainingSeconds, seconds: 0)
        if let at = interrupt.stoppedAt {
            outcome.interrupted = true
            console.line("\nstopped in epoch \(at.epoch + 1), after batch \(at.batch); checkpoint written to \(checkpoint.path)")
            console.line("continue with: ember train \(o.configPath.map { $0 + " " } ?? "")--resume" + (o.runDirectory.map { " --run-dir \($0)" } ?? ""))
            outcome.seconds = Date().timeIntervalSince(start)
            return outcome
        }
        model.eval()
        let evaluation = try ReconstructionEvaluation.run(c, model: model, test: test, classNames: classNames, history: history,
                                                           trainingSeconds: trainingSeconds, directory: dir, tensorboard: tensorboard)
        try? tensorboard?.trainEnd(trainer)
        try SafeTensors.write(model.stateDict(), metadata: ["format": "ember-reconstruction", "preset": c.preset.rawValue],
                              to: dir.appendingPathComponent(SavedModel.modelFile))
        for line in evaluation.summary { console.line(line) }
        console.line("report: \(dir.appendingPathComponent(SavedModel.reportFile).path)")
        outcome.metrics = evaluation.metrics
        outcome.seconds = Date().timeIntervalSince(start)
        return outcome
    }
}
