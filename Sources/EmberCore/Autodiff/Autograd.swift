/// A node of the autodiff tape: the op that produced a tensor, its inputs, and the rule that maps the gradient of
/// the output to gradients of the inputs.
final class GradNode {
    let op: String
    var inputs: [Tensor]
    /// (upstream gradient, which inputs need a gradient) -> one gradient per input (nil where not needed).
    var backward: ((Tensor, [Bool]) -> [Tensor?])?

    init(op: String, inputs: [Tensor], backward: @escaping (Tensor, [Bool]) -> [Tensor?]) {
        self.op = op
        self.inputs = inputs
        self.backward = backward
    }
}

/// Whether ops record onto the tape. Scoped per task/thread with `withoutGrad`.
public enum GradMode {
    @TaskLocal static var enabled = true

    /// Whether recording is on here.
    public static var isEnabled: Bool { enabled }
}

/// Runs `body` without recording ops on the tape (like `torch.no_grad()`): results do not require gradients.
@discardableResult
public func withoutGrad<R>(_ body: () throws -> R) rethrows -> R {
    try GradMode.$enabled.withValue(false) { try body() }
}

/// Records `out` as the result of `op` on `inputs` when any input requires a gradient and recording is on.
@inline(__always)
func record(_ out: Tensor, _ op: String, _ inputs: [Tensor], _ backward: @escaping (Tensor, [Bool]) -> [Tensor?]) -> Tensor {
    guard GradMode.enabled else { return out }
    var any = false
    for t in inputs where t.requiresGrad { any = true; break }
    guard any else { return out }
    out.requiresGrad = true
    out.gradFn = GradNode(op: op, inputs: inputs, backward: backward)
    return out
}

/// The reverse-mode engine: a topological sort of the tape from a root, then one backward rule per node.
///
/// `Tensor.backward()` is the primary entry point (it accumulates into `grad` of every leaf that requires one);
/// `gradients(of:wrt:)` and `valueAndGrad` are thin layers over the same walk that return gradients instead.
/// Unless `retainGraph` is set, each node drops its saved tensors once used, so memory falls as backward proceeds.
public enum Autograd {
    static func topologicalOrder(_ root: Tensor) -> [Tensor] {
        var order: [Tensor] = []
        var visited = Set<ObjectIdentifier>()
        var stack: [(Tensor, Bool)] = [(root, false)]
        while let (t, expanded) = stack.popLast() {
            if expanded { order.append(t); continue }
            let id = ObjectIdentifier(t)
            if visited.contains(id) { continue }
            visited.insert(id)
            stack.append((t, true))
            if let node = t.gradFn {
                for inp in node.inputs where inp.requiresGrad && !visited.contains(ObjectIdentifier(inp)) {
                    stack.append((inp, false))
                }
            }
        }
        return order
    }

    /// Runs backward from `root` seeded with `seed`; calls `deliver` with each leaf (or requested tensor) and its
    /// gradient.
    static func run(root: Tensor, seed: Tensor, retainGraph: Bool, stopAt: Set<ObjectIdentifier> = [],
                    deliver: (Tensor, Tensor) -> Void) {
        precondition(root.requiresGrad, "backward: the tensor does not require a gradient (no input of the ops that made it requires one, or it was made under withoutGrad)")
        precondition(seed.shape == root.shape, "backward: gradient of shape \(seed.shape) does not match tensor shape \(root.shape)")
        let order = topologicalOrder(root)
        var grads: [ObjectIdentifier: Tensor] = [ObjectIdentifier(root): seed]
        withoutGrad {
            for t in order.reversed() {
                let id = ObjectIdentifier(t)
                guard let g = grads.removeValue(forKey: id) else { continue }
                if stopAt.contains(id) { deliver(t, g); if t.gradFn != nil && stopAt.count == 1 { continue } }
                guard let node = t.gradFn else {
                    if stopAt.isEmpty { deliver(t, g) }
                    continue
                }
                guard let rule = node.backward else {
                    preconditionFailure("backward: the graph through '\(node.op)' was already freed by an earlier backward; pass retainGraph: true to the first call")
                }
                let needs = node.inputs.map { $0.requiresGrad }
                let inGrads = rule(g, needs)
                for (i, inp) in node.inputs.enumerated() where needs[i] {
                    guard let gi = inGrads[i] else { continue }
                    precondition(gi.shape == inp.shape, "backward of \(node.op): gradient shape \(gi.shape) does not match input shape \(inp.shape)")
                    let key = ObjectIdentifier(inp)
                    if let prev = grads[key] { grads[key] = prev + gi } else { grads[key] = gi }
                }
                if !retainGraph {
                    node.backward = nil
                    node.inputs = []
                }
            }
        }
    }
}

