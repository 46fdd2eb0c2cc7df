/// The sizes of a `GPT`.
public struct GPTConfig: Codable, Equatable, Sendable {
    /// Vocabulary size V.
    public var vocabSize: Int
    /// Context length: positions 0..<context have an embedding.
    public var context: Int
    /// Model width, heads and blocks.
    public var dModel: Int, heads: Int, layers: Int
    /// Dropout on the embeddings, the attention weights and each residual branch (training only).
    public var dropout: Double
    /// Whether the output projection is the token embedding's weight (then `head.weight` and `wte.weight` are one
    /// parameter).
    public var tieWeights: Bool

    /// Creates the sizes (defaults: the benchmark's spec e, d128, 4 heads, 4 layers, no dropout, untied).
    public init(vocabSize: Int, context: Int = 128, dModel: Int = 128, heads: Int = 4, layers: Int = 4,
                dropout: Double = 0, tieWeights: Bool = false) {
        self.vocabSize = vocabSize; self.context = context; self.dModel = dModel; self.heads = heads
        self.layers = layers; self.dropout = dropout; self.tieWeights = tieWeights
    }

    /// The parameter count of a model of these sizes.
    public var parameterCount: Int {
        let d = dModel
        let block = 2 * 2 * d + (3 * d * d + 3 * d) + (d * d + d) + (4 * d * d + 4 * d) + (4 * d * d + d)
        return vocabSize * d + context * d + layers * block + 2 * d + (tieWeights ? 0 : vocabSize * d)
    }
}

/// One pre-LN GPT block: x = x + drop(proj(attn(qkv(ln1(x))))); x = x + drop(fc2(GELU(fc(ln2(x))))), causal
/// self-attention on the fused `scaledDotProductAttention`. Names `ln1`, `qkv`, `proj`, `ln2`, `fc`, `fc2` (the
/// benchmark's PyTorch reference).
public final class GPTBlock: Module {
    public let ln1: LayerNorm
    public let qkv: Linear
    public let proj: Linear
    public let ln2: LayerNorm
    public let fc: Linear
    public let fc2: Linear
    let residDropout: Dropout
    let attnGenerator: Generator
    public let heads: Int, attentionDropout: Double

    init(_ c: GPTConfig, generator: Generator) {
        let d = c.dModel
        ln1 = LayerNorm([d])
        qkv = Linear(d, 3 * d, generator: generator)
        proj = Linear(d, d, generator: generator)
        ln2 = LayerNorm([d])
        fc = Linear(d, 4 * d, generator: generator)
        fc2 = Linear(4 * d, d, generator: generator)
        residDropout = Dropout(c.dropout, generator: generator)
        attnGenerator = generator.fork()
        heads = c.heads
        attentionDropout = c.dropout
    }

    /// The block over x [B, T, d]; with a cache, keys and values of earlier positions are read from it and this
    /// call's are appended.
    func callAsFunction(_ x: Tensor, cache: KVCache?, layer: Int) -> Tensor {
        let B = x.shape[0], T = x.shape[1], d = x.shape[2], H = heads, Dh = d / H
        let all = qkv(ln1(x))
        func split(_ i: Int) -> Tensor {
            all.slice(axis: 2, start: i * d, end: (i + 1) * d).reshaped([B, T, H, Dh]).permuted([0, 2, 1, 3])
        }
        var q = split(0), k = split(1), v = split(2)
        var past = 0
        if let cache {
            past = cache.length
            if let pk = cache.keys[layer], let pv = cache.values[layer] {
                k = concat([pk, k], axis: 2)
                v = concat([pv, v], axis: 2)
            }
            k = k.contiguous(); v = v.contiguous()
            cache.keys[layer] = k
            cache.values[layer] = v
        }
        q = q.contiguous()
        // New positions past..<past+T attend to keys 0...past+i: causal (top-left) when nothing is cached, no mask
        // for one new position, an explicit mask otherwise.
        var mask: Tensor? = nil
        let causal = past == 0
        if past > 0 && T > 1 {
            let S = past + T
            mask = DefaultBackend.with(x.backend) { Tensor((0..<T * S).map { $0 % S <= past + $0 / S }, shape: [T, S]) }
        }
        let p = training ? attentionDropout : 0
        let y: Tensor
        if p > 0 {
            y = attnGenerator.withState { scaledDotProductAttention(q, k, v, mask: mask, causal: causal, dropout: p, rng: &$0) }
        } else {
            y = scaledDotProductAttention(q, k, v, mask: mask, causal: causal)
        }
        var h = x + residDropout(proj(y.permuted([0, 2, 1, 3]).reshaped([B, T, d])))
        h = h + residDropout(fc2(fc(ln2(h)).gelu()))
        return h
    }
}

/// Keys and values of the positions a `GPT` has already seen, per block ([B, H, length, Dh]), so that generation
/// runs each new token through the model once instead of the whole prefix again.
public final class KVCache {
    var keys: [Tensor?], values: [Tensor?]
    /// Positions cached so far.
    public internal(set) var length = 0

