import EmberCore
import Foundation
import SwiftProtobuf

/// An ONNX model run on Ember's ops: weights from the initializers (raw or typed fields, or external data files
/// beside the model), nodes executed in the graph's order. Inference only: nothing is recorded for gradients.
///
/// ```swift
/// let model = try ONNXModel(contentsOf: URL(fileURLWithPath: "model.onnx"))
/// let y = try model(x)                                  // one input, one output
/// let outs = try model.run(["input": x])                // by name
/// ```
///
/// Loading checks every node's operator against `ONNXModel.supportedOperators` and throws
/// `ONNXError.unsupportedOperator` naming the first node that is not; attributes Ember cannot honour (an
/// asymmetric average-pooling pad, `ceil_mode`, integer division) throw `ONNXError.invalidModel` when the node runs.
public final class ONNXModel: @unchecked Sendable {
    /// The graph's inputs that are not initializers, in order.
    public let inputNames: [String]
    /// The graph's outputs, in order.
    public let outputNames: [String]
    /// The default-domain operator set the model imports.
    public let opset: Int
    let graph: Onnx_GraphProto
    let weights: [String: Tensor]
    let path: String

    /// The most elements a tensor in an imported graph may hold (initializers and shapes the graph computes).
    public static let maxElements = 1 << 28

    /// The operators `run` executes (default ONNX domain).
    public static let supportedOperators: Set<String> = [
        "Abs", "Add", "And", "ArgMax", "ArgMin", "AveragePool", "BatchNormalization", "Cast", "CastLike", "Clip", "Concat",
        "Constant", "ConstantOfShape", "Conv", "ConvTranspose", "Cos", "CumSum", "Div", "Dropout", "Elu", "Equal", "Erf",
        "Exp", "Expand", "Flatten", "Gather", "GatherElements", "Gelu", "Gemm", "GlobalAveragePool",
        "GlobalMaxPool", "Greater", "GreaterOrEqual", "GRU", "Identity", "LayerNormalization", "LeakyRelu", "Less",
        "LessOrEqual", "Log", "LogSoftmax", "LSTM", "MatMul", "Max", "MaxPool", "Mean", "Min", "Mul", "Neg", "Not",
        "OneHot", "Or", "Pad", "Pow", "Reciprocal", "ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceMax",
        "ReduceMean", "ReduceMin", "ReduceProd", "ReduceSum", "ReduceSumSquare", "Xor",
        "Relu", "Reshape", "ScatterElements", "Shape", "Sigmoid", "Sign", "Sin", "Size", "Slice", "Softmax",
        "Softplus", "Split", "Sqrt", "Squeeze", "Sub", "Sum", "Tanh", "Transpose", "Unsqueeze", "Where",
    ]

