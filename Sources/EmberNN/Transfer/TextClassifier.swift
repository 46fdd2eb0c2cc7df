/// What a `TextClassifier` is made of, enough to rebuild it before loading its weights.
public struct TextClassifierSpec: Codable, Equatable, Sendable {
    /// A pretrained BERT encoder (`bert.*`, Hugging Face `BertModel` names) or a small encoder trained from scratch.
    public enum Kind: String, Codable, Sendable {
        /// `bert` + `classifier`.
        case bert
        /// `embedding` + `positions` + `encoder` (PyTorch `TransformerEncoder` names) + `classifier`.
        case scratch
    }
    /// The kind.
    public var kind: Kind
    /// Number of classes (the classifier's outputs).
    public var classes: Int
    /// Id of the padding token (positions holding it are masked out of attention and pooling).
    public var paddingID: Int
    /// L2-normalise the pooled embedding before the classifier (as sentence-transformers' Normalize module).
    public var normalize: Bool
    /// BERT sizes (kind `bert`).
    public var bert: BertConfig?
    /// Scratch sizes (kind `scratch`): vocabulary (padding included), width, heads, layers, feed-forward width,
    /// longest input in tokens, dropout.
    public var vocabulary: Int?, dModel: Int?, heads: Int?, layers: Int?, feedforward: Int?, maxTokens: Int?, dropout: Double?

    /// A spec for a BERT encoder of `config` with a new classifier of `classes` outputs.
    public init(bert config: BertConfig, classes: Int, paddingID: Int, normalize: Bool) {
        kind = .bert; bert = config; self.classes = classes; self.paddingID = paddingID; self.normalize = normalize
    }

    /// A spec for an encoder trained from scratch.
    public init(vocabulary: Int, dModel: Int, heads: Int, layers: Int, feedforward: Int, maxTokens: Int, dropout: Double,
                classes: Int, paddingID: Int) {
        kind = .scratch; self.vocabulary = vocabulary; self.dModel = dModel; self.heads = heads; self.layers = layers
        self.feedforward = feedforward; self.maxTokens = maxTokens; self.dropout = dropout
        self.classes = classes; self.paddingID = paddingID; normalize = false
    }

    /// Longest input in tokens the encoder takes.
    public var maxLength: Int { kind == .bert ? bert!.maxPositions : maxTokens! }

    /// The width of the pooled embedding.
    public var hidden: Int { kind == .bert ? bert!.hiddenSize : dModel! }

    /// A problem with the sizes (values read from a file), or nil.
    public func validate() -> String? {
        guard (2...100_000).contains(classes) else { return "classes must be in 2...100000, got \(classes)" }
        switch kind {
        case .bert:
            guard let b = bert else { return "a bert classifier needs `bert` sizes" }
            guard b.hiddenSize % b.heads == 0, (0..<b.vocabularySize).contains(paddingID) else {
                return "bert: heads must divide hidden_size and the padding id must be in the vocabulary"
            }
        case .scratch:
            guard let v = vocabulary, let d = dModel, let h = heads, let l = layers, let f = feedforward, let t = maxTokens,
                  let p = dropout else { return "a scratch classifier needs vocabulary, dModel, heads, layers, feedforward, maxTokens, dropout" }
            for (name, x) in [("vocabulary", v), ("dModel", d), ("heads", h), ("layers", l), ("feedforward", f), ("maxTokens", t)]
            where !(1...(1 << 22)).contains(x) { return "\(name) must be in 1...\(1 << 22), got \(x)" }
            guard d % h == 0 else { return "heads (\(h)) must divide dModel (\(d))" }
            guard (0..<v).contains(paddingID), p >= 0, p < 1 else { return "the padding id must be in the vocabulary and dropout in [0, 1)" }
        }
        return nil
    }
}

