/// Multi-head attention with PyTorch's names and semantics (`torch.nn.MultiheadAttention`, the `need_weights=False`
/// path): parameters `in_proj_weight` [3E, E], `in_proj_bias` [3E] and `out_proj.weight`/`out_proj.bias`, so a
/// state dict maps 1:1 onto PyTorch's.
///
/// Inputs are [L, N, E] (query) and [S, N, E] (key, value), or [N, L, E] / [N, S, E] with `batchFirst`. Masks follow
/// `nn.MultiheadAttention`: `attnMask` [L, S] or [N * heads, L, S], bool (true: NOT allowed) or float (added to the
/// scores); `keyPaddingMask` [N, S], bool (true: ignore that key) or float (added). `isCausal` applies the causal
/// mask (query i sees keys j <= i), in addition to `attnMask` when one is given. In training mode, `dropout` drops
/// attention weights, drawn from the layer's own generator stream.
///
/// The attention itself is the fused `scaledDotProductAttention` (blocked, online softmax); `fused = false` runs the
/// composite form instead (the [L, S] weights in memory), which supports gradients of gradients.
public final class MultiheadAttention: Module, Layer {
    public typealias Input = MultiheadAttentionInput
    public typealias Output = Tensor

    /// The q, k, v projections stacked: [3 * embedDim, embedDim].
    public let inProjWeight: Tensor
    /// Their biases [3 * embedDim], or nil.
    public let inProjBias: Tensor?
    /// The output projection.
    public let outProj: Linear
    public let embedDim: Int, numHeads: Int
    public let dropout: Double
    public let batchFirst: Bool
    /// Whether attention runs as the fused primitive (default) or as the composite form (for createGraph).
    public var fused = true
    let generator: Generator

    /// Head width embedDim / numHeads.
    public var headDim: Int { embedDim / numHeads }

    /// Creates the layer; parameters start as PyTorch's (xavier-uniform in-projection, zero biases).
    public init(embedDim: Int, numHeads: Int, dropout: Double = 0, bias: Bool = true, batchFirst: Bool = false,
                generator: Generator = .default) {
        precondition(embedDim > 0 && numHeads > 0 && embedDim % numHeads == 0,
                     "MultiheadAttention: embed_dim \(embedDim) must be divisible by num_heads \(numHeads)")
        precondition(dropout >= 0 && dropout < 1, "MultiheadAttention: dropout must be in [0, 1), got \(dropout)")
        self.embedDim = embedDim; self.numHeads = numHeads; self.dropout = dropout; self.batchFirst = batchFirst
        inProjWeight = makeParameter([3 * embedDim, embedDim]) { Init.xavierUniform($0, generator: generator) }
        inProjBias = bias ? makeParameter([3 * embedDim]) { Init.zeros($0) } : nil
        outProj = Linear(embedDim, embedDim, bias: bias, generator: generator)
        if let b = outProj.bias { withoutGrad { b.fill(0) } }
        self.generator = generator.fork()
    }

    /// Attention of `query` over `key`/`value`; returns [L, N, E] (or [N, L, E] with `batchFirst`).
    public func callAsFunction(_ query: Tensor, _ key: Tensor, _ value: Tensor, keyPaddingMask: Tensor? = nil,
                               attnMask: Tensor? = nil, isCausal: Bool = false) -> Tensor {
        forward(MultiheadAttentionInput(query: query, key: key, value: value, keyPaddingMask: keyPaddingMask,
                                        attnMask: attnMask, isCausal: isCausal))
    }

