import EmberCore
import EmberIO
import EmberNN
import Foundation
import SwiftProtobuf

/// How `exportONNX` writes a model.
public struct ONNXExportOptions: Sendable {
    /// The ONNX operator set (17 by default; 13-21 are supported: 20 and later use the Gelu operator).
    public var opset: Int = 17
    /// Dimension 0 of the input and output is the symbolic "batch" instead of the traced batch size.
    public var dynamicBatch: Bool = true
    /// The graph's input and output names.
    public var inputName = "input", outputName = "output"
    /// The model's name in the file's metadata.
    public var modelName = "ember-model"
    public init(opset: Int = 17, dynamicBatch: Bool = true, inputName: String = "input", outputName: String = "output",
                modelName: String = "ember-model") {
        self.opset = opset; self.dynamicBatch = dynamicBatch; self.inputName = inputName
        self.outputName = outputName; self.modelName = modelName
    }
}

extension Module {
    /// Writes the module's forward pass as an ONNX model (checked by `onnx.checker` and run by onnxruntime in
    /// Ember's tests). The module is traced in evaluation mode on zeros of `inputShape` (with the batch first);
    /// dropout disappears and batch norm uses its running statistics. Parameters become initializers named by their
    /// state-dict names. The file is written atomically.
    ///
    /// ```swift
    /// try model.exportONNX(to: URL(fileURLWithPath: "model.onnx"), inputShape: [1, 1, 28, 28])
    /// ```
    public func exportONNX(to url: URL, inputShape: [Int], dynamicBatch: Bool = true, opset: Int = 17) throws {
        try exportONNX(to: url, inputShape: inputShape,
                       options: ONNXExportOptions(opset: opset, dynamicBatch: dynamicBatch))
    }

    /// `exportONNX` with every option.
    public func exportONNX(to url: URL, inputShape: [Int], inputDType: DType = .float32,
                           options: ONNXExportOptions) throws {
        let data = try onnxModelData(inputShape: inputShape, inputDType: inputDType, options: options)
        try AtomicFile.write(data, to: url)
    }

    /// The serialized ONNX model (see `exportONNX`).
    public func onnxModelData(inputShape: [Int], inputDType: DType = .float32,
                              options: ONNXExportOptions = ONNXExportOptions()) throws -> Data {
        let wasTraining = training
        eval()
        defer { if wasTraining { train() } }
        guard !inputShape.isEmpty || !options.dynamicBatch else {
            throw ONNXError.dynamicBatch(op: "input", reason: "is a scalar (no batch dimension)")
        }
        func traced(batch: Int?) throws -> Trace {
            var shape = inputShape
            if let batch { shape[0] = batch }
            return try withoutGrad { try self.trace(Tensor.zeros(shape, dtype: inputDType)) }
        }
        guard options.dynamicBatch else {
            var exporter = ONNXExporter(trace: try traced(batch: nil), options: options)
            return try exporter.model().serializedData()
        }
        // A dynamic batch: the graph is checked on a trace at batch 2, where a reshape that folds the batch into
        // other dimensions shows, and written from a trace at batch 1, so that tensors the forward pass creates with
        // the batch size (zero initial states of recurrent layers) broadcast to any batch.
        var check = ONNXExporter(trace: try traced(batch: 2), options: options)
        _ = try check.model()
        var exporter = ONNXExporter(trace: try traced(batch: 1), options: options)
        return try exporter.model().serializedData()
    }
}

/// Translates a `Trace` of registry primitives into an ONNX graph.
struct ONNXExporter {
    let trace: Trace
    let options: ONNXExportOptions
    private var nodes: [Onnx_NodeProto] = []
    private var initializers: [Onnx_TensorProto] = []
    private var initialized: Set<String> = []
    private var counter = 0
    /// ONNX value name of each node's result, and which dimension of each node's result is the batch (nil: none).
    private var names: [String] = []
    private var batchAxes: [Int?] = []

    init(trace: Trace, options: ONNXExportOptions) {
        self.trace = trace
        self.options = options
    }

    static let supportedOpsets = 13...21

