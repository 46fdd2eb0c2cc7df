import Foundation

/// Where a model was trained and how it went, saved in `model.json`.
public struct Provenance: Codable, Equatable, Sendable {
    /// When the model was written (ISO 8601).
    public var created: String
    /// The data source (`digits`, a file path).
    public var dataset: String
    /// Training, validation and test examples.
    public var trainExamples: Int, validationExamples: Int, testExamples: Int
    /// Epochs completed and optimizer steps taken.
    public var epochs: Int, steps: Int
    /// The training seed.
    public var seed: UInt64
    /// Wall-clock seconds of the last `ember train` invocation (not counting earlier, interrupted ones).
    public var seconds: Double
    /// Whether training continued from a checkpoint.
    public var resumed: Bool
    /// Whether early stopping ended training.
    public var stoppedEarly: Bool
    /// The last epoch's logged values (loss, accuracy, val_loss, lr, ...).
    public var lastEpoch: [String: Double]
    /// The config file, if any.
    public var configFile: String?
    /// Host name and threads used.
    public var host: String, threads: Int
}

/// A trained model as a run directory holds it: `model.json` (this) beside `model.safetensors`.
///
/// `model.json` has everything needed to rebuild the network (`architecture`), prepare new inputs as training did
/// (`input`, with the fitted preparation steps), name the outputs (`classes`), and tell where the model came from
/// (`provenance`, `config`).
public struct SavedModel: Codable, Sendable {
    /// Always `ember-model`.
    public var format = "ember-model"
    /// Format version.
    public var version = 1
    /// The run's name.
    public var name: String
    /// Classification or regression.
    public var task: TaskKind
    /// The layers and the input shape.
    public var architecture: Architecture
    /// How raw inputs are prepared.
    public var input: InputPipeline
    /// Class names by output index (classification).
    public var classes: [String]
    /// The target column of CSV data, when known.
    public var target: String?
    /// The loss used in training.
    public var loss: LossConfig
    /// Parameter count.
    public var parameters: Int
    /// Training provenance.
    public var provenance: Provenance
    /// The effective experiment config (YAML).
    public var config: String

    /// File names inside a run directory.
    public static let modelFile = "model.safetensors", jsonFile = "model.json", metricsFile = "metrics.json",
                      historyFile = "history.csv", configFile = "config.yaml", checkpointFile = "last.ckpt.safetensors",
                      bestCheckpointFile = "best.ckpt.safetensors", reportFile = "report.html"

    /// Writes `model.json` and `model.safetensors` (PyTorch `state_dict` names) into `directory`, each atomically.
    ///
    /// Both are encoded first; then the old `model.json` is removed, the weights replaced and the new `model.json`
    /// written, so that a crash never pairs new weights with an old architecture: at worst `model.json` is missing,
    /// which the loaders report with a hint to `--resume`.
    public func write(model: Module, to directory: URL) throws {
        try writeRunModel(model.stateDict(), description: self, to: directory)
    }