/// A sequence classifier over token ids: an encoder, mean pooling over the non-padding tokens (optionally
/// L2-normalised), and a linear `classifier` — the shape of Hugging Face's `BertForSequenceClassification` with
/// sentence-transformers' pooling in place of the `[CLS]` pooler.
///
/// The encoder is either a `BertModel` (`bert.*`, loadable from a sentence-transformers or Hugging Face folder, and
/// the target of `freeze(matching: ["bert"])` or `applyLoRA(targets: ["*.query", "*.value"])`), or a small
/// `TransformerEncoder` trained from scratch (`embedding`, `positions`, `encoder.layers.N.*`, pre-norm, GELU).
///
/// ```swift
/// let clf = TextClassifier(TextClassifierSpec(bert: bert.config, classes: 6, paddingID: 0, normalize: true))
/// try clf.bert!.loadStateDict(bert.stateDict())
/// try clf.freeze(matching: ["bert"])                 // a linear probe on the frozen encoder
/// let logits = clf(ids)                              // ids [B, T] int32/int64, padded with spec.paddingID
/// ```
public final class TextClassifier: Module {
    /// What it is made of.
    public let spec: TextClassifierSpec
    /// The pretrained encoder (kind `bert`).
    public let bert: BertModel?
    /// Token embeddings (kind `scratch`).
    public let embedding: Embedding?
    /// Learned position embeddings (kind `scratch`).
    public let positions: LearnedPositionalEmbedding?
    /// The encoder layers (kind `scratch`).
    public let encoder: TransformerEncoder?
    /// The linear head over the pooled embedding.
    public let classifier: Linear

    /// A classifier for `spec`, initialised from `generator` (a `bert` encoder still needs its pretrained weights).
    public init(_ spec: TextClassifierSpec, generator: Generator = .default) {
        precondition(spec.validate() == nil, "TextClassifier: \(spec.validate() ?? "")")
        self.spec = spec
        switch spec.kind {
        case .bert:
            bert = BertModel(spec.bert!)
            embedding = nil; positions = nil; encoder = nil
        case .scratch:
            bert = nil
            let d = spec.dModel!
            let emb = Embedding(spec.vocabulary!, d, generator: generator)
            // N(0, 0.02) as BERT and GPT-2 initialise token and position tables (N(0, 1) swamps a small model).
            Init.normal(emb.weight, std: 0.02, generator: generator)
            embedding = emb
            let pos = LearnedPositionalEmbedding(maxLength: spec.maxTokens!, dim: d, generator: generator)
            Init.normal(pos.weight, std: 0.02, generator: generator)
            positions = pos
            encoder = TransformerEncoder(numLayers: spec.layers!, norm: LayerNorm([d])) {
                TransformerEncoderLayer(dModel: d, nhead: spec.heads!, dimFeedforward: spec.feedforward!, dropout: spec.dropout!,
                                        activation: .gelu, batchFirst: true, normFirst: true, generator: generator)
            }
        }
        classifier = Linear(spec.hidden, spec.classes, generator: generator)
    }

    /// The pooled embedding [B, hidden] of token ids [B, T] (padded with `spec.paddingID`): mean over the
    /// non-padding positions of the encoder's last hidden state, L2-normalised when `spec.normalize`.
    public func embed(_ ids: Tensor) -> Tensor {
        precondition(ids.rank == 2, "TextClassifier: token ids must be [batch, tokens], got \(ids.shape)")
        precondition(ids.shape[1] <= spec.maxLength, "TextClassifier: \(ids.shape[1]) tokens exceed the longest input \(spec.maxLength)")
        let padding = ids .== Double(spec.paddingID)
        let mask = padding.logicalNot().cast(.float32)
        let hidden: Tensor
        if let bert {
            hidden = bert(ids, attentionMask: mask)
        } else {
            let x = positions!(embedding!(ids), offset: 0)
            hidden = encoder!(x, srcKeyPaddingMask: padding)
        }
        let m = mask.reshaped([ids.shape[0], ids.shape[1], 1])
        let mean = (hidden * m).sum(axis: 1) / m.sum(axis: 1).clamp(min: 1e-9)
        guard spec.normalize else { return mean }
        return mean / (mean * mean).sum(axis: 1, keepDims: true).sqrt().clamp(min: 1e-12)
    }

    /// Class logits [B, classes] of token ids [B, T].
    override public func forward(_ ids: Tensor) -> Tensor { classifier(embed(ids)) }

    override public var layerDescription: String {
        spec.kind == .bert
            ? "TextClassifier(bert \(spec.bert!.layers) layers x \(spec.hidden), \(spec.classes) classes)"
            : "TextClassifier(scratch \(spec.layers!) layers x \(spec.hidden), \(spec.heads!) heads, \(spec.classes) classes)"
    }
}
