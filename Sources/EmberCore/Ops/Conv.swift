/// Height and width pairs for convolution and pooling parameters.
public struct Pair: Sendable, Equatable, ExpressibleByIntegerLiteral, ExpressibleByArrayLiteral {
    public var h: Int, w: Int
    public init(_ h: Int, _ w: Int) { self.h = h; self.w = w }
    public init(integerLiteral value: Int) { self.init(value, value) }
    public init(arrayLiteral elements: Int...) {
        precondition(elements.count == 2, "Pair: expected [h, w], got \(elements)")
        self.init(elements[0], elements[1])
    }
}

func convGeometry(_ x: Tensor, channels: Int, kernel: Pair, stride: Pair, padding: Pair, dilation: Pair,
                      _ op: String) -> Conv2dGeometry {
    precondition(stride.h > 0 && stride.w > 0 && dilation.h > 0 && dilation.w > 0 && padding.h >= 0 && padding.w >= 0,
                 "\(op): stride and dilation must be positive and padding non-negative")
    let g = Conv2dGeometry(channels: channels, height: x.shape[x.rank - 2], width: x.shape[x.rank - 1],
                           kernelH: kernel.h, kernelW: kernel.w, strideH: stride.h, strideW: stride.w,
                           padH: padding.h, padW: padding.w, dilationH: dilation.h, dilationW: dilation.w)
    precondition(g.height + 2 * g.padH >= g.dilationH * (g.kernelH - 1) + 1 && g.width + 2 * g.padW >= g.dilationW * (g.kernelW - 1) + 1,
                 "\(op): input \(x.shape) is smaller than the kernel \(kernel.h)x\(kernel.w) (dilation \(dilation.h)x\(dilation.w), padding \(padding.h)x\(padding.w))")
    return g
}

/// The sizes of a convolution of x [N, C, H, W] into `outChannels` channels (checks the geometry).
func convShape(_ x: Tensor, _ weight: Tensor?, kernel: Pair, outChannels: Int, stride: Pair, padding: Pair,
               dilation: Pair, groups: Int, _ op: String) -> Conv2dShape {
    let geo = convGeometry(x, channels: x.shape[1] / groups, kernel: kernel, stride: stride, padding: padding,
                           dilation: dilation, op)
    return Conv2dShape(batch: x.shape[0], inChannels: x.shape[1], outChannels: outChannels, groups: groups, geometry: geo)
}

extension OpRegistry {
    static let convOps: [any PrimitiveOp.Type] = [
        Conv2d.self, Conv2dWeightGrad.self, ConvTranspose2d.self, MaxPool2d.self, MaxPool2dBackward.self,
        AvgPool2d.self, AvgPool2dBackward.self,
    ]
}

/// The output padding that makes a transposed convolution of `out` (spatial size) come back to `input`.
private func outputPadding(input: [Int], out: [Int], kernel: Pair, stride: Pair, padding: Pair, dilation: Pair) -> Pair {
    Pair(input[input.count - 2] - ((out[out.count - 2] - 1) * stride.h - 2 * padding.h + dilation.h * (kernel.h - 1) + 1),
         input[input.count - 1] - ((out[out.count - 1] - 1) * stride.w - 2 * padding.w + dilation.w * (kernel.w - 1) + 1))
}

/// 2-D convolution, inputs [x, weight] or [x, weight, bias]: the backend's `conv2dForward` (which picks the
/// algorithm). Nothing is saved besides the inputs: the weight gradient works from x again.
struct Conv2d: PrimitiveOp {
    static let name = "conv2d"
    let stride: Pair, padding: Pair, dilation: Pair, groups: Int
    var attributes: [String: OpAttribute] {
        ["stride": .ints([stride.h, stride.w]), "padding": .ints([padding.h, padding.w]),
         "dilation": .ints([dilation.h, dilation.w]), "groups": .int(groups)]
    }

    func forward(_ inputs: [Tensor]) -> Tensor {
        let x = inputs[0], weight = inputs[1], bias: Tensor? = inputs.count > 2 ? inputs[2] : nil
        let s = convShape(x, weight, kernel: Pair(weight.shape[2], weight.shape[3]), outChannels: weight.shape[0],
                          stride: stride, padding: padding, dilation: dilation, groups: groups, "conv2d")
        let outShape = [s.batch, s.outChannels, s.geometry.outH, s.geometry.outW]
        let out = Tensor.empty(outShape, dtype: x.dtype, backend: x.backend)
        let b = bias.map { $0.contiguousData().cast(x.dtype) }
        x.backend.conv2dForward(x.contiguousData().operand, weight: weight.contiguousData().operand, bias: b?.operand,
                                out.operand, s)
        return out
    }