    /// Reads `model.json` from a run directory (or the file itself).
    public static func read(from path: String) throws -> (SavedModel, URL) {
        var dir = URL(fileURLWithPath: path)
        var json = dir.appendingPathComponent(jsonFile)
        if path.hasSuffix(".json") { json = dir; dir = dir.deletingLastPathComponent() }
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: json.path, isDirectory: &isDir), !isDir.boolValue else {
            if !FileManager.default.fileExists(atPath: dir.path) { throw CLIError("\(path): no such directory") }
            if isDir.boolValue { throw CLIError("\(json.path) is a directory, not a model file") }
            let fm = FileManager.default
            if let text = try? String(contentsOf: dir.appendingPathComponent(configFile), encoding: .utf8),
               ReconstructionConfig.isReconstruction(text), fm.fileExists(atPath: dir.appendingPathComponent(metricsFile).path) {
                throw CLIError("\(path) is a reconstruction run (task: reconstruction: an autoencoder or VAE); this command takes "
                               + "classification and regression runs (its figures are in metrics.json and report.html)")
            }
            if [modelFile, checkpointFile].contains(where: { fm.fileExists(atPath: dir.appendingPathComponent($0).path) }) {
                throw CLIError("\(path): no \(jsonFile) here: the run did not finish (it holds "
                               + "\(fm.fileExists(atPath: dir.appendingPathComponent(checkpointFile).path) ? checkpointFile : modelFile)); "
                               + "`ember train --resume --run-dir \(path)` completes it")
            }
            throw CLIError("\(path): no \(jsonFile) here (expected a run directory written by `ember train`)")
        }
        if TextClassifierFile.isTextClassifier(json) {
            throw CLIError("\(json.path) holds a text classifier; `ember evaluate \(path)` and `ember predict \(path) FILE.txt` take it, "
                           + "and its metrics.json holds the test figures")
        }
        if SequenceModelFile.isSequenceModel(json) {
            throw CLIError("\(json.path) holds a sequence model (a language model or a forecaster), which this command does not take yet; "
                           + "`ember inspect \(path)` describes it, `ember generate \(path)` samples text from a language model, "
                           + "and its metrics.json holds the test figures")
        }
        let d = PreparationJSON.decoder()
        do {
            let m = try d.decode(SavedModel.self, from: try Data(contentsOf: json))
            guard m.format == "ember-model" else { throw CLIError("\(json.path): not an Ember model file (format \(jsonQuoted(m.format)))") }
            try m.validate(json.path)
            return (m, dir)
        } catch let e as CLIError { throw e } catch {
            throw CLIError("\(json.path): not a valid Ember model file (\(error))")
        }
    }

    /// The version of `model.json` this build writes and reads.
    public static let formatVersion = 1

    /// Checks a decoded `model.json` before anything is built from it: the version, every layer's options and sizes
    /// (as a config's are checked, and equal to what its input implies), the input preparation's shapes, and the
    /// classes against the model's outputs.
    /// - Throws: `CLIError` naming the file and the key (`architecture.layers[2]: conv2d `stride` must be ...`).
    func validate(_ path: String) throws {
        func fail(_ key: String, _ message: String) -> CLIError { CLIError("\(path): \(key): \(message)") }
        guard version == Self.formatVersion else {
            throw fail("version", "this ember reads model files of version \(Self.formatVersion), got \(version)"
                       + (version > Self.formatVersion ? " (written by a newer ember)" : ""))
        }
        let paths = architecture.layers.indices.map { "architecture.layers[\($0)]" }
        let resolved: Architecture
        do {
            resolved = try Architecture.resolve(architecture.layers, inputShape: architecture.inputShape, paths: paths, file: nil)
        } catch let e as ConfigError {
            throw fail(e.path == "data.shape" ? "architecture.inputShape" : e.path, e.message)
        }
        for (i, (saved, fresh)) in zip(architecture.layers, resolved.layers).enumerated() where saved != fresh {
            throw fail(paths[i], "\(saved.summary) does not fit its input \(i == 0 ? architecture.inputShape : resolved.shapes[i - 1]) "
                       + "(expected \(fresh.summary))")
        }
        let out = resolved.outputShape
        switch task {
        case .classification:
            guard (2...ConfigLimits.maxClasses).contains(classes.count) else {
                throw fail("classes", "expected 2 to \(ConfigLimits.maxClasses) class names, got \(classes.count)")
            }
            guard out == [classes.count] else {
                throw fail("classes", "\(classes.count) class names, but the model outputs \(out) per example")
            }
        case .regression:
            guard out.count == 1 else { throw fail("architecture", "a regression model must output [values] per example, got \(out)") }
        }
        guard input.shape == architecture.inputShape else {
            throw fail("input.shape", "\(input.shape) differs from architecture.inputShape \(architecture.inputShape)")
        }
        guard !input.rawShape.isEmpty, input.rawShape.allSatisfy({ (1...ConfigLimits.maxSize).contains($0) }),
              ConfigLimits.product(input.rawShape) != nil else {
            throw fail("input.rawShape", "expected sizes in 1...\(ConfigLimits.maxSize), at most \(ConfigLimits.maxExampleElements) values in all, "
                       + "got \(input.rawShape)")
        }
        guard input.scale.isFinite, input.scale != 0 else { throw fail("input.scale", "expected a finite, non-zero number, got \(input.scale)") }
        if input.preparation.steps.isEmpty, input.featureCount != ConfigLimits.product(input.shape) {
            throw fail("input.shape", "\(input.shape) does not hold the \(input.featureCount) raw features of rawShape \(input.rawShape)")
        }
        if !input.featureNames.isEmpty, input.featureNames.count != input.featureCount {
            throw fail("input.featureNames", "\(input.featureNames.count) names for \(input.featureCount) features")
        }
    }

    /// Reads a run directory and rebuilds its model with the saved weights, in evaluation mode.
    public static func load(from path: String) throws -> LoadedModel {
        let (saved, dir) = try read(from: path)
        let model = saved.architecture.build(generator: Generator(seed: 0))
        try loadRunWeights(model, from: dir, what: "architecture")
        return LoadedModel(saved: saved, model: model, directory: dir)
    }
}

/// A saved model rebuilt in memory.
public struct LoadedModel: @unchecked Sendable {
    /// Its `model.json`.
    public var saved: SavedModel
    /// The network with its weights.
    public var model: Sequential
    /// The run directory.
    public var directory: URL

    /// Model outputs for raw inputs (prepared as in training): logits or values, [N, outputs].
    public func outputs(raw: Tensor, batchSize: Int = 256) throws -> Tensor {
        let x = try saved.input.apply(raw)
        // Evaluation mode, unless the network already is in it: switching walks every module by reflection, which
        // cost a server ~7% of its CPU when done for every batch.
        if model.training { model.eval() }
        let n = x.shape[0]
        guard n > 0 else { return Tensor.zeros([0, saved.architecture.outputShape.reduce(1, *)]) }
        if n <= batchSize { return withoutGrad { model(x) } }
        var parts: [Tensor] = []
        withoutGrad {
            for start in stride(from: 0, to: n, by: batchSize) {
                parts.append(model(x.slice(axis: 0, start: start, end: Swift.min(start + batchSize, n))))
            }
        }
        return concat(parts, axis: 0)
    }

