/// Batch normalization over the channel dimension 1 of [N, C] / [N, C, L] (BatchNorm1d) or [N, C, H, W]
/// (BatchNorm2d). Training mode normalizes with batch statistics (biased variance) and updates the running ones
/// (unbiased variance, `momentum`); evaluation mode uses the running statistics.
public class BatchNorm: Module {
    public let weight: Tensor?
    public let bias: Tensor?
    @Buffer public var runningMean: Tensor
    @Buffer public var runningVar: Tensor
    @Buffer public var numBatchesTracked: Tensor
    public let eps: Double, momentum: Double
    let expectedRanks: Set<Int>

    init(_ features: Int, eps: Double, momentum: Double, affine: Bool, ranks: Set<Int>) {
        self.eps = eps
        self.momentum = momentum
        self.expectedRanks = ranks
        weight = affine ? makeParameter([features]) { Init.ones($0) } : nil
        bias = affine ? makeParameter([features]) { Init.zeros($0) } : nil
        runningMean = Tensor.zeros([features])
        runningVar = Tensor.ones([features])
        numBatchesTracked = Tensor.zeros([], dtype: .int64)
    }

    override public func forward(_ x: Tensor) -> Tensor {
        checkOperands("\(type(of: self))", ["input": x, "weight": weight, "bias": bias, "running_mean": runningMean,
                                            "running_var": runningVar])
        precondition(expectedRanks.contains(x.rank) && x.shape[1] == runningMean.count,
                     "\(type(of: self)): input \(x.shape) does not match \(runningMean.count) features")
        let c = x.shape[1]
        let axes = [0] + Array(2..<x.rank)
        var bshape = [Int](repeating: 1, count: x.rank)
        bshape[1] = c
        let mean: Tensor, variance: Tensor
        if training && (x.dtype == .float32 || x.dtype == .float64) {
            // the fused kernels: statistics, normalization and its backward in a few passes
            let (y, stats) = batchNormTraining(x, weight: weight, bias: bias, eps: eps)
            updateRunningStatistics(mean: stats[0], variance: stats[1], count: x.count / Swift.max(c, 1))
            return y
        }
        if !training && (x.dtype == .float32 || x.dtype == .float64) {
            // one fused pass with the running statistics (and one node in a trace / ONNX export)
            return batchNormInference(x, mean: runningMean, variance: runningVar, weight: weight, bias: bias, eps: eps)
        }
        if training {
            mean = x.mean(axes: axes, keepDims: true)
            let d = x - mean
            variance = (d * d).mean(axes: axes, keepDims: true)
            updateRunningStatistics(mean: mean.reshaped([c]), variance: variance.reshaped([c]), count: x.count / Swift.max(c, 1))
        } else {
            mean = runningMean.reshaped(bshape)
            variance = runningVar.reshaped(bshape)
        }
        var y = (x - mean) * (variance + eps).rsqrt()
        if let weight, let bias { y = y * weight.reshaped(bshape) + bias.reshaped(bshape) }
        return y
    }

    /// Moves the running statistics towards a batch's mean and biased variance (over `count` values per channel).
    private func updateRunningStatistics(mean: Tensor, variance: Tensor, count n: Int) {
        withoutGrad {
            runningMean.scaleAdd(1 - momentum, mean.detached().cast(runningMean.dtype), momentum)
            let unbiased = variance.detached() * (Double(n) / Double(Swift.max(n - 1, 1)))
            runningVar.scaleAdd(1 - momentum, unbiased.cast(runningVar.dtype), momentum)
            numBatchesTracked.assign(numBatchesTracked + 1)
        }
    }
}

/// Batch normalization for [N, C] or [N, C, L].
public final class BatchNorm1d: BatchNorm {
    public init(_ features: Int, eps: Double = 1e-5, momentum: Double = 0.1, affine: Bool = true) {
        super.init(features, eps: eps, momentum: momentum, affine: affine, ranks: [2, 3])
    }
    override public var layerDescription: String { "BatchNorm1d(\(runningMean.count))" }
}

/// Batch normalization for [N, C, H, W].
public final class BatchNorm2d: BatchNorm {
    public init(_ features: Int, eps: Double = 1e-5, momentum: Double = 0.1, affine: Bool = true) {
        super.init(features, eps: eps, momentum: momentum, affine: affine, ranks: [4])
    }
    override public var layerDescription: String { "BatchNorm2d(\(runningMean.count))" }
}

/// Layer normalization over the trailing `normalizedShape` dimensions (biased variance), with affine parameters.
public final class LayerNorm: Module {
    public let weight: Tensor?
    public let bias: Tensor?
    public let normalizedShape: [Int]
    public let eps: Double

    public init(_ normalizedShape: [Int], eps: Double = 1e-5, affine: Bool = true) {
        self.normalizedShape = normalizedShape
        self.eps = eps
        weight = affine ? makeParameter(normalizedShape) { Init.ones($0) } : nil
        bias = affine ? makeParameter(normalizedShape) { Init.zeros($0) } : nil
    }

    override public func forward(_ x: Tensor) -> Tensor {
        checkOperands("LayerNorm", ["input": x, "weight": weight, "bias": bias])
        let k = normalizedShape.count
        precondition(x.rank >= k && Array(x.shape.suffix(k)) == normalizedShape,
                     "LayerNorm: input \(x.shape) does not end with \(normalizedShape)")
        if x.dtype == .float32 || x.dtype == .float64 {
            return layerNorm(x, normalizedShape: normalizedShape, weight: weight, bias: bias, eps: eps)
        }
        // Half-precision inputs: the same formula in elementwise ops.
        let axes = Array((x.rank - k)..<x.rank)
        let mean = x.mean(axes: axes, keepDims: true)
        let d = x - mean
        var y = d * ((d * d).mean(axes: axes, keepDims: true) + eps).rsqrt()
        if let weight, let bias { y = y * weight + bias }
        return y
    }
}

/// Group normalization: channels of [N, C, ...] split into groups, each normalized over its channels and positions.
public final class GroupNorm: Module {
    public let weight: Tensor?
    public let bias: Tensor?
    public let groups: Int, channels: Int
    public let eps: Double

    public init(groups: Int, channels: Int, eps: Double = 1e-5, affine: Bool = true) {
        precondition(channels % groups == 0, "GroupNorm: \(channels) channels not divisible into \(groups) groups")
        self.groups = groups; self.channels = channels; self.eps = eps
        weight = affine ? makeParameter([channels]) { Init.ones($0) } : nil
        bias = affine ? makeParameter([channels]) { Init.zeros($0) } : nil
    }

    override public func forward(_ x: Tensor) -> Tensor {
        checkOperands("GroupNorm", ["input": x, "weight": weight, "bias": bias])
        precondition(x.rank >= 2 && x.shape[1] == channels, "GroupNorm: input \(x.shape) does not have \(channels) channels")
        let n = x.shape[0]
        let g = x.reshaped([n, groups, -1])
        let mean = g.mean(axis: 2, keepDims: true)
        let d = g - mean
        var y = (d * ((d * d).mean(axis: 2, keepDims: true) + eps).rsqrt()).reshaped(x.shape)
        if let weight, let bias {
            var bshape = [Int](repeating: 1, count: x.rank)
            bshape[1] = channels
            y = y * weight.reshaped(bshape) + bias.reshaped(bshape)
        }
        return y
    }
}
