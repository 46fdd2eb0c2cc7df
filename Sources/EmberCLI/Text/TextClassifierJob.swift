import Foundation

/// How a text classifier turns text into token ids: the WordPiece tokenizer of a BERT folder (`[CLS] ... [SEP]`, cut
/// to `maxLength`) or the characters of the training passages (ids shifted by one, 0 is padding).
enum TextEncoding {
    case wordPiece(WordPieceTokenizer, maxLength: Int)
    case characters(CharTokenizer, maxLength: Int)

    /// The id that pads a batch.
    var paddingID: Int32 {
        if case .wordPiece(let t, _) = self { return t.paddingID }
        return 0
    }

    /// Ids of every id the model can see (the vocabulary, padding included).
    var vocabularySize: Int {
        switch self {
        case .wordPiece(let t, _): return t.vocabulary.count
        case .characters(let t, _): return t.count + 1
        }
    }

    /// The ids of `text` (at least one non-padding id).
    func ids(_ text: String) -> [Int32] {
        switch self {
        case .wordPiece(let t, let n):
            return [t.classID] + t.tokenIDs(text).prefix(n - 2) + [t.separatorID]
        case .characters(let t, let n):
            let ids = (try? t.encode(text, unknown: .replace)) ?? []
            let shifted = ids.prefix(n).map { $0 + 1 }
            return shifted.isEmpty ? [CharTokenizer.unknownID + 1] : Array(shifted)
        }
    }
}

/// Rows of token ids [N, T] padded with `padding` to the longest of `rows` (int64).
func paddedIDs(_ rows: [[Int32]], padding: Int32) -> Tensor {
    let t = max(1, rows.map(\.count).max() ?? 1)
    var flat: [Int64] = []
    flat.reserveCapacity(rows.count * t)
    for r in rows { flat += r.map(Int64.init) + [Int64](repeating: Int64(padding), count: t - r.count) }
    return Tensor(flat, shape: [rows.count, t])
}

/// Shuffled batches of token-id rows, each padded to its own longest row (a new order each epoch from the seed).
struct PaddedTextBatches: BatchSource {
    let rows: [[Int32]], labels: [Int64], batchSize: Int, shuffle: Bool, seed: UInt64, padding: Int32
    var batchesPerEpoch: Int { (rows.count + batchSize - 1) / batchSize }
    func batches(epoch: Int) -> AnySequence<(input: Tensor, target: Tensor)> {
        var rng = RandomState(seed: seed).split(UInt64(epoch))
        let order = shuffle ? rng.permutation(rows.count) : Array(0..<rows.count)
        let rows = rows, labels = labels, size = batchSize, padding = padding
        return AnySequence(stride(from: 0, to: order.count, by: size).lazy.map { start in
            let idx = order[start..<min(start + size, order.count)]
            return (paddedIDs(idx.map { rows[$0] }, padding: padding), Tensor(idx.map { labels[$0] }))
        })
    }
}

/// The labelled passages of a `data.passages` config, per part, in work order then text order.
struct PassageParts {
    var train: [(text: String, label: Int)] = [], validation: [(text: String, label: Int)] = [], test: [(text: String, label: Int)] = []

    /// The text file of work `name` in `directory`: `name.txt`, `name_gut.txt` or `name` itself.
    static func file(of name: String, in directory: String) -> String? {
        for candidate in [name + ".txt", name + "_gut.txt", name] {
            let p = (directory as NSString).appendingPathComponent(candidate)
            var isDir: ObjCBool = false
            if FileManager.default.fileExists(atPath: p, isDirectory: &isDir), !isDir.boolValue { return p }
        }
        return nil
    }