    /// Reads a model file (and external data files relative to its folder).
    public convenience init(contentsOf url: URL) throws {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw ONNXError.invalidModel(path: url.path, reason: "cannot be read (\(error.localizedDescription))")
        }
        try self.init(serialized: data, path: url.path, baseDirectory: url.deletingLastPathComponent())
    }

    /// A model from its serialized bytes; `baseDirectory` resolves external data locations.
    public init(serialized data: Data, path: String = "<memory>", baseDirectory: URL? = nil) throws {
        self.path = path
        let model: Onnx_ModelProto
        do { model = try Onnx_ModelProto(serializedBytes: data) } catch {
            throw ONNXError.invalidModel(path: path, reason: "not an ONNX model (protobuf: \(error))")
        }
        guard model.hasGraph else { throw ONNXError.invalidModel(path: path, reason: "the model has no graph") }
        graph = model.graph
        opset = Int(model.opsetImport.first { $0.domain.isEmpty || $0.domain == "ai.onnx" }?.version ?? 1)
        var w: [String: Tensor] = [:]
        for t in graph.initializer { w[t.name] = try Self.tensor(t, path: path, base: baseDirectory) }
        weights = w
        inputNames = graph.input.map(\.name).filter { w[$0] == nil }
        outputNames = graph.output.map(\.name)
        for n in graph.node {
            guard n.domain.isEmpty || n.domain == "ai.onnx", Self.supportedOperators.contains(n.opType) else {
                throw ONNXError.unsupportedOperator(node: n.name.isEmpty ? n.output.first ?? "?" : n.name,
                                                    opType: n.domain.isEmpty ? n.opType : "\(n.domain).\(n.opType)", opset: opset)
            }
        }
    }

    /// Runs the graph on one input, returning its one output.
    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        guard inputNames.count == 1, outputNames.count == 1 else {
            throw ONNXError.badInput(name: inputNames.joined(separator: ", "),
                                     reason: "the model has \(inputNames.count) inputs and \(outputNames.count) outputs; use run(_:)")
        }
        return try run([inputNames[0]: x])[outputNames[0]]!
    }

    /// Runs the graph; returns every graph output by name.
    public func run(_ inputs: [String: Tensor]) throws -> [String: Tensor] {
        for n in inputNames where inputs[n] == nil { throw ONNXError.badInput(name: n, reason: "missing") }
        for k in inputs.keys where !inputNames.contains(k) {
            throw ONNXError.badInput(name: k, reason: "not an input of this model (inputs: \(inputNames.joined(separator: ", ")))")
        }
        var env = weights
        for (k, v) in inputs { env[k] = v }
        try withoutGrad {
            for node in graph.node {
                let outs = try ONNXNodeRunner(node: node, env: env, opset: opset, path: path).run()
                for (name, t) in zip(node.output, outs) where !name.isEmpty { env[name] = t }
            }
        }
        var result: [String: Tensor] = [:]
        for n in outputNames {
            guard let t = env[n] else { throw ONNXError.invalidModel(path: path, reason: "graph output '\(n)' is never computed") }
            result[n] = t
        }
        return result
    }

    /// A `TensorProto` as a tensor (raw data, typed fields, or external data relative to `base`).
    static func tensor(_ t: Onnx_TensorProto, path: String, base: URL?) throws -> Tensor {
        let shape = t.dims.map(Int.init)
        guard shape.allSatisfy({ $0 >= 0 && $0 <= 1 << 31 }) else {
            throw ONNXError.invalidModel(path: path, reason: "tensor '\(t.name)': dims \(t.dims)")
        }
        guard let dtype = DType(onnx: t.dataType) else {
            throw ONNXError.invalidModel(path: path, reason: "tensor '\(t.name)': data type \(t.dataType) is not supported")
        }
        var count = 1
        for d in shape {
            let (c, overflow) = count.multipliedReportingOverflow(by: d)
            guard !overflow, c <= ONNXModel.maxElements else {
                throw ONNXError.invalidModel(path: path, reason: "tensor '\(t.name)': dims \(t.dims) hold more than \(ONNXModel.maxElements) values")
            }
            count = c
        }
        let bytes = count * dtype.byteSize
        func fromBytes(_ d: Data) throws -> Tensor {
            guard d.count == bytes else {
                throw ONNXError.invalidModel(path: path, reason: "tensor '\(t.name)': \(d.count) bytes of data for \(count) \(dtype) values")
            }
            return d.withUnsafeBytes { Tensor(rawBytes: $0, shape: shape, dtype: dtype) }
        }
        if t.dataLocation == .external {
            let e = Dictionary(t.externalData.map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in a })
            guard let loc = e["location"], let base, !loc.hasPrefix("/"), !loc.split(separator: "/").contains("..") else {
                throw ONNXError.invalidModel(path: path, reason: "tensor '\(t.name)': external data location missing or outside the model's folder")
            }
            let file = base.appendingPathComponent(loc)
            guard let all = FileManager.default.contents(atPath: file.path) else {
                throw ONNXError.invalidModel(path: path, reason: "tensor '\(t.name)': external data file \(file.path) cannot be read")
            }
            let offset = Int(e["offset"] ?? "0") ?? -1, length = Int(e["length"] ?? "\(all.count - max(offset, 0))") ?? -1
            guard offset >= 0, length >= 0, offset + length <= all.count else {
                throw ONNXError.invalidModel(path: path, reason: "tensor '\(t.name)': external data offset \(offset) length \(length) outside \(file.lastPathComponent) (\(all.count) bytes)")
            }
            return try fromBytes(all.subdata(in: offset..<(offset + length)))
        }
        if t.hasRawData { return try fromBytes(t.rawData) }
        func check(_ n: Int) throws {
            guard n == count else {
                throw ONNXError.invalidModel(path: path, reason: "tensor '\(t.name)': \(n) values for shape \(shape)")
            }
        }
        switch dtype {
        case .float32: try check(t.floatData.count); return Tensor(t.floatData, shape: shape)
        case .float64: try check(t.doubleData.count); return Tensor(t.doubleData, shape: shape)
        case .int64: try check(t.int64Data.count); return Tensor(t.int64Data, shape: shape)
        case .int32: try check(t.int32Data.count); return Tensor(t.int32Data, shape: shape)
        case .bool: try check(t.int32Data.count); return Tensor(t.int32Data.map { $0 != 0 }, shape: shape)
        case .uint8: try check(t.int32Data.count); return Tensor(t.int32Data.map { UInt8(truncatingIfNeeded: $0) }, shape: shape)
        case .float16, .bfloat16:
            try check(t.int32Data.count)
            return Tensor(bitPatterns: t.int32Data.map { UInt16(truncatingIfNeeded: $0) }, shape: shape, dtype: dtype)
        }
    }
}

/// Executes one node.
struct ONNXNodeRunner {
    let node: Onnx_NodeProto
    let env: [String: Tensor]
    let opset: Int
    let path: String

    var label: String { "node '\(node.name.isEmpty ? node.output.first ?? "?" : node.name)' (\(node.opType), opset \(opset))" }

    func fail(_ reason: String) -> ONNXError { .invalidModel(path: path, reason: "\(label): \(reason)") }

    /// Input i, nil when absent or named "".
    func optional(_ i: Int) -> Tensor? {
        guard i < node.input.count, !node.input[i].isEmpty else { return nil }
        return env[node.input[i]]
    }

    func input(_ i: Int) throws -> Tensor {
        guard i < node.input.count, !node.input[i].isEmpty else { throw fail("input \(i) is missing") }
        guard let t = env[node.input[i]] else { throw fail("input '\(node.input[i])' is not computed before this node") }
        return t
    }

    func attr(_ name: String) -> Onnx_AttributeProto? { node.attribute.first { $0.name == name } }
    func int(_ name: String, _ d: Int) -> Int { attr(name).map { Int($0.i) } ?? d }
    func ints(_ name: String) -> [Int]? { attr(name).map { $0.ints.map(Int.init) } }
    func float(_ name: String, _ d: Double) -> Double { attr(name).map { Double($0.f) } ?? d }
    func string(_ name: String, _ d: String) -> String { attr(name).map { String(decoding: $0.s, as: UTF8.self) } ?? d }

    /// Integer values of a (small, host-readable) shape or index tensor.
    func values(_ t: Tensor) -> [Int] { t.toArray(Int64.self).map(Int.init) }

    func axis(_ a: Int, rank: Int) throws -> Int {
        let r = a < 0 ? a + rank : a
        guard r >= 0 && r < max(rank, 1) else { throw fail("axis \(a) outside rank \(rank)") }
        return r
    }

