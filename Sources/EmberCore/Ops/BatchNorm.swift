/// Training-mode batch normalization as two primitives over the backend's fused kernels: `batch_norm_stats`
/// (per-channel mean and biased variance, one pass each) and `batch_norm_train` (normalize and scale in one pass; its
/// VJP is one pass for the per-channel sums and one for the input gradient). The statistics are an input of
/// `batch_norm_train` only so that traces and the running averages see them: its VJP differentiates through them
/// (they are x's own statistics), so `batch_norm_stats` itself carries no gradient.
extension OpRegistry {
    static let batchNormOps: [any PrimitiveOp.Type] = [BatchNormStats.self, BatchNormTrain.self, BatchNormInference.self]
}

/// Evaluation-mode batch normalization with fixed statistics: inputs [x, running_mean, running_var] or
/// [x, running_mean, running_var, weight, bias]; y = (x - mean) / sqrt(var + eps) * weight + bias per channel, one
/// pass of the backend's `batchNormApply`. The statistics are constants to the VJP (PyTorch's eval mode); the VJP is
/// written in differentiable ops. One primitive, so a trace (and an ONNX export) sees one batch-norm node.
struct BatchNormInference: PrimitiveOp {
    static let name = "batch_norm_inference"
    let eps: Double
    var attributes: [String: OpAttribute] { ["eps": .double(eps)] }

    func forward(_ inputs: [Tensor]) -> Tensor {
        let x = inputs[0], (n, c, inner) = channelLayout(x)
        let y = Tensor.empty(x.shape, dtype: x.dtype, backend: x.backend)
        if y.count == 0 { return y }
        let stats = stack([inputs[1].cast(x.dtype), inputs[2].cast(x.dtype)], axis: 0).contiguous()
        let w = inputs.count > 3 ? inputs[3].contiguousData() : nil, b = inputs.count > 4 ? inputs[4].contiguousData() : nil
        x.backend.batchNormApply(x.contiguousData().operand, stats: stats.operand, weight: w?.operand, bias: b?.operand,
                                 y.operand, batch: n, channels: c, inner: inner, eps: eps)
        return y
    }

    func vjp(_ g: Tensor, _ c: VJPContext) -> [Tensor?] {
        let x = c.inputs[0], axes = [0] + Array(2..<x.rank)
        var bshape = [Int](repeating: 1, count: x.rank)
        bshape[1] = x.shape[1]
        let invstd = (c.inputs[2].cast(x.dtype) + eps).rsqrt().reshaped(bshape)
        let weight: Tensor? = c.inputs.count > 3 ? c.inputs[3].reshaped(bshape) : nil
        let gx = c.needs(0) ? g * (weight.map { invstd * $0 } ?? invstd) : nil
        guard c.inputs.count > 3 else { return [gx, nil, nil] }
        let xhat = (x - c.inputs[1].cast(x.dtype).reshaped(bshape)) * invstd
        return [gx, nil, nil, c.needs(3) ? (g * xhat).sum(axes: axes) : nil, c.needs(4) ? g.sum(axes: axes) : nil]
    }
}

/// Evaluation-mode batch normalization over axis 1 of x [N, C, ...] (float32 or float64) with fixed statistics, as
/// `torch.nn.functional.batch_norm(training=False)`: (x - mean) / sqrt(var + eps) * weight + bias.
public func batchNormInference(_ x: Tensor, mean: Tensor, variance: Tensor, weight: Tensor?, bias: Tensor?,
                               eps: Double) -> Tensor {
    checkOperands("batchNorm", ["input": x, "running_mean": mean, "running_var": variance, "weight": weight, "bias": bias],
                  sameDType: false)
    precondition(x.rank >= 2, "batchNorm: input \(x.shape) must be [N, C, ...]")
    precondition(x.dtype == .float32 || x.dtype == .float64, "batchNorm: needs a float32 or float64 input, got \(x.dtype)")
    precondition((weight == nil) == (bias == nil), "batchNorm: give weight and bias together or neither")
    let c = x.shape[1]
    precondition(mean.shape == [c] && variance.shape == [c], "batchNorm: running statistics \(mean.shape), \(variance.shape) must be [\(c)]")
    if let weight, let bias {
        precondition(weight.shape == [c] && bias.shape == [c],
                     "batchNorm: weight \(weight.shape) and bias \(bias.shape) must be [\(c)] for input \(x.shape)")
    }
    let inputs = [x, mean, variance] + (weight.map { [$0.cast(x.dtype), bias!.cast(x.dtype)] } ?? [])
    return Tensor.apply(BatchNormInference(eps: eps), inputs)
}

/// x [N, C, ...] viewed as [N, C, inner].
private func channelLayout(_ x: Tensor) -> (batch: Int, channels: Int, inner: Int) {
    (x.shape[0], x.shape[1], x.shape.dropFirst(2).reduce(1, *))
}

/// Per-channel [mean, biased variance] of x [N, C, ...] as a [2, C] tensor of x's dtype. No gradient.
struct BatchNormStats: PrimitiveOp {
    static let name = "batch_norm_stats"
    static var isDifferentiable: Bool { false }
    func forward(_ inputs: [Tensor]) -> Tensor {
        let x = inputs[0], (n, c, inner) = channelLayout(x)
        let stats = Tensor.empty([2, c], dtype: x.dtype, backend: x.backend)
        if c > 0 { x.backend.batchNormStats(x.contiguousData().operand, stats.operand, batch: n, channels: c, inner: inner) }
        return stats
    }
}