    /// The loss function it was trained with.
    public var lossFunction: LossFunction { saved.loss.function }

    /// Metrics on labelled raw examples; with `report`, also EmberMetrics' HTML report there (learning curves from
    /// the run's `history.csv`).
    public func evaluate(_ data: RawData, split: String, metrics: [String], report: URL? = nil) throws -> EvaluationResult {
        let out = try outputs(raw: data.inputs)
        let result = saved.task == .classification
            ? try EvaluationResult.classification(logits: out, targets: data.targets, classes: saved.classes, loss: lossFunction,
                                                  split: split, requested: metrics)
            : try EvaluationResult.regression(outputs: out, targets: data.targets, loss: lossFunction, split: split, requested: metrics)
        if let report {
            let batches = TensorBatches(inputs: try saved.input.apply(data.inputs), targets: data.targets, batchSize: 256, shuffle: false)
            let history = (try? String(contentsOf: directory.appendingPathComponent(SavedModel.historyFile), encoding: .utf8)).map(parseHistory)
            try TrainRunner.writeReport(result, title: "\(saved.name) - \(split)", model: model, data: batches, history: history, to: report)
        }
        return result
    }
}

extension LossConfig {
    /// The training loss.
    public var function: LossFunction {
        switch self {
        case .crossEntropy(let s): return .crossEntropy(labelSmoothing: s)
        case .mse: return .mse
        case .l1: return .l1
        }
    }
}

/// A `History` read back from `history.csv` (`epoch,` then one column per logged value; empty cells are NaN).
func parseHistory(_ csv: String) -> History {
    var h = History()
    let lines = csv.split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
    guard let header = lines.first, header.first == "epoch" else { return h }
    let rows = lines.dropFirst().filter { $0.count == header.count }
    for (j, name) in header.enumerated().dropFirst() { h.metrics[name] = rows.map { Double($0[j]) ?? .nan } }
    h.epochs = rows.count
    return h
}

/// Writes a run's `model.safetensors` (`state`, PyTorch `state_dict` names) and its `model.json` (`description`)
/// into `directory`, each atomically, for every kind of run (classifier, sequence model, GAN, text classifier).
///
/// Both are encoded first; then the old `model.json` is removed, the weights replaced and the new `model.json`
/// written, so that a crash never pairs new weights with an old description: at worst `model.json` is missing, which
/// the loaders report with a hint to `--resume`.
func writeRunModel<D: Encodable>(_ state: [(String, Tensor)], description: D, to directory: URL) throws {
    let weights = SafeTensors.encode(state, metadata: ["format": "pt", "framework": "ember", "architecture": SavedModel.jsonFile])
    let e = PreparationJSON.encoder()
    e.outputFormatting = [.prettyPrinted, .sortedKeys]
    let json = try e.encode(description)
    let jsonURL = directory.appendingPathComponent(SavedModel.jsonFile)
    var st = stat()
    if lstat(jsonURL.path, &st) == 0, st.st_mode & S_IFMT == S_IFREG { unlink(jsonURL.path) }
    try AtomicFile.write(weights, to: directory.appendingPathComponent(SavedModel.modelFile))
    try AtomicFile.write(json, to: jsonURL)
}

/// Loads a run directory's `model.safetensors` into `module` and puts it in evaluation mode, for every kind of run:
/// with a `prefix`, only the tensors under it, prefix removed (a GAN's generator). A missing file and weights that do
/// not fit are `CLIError`s naming the path; `what` names the model in the message ("architecture", "generator").
func loadRunWeights(_ module: Module, from dir: URL, prefix: String = "", what: String = "model") throws {
    let url = dir.appendingPathComponent(SavedModel.modelFile)
    guard FileManager.default.fileExists(atPath: url.path) else {
        throw CLIError("\(dir.path): no \(SavedModel.modelFile) (the run may not have finished; `ember train --resume` completes it)")
    }
    var (tensors, _) = try SafeTensors.read(from: url)
    if !prefix.isEmpty {
        tensors = Dictionary(uniqueKeysWithValues: tensors.compactMap { k, v in
            k.hasPrefix(prefix) ? (String(k.dropFirst(prefix.count)), v) : nil
        })
    }
    do { try module.loadStateDict(tensors) } catch {
        throw CLIError("\(url.path) does not fit the \(what) in \(SavedModel.jsonFile): \(error)")
    }
    module.eval()
}

/// The `format` field of the `model.json` at `url` (nil when the file is missing, unreadable or has none): which
/// kind of run wrote it.
func runModelFormat(_ url: URL) -> String? {
    guard let data = try? Data(contentsOf: url),
          let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return nil }
    return object["format"] as? String
}