    /// Throws unless the shapes broadcast together (numpy's rules), instead of the ops' precondition stop.
    func broadcastable(_ shapes: [[Int]]) throws {
        let rank = shapes.map(\.count).max() ?? 0
        for d in 0..<rank {
            let sizes = Set(shapes.map { s in d < rank - s.count ? 1 : s[d - (rank - s.count)] }).subtracting([1])
            if sizes.count > 1 { throw fail("shapes \(shapes.map { "\($0)" }.joined(separator: " and ")) cannot be broadcast together") }
        }
    }

    static let floatOnly: Set<String> = ["Conv", "ConvTranspose", "MaxPool", "AveragePool", "GlobalAveragePool",
                                         "GlobalMaxPool", "Gemm", "MatMul", "BatchNormalization", "LayerNormalization",
                                         "LSTM", "GRU", "Exp", "Log", "Sqrt", "Sigmoid", "Tanh", "Erf", "Sin", "Cos",
                                         "Softplus", "Gelu", "Elu", "LeakyRelu", "Reciprocal", "Softmax", "LogSoftmax",
                                         "Relu", "Div", "Pow"]
    static let broadcasting: Set<String> = ["Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Sum", "Mean", "Equal", "Less",
                                            "LessOrEqual", "Greater", "GreaterOrEqual", "And", "Or", "Where"]

