/// A layer with its own input and output types: a recurrent cell that takes `(x, state)` and returns
/// `(output, state)`, attention that takes a query, a key, a value and a mask.
///
/// A `Layer` is a `Module` (so its parameters, buffers and submodules are found, named and saved as any module's)
/// that implements `forward(_:)` for its `Input` and gets `layer(input)` from this protocol:
///
/// ```swift
/// final class GatedCell: Module, Layer {
///     typealias Input = (x: Tensor, state: Tensor?)
///     typealias Output = (output: Tensor, state: Tensor)
///     let inputProj: Linear, stateProj: Linear
///     init(_ inputs: Int, _ hidden: Int) {
///         inputProj = Linear(inputs, hidden); stateProj = Linear(hidden, hidden, bias: false)
///     }
///     func forward(_ input: Input) -> Output {
///         let (x, h) = input
///         var pre = inputProj(x)
///         if let h { pre = pre + stateProj(h) }
///         let next = pre.tanh()
///         return (next, next)
///     }
/// }
/// let (y, h) = cell((x, nil))       // the first step starts without a state
/// let (y2, _) = cell((x2, h))       // later steps pass it on
/// ```
///
/// Why this shape: Swift has no tuple splatting and a protocol cannot require a variadic labelled argument list, so
/// the generic entry point takes one value of the layer's `Input` type: a tensor, a tuple, an optional, or a struct
/// of its own. Generic code (a trainer, a chain, a test helper) calls `layer(input)`. A layer with several
/// arguments adds the call it wants on top, in one line, and that is what users write:
///
/// ```swift
/// extension Attention {
///     func callAsFunction(_ q: Tensor, _ k: Tensor, _ v: Tensor, mask: Tensor? = nil) -> Tensor {
///         forward(AttentionInput(query: q, key: k, value: v, mask: mask))
///     }
/// }
/// ```
///
/// A layer names its `Input` and `Output` with two `typealias` lines: every module also has the single-tensor
/// `forward(_ x: Tensor) -> Tensor`, so Swift cannot tell on its own which `forward` defines the layer's types.
/// The two lines double as the layer's signature at the top of its declaration.
///
/// Single-tensor layers keep overriding `Module.forward(_ x: Tensor) -> Tensor`, which `Sequential` chains; they
/// need not adopt `Layer`. Gradients need nothing special: the tape records whatever tensors flow through.
public protocol Layer<Input, Output>: Module {
    /// What the layer takes: a tensor, a tuple such as `(Tensor, (h: Tensor, c: Tensor)?)`, or a struct.
    associatedtype Input
    /// What the layer returns.
    associatedtype Output
    /// The computation.
    func forward(_ input: Input) -> Output
}

extension Layer {
    /// Calls `forward(_:)`: `layer(input)`.
    public func callAsFunction(_ input: Input) -> Output { forward(input) }
}
