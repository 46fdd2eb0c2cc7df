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

/// The saved state of an optimizer: per-parameter tensors by name, step counts, each group's learning rate, and
/// (when known) which optimizer wrote it and how many parameters each group had.
public struct OptimizerState {
    /// "<param index>.<buffer>" -> tensor (e.g. "0.exp_avg").
    public var tensors: [String: Tensor]
    /// Steps taken per parameter index.
    public var steps: [Int: Int]
    /// Learning rate of each group.
    public var lrs: [Double]
    /// The optimizer's type name ("Adam", "SGD", ...); nil in state saved before it was recorded.
    public var optimizer: String?
    /// Number of parameters in each group; nil in state saved before it was recorded.
    public var groupSizes: [Int]?

    public init(tensors: [String: Tensor], steps: [Int: Int], lrs: [Double], optimizer: String? = nil, groupSizes: [Int]? = nil) {
        self.tensors = tensors; self.steps = steps; self.lrs = lrs; self.optimizer = optimizer; self.groupSizes = groupSizes
    }
}

/// Optimizer state that does not fit the optimizer loading it (another optimizer, other parameter groups, other
/// parameter counts or shapes, or damaged values). Each names what was expected and what was found.
public enum OptimizerStateError: Error, CustomStringConvertible, Equatable {
    /// Saved by another kind of optimizer.
    case optimizerMismatch(saved: String, current: String)
    /// Another number of parameter groups.
    case groupCount(saved: Int, current: Int, savedLRs: [Double])
    /// A group with another number of parameters.
    case groupSize(group: Int, saved: Int, current: Int)
    /// State for a parameter index this optimizer does not have (`key` names the entry).
    case parameterIndex(key: String, index: Int, parameters: Int)
    /// A tensor key that is not "<parameter index>.<buffer name>".
    case malformedKey(String)
    /// A buffer this optimizer does not keep.
    case unknownBuffer(key: String, optimizer: String, buffers: [String])
    /// A buffer whose shape is not its parameter's.
    case bufferShape(key: String, expected: [Int], found: [Int])
    /// A step count that is negative or too large.
    case stepCount(parameter: Int, value: Int)

    public var description: String {
        switch self {
        case .optimizerMismatch(let s, let c): return "optimizer state was saved by \(s); this optimizer is \(c)"
        case .groupCount(let s, let c, let lrs):
            return "optimizer state has \(s) parameter group(s) (learning rates \(lrs)); this optimizer has \(c)"
        case .groupSize(let g, let s, let c):
            return "optimizer state: parameter group \(g) has \(s) parameter(s) in the saved state, \(c) here"
        case .parameterIndex(let k, let i, let n): return "optimizer state '\(k)' is for parameter \(i); this optimizer has \(n) parameter(s)"
        case .malformedKey(let k): return "optimizer state key '\(k)' is not '<parameter index>.<buffer name>'"
        case .unknownBuffer(let k, let o, let b):
            return "optimizer state '\(k)' is not a buffer of \(o) (its buffers: \(b.joined(separator: ", ")))"
        case .bufferShape(let k, let e, let f): return "optimizer state '\(k)': expected shape \(e) (its parameter's), found \(f)"
        case .stepCount(let p, let v):
            return "optimizer state: step count \(v) of parameter \(p) is \(v < 0 ? "negative" : "too large")"
        }
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

    /// The optimizer's name in saved state ("SGD", "Adam", ...): its type name.
    public var stateKind: String { String(describing: type(of: self)) }

    /// Names of the per-parameter buffers this optimizer keeps (nil: not declared, any name is accepted on load).
    open var stateBufferNames: [String]? { nil }

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
        let groups = uniqueGroupParams
        for (i, p) in groups.flatMap({ $0 }).enumerated() {
            let id = ObjectIdentifier(p)
            for (k, v) in buffers[id] ?? [:] { tensors["\(i).\(k)"] = withoutGrad { v.affine(1, 0) } }
            if let s = steps[id] { st[i] = s }
        }
        return OptimizerState(tensors: tensors, steps: st, lrs: paramGroups.map(\.lr), optimizer: stateKind,
                              groupSizes: groups.map(\.count))
    }

