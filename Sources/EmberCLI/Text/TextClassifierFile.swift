import Foundation

/// A trained text classifier as its run directory holds it: `model.json` (this, format `ember-text-classifier`)
/// beside `model.safetensors` (LoRA adapters already merged: plain `bert.*` / `encoder.*` and `classifier.*` names)
/// and, for a WordPiece tokenizer, `vocab.txt` and `tokenizer_config.json`.
public struct TextClassifierFile: Codable, Sendable {
    /// Always `ember-text-classifier`.
    public var format = TextClassifierFile.formatName
    /// Format version.
    public var version = 1
    /// The run's name.
    public var name: String
    /// What the network is made of.
    public var spec: TextClassifierSpec
    /// Class names by output index (the works).
    public var classes: [String]
    /// How text becomes ids.
    public var tokenizer: Tokenizer
    /// Training provenance.
    public var provenance: Provenance
    /// The effective experiment config (YAML).
    public var config: String

    /// The tokenizer: `wordpiece` (vocab.txt and tokenizer_config.json in the run directory) or `characters` (the
    /// vocabulary here), and the longest input in tokens.
    public struct Tokenizer: Codable, Sendable {
        /// `wordpiece` or `characters`.
        public var kind: String
        /// Longest input in tokens (longer texts are cut).
        public var maxLength: Int
        /// The character vocabulary (kind `characters`).
        public var characters: CharTokenizer?
    }

    /// The `format` value of these files.
    public static let formatName = "ember-text-classifier"

    /// Writes `model.json` and `model.safetensors` into `directory`, each atomically (the old `model.json` first).
    func write(model: Module, to directory: URL) throws {
        try writeRunModel(model.stateDict(), description: self, to: directory)
    }

    /// Whether the `model.json` at `url` is a text classifier's.
    static func isTextClassifier(_ url: URL) -> Bool {
        runModelFormat(url) == formatName
    }

    /// Whether the run directory (or model.json) at `path` holds a text classifier.
    public static func isTextClassifierRun(_ path: String) -> Bool {
        let url = URL(fileURLWithPath: path)
        return isTextClassifier(path.hasSuffix(".json") ? url : url.appendingPathComponent(SavedModel.jsonFile))
    }

    /// Reads a run directory's `model.json`, tokenizer and weights, and rebuilds the model in evaluation mode.
    /// - Throws: `CLIError` naming the file and what is wrong with it.
    static func load(from path: String) throws -> (file: TextClassifierFile, model: TextClassifier, encoding: TextEncoding) {
        let (file, json) = try readRunModelFile(TextClassifierFile.self, at: path, kind: "text classifier", format: formatName,
                                                isKind: isTextClassifier)
        let dir = json.deletingLastPathComponent()
        guard file.version == 1 else { throw CLIError("\(json.path): version: this ember reads version 1, got \(file.version)") }
        if let problem = file.spec.validate() { throw CLIError("\(json.path): spec: \(problem)") }
        guard file.classes.count == file.spec.classes else {
            throw CLIError("\(json.path): classes: \(file.classes.count) names, but the model has \(file.spec.classes) outputs")
        }
        let encoding: TextEncoding
        let n = file.tokenizer.maxLength
        guard n >= 2, n <= file.spec.maxLength else {
            throw CLIError("\(json.path): tokenizer.maxLength: expected 2...\(file.spec.maxLength), got \(n)")
        }
        switch file.tokenizer.kind {
        case "wordpiece":
            let wp: WordPieceTokenizer
            do { wp = try WordPieceTokenizer(directory: dir) } catch { throw CLIError("\(dir.path): the run's tokenizer: \(error)") }
            encoding = .wordPiece(wp, maxLength: n)
        case "characters":
            guard let c = file.tokenizer.characters else { throw CLIError("\(json.path): tokenizer.characters: missing") }
            encoding = .characters(c, maxLength: n)
        default:
            throw CLIError("\(json.path): tokenizer.kind: expected \"wordpiece\" or \"characters\", got \(jsonQuoted(file.tokenizer.kind))")
        }
        guard encoding.vocabularySize == (file.spec.kind == .bert ? file.spec.bert!.vocabularySize : file.spec.vocabulary!) else {
            throw CLIError("\(json.path): the tokenizer has \(encoding.vocabularySize) ids but the model's vocabulary differs")
        }
        let model = TextClassifier(file.spec, generator: Generator(seed: 0))
        try loadRunWeights(model, from: dir)
        return (file, model, encoding)
    }
}