    func vjp(_ g: Tensor, _ c: VJPContext) -> [Tensor?] {
        let x = c.inputs[0], w = c.inputs[1], kernel = Pair(w.shape[2], w.shape[3])
        var gx: Tensor? = nil, gw: Tensor? = nil, gb: Tensor? = nil
        if c.needs(0) {
            let op = outputPadding(input: x.shape, out: g.shape, kernel: kernel, stride: stride, padding: padding, dilation: dilation)
            gx = convTranspose2d(g, w, stride: stride, padding: padding, outputPadding: op, dilation: dilation, groups: groups)
        }
        if c.needs(1) {
            let rule = Conv2dWeightGrad(kernel: kernel, stride: stride, padding: padding, dilation: dilation, groups: groups)
            gw = Tensor.apply(rule, [x, g])
        }
        if c.needs(2) { gb = g.sum(axes: [0, 2, 3]) }
        return [gx, gw, gb]
    }
}

/// The weight gradient of a convolution: from inputs [x, g] the [O, C/groups, kh, kw] tensor sum over n, p of
/// g[n, o, p] * unfold(x)[n, c, i, j, p] (the backend's `conv2dWeightGrad`). Bilinear in x and g, so its VJP is two
/// convolutions.
struct Conv2dWeightGrad: PrimitiveOp {
    static let name = "conv2d_weight_grad"
    let kernel: Pair, stride: Pair, padding: Pair, dilation: Pair, groups: Int
    var attributes: [String: OpAttribute] {
        ["kernel": .ints([kernel.h, kernel.w]), "stride": .ints([stride.h, stride.w]),
         "padding": .ints([padding.h, padding.w]), "dilation": .ints([dilation.h, dilation.w]), "groups": .int(groups)]
    }
    func forward(_ inputs: [Tensor]) -> Tensor {
        let x = inputs[0], g = inputs[1]
        let s = convShape(x, nil, kernel: kernel, outChannels: g.shape[1], stride: stride, padding: padding,
                          dilation: dilation, groups: groups, "conv2d")
        precondition(g.shape == [s.batch, s.outChannels, s.geometry.outH, s.geometry.outW],
                     "conv2d_weight_grad: gradient \(g.shape) does not match input \(x.shape) (expected [\(s.batch), \(s.outChannels), \(s.geometry.outH), \(s.geometry.outW)])")
        let gw = Tensor.empty([s.outChannels, s.geometry.channels, kernel.h, kernel.w], dtype: x.dtype, backend: x.backend)
        x.backend.conv2dWeightGrad(x.contiguousData().operand, g.contiguousData().cast(x.dtype).operand, gw.operand, s)
        return gw
    }
    func vjp(_ h: Tensor, _ c: VJPContext) -> [Tensor?] {
        let x = c.inputs[0], g = c.inputs[1]
        var gx: Tensor? = nil, gg: Tensor? = nil
        if c.needs(0) {
            let op = outputPadding(input: x.shape, out: g.shape, kernel: kernel, stride: stride, padding: padding, dilation: dilation)
            gx = convTranspose2d(g, h, stride: stride, padding: padding, outputPadding: op, dilation: dilation, groups: groups)
        }
        if c.needs(1) { gg = conv2d(x, h, stride: stride, padding: padding, dilation: dilation, groups: groups) }
        return [gx, gg]
    }
}

/// Transposed 2-D convolution, inputs [x, weight] or [x, weight, bias] (weight [Cin, Cout/groups, kh, kw]).
struct ConvTranspose2d: PrimitiveOp {
    static let name = "conv_transpose2d"
    let stride: Pair, padding: Pair, outputPadding: Pair, dilation: Pair, groups: Int
    var attributes: [String: OpAttribute] {
        ["stride": .ints([stride.h, stride.w]), "padding": .ints([padding.h, padding.w]),
         "outputPadding": .ints([outputPadding.h, outputPadding.w]), "dilation": .ints([dilation.h, dilation.w]),
         "groups": .int(groups)]
    }
    func forward(_ inputs: [Tensor]) -> Tensor {
        let x = inputs[0], weight = inputs[1], bias: Tensor? = inputs.count > 2 ? inputs[2] : nil
        let N = x.shape[0], Cin = x.shape[1], H = x.shape[2], W = x.shape[3]
        let cog = weight.shape[1], Cout = cog * groups
        let kh = weight.shape[2], kw = weight.shape[3]
        let Ho = (H - 1) * stride.h - 2 * padding.h + dilation.h * (kh - 1) + outputPadding.h + 1
        let Wo = (W - 1) * stride.w - 2 * padding.w + dilation.w * (kw - 1) + outputPadding.w + 1
        precondition(Ho > 0 && Wo > 0, "convTranspose2d: input \(x.shape) gives an empty output")
        // The input gradient of the convolution [N, Cout, Ho, Wo] -> [N, Cin, H, W] with this weight.
        let geo = Conv2dGeometry(channels: cog, height: Ho, width: Wo, kernelH: kh, kernelW: kw, strideH: stride.h,
                                 strideW: stride.w, padH: padding.h, padW: padding.w, dilationH: dilation.h, dilationW: dilation.w)
        let s = Conv2dShape(batch: N, inChannels: Cout, outChannels: Cin, groups: groups, geometry: geo)
        let out = Tensor.empty([N, Cout, Ho, Wo], dtype: x.dtype, backend: x.backend)
        x.backend.conv2dInputGrad(x.contiguousData().operand, weight: weight.contiguousData().operand, out.operand, s)
        guard let bias else { return out }
        return withoutGrad { out + bias.reshaped([1, Cout, 1, 1]) }
    }
    func vjp(_ g: Tensor, _ c: VJPContext) -> [Tensor?] {
        let x = c.inputs[0], w = c.inputs[1], kernel = Pair(w.shape[2], w.shape[3])
        var gx: Tensor? = nil, gw: Tensor? = nil, gb: Tensor? = nil
        if c.needs(0) { gx = conv2d(g, w, stride: stride, padding: padding, dilation: dilation, groups: groups) }
        if c.needs(1) {
            let rule = Conv2dWeightGrad(kernel: kernel, stride: stride, padding: padding, dilation: dilation, groups: groups)
            gw = Tensor.apply(rule, [g, x])
        }
        if c.needs(2) { gb = g.sum(axes: [0, 2, 3]) }
        return [gx, gw, gb]
    }
}

