/// Parameters that share hyper-parameters (learning rate, weight decay, ...), as PyTorch's param groups.
public final class ParamGroup {
    /// The parameters.
    public var params: [Tensor]
    /// Learning rate (schedulers change it).
    public var lr: Double
    /// The learning rate the group started with (schedulers compute from it).
    public var initialLR: Double
    /// Weight decay (L2 for SGD/Adam/RMSprop/Adagrad, decoupled for AdamW).
    public var weightDecay: Double

    /// A group with its own learning rate and weight decay (nil: the optimizer's defaults).
    public init(_ params: [Tensor], lr: Double? = nil, weightDecay: Double? = nil) {
        self.params = params
        self.lr = lr ?? .nan
        self.initialLR = lr ?? .nan
        self.weightDecay = weightDecay ?? .nan
    }
}

/// The saved state of an optimizer: per-parameter tensors by name, step counts, and each group's learning rate.
public struct OptimizerState {
    /// "<param index>.<buffer>" -> tensor (e.g. "0.exp_avg").
    public var tensors: [String: Tensor]
    /// Steps taken per parameter index.
    public var steps: [Int: Int]
    /// Learning rate of each group.
    public var lrs: [Double]

    public init(tensors: [String: Tensor], steps: [Int: Int], lrs: [Double]) {
        self.tensors = tensors; self.steps = steps; self.lrs = lrs
    }
}

/// Base of the optimizers: parameter groups, per-parameter state, `step()` and `zeroGrad()`.
open class Optimizer {
    /// The parameter groups.
    public var paramGroups: [ParamGroup]
    var buffers: [ObjectIdentifier: [String: Tensor]] = [:]
    var steps: [ObjectIdentifier: Int] = [:]

    init(_ groups: [ParamGroup], lr: Double, weightDecay: Double) {
        // A tensor listed twice (tied weights, or a list built by hand) is one parameter: it stays in the first
        // group that names it, so it is stepped once per step.
        var seen = Set<ObjectIdentifier>()
        for g in groups {
            if g.lr.isNaN { g.lr = lr; g.initialLR = lr }
            if g.weightDecay.isNaN { g.weightDecay = weightDecay }
            g.params = g.params.filter { seen.insert(ObjectIdentifier($0)).inserted }
        }
        paramGroups = groups
    }

    /// Each group's parameters, a tensor only in the first group that lists it (groups may be changed after init).
    var uniqueGroupParams: [[Tensor]] {
        var seen = Set<ObjectIdentifier>()
        return paramGroups.map { g in g.params.filter { seen.insert(ObjectIdentifier($0)).inserted } }
    }

    /// The learning rate of the first group (set: every group).
    public var lr: Double {
        get { paramGroups.first?.lr ?? 0 }
        set { for g in paramGroups { g.lr = newValue } }
    }

    /// Applies one update to every parameter that has a gradient.
    public func step() {
        withoutGrad {
            for (group, params) in zip(paramGroups, uniqueGroupParams) {
                for p in params {
                    guard let g = p.grad else { continue }
                    let id = ObjectIdentifier(p)
                    let t = (steps[id] ?? 0) + 1
                    steps[id] = t
                    update(p, grad: g, group: group, step: t, state: &buffers[id, default: [:]])
                }
            }
        }
    }

    /// Sets every parameter's gradient to nil.
    public func zeroGrad() { for g in paramGroups { for p in g.params { p.grad = nil } } }

    /// The per-parameter rule. `state` holds this parameter's buffers.
    open func update(_ p: Tensor, grad: Tensor, group: ParamGroup, step: Int, state: inout [String: Tensor]) {
        preconditionFailure("\(type(of: self)) must override update")
    }

    var allParams: [Tensor] { uniqueGroupParams.flatMap { $0 } }

    /// Copies of the optimizer's state, keyed by parameter position.
    public func stateDict() -> OptimizerState {
        var tensors: [String: Tensor] = [:], st: [Int: Int] = [:]
        for (i, p) in allParams.enumerated() {
            let id = ObjectIdentifier(p)
            for (k, v) in buffers[id] ?? [:] { tensors["\(i).\(k)"] = withoutGrad { v.affine(1, 0) } }
            if let s = steps[id] { st[i] = s }
        }
        return OptimizerState(tensors: tensors, steps: st, lrs: paramGroups.map(\.lr))
    }

