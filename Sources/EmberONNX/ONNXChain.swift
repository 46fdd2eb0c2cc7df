import EmberCore
import Foundation

/// One layer of an ONNX graph that is a plain chain of layers (each node reads the previous node's result and
/// constant weights), in Ember's terms. `ONNXModel.layerChain()` produces these for `ember import`.
public enum ONNXChainLayer: Sendable {
    /// y = x W^T + b; `weight` is [out, in] (PyTorch's layout).
    case linear(weight: Tensor, bias: Tensor?)
    /// 2-D convolution without groups or dilation; `weight` is [out, in, kh, kw].
    case conv2d(weight: Tensor, bias: Tensor?, stride: [Int], padding: [Int])
    case maxPool2d(kernel: [Int], stride: [Int], padding: [Int])
    case avgPool2d(kernel: [Int], stride: [Int], padding: [Int])
    /// Global average pooling to 1x1.
    case globalAvgPool
    case flatten
    /// Batch normalization (inference statistics); `rank` is the input's rank (2 or 3: 1-D, 4: 2-D).
    case batchNorm(weight: Tensor, bias: Tensor, mean: Tensor, variance: Tensor, rank: Int)
    case layerNorm(weight: Tensor, bias: Tensor?)
    case relu, gelu, tanh, sigmoid
    case leakyRelu(Double), elu(Double)
    /// A softmax over the features at the end of the graph (classification probabilities).
    case softmax

    /// The layer's name in `ember`'s model.json.
    public var kind: String {
        switch self {
        case .linear: return "linear"
        case .conv2d: return "conv2d"
        case .maxPool2d: return "maxpool2d"
        case .avgPool2d: return "avgpool2d"
        case .globalAvgPool: return "adaptive_avgpool2d"
        case .flatten: return "flatten"
        case .batchNorm(_, _, _, _, let rank): return rank == 4 ? "batchnorm2d" : "batchnorm1d"
        case .layerNorm: return "layernorm"
        case .relu: return "relu"
        case .gelu: return "gelu"
        case .tanh: return "tanh"
        case .sigmoid: return "sigmoid"
        case .leakyRelu: return "leaky_relu"
        case .elu: return "elu"
        case .softmax: return "softmax"
        }
    }
}

extension ONNXModel {
    /// The input's shape without the batch dimension (nil where the file leaves a dimension symbolic).
    public var inputShape: [Int?] {
        guard let v = graph.input.first(where: { $0.name == inputNames.first }) else { return [] }
        return v.type.tensorType.shape.dim.dropFirst().map { d -> Int? in if case .dimValue(let n)? = d.value { return Int(n) }; return nil }
    }

