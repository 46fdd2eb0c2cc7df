import Foundation

/// One layer of a `Sequential` model, as written in a config (`{conv2d: {out: 32, kernel: 3, padding: 1}}`) and
/// saved in `model.json` (`{"type": "conv2d", "in": 1, "out": 32, "kernel": [3, 3], ...}`). Input sizes may be
/// left out in a config; `resolve(input:)` fills them in from the shape that reaches the layer.
public struct LayerSpec: Codable, Equatable, Sendable {
    /// The layer kind (see `LayerSpec.kinds`).
    public var type: String
    /// Input features or channels.
    public var inFeatures: Int?
    /// Output features or channels.
    public var out: Int?
    /// Kernel size (height, width).
    public var kernel: [Int]?
    /// Stride (height, width).
    public var stride: [Int]?
    /// Zero padding (height, width).
    public var padding: [Int]?
    /// Whether a linear or convolution layer has a bias.
    public var bias: Bool?
    /// Dropout probability.
    public var p: Double?
    /// Negative slope (leaky_relu) or alpha (elu).
    public var slope: Double?
    /// Output size of adaptive pooling (height, width).
    public var size: [Int]?

    enum CodingKeys: String, CodingKey {
        case type, inFeatures = "in", out, kernel, stride, padding, bias, p, slope, size
    }

    /// A layer of `type` with no options set.
    public init(_ type: String) { self.type = type }

    /// Every layer kind, by its config name.
    public static let kinds = ["linear", "conv2d", "maxpool2d", "avgpool2d", "adaptive_avgpool2d", "flatten", "dropout",
                               "batchnorm1d", "batchnorm2d", "layernorm", "relu", "leaky_relu", "elu", "gelu", "silu",
                               "tanh", "sigmoid", "identity"]

    /// Activation kinds, usable as preset `activation` options.
    public static let activations = ["relu", "gelu", "silu", "tanh", "sigmoid", "elu", "leaky_relu"]

    /// This layer with its input size filled in from `input` (one example's shape, no batch axis), and the shape it
    /// outputs. Throws a message (without key path) when the layer cannot take that input.
    func resolve(input: [Int]) throws(LayerShapeError) -> (LayerSpec, [Int]) {
        try checkOptions()
        let (s, output) = try resolveShape(input: input)
        guard output.allSatisfy({ $0 >= 1 }), ConfigLimits.product(output) != nil else {
            throw LayerShapeError("\(type) would output \(output) per example: more than \(ConfigLimits.maxExampleElements) values "
                                  + "(or an empty dimension)")
        }
        return (s, output)
    }

    /// Every option in range: a known type, sizes in 1...2^24 (padding from 0), pairs of two, a dropout probability
    /// in [0, 1), finite slopes.
    func checkOptions() throws(LayerShapeError) {
        guard Self.kinds.contains(type) else {
            throw LayerShapeError("unknown layer type \(jsonQuoted(type)) (known: \(Self.kinds.joined(separator: ", ")))")
        }
        let maxSize = ConfigLimits.maxSize
        func check(_ name: String, _ v: Int?, from minimum: Int) throws(LayerShapeError) {
            if let v, v < minimum || v > maxSize {
                throw LayerShapeError("\(type) `\(name)` must be an integer in \(minimum)...\(maxSize), got \(v)")
            }
        }
        func pair(_ name: String, _ v: [Int]?, from minimum: Int) throws(LayerShapeError) {
            guard let v else { return }
            guard v.count == 2 else { throw LayerShapeError("\(type) `\(name)` must be two integers [height, width], got \(v)") }
            for x in v { try check(name, x, from: minimum) }
        }
        try check("in", inFeatures, from: 1)
        try check("out", out, from: 1)
        try pair("kernel", kernel, from: 1)
        try pair("stride", stride, from: 1)
        try pair("padding", padding, from: 0)
        try pair("size", size, from: 1)
        if let p, !(p >= 0 && p < 1) { throw LayerShapeError("\(type) `p` must be a probability in [0, 1), got \(p)") }
        if let slope, !slope.isFinite { throw LayerShapeError("\(type) `slope` must be a finite number, got \(slope)") }
    }