    /// Restores state saved by `stateDict()` for the same optimizer and parameter layout. State that does not fit
    /// (another optimizer, other groups, parameter counts or shapes, damaged values) throws `OptimizerStateError`
    /// and leaves this optimizer as it was. Buffers are converted to their parameter's dtype.
    public func loadStateDict(_ s: OptimizerState) throws {
        let (b, st) = try prepare(s)
        buffers = b
        steps = st
        for (g, lr) in zip(paramGroups, s.lrs) { g.lr = lr }
    }

    /// Throws what `loadStateDict` would throw for `s`, without changing anything.
    public func validateStateDict(_ s: OptimizerState) throws { _ = try prepare(s) }

    /// Largest step count accepted from saved state (the counters stay exact in a Double and never overflow).
    static let maxStepCount = 1 << 53

    /// Checks `s` against this optimizer and returns the buffers and step counts it restores.
    func prepare(_ s: OptimizerState) throws -> ([ObjectIdentifier: [String: Tensor]], [ObjectIdentifier: Int]) {
        if let kind = s.optimizer, kind != stateKind { throw OptimizerStateError.optimizerMismatch(saved: kind, current: stateKind) }
        guard s.lrs.count == paramGroups.count else {
            throw OptimizerStateError.groupCount(saved: s.lrs.count, current: paramGroups.count, savedLRs: s.lrs)
        }
        let groups = uniqueGroupParams
        if let sizes = s.groupSizes {
            guard sizes.count == groups.count else {
                throw OptimizerStateError.groupCount(saved: sizes.count, current: groups.count, savedLRs: s.lrs)
            }
            for (i, (saved, here)) in zip(sizes, groups.map(\.count)).enumerated() where saved != here {
                throw OptimizerStateError.groupSize(group: i, saved: saved, current: here)
            }
        }
        let params = groups.flatMap { $0 }
        var newBuffers: [ObjectIdentifier: [String: Tensor]] = [:], newSteps: [ObjectIdentifier: Int] = [:]
        for key in s.tensors.keys.sorted() {
            let t = s.tensors[key]!
            let parts = key.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2, let i = Int(parts[0]), i >= 0, !parts[1].isEmpty else { throw OptimizerStateError.malformedKey(key) }
            guard i < params.count else { throw OptimizerStateError.parameterIndex(key: key, index: i, parameters: params.count) }
            let name = String(parts[1])
            if let known = stateBufferNames, !known.contains(name) {
                throw OptimizerStateError.unknownBuffer(key: key, optimizer: stateKind, buffers: known)
            }
            let p = params[i]
            guard t.shape == p.shape else { throw OptimizerStateError.bufferShape(key: key, expected: p.shape, found: t.shape) }
            // a copy on the parameter's device: the optimizer updates its buffers in place, and `s` may be loaded
            // again (or still be in use)
            newBuffers[ObjectIdentifier(p), default: [:]][name] = withoutGrad {
                t.cast(p.dtype).to(p.device).contiguous().affine(1, 0)
            }
        }
        for i in s.steps.keys.sorted() {
            let n = s.steps[i]!
            guard i >= 0 && i < params.count else {
                throw OptimizerStateError.parameterIndex(key: "steps[\(i)]", index: i, parameters: params.count)
            }
            guard n >= 0 && n <= Self.maxStepCount else { throw OptimizerStateError.stepCount(parameter: i, value: n) }
            newSteps[ObjectIdentifier(params[i])] = n
        }
        return (newBuffers, newSteps)
    }

    func buffer(_ state: inout [String: Tensor], _ name: String, like p: Tensor, fill: Double = 0) -> Tensor {
        if let b = state[name] { return b }
        let b = Tensor.full(p.shape, fill, dtype: p.dtype, on: p.backend)
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

    override public var stateBufferNames: [String]? { ["momentum_buffer"] }

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

    override public var stateBufferNames: [String]? { ["exp_avg", "exp_avg_sq"] }

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

    override public var stateBufferNames: [String]? { ["square_avg", "grad_avg", "momentum_buffer"] }

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

    override public var stateBufferNames: [String]? { ["sum"] }

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