    public func forward(_ input: MultiheadAttentionInput) -> Tensor {
        let name = "MultiheadAttention"
        var q = input.query, k = input.key, v = input.value
        precondition(q.rank == 3 && k.rank == 3 && v.rank == 3,
                     "\(name): query, key and value must be rank 3, got \(q.shape), \(k.shape), \(v.shape)")
        if !batchFirst { q = q.transposed(0, 1); k = k.transposed(0, 1); v = v.transposed(0, 1) }
        let N = q.shape[0], L = q.shape[1], S = k.shape[1], E = embedDim, H = numHeads, Dh = headDim
        precondition(q.shape[2] == E && k.shape[2] == E && v.shape[2] == E && k.shape[0] == N && v.shape[0] == N && v.shape[1] == S,
                     "\(name): query \(input.query.shape), key \(input.key.shape), value \(input.value.shape) do not fit embed_dim \(E)")
        let qp: Tensor, kp: Tensor, vp: Tensor
        if input.query === input.key && input.key === input.value {
            let all = linear(q, inProjWeight, inProjBias)
            (qp, kp, vp) = (all.slice(axis: 2, start: 0, end: E), all.slice(axis: 2, start: E, end: 2 * E),
                            all.slice(axis: 2, start: 2 * E, end: 3 * E))
        } else {
            func part(_ x: Tensor, _ i: Int) -> Tensor {
                linear(x, inProjWeight.slice(axis: 0, start: i * E, end: (i + 1) * E),
                       inProjBias?.slice(axis: 0, start: i * E, end: (i + 1) * E))
            }
            (qp, kp, vp) = (part(q, 0), part(k, 1), part(v, 2))
        }
        func heads(_ x: Tensor, _ T: Int) -> Tensor { x.reshaped([N, T, H, Dh]).permuted([0, 2, 1, 3]) }
        let mask = combinedMask(input, N: N, L: L, S: S, dtype: q.dtype)
        let p = training ? dropout : 0
        let y = attend(heads(qp, L), heads(kp, S), heads(vp, S), mask: mask, causal: input.isCausal, dropout: p)
        var out = outProj(y.permuted([0, 2, 1, 3]).reshaped([N, L, E]))
        if !batchFirst { out = out.transposed(0, 1) }
        return out
    }

    /// Fused or composite attention over [N, H, T, Dh] heads.
    func attend(_ q: Tensor, _ k: Tensor, _ v: Tensor, mask: Tensor?, causal: Bool, dropout p: Double) -> Tensor {
        if fused {
            if p == 0 { return scaledDotProductAttention(q, k, v, mask: mask, causal: causal) }
            return generator.withState { scaledDotProductAttention(q, k, v, mask: mask, causal: causal, dropout: p, rng: &$0) }
        }
        return generator.withState { scaledDotProductAttentionComposite(q, k, v, mask: mask, causal: causal, dropout: p, rng: &$0) }
    }

    /// attn_mask and key_padding_mask as one additive mask broadcastable to [N, H, L, S] (nil when neither).
    private func combinedMask(_ input: MultiheadAttentionInput, N: Int, L: Int, S: Int, dtype: DType) -> Tensor? {
        func additive(_ m: Tensor) -> Tensor {
            if m.dtype == .bool { return Tensor.where(m, Tensor(-Double.infinity, dtype: dtype, on: m.backend), Tensor(0, dtype: dtype, on: m.backend)) }
            return m.cast(dtype)
        }
        var mask: Tensor? = nil
        if let a = input.attnMask {
            if a.rank == 2 {
                precondition(a.shape == [L, S], "MultiheadAttention: attn_mask must be [\(L), \(S)] or [\(N * numHeads), \(L), \(S)], got \(a.shape)")
                mask = additive(a).reshaped([1, 1, L, S])
            } else {
                precondition(a.shape == [N * numHeads, L, S], "MultiheadAttention: attn_mask must be [\(L), \(S)] or [\(N * numHeads), \(L), \(S)], got \(a.shape)")
                mask = additive(a).reshaped([N, numHeads, L, S])
            }
        }
        if let kp = input.keyPaddingMask {
            precondition(kp.shape == [N, S], "MultiheadAttention: key_padding_mask must be [\(N), \(S)], got \(kp.shape)")
            let m = additive(kp).reshaped([N, 1, 1, S])
            mask = mask.map { $0 + m } ?? m
        }
        return mask.map { m in withoutGrad { m.detached() } }
    }

    override public var layerDescription: String {
        "MultiheadAttention(embed_dim: \(embedDim), num_heads: \(numHeads)\(dropout > 0 ? ", dropout: \(dropout)" : ""))"
    }
}

/// The inputs of `MultiheadAttention`: query, key, value and the optional masks (see the layer).
public struct MultiheadAttentionInput {
    public var query: Tensor, key: Tensor, value: Tensor
    public var keyPaddingMask: Tensor?, attnMask: Tensor?
    public var isCausal: Bool
    /// Creates the input; self-attention passes the same tensor three times.
    public init(query: Tensor, key: Tensor, value: Tensor, keyPaddingMask: Tensor? = nil, attnMask: Tensor? = nil,
                isCausal: Bool = false) {
        self.query = query; self.key = key; self.value = value
        self.keyPaddingMask = keyPaddingMask; self.attnMask = attnMask; self.isCausal = isCausal
    }
}
