/// 2-D convolution layer over [N, C, H, W]; weight [out, in/groups, kh, kw], PyTorch's default init.
public final class Conv2d: Module {
    public let weight: Tensor
    public let bias: Tensor?
    public let stride: Pair, padding: Pair, dilation: Pair, groups: Int

    public init(_ inChannels: Int, _ outChannels: Int, kernel: Pair, stride: Pair = 1, padding: Pair = 0,
                dilation: Pair = 1, groups: Int = 1, bias: Bool = true, generator: Generator = .default) {
        precondition(inChannels % groups == 0 && outChannels % groups == 0, "Conv2d: channels \(inChannels)->\(outChannels) not divisible by groups \(groups)")
        self.stride = stride; self.padding = padding; self.dilation = dilation; self.groups = groups
        weight = makeParameter([outChannels, inChannels / groups, kernel.h, kernel.w]) {
            Init.kaimingUniform($0, a: 5.0.squareRoot(), generator: generator)
        }
        let bound = 1 / Double(inChannels / groups * kernel.h * kernel.w).squareRoot()
        self.bias = bias ? makeParameter([outChannels]) { Init.uniform($0, low: -bound, high: bound, generator: generator) } : nil
    }

    override public func forward(_ x: Tensor) -> Tensor {
        conv2d(x, weight, bias, stride: stride, padding: padding, dilation: dilation, groups: groups)
    }
    override public var layerDescription: String {
        "Conv2d(\(weight.shape[1] * groups), \(weight.shape[0]), kernel: \(weight.shape[2])x\(weight.shape[3]), stride: \(stride.h)x\(stride.w), padding: \(padding.h)x\(padding.w))"
    }
}

/// 1-D convolution layer over [N, C, L].
public final class Conv1d: Module {
    public let weight: Tensor
    public let bias: Tensor?
    public let stride: Int, padding: Int, dilation: Int, groups: Int

    public init(_ inChannels: Int, _ outChannels: Int, kernel: Int, stride: Int = 1, padding: Int = 0, dilation: Int = 1,
                groups: Int = 1, bias: Bool = true, generator: Generator = .default) {
        self.stride = stride; self.padding = padding; self.dilation = dilation; self.groups = groups
        weight = makeParameter([outChannels, inChannels / groups, kernel]) {
            Init.kaimingUniform($0, a: 5.0.squareRoot(), generator: generator)
        }
        let bound = 1 / Double(inChannels / groups * kernel).squareRoot()
        self.bias = bias ? makeParameter([outChannels]) { Init.uniform($0, low: -bound, high: bound, generator: generator) } : nil
    }

    override public func forward(_ x: Tensor) -> Tensor {
        conv1d(x, weight, bias, stride: stride, padding: padding, dilation: dilation, groups: groups)
    }
}

/// Transposed 2-D convolution layer; weight [in, out/groups, kh, kw].
public final class ConvTranspose2d: Module {
    public let weight: Tensor
    public let bias: Tensor?
    public let stride: Pair, padding: Pair, outputPadding: Pair, dilation: Pair, groups: Int

    public init(_ inChannels: Int, _ outChannels: Int, kernel: Pair, stride: Pair = 1, padding: Pair = 0,
                outputPadding: Pair = 0, dilation: Pair = 1, groups: Int = 1, bias: Bool = true,
                generator: Generator = .default) {
        self.stride = stride; self.padding = padding; self.outputPadding = outputPadding
        self.dilation = dilation; self.groups = groups
        weight = makeParameter([inChannels, outChannels / groups, kernel.h, kernel.w]) {
            Init.kaimingUniform($0, a: 5.0.squareRoot(), generator: generator)
        }
        let bound = 1 / Double(outChannels / groups * kernel.h * kernel.w).squareRoot()
        self.bias = bias ? makeParameter([outChannels]) { Init.uniform($0, low: -bound, high: bound, generator: generator) } : nil
    }

    override public func forward(_ x: Tensor) -> Tensor {
        convTranspose2d(x, weight, bias, stride: stride, padding: padding, outputPadding: outputPadding,
                        dilation: dilation, groups: groups)
    }
}

/// Max pooling layer.
public final class MaxPool2d: Module {
    public let kernel: Pair, stride: Pair?, padding: Pair
    public init(_ kernel: Pair, stride: Pair? = nil, padding: Pair = 0) {
        self.kernel = kernel; self.stride = stride; self.padding = padding
    }
    override public func forward(_ x: Tensor) -> Tensor { maxPool2d(x, kernel: kernel, stride: stride, padding: padding) }
    override public var layerDescription: String { "MaxPool2d(\(kernel.h)x\(kernel.w))" }
}

/// Average pooling layer.
public final class AvgPool2d: Module {
    public let kernel: Pair, stride: Pair?, padding: Pair, countIncludePad: Bool
    public init(_ kernel: Pair, stride: Pair? = nil, padding: Pair = 0, countIncludePad: Bool = true) {
        self.kernel = kernel; self.stride = stride; self.padding = padding; self.countIncludePad = countIncludePad
    }
    override public func forward(_ x: Tensor) -> Tensor {
        avgPool2d(x, kernel: kernel, stride: stride, padding: padding, countIncludePad: countIncludePad)
    }
}

/// Adaptive average pooling to a fixed output size.
public final class AdaptiveAvgPool2d: Module {
    public let outputSize: Pair
    public init(_ outputSize: Pair) { self.outputSize = outputSize }
    override public func forward(_ x: Tensor) -> Tensor { adaptiveAvgPool2d(x, outputSize: outputSize) }
}
