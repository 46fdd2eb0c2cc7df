/// A node of the autodiff tape: the primitive that produced a tensor (an op value with its attributes), its inputs,
/// the extra tensors its forward saved, and the storage versions of what its VJP reads.
///
/// A node never holds its own output: the backward walk hands the output to the VJP (`VJPContext.output`), so a
/// forward pass without backward leaves no reference cycle (the tape is freed with its last tensor).
final class GradNode {
    let op: any PrimitiveOp
    var inputs: [Tensor]
    var saved: [Tensor]
    /// Storage versions when recorded: of each input (when the op saves its inputs), of the output (or -1), and of
    /// each saved tensor.
    let inputVersions: [Int]
    let outputVersion: Int
    let savedVersions: [Int]
    var freed = false

    init(op: any PrimitiveOp, inputs: [Tensor], saved: [Tensor], output: Tensor) {
        self.op = op
        self.inputs = inputs
        self.saved = saved
        let type = type(of: op)
        inputVersions = type.savesInputs ? inputs.map { $0.storage.version } : []
        outputVersion = type.savesOutput ? output.storage.version : -1
        savedVersions = saved.map { $0.storage.version }
    }

    /// Stops when a tensor the VJP reads was written in place after it was saved.
    func checkVersions(output: Tensor) {
        func check(_ t: Tensor, _ expected: Int) {
            let now = t.storage.version
            precondition(now == expected, "backward of '\(op.name)': a tensor it saved was modified in place after it was saved (version \(now), expected \(expected))")
        }
        for (t, v) in zip(inputs, inputVersions) { check(t, v) }
        if outputVersion >= 0 { check(output, outputVersion) }
        for (t, v) in zip(saved, savedVersions) { check(t, v) }
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

extension Tensor {
    /// Runs a primitive: its forward through the backend, a tape node when recording is on and an input requires a
    /// gradient, and a node of the active `Trace` when one is recording. Every op reaches the backend through here.
    @inline(__always)
    static func apply<Op: PrimitiveOp>(_ op: Op, _ inputs: [Tensor]) -> Tensor {
        var recording = false
        if Op.isDifferentiable && GradMode.enabled {
            for t in inputs where t.requiresGrad { recording = true; break }
        }
        let out: Tensor, saved: [Tensor]
        if let tracer = Tracer.current {
            // Ops that a forward calls internally are its own business: not traced.
            (out, saved) = Tracer.$current.withValue(nil) { recording ? op.forwardAndSave(inputs) : (op.forward(inputs), []) }
            tracer.record(op, inputs, out)
        } else if recording {
            (out, saved) = op.forwardAndSave(inputs)
        } else {
            (out, saved) = (op.forward(inputs), [])
        }
        guard recording && out.dtype.isFloatingPoint else { return out }
        assert(!inputs.contains { $0 === out }, "\(Op.name): forward returned one of its inputs")
        out.requiresGrad = true
        out.gradFn = GradNode(op: op, inputs: inputs, saved: saved, output: out)
        return out
    }
}

/// The reverse-mode engine: a topological sort of the tape from a root, then one VJP per node.
///
/// `Tensor.backward()` is the primary entry point (it accumulates into `grad` of every leaf that requires one);
/// `gradients(of:wrt:)` and `valueAndGrad` are thin layers over the same walk that return gradients instead.
/// Unless `retainGraph` is set, each node drops its inputs and saved tensors once used, so memory falls as backward
/// proceeds. With `createGraph` the walk records its own ops (the VJPs are differentiable ops), so the gradients it
/// returns can be differentiated again; without it, backward runs with recording off and keeps nothing.
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
    static func run(root: Tensor, seed: Tensor, retainGraph: Bool, createGraph: Bool = false,
                    stopAt: Set<ObjectIdentifier> = [], deliver: (Tensor, Tensor) -> Void) {
        precondition(root.requiresGrad, "backward: the tensor does not require a gradient (no input of the ops that made it requires one, or it was made under withoutGrad)")
        precondition(seed.shape == root.shape, "backward: gradient of shape \(seed.shape) does not match tensor shape \(root.shape)")
        let order = topologicalOrder(root)
        var grads: [ObjectIdentifier: Tensor] = [ObjectIdentifier(root): seed]
        // A plain backward inside a traced region is not part of the trace; a recorded one (createGraph) is.
        let tracer = createGraph ? Tracer.current : nil
        Tracer.$current.withValue(tracer) { GradMode.$enabled.withValue(createGraph) {
            for t in order.reversed() {
                let id = ObjectIdentifier(t)
                guard let g = grads.removeValue(forKey: id) else { continue }
                if stopAt.contains(id) { deliver(t, g); if t.gradFn != nil && stopAt.count == 1 { continue } }
                guard let node = t.gradFn else {
                    if stopAt.isEmpty { deliver(t, g) }
                    continue
                }
                precondition(!node.freed, "backward: the graph through '\(node.op.name)' was already freed by an earlier backward; pass retainGraph: true to the first call")
                node.checkVersions(output: t)
                let needs = node.inputs.map { $0.requiresGrad }
                var context = VJPContext(inputs: node.inputs, output: t, saved: node.saved, needsGrad: needs)
                context.requested = stopAt
                let inGrads = node.op.vjp(g, context)
                for (i, inp) in node.inputs.enumerated() where needs[i] {
                    guard i < inGrads.count, let gi = inGrads[i] else { continue }
                    precondition(gi.shape == inp.shape, "backward of \(node.op.name): gradient shape \(gi.shape) does not match input shape \(inp.shape)")
                    let key = ObjectIdentifier(inp)
                    if let prev = grads[key] { grads[key] = prev + gi } else { grads[key] = gi }
                }
                if !retainGraph {
                    node.freed = true
                    node.inputs = []
                    node.saved = []
                }
            }
        } }
    }
}

extension Tensor {
    /// Computes gradients of this tensor with respect to every leaf that requires one and adds them to `grad`.
    ///
    /// With no argument the tensor must hold one element (a loss); otherwise pass the upstream gradient.
    /// Gradients accumulate across calls, as in PyTorch: zero them (`grad = nil`) between steps.
    /// With `createGraph` (PyTorch's `create_graph=True`) the backward pass is itself recorded, so each `grad` can be
    /// differentiated again; `retainGraph` then defaults to true.
    public func backward(_ gradient: Tensor? = nil, retainGraph: Bool? = nil, createGraph: Bool = false) {
        let seed = gradient ?? {
            precondition(count == 1, "backward: called without a gradient on a tensor of shape \(shape); it must hold one element")
            return Tensor.ones(shape, dtype: dtype, on: backend)
        }()
        // A VJP may pass its upstream gradient through unchanged (add, reshape, ...), so two leaves can be handed the
        // same tensor, or a view of the caller's `gradient`. Every leaf gets memory of its own: an in-place update
        // of one `grad` (clipping, an optimizer) must never change another.
        var taken = Set<ObjectIdentifier>()
        if let gradient { taken.insert(ObjectIdentifier(gradient.storage)) }
        Autograd.run(root: self, seed: seed, retainGraph: retainGraph ?? createGraph, createGraph: createGraph) { leaf, g in
            if let prev = leaf.grad {
                leaf.grad = prev + g
            } else if g.isContiguous && !taken.contains(ObjectIdentifier(g.storage)) && g.storage !== leaf.storage {
                leaf.grad = g
            } else {
                leaf.grad = createGraph ? Tensor.apply(Clone(), [g]) : g.copied()
            }
            taken.insert(ObjectIdentifier(leaf.grad!.storage))
        }
    }

