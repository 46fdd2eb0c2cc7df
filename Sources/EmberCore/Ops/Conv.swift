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

func offsetOperand(_ o: Operand, _ elements: Int) -> Operand {
    var r = o
    r.pointer += elements * o.dtype.byteSize
    return r
}

/// [N, C, L] (contiguous, starting at `t`) as a contiguous [C, N*L]: the layout batched im2col GEMMs produce.
private func channelsFirst(_ t: Tensor, n: Int, c: Int, l: Int) -> Tensor {
    let out = Tensor.empty([c, n * l], dtype: t.dtype, backend: t.backend)
    t.backend.copy(t.operand.restrided([l, c * l, 1]),
                   into: out.operand.restrided([n * l, l, 1]), shape: [c, n, l])
    return out
}

/// [C, N*L] back to a new [N, C, L] tensor of `shape`, adding `bias` [C] when given.
private func batchFirst(_ t: Tensor, n: Int, c: Int, l: Int, shape: [Int], bias: Tensor?) -> Tensor {
    let out = Tensor.empty(shape, dtype: t.dtype, backend: t.backend)
    let src = t.operand.restrided([l, n * l, 1])
    if let bias {
        let b = bias.contiguousData().cast(t.dtype)
        t.backend.binary(.add, src, b.operand.restrided([0, 1, 0]), out.operand, shape: [n, c, l])
    } else {
        t.backend.copy(src, into: out.operand.restrided([c * l, l, 1]), shape: [n, c, l])
    }
    return out
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

/// 2-D convolution, inputs [x, weight] or [x, weight, bias]. The whole batch is unfolded at once (im2col into
/// [C*kh*kw, N*outH*outW]) so each group is one large GEMM. With one group the unfolded input is saved for the
/// weight gradient (no second im2col in backward).
struct Conv2d: PrimitiveOp {
    static let name = "conv2d"
    let stride: Pair, padding: Pair, dilation: Pair, groups: Int
    var attributes: [String: OpAttribute] {
        ["stride": .ints([stride.h, stride.w]), "padding": .ints([padding.h, padding.w]),
         "dilation": .ints([dilation.h, dilation.w]), "groups": .int(groups)]
    }
    func forward(_ inputs: [Tensor]) -> Tensor { run(inputs, keepColumns: false).0 }
    func forwardAndSave(_ inputs: [Tensor]) -> (Tensor, [Tensor]) {
        run(inputs, keepColumns: groups == 1 && inputs[1].requiresGrad)
    }

    private func run(_ inputs: [Tensor], keepColumns: Bool) -> (Tensor, [Tensor]) {
        let x = inputs[0], weight = inputs[1], bias: Tensor? = inputs.count > 2 ? inputs[2] : nil
        let N = x.shape[0], C = x.shape[1], O = weight.shape[0]
        let cg = C / groups, og = O / groups
        let geo = convGeometry(x, channels: cg, kernel: Pair(weight.shape[2], weight.shape[3]), stride: stride,
                               padding: padding, dilation: dilation, "conv2d")
        let L = geo.outH * geo.outW, K = cg * geo.kernelH * geo.kernelW, HW = geo.height * geo.width, NL = N * L
        let outShape = [N, O, geo.outH, geo.outW]
        if N == 0 || L == 0 { return (Tensor.zeros(outShape, dtype: x.dtype, on: x.backend), []) }
        let xc = x.contiguousData(), wc = weight.contiguousData(), be = x.backend
        let cols = Tensor.empty([K, NL], dtype: x.dtype, backend: be)
        let tmp = Tensor.empty([O, NL], dtype: x.dtype, backend: be)
        for gi in 0..<groups {
            be.im2col(offsetOperand(xc.operand, gi * cg * HW), batch: N, imageStride: C * HW, cols.operand, geo)
            be.gemm(transA: false, transB: false, m: og, n: NL, k: K, alpha: 1, a: offsetOperand(wc.operand, gi * og * K),
                    lda: K, b: cols.operand, ldb: NL, beta: 0, c: offsetOperand(tmp.operand, gi * og * NL), ldc: NL)
        }
        return (batchFirst(tmp, n: N, c: O, l: L, shape: outShape, bias: bias), keepColumns ? [cols] : [])
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
            gw = Tensor.apply(rule, [x, g] + c.saved)
        }
        if c.needs(2) { gb = g.sum(axes: [0, 2, 3]) }
        return [gx, gw, gb]
    }
}

