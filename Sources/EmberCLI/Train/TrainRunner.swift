import Foundation

/// Options of one `ember train` invocation.
public struct TrainOptions: Sendable {
    /// The config file (nil: the embedded default, or the run directory's `config.yaml` when resuming).
    public var configPath: String?
    /// Continue from the run directory's last checkpoint.
    public var resume = false
    /// The run directory, overriding the config's `outputs`.
    public var runDirectory: String?
    /// `key.path=value` config overrides, applied in order.
    public var overrides: [String] = []
    /// No progress bar.
    public var quiet = false
    /// Stop cleanly on SIGINT/SIGTERM (the command line sets this; in-process callers usually do not).
    public var handleSignals = false
    /// Replace a finished (or interrupted) run in the run directory (`--overwrite`); its model stays until the new
    /// one is written.
    public var overwrite = false
    /// Stop as an interrupt would after this many batches (for tests of `--resume`).
    public var stopAfterBatches: Int?
    /// `--mlflow-dir`: record the run in an MLflow file store in this folder (it wins over `MLFLOW_TRACKING_URI`).
    public var mlflowDirectory: String?
    /// The environment tracking settings are read from (`MLFLOW_TRACKING_URI`): the process's unless set.
    public var environment: [String: String] = ProcessInfo.processInfo.environment

    /// Default options: the embedded config, a fresh run.
    public init() {}
}

/// What a training run produced.
public struct TrainOutcome: @unchecked Sendable {
    /// The effective config.
    public var config: ExperimentConfig
    /// Where the outputs are.
    public var runDirectory: URL
    /// The data parts used.
    public var splits: DataSplits
    /// The trained network (in memory).
    public var model: Sequential
    /// The input preparation (fitted).
    public var input: InputPipeline
    /// Test metrics; nil when interrupted.
    public var evaluation: EvaluationResult?
    /// `model.json`'s content; nil when interrupted.
    public var saved: SavedModel?
    /// Whether training stopped early because of an interrupt (a checkpoint was written).
    public var interrupted: Bool
    /// Epochs completed in total.
    public var epochs: Int
    /// Seconds this invocation took.
    public var seconds: Double
    /// The folder of the TensorBoard event files; nil when TensorBoard is off.
    public var tensorboardDirectory: URL?
    /// The MLflow run's id and experiment id; nil without MLflow.
    public var mlflowRunID: String?, mlflowExperimentID: String?
}