    mutating func model() throws -> Onnx_ModelProto {
        guard Self.supportedOpsets.contains(options.opset) else {
            throw ONNXError.unsupportedPrimitive(op: "opset", reason: "opset \(options.opset) is outside \(Self.supportedOpsets)")
        }
        guard trace.inputs.count == 1, let input = trace.inputs.first else {
            throw ONNXError.unsupportedPrimitive(op: "inputs", reason: "a model with one input is exported")
        }
        let dynamic = options.dynamicBatch && !input.shape.isEmpty
        let outputs = Set(trace.outputs.compactMap { r -> Int? in if case .node(let i) = r { return i } else { return nil } })
        for (i, node) in trace.nodes.enumerated() {
            let ins = try node.inputs.map { try name(of: $0) }
            let inAxes = node.inputs.map { batchAxis($0, dynamic: dynamic) }
            let out = outputs.contains(i) && trace.outputs.count == 1 ? options.outputName : fresh(node.name)
            let rule = try emit(node, ins, inAxes, out)
            var axis: Int?
            switch rule {
            case .none: axis = nil
            case .axis(let a): axis = a
            case .elementwise:
                // inputs broadcast from the right: each batched input's axis, counted in the output's rank
                let r = node.output.shape.count
                let candidates = Set(zip(node.inputs, inAxes).compactMap { ref, a in a.map { $0 + r - rank(of: ref) } })
                guard candidates.count <= 1 else {
                    throw ONNXError.dynamicBatch(op: node.name, reason: "combines values whose batch dimensions differ")
                }
                axis = candidates.first
            }
            names.append(out)
            batchAxes.append(node.output.shape.isEmpty ? nil : axis)
        }
        var graph = Onnx_GraphProto()
        graph.name = options.modelName
        graph.node = nodes
        graph.initializer = initializers
        graph.input = [Onnx_ValueInfoProto(name: options.inputName, dtype: input.dtype, shape: input.shape,
                                           batchAxis: dynamic ? 0 : nil)]
        for (k, r) in trace.outputs.enumerated() {
            var n = try name(of: r)
            let wanted = trace.outputs.count == 1 ? options.outputName : "\(options.outputName)\(k)"
            if n != wanted {
                append("Identity", [n], [], out: wanted)
                n = wanted
            }
            let info: Trace.ValueInfo
            switch r {
            case .node(let i): info = trace.nodes[i].output
            case .input: info = input
            case .parameter(let p): info = Trace.ValueInfo(shape: trace.parameters[p]!.shape, dtype: trace.parameters[p]!.dtype)
            case .constant(let c): info = Trace.ValueInfo(shape: trace.constants[c].shape, dtype: trace.constants[c].dtype)
            }
            graph.output.append(Onnx_ValueInfoProto(name: n, dtype: info.dtype, shape: info.shape,
                                                    batchAxis: batchAxis(r, dynamic: dynamic)))
        }
        graph.node = nodes
        var model = Onnx_ModelProto()
        model.irVersion = 8
        model.producerName = "ember"
        model.producerVersion = "0.1"
        var opset = Onnx_OperatorSetIdProto()
        opset.domain = ""
        opset.version = Int64(options.opset)
        model.opsetImport = [opset]
        model.graph = graph
        return model
    }

    // MARK: values

    private mutating func fresh(_ hint: String) -> String {
        counter += 1
        return "\(hint)_\(counter)"
    }

    private func batchAxis(_ r: Trace.Ref, dynamic: Bool) -> Int? {
        switch r {
        case .input: return dynamic ? 0 : nil
        case .node(let i): return batchAxes[i]
        case .parameter, .constant: return nil
        }
    }

    private func shape(of r: Trace.Ref) -> [Int] {
        switch r {
        case .input: return trace.inputs[0].shape
        case .node(let i): return trace.nodes[i].output.shape
        case .parameter(let p): return trace.parameters[p]!.shape
        case .constant(let c): return trace.constants[c].shape
        }
    }

    private func rank(of r: Trace.Ref) -> Int { shape(of: r).count }

