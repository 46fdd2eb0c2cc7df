/// How a loss combines per-element values.
public enum Reduction: String, Sendable, Codable {
    case mean, sum, none

    func apply(_ t: Tensor) -> Tensor {
        switch self {
        case .mean: return t.mean()
        case .sum: return t.sum()
        case .none: return t
        }
    }
}

/// Moves the class dimension 1 of [N, C, d1, ...] last and flattens: [N*d1*..., C].
private func classesLast(_ x: Tensor) -> Tensor {
    if x.rank == 2 { return x }
    precondition(x.rank >= 2, "loss: input must have a class dimension, got shape \(x.shape)")
    var perm = [0] + Array(2..<x.rank)
    perm.append(1)
    return x.permuted(perm).reshaped([-1, x.shape[1]])
}

/// Negative log-likelihood of class indices under log-probabilities [N, C] (or [N, C, d...]), as
/// `torch.nn.functional.nll_loss`: optional per-class `weight`, `ignoreIndex` targets skipped; the mean divides by
/// the total weight of the counted targets.
public func nllLoss(_ logProbs: Tensor, _ target: Tensor, weight: Tensor? = nil, ignoreIndex: Int = -100,
                    reduction: Reduction = .mean) -> Tensor {
    crossEntropyCore("nllLoss", logProbs: classesLast(logProbs), target: target, weight: weight, ignoreIndex: ignoreIndex,
                     labelSmoothing: 0, reduction: reduction, outShape: logProbs.rank > 2 ? [logProbs.shape[0]] + Array(logProbs.shape[2...]) : [logProbs.shape[0]])
}

/// Cross-entropy between logits [N, C] (or [N, C, d...]) and either class indices (int tensor [N] / [N, d...]) or
/// class probabilities (float tensor shaped like the logits), as `torch.nn.functional.cross_entropy`, with class
/// weights, `ignoreIndex` and label smoothing.
public func crossEntropy(_ logits: Tensor, _ target: Tensor, weight: Tensor? = nil, ignoreIndex: Int = -100,
                         labelSmoothing: Double = 0, reduction: Reduction = .mean) -> Tensor {
    precondition(labelSmoothing >= 0 && labelSmoothing <= 1, "crossEntropy: label smoothing must be in [0, 1], got \(labelSmoothing)")
    let logp = classesLast(logits).logSoftmax(axis: -1)
    let c = logp.shape[1]
    if target.dtype.isFloatingPoint {
        precondition(target.shape == logits.shape, "crossEntropy: probability target \(target.shape) must match logits \(logits.shape)")
        var p = classesLast(target)
        if labelSmoothing > 0 { p = p * (1 - labelSmoothing) + labelSmoothing / Double(c) }
        var terms = -(logp * p)
        if let weight { terms = terms * weight.reshaped([1, c]) }
        let per = terms.sum(axis: 1)
        switch reduction {
        case .mean: return per.sum() / Double(Swift.max(per.count, 1))
        case .sum: return per.sum()
        case .none: return per.reshaped(logits.rank > 2 ? [logits.shape[0]] + Array(logits.shape[2...]) : [logits.shape[0]])
        }
    }
    return crossEntropyCore("crossEntropy", logProbs: logp, target: target, weight: weight, ignoreIndex: ignoreIndex,
                            labelSmoothing: labelSmoothing, reduction: reduction,
                            outShape: logits.rank > 2 ? [logits.shape[0]] + Array(logits.shape[2...]) : [logits.shape[0]])
}

private func crossEntropyCore(_ op: String, logProbs logp: Tensor, target: Tensor, weight: Tensor?, ignoreIndex: Int,
                              labelSmoothing: Double, reduction: Reduction, outShape: [Int]) -> Tensor {
    let n = logp.shape[0], c = logp.shape[1]
    // Targets outside [0, classes) (other than ignoreIndex) stop here with the op, the target and its row, not in
    // the gather below. Data from outside is checked with `validateClassTargets` before it gets here (Trainer does).
    if let error = classTargetError(target, classes: c, ignoreIndex: ignoreIndex, op: op) { preconditionFailure(error.description) }
    let t = target.reshaped([-1]).cast(.int64)
    precondition(t.count == n, "crossEntropy: \(t.count) targets for \(n) predictions (logits flattened to [\(n), \(c)])")
    if let weight { precondition(weight.shape == [c], "crossEntropy: weight must be [\(c)], got \(weight.shape)") }
    let valid = t .!= Double(ignoreIndex)
    let safe = Tensor.where(valid, t, t.zerosLike())
    let validF = valid.cast(logp.dtype)
    // per-target weight w[y_i], zero where ignored
    let wy = weight.map { $0.gather(axis: 0, index: safe).cast(logp.dtype) * validF } ?? validF
    // An ignored target contributes exactly 0, as in PyTorch: selected away, not multiplied by 0 (a NaN or +inf
    // logit in that row makes its log-probabilities NaN, and NaN * 0 is NaN).
    let gathered = logp.gather(axis: 1, index: safe.reshaped([n, 1])).reshaped([n])
    let picked = Tensor.where(valid, gathered, gathered.zerosLike())
    var per = -(picked * wy)
    var smooth: Tensor? = nil
    if labelSmoothing > 0 {
        let all = weight.map { (logp * $0.reshaped([1, c]).cast(logp.dtype)).sum(axis: 1) } ?? logp.sum(axis: 1)
        smooth = -Tensor.where(valid, all, all.zerosLike())
    }
    switch reduction {
    case .none:
        if let smooth { per = per * (1 - labelSmoothing) + smooth * (labelSmoothing / Double(c)) }
        return per.reshaped(outShape)
    case .sum:
        var r = per.sum()
        if let smooth { r = r * (1 - labelSmoothing) + smooth.sum() * (labelSmoothing / Double(c)) }
        return r
    case .mean:
        let denom = wy.sum()
        var r = per.sum() / denom
        if let smooth { r = r * (1 - labelSmoothing) + smooth.sum() / denom * (labelSmoothing / Double(c)) }
        return r
    }
}

