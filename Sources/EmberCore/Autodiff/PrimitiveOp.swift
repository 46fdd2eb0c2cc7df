/// The op registry: every primitive that the tape, the tracer and (later) the ONNX exporter know about.
///
/// A primitive is a small struct: its attributes are stored properties (axis, stride, padding, ...), `forward`
/// computes its result through the backend, and `vjp` maps the gradient of the output to gradients of the inputs.
/// VJPs are written in differentiable tensor ops (where a backward needs a kernel of its own, that kernel is a
/// primitive too), so recording the backward pass (`createGraph`) gives gradients of gradients.
///
/// ```swift
/// /// exp(x); d/dx = exp(x), read from the op's own output.
/// struct Exp: UnaryPrimitive {
///     static let name = "exp"
///     var kernel: UnaryOp { .exp }
///     func grad(_ g: Tensor, x: Tensor, y: Tensor) -> Tensor { g * y }
/// }
/// ```
///
/// Ops run through `Tensor.apply(_:_:)`, the one place that calls `forward`, records a tape node when an input needs
/// a gradient, and appends to an active `Trace`.
public protocol PrimitiveOp: Sendable {
    /// The op's name in traces, graphs and messages ("exp", "conv2d").
    static var name: String { get }
    /// The op's parameters as explicit typed values (empty for ops without any).
    var attributes: [String: OpAttribute] { get }
    /// Whether the tape records the op (false for comparisons, arg-reductions, `detach`: no gradient flows).
    static var isDifferentiable: Bool { get }
    /// Whether `vjp` reads the values of its inputs (then an in-place change of one before backward is an error).
    static var savesInputs: Bool { get }
    /// Whether `vjp` reads the op's own output (the same check).
    static var savesOutput: Bool { get }
    /// The result, computed through the backend; never records.
    func forward(_ inputs: [Tensor]) -> Tensor
    /// The result and any extra tensors the VJP needs (max-pool indices, unfolded convolution columns); they are
    /// kept with the tape node as `VJPContext.saved`. The default returns `forward` and nothing.
    func forwardAndSave(_ inputs: [Tensor]) -> (Tensor, [Tensor])
    /// Gradients of the inputs given the gradient `g` of the output: one per input, nil where not needed
    /// (`ctx.needs(i)` is false) or where no gradient exists (indices, masks). Written in differentiable ops.
    func vjp(_ g: Tensor, _ ctx: VJPContext) -> [Tensor?]
}

extension PrimitiveOp {
    public var attributes: [String: OpAttribute] { [:] }
    public static var isDifferentiable: Bool { true }
    public static var savesInputs: Bool { true }
    public static var savesOutput: Bool { false }
    public func forwardAndSave(_ inputs: [Tensor]) -> (Tensor, [Tensor]) { (forward(inputs), []) }
    public func vjp(_ g: Tensor, _ ctx: VJPContext) -> [Tensor?] { ctx.inputs.map { _ in nil } }
    /// The op's name (the static `name` of its type).
    public var name: String { Self.name }
}

/// A typed attribute value of a primitive, as a tracer or an exporter reads it.
public enum OpAttribute: Sendable, Hashable, CustomStringConvertible {
    case int(Int)
    case ints([Int])
    case double(Double)
    case doubles([Double])
    case bool(Bool)
    case string(String)
    case dtype(DType)

    public var description: String {
        switch self {
        case .int(let v): return "\(v)"
        case .ints(let v): return "\(v)"
        case .double(let v): return "\(v)"
        case .doubles(let v): return "\(v)"
        case .bool(let v): return "\(v)"
        case .string(let v): return "\"\(v)\""
        case .dtype(let v): return "\(v)"
        }
    }
}

/// What a VJP sees: the op's inputs, its output, the extra tensors its forward saved, and which inputs need a
/// gradient. With `createGraph` these are the live tensors of the graph (the output carries its tape node), so the
/// VJP's own ops are recorded and can be differentiated again.
public struct VJPContext {
    /// The op's inputs, in order.
    public let inputs: [Tensor]
    /// The op's output.
    public let output: Tensor
    /// Extra tensors from `forwardAndSave`.
    public let saved: [Tensor]
    let needsGrad: [Bool]
    /// The tensors `gradients(of:wrt:)` asked for (empty for a plain backward).
    var requested: Set<ObjectIdentifier> = []

    /// Whether input `i` needs a gradient.
    public func needs(_ i: Int) -> Bool { i < needsGrad.count && needsGrad[i] }
    /// Whether input `i` is one of the tensors `gradients(of:wrt:)` was asked for (its own gradient must reach it,
    /// not only the gradients of what made it).
    func isRequested(_ i: Int) -> Bool { !requested.isEmpty && requested.contains(ObjectIdentifier(inputs[i])) }
    /// Whether the tensor with this identity is one of those `gradients(of:wrt:)` was asked for.
    func isRequested(_ id: ObjectIdentifier) -> Bool { requested.contains(id) }
}

/// Every primitive type, by family (each op file lists its own). Names are unique: a tracer or an importer can look
/// an op up by name.
public enum OpRegistry {
    /// All registered primitive types.
    public static var all: [any PrimitiveOp.Type] {
        elementwiseOps + unaryOps + reduceOps + viewOps + indexingOps + linalgOps + convOps + batchNormOps + recurrentOps
            + attentionOps + layerNormOps
            + autodiffOps
    }

    /// The primitive type registered under `name`.
    public static func lookup(_ name: String) -> (any PrimitiveOp.Type)? { all.first { $0.name == name } }

    static let autodiffOps: [any PrimitiveOp.Type] = [Detach.self, Clone.self]
}

/// Cuts a tensor from the tape: the same values, no gradient (`Tensor.detached()`). A view.
struct Detach: PrimitiveOp {
    static let name = "detach"
    static var isDifferentiable: Bool { false }
    func forward(_ x: [Tensor]) -> Tensor { x[0].view(shape: x[0].shape, strides: x[0].strides, offset: x[0].offset) }
}

/// A copy in memory of its own; the gradient passes through (`torch.clone`).
struct Clone: PrimitiveOp {
    static let name = "clone"
    static var savesInputs: Bool { false }
    func forward(_ x: [Tensor]) -> Tensor { x[0].copied() }
    func vjp(_ g: Tensor, _ ctx: VJPContext) -> [Tensor?] { [g] }
}