    /// Where the batch dimension of a node's result is.
    enum BatchRule { case elementwise, axis(Int), none }

    private mutating func name(of r: Trace.Ref) throws -> String {
        switch r {
        case .input: return options.inputName
        case .node(let i): return names[i]
        case .parameter(let p):
            if !initialized.contains(p) {
                initializers.append(Onnx_TensorProto(trace.parameters[p]!, name: p))
                initialized.insert(p)
            }
            return p
        case .constant(let c):
            let n = "const_\(c)"
            if !initialized.contains(n) {
                initializers.append(Onnx_TensorProto(trace.constants[c], name: n))
                initialized.insert(n)
            }
            return n
        }
    }

    /// A new initializer with these values.
    private mutating func constant(_ t: Tensor, _ hint: String) -> String {
        let n = fresh(hint)
        initializers.append(Onnx_TensorProto(t, name: n))
        initialized.insert(n)
        return n
    }

    private mutating func ints(_ v: [Int]) -> String { constant(Tensor(v.map(Int64.init), shape: [v.count]), "ints") }
    private mutating func scalar(_ v: Double, _ dtype: DType) -> String { constant(Tensor(v, dtype: dtype), "scalar") }

    @discardableResult
    private mutating func append(_ op: String, _ inputs: [String], _ attrs: [Onnx_AttributeProto], out: String? = nil) -> String {
        var n = Onnx_NodeProto()
        n.opType = op
        n.input = inputs
        let o = out ?? fresh(op.lowercased())
        n.output = [o]
        n.name = "\(op)_\(nodes.count)"
        n.attribute = attrs
        nodes.append(n)
        return o
    }

    // MARK: translation