/// `ember evaluate` and `ember predict` for a text classifier run.
public enum TextClassifierRunner {
    /// Metrics of the run on a part of its own passages (rebuilt from the saved config, as in training).
    @discardableResult
    public static func evaluate(_ o: EvaluateOptions, console: Console) throws -> EvaluationResult {
        let (file, model, encoding) = try TextClassifierFile.load(from: o.model)
        if o.data != nil || o.labels != nil || o.target != nil {
            throw CLIError("\(o.model) is a text classifier: it is evaluated on its own passages (--split test, validation or train)")
        }
        let config = try ExperimentConfig.parse(file.config)
        guard let data = config.data.passages else { throw CLIError("\(o.model): its saved config has no data.passages") }
        let parts = try PassageParts(data, file: nil)
        let part: [(text: String, label: Int)]
        switch o.split {
        case "train": part = parts.train
        case "validation": part = parts.validation
        case "test": part = parts.test
        default: throw CLIError("--split \(o.split): expected test, validation or train")
        }
        guard !part.isEmpty else { throw CLIError("--split \(o.split): this run has no \(o.split) passages") }
        let ids = part.map { encoding.ids($0.text) }
        let features = TextClassifierJob.embed(model, ids, padding: encoding.paddingID)
        let logits = withoutGrad { model.classifier(features) }
        let targets = Tensor(part.map { Int64($0.label) })
        let result = try EvaluationResult.classification(logits: logits, targets: targets, classes: file.classes, loss: .crossEntropy(labelSmoothing: 0),
                                                         split: o.split, requested: config.evaluation.metrics ?? MetricName.defaults(.classification))
        if let report = o.report {
            let dir = URL(fileURLWithPath: o.model)
            let history = (try? String(contentsOf: dir.appendingPathComponent(SavedModel.historyFile), encoding: .utf8)).map(parseHistory)
            try TrainRunner.writeReport(result, title: "\(file.name) - \(o.split)", model: model.classifier,
                                        data: TensorBatches(inputs: features, targets: targets, batchSize: 256, shuffle: false),
                                        history: history, to: URL(fileURLWithPath: report))
        }
        let json = result.json.rendered() + "\n"
        if let out = o.output { try AtomicFile.write(Data(json.utf8), to: URL(fileURLWithPath: out)) }
        if o.json { console.write(json) } else { console.line("model: \(o.model)"); console.line(result.text) }
        return result
    }

    /// The texts of a text file for `ember predict`: paragraphs separated by blank lines, each one input.
    static func texts(_ path: String) throws -> [String] {
        guard let data = FileManager.default.contents(atPath: path) else { throw CLIError("\(path): no such readable file") }
        guard let text = String(data: data, encoding: .utf8) else { throw CLIError("\(path): not UTF-8 text") }
        var out: [String] = [], current: [String] = []
        for line in text.replacingOccurrences(of: "\r\n", with: "\n").components(separatedBy: "\n") {
            let t = line.trimmingCharacters(in: .whitespaces)
            if t.isEmpty { if !current.isEmpty { out.append(current.joined(separator: "\n")); current = [] } } else { current.append(t) }
        }
        if !current.isEmpty { out.append(current.joined(separator: "\n")) }
        guard !out.isEmpty else { throw CLIError("\(path): no text (expected passages separated by blank lines)") }
        return out
    }

    /// Predicted work and probability for each paragraph of the text files in `o`.
    public static func predict(_ o: PredictOptions, console: Console) throws {
        let (file, model, encoding) = try TextClassifierFile.load(from: o.model)
        var texts: [String] = []
        for p in [o.input] + o.additionalInputs { texts += try Self.texts(p) }
        if let limit = o.limit { texts = Array(texts.prefix(limit)) }
        let ids = texts.map { encoding.ids($0) }
        let probs = TextClassifierJob.logits(model, ids, padding: encoding.paddingID).softmax(axis: 1).toArray(Float.self)
        let k = file.classes.count
        var rows: [JSONValue] = []
        for (i, text) in texts.enumerated() {
            let p = Array(probs[(i * k)..<((i + 1) * k)])
            let best = p.indices.max { p[$0] < p[$1] }!
            if o.json {
                rows.append(.object([("index", .number(Double(i))), ("class", .number(Double(best))), ("label", .string(file.classes[best])),
                                     ("probability", .number(Double(p[best]))), ("probabilities", .array(p.map { .number(Double($0)) }))]))
            } else {
                let first = text.split(separator: "\n").first.map(String.init) ?? ""
                console.line(String(format: "%4d  %@  %.4f  %@", i, file.classes[best], p[best], String(first.prefix(60))))
            }
        }
        if o.json { console.write(JSONValue.array(rows).rendered() + "\n") }
    }
}