/// Binary cross-entropy of probabilities in [0, 1]; logs are clamped at -100 as in PyTorch.
public func binaryCrossEntropy(_ input: Tensor, _ target: Tensor, weight: Tensor? = nil, reduction: Reduction = .mean) -> Tensor {
    precondition(input.shape == target.shape, "binaryCrossEntropy: input \(input.shape) and target \(target.shape) differ")
    let t = target.cast(input.dtype)
    var l = -(t * input.log().clamp(min: -100) + (1 - t) * (1 - input).log().clamp(min: -100))
    if let weight { l = l * weight }
    return reduction.apply(l)
}

/// Binary cross-entropy on logits, computed stably; `posWeight` scales the positive term (per class, broadcast).
public func binaryCrossEntropyWithLogits(_ logits: Tensor, _ target: Tensor, weight: Tensor? = nil,
                                         posWeight: Tensor? = nil, reduction: Reduction = .mean) -> Tensor {
    precondition(logits.shape == target.shape, "binaryCrossEntropyWithLogits: input \(logits.shape) and target \(target.shape) differ")
    let t = target.cast(logits.dtype)
    // -log(sigmoid(x)) = softplus(-x), stable (linear past the threshold). Not log1p(exp(-|x|)) + relu(-x): equal in
    // value, but the two kinks' subgradients at x = 0 give slope 0 there instead of -1/2.
    let logSigNeg = (-logits).softplus()
    var l: Tensor
    if let posWeight {
        l = (1 - t) * logits + (1 + (posWeight - 1) * t) * logSigNeg
    } else {
        l = (1 - t) * logits + logSigNeg
    }
    if let weight { l = l * weight }
    return reduction.apply(l)
}

/// Mean squared error.
public func mseLoss(_ input: Tensor, _ target: Tensor, reduction: Reduction = .mean) -> Tensor {
    let d = input - target
    return reduction.apply(d * d)
}

/// Mean absolute error.
public func l1Loss(_ input: Tensor, _ target: Tensor, reduction: Reduction = .mean) -> Tensor {
    reduction.apply((input - target).abs())
}

/// Smooth L1: 0.5 d²/beta where |d| < beta, else |d| - 0.5 beta.
public func smoothL1Loss(_ input: Tensor, _ target: Tensor, beta: Double = 1, reduction: Reduction = .mean) -> Tensor {
    let d = (input - target).abs()
    if beta == 0 { return reduction.apply(d) }
    let l = Tensor.where(d .< beta, d * d * (0.5 / beta), d - 0.5 * beta)
    return reduction.apply(l)
}

/// Huber loss: 0.5 d² where |d| <= delta, else delta (|d| - 0.5 delta).
public func huberLoss(_ input: Tensor, _ target: Tensor, delta: Double = 1, reduction: Reduction = .mean) -> Tensor {
    let d = (input - target).abs()
    let l = Tensor.where(d .<= delta, d * d * 0.5, (d - 0.5 * delta) * delta)
    return reduction.apply(l)
}

/// How `klDivLoss` reduces.
public enum KLReduction: String, Sendable { case mean, sum, none, batchmean }

/// Kullback-Leibler divergence KL(target || input) with `input` as log-probabilities, as
/// `torch.nn.functional.kl_div` (target probabilities, or log-probabilities with `logTarget`).
public func klDivLoss(_ input: Tensor, _ target: Tensor, reduction: KLReduction = .mean, logTarget: Bool = false) -> Tensor {
    precondition(input.shape == target.shape, "klDivLoss: input \(input.shape) and target \(target.shape) differ")
    let l: Tensor
    if logTarget {
        l = target.exp() * (target - input)
    } else {
        // xlogy: 0 where target == 0
        let safe = Tensor.where(target .> 0, target, target.onesLike())
        l = Tensor.where(target .> 0, target * (safe.log() - input), target.zerosLike())
    }
    switch reduction {
    case .mean: return l.mean()
    case .sum: return l.sum()
    case .none: return l
    case .batchmean: return l.sum() / Double(Swift.max(input.shape.first ?? 1, 1))
    }
}