    /// The parameters this (resolved) layer holds, or nil beyond `ConfigLimits.maxParameters`.
    var parameterCount: Int? {
        let limit = ConfigLimits.maxParameters
        switch type {
        case "linear":
            guard let i = inFeatures, let o = out, let w = ConfigLimits.product([i, o], limit: limit) else { return nil }
            return w + ((bias ?? true) ? o : 0)
        case "conv2d":
            guard let i = inFeatures, let o = out, let k = kernel, k.count == 2,
                  let w = ConfigLimits.product([i, o, k[0], k[1]], limit: limit) else { return nil }
            return w + ((bias ?? true) ? o : 0)
        case "batchnorm1d", "batchnorm2d", "layernorm": return 2 * (inFeatures ?? 0)
        default: return 0
        }
    }

    private func resolveShape(input: [Int]) throws(LayerShapeError) -> (LayerSpec, [Int]) {
        var s = self
        func image() throws(LayerShapeError) -> (c: Int, h: Int, w: Int) {
            guard input.count == 3 else {
                throw LayerShapeError("\(type) needs image inputs [channels, height, width], got \(input) per example "
                                      + "(set data.shape, e.g. [1, 8, 8])")
            }
            return (input[0], input[1], input[2])
        }
        func checkIn(_ actual: Int) throws(LayerShapeError) {
            if let i = inFeatures, i != actual { throw LayerShapeError("`in` is \(i) but the input has \(actual) (shape \(input))") }
            s.inFeatures = actual
        }
        switch type {
        case "linear":
            guard let last = input.last else { throw LayerShapeError("linear needs at least one input dimension") }
            try checkIn(last)
            guard let o = out else { throw LayerShapeError("linear needs `out` (output features)") }
            return (s, input.dropLast() + [o])
        case "conv2d":
            let (c, h, w) = try image()
            try checkIn(c)
            guard let o = out else { throw LayerShapeError("conv2d needs `out` (output channels)") }
            guard let k = kernel else { throw LayerShapeError("conv2d needs `kernel`") }
            let st = stride ?? [1, 1], pd = padding ?? [0, 0]
            s.stride = st; s.padding = pd
            let oh = (h + 2 * pd[0] - k[0]) / st[0] + 1, ow = (w + 2 * pd[1] - k[1]) / st[1] + 1
            guard h + 2 * pd[0] >= k[0], w + 2 * pd[1] >= k[1], oh >= 1, ow >= 1 else {
                throw LayerShapeError("conv2d kernel \(k) does not fit the \(h)x\(w) input (padding \(pd))")
            }
            return (s, [o, oh, ow])
        case "maxpool2d", "avgpool2d":
            let (c, h, w) = try image()
            guard let k = kernel else { throw LayerShapeError("\(type) needs `kernel`") }
            let st = stride ?? k, pd = padding ?? [0, 0]
            s.stride = st; s.padding = pd
            guard pd[0] * 2 <= k[0], pd[1] * 2 <= k[1] else { throw LayerShapeError("\(type) padding \(pd) must be at most half the kernel \(k)") }
            guard h + 2 * pd[0] >= k[0], w + 2 * pd[1] >= k[1] else {
                throw LayerShapeError("\(type) kernel \(k) does not fit the \(h)x\(w) input")
            }
            return (s, [c, (h + 2 * pd[0] - k[0]) / st[0] + 1, (w + 2 * pd[1] - k[1]) / st[1] + 1])
        case "adaptive_avgpool2d":
            let (c, _, _) = try image()
            guard let sz = size else { throw LayerShapeError("adaptive_avgpool2d needs `size`") }
            return (s, [c] + sz)
        case "flatten":
            return (s, [input.reduce(1, *)])
        case "batchnorm1d":
            guard input.count == 1 || input.count == 2 else {
                throw LayerShapeError("batchnorm1d needs [features] or [channels, length] inputs, got \(input)")
            }
            try checkIn(input[0])
            return (s, input)
        case "batchnorm2d":
            let (c, _, _) = try image()
            try checkIn(c)
            return (s, input)
        case "layernorm":
            guard let last = input.last else { throw LayerShapeError("layernorm needs at least one input dimension") }
            try checkIn(last)
            return (s, input)
        case "dropout":
            if s.p == nil { s.p = 0.5 }
            return (s, input)
        default:
            return (s, input)
        }
    }