/// `ember train`: config -> data -> preparation -> model -> training with callbacks -> test metrics -> saved model.
public enum TrainRunner {
    /// Reads the config an invocation uses: the given file; when resuming without one, the run directory's saved
    /// `config.yaml`; otherwise the embedded default (`DefaultConfig.yaml`).
    public static func loadConfig(_ o: TrainOptions) throws -> ExperimentConfig {
        if let dir = o.runDirectory { try RunDirectory.checkPath(dir) }
        if let path = o.configPath {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { throw CLIError("config file \(path) not found") }
            guard !isDirectory.boolValue else {
                throw CLIError("config file \(path) is a directory; expected a YAML or JSON file"
                               + (FileManager.default.fileExists(atPath: (path as NSString).appendingPathComponent(SavedModel.configFile))
                                  ? " (to continue the run there: ember train --resume --run-dir \(path))" : ""))
            }
            let text: String
            do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
                throw CLIError("config file \(path) cannot be read as UTF-8 text")
            }
            return try ExperimentConfig.parse(text, file: path, overrides: o.overrides, runDirectory: o.runDirectory)
        }
        if o.resume {
            let dir = try o.runDirectory.map { URL(fileURLWithPath: $0) }
                ?? ExperimentConfig.parse(DefaultConfig.yaml).runDirectory
            let saved = dir.appendingPathComponent(SavedModel.configFile)
            if let text = try? String(contentsOf: saved, encoding: .utf8) {
                return try ExperimentConfig.parse(text, file: saved.path, overrides: o.overrides, runDirectory: o.runDirectory)
            }
        }
        return try ExperimentConfig.parse(DefaultConfig.yaml, overrides: o.overrides, runDirectory: o.runDirectory)
    }

    /// Runs one training invocation and writes the run directory.
    public static func run(_ o: TrainOptions, console: Console) throws -> TrainOutcome {
        let start = Date()
        let config = try loadConfig(o)
        guard config.data.sequence == nil else {
            throw CLIError("\(config.file ?? "this config") trains a sequence model (data.text or data.series): use SequenceRunner.run")
        }
        _ = try RunTracking.mlflowStore(config.tracking.mlflow, options: o)   // an unusable MLFLOW_TRACKING_URI fails here
        let dir = config.runDirectory
        let fm = FileManager.default
        try RunDirectory.check(dir, resume: o.resume, overwrite: o.overwrite)
        let checkpoint = dir.appendingPathComponent(SavedModel.checkpointFile)
        if o.resume {
            guard fm.fileExists(atPath: checkpoint.path) else {
                throw CLIError("nothing to resume in \(dir.path): no \(SavedModel.checkpointFile) (run without --resume to start)")
            }
            let done = try checkpointEpoch(checkpoint)
            guard done <= config.training.epochs else {
                throw CLIError("\(checkpoint.path) has \(done) epochs done; to resume, training.epochs (now \(config.training.epochs)) must be at least \(done)")
            }
        }
        console.line("ember train: \(config.outputs.name)" + (o.resume ? " (resuming)" : "") + " -> \(dir.path)")

        // Data and preparation.
        let splits = try DataReader.split(config)
        var input = try InputPipeline.make(for: splits.train, config: config.data, file: config.file)
        try input.fit(splits.train.inputs)
        let task = config.data.task
        let classes = splits.train.classNames
        if task == .classification && classes.count < 2 {
            throw CLIError("\(splits.source): the training data has \(classes.count) class; classification needs at least 2")
        }
        console.line(dataSummary(splits, input: input, task: task))

        // Model.
        let outputs = task == .classification ? classes.count : (splits.train.targets.rank == 1 ? 1 : splits.train.targets.shape[1])
        let architecture: Architecture, model: Sequential, groups: [ParamGroup]?
        if let transfer = config.model.transfer {
            let t = try transfer.build(input: input.shape, outputs: outputs, seed: config.training.seed, file: config.file)
            (architecture, model, groups) = (t.architecture, t.model, t.groups)
            console.line("pretrained: \(t.summary)")
        } else {
            architecture = try makeArchitecture(config, input: input.shape, outputs: outputs)
            model = architecture.build(generator: Generator(seed: config.training.seed))
            groups = nil
        }

        // The run directory, once the config, data and model are known to fit together.
        // Nothing is deleted here: Ember's files are replaced as the new run writes them (the model last, atomically),
        // and files of an earlier run that this one does not rewrite go only once it has finished (see RunDirectory).
        do { try fm.createDirectory(at: dir, withIntermediateDirectories: true) } catch {
            throw CLIError("run directory \(dir.path) cannot be created: \(fileSystemReason(error, path: dir.path))")
        }
        let lock = try RunDirectory.Lock(dir)
        defer { lock.release() }
        try RunDirectory.check(dir, resume: o.resume, overwrite: o.overwrite)   // again, now that no other run can start
        AtomicFile.removeStaleTemporaries(in: dir)
        let earlierFiles = RunDirectory.manifest(dir)
        try AtomicFile.write(Data(config.document.utf8), to: dir.appendingPathComponent(SavedModel.configFile))
        console.line("model: \(config.model.preset ?? (config.model.transfer == nil ? "layers" : "pretrained")) - \(architecture.layers.count) layers, \(grouped(model.parameterCount)) parameters, "
                     + "input \(input.shape) -> \(task == .classification ? "\(outputs) classes" : "\(outputs) value(s)")")

        // Training.
        let t = config.training
        let lossConfig = t.loss ?? (task == .classification ? .crossEntropy(labelSmoothing: 0) : .mse)
        let optimizer = groups.map { TrainingSetup.optimizer(t.optimizer, groups: $0) } ?? TrainingSetup.optimizer(t.optimizer, model.parameters)
        let trainX = try input.apply(splits.train.inputs)
        let loader = DataLoader(TensorDataset(inputs: trainX, targets: splits.train.targets), batchSize: t.batchSize, shuffle: true,
                                rng: RandomState(seed: t.seed).split(1), workers: 1, transform: augmentation(config.data.augmentation, shape: input.shape))
        let validation = try splits.validation.map {
            TensorBatches(inputs: try input.apply($0.inputs), targets: $0.targets, batchSize: 256, shuffle: false)
        }
        let schedules = TrainingSetup.schedule(t.schedule, optimizer: optimizer, epochs: t.epochs, batchesPerEpoch: loader.count,
                                               lr: t.optimizer.lr, defaultMonitor: config.defaultMonitor)
        let trainer = Trainer(model, optimizer: optimizer, loss: lossConfig.function,
                              metrics: task == .classification ? [.accuracy] : [], scheduler: schedules.epoch)
        var callbacks: [Callback] = []
        if !o.quiet { callbacks.append(ProgressBar(interactive: console.interactive, output: console.write)) }
        // Tracking: TensorBoard event files in `dir/tensorboard`, MLflow when asked for (before the per-batch
        // schedule, so that `batch/lr` is the rate each step used).
        let tracking = try makeTracking(config, directory: dir, options: o, splits: splits, input: input, outputs: outputs)
        if let tracking {
            callbacks.append(tracking)
            if let line = tracking.summary { console.line(line) }
        }
        // The files this run writes, recorded before it writes them (a killed run's files stay known).
        var ownFiles = [SavedModel.configFile, SavedModel.checkpointFile, SavedModel.historyFile]
        if t.checkpoint.saveBest { ownFiles.append(SavedModel.bestCheckpointFile) }
        if let event = tracking?.tensorboard?.writer.fileURL {
            ownFiles.append(RunTracking.tensorboardFolder + "/" + event.lastPathComponent)
        }
        try RunDirectory.writeManifest(earlierFiles + ownFiles, in: dir)
        let (closing, interrupt, early) = TrainingSetup.closingCallbacks(t, schedules: schedules, defaultMonitor: config.defaultMonitor,
                                                                  directory: dir, checkpoint: checkpoint, options: o)
        callbacks += closing

        if o.handleSignals { InterruptSignal.install() }
        defer { if o.handleSignals { InterruptSignal.uninstall() } }
        do {
            let history = try trainer.fit(loader, validation: validation, epochs: t.epochs, callbacks: callbacks,
                                          resumeFrom: o.resume ? checkpoint : nil)
            var outcome = TrainOutcome(config: config, runDirectory: dir, splits: splits, model: model, input: input, evaluation: nil,
                                       saved: nil, interrupted: false, epochs: history.epochs, seconds: Date().timeIntervalSince(start),
                                       tensorboardDirectory: tracking?.tensorboardDirectory, mlflowRunID: tracking?.mlflow?.run?.info.runID,
                                       mlflowExperimentID: tracking?.mlflow?.run?.info.experimentID)
            if let at = interrupt.stoppedAt {
                outcome.interrupted = true
                try tracking?.interrupted(epoch: at.epoch, batch: at.batch)
                let how = interrupt.signal == SIGTERM ? "terminated" : interrupt.signal == SIGINT ? "interrupted (Ctrl-C)" : "stopped"
                console.line("\n\(how) in epoch \(at.epoch + 1), after batch \(at.batch) of \(loader.count); checkpoint written to \(checkpoint.path)")
                console.line("continue with: ember train \(o.configPath.map { $0 + " " } ?? "")--resume" + (o.runDirectory.map { " --run-dir \($0)" } ?? ""))
                return outcome
            }

            // LoRA adapters are folded into their layers: the saved model is the plain architecture (same outputs).
            if model.mergeLoRA() > 0 { console.line("merged the LoRA adapters into their layers") }

            // Evaluation on the test part and the saved model.
            let testX = try input.apply(splits.test.inputs)
            let testOut = trainer.predict(testX)
            let metrics = config.evaluation.metrics ?? MetricName.defaults(task)
            let evaluation = task == .classification
                ? try EvaluationResult.classification(logits: testOut, targets: splits.test.targets, classes: classes, loss: lossConfig.function,
                                                      split: "test", requested: metrics)
                : try EvaluationResult.regression(outputs: testOut, targets: splits.test.targets, loss: lossConfig.function, split: "test",
                                                  requested: metrics)
            let last = history.metrics.compactMapValues { $0.last }.filter { !$0.value.isNaN }
            let provenance = Provenance(
                created: ISO8601DateFormatter().string(from: Date()), dataset: splits.source, trainExamples: splits.train.count,
                validationExamples: splits.validation?.count ?? 0, testExamples: splits.test.count, epochs: history.epochs,
                steps: trainer.step, seed: t.seed, seconds: Date().timeIntervalSince(start), resumed: o.resume,
                stoppedEarly: early?.stoppedEpoch != nil, lastEpoch: last, configFile: config.file,
                host: ProcessInfo.processInfo.hostName, threads: Threading.threads)
            let saved = SavedModel(name: config.outputs.name, task: task, architecture: architecture, input: input, classes: classes,
                                   target: config.data.train?.target, loss: lossConfig, parameters: model.parameterCount,
                                   provenance: provenance, config: config.document)
            try saved.write(model: model, to: dir)
            try writeEvaluation(evaluation, to: dir)
            let testBatches = TensorBatches(inputs: testX, targets: splits.test.targets, batchSize: 256, shuffle: false)
            try writeReport(evaluation, title: "\(config.outputs.name) - test", model: model, data: testBatches, history: history,
                            to: dir.appendingPathComponent(SavedModel.reportFile))
            if let tracking {
                let file = { (name: String) in dir.appendingPathComponent(name) }
                try tracking.finish(evaluation, step: Swift.max(history.epochs - 1, 0), artifacts: [
                    (file(SavedModel.modelFile), "model"), (file(SavedModel.jsonFile), "model"), (file(SavedModel.configFile), "model"),
                    (file(SavedModel.reportFile), nil), (file(SavedModel.metricsFile), nil), (file(SavedModel.historyFile), nil),
                ])
            }
            // The new run is complete: now the files of an earlier run that it did not rewrite go (a resumed run's
            // earlier parts are this run).
            ownFiles += [SavedModel.modelFile, SavedModel.jsonFile, SavedModel.metricsFile, SavedModel.reportFile]
            if o.resume {
                ownFiles += earlierFiles
            } else {
                RunDirectory.removeStale(listed: earlierFiles, keeping: ownFiles, in: dir)
            }
            try RunDirectory.writeManifest(ownFiles, in: dir)
            outcome.evaluation = evaluation
            outcome.saved = saved
            outcome.seconds = Date().timeIntervalSince(start)
            console.line(evaluation.text)
            let files = ((try? fm.contentsOfDirectory(atPath: dir.path).sorted()) ?? []).filter { !$0.hasPrefix(".") }
            console.line(String(format: "done in %.1f s (%d epochs%@); outputs in %@/: %@", outcome.seconds, history.epochs,
                                early?.stoppedEpoch != nil ? ", stopped early" : "", dir.path, files.joined(separator: ", ")))
            if let tb = tracking?.tensorboardDirectory { console.line("TensorBoard: tensorboard --logdir \(tb.path)") }
            if let m = tracking?.mlflow, let run = m.run, let location = tracking?.mlflowLocation {
                console.line("MLflow: run \(run.info.runID) in experiment \(jsonQuoted(m.experiment)) (id \(run.info.experimentID)) at \(location)")
            }
            return outcome
        } catch {
            tracking?.failed(error)
            throw error
        }
    }

    /// The tracking callback of a run (nil when TensorBoard is off and MLflow not asked for), with sample test images
    /// for image classification and the data sizes as extra MLflow parameters.
    static func makeTracking(_ config: ExperimentConfig, directory: URL, options: TrainOptions, splits: DataSplits,
                             input: InputPipeline, outputs: Int) throws -> RunTracking? {
        let t = config.tracking
        let mlflow = try RunTracking.mlflowStore(t.mlflow, options: options) != nil
        guard t.tensorboard.enabled || mlflow else { return nil }
        var samples: (inputs: Tensor, targets: Tensor)?
        let shape = input.shape
        if t.tensorboard.enabled, t.tensorboard.images, t.tensorboard.samples > 0, config.data.task == .classification,
           shape.count == 3, [1, 3, 4].contains(shape[0]), splits.test.count > 0 {
            let n = Swift.min(t.tensorboard.samples, splits.test.count)
            samples = (try input.apply(splits.test.inputs.slice(axis: 0, start: 0, end: n)),
                       splits.test.targets.slice(axis: 0, start: 0, end: n))
        }
        var details = ["data.train_examples": "\(splits.train.count)", "data.validation_examples": "\(splits.validation?.count ?? 0)",
                       "data.test_examples": "\(splits.test.count)", "data.source": splits.source,
                       "data.input_shape": "\(shape)", "model.outputs": "\(outputs)"]
        if config.data.task == .classification { details["data.classes"] = splits.train.classNames.joined(separator: ",") }
        return try RunTracking(config: config, directory: directory, options: options, samples: samples, details: details)
    }

    /// The epoch a training checkpoint stopped in (0-based; equal to the epochs done when it was written at an epoch end).
    static func checkpointEpoch(_ url: URL) throws -> Int {
        do { return try TrainingCheckpoint.position(at: url).epoch } catch {
            throw CLIError("\(url.path): not an Ember training checkpoint (\(error))")
        }
    }

    /// Writes `metrics.json`.
    static func writeEvaluation(_ e: EvaluationResult, to dir: URL) throws {
        try AtomicFile.write(Data((e.json.rendered() + "\n").utf8), to: dir.appendingPathComponent(SavedModel.metricsFile))
    }

    /// Writes EmberMetrics' HTML evaluation report: learning curves and fit diagnosis from `history`, the metrics,
    /// and for classification the confusion matrix, ROC/PR and calibration curves and the worst examples (one more
    /// pass of `model` over `data`).
    static func writeReport(_ e: EvaluationResult, title: String, model: Module, data: TensorBatches, history: History?, to url: URL) throws {
        let full = e.summary == nil ? nil : try Evaluation(model, on: data, classes: e.classes.count, history: history)
        try e.report(title: title, history: history, evaluation: full).write(to: url)
    }

    /// The resolved layers of the config's model for inputs of `input` shape and `outputs` output units.
    static func makeArchitecture(_ config: ExperimentConfig, input: [Int], outputs: Int) throws -> Architecture {
        let specs: [LayerSpec], paths: [String]
        if let preset = config.model.preset {
            do { specs = try ModelPreset.layers(preset, options: config.model.options, input: input, outputs: outputs) } catch {
                throw ConfigError(path: "model.preset", message: error.message, file: config.file)
            }
            paths = Array(repeating: "model.preset", count: specs.count)
        } else {
            specs = config.model.layers ?? []
            paths = config.model.layerPaths
        }
        let arch = try Architecture.resolve(specs, inputShape: input, paths: paths, file: config.file)
        guard arch.outputShape == [outputs] else {
            let need = config.data.task == .classification ? "\(outputs) classes" : "\(outputs) target value(s)"
            throw ConfigError(path: config.model.preset == nil ? "model.layers" : "model.preset",
                              message: "the model outputs \(arch.outputShape) per example, but the data needs [\(outputs)] (\(need))",
                              file: config.file)
        }
        return arch
    }

    static func dataSummary(_ s: DataSplits, input: InputPipeline, task: TaskKind) -> String {
        let kind = input.rawShape.count > 1 ? "inputs \(input.rawShape)" : "\(input.featureCount) features"
        let classes = task == .classification ? ", \(s.train.classNames.count) classes" : ""
        return "data: \(s.source) - \(kind)\(classes); train \(s.train.count), validation \(s.validation?.count ?? 0), test \(s.test.count)"
    }
}

/// 12345 -> "12,345".
func grouped(_ n: Int) -> String {
    let s = String(n)
    var out = ""
    for (i, c) in s.reversed().enumerated() {
        if i > 0 && i % 3 == 0 { out.append(",") }
        out.append(c)
    }
    return String(out.reversed())
}