    /// An empty cache for a model of `layers` blocks.
    public init(layers: Int) {
        keys = Array(repeating: nil, count: layers)
        values = Array(repeating: nil, count: layers)
    }
}

/// A GPT-style character (or token) language model: token and learned position embeddings, pre-LN blocks of causal
/// self-attention and a GELU MLP, a final LayerNorm and a linear head without bias (optionally tied to the token
/// embedding). State-dict names `wte.weight`, `wpe.weight`, `blocks.0.ln1.weight`, ..., `lnf.weight`, `head.weight`,
/// as the benchmark's PyTorch reference (spec e) names them.
public final class GPT: Module {
    public let config: GPTConfig
    public let wte: Embedding
    public let wpe: Embedding
    let embDropout: Dropout
    public let blocks: [GPTBlock]
    public let lnf: LayerNorm
    public let head: Linear

    /// A model of `config`, initialized from `generator` (PyTorch's default inits per layer).
    public init(_ config: GPTConfig, generator: Generator = .default) {
        precondition(config.dModel % config.heads == 0,
                     "GPT: d_model \(config.dModel) must be divisible by heads \(config.heads)")
        precondition(config.vocabSize > 0 && config.context > 0 && config.layers > 0,
                     "GPT: vocabulary, context and layers must be positive, got \(config)")
        self.config = config
        wte = Embedding(config.vocabSize, config.dModel, generator: generator)
        wpe = Embedding(config.context, config.dModel, generator: generator)
        embDropout = Dropout(config.dropout, generator: generator)
        blocks = (0..<config.layers).map { _ in GPTBlock(config, generator: generator) }
        lnf = LayerNorm([config.dModel])
        head = config.tieWeights ? Linear(weight: wte.weight, bias: nil)
            : Linear(config.dModel, config.vocabSize, bias: false, generator: generator)
    }

    /// Logits [B, T, V] for int64 tokens [B, T]. With a cache, the tokens continue the cached positions (and are
    /// added to it); positions must stay below the context length.
    public func callAsFunction(_ tokens: Tensor, cache: KVCache?) -> Tensor {
        precondition(tokens.rank == 2, "GPT: tokens must be [batch, time], got \(tokens.shape)")
        let T = tokens.shape[1], offset = cache?.length ?? 0
        precondition(offset + T <= config.context,
                     "GPT: positions \(offset)..<\(offset + T) exceed the context length \(config.context)")
        var x = embDropout(wte(tokens) + wpe.weight.slice(axis: 0, start: offset, end: offset + T))
        for (i, b) in blocks.enumerated() { x = b(x, cache: cache, layer: i) }
        if let cache { cache.length += T }
        return head(lnf(x))
    }

    override public func forward(_ x: Tensor) -> Tensor { self(x, cache: nil) }

    /// Next-token logits of the last position for each step of generation: the prompt `ids` followed by `count`
    /// tokens drawn by `pick` (given the last position's logits as float32). With `useCache`, each new token runs
    /// through the model once, reading earlier keys and values from a `KVCache`; without, the whole window runs
    /// again every step. Beyond the context, the window keeps the last `context` tokens: uncached, it moves by one
    /// token per step (every position recomputed); cached, the cache restarts from the last `context / 2` tokens when
    /// it is full, so the two agree token for token only while the text fits in the context.
    public func generate(prompt ids: [Int], count: Int, useCache: Bool = true,
                         pick: ([Float]) -> Int) -> [Int] {
        precondition(!ids.isEmpty, "GPT.generate: the prompt must hold at least one token")
        let was = training
        eval()
        defer { train(was) }
        var seq = ids
        func lastLogits(_ logits: Tensor) -> [Float] {
            logits.select(axis: 1, logits.shape[1] - 1).reshaped([-1]).cast(.float32).toArray(Float.self)
        }
        func tensor(_ xs: ArraySlice<Int>) -> Tensor { Tensor(xs.map { Int64($0) }, shape: [1, xs.count]) }
        withoutGrad {
            if !useCache {
                for _ in 0..<count {
                    let window = seq.suffix(config.context)
                    seq.append(pick(lastLogits(self(tensor(window), cache: nil))))
                }
                return
            }
            var cache = KVCache(layers: config.layers)
            var logits = lastLogits(self(tensor(seq.suffix(config.context)), cache: cache))
            for i in 0..<count {
                let next = pick(logits)
                seq.append(next)
                if i == count - 1 { break }
                if cache.length >= config.context {
                    cache = KVCache(layers: config.layers)
                    logits = lastLogits(self(tensor(seq.suffix(Swift.max(1, config.context / 2))), cache: cache))
                } else {
                    logits = lastLogits(self(tensor(seq.suffix(1)), cache: cache))
                }
            }
        }
        return Array(seq.dropFirst(ids.count))
    }
}