    func run() throws -> [Tensor] {
        let op = node.opType
        if Self.floatOnly.contains(op), let x = optional(0), x.dtype != .float32 && x.dtype != .float64 {
            throw fail("input dtype \(x.dtype) is not supported (float32 and float64 are)")
        }
        if Self.broadcasting.contains(op) {
            try broadcastable((0..<node.input.count).compactMap { optional($0)?.shape })
        }
        switch op {
        case "Identity": return [try input(0)]
        case "Dropout":
            let x = try input(0)
            if let training = optional(2), training.item() != 0 { throw fail("training mode is not supported (inference only)") }
            return [x, Tensor.ones(x.shape, dtype: .bool)]
        case "Relu": return [try input(0).relu()]
        case "Sigmoid": return [try input(0).sigmoid()]
        case "Tanh": return [try input(0).tanh()]
        case "Exp": return [try input(0).exp()]
        case "Log": return [try input(0).log()]
        case "Sqrt": return [try input(0).sqrt()]
        case "Reciprocal": return [try input(0).reciprocal()]
        case "Neg": return [-(try input(0))]
        case "Abs": return [try input(0).abs()]
        case "Sign": return [try input(0).sign()]
        case "Sin": return [try input(0).sin()]
        case "Cos": return [try input(0).cos()]
        case "Erf": return [try input(0).erf()]
        case "Softplus": return [try input(0).softplus(beta: 1, threshold: .infinity)]
        case "LeakyRelu": return [try input(0).leakyRelu(float("alpha", 0.01))]
        case "Elu": return [try input(0).elu(float("alpha", 1))]
        case "Gelu": return [try input(0).gelu(approximate: string("approximate", "none") == "tanh")]
        case "Add": return [try input(0) + input(1)]
        case "Sub": return [try input(0) - input(1)]
        case "Mul": return [try input(0) * input(1)]
        case "Div":
            let a = try input(0), b = try input(1)
            guard a.dtype.isFloatingPoint else { throw fail("integer division is not supported") }
            return [a / b]
        case "Pow":
            let a = try input(0), b = try input(1)
            return [a.pow(b.cast(a.dtype))]
        case "Max", "Min", "Sum", "Mean":
            var acc = try input(0)
            for i in 1..<node.input.count {
                let b = try input(i)
                acc = op == "Max" ? acc.maximum(b) : op == "Min" ? acc.minimum(b) : acc + b
            }
            return [op == "Mean" ? acc / Double(node.input.count) : acc]
        case "Equal": return [try input(0) .== input(1)]
        case "Less": return [try input(0) .< input(1)]
        case "LessOrEqual": return [try input(0) .<= input(1)]
        case "Greater": return [try input(0) .> input(1)]
        case "GreaterOrEqual": return [try input(0) .>= input(1)]
        case "Not": return [try input(0).logicalNot()]
        case "And": return [try input(0).logicalAnd(input(1))]
        case "Or": return [try input(0).logicalOr(input(1))]
        case "Xor": return [try input(0) .!= input(1)]
        case "Where":
            let c = try input(0)
            guard c.dtype == .bool else { throw fail("condition dtype \(c.dtype), expected bool") }
            return [Tensor.where(c, try input(1), try input(2))]
        case "Clip":
            let x = try input(0)
            var lo = -Double.infinity, hi = Double.infinity
            if opset < 11 { lo = float("min", lo); hi = float("max", hi) }
            if let m = optional(1) { lo = try scalar(m, "min") }
            if let m = optional(2) { hi = try scalar(m, "max") }
            return [x.clamp(min: lo, max: hi)]
        case "CastLike": return [try input(0).cast(try input(1).dtype)]
        case "Cast":
            guard let to = DType(onnx: Int32(int("to", 0))) else { throw fail("cast to data type \(int("to", 0)) is not supported") }
            return [try input(0).cast(to)]
        case "MatMul":
            let a = try input(0), b = try input(1)
            try matmulFits(a.shape, b.shape)
            return [matmul(a, b)]
        case "Gemm": return [try gemm()]
        case "Conv": return [try conv()]
        case "ConvTranspose": return [try convTranspose()]
        case "MaxPool", "AveragePool": return try pool()
        case "GlobalAveragePool", "GlobalMaxPool":
            let x = try input(0)
            guard x.rank >= 3 else { throw fail("input \(x.shape): expected [N, C, ...]") }
            let axes = Array(2..<x.rank)
            return [op == "GlobalAveragePool" ? x.mean(axes: axes, keepDims: true) : x.max(axes: axes, keepDims: true)]
        case "BatchNormalization": return [try batchNorm()]
        case "LayerNormalization": return try layerNorm()
        case "Flatten":
            let x = try input(0)
            let raw = int("axis", 1), a = raw < 0 ? raw + x.rank : raw
            guard a >= 0 && a <= x.rank else { throw fail("axis \(raw) outside [-\(x.rank), \(x.rank)]") }
            let outer = x.shape[..<a].reduce(1, *)
            return [x.contiguous().reshaped([outer, x.count / max(outer, 1)])]
        case "Reshape": return [try reshape()]
        case "Transpose":
            let x = try input(0)
            let perm = ints("perm") ?? Array((0..<x.rank).reversed())
            guard Set(perm) == Set(0..<x.rank) else { throw fail("perm \(perm) for rank \(x.rank)") }
            return [x.permuted(perm).contiguous()]
        case "Concat":
            let ts = try (0..<node.input.count).compactMap { i -> Tensor? in
                guard !node.input[i].isEmpty else { return nil }
                return try input(i)
            }
            guard let first = ts.first else { throw fail("no inputs") }
            let a = try axis(int("axis", 0), rank: first.rank)
            for t in ts where t.rank != first.rank || t.dtype != first.dtype
                || (0..<t.rank).contains(where: { $0 != a && t.shape[$0] != first.shape[$0] }) {
                throw fail("inputs \(ts.map(\.shape)) (\(Set(ts.map(\.dtype)))) do not concatenate along axis \(a)")
            }
            return [concat(ts, axis: a)]
        case "Split": return try split()
        case "Slice": return [try slice()]
        case "Gather":
            let x = try input(0), idx = try input(1)
            let a = try axis(int("axis", 0), rank: x.rank)
            let fixed = try indices(idx, size: x.shape[a])
            let flat = x.indexSelect(axis: a, index: fixed.reshaped([fixed.count]))
            return [flat.reshaped(Array(x.shape[..<a]) + idx.shape + Array(x.shape[(a + 1)...]))]
        case "GatherElements":
            let x = try input(0)
            let a = try axis(int("axis", 0), rank: x.rank)
            return [x.gather(axis: a, index: try indices(try input(1), size: x.shape[a]))]
        case "ScatterElements":
            let x = try input(0), src = try input(2)
            let a = try axis(int("axis", 0), rank: x.rank)
            let idx = try indices(try input(1), size: x.shape[a])
            switch string("reduction", "none") {
            case "add": return [x.scatterAdd(axis: a, index: idx, source: src)]
            case "none":
                let hit = Tensor.zeros(x.shape).scatterAdd(axis: a, index: idx, source: Tensor.ones(src.shape)) .> 0
                return [Tensor.where(hit, x.zerosLike().scatterAdd(axis: a, index: idx, source: src), x)]
            case let r: throw fail("reduction \(r) is not supported")
            }
        case "Unsqueeze":
            var x = try input(0)
            let raw = opset >= 13 ? values(try input(1)) : (ints("axes") ?? [])
            let outRank = x.rank + raw.count
            for a in try raw.map({ try axis($0, rank: outRank) }).sorted() { x = x.unsqueezed(axis: a) }
            return [x]
        case "Squeeze":
            var x = try input(0)
            let raw = opset >= 13 ? optional(1).map(values) : ints("axes")
            let axes = try (raw ?? x.shape.indices.filter { x.shape[$0] == 1 }).map { try axis($0, rank: x.rank) }
            for a in axes.sorted(by: >) {
                guard x.shape[a] == 1 else { throw fail("squeezing axis \(a) of size \(x.shape[a])") }
                x = x.squeezed(axis: a)
            }
            return [x]
        case "Shape":
            let x = try input(0)
            var s = int("start", 0), e = int("end", x.rank)
            if s < 0 { s += x.rank }
            if e < 0 { e += x.rank }
            s = min(max(s, 0), x.rank); e = min(max(e, s), x.rank)
            return [Tensor(x.shape[s..<e].map(Int64.init), shape: [e - s])]
        case "Size": return [Tensor([Int64(try input(0).count)], shape: [])]
        case "Constant": return [try constant()]
        case "ConstantOfShape":
            let shape = try checkedShape(values(try input(0)))
            let v = try attr("value").map { try ONNXModel.tensor($0.t, path: path, base: nil) } ?? Tensor([Float(0)], shape: [1])
            return [Tensor.full(shape, v.item(), dtype: v.dtype)]
        case "Expand":
            let x = try input(0), target = values(try input(1))
            // ONNX's Expand is a broadcast: the result takes the larger of each pair of dimensions
            let rank = max(x.rank, target.count)
            let xs = [Int](repeating: 1, count: rank - x.rank) + x.shape
            let ts = [Int](repeating: 1, count: rank - target.count) + target
            for (a, b) in zip(xs, ts) where a != 1 && b != 1 && a != b { throw fail("input \(x.shape) does not broadcast to \(target)") }
            let out = try checkedShape(zip(xs, ts).map { $0 == 1 ? $1 : $0 })
            return [x.reshaped(xs).expanded(to: out).contiguous()]
        case "Pad": return [try pad()]
        case "CumSum":
            let x = try input(0)
            guard int("exclusive", 0) == 0, int("reverse", 0) == 0 else { throw fail("exclusive or reverse cumulative sums are not supported") }
            return [x.cumsum(axis: try axis(Int(try scalar(try input(1), "axis")), rank: x.rank))]
        case "ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceSumSquare", "ReduceL1", "ReduceL2",
             "ReduceLogSum", "ReduceLogSumExp":
            return [try reduce()]
        case "ArgMax", "ArgMin":
            let x = try input(0)
            let a = try axis(int("axis", 0), rank: x.rank), keep = int("keepdims", 1) == 1
            if int("select_last_index", 0) != 0 {
                // the last of tied extremes: the first one in the flipped tensor, counted from the end
                let f = x.flipped(axes: [a])
                let i = op == "ArgMax" ? f.argmax(axis: a, keepDims: keep) : f.argmin(axis: a, keepDims: keep)
                return [Double(x.shape[a] - 1) - i]
            }
            return [op == "ArgMax" ? x.argmax(axis: a, keepDims: keep) : x.argmin(axis: a, keepDims: keep)]
        case "Softmax", "LogSoftmax":
            let x = try input(0), log = op == "LogSoftmax"
            if opset >= 13 {
                let a = try axis(int("axis", -1), rank: x.rank)
                return [log ? x.logSoftmax(axis: a) : x.softmax(axis: a)]
            }
            // before opset 13: the input as a 2-D matrix split at `axis`, normalized along its rows
            let a = try axis(int("axis", 1), rank: x.rank + 1)
            let outer = x.shape[..<a].reduce(1, *)
            let m = x.contiguous().reshaped([outer, x.count / max(outer, 1)])
            return [(log ? m.logSoftmax(axis: 1) : m.softmax(axis: 1)).reshaped(x.shape)]
        case "OneHot":
            let idx = try input(0), depthValue = try scalar(try input(1), "depth"), v = try input(2)
            guard depthValue >= 1, depthValue <= 1e6, v.count == 2 else { throw fail("depth \(depthValue) and values \(v.shape)") }
            let depth = Int(depthValue)
            _ = try checkedShape(idx.shape + [depth])
            let fixed = try indices(idx, size: depth)
            var hot = fixed.oneHot(numClasses: depth, dtype: v.dtype)
            let lo = v.slice(axis: 0, start: 0, end: 1), hi = v.slice(axis: 0, start: 1, end: 2)
            hot = Tensor.where(hot.cast(.bool), hi.reshaped([]), lo.reshaped([]))
            let a = try axis(int("axis", -1), rank: idx.rank + 1)
            if a != idx.rank {
                var perm = Array(0..<idx.rank)
                perm.insert(idx.rank, at: a)
                hot = hot.permuted(perm).contiguous()
            }
            return [hot]
        case "LSTM", "GRU": return try recurrent()
        default: throw ONNXError.unsupportedOperator(node: node.name, opType: op, opset: opset)
        }
    }