    /// Reads every work and assigns its passages (`PlayPassages.assign`).
    /// - Throws: `ConfigError` at `data.passages.dir` / `data.passages.works[i]` for a missing folder, an unknown work or
    ///   a work too short for one passage.
    init(_ c: PassagesDataConfig, file: String?) throws {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: c.directory, isDirectory: &isDir), isDir.boolValue else {
            throw ConfigError(path: "data.passages.dir", message: "\(c.directory) is not a folder (expected one text file per work)", file: file)
        }
        for (label, work) in c.works.enumerated() {
            guard let path = Self.file(of: work, in: c.directory) else {
                let stems = ((try? FileManager.default.contentsOfDirectory(atPath: c.directory)) ?? [])
                    .filter { $0.hasSuffix(".txt") }.map { ($0 as NSString).deletingPathExtension.replacingOccurrences(of: "_gut", with: "") }.sorted()
                throw ConfigError(path: "data.passages.works[\(label)]",
                                  message: "no \(work).txt or \(work)_gut.txt in \(c.directory) (its works: \(stems.prefix(50).joined(separator: ", ")))",
                                  file: file)
            }
            guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
                throw ConfigError(path: "data.passages.works[\(label)]", message: "\(path) is not readable UTF-8 text", file: file)
            }
            let passages = PlayPassages.passages(text, lines: c.lines)
            guard !passages.isEmpty else {
                throw ConfigError(path: "data.passages.works[\(label)]", message: "\(path) has fewer than \(c.lines) spoken lines", file: file)
            }
            for (i, part) in PlayPassages.assign(count: passages.count, block: c.block, limit: c.perWork, validation: c.validation, test: c.test) {
                switch part {
                case .train: train.append((passages[i], label))
                case .validation: validation.append((passages[i], label))
                case .test: test.append((passages[i], label))
                }
            }
        }
        guard !train.isEmpty, !test.isEmpty else {
            throw ConfigError(path: "data.passages.per_work", message: "too few passages for a training and a test part "
                              + "(\(train.count) train, \(test.count) test); raise per_work or lower data.passages.block", file: file)
        }
    }
}

/// A text classifier on labelled play passages: a pretrained BERT (frozen + linear head, LoRA, or fully fine-tuned)
/// or a small Transformer from scratch, trained by `SequenceRunner.train` with the classic `Trainer` (cross-entropy,
/// accuracy, validation each epoch), evaluated like the other classification runs (metrics.json, report.html).
struct TextClassifierJob: TrainingJob {
    let classifier: TextClassifier
    let encoding: TextEncoding
    let model: Module
    let trainer: Trainer
    let batches: any BatchSource
    let validation: (any BatchSource)?
    var extraCallbacks: [Callback] { [] }
    let source: String
    let sizes: (train: Int, validation: Int, test: Int)
    let modelSummary: String
    let classes: [String]
    let config: ExperimentConfig
    /// The test part: token ids and labels, and (frozen encoder) the pooled embeddings the head was trained on.
    let testIDs: [[Int32]], testLabels: [Int64]
    let testFeatures: Tensor?
    /// The folder of the WordPiece tokenizer (copied into the run directory).
    let tokenizerFolder: URL?