// MARK: API

/// 2-D convolution (cross-correlation, as PyTorch) of x [N, C, H, W] with weight [O, C/groups, kh, kw] and an
/// optional bias [O]. The backend picks the algorithm (the CPU backend: per-image im2col + GEMM into NCHW).
public func conv2d(_ x: Tensor, _ weight: Tensor, _ bias: Tensor? = nil, stride: Pair = 1, padding: Pair = 0,
                   dilation: Pair = 1, groups: Int = 1) -> Tensor {
    checkOperands("conv2d", ["input": x, "weight": weight, "bias": bias])
    precondition(x.rank == 4 && weight.rank == 4, "conv2d: input \(x.shape) must be [N,C,H,W] and weight \(weight.shape) [O,C/groups,kh,kw]")
    let C = x.shape[1], O = weight.shape[0]
    precondition(groups > 0 && C % groups == 0 && O % groups == 0 && weight.shape[1] == C / groups,
                 "conv2d: input \(x.shape) and weight \(weight.shape) do not agree with groups=\(groups) (need C % groups == 0, O % groups == 0, weight[1] == C/groups)")
    if let bias { precondition(bias.shape == [O], "conv2d: bias must be [\(O)], got \(bias.shape)") }
    let op = Conv2d(stride: stride, padding: padding, dilation: dilation, groups: groups)
    return Tensor.apply(op, bias.map { [x, weight, $0] } ?? [x, weight])
}

/// 1-D convolution of x [N, C, L] with weight [O, C/groups, k] (through conv2d on a height-1 image).
public func conv1d(_ x: Tensor, _ weight: Tensor, _ bias: Tensor? = nil, stride: Int = 1, padding: Int = 0,
                   dilation: Int = 1, groups: Int = 1) -> Tensor {
    checkOperands("conv1d", ["input": x, "weight": weight, "bias": bias])
    precondition(x.rank == 3 && weight.rank == 3, "conv1d: input \(x.shape) must be [N,C,L] and weight \(weight.shape) [O,C/groups,k]")
    return conv2d(x.unsqueezed(axis: 2), weight.unsqueezed(axis: 2), bias, stride: Pair(1, stride),
                  padding: Pair(0, padding), dilation: Pair(1, dilation), groups: groups).squeezed(axis: 2)
}

/// Transposed 2-D convolution (the gradient of conv2d with respect to its input), x [N, Cin, H, W],
/// weight [Cin, Cout/groups, kh, kw], as `torch.nn.functional.conv_transpose2d`.
public func convTranspose2d(_ x: Tensor, _ weight: Tensor, _ bias: Tensor? = nil, stride: Pair = 1, padding: Pair = 0,
                            outputPadding: Pair = 0, dilation: Pair = 1, groups: Int = 1) -> Tensor {
    checkOperands("convTranspose2d", ["input": x, "weight": weight, "bias": bias])
    precondition(x.rank == 4 && weight.rank == 4, "convTranspose2d: input \(x.shape) must be [N,Cin,H,W] and weight \(weight.shape) [Cin,Cout/groups,kh,kw]")
    let Cin = x.shape[1]
    precondition(weight.shape[0] == Cin && groups > 0 && Cin % groups == 0,
                 "convTranspose2d: input \(x.shape) and weight \(weight.shape) do not agree with groups=\(groups)")
    precondition(outputPadding.h < Swift.max(stride.h, dilation.h) && outputPadding.w < Swift.max(stride.w, dilation.w),
                 "convTranspose2d: output padding must be smaller than stride or dilation")
    let Cout = weight.shape[1] * groups
    if let bias { precondition(bias.shape == [Cout], "convTranspose2d: bias must be [\(Cout)], got \(bias.shape)") }
    let op = ConvTranspose2d(stride: stride, padding: padding, outputPadding: outputPadding, dilation: dilation, groups: groups)
    return Tensor.apply(op, bias.map { [x, weight, $0] } ?? [x, weight])
}
