/// Scaled-dot-product attention as one fused primitive (issue 16), after FlashAttention-2: the forward runs over
/// blocks of queries and keys with an online softmax, so no more than one block of scores exists at a time, and keeps
/// only the log-sum-exp of each row; the backward recomputes the weights block by block from it. Causal blocks above
/// the diagonal are skipped. The backend owns the kernel (`Backend.attentionForward` / `attentionBackward`); the
/// reference backend computes the plain definition in double precision.
///
/// The composite form `scaledDotProductAttentionComposite` (matmul, softmax, dropout, matmul) computes the same
/// function from differentiable primitives: it materialises the [Tq, Tk] weights, and it is the route to gradients of
/// gradients: the fused op's backward is kernels, so a backward through it with `createGraph` stops with a message.
extension OpRegistry {
    static let attentionOps: [any PrimitiveOp.Type] = [ScaledDotProductAttention.self]
}

/// The fused attention. Inputs: `[q [B, H, Tq, Dh], k [B, H, Tk, Dh], v [B, H, Tk, Dv]]` plus an additive float mask
/// `[1|B, 1|H, 1|Tq, Tk]` (size-1 dimensions broadcast) when there is one. Saved: the log-sum-exp per row.
struct ScaledDotProductAttention: PrimitiveOp {
    static let name = "scaled_dot_product_attention"
    static var savesOutput: Bool { true }
    let scale: Double, causal: Bool, dropout: AttentionDropout?
    var attributes: [String: OpAttribute] {
        ["scale": .double(scale), "is_causal": .bool(causal), "dropout_p": .double(dropout?.p ?? 0)]
    }

    private func layout(_ inputs: [Tensor]) -> (AttentionShape, Operand?) {
        let q = inputs[0], k = inputs[1], v = inputs[2]
        let s = AttentionShape(batch: q.shape[0], heads: q.shape[1], queries: q.shape[2], keys: k.shape[2],
                               headDim: q.shape[3], valueDim: v.shape[3], scale: scale, causal: causal)
        guard inputs.count > 3 else { return (s, nil) }
        let m = inputs[3].contiguousData()
        let natural = contiguousStrides(m.shape)
        let strides = (0..<4).map { m.shape[$0] == 1 ? 0 : natural[$0] }
        return (s, m.operand.restrided(strides))
    }

    func forward(_ inputs: [Tensor]) -> Tensor { forwardAndSave(inputs).0 }

    func forwardAndSave(_ inputs: [Tensor]) -> (Tensor, [Tensor]) {
        let q = inputs[0].contiguousData(), k = inputs[1].contiguousData(), v = inputs[2].contiguousData()
        let (s, mask) = layout(inputs)
        let be = q.backend
        let out = Tensor.empty([s.batch, s.heads, s.queries, s.valueDim], dtype: q.dtype, backend: be)
        let lse = Tensor.empty([s.batch, s.heads, s.queries], dtype: q.dtype, backend: be)
        if out.count > 0 || lse.count > 0 {
            be.attentionForward(q: q.operand, k: k.operand, v: v.operand, mask: mask, out: out.operand,
                                lse: lse.operand, s, dropout: dropout)
        }
        return (out, [lse])
    }

    func vjp(_ g: Tensor, _ ctx: VJPContext) -> [Tensor?] {
        precondition(!GradMode.isEnabled, "backward of '\(Self.name)': gradients of gradients (createGraph) are not supported by the fused attention kernel; use scaledDotProductAttentionComposite (or a layer's fused = false) for them")
        let q = ctx.inputs[0].contiguousData(), k = ctx.inputs[1].contiguousData(), v = ctx.inputs[2].contiguousData()
        let (s, mask) = layout(ctx.inputs)
        let be = q.backend
        let gq = Tensor.empty(q.shape, dtype: q.dtype, backend: be)
        let gk = Tensor.empty(k.shape, dtype: k.dtype, backend: be)
        let gv = Tensor.empty(v.shape, dtype: v.dtype, backend: be)
        if gq.count + gk.count + gv.count > 0 {
            be.attentionBackward(q: q.operand, k: k.operand, v: v.operand, mask: mask,
                                 out: ctx.output.contiguousData().operand, lse: ctx.saved[0].operand,
                                 gOut: g.contiguousData().operand, gq: gq.operand, gk: gk.operand, gv: gv.operand, s,
                                 dropout: dropout)
        }
        return [ctx.needs(0) ? gq : nil, ctx.needs(1) ? gk : nil, ctx.needs(2) ? gv : nil] + (ctx.inputs.count > 3 ? [nil] : [])
    }
}

/// Fused scaled-dot-product attention, as `torch.nn.functional.scaled_dot_product_attention`:
/// softmax(q kᵀ · scale + mask) v over q [B, H, Tq, Dh], k [B, H, Tk, Dh], v [B, H, Tk, Dv] (float32 or float64).
///
/// - Parameters:
///   - mask: broadcastable to [B, H, Tq, Tk] (rank 2 to 4). A bool mask says which pairs take part (true: attend, as
///     PyTorch's SDPA); a float mask is added to the scores (-inf forbids a pair). No gradient flows to the mask.
///   - causal: query i attends to keys j <= i only (top-left aligned, as PyTorch's `is_causal`).
///   - scale: the factor on the scores; 1/sqrt(Dh) when nil.
/// - Returns: [B, H, Tq, Dv]. A query row whose keys are all masked gives zeros (PyTorch gives NaN there).
public func scaledDotProductAttention(_ q: Tensor, _ k: Tensor, _ v: Tensor, mask: Tensor? = nil, causal: Bool = false,
                                      scale: Double? = nil) -> Tensor {
    attention(q, k, v, mask: mask, causal: causal, scale: scale, dropout: nil)
}