    init(config: ExperimentConfig, data: PassagesDataConfig, console: Console) throws {
        self.config = config
        let parts = try PassageParts(data, file: config.file)
        classes = data.works
        let t = config.training
        let file = config.file
        func fail(_ key: String, _ message: String) -> ConfigError { ConfigError(path: key, message: message, file: file) }
        var notes: [String] = []
        let clf: TextClassifier
        let encoding: TextEncoding
        var folder: URL? = nil
        var groups: [ParamGroup]? = nil
        if let transfer = config.model.transfer {
            let built = try Self.pretrained(transfer, classes: classes.count, seed: t.seed, file: file)
            clf = built.model; encoding = built.encoding; folder = built.folder
            notes.append(built.note)
            do {
                if let l = transfer.lora {
                    let adapted = try clf.applyLoRA(rank: l.rank, alpha: l.alpha, targets: l.targets, generator: Generator(seed: t.seed &+ 1))
                    try clf.unfreeze(matching: ["classifier"])
                    notes.append("LoRA rank \(l.rank), alpha \(l.alpha) on \(adapted.count) Linear layers")
                }
            } catch { throw fail("model.lora.targets", "\(error)") }
            do { if !transfer.freeze.isEmpty { notes.append("froze \(try clf.freeze(matching: transfer.freeze).count) tensors") } } catch {
                throw fail("model.freeze", "\(error)")
            }
            do { groups = try clf.parameterGroups(learningRates: transfer.rates.map { ($0.pattern, $0.lr) }) } catch { throw fail("model.lr", "\(error)") }
        } else {
            let s = config.model.text ?? TextTransformerConfig()
            if s.tokenizer == "characters" {
                let chars = CharTokenizer(training: parts.train.map(\.text).joined(separator: "\n"))
                encoding = .characters(chars, maxLength: s.maxTokens)
            } else {
                let url = URL(fileURLWithPath: s.tokenizer)
                do { encoding = .wordPiece(try WordPieceTokenizer(directory: url), maxLength: s.maxTokens) } catch {
                    throw fail("model.options.tokenizer", "expected `characters` or a folder with a WordPiece vocab.txt: \(error)")
                }
                folder = url
            }
            let spec = TextClassifierSpec(vocabulary: encoding.vocabularySize, dModel: s.dModel, heads: s.heads, layers: s.layers,
                                          feedforward: s.feedforward, maxTokens: s.maxTokens, dropout: s.dropout,
                                          classes: classes.count, paddingID: Int(encoding.paddingID))
            if let problem = spec.validate() { throw fail("model.options", problem) }
            clf = TextClassifier(spec, generator: Generator(seed: t.seed))
            notes.append("\(TextPreset.transformer) from scratch: \(s.layers) layers, d_model \(s.dModel), \(s.heads) heads, "
                         + (s.tokenizer == "characters" ? "\(encoding.vocabularySize - 1) characters" : "WordPiece \(encoding.vocabularySize) tokens"))
        }
        classifier = clf
        self.encoding = encoding
        tokenizerFolder = folder
        let trainable = clf.trainableParameters.reduce(0) { $0 + $1.count }
        notes.append("\(grouped(trainable)) of \(grouped(clf.parameterCount)) parameters trainable")
        modelSummary = "model: " + notes.joined(separator: "; ")

        let trainIDs = parts.train.map { encoding.ids($0.text) }, valIDs = parts.validation.map { encoding.ids($0.text) }
        testIDs = parts.test.map { encoding.ids($0.text) }
        let trainY = parts.train.map { Int64($0.label) }, valY = parts.validation.map { Int64($0.label) }
        testLabels = parts.test.map { Int64($0.label) }
        sizes = (trainIDs.count, valIDs.count, testIDs.count)
        source = "\(data.directory) (\(data.works.count) works, \(data.lines)-line passages)"

        // A frozen encoder without adapters computes the same embeddings every epoch: compute them once and train
        // the head alone on them (what a Keras user does with `predict` features; bit-for-bit the same head training).
        let encoderFrozen = clf.namedParameters().allSatisfy { $0.0.hasPrefix("classifier.") || !$0.1.requiresGrad }
        let rates = config.model.transfer?.rates ?? []
        if encoderFrozen && rates.isEmpty {
            let features = { (rows: [[Int32]]) in Self.embed(clf, rows, padding: encoding.paddingID) }
            let trainX = features(trainIDs)
            let head = clf.classifier
            let optimizer = TrainingSetup.optimizer(t.optimizer, head.parameters.filter(\.requiresGrad))
            trainer = Trainer(head, optimizer: optimizer, loss: .crossEntropy(labelSmoothing: 0), metrics: [.accuracy])
            model = clf
            batches = TensorBatches(inputs: trainX, targets: Tensor(trainY), batchSize: t.batchSize, shuffle: true, seed: t.seed)
            validation = valIDs.isEmpty ? nil : TensorBatches(inputs: features(valIDs), targets: Tensor(valY), batchSize: 256, shuffle: false)
            testFeatures = features(testIDs)
            console.line("frozen encoder: embeddings of \(grouped(trainIDs.count + valIDs.count + testIDs.count)) passages computed once; the head trains on them")
        } else {
            let optimizer = TrainingSetup.optimizer(t.optimizer, groups: groups ?? [ParamGroup(clf.trainableParameters)])
            trainer = Trainer(clf, optimizer: optimizer, loss: .crossEntropy(labelSmoothing: 0), metrics: [.accuracy])
            model = clf
            batches = PaddedTextBatches(rows: trainIDs, labels: trainY, batchSize: t.batchSize, shuffle: true, seed: t.seed, padding: encoding.paddingID)
            validation = valIDs.isEmpty ? nil
                : PaddedTextBatches(rows: valIDs, labels: valY, batchSize: 64, shuffle: false, seed: 0, padding: encoding.paddingID)
            testFeatures = nil
        }
        let lengths = trainIDs.map(\.count).sorted()
        console.line("data: \(source) - train \(sizes.train), validation \(sizes.validation), test \(sizes.test) passages; "
                     + "tokens per passage: median \(lengths[lengths.count / 2]), max \(lengths.last ?? 0)")
    }