    /// The layer, with parameters drawn from `generator` (PyTorch's default initialization).
    public func module(generator: Generator) -> Module {
        let k = kernel.map { Pair($0[0], $0[1]) } ?? Pair(1, 1)
        let st = stride.map { Pair($0[0], $0[1]) } ?? Pair(1, 1), pd = padding.map { Pair($0[0], $0[1]) } ?? Pair(0, 0)
        switch type {
        case "linear": return Linear(inFeatures!, out!, bias: bias ?? true, generator: generator)
        case "conv2d": return Conv2d(inFeatures!, out!, kernel: k, stride: st, padding: pd, bias: bias ?? true, generator: generator)
        case "maxpool2d": return MaxPool2d(k, stride: st, padding: pd)
        case "avgpool2d": return AvgPool2d(k, stride: st, padding: pd)
        case "adaptive_avgpool2d": return AdaptiveAvgPool2d(Pair(size![0], size![1]))
        case "flatten": return Flatten()
        case "dropout": return Dropout(p ?? 0.5, generator: generator)
        case "batchnorm1d": return BatchNorm1d(inFeatures!)
        case "batchnorm2d": return BatchNorm2d(inFeatures!)
        case "layernorm": return LayerNorm([inFeatures!])
        case "relu": return ReLU()
        case "leaky_relu": return LeakyReLU(slope ?? 0.01)
        case "elu": return ELU(slope ?? 1)
        case "gelu": return GELU()
        case "silu": return SiLU()
        case "tanh": return Tanh()
        case "sigmoid": return Sigmoid()
        default: return Identity()
        }
    }

    /// A short description for tables (`conv2d 1->32 3x3 pad 1`).
    public var summary: String {
        func hw(_ v: [Int]?) -> String { v.map { $0[0] == $0[1] ? "\($0[0])" : "\($0[0])x\($0[1])" } ?? "-" }
        switch type {
        case "linear": return "linear \(inFeatures ?? 0)->\(out ?? 0)"
        case "conv2d": return "conv2d \(inFeatures ?? 0)->\(out ?? 0) k\(hw(kernel)) s\(hw(stride)) p\(hw(padding))"
        case "maxpool2d", "avgpool2d": return "\(type) k\(hw(kernel)) s\(hw(stride))"
        case "dropout": return "dropout p=\(p ?? 0.5)"
        case "batchnorm1d", "batchnorm2d", "layernorm": return "\(type) \(inFeatures ?? 0)"
        default: return type
        }
    }
}

/// Why a layer cannot take the shape that reaches it.
struct LayerShapeError: Error {
    let message: String
    init(_ message: String) { self.message = message }
}

/// A resolved stack of layers: specs with every size filled in, and the shape after each.
public struct Architecture: Codable, Equatable, Sendable {
    /// One example's input shape (no batch axis).
    public var inputShape: [Int]
    /// The layers, in order.
    public var layers: [LayerSpec]

    /// Fills in every layer's input size from `inputShape`. `paths` name the layers in errors.
    static func resolve(_ specs: [LayerSpec], inputShape: [Int], paths: [String], file: String?) throws -> Architecture {
        guard !inputShape.isEmpty, inputShape.allSatisfy({ (1...ConfigLimits.maxSize).contains($0) }),
              ConfigLimits.product(inputShape) != nil else {
            throw ConfigError(path: "data.shape", message: "expected an input shape of sizes in 1...\(ConfigLimits.maxSize) and at most "
                              + "\(ConfigLimits.maxExampleElements) values in all, got \(inputShape)", file: file)
        }
        var shape = inputShape
        var out: [LayerSpec] = []
        var parameters = 0
        for (i, spec) in specs.enumerated() {
            let path = i < paths.count ? paths[i] : "model.layers[\(i)]"
            do throws(LayerShapeError) {
                let (r, next) = try spec.resolve(input: shape)
                out.append(r)
                shape = next
                guard let n = r.parameterCount, case let (total, overflow) = parameters.addingReportingOverflow(n), !overflow,
                      total <= ConfigLimits.maxParameters else {
                    throw LayerShapeError("the model would have more than \(grouped(ConfigLimits.maxParameters)) parameters "
                                          + "(this layer: \(r.summary)); make it smaller")
                }
                parameters = total
            } catch {
                throw ConfigError(path: path, message: error.message, file: file)
            }
        }
        return Architecture(inputShape: inputShape, layers: out)
    }

    /// Per-example output shape of every layer.
    public var shapes: [[Int]] {
        var shape = inputShape
        return layers.map { l in
            shape = (try? l.resolve(input: shape).1) ?? shape
            return shape
        }
    }

    /// Per-example output shape of the model.
    public var outputShape: [Int] { shapes.last ?? inputShape }

    /// The model as a `Sequential` (state-dict names "0.weight", "3.bias", ... as `torch.nn.Sequential` gives).
    public func build(generator: Generator) -> Sequential {
        Sequential(layers.map { $0.module(generator: generator) })
    }
}
