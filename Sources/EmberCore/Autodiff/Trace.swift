/// A forward pass recorded as a graph of registry primitives, with each node's attributes, result shape and dtype.
///
/// ```swift
/// let trace = try Trace.record(inputs: [x], names: names) { xs in [model(xs[0])] }
/// print(trace)                          // one line per node: %3 = linear(%0, @fc1.weight, @fc1.bias)
/// let y = trace.replay([otherX])[0]     // the same computation on new inputs
/// ```
///
/// Values a node reads are the trace's inputs, parameters (tensors named by the caller, e.g. with their state-dict
/// names: `Module.trace` passes them), constants (any other tensor made before the recording, or made inside it by a
/// creation function such as `Tensor(2.0)` or `Tensor.zeros`), or the results of earlier nodes. Parameters and
/// constants are kept by reference: a replay reads their current values.
///
/// What a trace cannot see is an error, not a gap: a tensor computed inside the recording by code that is not a
/// registry primitive (written through `withUnsafeMutableBufferPointer` or an in-place op, or a view made outside
/// the registry) makes `record` throw, naming the op that read it. Like any tracer it records one path: shapes are
/// those of the recorded inputs (a reshape keeps its resolved target shape), and Swift control flow that depends on
/// values (`item()`, `toArray`) is frozen as the constants it produced.
public struct Trace: Sendable, CustomStringConvertible {
    /// Where a node's input comes from.
    public enum Ref: Sendable, Hashable, CustomStringConvertible {
        /// The i-th input of the trace.
        case input(Int)
        /// A parameter, by its name.
        case parameter(String)
        /// The i-th constant.
        case constant(Int)
        /// The result of the i-th node.
        case node(Int)

        public var description: String {
            switch self {
            case .input(let i): return "%in\(i)"
            case .parameter(let n): return "@\(n)"
            case .constant(let i): return "$c\(i)"
            case .node(let i): return "%\(i)"
            }
        }
    }

    /// Shape and dtype of a value.
    public struct ValueInfo: Sendable, Hashable {
        public let shape: [Int]
        public let dtype: DType
        public init(shape: [Int], dtype: DType) { self.shape = shape; self.dtype = dtype }
    }

    /// One primitive application.
    public struct Node: Sendable, CustomStringConvertible {
        /// The primitive, with its attributes.
        public let op: any PrimitiveOp
        /// Its inputs, in the op's order.
        public let inputs: [Ref]
        /// Its result's shape and dtype.
        public let output: ValueInfo

        /// The op's registry name.
        public var name: String { op.name }
        /// The op's attributes.
        public var attributes: [String: OpAttribute] { op.attributes }

        public var description: String {
            let attrs = attributes.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
            let a = attrs.isEmpty ? "" : " {\(attrs.joined(separator: ", "))}"
            return "\(name)(\(inputs.map(\.description).joined(separator: ", ")))\(a) : \(output.dtype)\(output.shape)"
        }
    }

    /// The trace's inputs.
    public let inputs: [ValueInfo]
    /// The nodes in execution order.
    public let nodes: [Node]
    /// The results of the traced function.
    public let outputs: [Ref]
    /// Named parameters the nodes read (kept by reference).
    public let parameters: [String: Tensor]
    /// Constants the nodes read (kept by reference).
    public let constants: [Tensor]

    /// Records `body` applied to `inputs`. `names` gives parameters (and buffers) their names, e.g. the state-dict
    /// names; other tensors from outside become constants. Throws `TraceError` when `body` computes a tensor that
    /// the trace cannot see (see the type's notes) or returns one.
    public static func record(inputs: [Tensor], names: [ObjectIdentifier: String] = [:],
                              _ body: ([Tensor]) throws -> [Tensor]) throws -> Trace {
        let tracer = Tracer(inputs: inputs, names: names)
        let outs = try Tracer.$current.withValue(tracer) { try body(inputs) }
        var outRefs: [Trace.Ref] = []
        for o in outs { outRefs.append(tracer.ref(for: o, usedBy: "the traced function's result")) }
        if let problem = tracer.problem { throw TraceError(description: problem) }
        return Trace(inputs: inputs.map { ValueInfo(shape: $0.shape, dtype: $0.dtype) }, nodes: tracer.nodes,
                     outputs: outRefs, parameters: tracer.parameters, constants: tracer.constants)
    }

    /// Records a function of one tensor.
    public static func record(input: Tensor, names: [ObjectIdentifier: String] = [:],
                              _ body: (Tensor) throws -> Tensor) throws -> Trace {
        try record(inputs: [input], names: names) { [try body($0[0])] }
    }