    /// Pooled embeddings [N, hidden] of `rows` in evaluation mode without gradients, in length-sorted batches of 32.
    static func embed(_ clf: TextClassifier, _ rows: [[Int32]], padding: Int32) -> Tensor {
        guard !rows.isEmpty else { return Tensor.zeros([0, clf.spec.hidden]) }
        let was = clf.training
        clf.eval()
        defer { clf.train(was) }
        let order = rows.indices.sorted { rows[$0].count != rows[$1].count ? rows[$0].count > rows[$1].count : $0 < $1 }
        let h = clf.spec.hidden
        var out = [Float](repeating: 0, count: rows.count * h)
        withoutGrad {
            for start in stride(from: 0, to: order.count, by: 32) {
                let idx = Array(order[start..<min(start + 32, order.count)])
                let e = clf.embed(paddedIDs(idx.map { rows[$0] }, padding: padding)).toArray(Float.self)
                for (k, i) in idx.enumerated() { out.replaceSubrange((i * h)..<((i + 1) * h), with: e[(k * h)..<((k + 1) * h)]) }
            }
        }
        return Tensor(out, shape: [rows.count, h])
    }

    /// Logits [N, classes] of `rows` in evaluation mode, in length-sorted batches.
    static func logits(_ clf: TextClassifier, _ rows: [[Int32]], padding: Int32) -> Tensor {
        let e = embed(clf, rows, padding: padding)
        return withoutGrad { clf.classifier(e) }
    }

