import EmberCore
import EmberNN

// Gradient-based attribution for any differentiable model: saliency maps (Simonyan et al., 2014) and integrated
// gradients (Sundararajan et al., 2017). Both run Ember's tape with the input as the only leaf, so they work for any
// `(Tensor) -> Tensor` built from Ember ops, including a `Module`.

/// The seed that selects, for each example, the output being explained: output[i, targets[i]] for outputs [n, classes],
/// or the whole output when `targets` is nil.
private func selectionSeed(_ out: Tensor, targets: [Int]?) -> Tensor {
    guard let targets else { return Tensor.ones(out.shape, dtype: out.dtype) }
    precondition(out.rank == 2, "attribution: with targets the model output must be [n, classes], got \(out.shape)")
    precondition(targets.count == out.shape[0], "attribution: \(targets.count) targets for \(out.shape[0]) outputs")
    var seed = [Float](repeating: 0, count: out.count)
    for (i, t) in targets.enumerated() {
        precondition(t >= 0 && t < out.shape[1], "attribution: target \(t) is outside 0..<\(out.shape[1])")
        seed[i * out.shape[1] + t] = 1
    }
    return Tensor(seed, shape: out.shape).cast(out.dtype)
}

/// The gradient of the selected output with respect to the input: a saliency map with the input's shape.
///
/// Each example's map is ∂ output[i, targets[i]] / ∂ input[i] (examples must not interact, as in any model without
/// batch statistics in training mode). For a linear model `x · Wᵀ + b` the map of class c is row c of W.
/// For images, ``saliencyMagnitude(_:)`` turns [n, channels, h, w] maps into [n, h, w] heatmaps.
///
/// - Parameters:
///   - model: any differentiable function of a batch; inputs are [n, ...].
///   - input: the examples to explain.
///   - targets: the class to explain per example (nil: explain the sum of the outputs).
public func saliency(of model: (Tensor) -> Tensor, input: Tensor, targets: [Int]?) -> Tensor {
    precondition(input.dtype.isFloatingPoint, "saliency: input must be a float tensor, got \(input.dtype)")
    let x = input.detached()
    x.requiresGrad = true
    let out = model(x)
    guard out.requiresGrad else { return Tensor.zeros(input.shape, dtype: input.dtype) }
    return gradients(of: out, wrt: [x], seed: selectionSeed(out, targets: targets))[0]
}

/// Saliency of a `Module`, computed in evaluation mode (dropout off, batch norm on running statistics).
public func saliency(of model: Module, input: Tensor, targets: [Int]?) -> Tensor {
    withEvaluationMode(model) { saliency(of: { model($0) }, input: input, targets: targets) }
}

/// Per-pixel saliency of image maps [n, channels, h, w]: the largest absolute gradient over channels, [n, h, w].
public func saliencyMagnitude(_ maps: Tensor) -> Tensor {
    precondition(maps.rank == 4, "saliencyMagnitude: expected [n, channels, h, w], got \(maps.shape)")
    return withoutGrad { maps.abs().max(axis: 1) }
}

/// Integrated-gradients attributions with their completeness check.
public struct Attributions: @unchecked Sendable {
    /// Attribution of every input element, same shape as the input.
    public let values: Tensor
    /// f(input) − f(baseline) of the explained output, per example.
    public let outputDifference: [Double]
    /// Sum of each example's attributions minus its output difference: the integration error (completeness says 0).
    public let convergenceDelta: [Double]
}

