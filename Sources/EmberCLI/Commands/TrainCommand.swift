import ArgumentParser
import Foundation

/// Runs a command body, printing any error as one clean line (`ember: error: ...`) and exiting non-zero:
/// 2 for config errors, 1 for everything else; the body's own exit code otherwise.
func reportingErrors(_ console: Console = .standard, _ body: () throws -> Int32) throws {
    let code: Int32
    do {
        code = try body()
    } catch let e as ConfigError {
        console.writeError("ember: error: \(e)\n")
        throw ExitCode(2)
    } catch let e as ExitCode {
        throw e
    } catch {
        console.writeError("ember: error: \(error)\n")
        throw ExitCode(1)
    }
    if code != 0 { throw ExitCode(code) }
}

/// `ember train [CONFIG]`: trains a model from an experiment config and writes its run directory.
public struct TrainCommand: ParsableCommand {
    /// Command name, help and discussion.
    public static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a model from a YAML/JSON experiment config (default: a small CNN on the bundled digits).",
        discussion: """
            Writes runs/<name>/: model.safetensors (PyTorch state_dict names), model.json (architecture, fitted \
            preparation, classes, provenance), metrics.json (test metrics), history.csv (one row per epoch), \
            config.yaml (the effective config), report.html (the evaluation report), tensorboard/ (TensorBoard event \
            files: per-step and per-epoch scalars, weight and gradient histograms, sample predictions and the confusion \
            matrix; `tracking.tensorboard: false` turns them off) and last.ckpt.safetensors (the resumable checkpoint, \
            also written every `training.callbacks.checkpoint.every_batches` batches).

            MLflow: with MLFLOW_TRACKING_URI=http://host:port the run is logged to that tracking server (parameters from \
            the config, per-step metrics, tags, the model files and report as artifacts); `--mlflow-dir DIR` writes \
            MLflow's file-store layout in DIR instead. `tracking.mlflow` sets the experiment, run name and tags.

            GAN presets (model.preset: dcgan, cgan, wgan-gp) write the generator and discriminator to model.safetensors, \
            a sample grid per epoch to samples/epoch-NNN.png (and TensorBoard), and report.html; `ember generate` draws \
            images from them and `ember evaluate RUN --classifier CLS_RUN` measures them.

            Text classifiers (data.passages: passages of plays labelled by work; model.pretrained: a sentence-transformers \
            folder, optionally with freeze or lora, or model.preset: text-transformer) write a model.json of format \
            ember-text-classifier; `ember evaluate RUN` and `ember predict RUN FILE.txt` take them.

            Ctrl-C (or SIGTERM) stops after the current batch and writes a checkpoint; `ember train [CONFIG] --resume` \
            continues from it, exactly as if never interrupted. The config schema is in the README; errors name the key \
            path, e.g. `training.optimizer.lr: expected a number, got "fast"`.
            """)

    /// The config file.
    @Argument(help: "Experiment config (YAML or JSON). Without it: the embedded digits default, or when resuming, the run directory's config.yaml.")
    public var config: String?

    /// Resume from the last checkpoint.
    @Flag(help: "Continue from the run directory's last checkpoint.")
    public var resume = false

    /// Run directory.
    @Option(name: .customLong("run-dir"), help: "Run directory (default: outputs.directory/outputs.name from the config, e.g. runs/digits-cnn).")
    public var runDir: String?

    /// Replace a finished run.
    @Flag(help: "Replace the finished (or interrupted) run in the run directory; its model stays until the new one is written.")
    public var overwrite = false

    /// Epochs override.
    @Option(parsing: .unconditional, help: "Override training.epochs.")
    public var epochs: Int?

    /// Batch-size override.
    @Option(name: .customLong("batch-size"), parsing: .unconditional, help: "Override training.batch_size.")
    public var batchSize: Int?

    /// Learning-rate override.
    @Option(parsing: .unconditional, help: "Override training.optimizer.lr.")
    public var lr: Double?

    /// Seed override.
    @Option(parsing: .unconditional, help: "Override training.seed.")
    public var seed: Int?

    /// Run-name override.
    @Option(help: "Override outputs.name.")
    public var name: String?

    /// Generic overrides.
    @Option(name: .customLong("set"), help: ArgumentHelp("Override any config key (repeatable), e.g. --set data.split.validation=0.2.", valueName: "key.path=value"))
    public var set: [String] = []

    /// Threads.
    @Option(parsing: .unconditional, help: "Threads for Ember's kernels and OpenBLAS (default: all cores).")
    public var threads: Int?

    /// No progress bar.
    @Flag(help: "No progress bar; only the summary lines.")
    public var quiet = false

    /// MLflow file store.
    @Option(name: .customLong("mlflow-dir"), help: ArgumentHelp("Record the run in an MLflow file store in DIR (instead of the server in MLFLOW_TRACKING_URI).", valueName: "DIR"))
    public var mlflowDir: String?

    /// Testing hook.
    @Option(name: .customLong("stop-after-batches"), help: ArgumentHelp("Stop as Ctrl-C would after N batches (for testing --resume).", visibility: .hidden))
    public var stopAfterBatches: Int?

    /// Parsed from the command line.
    public init() {}

    /// Numbers in range, with a message naming the option (negative numbers reach here as numbers, not as unknown
    /// flags: `--epochs -5` says `--epochs must be a positive integer, got -5`).
    public func validate() throws {
        func positive(_ name: String, _ v: Int?, max: Int) throws {
            guard let v else { return }
            guard v >= 1 else { throw ValidationError("--\(name) must be a positive integer, got \(v)") }
            guard v <= max else { throw ValidationError("--\(name) must be at most \(max), got \(v)") }
        }
        try positive("epochs", epochs, max: ConfigLimits.maxEpochs)
        try positive("batch-size", batchSize, max: ConfigLimits.maxInt)
        try positive("threads", threads, max: ConfigLimits.maxThreads)
        try positive("stop-after-batches", stopAfterBatches, max: .max)
        if let seed, seed < 0 { throw ValidationError("--seed must be a non-negative integer, got \(seed)") }
        if let lr, !(lr > 0 && lr.isFinite) { throw ValidationError("--lr must be a positive number, got \(lr)") }
        if let runDir { try RunDirectory.checkPath(runDir) }
    }

    /// The invocation's options.
    public var options: TrainOptions {
        var o = TrainOptions()
        o.configPath = config
        o.resume = resume
        o.overwrite = overwrite
        o.runDirectory = runDir
        var overrides: [String] = []
        if let epochs { overrides.append("training.epochs=\(epochs)") }
        if let batchSize { overrides.append("training.batch_size=\(batchSize)") }
        if let lr { overrides.append("training.optimizer.lr=\(lr)") }
        if let seed { overrides.append("training.seed=\(seed)") }
        if let name { overrides.append("outputs.name=\(jsonQuoted(name))") }
        o.overrides = overrides + set
        o.quiet = quiet
        o.handleSignals = true
        o.stopAfterBatches = stopAfterBatches
        o.mlflowDirectory = mlflowDir
        return o
    }

    /// Runs the command.
    public func run() throws {
        try reportingErrors {
            if let threads {
                // OpenBLAS stays single-threaded: Ember splits GEMMs itself (same bits for any --threads).
                Threading.threads = threads
            }
            if let path = config ?? (resume ? runDir.map { ($0 as NSString).appendingPathComponent(SavedModel.configFile) } : nil),
               let text = try? String(contentsOfFile: path, encoding: .utf8), ReconstructionConfig.isReconstruction(text) {
                return try ReconstructionRunner.run(options, console: .standard).interrupted ? 130 : 0
            }
            let config = try TrainRunner.loadConfig(options)
            if config.model.gan != nil {
                return try GANRunner.run(options, console: .standard).interrupted ? 130 : 0
            }
            if config.data.passages != nil {
                return try SequenceRunner.run(options, console: .standard).interrupted ? 130 : 0
            }
            if config.data.sequence != nil {
                return try SequenceRunner.run(options, console: .standard).interrupted ? 130 : 0
            }
            let outcome = try TrainRunner.run(options, console: .standard)
            return outcome.interrupted ? 130 : 0
        }
    }
}