    /// The pretrained starting point of `model.pretrained`: a sentence-transformers / Hugging Face BERT folder (a new
    /// classifier on it) or the run directory of a text classifier (its head kept or replaced).
    static func pretrained(_ t: TransferConfig, classes: Int, seed: UInt64, file: String?) throws
        -> (model: TextClassifier, encoding: TextEncoding, folder: URL, note: String) {
        let url = URL(fileURLWithPath: t.pretrained)
        let fm = FileManager.default
        func has(_ name: String) -> Bool { fm.fileExists(atPath: url.appendingPathComponent(name).path) }
        func fail(_ key: String, _ message: String) -> ConfigError { ConfigError(path: key, message: message, file: file) }
        if has("config.json") && has("vocab.txt") && has("model.safetensors") {
            guard t.replaceHead else {
                throw fail("model.head", "\(t.pretrained) is a sentence-transformers folder without a classification head: set `head: replace`")
            }
            let st: SentenceEmbedder
            do { st = try SentenceEmbedder(directory: url) } catch { throw fail("model.pretrained", "\(error)") }
            let spec = TextClassifierSpec(bert: st.model.config, classes: classes, paddingID: Int(st.tokenizer.paddingID), normalize: st.normalize)
            let clf = TextClassifier(spec, generator: Generator(seed: seed))
            try clf.bert!.loadStateDict(Dictionary(uniqueKeysWithValues: st.model.stateDict()))
            return (clf, .wordPiece(st.tokenizer, maxLength: st.maxLength), url,
                    "BERT \(spec.bert!.layers) layers x \(spec.hidden) from \(t.pretrained) (mean pooling\(st.normalize ? " + L2" : "")), new head \(spec.hidden) -> \(classes)")
        }
        if TextClassifierFile.isTextClassifier(url.appendingPathComponent(SavedModel.jsonFile)) {
            let loaded: (file: TextClassifierFile, model: TextClassifier, encoding: TextEncoding)
            do { loaded = try TextClassifierFile.load(from: t.pretrained) } catch { throw fail("model.pretrained", "\(error)") }
            var spec = loaded.file.spec
            if !t.replaceHead && spec.classes != classes {
                throw fail("model.head", "\(t.pretrained) has \(spec.classes) classes but this data has \(classes): set `head: replace`")
            }
            spec.classes = classes
            let clf = TextClassifier(spec, generator: Generator(seed: seed))
            var state = Dictionary(uniqueKeysWithValues: loaded.model.stateDict())
            if t.replaceHead {
                // The new head keeps its fresh weights; everything else comes from the run.
                for (k, v) in clf.classifier.stateDict() { state["classifier." + k] = v }
            }
            try clf.loadStateDict(state)
            return (clf, loaded.encoding, url, "text classifier from \(t.pretrained)" + (t.replaceHead ? ", new head" : ""))
        }
        throw fail("model.pretrained", "\(t.pretrained) is neither a sentence-transformers folder (config.json, vocab.txt, model.safetensors) "
                   + "nor the run directory of a text classifier (model.json of format \(TextClassifierFile.formatName))")
    }

    func evaluate(history: History, directory: URL) throws -> (JSONValue, String, [String]) {
        classifier.eval()
        let logits = testFeatures.map { f in withoutGrad { classifier.classifier(f) } }
            ?? Self.logits(classifier, testIDs, padding: encoding.paddingID)
        let requested = config.evaluation.metrics ?? MetricName.defaults(.classification)
        let targets = Tensor(testLabels)
        let result = try EvaluationResult.classification(logits: logits, targets: targets, classes: classes, loss: .crossEntropy(labelSmoothing: 0),
                                                         split: "test", requested: requested)
        // The report's per-example views run the head on the test embeddings (the same logits as above).
        let features = testFeatures ?? Self.embed(classifier, testIDs, padding: encoding.paddingID)
        try TrainRunner.writeReport(result, title: "\(config.outputs.name) - test", model: classifier.classifier,
                                    data: TensorBatches(inputs: features, targets: targets, batchSize: 256, shuffle: false),
                                    history: history, to: directory.appendingPathComponent(SavedModel.reportFile))
        return (result.json, result.text, [SavedModel.reportFile])
    }

    func writeModel(to directory: URL, name: String, provenance: Provenance, config: String) throws -> (SequenceModelFile?, [String]) {
        let merged = classifier.mergeLoRA()
        _ = merged
        var files: [String] = []
        let tokenizer: TextClassifierFile.Tokenizer
        switch encoding {
        case .wordPiece(_, let n):
            // The tokenizer travels with the model: vocab.txt and tokenizer_config.json copied from the folder.
            for f in ["vocab.txt", "tokenizer_config.json"] {
                guard let src = tokenizerFolder?.appendingPathComponent(f), let data = FileManager.default.contents(atPath: src.path) else { continue }
                try AtomicFile.write(data, to: directory.appendingPathComponent(f))
                files.append(f)
            }
            tokenizer = .init(kind: "wordpiece", maxLength: n, characters: nil)
        case .characters(let c, let n):
            tokenizer = .init(kind: "characters", maxLength: n, characters: c)
        }
        let file = TextClassifierFile(name: name, spec: classifier.spec, classes: classes, tokenizer: tokenizer, provenance: provenance, config: config)
        try file.write(model: classifier, to: directory)
        return (nil, files)
    }
}