    /// Indices with negative values counted from the end, as int64.
    func indices(_ idx: Tensor, size: Int) throws -> Tensor {
        let v = values(idx)
        guard v.allSatisfy({ $0 >= -size && $0 < size }) else { throw fail("an index is outside [-\(size), \(size))") }
        return Tensor(v.map { Int64($0 < 0 ? $0 + size : $0) }, shape: idx.shape)
    }

    func constant() throws -> Tensor {
        if let a = attr("value") { return try ONNXModel.tensor(a.t, path: path, base: nil) }
        if let a = attr("value_float") { return Tensor([a.f], shape: []) }
        if let a = attr("value_floats") { return Tensor(a.floats, shape: [a.floats.count]) }
        if let a = attr("value_int") { return Tensor([a.i], shape: []) }
        if let a = attr("value_ints") { return Tensor(a.ints, shape: [a.ints.count]) }
        throw fail("no value attribute Ember supports")
    }

    /// Throws unless a shape has non-negative sizes and at most `maxElements` values.
    func checkedShape(_ shape: [Int]) throws -> [Int] {
        var n = 1
        for d in shape {
            guard d >= 0 else { throw fail("negative size in \(shape)") }
            let (c, overflow) = n.multipliedReportingOverflow(by: d)
            guard !overflow, c <= ONNXModel.maxElements else { throw fail("shape \(shape) holds more than \(ONNXModel.maxElements) values") }
            n = c
        }
        return shape
    }

    /// The one value of a single-element tensor.
    func scalar(_ t: Tensor, _ what: String) throws -> Double {
        guard t.count == 1 else { throw fail("\(what) must hold one value, got shape \(t.shape)") }
        return t.item()
    }

    /// Throws unless `matmul` takes these shapes (inner sizes equal, batch dimensions broadcast).
    func matmulFits(_ a: [Int], _ b: [Int]) throws {
        guard !a.isEmpty, !b.isEmpty else { throw fail("matrix product of a scalar") }
        let k1 = a[a.count - 1], k2 = b.count == 1 ? b[0] : b[b.count - 2]
        guard k1 == k2 else { throw fail("inner dimensions of \(a) and \(b) differ") }
        if a.count > 2 || b.count > 2 { try broadcastable([Array(a.dropLast(2)), Array(b.dropLast(b.count == 1 ? 1 : 2))]) }
    }

    func gemm() throws -> Tensor {
        var a = try input(0), b = try input(1)
        guard a.rank == 2, b.rank == 2 else { throw fail("A \(a.shape) and B \(b.shape) must be matrices") }
        if int("transA", 0) != 0 { a = a.transposed(0, 1) }
        if int("transB", 0) != 0 { b = b.transposed(0, 1) }
        try matmulFits(a.shape, b.shape)
        var y = matmul(a, b)
        if let c = optional(2) { try broadcastable([c.shape, y.shape]) }
        let alpha = float("alpha", 1), beta = float("beta", 1)
        if alpha != 1 { y = y * alpha }
        if let c = optional(2) { y = y + (beta == 1 ? c : c * beta) }
        return y
    }