    /// A tensor sharing this one's data that is cut from the tape: no gradient flows through it.
    public func detached() -> Tensor { Tensor.apply(Detach(), [self]) }

    /// A copy in memory of its own through which gradients flow (`torch.clone`).
    public func cloned() -> Tensor { Tensor.apply(Clone(), [self]) }
}

/// Gradients of `output` with respect to each tensor in `inputs` (leaves or intermediate results), without touching
/// any `grad` property. An input the output does not depend on gets zeros.
///
/// With `createGraph` (`torch.autograd.grad(..., create_graph=True)`) the returned gradients carry their own graph
/// and can be differentiated again: gradient penalties, Hessian-vector products. `retainGraph` defaults to
/// `createGraph`.
public func gradients(of output: Tensor, wrt inputs: [Tensor], seed: Tensor? = nil, retainGraph: Bool? = nil,
                      createGraph: Bool = false) -> [Tensor] {
    precondition(seed != nil || output.count == 1, "gradients(of:wrt:): output of shape \(output.shape) must hold one element, or pass a seed")
    let ids = Set(inputs.map(ObjectIdentifier.init))
    var found: [ObjectIdentifier: Tensor] = [:]
    let s = seed ?? output.onesLike()
    Autograd.run(root: output, seed: s, retainGraph: retainGraph ?? createGraph, createGraph: createGraph, stopAt: ids) { t, g in
        let k = ObjectIdentifier(t)
        if let prev = found[k] { found[k] = prev + g } else { found[k] = g }
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