    /// Runs the recorded nodes on new inputs (same shapes and dtypes as recorded), reading parameters from
    /// `parameters` where given, else the traced ones. The ops run as ever: recorded on the tape when an input or a
    /// parameter requires a gradient.
    public func replay(_ newInputs: [Tensor], parameters overrides: [String: Tensor] = [:]) -> [Tensor] {
        precondition(newInputs.count == inputs.count, "trace replay: \(newInputs.count) inputs for a trace of \(inputs.count)")
        for (i, (t, info)) in zip(newInputs, inputs).enumerated() {
            precondition(t.shape == info.shape && t.dtype == info.dtype,
                         "trace replay: input \(i) is \(t.dtype)\(t.shape), the trace was recorded with \(info.dtype)\(info.shape)")
        }
        var values: [Tensor] = []
        values.reserveCapacity(nodes.count)
        func value(_ r: Ref) -> Tensor {
            switch r {
            case .input(let i): return newInputs[i]
            case .parameter(let n): return overrides[n] ?? parameters[n]!
            case .constant(let i): return constants[i]
            case .node(let i): return values[i]
            }
        }
        for node in nodes { values.append(node.op.applied(node.inputs.map(value))) }
        return outputs.map(value)
    }

    public var description: String {
        var lines = inputs.enumerated().map { "%in\($0.offset) : \($0.element.dtype)\($0.element.shape)" }
        for (k, p) in parameters.sorted(by: { $0.key < $1.key }) { lines.append("@\(k) : \(p.dtype)\(p.shape)") }
        for (i, c) in constants.enumerated() { lines.append("$c\(i) : \(c.dtype)\(c.shape)") }
        for (i, n) in nodes.enumerated() { lines.append("%\(i) = \(n)") }
        lines.append("return \(outputs.map(\.description).joined(separator: ", "))")
        return lines.joined(separator: "\n")
    }
}

/// Why a trace could not be recorded.
public struct TraceError: Error, CustomStringConvertible, Sendable {
    public let description: String
}

extension PrimitiveOp {
    /// Applies this op to `inputs` (as `Tensor.apply`), opening an existential.
    func applied(_ inputs: [Tensor]) -> Tensor { Tensor.apply(self, inputs) }
}

/// The recording side of `Trace`: `Tensor.apply` reports every primitive to the task's current tracer.
final class Tracer: @unchecked Sendable {
    @TaskLocal static var current: Tracer?

    let names: [ObjectIdentifier: String]
    let startSerial: UInt64
    var refs: [ObjectIdentifier: Trace.Ref] = [:]
    /// Every tensor with a ref, kept alive so object identifiers stay unique while recording.
    var keep: [Tensor] = []
    var tracedStorages = Set<ObjectIdentifier>()
    var nodes: [Trace.Node] = []
    var parameters: [String: Tensor] = [:]
    var constants: [Tensor] = []
    var problem: String?

    init(inputs: [Tensor], names: [ObjectIdentifier: String]) {
        self.names = names
        startSerial = storageSerial.load(ordering: .relaxed)
        for (i, t) in inputs.enumerated() { remember(t, .input(i)) }
    }

    func remember(_ t: Tensor, _ r: Trace.Ref) {
        refs[ObjectIdentifier(t)] = r
        keep.append(t)
        if case .node = r { tracedStorages.insert(ObjectIdentifier(t.storage)) }
        if case .input = r { tracedStorages.insert(ObjectIdentifier(t.storage)) }
    }

    /// The ref of a tensor an op reads; a tensor the tracer has not seen becomes a parameter, a constant, or a
    /// problem (computed inside the recording outside the registry).
    func ref(for t: Tensor, usedBy op: String) -> Trace.Ref {
        if let r = refs[ObjectIdentifier(t)] { return r }
        let r: Trace.Ref
        if let name = names[ObjectIdentifier(t)] {
            r = .parameter(name)
            parameters[name] = t
        } else if tracedStorages.contains(ObjectIdentifier(t.storage)) {
            fail("a tensor \(t.dtype)\(t.shape) read by '\(op)' is a view of a traced value made outside the op registry")
            r = .constant(constants.count)
            constants.append(t)
        } else if t.storage.serial > startSerial && t.storage.version > 0 {
            fail("a tensor \(t.dtype)\(t.shape) read by '\(op)' was computed inside the traced region by code that is not a registry primitive (it was written in place or through withUnsafeMutableBufferPointer); make that computation a PrimitiveOp or do it before tracing")
            r = .constant(constants.count)
            constants.append(t)
        } else {
            r = .constant(constants.count)
            constants.append(t)
        }
        remember(t, r)
        return r
    }

    func fail(_ message: String) {
        if problem == nil { problem = "trace: \(message)" }
    }

    func record<Op: PrimitiveOp>(_ op: Op, _ inputs: [Tensor], _ out: Tensor) {
        let ins = inputs.map { ref(for: $0, usedBy: Op.name) }
        nodes.append(Trace.Node(op: op, inputs: ins, output: Trace.ValueInfo(shape: out.shape, dtype: out.dtype)))
        remember(out, .node(nodes.count - 1))
    }
}