    /// Restores state saved by `stateDict()` for the same parameter layout.
    public func loadStateDict(_ s: OptimizerState) {
        precondition(s.lrs.count == paramGroups.count, "Optimizer.loadStateDict: \(s.lrs.count) groups saved, \(paramGroups.count) here")
        buffers = [:]
        steps = [:]
        let params = allParams
        for (key, t) in s.tensors {
            let parts = key.split(separator: ".", maxSplits: 1)
            guard parts.count == 2, let i = Int(parts[0]), i < params.count else { continue }
            // a copy: the optimizer updates its buffers in place, and `s` may be loaded again (or still be in use)
            buffers[ObjectIdentifier(params[i]), default: [:]][String(parts[1])] = withoutGrad { t.contiguous().affine(1, 0) }
        }
        for (i, n) in s.steps where i < params.count { steps[ObjectIdentifier(params[i])] = n }
        for (g, lr) in zip(paramGroups, s.lrs) { g.lr = lr }
    }

    func buffer(_ state: inout [String: Tensor], _ name: String, like p: Tensor, fill: Double = 0) -> Tensor {
        if let b = state[name] { return b }
        let b = Tensor.full(p.shape, fill, dtype: p.dtype)
        state[name] = b
        return b
    }
}

/// Stochastic gradient descent with momentum, dampening, Nesterov and L2 weight decay (PyTorch's rules).
public final class SGD: Optimizer {
    public let momentum: Double, dampening: Double, nesterov: Bool

    public init(_ params: [Tensor], lr: Double, momentum: Double = 0, dampening: Double = 0, weightDecay: Double = 0,
                nesterov: Bool = false) {
        self.momentum = momentum; self.dampening = dampening; self.nesterov = nesterov
        super.init([ParamGroup(params)], lr: lr, weightDecay: weightDecay)
    }

    public init(groups: [ParamGroup], lr: Double, momentum: Double = 0, dampening: Double = 0, weightDecay: Double = 0,
                nesterov: Bool = false) {
        self.momentum = momentum; self.dampening = dampening; self.nesterov = nesterov
        super.init(groups, lr: lr, weightDecay: weightDecay)
    }

    override public func update(_ p: Tensor, grad: Tensor, group: ParamGroup, step: Int, state: inout [String: Tensor]) {
        var d = grad
        if group.weightDecay != 0 { d = d + p * group.weightDecay }
        if momentum != 0 {
            if let buf = state["momentum_buffer"] {
                buf.scaleAdd(momentum, d.contiguous(), 1 - dampening)
            } else {
                state["momentum_buffer"] = d.contiguous().affine(1, 0)
            }
            let buf = state["momentum_buffer"]!
            d = nesterov ? d + buf * momentum : buf
        }
        p.scaleAdd(1, d.contiguous(), -group.lr)
    }
}

/// Adam (`decoupled: false`, L2 weight decay) and the base of AdamW. One fused vectorized update per parameter.
public class Adam: Optimizer {
    public let beta1: Double, beta2: Double, eps: Double
    let decoupled: Bool

    public init(_ params: [Tensor], lr: Double = 1e-3, betas: (Double, Double) = (0.9, 0.999), eps: Double = 1e-8,
                weightDecay: Double = 0) {
        beta1 = betas.0; beta2 = betas.1; self.eps = eps; decoupled = false
        super.init([ParamGroup(params)], lr: lr, weightDecay: weightDecay)
    }

    public init(groups: [ParamGroup], lr: Double = 1e-3, betas: (Double, Double) = (0.9, 0.999), eps: Double = 1e-8,
                weightDecay: Double = 0) {
        beta1 = betas.0; beta2 = betas.1; self.eps = eps; decoupled = false
        super.init(groups, lr: lr, weightDecay: weightDecay)
    }

    init(groups: [ParamGroup], lr: Double, betas: (Double, Double), eps: Double, weightDecay: Double, decoupled: Bool) {
        beta1 = betas.0; beta2 = betas.1; self.eps = eps; self.decoupled = decoupled
        super.init(groups, lr: lr, weightDecay: weightDecay)
    }

    override public func update(_ p: Tensor, grad: Tensor, group: ParamGroup, step: Int, state: inout [String: Tensor]) {
        let m = buffer(&state, "exp_avg", like: p), v = buffer(&state, "exp_avg_sq", like: p)
        p.adamUpdate(grad: grad, m: m, v: v, lr: group.lr, beta1: beta1, beta2: beta2, eps: eps, step: step,
                     l2: decoupled ? 0 : group.weightDecay, decoupledDecay: decoupled ? group.lr * group.weightDecay : 0)
    }
}

/// AdamW: Adam with decoupled weight decay (default 0.01, as PyTorch).
public final class AdamW: Adam {
    override public init(_ params: [Tensor], lr: Double = 1e-3, betas: (Double, Double) = (0.9, 0.999), eps: Double = 1e-8,
                weightDecay: Double = 0.01) {
        super.init(groups: [ParamGroup(params)], lr: lr, betas: betas, eps: eps, weightDecay: weightDecay, decoupled: true)
    }