    /// Explicit pads [begin..., end...] for spatial dims from `pads` or `auto_pad`.
    func spatialPads(input: [Int], kernel: [Int], strides: [Int], dilations: [Int]) throws -> [Int] {
        let k = kernel.count
        switch string("auto_pad", "NOTSET") {
        case "NOTSET": return ints("pads") ?? [Int](repeating: 0, count: 2 * k)
        case "VALID": return [Int](repeating: 0, count: 2 * k)
        case let mode where mode == "SAME_UPPER" || mode == "SAME_LOWER":
            var begins: [Int] = [], ends: [Int] = []
            for i in 0..<k {
                let out = (input[i] + strides[i] - 1) / strides[i]
                let total = max(0, (out - 1) * strides[i] + (kernel[i] - 1) * dilations[i] + 1 - input[i])
                let small = total / 2, large = total - small
                begins.append(mode == "SAME_UPPER" ? small : large)
                ends.append(mode == "SAME_UPPER" ? large : small)
            }
            return begins + ends
        case let mode: throw fail("auto_pad \(mode)")
        }
    }

    /// The input as 4-D [N, C, H, W] (1-D convolutions get a height of 1), and a function that undoes it.
    func fourD(_ x: Tensor) throws -> (Tensor, (Tensor) -> Tensor) {
        if x.rank == 4 { return (x, { $0 }) }
        if x.rank == 3 { return (x.unsqueezed(axis: 2), { $0.squeezed(axis: 2) }) }
        throw fail("input \(x.shape): rank \(x.rank) is not supported (1-D and 2-D: rank 3 and 4)")
    }

    /// A 2-D pair; a 1-D value gets `unit` as its height (1 for kernels, strides and dilations, 0 for padding).
    func pair(_ v: [Int], oneD: Bool, unit: Int = 1) -> Pair { oneD ? Pair(unit, v[0]) : Pair(v[0], v[1]) }

    func conv() throws -> Tensor {
        let x0 = try input(0), w0 = try input(1), b = optional(2)
        let oneD = x0.rank == 3
        let (x, back) = try fourD(x0)
        guard w0.rank == x0.rank else { throw fail("weight \(w0.shape) for input \(x0.shape)") }
        let w = oneD ? w0.unsqueezed(axis: 2) : w0
        let k = oneD ? 1 : 2, group = int("group", 1)
        guard group >= 1, x.shape[1] == w.shape[1] * group, w.shape[0] % group == 0, w.shape[0] > 0 else {
            throw fail("input \(x0.shape), weight \(w0.shape) and group \(group) do not fit")
        }
        if let b, b.shape != [w.shape[0]] { throw fail("bias \(b.shape), expected [\(w.shape[0])]") }
        let kernel = Array(w0.shape.suffix(k))
        let strides = ints("strides") ?? [Int](repeating: 1, count: k), dil = ints("dilations") ?? [Int](repeating: 1, count: k)
        let pads = try spatialPads(input: Array(x0.shape.suffix(k)), kernel: kernel, strides: strides, dilations: dil)
        guard pads.count == 2 * k, pads.allSatisfy({ $0 >= 0 }) else { throw fail("pads \(pads)") }
        var xp = x, pad = pads.prefix(k).map { $0 }
        if Array(pads.prefix(k)) != Array(pads.suffix(k)) {
            // asymmetric: pad explicitly, convolve without padding
            xp = x.padded(oneD ? [(0, 0), (pads[0], pads[1])] : [(pads[0], pads[2]), (pads[1], pads[3])])
            pad = [Int](repeating: 0, count: k)
        }
        try checkWindow(xp, kernel: kernel, strides: strides, pads: pad, dilations: dil, oneD: oneD)
        let y = conv2d(xp, w, b, stride: pair(strides, oneD: oneD), padding: pair(pad, oneD: oneD, unit: 0),
                       dilation: pair(dil, oneD: oneD), groups: int("group", 1))
        return back(y)
    }

    func convTranspose() throws -> Tensor {
        let x = try input(0), w = try input(1), b = optional(2)
        guard x.rank == 4 else { throw fail("input \(x.shape): rank \(x.rank) is not supported (2-D transposed convolutions, [N, C, H, W])") }
        guard attr("output_shape") == nil, string("auto_pad", "NOTSET") == "NOTSET" else { throw fail("output_shape and auto_pad are not supported") }
        let pads = ints("pads") ?? [0, 0, 0, 0]
        guard pads.count == 4, pads[0] == pads[2], pads[1] == pads[3] else { throw fail("asymmetric pads \(pads) are not supported") }
        let s = ints("strides") ?? [1, 1], d = ints("dilations") ?? [1, 1], op = ints("output_padding") ?? [0, 0]
        let group = int("group", 1)
        guard w.rank == 4, group >= 1, x.shape[1] == w.shape[0], w.shape[0] % group == 0, s.count == 2, d.count == 2, op.count == 2,
              (s + d).allSatisfy({ $0 >= 1 }), pads.allSatisfy({ $0 >= 0 }), op.allSatisfy({ $0 >= 0 }) else {
            throw fail("input \(x.shape), weight \(w.shape), strides \(s), dilations \(d), output_padding \(op), group \(group) do not fit")
        }
        if let b, b.shape != [w.shape[1] * group] { throw fail("bias \(b.shape), expected [\(w.shape[1] * group)]") }
        for i in 0..<2 where (x.shape[2 + i] - 1) * s[i] - 2 * pads[i] + d[i] * (w.shape[2 + i] - 1) + op[i] + 1 <= 0 {
            throw fail("the output would be empty")
        }
        return convTranspose2d(x, w, b, stride: Pair(s[0], s[1]), padding: Pair(pads[0], pads[1]),
                               outputPadding: Pair(op[0], op[1]), dilation: Pair(d[0], d[1]), groups: int("group", 1))
    }

