/// The feed-forward activation of a Transformer layer.
public enum TransformerActivation: String, Sendable, Codable {
    case relu, gelu

    func apply(_ x: Tensor) -> Tensor { self == .relu ? x.relu() : x.gelu() }
}

/// One Transformer encoder layer with PyTorch's names and semantics (`torch.nn.TransformerEncoderLayer`):
/// `self_attn.*`, `linear1`, `linear2`, `norm1`, `norm2`. Post-norm (default, `normFirst: false`):
/// x = norm1(x + SA(x)), x = norm2(x + FF(x)); pre-norm: x = x + SA(norm1(x)), x = x + FF(norm2(x)), with
/// FF(x) = linear2(dropout(act(linear1(x)))). Inputs [T, N, E], or [N, T, E] with `batchFirst`.
public final class TransformerEncoderLayer: Module {
    public let selfAttn: MultiheadAttention
    public let linear1: Linear
    let dropout: Dropout
    public let linear2: Linear
    public let norm1: LayerNorm, norm2: LayerNorm
    let dropout1: Dropout, dropout2: Dropout
    public let normFirst: Bool
    public let activation: TransformerActivation

    /// Creates the layer (defaults as PyTorch's: feed-forward 2048, dropout 0.1, ReLU, eps 1e-5, post-norm).
    public init(dModel: Int, nhead: Int, dimFeedforward: Int = 2048, dropout: Double = 0.1,
                activation: TransformerActivation = .relu, layerNormEps: Double = 1e-5, batchFirst: Bool = false,
                normFirst: Bool = false, bias: Bool = true, generator: Generator = .default) {
        selfAttn = MultiheadAttention(embedDim: dModel, numHeads: nhead, dropout: dropout, bias: bias,
                                      batchFirst: batchFirst, generator: generator)
        linear1 = Linear(dModel, dimFeedforward, bias: bias, generator: generator)
        self.dropout = Dropout(dropout, generator: generator)
        linear2 = Linear(dimFeedforward, dModel, bias: bias, generator: generator)
        norm1 = LayerNorm([dModel], eps: layerNormEps)
        norm2 = LayerNorm([dModel], eps: layerNormEps)
        dropout1 = Dropout(dropout, generator: generator)
        dropout2 = Dropout(dropout, generator: generator)
        self.normFirst = normFirst
        self.activation = activation
    }

    /// The layer over `src` with PyTorch's masks (see `MultiheadAttention`).
    public func callAsFunction(_ src: Tensor, srcMask: Tensor? = nil, srcKeyPaddingMask: Tensor? = nil,
                               isCausal: Bool = false) -> Tensor {
        func sa(_ x: Tensor) -> Tensor {
            dropout1(selfAttn(x, x, x, keyPaddingMask: srcKeyPaddingMask, attnMask: srcMask, isCausal: isCausal))
        }
        func ff(_ x: Tensor) -> Tensor { dropout2(linear2(dropout(activation.apply(linear1(x))))) }
        var x = src
        if normFirst {
            x = x + sa(norm1(x))
            x = x + ff(norm2(x))
        } else {
            x = norm1(x + sa(x))
            x = norm2(x + ff(x))
        }
        return x
    }

    override public func forward(_ x: Tensor) -> Tensor { self(x) }
}

/// One Transformer decoder layer with PyTorch's names and semantics (`torch.nn.TransformerDecoderLayer`):
/// `self_attn.*`, `multihead_attn.*` (over the encoder's memory), `linear1`, `linear2`, `norm1`-`norm3`.
public final class TransformerDecoderLayer: Module {
    public let selfAttn: MultiheadAttention
    public let multiheadAttn: MultiheadAttention
    public let linear1: Linear
    let dropout: Dropout
    public let linear2: Linear
    public let norm1: LayerNorm, norm2: LayerNorm, norm3: LayerNorm
    let dropout1: Dropout, dropout2: Dropout, dropout3: Dropout
    public let normFirst: Bool
    public let activation: TransformerActivation