    /// The graph as a chain of Ember layers, when it is one: a single input, a single output, every node reading
    /// the previous node's result (plus constant weights). Throws `ONNXError.invalidModel` naming the first node
    /// that does not fit (a branch, a residual addition, an operator or attribute Ember's layers lack).
    public func layerChain() throws -> [ONNXChainLayer] {
        guard inputNames.count == 1, outputNames.count == 1 else {
            throw ONNXError.invalidModel(path: path, reason: "a chain needs one input and one output; the graph has \(inputNames.count) and \(outputNames.count)")
        }
        var current = inputNames[0], rank = inputShape.count + 1
        var layers: [ONNXChainLayer] = []
        // constants made by Constant nodes count as weights
        var constants = weights
        for (k, node) in graph.node.enumerated() {
            let label = "node '\(node.name.isEmpty ? node.output.first ?? "?" : node.name)' (\(node.opType))"
            func fail(_ why: String) -> ONNXError { .invalidModel(path: path, reason: "\(label): \(why); `ember import` takes chains of layers Ember has") }
            func attrInt(_ n: String, _ d: Int) -> Int { node.attribute.first { $0.name == n }.map { Int($0.i) } ?? d }
            func attrInts(_ n: String) -> [Int]? { node.attribute.first { $0.name == n }.map { $0.ints.map(Int.init) } }
            func attrFloat(_ n: String, _ d: Double) -> Double { node.attribute.first { $0.name == n }.map { Double($0.f) } ?? d }
            func weight(_ i: Int) throws -> Tensor {
                guard i < node.input.count, let w = constants[node.input[i]] else { throw fail("input \(i) is not a constant weight") }
                return w
            }
            func optionalWeight(_ i: Int) throws -> Tensor? {
                guard i < node.input.count, !node.input[i].isEmpty else { return nil }
                return try weight(i)
            }
            if node.opType == "Constant" {
                let runner = ONNXNodeRunner(node: node, env: [:], opset: opset, path: path)
                constants[node.output[0]] = try runner.constant()
                continue
            }
            guard node.input.first == current else { throw fail("reads \(node.input.first ?? "nothing"), not the previous layer's result \(current)") }
            guard let out = node.output.first else { throw fail("no output") }
            let extra = node.output.dropFirst().filter { !$0.isEmpty }
            if !extra.isEmpty && node.opType != "Dropout" { throw fail("more than one output") }
            func symmetric(_ pads: [Int]?) throws -> [Int] {
                let p = pads ?? [0, 0, 0, 0]
                guard p.count == 4, p[0] == p[2], p[1] == p[3] else { throw fail("pads \(p) are not symmetric") }
                return [p[0], p[1]]
            }
            func noAutoPad() throws {
                if let a = node.attribute.first(where: { $0.name == "auto_pad" }),
                   !["NOTSET", "VALID"].contains(String(decoding: a.s, as: UTF8.self)) { throw fail("auto_pad is not supported") }
            }
            switch node.opType {
            case "Identity", "Dropout": break
            case "Gemm":
                guard attrFloat("alpha", 1) == 1, attrFloat("beta", 1) == 1, attrInt("transA", 0) == 0 else { throw fail("alpha, beta or transA") }
                var w = try weight(1)
                if attrInt("transB", 0) == 0 { w = w.transposed(0, 1).contiguous() }
                layers.append(.linear(weight: w, bias: try optionalWeight(2)))
            case "MatMul":
                let w = try weight(1)
                guard w.rank == 2 else { throw fail("weight \(w.shape) is not a matrix") }
                layers.append(.linear(weight: w.transposed(0, 1).contiguous(), bias: nil))
            case "Add":
                // a bias after MatMul
                guard case .linear(let w, nil)? = layers.last, let b = try? weight(1), b.shape == [w.shape[0]] else {
                    throw fail("an addition that is not the bias of the preceding MatMul")
                }
                layers[layers.count - 1] = .linear(weight: w, bias: b)
            case "Conv":
                try noAutoPad()
                guard attrInt("group", 1) == 1, (attrInts("dilations") ?? [1, 1]).allSatisfy({ $0 == 1 }) else {
                    throw fail("grouped or dilated convolutions are not among Ember's layers")
                }
                let w = try weight(1)
                guard w.rank == 4 else { throw fail("weight \(w.shape): 2-D convolutions are supported") }
                layers.append(.conv2d(weight: w, bias: try optionalWeight(2), stride: attrInts("strides") ?? [1, 1],
                                      padding: try symmetric(attrInts("pads"))))
            case "MaxPool", "AveragePool":
                try noAutoPad()
                guard attrInt("ceil_mode", 0) == 0, (attrInts("dilations") ?? [1, 1]).allSatisfy({ $0 == 1 }),
                      let kernel = attrInts("kernel_shape"), kernel.count == 2 else { throw fail("ceil_mode, dilations or a kernel that is not 2-D") }
                let pad = try symmetric(attrInts("pads"))
                if node.opType == "AveragePool" && attrInt("count_include_pad", 0) == 0 && pad != [0, 0] {
                    throw fail("padding excluded from the average (count_include_pad 0) is not among Ember's layers")
                }
                let stride = attrInts("strides") ?? [1, 1]
                layers.append(node.opType == "MaxPool" ? .maxPool2d(kernel: kernel, stride: stride, padding: pad)
                                                       : .avgPool2d(kernel: kernel, stride: stride, padding: pad))
            case "GlobalAveragePool": layers.append(.globalAvgPool)
            case "Flatten":
                guard attrInt("axis", 1) == 1 else { throw fail("flattening from another axis than 1") }
                layers.append(.flatten); rank = 2
            case "Reshape":
                guard let shape = try? weight(1), shape.toArray(Int64.self).count == 2,
                      [0, -1].contains(shape.toArray(Int64.self)[1]) || shape.toArray(Int64.self)[0] != 1 else {
                    throw fail("a reshape that is not a flatten to [batch, features]")
                }
                layers.append(.flatten); rank = 2
            case "BatchNormalization":
                guard abs(attrFloat("epsilon", 1e-5) - 1e-5) < 1e-9 else { throw fail("epsilon other than 1e-5") }
                layers.append(.batchNorm(weight: try weight(1), bias: try weight(2), mean: try weight(3), variance: try weight(4), rank: rank))
            case "LayerNormalization":
                guard attrInt("axis", -1) == -1 || attrInt("axis", -1) == rank - 1, abs(attrFloat("epsilon", 1e-5) - 1e-5) < 1e-9 else {
                    throw fail("axis other than the last or epsilon other than 1e-5")
                }
                layers.append(.layerNorm(weight: try weight(1), bias: try optionalWeight(2)))
            case "Relu": layers.append(.relu)
            case "Tanh": layers.append(.tanh)
            case "Sigmoid": layers.append(.sigmoid)
            case "Gelu":
                guard node.attribute.first(where: { $0.name == "approximate" }).map({ String(decoding: $0.s, as: UTF8.self) }) ?? "none" == "none" else {
                    throw fail("the tanh approximation")
                }
                layers.append(.gelu)
            case "LeakyRelu": layers.append(.leakyRelu(attrFloat("alpha", 0.01)))
            case "Elu": layers.append(.elu(attrFloat("alpha", 1)))
            case "Softmax", "LogSoftmax":
                guard k == graph.node.count - 1, rank == 2 else { throw fail("a softmax before the last node") }
                layers.append(.softmax)
            default:
                throw fail("operator \(node.opType)")
            }
            current = out
        }
        guard current == outputNames[0] else {
            throw ONNXError.invalidModel(path: path, reason: "the chain ends in \(current), not the graph output \(outputNames[0])")
        }
        return layers
    }
}