    override public init(groups: [ParamGroup], lr: Double = 1e-3, betas: (Double, Double) = (0.9, 0.999), eps: Double = 1e-8,
                weightDecay: Double = 0.01) {
        super.init(groups: groups, lr: lr, betas: betas, eps: eps, weightDecay: weightDecay, decoupled: true)
    }
}

/// RMSprop (PyTorch's rules: alpha, eps outside the square root, optional momentum and centering).
public final class RMSprop: Optimizer {
    public let alpha: Double, eps: Double, momentum: Double, centered: Bool

    public init(_ params: [Tensor], lr: Double = 0.01, alpha: Double = 0.99, eps: Double = 1e-8, weightDecay: Double = 0,
                momentum: Double = 0, centered: Bool = false) {
        self.alpha = alpha; self.eps = eps; self.momentum = momentum; self.centered = centered
        super.init([ParamGroup(params)], lr: lr, weightDecay: weightDecay)
    }

    public init(groups: [ParamGroup], lr: Double = 0.01, alpha: Double = 0.99, eps: Double = 1e-8,
                weightDecay: Double = 0, momentum: Double = 0, centered: Bool = false) {
        self.alpha = alpha; self.eps = eps; self.momentum = momentum; self.centered = centered
        super.init(groups, lr: lr, weightDecay: weightDecay)
    }

    override public func update(_ p: Tensor, grad: Tensor, group: ParamGroup, step: Int, state: inout [String: Tensor]) {
        var g = grad.contiguous()
        if group.weightDecay != 0 { g = g + p * group.weightDecay }
        let sq = buffer(&state, "square_avg", like: p)
        sq.scaleAdd(alpha, g * g, 1 - alpha)
        var avg: Tensor
        if centered {
            let ga = buffer(&state, "grad_avg", like: p)
            ga.scaleAdd(alpha, g, 1 - alpha)
            avg = (sq - ga * ga).sqrt() + eps
        } else {
            avg = sq.sqrt() + eps
        }
        if momentum > 0 {
            let buf = buffer(&state, "momentum_buffer", like: p)
            buf.scaleAdd(momentum, g / avg, 1)
            p.scaleAdd(1, buf, -group.lr)
        } else {
            p.scaleAdd(1, g / avg, -group.lr)
        }
    }
}

/// Adagrad (PyTorch's rules: learning-rate decay, initial accumulator value, eps outside the square root).
public final class Adagrad: Optimizer {
    public let lrDecay: Double, eps: Double, initialAccumulator: Double

    public init(_ params: [Tensor], lr: Double = 0.01, lrDecay: Double = 0, weightDecay: Double = 0,
                initialAccumulatorValue: Double = 0, eps: Double = 1e-10) {
        self.lrDecay = lrDecay; self.eps = eps; initialAccumulator = initialAccumulatorValue
        super.init([ParamGroup(params)], lr: lr, weightDecay: weightDecay)
    }

    public init(groups: [ParamGroup], lr: Double = 0.01, lrDecay: Double = 0, weightDecay: Double = 0,
                initialAccumulatorValue: Double = 0, eps: Double = 1e-10) {
        self.lrDecay = lrDecay; self.eps = eps; initialAccumulator = initialAccumulatorValue
        super.init(groups, lr: lr, weightDecay: weightDecay)
    }

    override public func update(_ p: Tensor, grad: Tensor, group: ParamGroup, step: Int, state: inout [String: Tensor]) {
        var g = grad.contiguous()
        if group.weightDecay != 0 { g = g + p * group.weightDecay }
        let sum = buffer(&state, "sum", like: p, fill: initialAccumulator)
        sum.scaleAdd(1, g * g, 1)
        let clr = group.lr / (1 + Double(step - 1) * lrDecay)
        p.scaleAdd(1, g / (sum.sqrt() + eps), -clr)
    }
}

/// Scales gradients so their global L2 norm is at most `maxNorm`; returns the norm before clipping. A tensor listed
/// twice (tied weights) counts once and is scaled once.
@discardableResult
public func clipGradNorm(_ params: [Tensor], maxNorm: Double) -> Double {
    var seen = Set<ObjectIdentifier>()
    let grads = params.compactMap(\.grad).filter { seen.insert(ObjectIdentifier($0)).inserted }
    let total = withoutGrad { grads.reduce(0.0) { $0 + ($1 * $1).sum().item() } }.squareRoot()
    let coef = maxNorm / (total + 1e-6)
    if coef < 1 { withoutGrad { for g in grads { g.assign(g * coef) } } }
    return total
}

/// Clamps every gradient element to [-clipValue, clipValue].
public func clipGradValue(_ params: [Tensor], clipValue: Double) {
    withoutGrad { for p in params { if let g = p.grad { g.assign(g.clamp(min: -clipValue, max: clipValue)) } } }
}