/// The weight gradient of a convolution: from inputs [x, g] (or [x, g, columns], the unfolded x saved by the
/// forward) the [O, C/groups, kh, kw] tensor sum over n, p of g[n, o, p] * unfold(x)[n, c, i, j, p]. Bilinear in x
/// and g, so its VJP is two convolutions.
struct Conv2dWeightGrad: PrimitiveOp {
    static let name = "conv2d_weight_grad"
    let kernel: Pair, stride: Pair, padding: Pair, dilation: Pair, groups: Int
    var attributes: [String: OpAttribute] {
        ["kernel": .ints([kernel.h, kernel.w]), "stride": .ints([stride.h, stride.w]),
         "padding": .ints([padding.h, padding.w]), "dilation": .ints([dilation.h, dilation.w]), "groups": .int(groups)]
    }
    func forward(_ inputs: [Tensor]) -> Tensor {
        let x = inputs[0], g = inputs[1]
        let N = x.shape[0], C = x.shape[1], O = g.shape[1], cg = C / groups, og = O / groups
        let geo = convGeometry(x, channels: cg, kernel: kernel, stride: stride, padding: padding, dilation: dilation, "conv2d")
        precondition(g.shape == [N, O, geo.outH, geo.outW],
                     "conv2d_weight_grad: gradient \(g.shape) does not match input \(x.shape) (expected [\(N), \(O), \(geo.outH), \(geo.outW)])")
        let L = geo.outH * geo.outW, K = cg * kernel.h * kernel.w, HW = geo.height * geo.width, NL = N * L
        let gw = Tensor.empty([O, cg, kernel.h, kernel.w], dtype: x.dtype, backend: x.backend)
        let be = x.backend
        if NL == 0 || gw.count == 0 { be.fill(gw.operand, count: gw.count, value: 0); return gw }
        let gT = channelsFirst(g.contiguousData(), n: N, c: O, l: L)
        let saved = inputs.count > 2 ? inputs[2] : nil
        let cols = saved ?? Tensor.empty([K, NL], dtype: x.dtype, backend: be)
        let xc = x.contiguousData()
        for gi in 0..<groups {
            if saved == nil {
                be.im2col(offsetOperand(xc.operand, gi * cg * HW), batch: N, imageStride: C * HW, cols.operand, geo)
            }
            be.gemm(transA: false, transB: true, m: og, n: K, k: NL, alpha: 1, a: offsetOperand(gT.operand, gi * og * NL),
                    lda: NL, b: cols.operand, ldb: NL, beta: 0, c: offsetOperand(gw.operand, gi * og * K), ldc: K)
        }
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
        return [gx, gg] + c.inputs.dropFirst(2).map { _ in nil }
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
        let cig = Cin / groups, cog = weight.shape[1], Cout = cog * groups
        let kh = weight.shape[2], kw = weight.shape[3]
        let Ho = (H - 1) * stride.h - 2 * padding.h + dilation.h * (kh - 1) + outputPadding.h + 1
        let Wo = (W - 1) * stride.w - 2 * padding.w + dilation.w * (kw - 1) + outputPadding.w + 1
        precondition(Ho > 0 && Wo > 0, "convTranspose2d: input \(x.shape) gives an empty output")
        let geo = Conv2dGeometry(channels: cog, height: Ho, width: Wo, kernelH: kh, kernelW: kw, strideH: stride.h,
                                 strideW: stride.w, padH: padding.h, padW: padding.w, dilationH: dilation.h, dilationW: dilation.w)
        let L = H * W, K = cog * kh * kw, HWo = Ho * Wo, NL = N * L
        let wc = weight.contiguousData(), be = x.backend
        let out = Tensor.zeros([N, Cout, Ho, Wo], dtype: x.dtype, on: be)
        if NL > 0 {
            let xT = channelsFirst(x.contiguousData(), n: N, c: Cin, l: L)
            let cols = Tensor.empty([K, NL], dtype: x.dtype, backend: be)
            for gi in 0..<groups {
                be.gemm(transA: true, transB: false, m: K, n: NL, k: cig, alpha: 1, a: offsetOperand(wc.operand, gi * cig * K),
                        lda: K, b: offsetOperand(xT.operand, gi * cig * NL), ldb: NL, beta: 0, c: cols.operand, ldc: NL)
                be.col2im(cols.operand, offsetOperand(out.operand, gi * cog * HWo), batch: N, imageStride: Cout * HWo, geo)
            }
        }
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
/// optional bias [O]. The whole batch is unfolded at once (im2col into [C*kh*kw, N*outH*outW]) so each group is one
/// large GEMM, forward and backward.
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