/// (x - mean) / sqrt(var + eps) * weight + bias per channel, inputs [x, stats] or [x, stats, weight, bias] with
/// stats = batch_norm_stats(x). The VJP treats the statistics as functions of x (training mode).
struct BatchNormTrain: PrimitiveOp {
    static let name = "batch_norm_train"
    let eps: Double
    var attributes: [String: OpAttribute] { ["eps": .double(eps)] }

    func forward(_ inputs: [Tensor]) -> Tensor {
        let x = inputs[0], stats = inputs[1], (n, c, inner) = channelLayout(x)
        let y = Tensor.empty(x.shape, dtype: x.dtype, backend: x.backend)
        if y.count == 0 { return y }
        let w = inputs.count > 2 ? inputs[2].contiguousData() : nil, b = inputs.count > 3 ? inputs[3].contiguousData() : nil
        x.backend.batchNormApply(x.contiguousData().operand, stats: stats.contiguousData().operand, weight: w?.operand,
                                 bias: b?.operand, y.operand, batch: n, channels: c, inner: inner, eps: eps)
        return y
    }

    func vjp(_ g: Tensor, _ c: VJPContext) -> [Tensor?] {
        let x = c.inputs[0], weight: Tensor? = c.inputs.count > 2 ? c.inputs[2] : nil
        let affine = c.inputs.count > 2
        if GradMode.isEnabled { return composite(g, x, weight, c) }
        let (n, ch, inner) = channelLayout(x)
        let gx = c.needs(0) ? Tensor.empty(x.shape, dtype: x.dtype, backend: x.backend) : nil
        let gw = affine && c.needs(2) ? Tensor.empty([ch], dtype: x.dtype, backend: x.backend) : nil
        let gb = affine && c.needs(3) ? Tensor.empty([ch], dtype: x.dtype, backend: x.backend) : nil
        if x.count == 0 {
            for t in [gw, gb] { if let t { x.backend.fill(t.operand, count: t.count, value: 0) } }
        } else {
            let wc = weight?.contiguousData()
            x.backend.batchNormBackward(g.contiguousData().operand, x.contiguousData().operand,
                                        stats: c.inputs[1].contiguousData().operand, weight: wc?.operand,
                                        gx: gx?.operand, gweight: gw?.operand, gbias: gb?.operand, batch: n,
                                        channels: ch, inner: inner, eps: eps)
        }
        return affine ? [gx, nil, gw, gb] : [gx, nil]
    }

    /// The same gradients in differentiable ops, statistics recomputed from x (for `createGraph`).
    private func composite(_ g: Tensor, _ x: Tensor, _ weight: Tensor?, _ c: VJPContext) -> [Tensor?] {
        let axes = [0] + Array(2..<x.rank)
        var bshape = [Int](repeating: 1, count: x.rank)
        bshape[1] = x.shape[1]
        let d = x - x.mean(axes: axes, keepDims: true)
        let invstd = ((d * d).mean(axes: axes, keepDims: true) + eps).rsqrt()
        let xhat = d * invstd
        let gxhat = weight.map { g * $0.reshaped(bshape) } ?? g
        let gx = c.needs(0)
            ? invstd * (gxhat - gxhat.mean(axes: axes, keepDims: true) - xhat * (gxhat * xhat).mean(axes: axes, keepDims: true))
            : nil
        guard weight != nil else { return [gx, nil] }
        return [gx, nil, c.needs(2) ? (g * xhat).sum(axes: axes) : nil, c.needs(3) ? g.sum(axes: axes) : nil]
    }
}

/// Training-mode batch normalization over axis 1 of x [N, C, ...] (float32 or float64) with the batch's own
/// statistics, as `torch.nn.functional.batch_norm(training=True)`: (x - mean) / sqrt(var + eps) * weight + bias,
/// mean and biased variance over every axis but 1. Returns the output and the statistics [2, C] (row 0 the mean,
/// row 1 the biased variance; no gradient) for running averages. Weight and bias [C] come together or not at all.
public func batchNormTraining(_ x: Tensor, weight: Tensor?, bias: Tensor?, eps: Double) -> (output: Tensor, stats: Tensor) {
    checkOperands("batchNorm", ["input": x, "weight": weight, "bias": bias])
    precondition(x.rank >= 2, "batchNorm: input \(x.shape) must be [N, C, ...]")
    precondition(x.dtype == .float32 || x.dtype == .float64, "batchNorm: needs a float32 or float64 input, got \(x.dtype)")
    precondition((weight == nil) == (bias == nil), "batchNorm: give weight and bias together or neither")
    let c = x.shape[1]
    if let weight, let bias {
        precondition(weight.shape == [c] && bias.shape == [c],
                     "batchNorm: weight \(weight.shape) and bias \(bias.shape) must be [\(c)] for input \(x.shape)")
    }
    let stats = Tensor.apply(BatchNormStats(), [x])
    let inputs = [x, stats] + (weight.map { [$0, bias!] } ?? [])
    return (Tensor.apply(BatchNormTrain(eps: eps), inputs), stats)
}
