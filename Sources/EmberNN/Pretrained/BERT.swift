import Foundation

/// The shape of a BERT encoder: the fields of a Hugging Face `config.json` for `BertModel` that change the math.
///
/// all-MiniLM-L6-v2 is `BertConfig(vocabularySize: 30522, hiddenSize: 384, layers: 6, heads: 12,
/// intermediateSize: 1536)`.
public struct BertConfig: Sendable, Equatable, Codable {
    /// Rows of the word embedding table (`vocab_size`).
    public var vocabularySize: Int
    /// Width of every hidden state (`hidden_size`).
    public var hiddenSize: Int
    /// Number of encoder layers (`num_hidden_layers`).
    public var layers: Int
    /// Attention heads per layer (`num_attention_heads`); must divide `hiddenSize`.
    public var heads: Int
    /// Width of the feed-forward block (`intermediate_size`).
    public var intermediateSize: Int
    /// Longest input (`max_position_embeddings`).
    public var maxPositions: Int
    /// Number of segment types (`type_vocab_size`).
    public var typeVocabularySize: Int
    /// Layer norm epsilon (`layer_norm_eps`).
    public var layerNormEps: Double
    /// Whether the model has the tanh pooler over `[CLS]` (`BertModel(add_pooling_layer=True)`).
    public var pooler: Bool

    /// A configuration with BERT-base's defaults for what is not given.
    public init(vocabularySize: Int = 30522, hiddenSize: Int = 768, layers: Int = 12, heads: Int = 12,
                intermediateSize: Int = 3072, maxPositions: Int = 512, typeVocabularySize: Int = 2,
                layerNormEps: Double = 1e-12, pooler: Bool = true) {
        self.vocabularySize = vocabularySize
        self.hiddenSize = hiddenSize
        self.layers = layers
        self.heads = heads
        self.intermediateSize = intermediateSize
        self.maxPositions = maxPositions
        self.typeVocabularySize = typeVocabularySize
        self.layerNormEps = layerNormEps
        self.pooler = pooler
    }
}

/// Word, position and token-type embeddings, summed, then layer norm (Hugging Face `BertEmbeddings`).
public final class BertEmbeddings: Module {
    /// Token embeddings [vocab, hidden].
    public let wordEmbeddings: Embedding
    /// Absolute position embeddings [maxPositions, hidden].
    public let positionEmbeddings: Embedding
    /// Segment embeddings [types, hidden].
    public let tokenTypeEmbeddings: Embedding
    /// The normalisation after the sum.
    public let layerNorm: LayerNorm
    override public var stateKeys: [String: String] { ["layerNorm": "LayerNorm"] }

    /// Embeddings for `config`.
    public init(_ config: BertConfig) {
        wordEmbeddings = Embedding(config.vocabularySize, config.hiddenSize)
        positionEmbeddings = Embedding(config.maxPositions, config.hiddenSize)
        tokenTypeEmbeddings = Embedding(config.typeVocabularySize, config.hiddenSize)
        layerNorm = LayerNorm([config.hiddenSize], eps: config.layerNormEps)
    }

    /// ids and tokenTypes [B, T] (int32 or int64) -> [B, T, hidden].
    public func callAsFunction(_ ids: Tensor, tokenTypes: Tensor) -> Tensor {
        let t = ids.shape[1]
        precondition(t <= positionEmbeddings.weight.shape[0],
                     "BertEmbeddings: \(t) tokens but only \(positionEmbeddings.weight.shape[0]) positions")
        let positions = positionEmbeddings.weight.slice(axis: 0, start: 0, end: t)
        return layerNorm(wordEmbeddings(ids) + positions + tokenTypeEmbeddings(tokenTypes))
    }
}

/// Multi-head self-attention projections (Hugging Face `BertSelfAttention`: `query`, `key`, `value`).
public final class BertSelfAttention: Module {
    /// Projections [hidden, hidden].
    public let query: Linear, key: Linear, value: Linear
    /// Number of heads.
    public let heads: Int

    /// Projections for `config`.
    public init(_ config: BertConfig) {
        precondition(config.heads > 0 && config.hiddenSize % config.heads == 0,
                     "BertSelfAttention: hidden size \(config.hiddenSize) is not a multiple of \(config.heads) heads")
        query = Linear(config.hiddenSize, config.hiddenSize)
        key = Linear(config.hiddenSize, config.hiddenSize)
        value = Linear(config.hiddenSize, config.hiddenSize)
        heads = config.heads
    }

