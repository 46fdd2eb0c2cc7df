import Foundation

/// A trained sequence model as its run directory holds it: `model.json` (this, format `ember-sequence-model`) beside
/// `model.safetensors`. It holds the model's sizes, the tokenizer's vocabulary (language models) or the fitted series
/// scaling (forecasters), the provenance and the effective config.
public struct SequenceModelFile: Codable, Sendable {
    /// Always `ember-sequence-model`.
    public var format = SequenceModelFile.formatName
    /// Format version.
    public var version = 1
    /// The run's name.
    public var name: String
    /// The network's kind and sizes.
    public var spec: SequenceModelSpec
    /// The character vocabulary (language models).
    public var tokenizer: CharTokenizer?
    /// The series settings (forecasters).
    public var series: SeriesSettings?
    /// Training provenance.
    public var provenance: Provenance
    /// The effective experiment config (YAML).
    public var config: String

    /// The `format` value of these files.
    public static let formatName = "ember-sequence-model"

    /// What a forecaster needs to turn raw values into forecasts.
    public struct SeriesSettings: Codable, Sendable, Equatable {
        /// The value column.
        public var column: String
        /// Input steps and forecast steps.
        public var window: Int, horizon: Int
        /// The season of the baselines and MASE.
        public var season: Int
        /// The scaling fitted on the training part.
        public var scaler: SeriesScaler
    }

    /// Writes `model.json` and `model.safetensors` into `directory`, each atomically (the old `model.json` goes
    /// first, so new weights are never paired with an old description).
    func write(model: Module, to directory: URL) throws {
        try writeRunModel(model.stateDict(), description: self, to: directory)
    }

    /// Whether the `model.json` at `url` is a sequence model's.
    static func isSequenceModel(_ url: URL) -> Bool {
        runModelFormat(url) == formatName
    }

    /// Reads a run directory's `model.json` and weights, and rebuilds the model in evaluation mode.
    /// - Throws: `CLIError` naming the file and what is wrong with it.
    public static func load(from path: String) throws -> (file: SequenceModelFile, model: Module) {
        let (file, json) = try readRunModelFile(SequenceModelFile.self, at: path, kind: "sequence model", format: formatName, isKind: isSequenceModel,
                                                notKindHint: "; `ember predict` and `ember evaluate` take the other models")
        let dir = json.deletingLastPathComponent()
        guard file.format == formatName else { throw CLIError("\(json.path): format \(jsonQuoted(file.format)), expected \(jsonQuoted(formatName))") }
        guard file.version == 1 else { throw CLIError("\(json.path): version: this ember reads version 1, got \(file.version)") }
        if let problem = file.spec.validate() { throw CLIError("\(json.path): spec: \(problem)") }
        switch file.spec.kind {
        case .languageModel:
            guard let tok = file.tokenizer else { throw CLIError("\(json.path): tokenizer: missing (a language model needs its vocabulary)") }
            guard tok.count == file.spec.inputs, tok.count == file.spec.outputs else {
                throw CLIError("\(json.path): tokenizer: \(tok.count) symbols, but the model has \(file.spec.inputs) inputs and \(file.spec.outputs) outputs")
            }
        case .forecaster:
            guard let s = file.series else { throw CLIError("\(json.path): series: missing (a forecaster needs its scaling)") }
            guard s.horizon == file.spec.outputs, s.window >= 1, s.season >= 1, s.scaler.scale.isFinite, s.scaler.scale > 0, s.scaler.shift.isFinite else {
                throw CLIError("\(json.path): series: window \(s.window), horizon \(s.horizon), season \(s.season) or scaling do not fit the model")
            }
        }
        let model: Module = file.spec.isGPT ? GPT(file.spec.gptConfig, generator: Generator(seed: 0))
            : file.spec.kind == .languageModel
            ? CharLanguageModel(file.spec, generator: Generator(seed: 0)) : SeriesForecaster(file.spec, generator: Generator(seed: 0))
        try loadRunWeights(model, from: dir)
        return (file, model)
    }
}

/// Reads the `model.json` of the run directory at `path` as a model file of one kind (GAN, sequence model): missing
/// files, other kinds of model and damaged files are `CLIError`s naming the path. Returns the file and its URL.
func readRunModelFile<T: Decodable>(_ type: T.Type, at path: String, kind: String, format: String, isKind: (URL) -> Bool,
                                    notKindHint: String = "") throws -> (T, URL) {
    let dir = URL(fileURLWithPath: path)
    let json = dir.appendingPathComponent(SavedModel.jsonFile)
    guard FileManager.default.fileExists(atPath: json.path) else {
        if !FileManager.default.fileExists(atPath: dir.path) { throw CLIError("\(path): no such directory") }
        throw CLIError("\(path): no \(SavedModel.jsonFile) here (expected a run directory written by `ember train`; "
                       + "an interrupted run completes with `ember train --resume --run-dir \(path)`)")
    }
    do {
        let d = JSONDecoder()
        d.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
        return (try d.decode(T.self, from: try Data(contentsOf: json)), json)
    } catch {
        if !isKind(json) { throw CLIError("\(json.path): not a \(kind) (format \(jsonQuoted(format)) expected)\(notKindHint)") }
        throw CLIError("\(json.path): not a valid \(kind) file (\(error))")
    }
}