    func pool() throws -> [Tensor] {
        let x0 = try input(0)
        let oneD = x0.rank == 3
        let (x, back) = try fourD(x0)
        guard int("ceil_mode", 0) == 0 else { throw fail("ceil_mode is not supported") }
        guard node.output.count < 2 || node.output[1].isEmpty else { throw fail("the Indices output is not supported") }
        let k = oneD ? 1 : 2
        guard let kernel = ints("kernel_shape"), kernel.count == k else { throw fail("kernel_shape missing or not \(k)-D") }
        let strides = ints("strides") ?? [Int](repeating: 1, count: k), dil = ints("dilations") ?? [Int](repeating: 1, count: k)
        let pads = try spatialPads(input: Array(x0.shape.suffix(k)), kernel: kernel, strides: strides, dilations: dil)
        let symmetric = Array(pads.prefix(k)) == Array(pads.suffix(k))
        // Ember pools pad at most half a kernel (PyTorch's rule); wider or asymmetric pads are applied explicitly
        let narrow = zip(pads.prefix(k), kernel).allSatisfy { $0 * 2 <= $1 }
        if node.opType == "MaxPool" {
            var xp = x, pad = Array(pads.prefix(k))
            if !symmetric || !narrow {
                xp = x.padded(oneD ? [(0, 0), (pads[0], pads[1])] : [(pads[0], pads[2]), (pads[1], pads[3])],
                              mode: .constant(-.infinity))
                pad = [Int](repeating: 0, count: k)
            }
            try checkWindow(xp, kernel: kernel, strides: strides, pads: pad, dilations: dil, oneD: oneD)
            return [back(maxPool2d(xp, kernel: pair(kernel, oneD: oneD), stride: pair(strides, oneD: oneD),
                                   padding: pair(pad, oneD: oneD, unit: 0), dilation: pair(dil, oneD: oneD)))]
        }
        guard dil.allSatisfy({ $0 == 1 }) else { throw fail("dilated average pooling is not supported") }
        let includePad = int("count_include_pad", 0) != 0
        var xp = x, pad = Array(pads.prefix(k))
        if !symmetric || !narrow {
            // zeros that count are explicit padding; zeros that must not count cannot be expressed
            guard includePad else { throw fail("pads \(pads) wider than half the kernel or asymmetric without count_include_pad are not supported") }
            xp = x.padded(oneD ? [(0, 0), (pads[0], pads[1])] : [(pads[0], pads[2]), (pads[1], pads[3])])
            pad = [Int](repeating: 0, count: k)
        }
        try checkWindow(xp, kernel: kernel, strides: strides, pads: pad, dilations: dil, oneD: oneD)
        return [back(avgPool2d(xp, kernel: pair(kernel, oneD: oneD), stride: pair(strides, oneD: oneD),
                               padding: pair(pad, oneD: oneD, unit: 0), countIncludePad: includePad))]
    }

    /// Throws (instead of the ops' precondition stops) when a window does not fit the input.
    func checkWindow(_ x: Tensor, kernel: [Int], strides: [Int], pads: [Int], dilations: [Int], oneD: Bool) throws {
        let k = kernel.count
        guard strides.count == k, dilations.count == k, pads.count == k,
              strides.allSatisfy({ $0 > 0 }), dilations.allSatisfy({ $0 > 0 }), kernel.allSatisfy({ $0 > 0 }) else {
            throw fail("kernel \(kernel), strides \(strides), dilations \(dilations)")
        }
        let spatial = Array(x.shape.suffix(k))
        for i in 0..<k where spatial[i] + 2 * pads[i] < dilations[i] * (kernel[i] - 1) + 1 {
            throw fail("a window of \(kernel) does not fit input \(x.shape)")
        }
    }

    func batchNorm() throws -> Tensor {
        let x = try input(0)
        guard x.rank >= 2 else { throw fail("input \(x.shape): expected [N, C, ...]") }
        guard int("training_mode", 0) == 0, node.output.filter({ !$0.isEmpty }).count == 1 else {
            throw fail("training mode is not supported (inference only)")
        }
        let shape = [1, x.shape[1]] + [Int](repeating: 1, count: x.rank - 2)
        for i in 1...4 where try input(i).count != x.shape[1] { throw fail("parameter \(i) has \(try input(i).shape), expected [\(x.shape[1])]") }
        let scale = try input(1).reshaped(shape), bias = try input(2).reshaped(shape)
        let mean = try input(3).reshaped(shape), variance = try input(4).reshaped(shape)
        return (x - mean) * (variance + float("epsilon", 1e-5)).rsqrt() * scale + bias
    }

    func layerNorm() throws -> [Tensor] {
        let x = try input(0)
        let a = try axis(int("axis", -1), rank: x.rank)
        let axes = Array(a..<x.rank)
        try broadcastable([x.shape, try input(1).shape] + (optional(2).map { [$0.shape] } ?? []))
        let mean = x.mean(axes: axes, keepDims: true)
        let centered = x - mean
        let variance = (centered * centered).mean(axes: axes, keepDims: true)
        let inv = (variance + float("epsilon", 1e-5)).rsqrt()
        var y = centered * inv * (try input(1))
        if let b = optional(2) { y = y + b }
        return [y, mean, inv]
    }