    /// Appends the ONNX nodes for one primitive whose result is named `out`; says where the result's batch
    /// dimension is, given the batch dimension of each input (`xb`).
    private mutating func emit(_ node: Trace.Node, _ x: [String], _ xb: [Int?], _ out: String) throws -> BatchRule {
        let a = node.attributes, anyBatched = BatchRule.elementwise, dt = node.output.dtype
        func int(_ k: String) -> Int { if case .int(let v)? = a[k] { return v }; return 0 }
        func intList(_ k: String) -> [Int] { if case .ints(let v)? = a[k] { return v }; return [] }
        func dbl(_ k: String) -> Double { if case .double(let v)? = a[k] { return v }; return 0 }
        func flag(_ k: String) -> Bool { if case .bool(let v)? = a[k] { return v }; return false }
        func str(_ k: String) -> String { if case .string(let v)? = a[k] { return v }; return "" }
        func simple(_ op: String, _ attrs: [Onnx_AttributeProto] = []) -> BatchRule { append(op, x, attrs, out: out); return anyBatched }
        func moves(_ what: String) -> ONNXError { .dynamicBatch(op: node.name, reason: what) }
        let inputShape = node.inputs.first.map { shape(of: $0) } ?? []
        let b: Int? = xb.first ?? nil

        switch node.name {
        // elementwise, one to one
        case "neg": return simple("Neg")
        case "exp": return simple("Exp")
        case "log": return simple("Log")
        case "sqrt": return simple("Sqrt")
        case "abs": return simple("Abs")
        case "sign": return simple("Sign")
        case "sin": return simple("Sin")
        case "cos": return simple("Cos")
        case "tanh": return simple("Tanh")
        case "sigmoid": return simple("Sigmoid")
        case "reciprocal": return simple("Reciprocal")
        case "erf": return simple("Erf")
        case "relu": return simple("Relu")
        case "add": return simple("Add")
        case "sub": return simple("Sub")
        case "mul": return simple("Mul")
        case "div": return simple("Div")
        case "pow": return simple("Pow")
        case "maximum": return simple("Max")
        case "minimum": return simple("Min")
        case "eq": return simple("Equal")
        case "lt": return simple("Less")
        case "le": return simple("LessOrEqual")
        case "gt": return simple("Greater")
        case "ge": return simple("GreaterOrEqual")
        case "logical_and": return simple("And")
        case "logical_or": return simple("Or")
        case "where": return simple("Where")
        case "matmul":
            if let b, b == inputShape.count - 1 { throw moves("contracts the batch dimension") }
            if xb.count > 1, let c = xb[1], c == rank(of: node.inputs[1]) - 2 { throw moves("contracts the batch dimension") }
            return simple("MatMul")
        case "contiguous", "detach", "clone", "to_device": return simple("Identity")
        case "ne":
            append("Not", [append("Equal", x, [])], [], out: out)
            return anyBatched
        case "cast":
            guard case .dtype(let to)? = a["to"] else { throw ONNXError.unsupportedPrimitive(op: "cast", reason: "no target dtype") }
            return simple("Cast", [.int("to", to.onnxType.rawValue)])

        // elementwise, composed
        case "rsqrt":
            append("Reciprocal", [append("Sqrt", x, [])], [], out: out)
            return anyBatched
        case "square":
            append("Mul", [x[0], x[0]], [], out: out)
            return anyBatched
        case "log1p":
            append("Log", [append("Add", [x[0], scalar(1, dt)], [])], [], out: out)
            return anyBatched
        case "expm1":
            append("Sub", [append("Exp", x, []), scalar(1, dt)], [], out: out)
            return anyBatched
        case "affine":
            let scaled = append("Mul", [x[0], scalar(dbl("a"), dt)], [])
            append("Add", [scaled, scalar(dbl("b"), dt)], [], out: out)
            return anyBatched
        case "pow_scalar":
            append("Pow", [x[0], scalar(dbl("p"), dt)], [], out: out)
            return anyBatched
        case "leaky_relu": return simple("LeakyRelu", [.float("alpha", dbl("slope"))])
        case "elu": return simple("Elu", [.float("alpha", dbl("alpha"))])
        case "silu":
            append("Mul", [x[0], append("Sigmoid", x, [])], [], out: out)
            return anyBatched
        case "gelu":
            let tanh = str("approximate") == "tanh"
            if options.opset >= 20 { return simple("Gelu", [.string("approximate", tanh ? "tanh" : "none")]) }
            let inner: String
            if tanh {
                // 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
                let cube = append("Mul", [x[0], append("Mul", [x[0], x[0]], [])], [])
                let poly = append("Add", [x[0], append("Mul", [cube, scalar(0.044715, dt)], [])], [])
                inner = append("Tanh", [append("Mul", [poly, scalar((2 / Double.pi).squareRoot(), dt)], [])], [])
            } else {
                inner = append("Erf", [append("Div", [x[0], scalar(2.0.squareRoot(), dt)], [])], [])
            }
            let half = append("Mul", [x[0], scalar(0.5, dt)], [])
            append("Mul", [half, append("Add", [inner, scalar(1, dt)], [])], [], out: out)
            return anyBatched
        case "softplus":
            // PyTorch's: x where beta x > threshold, else log(1 + exp(beta x)) / beta
            let beta = dbl("beta"), threshold = dbl("threshold")
            let bx = beta == 1 ? x[0] : append("Mul", [x[0], scalar(beta, dt)], [])
            var soft = append("Softplus", [bx], [])
            if beta != 1 { soft = append("Div", [soft, scalar(beta, dt)], []) }
            let big = append("Greater", [bx, scalar(threshold, dt)], [])
            append("Where", [big, x[0], soft], [], out: out)
            return anyBatched
        case "clamp":
            append("Clip", [x[0], scalar(dbl("min"), dt), scalar(dbl("max"), dt)], [], out: out)
            return anyBatched

        // a tensor with a number
        case "add_scalar", "mul_scalar", "div_scalar", "rsub_scalar", "rdiv_scalar":
            let s = scalar(dbl("scalar"), dt)
            switch node.name {
            case "add_scalar": append("Add", [x[0], s], [], out: out)
            case "mul_scalar": append("Mul", [x[0], s], [], out: out)
            case "div_scalar": append("Div", [x[0], s], [], out: out)
            case "rsub_scalar": append("Sub", [s, x[0]], [], out: out)
            default: append("Div", [s, x[0]], [], out: out)
            }
            return anyBatched
        case "compare_scalar":
            let inDT: DType = {
                if case .node(let i) = node.inputs[0] { return trace.nodes[i].output.dtype }
                if case .input = node.inputs[0] { return trace.inputs[0].dtype }
                return .float32
            }()
            let s = scalar(dbl("scalar"), inDT)
            let ops = ["eq": "Equal", "lt": "Less", "le": "LessOrEqual", "gt": "Greater", "ge": "GreaterOrEqual"]
            let op = str("op")
            if op == "ne" {
                append("Not", [append("Equal", [x[0], s], [])], [], out: out)
            } else if let o = ops[op] {
                append(o, [x[0], s], [], out: out)
            } else {
                throw ONNXError.unsupportedPrimitive(op: "compare_scalar", reason: "comparison \(op)")
            }
            return anyBatched

        // shapes
        case "reshape":
            var target = intList("shape")
            if let b {
                guard target.count > b, Array(target[...b]) == Array(inputShape[...b]) else {
                    throw moves("from \(inputShape) to \(target) merges or splits the batch dimension")
                }
                for i in 0...b { target[i] = 0 }  // ONNX: 0 copies the input's dimension
            }
            append("Reshape", [x[0], ints(target)], [], out: out)
            return b.map { .axis($0) } ?? .none
        case "permute":
            let dims = intList("dims")
            append("Transpose", x, [.ints("perm", dims)], out: out)
            return b.flatMap { dims.firstIndex(of: $0) }.map { .axis($0) } ?? .none
        case "expand":
            var target = intList("shape")
            if let b { target[b + target.count - inputShape.count] = 1 }  // Expand broadcasts: 1 keeps the input's batch
            append("Expand", [x[0], ints(target)], [], out: out)
            return anyBatched
        case "squeeze":
            let axes = intList("axes")
            if let b, axes.contains(b) { throw moves("removes the batch dimension") }
            append("Squeeze", [x[0], ints(axes)], [], out: out)
            return b.map { b in .axis(b - axes.filter { $0 < b }.count) } ?? .none
        case "unsqueeze":
            let axis = int("axis")
            append("Unsqueeze", [x[0], ints([axis])], [], out: out)
            return b.map { .axis(axis <= $0 ? $0 + 1 : $0) } ?? .none
        case "slice":
            let axis = int("axis"), start = int("start"), end = int("end"), step = int("step")
            if b == axis { throw moves("slices the batch dimension") }
            append("Slice", [x[0], ints([start]), ints([end]), ints([axis]), ints([step])], [], out: out)
            return b.map { .axis($0) } ?? .none
        case "flip":
            let axes = intList("axes")
            if let b, axes.contains(b) { throw moves("flips the batch dimension") }
            append("Slice", [x[0], ints(axes.map { _ in -1 }), ints(axes.map { _ in Int(Int64.min) }), ints(axes),
                             ints(axes.map { _ in -1 })], [], out: out)
            return b.map { .axis($0) } ?? .none
        case "concat":
            let axis = int("axis")
            if xb.contains(axis) { throw moves("concatenates along the batch dimension") }
            return simple("Concat", [.int("axis", axis)])
        case "pad":
            let widths = intList("widths"), k = widths.count / 2, rank = inputShape.count
            var begins = [Int](repeating: 0, count: rank), ends = begins
            for j in 0..<k {
                begins[rank - k + j] = widths[2 * j]
                ends[rank - k + j] = widths[2 * j + 1]
            }
            if let b, begins[b] != 0 || ends[b] != 0 { throw moves("pads the batch dimension") }
            append("Pad", [x[0], ints(begins + ends), scalar(dbl("value"), dt)], [.string("mode", "constant")], out: out)
            return b.map { .axis($0) } ?? .none

        // reductions
        case "sum", "max", "min", "prod":
            let axes = intList("axes"), keep = flag("keepDims")
            let op = ["sum": "ReduceSum", "max": "ReduceMax", "min": "ReduceMin", "prod": "ReduceProd"][node.name]!
            // ReduceSum takes axes as an input from opset 13, the others from opset 18
            if node.name == "sum" || options.opset >= 18 {
                append(op, [x[0], ints(axes)], [.int("keepdims", keep ? 1 : 0)], out: out)
            } else {
                append(op, [x[0]], [.ints("axes", axes), .int("keepdims", keep ? 1 : 0)], out: out)
            }
            guard let b, !axes.contains(b) else { return .none }   // a reduction over the batch is not batched
            return .axis(keep ? b : b - axes.filter { $0 < b }.count)
        case "argmax", "argmin":
            let axis = int("axis")
            append(node.name == "argmax" ? "ArgMax" : "ArgMin", x,
                   [.int("axis", axis), .int("keepdims", flag("keepDims") ? 1 : 0)], out: out)
            guard let b, axis != b else { return .none }
            return .axis(flag("keepDims") || axis > b ? b : b - 1)
        case "softmax": return simple("Softmax", [.int("axis", int("axis"))])
        case "log_softmax": return simple("LogSoftmax", [.int("axis", int("axis"))])
        case "cumsum":
            append("CumSum", [x[0], constant(Tensor([Int64(int("axis"))], shape: []), "axis")], [], out: out)
            return anyBatched

        // indexing
        case "gather": return simple("GatherElements", [.int("axis", int("axis"))])
        case "index_select":
            let axis = int("axis"), indexRank = node.inputs.count > 1 ? rank(of: node.inputs[1]) : 1
            if b == axis { throw moves("selects along the batch dimension") }
            append("Gather", [x[0], x[1]], [.int("axis", axis)], out: out)
            if let c = xb.count > 1 ? xb[1] : nil { return .axis(axis + c) }   // embedding: batched indices
            return b.map { .axis($0 < axis ? $0 : $0 + indexRank - 1) } ?? .none
        case "scatter_add":
            return simple("ScatterElements", [.int("axis", int("axis")), .string("reduction", "add")])
        case "one_hot":
            guard case .dtype(let to)? = a["dtype"] else { throw ONNXError.unsupportedPrimitive(op: "one_hot", reason: "no dtype") }
            let values = constant(Tensor([0, 1] as [Float]), "onehot_values")
            let hot = append("OneHot", [x[0], constant(Tensor([Int64(int("numClasses"))], shape: []), "depth"), values], [.int("axis", -1)])
            append("Cast", [hot], [.int("to", to.onnxType.rawValue)], out: out)
            return b.map { .axis($0) } ?? .none

        // layers
        case "linear":
            if let b, b == inputShape.count - 1 { throw moves("contracts the batch dimension") }
            if inputShape.count == 2 {
                return simple("Gemm", [.int("transB", 1)])
            }
            let wt = append("Transpose", [x[1]], [.ints("perm", [1, 0])])
            if x.count > 2 {
                append("Add", [append("MatMul", [x[0], wt], []), x[2]], [], out: out)
            } else {
                append("MatMul", [x[0], wt], [], out: out)
            }
            return b.map { .axis($0) } ?? .none
        case "conv2d":
            if let b, b != 0 { throw moves("convolves a batch that is not dimension 0") }
            guard inputShape.count == 4, let kernel = weightShape(node)?.suffix(2) else {
                throw ONNXError.unsupportedPrimitive(op: "conv2d", reason: "input \(inputShape): ONNX Conv needs [N, C, H, W]")
            }
            let p = intList("padding")
            return simple("Conv", [.ints("kernel_shape", Array(kernel)), .ints("strides", intList("stride")),
                                   .ints("pads", [p[0], p[1], p[0], p[1]]), .ints("dilations", intList("dilation")),
                                   .int("group", int("groups"))])
        case "conv_transpose2d":
            guard inputShape.count == 4, let kernel = weightShape(node)?.suffix(2) else {
                throw ONNXError.unsupportedPrimitive(op: "conv_transpose2d", reason: "input \(inputShape): ONNX ConvTranspose needs [N, C, H, W]")
            }
            let p = intList("padding")
            return simple("ConvTranspose", [.ints("kernel_shape", Array(kernel)), .ints("strides", intList("stride")),
                                            .ints("pads", [p[0], p[1], p[0], p[1]]), .ints("dilations", intList("dilation")),
                                            .ints("output_padding", intList("outputPadding")), .int("group", int("groups"))])
        case "max_pool2d", "avg_pool2d":
            guard inputShape.count == 4 else {
                throw ONNXError.unsupportedPrimitive(op: node.name, reason: "input \(inputShape): ONNX pooling needs [N, C, H, W]")
            }
            let p = intList("padding")
            var attrs: [Onnx_AttributeProto] = [.ints("kernel_shape", intList("kernel")), .ints("strides", intList("stride")),
                                                .ints("pads", [p[0], p[1], p[0], p[1]])]
            if node.name == "max_pool2d" {
                attrs.append(.ints("dilations", intList("dilation")))
                return simple("MaxPool", attrs)
            }
            attrs.append(.int("count_include_pad", flag("countIncludePad") ? 1 : 0))
            return simple("AveragePool", attrs)

        case "batch_norm_inference":
            guard x.count == 5 else {
                // without weight and bias: ONNX's BatchNormalization needs them, so give ones and zeros
                let c = inputShape.count > 1 ? inputShape[1] : 1
                let ones = constant(Tensor.ones([c], dtype: dt), "bn_scale"), zeros = constant(Tensor.zeros([c], dtype: dt), "bn_bias")
                append("BatchNormalization", [x[0], ones, zeros, x[1], x[2]], [.float("epsilon", dbl("eps"))], out: out)
                return b.map { .axis($0) } ?? .none
            }
            if let b, b != 0 { throw moves("normalizes a batch that is not dimension 0") }
            append("BatchNormalization", [x[0], x[3], x[4], x[1], x[2]], [.float("epsilon", dbl("eps"))], out: out)
            return b.map { .axis($0) } ?? .none
        case "layer_norm":
            let k = intList("normalizedShape").count, rank = inputShape.count
            if let b, b >= rank - k { throw moves("normalizes over the batch dimension") }
            var scale = x.count > 1 ? x[1] : "", bias = x.count > 2 ? x[2] : ""
            if x.count == 1 {
                let shape = Array(inputShape.suffix(k))
                scale = constant(Tensor.ones(shape, dtype: dt), "ln_scale")
                bias = constant(Tensor.zeros(shape, dtype: dt), "ln_bias")
            }
            append("LayerNormalization", [x[0], scale, bias], [.int("axis", rank - k), .float("epsilon", dbl("eps"))], out: out)
            return b.map { .axis($0) } ?? .none
        case "lstm_sequence", "gru_sequence":
            return try recurrence(node, x, xb, out)

        default:
            if node.name.hasSuffix("_grad") || node.name.hasSuffix("_backward") {
                throw ONNXError.unsupportedPrimitive(op: node.name, reason: "a gradient primitive; export a forward pass")
            }
            throw ONNXError.unsupportedPrimitive(op: node.name, reason: "no ONNX translation yet")
        }
    }