/// Integrated gradients: (x − x′) ⊙ ∫₀¹ ∂f(x′ + α(x − x′))/∂x dα, by the trapezoidal rule with `steps` intervals.
///
/// The attributions of an example sum to f(x) − f(x′) up to the integration error reported in `convergenceDelta`
/// (exact when the gradient is linear along the path, O(1/steps²) for smooth models).
///
/// - Parameters:
///   - model: any differentiable function of a batch; inputs are [n, ...].
///   - input: examples [n, ...].
///   - targets: class per example for outputs [n, classes]; nil for outputs with one value per example.
///   - baseline: the reference input, [n, ...] or one example [...] (default: zeros).
///   - steps: trapezoid intervals (steps + 1 model evaluations per example).
///   - batchSize: path points per forward pass (default: all steps + 1 at once).
public func integratedGradients(of model: (Tensor) -> Tensor, input: Tensor, targets: [Int]?, baseline: Tensor? = nil,
                                steps: Int = 50, batchSize: Int? = nil) -> Attributions {
    precondition(steps >= 1, "integratedGradients: steps must be at least 1")
    precondition(input.dtype.isFloatingPoint && input.rank >= 1, "integratedGradients: input must be a float tensor [n, ...]")
    let n = input.shape[0]
    let exampleShape = Array(input.shape.dropFirst())
    let perExample = exampleShape.reduce(1, *)
    let base = baseline ?? Tensor.zeros(input.shape, dtype: input.dtype)
    precondition(base.shape == input.shape || base.shape == exampleShape,
                 "integratedGradients: baseline \(base.shape) must be \(input.shape) or \(exampleShape)")
    let chunk = Swift.max(1, batchSize ?? (steps + 1))
    var values = [Double](repeating: 0, count: n * perExample)
    var outDiff: [Double] = [], delta: [Double] = []
    for i in 0..<n {
        let x = withoutGrad { input.select(axis: 0, i).contiguous() }
        let b = withoutGrad { (base.shape == input.shape ? base.select(axis: 0, i) : base).contiguous().cast(input.dtype) }
        let xs = x.toArray(Double.self), bs = b.toArray(Double.self)
        var gradSum = [Double](repeating: 0, count: perExample)
        var fPath: [Double] = []
        var k0 = 0
        while k0 <= steps {
            let k1 = Swift.min(steps + 1, k0 + chunk)
            // Path points x' + (k / steps)(x - x') for k in k0..<k1, computed in float64 then stored as the input dtype.
            var flat: [Double] = []
            flat.reserveCapacity((k1 - k0) * perExample)
            for k in k0..<k1 {
                let a = Double(k) / Double(steps)
                for j in 0..<perExample { flat.append(bs[j] + a * (xs[j] - bs[j])) }
            }
            let path = Tensor(flat, shape: [k1 - k0] + exampleShape).cast(input.dtype)
            path.requiresGrad = true
            let out = model(path)
            let t = targets.map { [Int](repeating: $0[i], count: k1 - k0) }
            let seed = selectionSeed(out, targets: t)
            let picked = withoutGrad { (out * seed).reshaped([k1 - k0, -1]).sum(axis: 1) }.toArray(Double.self)
            fPath += picked
            if out.requiresGrad {
                let g = gradients(of: out, wrt: [path], seed: seed)[0].toArray(Double.self)
                for k in k0..<k1 {
                    let w = (k == 0 || k == steps) ? 0.5 / Double(steps) : 1 / Double(steps)
                    let row = (k - k0) * perExample
                    for j in 0..<perExample { gradSum[j] += w * g[row + j] }
                }
            }
            k0 = k1
        }
        var total = 0.0
        for j in 0..<perExample {
            let v = (xs[j] - bs[j]) * gradSum[j]
            values[i * perExample + j] = v
            total += v
        }
        let diff = fPath[steps] - fPath[0]
        outDiff.append(diff)
        delta.append(total - diff)
    }
    return Attributions(values: Tensor(values, shape: input.shape).cast(input.dtype), outputDifference: outDiff,
                        convergenceDelta: delta)
}

/// Integrated gradients of a `Module`, computed in evaluation mode.
public func integratedGradients(of model: Module, input: Tensor, targets: [Int]?, baseline: Tensor? = nil,
                                steps: Int = 50, batchSize: Int? = nil) -> Attributions {
    withEvaluationMode(model) {
        integratedGradients(of: { model($0) }, input: input, targets: targets, baseline: baseline, steps: steps,
                            batchSize: batchSize)
    }
}

/// Runs `body` with `model` in evaluation mode, then restores its mode.
func withEvaluationMode<R>(_ model: Module, _ body: () throws -> R) rethrows -> R {
    let was = model.training
    model.eval()
    defer { model.train(was) }
    return try body()
}