    /// Creates the layer (defaults as PyTorch's).
    public init(dModel: Int, nhead: Int, dimFeedforward: Int = 2048, dropout: Double = 0.1,
                activation: TransformerActivation = .relu, layerNormEps: Double = 1e-5, batchFirst: Bool = false,
                normFirst: Bool = false, bias: Bool = true, generator: Generator = .default) {
        selfAttn = MultiheadAttention(embedDim: dModel, numHeads: nhead, dropout: dropout, bias: bias,
                                      batchFirst: batchFirst, generator: generator)
        multiheadAttn = MultiheadAttention(embedDim: dModel, numHeads: nhead, dropout: dropout, bias: bias,
                                           batchFirst: batchFirst, generator: generator)
        linear1 = Linear(dModel, dimFeedforward, bias: bias, generator: generator)
        self.dropout = Dropout(dropout, generator: generator)
        linear2 = Linear(dimFeedforward, dModel, bias: bias, generator: generator)
        norm1 = LayerNorm([dModel], eps: layerNormEps)
        norm2 = LayerNorm([dModel], eps: layerNormEps)
        norm3 = LayerNorm([dModel], eps: layerNormEps)
        dropout1 = Dropout(dropout, generator: generator)
        dropout2 = Dropout(dropout, generator: generator)
        dropout3 = Dropout(dropout, generator: generator)
        self.normFirst = normFirst
        self.activation = activation
    }

    /// The layer over `tgt` attending to `memory`, with PyTorch's masks.
    public func callAsFunction(_ tgt: Tensor, memory: Tensor, tgtMask: Tensor? = nil, memoryMask: Tensor? = nil,
                               tgtKeyPaddingMask: Tensor? = nil, memoryKeyPaddingMask: Tensor? = nil,
                               tgtIsCausal: Bool = false, memoryIsCausal: Bool = false) -> Tensor {
        func sa(_ x: Tensor) -> Tensor {
            dropout1(selfAttn(x, x, x, keyPaddingMask: tgtKeyPaddingMask, attnMask: tgtMask, isCausal: tgtIsCausal))
        }
        func mha(_ x: Tensor) -> Tensor {
            dropout2(multiheadAttn(x, memory, memory, keyPaddingMask: memoryKeyPaddingMask, attnMask: memoryMask,
                                   isCausal: memoryIsCausal))
        }
        func ff(_ x: Tensor) -> Tensor { dropout3(linear2(dropout(activation.apply(linear1(x))))) }
        var x = tgt
        if normFirst {
            x = x + sa(norm1(x))
            x = x + mha(norm2(x))
            x = x + ff(norm3(x))
        } else {
            x = norm1(x + sa(x))
            x = norm2(x + mha(x))
            x = norm3(x + ff(x))
        }
        return x
    }
}

/// A stack of encoder layers (`torch.nn.TransformerEncoder`): `layers.0.`, `layers.1.`, ... and an optional final
/// `norm`.
public final class TransformerEncoder: Module {
    public let layers: [TransformerEncoderLayer]
    public let norm: LayerNorm?

    /// `numLayers` layers made by `makeLayer` (PyTorch deep-copies one layer; here each call makes a fresh one).
    public init(numLayers: Int, norm: LayerNorm? = nil, _ makeLayer: () -> TransformerEncoderLayer) {
        precondition(numLayers > 0, "TransformerEncoder: num_layers must be positive, got \(numLayers)")
        layers = (0..<numLayers).map { _ in makeLayer() }
        self.norm = norm
    }

    /// The stack over `src` with PyTorch's masks (passed to every layer).
    public func callAsFunction(_ src: Tensor, mask: Tensor? = nil, srcKeyPaddingMask: Tensor? = nil,
                               isCausal: Bool = false) -> Tensor {
        var x = src
        for layer in layers { x = layer(x, srcMask: mask, srcKeyPaddingMask: srcKeyPaddingMask, isCausal: isCausal) }
        return norm.map { $0(x) } ?? x
    }

    override public func forward(_ x: Tensor) -> Tensor { self(x) }
}