    /// Ember's fused recurrences as ONNX's LSTM / GRU. Their input is the projection `W_ih x + b_ih` of every step
    /// (PyTorch's gate order), so ONNX's input weights are a permutation matrix that only reorders the gates (LSTM:
    /// i f g o -> i o f c; GRU: r z n -> z r h, with linear_before_reset as PyTorch computes n). The result is Ember's
    /// packed [T + 2 (LSTM) or T + 1, B, H]: the outputs, then the final hidden (and cell) state.
    private mutating func recurrence(_ node: Trace.Node, _ x: [String], _ xb: [Int?], _ out: String) throws -> BatchRule {
        let lstm = node.name == "lstm_sequence"
        let attrs = node.attributes
        let reverse: Bool = { if case .bool(let v)? = attrs["reverse"] { return v }; return false }()
        let hasBias: Bool = { if case .bool(let v)? = attrs["bias"] { return v }; return false }()
        let projected = shape(of: node.inputs[0]), w = shape(of: node.inputs[1])
        let gates = lstm ? 4 : 3, hidden = w[1], dt = node.output.dtype
        guard projected.count == 3, w == [gates * hidden, hidden] else {
            throw ONNXError.unsupportedPrimitive(op: node.name, reason: "shapes \(projected) and \(w)")
        }
        if let b = xb[0], b != 1 { throw ONNXError.dynamicBatch(op: node.name, reason: "runs over a batch that is not dimension 1") }
        // ONNX gate block k takes Ember's block order[k]
        let order = lstm ? [0, 3, 1, 2] : [1, 0, 2]
        let n = gates * hidden
        var perm = [Double](repeating: 0, count: n * n)
        for (k, src) in order.enumerated() {
            for j in 0..<hidden { perm[(k * hidden + j) * n + src * hidden + j] = 1 }
        }
        let wIn = constant(Tensor(perm, shape: [1, n, n]).cast(dt), "recurrent_gate_order")
        let rows = Tensor(order.flatMap { b in (0..<hidden).map { Int64(b * hidden + $0) } }, shape: [n])
        let rowIndex = constant(rows, "recurrent_rows")
        let r = append("Unsqueeze", [append("Gather", [x[1], rowIndex], [.int("axis", 0)]), ints([0])], [])
        // a state made inside the forward pass (zeros at the traced batch 1) is expanded to the input's batch
        var batchDims = ""
        if xb[0] != nil {
            let dims = append("Shape", [x[0]], [])
            batchDims = append("Concat", [append("Slice", [dims, ints([1]), ints([2]), ints([0])], []), ints([hidden])], [.int("axis", 0)])
        }
        func state(_ i: Int) -> String {
            let s = xb[0] != nil && xb[i] == nil ? append("Expand", [x[i], batchDims], []) : x[i]
            return append("Unsqueeze", [s, ints([0])], [])
        }
        let h0 = state(2)
        let c0 = lstm ? state(3) : ""
        let biasIndex = lstm ? 4 : 3
        var bias = ""
        if hasBias {
            let rb = append("Gather", [x[biasIndex], rowIndex], [.int("axis", 0)])
            let zeros = constant(Tensor.zeros([n], dtype: dt), "recurrent_zero_bias")
            bias = append("Unsqueeze", [append("Concat", [zeros, rb], [.int("axis", 0)]), ints([0])], [])
        }
        var lens = ""
        if case .ints(let lengths)? = attrs["lengths"] {
            if xb[0] != nil { throw ONNXError.dynamicBatch(op: node.name, reason: "has per-sequence lengths fixed at export") }
            lens = constant(Tensor(lengths.map { Int32($0) }, shape: [lengths.count]), "sequence_lens")
        }
        var onnxAttrs: [Onnx_AttributeProto] = [.int("hidden_size", hidden), .string("direction", reverse ? "reverse" : "forward")]
        if !lstm { onnxAttrs.append(.int("linear_before_reset", 1)) }
        var n1 = Onnx_NodeProto()
        n1.opType = lstm ? "LSTM" : "GRU"
        n1.name = "\(n1.opType)_\(nodes.count)"
        n1.input = [x[0], wIn, r, bias, lens, h0] + (lstm ? [c0] : [])
        let y = fresh("y"), yh = fresh("y_h"), yc = fresh("y_c")
        n1.output = lstm ? [y, yh, yc] : [y, yh]
        n1.attribute = onnxAttrs
        nodes.append(n1)
        // Y [T, 1, B, H] -> [T, B, H]; Y_h, Y_c [1, B, H] stack below the outputs
        let parts = [append("Squeeze", [y, ints([1])], []), yh] + (lstm ? [yc] : [])
        append("Concat", parts, [.int("axis", 0)], out: out)
        return xb[0] != nil ? .axis(1) : .none
    }

    private func weightShape(_ node: Trace.Node) -> [Int]? {
        guard node.inputs.count > 1 else { return nil }
        switch node.inputs[1] {
        case .parameter(let p): return trace.parameters[p]?.shape
        case .constant(let c): return trace.constants[c].shape
        case .node(let i): return trace.nodes[i].output.shape
        case .input: return trace.inputs[0].shape
        }
    }
}