/// Fused scaled-dot-product attention with dropout `p` on the attention weights (kept weights scaled by 1/(1-p)),
/// drawn from `rng` exactly as `Tensor.dropout` would draw a [B, H, Tq, Tk] mask; backward draws the same values
/// again. See `scaledDotProductAttention(_:_:_:mask:causal:scale:)`.
public func scaledDotProductAttention(_ q: Tensor, _ k: Tensor, _ v: Tensor, mask: Tensor? = nil, causal: Bool = false,
                                      scale: Double? = nil, dropout p: Double, rng: inout RandomState) -> Tensor {
    precondition(p >= 0 && p < 1, "scaled_dot_product_attention: dropout must be in [0, 1), got \(p)")
    if p == 0 { return attention(q, k, v, mask: mask, causal: causal, scale: scale, dropout: nil) }
    let n = q.shape.count == 4 ? q.shape[0] * q.shape[1] * q.shape[2] * k.shape[2] : 0
    let drop = AttentionDropout(p: p, key: rng.key, counter: rng.reserve(n))
    return attention(q, k, v, mask: mask, causal: causal, scale: scale, dropout: drop)
}

private func attention(_ q: Tensor, _ k: Tensor, _ v: Tensor, mask: Tensor?, causal: Bool, scale: Double?,
                       dropout: AttentionDropout?) -> Tensor {
    let op = "scaled_dot_product_attention"
    checkOperands(op, ["query": q, "key": k, "value": v])
    if let mask { checkOperands(op, ["query": q, "mask": mask], sameDType: false) }
    precondition(q.dtype == .float32 || q.dtype == .float64, "\(op): \(q.dtype) is not supported (float32 or float64)")
    precondition(q.rank == 4 && k.rank == 4 && v.rank == 4,
                 "\(op): query, key and value must be [B, H, T, D], got \(q.shape), \(k.shape), \(v.shape)")
    let B = q.shape[0], H = q.shape[1], Tq = q.shape[2], Tk = k.shape[2]
    precondition(k.shape[0] == B && k.shape[1] == H && k.shape[3] == q.shape[3] && v.shape[0] == B && v.shape[1] == H
                 && v.shape[2] == Tk,
                 "\(op): key \(k.shape) and value \(v.shape) do not fit query \(q.shape) (key [B, H, Tk, Dh], value [B, H, Tk, Dv])")
    let s = scale ?? 1 / Double(Swift.max(q.shape[3], 1)).squareRoot()
    let m = mask.map { additiveAttentionMask($0, dtype: q.dtype, target: [B, H, Tq, Tk], op: op) }
    return Tensor.apply(ScaledDotProductAttention(scale: s, causal: causal, dropout: dropout), [q, k, v] + (m.map { [$0] } ?? []))
}

/// The mask as an additive float tensor of rank 4 whose dimensions are 1 or those of `target` (bool: 0 where true,
/// -inf where false).
func additiveAttentionMask(_ mask: Tensor, dtype: DType, target: [Int], op: String) -> Tensor {
    precondition(mask.rank >= 1 && mask.rank <= 4, "\(op): mask must have rank 1 to 4, got \(mask.shape)")
    let shape4 = [Int](repeating: 1, count: 4 - mask.rank) + mask.shape
    for d in 0..<4 {
        precondition(shape4[d] == 1 || shape4[d] == target[d],
                     "\(op): mask \(mask.shape) does not broadcast to [B, H, Tq, Tk] = \(target)")
    }
    return withoutGrad {
        var m = mask.reshaped(shape4)
        if m.dtype == .bool {
            m = Tensor.where(m, Tensor(0, dtype: dtype, on: m.backend), Tensor(-Double.infinity, dtype: dtype, on: m.backend))
        } else if m.dtype != dtype {
            m = m.cast(dtype)
        }
        if shape4[3] != target[3] { m = m.expanded(to: [shape4[0], shape4[1], shape4[2], target[3]]) }
        return m.contiguous()
    }
}

/// Scaled-dot-product attention from differentiable primitives: softmax(q kᵀ · scale + mask (+ causal)) (dropped out)
/// v, with the [B, H, Tq, Tk] weights in memory. The same function as the fused op (and the same dropout draws for the
/// same `rng`), and the one to use for gradients of gradients. Rows with every key masked give NaN here.
public func scaledDotProductAttentionComposite(_ q: Tensor, _ k: Tensor, _ v: Tensor, mask: Tensor? = nil,
                                               causal: Bool = false, scale: Double? = nil, dropout p: Double = 0,
                                               rng: inout RandomState) -> Tensor {
    let Tq = q.shape[q.rank - 2], Tk = k.shape[k.rank - 2]
    let s = scale ?? 1 / Double(Swift.max(q.shape[q.rank - 1], 1)).squareRoot()
    var scores = q.matmul(k.transposed(-2, -1)) * s
    if let mask {
        let target = [q.shape[0], q.shape[1], Tq, Tk]
        scores = scores + additiveAttentionMask(mask, dtype: q.dtype, target: target, op: "attention")
    }
    if causal {
        let allowed = (0..<Tq * Tk).map { $0 % Tk <= $0 / Tk }
        let c = DefaultBackend.with(q.backend) {
            Tensor(allowed.map { $0 ? 0.0 : -Double.infinity }, shape: [Tq, Tk], dtype: q.dtype)
        }
        scores = scores + c
    }
    var w = scores.softmax(axis: -1)
    if p > 0 { w = w.dropout(p, training: true, rng: &rng) }
    return w.matmul(v)
}