    /// x [B, T, hidden], keyPadding [B, T] bool (true: a padding position no query may attend to) -> [B, T, hidden].
    public func callAsFunction(_ x: Tensor, keyPadding: Tensor?) -> Tensor {
        let b = x.shape[0], t = x.shape[1], h = x.shape[2], d = h / heads
        func split(_ y: Tensor) -> Tensor { y.reshaped([b, t, heads, d]).permuted([0, 2, 1, 3]) }
        let context = Self.attention(query: split(query(x)), key: split(key(x)), value: split(value(x)),
                                     keyPadding: keyPadding)
        return context.permuted([0, 2, 1, 3]).reshaped([b, t, h])
    }

    /// Scaled dot-product attention over heads: query, key, value [B, H, T, D]; keyPadding [B, T] bool, true where a
    /// key is padding (no query attends to it). Returns [B, H, T, D]. Runs the fused attention kernel
    /// (`scaledDotProductAttention`: blocked, online softmax, never the whole [T, T] score matrix); with
    /// `composite: true` the same math in plain ops (matmul, masked fill, softmax), which gradients of gradients need.
    public static func attention(query: Tensor, key: Tensor, value: Tensor, keyPadding: Tensor?, composite: Bool = false) -> Tensor {
        precondition(query.rank == 4 && key.shape == query.shape && value.shape == query.shape,
                     "BertSelfAttention.attention: query \(query.shape), key \(key.shape), value \(value.shape) must be equal [B, H, T, D]")
        if let keyPadding {
            precondition(keyPadding.dtype == .bool && keyPadding.shape == [query.shape[0], query.shape[2]],
                         "BertSelfAttention.attention: key padding mask \(keyPadding.shape) \(keyPadding.dtype) must be bool [\(query.shape[0]), \(query.shape[2])]")
        }
        let padding = keyPadding?.reshaped([query.shape[0], 1, 1, query.shape[2]])
        if !composite {
            // The fused kernel's bool mask says which keys take part (PyTorch's SDPA convention).
            return scaledDotProductAttention(query, key, value, mask: padding?.logicalNot())
        }
        var scores = matmul(query, key.transposed(-2, -1)) * (1 / Double(query.shape[3]).squareRoot())
        if let padding { scores = scores.maskedFill(padding, -.infinity) }
        return matmul(scores.softmax(axis: -1), value)
    }
}

/// A dense layer, residual sum and layer norm (Hugging Face `BertSelfOutput` and `BertOutput`).
public final class BertResidualOutput: Module {
    /// The projection back to the hidden size.
    public let dense: Linear
    /// Normalisation after the residual sum.
    public let layerNorm: LayerNorm
    override public var stateKeys: [String: String] { ["layerNorm": "LayerNorm"] }

    /// in -> hidden, then layer norm with `eps`.
    public init(_ inFeatures: Int, _ hidden: Int, eps: Double) {
        dense = Linear(inFeatures, hidden)
        layerNorm = LayerNorm([hidden], eps: eps)
    }

    /// layerNorm(dense(x) + residual).
    public func callAsFunction(_ x: Tensor, residual: Tensor) -> Tensor { layerNorm(dense(x) + residual) }
}

/// Self-attention and its output block (Hugging Face `BertAttention`: `self`, `output`).
public final class BertAttention: Module {
    /// The projections and attention.
    public let selfAttention: BertSelfAttention
    /// Output projection, residual and norm.
    public let output: BertResidualOutput
    override public var stateKeys: [String: String] { ["selfAttention": "self"] }

    /// The block for `config`.
    public init(_ config: BertConfig) {
        selfAttention = BertSelfAttention(config)
        output = BertResidualOutput(config.hiddenSize, config.hiddenSize, eps: config.layerNormEps)
    }

    /// x [B, T, hidden] -> [B, T, hidden].
    public func callAsFunction(_ x: Tensor, keyPadding: Tensor?) -> Tensor {
        output(selfAttention(x, keyPadding: keyPadding), residual: x)
    }
}

/// The feed-forward widening with exact (erf) GELU (Hugging Face `BertIntermediate`).
public final class BertIntermediate: Module {
    /// hidden -> intermediate.
    public let dense: Linear

    /// The block for `config`.
    public init(_ config: BertConfig) { dense = Linear(config.hiddenSize, config.intermediateSize) }

    override public func forward(_ x: Tensor) -> Tensor { dense(x).gelu() }
}

