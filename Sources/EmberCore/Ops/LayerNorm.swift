/// Layer normalization as one primitive over the backend's fused kernels (`layerNormForward` / `layerNormBackward`):
/// one op per call instead of about six elementwise ops and two reductions forward (and twice that backward), each
/// of which was a pass over the activations and a parallel region. Inputs [x] or [x, weight, bias]; the normalized
/// part is the trailing `normalizedCount` values of each row.
extension OpRegistry {
    static let layerNormOps: [any PrimitiveOp.Type] = [LayerNormOp.self]
}

/// (x - mean) / sqrt(var + eps) * weight + bias over each row of the trailing `normalizedCount` values (biased
/// variance, as PyTorch's `layer_norm`). The VJP recomputes the row statistics from x.
struct LayerNormOp: PrimitiveOp {
    static let name = "layer_norm"
    let eps: Double
    /// The trailing dimensions normalized together.
    let normalizedShape: [Int]
    var attributes: [String: OpAttribute] { ["eps": .double(eps), "normalizedShape": .ints(normalizedShape)] }
    var cols: Int { normalizedShape.reduce(1, *) }

    func forward(_ inputs: [Tensor]) -> Tensor {
        let x = inputs[0]
        let y = Tensor.empty(x.shape, dtype: x.dtype, backend: x.backend)
        if y.count == 0 { return y }
        let w = inputs.count > 1 ? inputs[1].contiguousData() : nil, b = inputs.count > 2 ? inputs[2].contiguousData() : nil
        x.backend.layerNormForward(x.contiguousData().operand, weight: w?.operand, bias: b?.operand, y.operand,
                                   rows: x.count / cols, cols: cols, eps: eps)
        return y
    }

    func vjp(_ g: Tensor, _ c: VJPContext) -> [Tensor?] {
        let x = c.inputs[0], affine = c.inputs.count > 1
        if GradMode.isEnabled { return composite(g, x, affine ? c.inputs[1] : nil, c) }
        let gx = c.needs(0) ? Tensor.empty(x.shape, dtype: x.dtype, backend: x.backend) : nil
        let gw = affine && c.needs(1) ? Tensor.empty(normalizedShape, dtype: x.dtype, backend: x.backend) : nil
        let gb = affine && c.needs(2) ? Tensor.empty(normalizedShape, dtype: x.dtype, backend: x.backend) : nil
        if x.count == 0 {
            for t in [gw, gb] { if let t { x.backend.fill(t.operand, count: t.count, value: 0) } }
        } else if gx != nil || gw != nil || gb != nil {
            let wc = affine ? c.inputs[1].contiguousData() : nil
            x.backend.layerNormBackward(g.contiguousData().operand, x.contiguousData().operand, weight: wc?.operand,
                                        gx: gx?.operand, gweight: gw?.operand, gbias: gb?.operand,
                                        rows: x.count / cols, cols: cols, eps: eps)
        }
        return affine ? [gx, gw, gb] : [gx]
    }

    /// The same gradients in differentiable ops (for `createGraph`).
    private func composite(_ g: Tensor, _ x: Tensor, _ weight: Tensor?, _ c: VJPContext) -> [Tensor?] {
        let axes = Array((x.rank - normalizedShape.count)..<x.rank)
        let d = x - x.mean(axes: axes, keepDims: true)
        let invstd = ((d * d).mean(axes: axes, keepDims: true) + eps).rsqrt()
        let xhat = d * invstd
        let gxhat = weight.map { g * $0 } ?? g
        let gx = c.needs(0)
            ? invstd * (gxhat - gxhat.mean(axes: axes, keepDims: true) - xhat * (gxhat * xhat).mean(axes: axes, keepDims: true))
            : nil
        guard weight != nil else { return [gx] }
        let lead = Array(0..<(x.rank - normalizedShape.count))
        return [gx, c.needs(1) ? (g * xhat).sum(axes: lead) : nil, c.needs(2) ? g.sum(axes: lead) : nil]
    }
}

/// Layer normalization over the trailing `normalizedShape` dimensions of x (float32 or float64), as
/// `torch.nn.functional.layer_norm`: (x - mean) / sqrt(var + eps) * weight + bias with the biased variance of each
/// row; weight and bias of `normalizedShape` come together or not at all.
public func layerNorm(_ x: Tensor, normalizedShape: [Int], weight: Tensor?, bias: Tensor?, eps: Double) -> Tensor {
    checkOperands("layerNorm", ["input": x, "weight": weight, "bias": bias])
    let k = normalizedShape.count
    precondition(k >= 1 && x.rank >= k && Array(x.shape.suffix(k)) == normalizedShape,
                 "layerNorm: input \(x.shape) does not end with \(normalizedShape)")
    precondition(x.dtype == .float32 || x.dtype == .float64, "layerNorm: needs a float32 or float64 input, got \(x.dtype)")
    precondition((weight == nil) == (bias == nil), "layerNorm: give weight and bias together or neither")
    if let weight, let bias {
        precondition(weight.shape == normalizedShape && bias.shape == normalizedShape,
                     "layerNorm: weight \(weight.shape) and bias \(bias.shape) must be \(normalizedShape) for input \(x.shape)")
    }
    let inputs = [x] + (weight.map { [$0, bias!] } ?? [])
    return Tensor.apply(LayerNormOp(eps: eps, normalizedShape: normalizedShape), inputs)
}