    func reshape() throws -> Tensor {
        let x = try input(0)
        var target = values(try input(1))
        let allowZero = int("allowzero", 0) == 1
        for i in target.indices where target[i] == 0 && !allowZero {
            guard i < x.rank else { throw fail("shape \(target): 0 at \(i) copies a dimension the input (\(x.shape)) lacks") }
            target[i] = x.shape[i]
        }
        guard target.filter({ $0 == -1 }).count <= 1, target.allSatisfy({ $0 >= -1 }) else { throw fail("shape \(target)") }
        let known = target.filter { $0 >= 0 }.reduce(1, *)
        if let i = target.firstIndex(of: -1) {
            guard known > 0, x.count % known == 0 else { throw fail("shape \(target) for \(x.count) elements") }
            target[i] = x.count / known
        }
        guard target.reduce(1, *) == x.count else { throw fail("shape \(target) for input \(x.shape)") }
        return x.contiguous().reshaped(target)
    }

    func split() throws -> [Tensor] {
        let x = try input(0)
        let a = try axis(int("axis", 0), rank: x.rank)
        let outputs = node.output.count
        var sizes: [Int]
        if let s = (opset >= 13 ? optional(1).map(values) : ints("split")) {
            sizes = s
        } else {
            let n = opset >= 18 ? int("num_outputs", outputs) : outputs
            let chunk = (x.shape[a] + n - 1) / n
            sizes = (0..<n).map { min(chunk, max(0, x.shape[a] - $0 * chunk)) }
        }
        guard sizes.reduce(0, +) == x.shape[a], sizes.count == outputs else {
            throw fail("split sizes \(sizes) for dimension \(x.shape[a]) and \(outputs) outputs")
        }
        return x.split(sizes: sizes, axis: a).map { $0.contiguous() }
    }

    func slice() throws -> Tensor {
        var x = try input(0)
        let starts: [Int], ends: [Int], axesIn: [Int]?, stepsIn: [Int]?
        if opset >= 10 {
            starts = values(try input(1)); ends = values(try input(2))
            axesIn = optional(3).map(values); stepsIn = optional(4).map(values)
        } else {
            starts = ints("starts") ?? []; ends = ints("ends") ?? []; axesIn = ints("axes"); stepsIn = nil
        }
        let axes = try (axesIn ?? Array(0..<starts.count)).map { try axis($0, rank: x.rank) }
        let steps = stepsIn ?? [Int](repeating: 1, count: starts.count)
        guard starts.count == ends.count, axes.count == starts.count, steps.count == starts.count else {
            throw fail("starts, ends, axes and steps differ in length")
        }
        for (k, a) in axes.enumerated() {
            let n = x.shape[a], step = steps[k]
            guard step != 0 else { throw fail("step 0") }
            // numpy's rules: clamp to the valid range for the direction of the step
            func resolve(_ v: Int, _ lo: Int, _ hi: Int) -> Int { min(max(v < 0 ? v + n : v, lo), hi) }
            let s = step > 0 ? resolve(starts[k], 0, n) : resolve(starts[k], -1, n - 1)
            let e = step > 0 ? resolve(ends[k], 0, n) : resolve(ends[k], -1, n - 1)
            let picked = Array(stride(from: s, to: e, by: step))
            x = x.indexSelect(axis: a, index: Tensor(picked.map(Int64.init), shape: [picked.count]))
        }
        return x
    }

    func pad() throws -> Tensor {
        let x = try input(0)
        let mode = string("mode", "constant")
        let pads = opset >= 11 ? values(try input(1)) : (ints("pads") ?? [])
        var value = opset >= 11 ? (optional(2)?.item() ?? 0) : float("value", 0)
        if value.isNaN { value = .nan }
        let axes = try (opset >= 18 ? optional(3).map(values) : nil)?.map { try axis($0, rank: x.rank) } ?? Array(0..<x.rank)
        guard pads.count == 2 * axes.count else { throw fail("\(pads.count) pads for \(axes.count) axes") }
        guard pads.allSatisfy({ $0 >= 0 }) else { throw fail("negative pads \(pads) are not supported") }
        var widths = [(Int, Int)](repeating: (0, 0), count: x.rank)
        for (k, a) in axes.enumerated() { widths[a] = (pads[k], pads[k + axes.count]) }
        let first = widths.firstIndex { $0 != (0, 0) } ?? x.rank
        let trailing = Array(widths[first...])
        switch mode {
        case "constant": return x.padded(trailing, mode: .constant(value))
        case "reflect": return x.padded(trailing, mode: .reflect)
        default: throw fail("mode \(mode) is not supported")
        }
    }

    func reduce() throws -> Tensor {
        let x0 = try input(0)
        let keep = int("keepdims", 1) == 1
        let axesInput = node.opType == "ReduceSum" ? opset >= 13 : opset >= 18
        let x: Tensor
        switch node.opType {
        case "ReduceSumSquare", "ReduceL2": x = x0 * x0
        case "ReduceL1": x = x0.abs()
        default: x = x0
        }
        var raw: [Int]? = axesInput ? optional(1).map(values) : ints("axes")
        if raw?.isEmpty == true { raw = nil }
        if raw == nil && int("noop_with_empty_axes", 0) == 1 { return x }
        let axes = try raw.map { try $0.map { try axis($0, rank: x.rank) } }
        switch node.opType {
        case "ReduceSum": return x.sum(axes: axes, keepDims: keep)
        case "ReduceMean": return x.mean(axes: axes, keepDims: keep)
        case "ReduceMax": return x.max(axes: axes, keepDims: keep)
        case "ReduceMin": return x.min(axes: axes, keepDims: keep)
        case "ReduceSumSquare", "ReduceL1": return x.sum(axes: axes, keepDims: keep)
        case "ReduceL2": return x.sum(axes: axes, keepDims: keep).sqrt()
        case "ReduceLogSum": return x.sum(axes: axes, keepDims: keep).log()
        case "ReduceLogSumExp": return x.logsumexp(axes: axes, keepDims: keep)
        default: return x.prod(axes: axes, keepDims: keep)
        }
    }
}