extension Tensor {
    /// Computes gradients of this tensor with respect to every leaf that requires one and adds them to `grad`.
    ///
    /// With no argument the tensor must hold one element (a loss); otherwise pass the upstream gradient.
    /// Gradients accumulate across calls, as in PyTorch: zero them (`grad = nil`) between steps.
    public func backward(_ gradient: Tensor? = nil, retainGraph: Bool = false) {
        let seed = gradient ?? {
            precondition(count == 1, "backward: called without a gradient on a tensor of shape \(shape); it must hold one element")
            return Tensor.ones(shape, dtype: dtype, on: backend)
        }()
        // A backward rule may pass its upstream gradient through unchanged (add, reshape, ...), so two leaves can
        // be handed the same tensor, or a view of the caller's `gradient`. Every leaf gets memory of its own:
        // an in-place update of one `grad` (clipping, an optimizer) must never change another.
        var taken = Set<ObjectIdentifier>()
        if let gradient { taken.insert(ObjectIdentifier(gradient.storage)) }
        Autograd.run(root: self, seed: seed, retainGraph: retainGraph) { leaf, g in
            if let prev = leaf.grad {
                leaf.grad = prev + g
            } else if g.isContiguous && !taken.contains(ObjectIdentifier(g.storage)) && g.storage !== leaf.storage {
                leaf.grad = g
            } else {
                leaf.grad = g.copied()
            }
            taken.insert(ObjectIdentifier(leaf.grad!.storage))
        }
    }

    /// This tensor's values as a backward rule keeps them: a view of the same storage that is another object, with
    /// no tape node. A rule that needs its own op's output must save this, never the output itself: the output
    /// holds its node, the node holds the rule, and a rule holding the output would make a reference cycle that
    /// only a backward walk breaks (every forward pass without backward would leak its whole graph).
    var savedForBackward: Tensor { view(shape: shape, strides: strides, offset: offset) }

    /// A tensor sharing this one's data that is cut from the tape: no gradient flows through it.
    public func detached() -> Tensor {
        view(shape: shape, strides: strides, offset: offset)
    }
}

/// Gradients of `output` with respect to each tensor in `inputs` (leaves or intermediate results), without touching
/// any `grad` property. An input the output does not depend on gets zeros.
public func gradients(of output: Tensor, wrt inputs: [Tensor], seed: Tensor? = nil, retainGraph: Bool = false) -> [Tensor] {
    precondition(seed != nil || output.count == 1, "gradients(of:wrt:): output of shape \(output.shape) must hold one element, or pass a seed")
    let ids = Set(inputs.map(ObjectIdentifier.init))
    var found: [ObjectIdentifier: Tensor] = [:]
    let s = seed ?? output.onesLike()
    Autograd.run(root: output, seed: s, retainGraph: retainGraph, stopAt: ids) { t, g in
        let k = ObjectIdentifier(t)
        if let prev = found[k] { found[k] = withoutGrad { prev + g } } else { found[k] = g }
    }
    return inputs.map { found[ObjectIdentifier($0)] ?? $0.zerosLike() }
}

/// Evaluates `f` on `inputs` (each marked as requiring a gradient) and returns its value and the gradients of the
/// value with respect to each input, in the style of `valueAndGrad` in MLX and JAX.
public func valueAndGrad(_ inputs: [Tensor], _ f: ([Tensor]) -> Tensor) -> (value: Tensor, grads: [Tensor]) {
    let leaves = inputs.map { t -> Tensor in
        let v = t.detached()
        v.requiresGrad = true
        return v
    }
    let value = f(leaves)
    if !value.requiresGrad { return (value, leaves.map { $0.zerosLike() }) }
    return (value.detached(), gradients(of: value, wrt: leaves))
}