/// One encoder layer: attention, then the feed-forward block, each with residual and norm (Hugging Face `BertLayer`).
public final class BertLayer: Module {
    /// Self-attention block.
    public let attention: BertAttention
    /// Feed-forward widening.
    public let intermediate: BertIntermediate
    /// Feed-forward projection back, residual and norm.
    public let output: BertResidualOutput

    /// A layer for `config`.
    public init(_ config: BertConfig) {
        attention = BertAttention(config)
        intermediate = BertIntermediate(config)
        output = BertResidualOutput(config.intermediateSize, config.hiddenSize, eps: config.layerNormEps)
    }

    /// x [B, T, hidden] -> [B, T, hidden].
    public func callAsFunction(_ x: Tensor, keyPadding: Tensor?) -> Tensor {
        let a = attention(x, keyPadding: keyPadding)
        return output(intermediate(a), residual: a)
    }
}

/// The stack of encoder layers (Hugging Face `BertEncoder`: `layer.0`, `layer.1`, ...).
public final class BertEncoder: Module {
    /// The layers, in order.
    public let layer: [BertLayer]

    /// `config.layers` layers.
    public init(_ config: BertConfig) { layer = (0..<config.layers).map { _ in BertLayer(config) } }

    /// x [B, T, hidden] -> [B, T, hidden].
    public func callAsFunction(_ x: Tensor, keyPadding: Tensor?) -> Tensor {
        layer.reduce(x) { $1($0, keyPadding: keyPadding) }
    }
}

/// tanh(dense(hidden state of `[CLS]`)) (Hugging Face `BertPooler`).
public final class BertPooler: Module {
    /// hidden -> hidden.
    public let dense: Linear

    /// A pooler for `config`.
    public init(_ config: BertConfig) { dense = Linear(config.hiddenSize, config.hiddenSize) }

    /// hidden [B, T, hidden] -> [B, hidden].
    override public func forward(_ x: Tensor) -> Tensor { dense(x.slice(axis: 1, start: 0, end: 1).reshaped([x.shape[0], x.shape[2]])).tanh() }
}

/// A BERT encoder with Hugging Face `BertModel`'s parameter names (`embeddings.word_embeddings.weight`,
/// `encoder.layer.3.attention.self.query.weight`, `pooler.dense.bias`), so a `model.safetensors` of that class loads
/// by name with `loadStateDict`. Inference and training both go through ordinary ops (gradients included).
///
/// ```swift
/// let bert = BertModel(BertConfig(hiddenSize: 384, layers: 6, heads: 12, intermediateSize: 1536))
/// try bert.loadStateDict(weights)                       // names as in the safetensors file
/// bert.eval()
/// let hidden = bert(ids, tokenTypes: types, attentionMask: mask)   // [B, T, 384]
/// ```
public final class BertModel: Module {
    /// The configuration it was built with.
    public let config: BertConfig
    /// Token, position and segment embeddings.
    public let embeddings: BertEmbeddings
    /// The layers.
    public let encoder: BertEncoder
    /// The `[CLS]` pooler, when the configuration has one.
    public let pooler: BertPooler?

    /// A model with freshly initialised weights (load pretrained ones with `loadStateDict`).
    public init(_ config: BertConfig) {
        self.config = config
        embeddings = BertEmbeddings(config)
        encoder = BertEncoder(config)
        pooler = config.pooler ? BertPooler(config) : nil
    }

    /// The last hidden state [B, T, hidden] for token ids [B, T] (int32 or int64), token types [B, T] (nil: all 0)
    /// and an attention mask [B, T] (1 or true for a real token, 0 for padding; nil: no padding).
    public func callAsFunction(_ ids: Tensor, tokenTypes: Tensor? = nil, attentionMask: Tensor? = nil) -> Tensor {
        precondition(ids.rank == 2, "BertModel: token ids must be [batch, tokens], got \(ids.shape)")
        let types = tokenTypes ?? Tensor.zeros(ids.shape, dtype: ids.dtype)
        precondition(types.shape == ids.shape, "BertModel: token types \(types.shape) differ from ids \(ids.shape)")
        var keyPadding: Tensor? = nil
        if let attentionMask {
            precondition(attentionMask.shape == ids.shape, "BertModel: attention mask \(attentionMask.shape) differs from ids \(ids.shape)")
            keyPadding = attentionMask.dtype == .bool ? attentionMask.logicalNot() : (attentionMask .== 0)
        }
        return encoder(embeddings(ids, tokenTypes: types), keyPadding: keyPadding)
    }
}
