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

private func geometry(_ x: Tensor, channels: Int, kernel: Pair, stride: Pair, padding: Pair, dilation: Pair,
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

private func offsetOperand(_ o: Operand, _ elements: Int) -> Operand {
    var r = o
    r.pointer += elements * o.dtype.byteSize
    return r
}

/// [N, C, L] (contiguous, starting at `t`) as a contiguous [C, N*L]: the layout batched im2col GEMMs produce.
private func channelsFirst(_ t: Tensor, n: Int, c: Int, l: Int) -> Tensor {
    let out = Tensor.empty([c, n * l], dtype: t.dtype, backend: t.backend)
    t.backend.copy(Operand(pointer: t.operand.pointer, strides: [l, c * l, 1], dtype: t.dtype),
                   into: Operand(pointer: out.operand.pointer, strides: [n * l, l, 1], dtype: t.dtype), shape: [c, n, l])
    return out
}

/// [C, N*L] back to a new [N, C, L] tensor of `shape`, adding `bias` [C] when given.
private func batchFirst(_ t: Tensor, n: Int, c: Int, l: Int, shape: [Int], bias: Tensor?) -> Tensor {
    let out = Tensor.empty(shape, dtype: t.dtype, backend: t.backend)
    let src = Operand(pointer: t.operand.pointer, strides: [l, n * l, 1], dtype: t.dtype)
    if let bias {
        let b = bias.contiguousData().cast(t.dtype)
        t.backend.binary(.add, src, Operand(pointer: b.operand.pointer, strides: [0, 1, 0], dtype: t.dtype), out.operand, shape: [n, c, l])
    } else {
        t.backend.copy(src, into: Operand(pointer: out.operand.pointer, strides: [c * l, l, 1], dtype: t.dtype), shape: [n, c, l])
    }
    return out
}

/// 2-D convolution (cross-correlation, as PyTorch) of x [N, C, H, W] with weight [O, C/groups, kh, kw] and an
/// optional bias [O]. The whole batch is unfolded at once (im2col into [C*kh*kw, N*outH*outW]) so each group is one
/// large GEMM, forward and backward.
public func conv2d(_ x: Tensor, _ weight: Tensor, _ bias: Tensor? = nil, stride: Pair = 1, padding: Pair = 0,
                   dilation: Pair = 1, groups: Int = 1) -> Tensor {
    checkOperands("conv2d", ["input": x, "weight": weight, "bias": bias])
    precondition(x.rank == 4 && weight.rank == 4, "conv2d: input \(x.shape) must be [N,C,H,W] and weight \(weight.shape) [O,C/groups,kh,kw]")
    let N = x.shape[0], C = x.shape[1], O = weight.shape[0]
    precondition(groups > 0 && C % groups == 0 && O % groups == 0 && weight.shape[1] == C / groups,
                 "conv2d: input \(x.shape) and weight \(weight.shape) do not agree with groups=\(groups) (need C % groups == 0, O % groups == 0, weight[1] == C/groups)")
    if let bias { precondition(bias.shape == [O], "conv2d: bias must be [\(O)], got \(bias.shape)") }
    let cg = C / groups, og = O / groups
    let geo = geometry(x, channels: cg, kernel: Pair(weight.shape[2], weight.shape[3]), stride: stride, padding: padding,
                       dilation: dilation, "conv2d")
    let L = geo.outH * geo.outW, K = cg * geo.kernelH * geo.kernelW, HW = geo.height * geo.width, NL = N * L
    let outShape = [N, O, geo.outH, geo.outW]
    let xc = x.contiguousData(), wc = weight.contiguousData(), be = x.backend
    let result: Tensor
    var savedCols: Tensor? = nil
    if N == 0 || L == 0 {
        result = Tensor.zeros(outShape, dtype: x.dtype, on: be)
    } else {
        let cols = Tensor.empty([K, NL], dtype: x.dtype, backend: be)
        let tmp = Tensor.empty([O, NL], dtype: x.dtype, backend: be)
        for gi in 0..<groups {
            be.im2col(offsetOperand(xc.operand, gi * cg * HW), batch: N, imageStride: C * HW, cols.operand, geo)
            be.gemm(transA: false, transB: false, m: og, n: NL, k: K, alpha: 1, a: offsetOperand(wc.operand, gi * og * K),
                    lda: K, b: cols.operand, ldb: NL, beta: 0, c: offsetOperand(tmp.operand, gi * og * NL), ldc: NL)
        }
        // With one group the unfolded input is kept for the weight gradient (no second im2col in backward).
        if groups == 1 && weight.requiresGrad && GradMode.isEnabled { savedCols = cols }
        result = batchFirst(tmp, n: N, c: O, l: L, shape: outShape, bias: bias)
    }
    let inputs = bias.map { [x, weight, $0] } ?? [x, weight]
    return record(result, "conv2d", inputs) { g, need in
        var gx: Tensor? = nil, gw: Tensor? = nil, gb: Tensor? = nil
        if need[0] { gx = Tensor.zeros(x.shape, dtype: x.dtype, on: be) }
        if need[1] { gw = Tensor.empty(weight.shape, dtype: weight.dtype, backend: be) }
        if NL > 0 {
            let gT = channelsFirst(g.contiguousData(), n: N, c: O, l: L)
            if need.count > 2 && need[2] { gb = gT.sum(axis: 1) }
            let cols = savedCols ?? Tensor.empty([K, NL], dtype: x.dtype, backend: be)
            for gi in 0..<groups {
                let gOut = offsetOperand(gT.operand, gi * og * NL)
                if let gw {
                    if savedCols == nil {
                        be.im2col(offsetOperand(xc.operand, gi * cg * HW), batch: N, imageStride: C * HW, cols.operand, geo)
                    }
                    be.gemm(transA: false, transB: true, m: og, n: K, k: NL, alpha: 1, a: gOut, lda: NL, b: cols.operand,
                            ldb: NL, beta: 0, c: offsetOperand(gw.operand, gi * og * K), ldc: K)
                }
                if let gx {
                    // Never overwrite the saved forward columns: backward may run again with retainGraph.
                    let gcols = savedCols == nil ? cols : Tensor.empty([K, NL], dtype: x.dtype, backend: be)
                    be.gemm(transA: true, transB: false, m: K, n: NL, k: og, alpha: 1, a: offsetOperand(wc.operand, gi * og * K),
                            lda: K, b: gOut, ldb: NL, beta: 0, c: gcols.operand, ldc: NL)
                    be.col2im(gcols.operand, offsetOperand(gx.operand, gi * cg * HW), batch: N, imageStride: C * HW, geo)
                }
            }
        } else {
            if let gw { be.fill(gw.operand, count: gw.count, value: 0) }
            if need.count > 2 && need[2] { gb = Tensor.zeros([O], dtype: g.dtype, on: be) }
        }
        return [gx, gw, gb].prefix(inputs.count).map { $0 }
    }
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
    let N = x.shape[0], Cin = x.shape[1], H = x.shape[2], W = x.shape[3]
    precondition(weight.shape[0] == Cin && groups > 0 && Cin % groups == 0,
                 "convTranspose2d: input \(x.shape) and weight \(weight.shape) do not agree with groups=\(groups)")
    precondition(outputPadding.h < Swift.max(stride.h, dilation.h) && outputPadding.w < Swift.max(stride.w, dilation.w),
                 "convTranspose2d: output padding must be smaller than stride or dilation")
    let cig = Cin / groups, cog = weight.shape[1], Cout = cog * groups
    if let bias { precondition(bias.shape == [Cout], "convTranspose2d: bias must be [\(Cout)], got \(bias.shape)") }
    let kh = weight.shape[2], kw = weight.shape[3]
    let Ho = (H - 1) * stride.h - 2 * padding.h + dilation.h * (kh - 1) + outputPadding.h + 1
    let Wo = (W - 1) * stride.w - 2 * padding.w + dilation.w * (kw - 1) + outputPadding.w + 1
    precondition(Ho > 0 && Wo > 0, "convTranspose2d: input \(x.shape) gives an empty output")
    let geo = Conv2dGeometry(channels: cog, height: Ho, width: Wo, kernelH: kh, kernelW: kw, strideH: stride.h,
                             strideW: stride.w, padH: padding.h, padW: padding.w, dilationH: dilation.h, dilationW: dilation.w)
    let L = H * W, K = cog * kh * kw, HWo = Ho * Wo, NL = N * L
    let wc = weight.contiguousData(), be = x.backend
    let out = Tensor.zeros([N, Cout, Ho, Wo], dtype: x.dtype, on: be)
    let xT = channelsFirst(x.contiguousData(), n: N, c: Cin, l: L)
    if NL > 0 {
        let cols = Tensor.empty([K, NL], dtype: x.dtype, backend: be)
        for gi in 0..<groups {
            be.gemm(transA: true, transB: false, m: K, n: NL, k: cig, alpha: 1, a: offsetOperand(wc.operand, gi * cig * K),
                    lda: K, b: offsetOperand(xT.operand, gi * cig * NL), ldb: NL, beta: 0, c: cols.operand, ldc: NL)
            be.col2im(cols.operand, offsetOperand(out.operand, gi * cog * HWo), batch: N, imageStride: Cout * HWo, geo)
        }
    }
    var result = out
    if let bias { result = withoutGrad { out + bias.reshaped([1, Cout, 1, 1]) } }
    let inputs = bias.map { [x, weight, $0] } ?? [x, weight]
    return record(result, "convTranspose2d", inputs) { g, need in
        let gc = g.contiguousData()
        var gx: Tensor? = nil, gw: Tensor? = nil
        if need[1] { gw = Tensor.zeros(weight.shape, dtype: weight.dtype, on: be) }
        if NL > 0 {
            let cols = Tensor.empty([K, NL], dtype: x.dtype, backend: be)
            let gxT = Tensor.empty([Cin, NL], dtype: x.dtype, backend: be)
            for gi in 0..<groups {
                be.im2col(offsetOperand(gc.operand, gi * cog * HWo), batch: N, imageStride: Cout * HWo, cols.operand, geo)
                if need[0] {
                    be.gemm(transA: false, transB: false, m: cig, n: NL, k: K, alpha: 1, a: offsetOperand(wc.operand, gi * cig * K),
                            lda: K, b: cols.operand, ldb: NL, beta: 0, c: offsetOperand(gxT.operand, gi * cig * NL), ldc: NL)
                }
                if let gw {
                    be.gemm(transA: false, transB: true, m: cig, n: K, k: NL, alpha: 1, a: offsetOperand(xT.operand, gi * cig * NL),
                            lda: NL, b: cols.operand, ldb: NL, beta: 0, c: offsetOperand(gw.operand, gi * cig * K), ldc: K)
                }
            }
            if need[0] { gx = batchFirst(gxT, n: N, c: Cin, l: L, shape: x.shape, bias: nil) }
        } else if need[0] {
            gx = Tensor.zeros(x.shape, dtype: x.dtype, on: be)
        }
        let gb: Tensor? = need.count > 2 && need[2] ? gc.sum(axes: [0, 2, 3]) : nil
        return [gx, gw, gb].prefix(inputs.count).map { $0 }
    }
}

private func poolInput(_ x: Tensor, _ op: String) -> (Int, [Int]) {
    precondition(x.rank == 3 || x.rank == 4, "\(op): input must be [N,C,H,W] or [C,H,W], got \(x.shape)")
    return (x.shape.dropLast(2).reduce(1, *), Array(x.shape.dropLast(2)))
}

/// 2-D max pooling over [N, C, H, W] (or [C, H, W]); stride defaults to the kernel size; padding pads with -inf.
public func maxPool2d(_ x: Tensor, kernel: Pair, stride: Pair? = nil, padding: Pair = 0, dilation: Pair = 1) -> Tensor {
    let (planes, lead) = poolInput(x, "maxPool2d")
    precondition(padding.h * 2 <= kernel.h && padding.w * 2 <= kernel.w, "maxPool2d: padding must be at most half the kernel size")
    let geo = geometry(x, channels: 1, kernel: kernel, stride: stride ?? kernel, padding: padding, dilation: dilation, "maxPool2d")
    let xc = x.contiguousData()
    let out = Tensor.empty(lead + [geo.outH, geo.outW], dtype: x.dtype, backend: x.backend)
    let idx = Tensor.empty(out.shape, dtype: .int64, backend: x.backend)
    x.backend.maxPool2d(xc.operand, out.operand, indices: idx.operand, planes: planes, geo)
    return record(out, "maxPool2d", [x]) { g, _ in
        let gx = Tensor.zeros(x.shape, dtype: x.dtype, on: x.backend)
        let gc = g.contiguousData()
        x.backend.maxPool2dBackward(gc.operand, indices: idx.operand, gx.operand, planes: planes, geo)
        return [gx]
    }
}

/// 2-D average pooling (PyTorch's rules for padding and `countIncludePad`).
public func avgPool2d(_ x: Tensor, kernel: Pair, stride: Pair? = nil, padding: Pair = 0, countIncludePad: Bool = true) -> Tensor {
    let (planes, lead) = poolInput(x, "avgPool2d")
    precondition(padding.h * 2 <= kernel.h && padding.w * 2 <= kernel.w, "avgPool2d: padding must be at most half the kernel size")
    let geo = geometry(x, channels: 1, kernel: kernel, stride: stride ?? kernel, padding: padding, dilation: 1, "avgPool2d")
    let xc = x.contiguousData()
    let out = Tensor.empty(lead + [geo.outH, geo.outW], dtype: x.dtype, backend: x.backend)
    x.backend.avgPool2d(xc.operand, out.operand, planes: planes, geo, countIncludePad: countIncludePad)
    return record(out, "avgPool2d", [x]) { g, _ in
        let gx = Tensor.zeros(x.shape, dtype: x.dtype, on: x.backend)
        x.backend.avgPool2dBackward(g.contiguousData().operand, gx.operand, planes: planes, geo, countIncludePad: countIncludePad)
        return [gx]
    }
}

/// Adaptive average pooling to an output size (PyTorch's window rule: floor(i*H/oh) ..< ceil((i+1)*H/oh)).
public func adaptiveAvgPool2d(_ x: Tensor, outputSize: Pair) -> Tensor {
    _ = poolInput(x, "adaptiveAvgPool2d")
    let H = x.shape[x.rank - 2], W = x.shape[x.rank - 1]
    precondition(outputSize.h > 0 && outputSize.w > 0, "adaptiveAvgPool2d: output size must be positive")
    if H % outputSize.h == 0 && W % outputSize.w == 0 {
        let k = Pair(H / outputSize.h, W / outputSize.w)
        return avgPool2d(x, kernel: k, stride: k)
    }
    var rows: [Tensor] = []
    for i in 0..<outputSize.h {
        let h0 = i * H / outputSize.h, h1 = ((i + 1) * H + outputSize.h - 1) / outputSize.h
        var cols: [Tensor] = []
        for j in 0..<outputSize.w {
            let w0 = j * W / outputSize.w, w1 = ((j + 1) * W + outputSize.w - 1) / outputSize.w
            cols.append(x.slice(axis: -2, start: h0, end: h1).slice(axis: -1, start: w0, end: w1).mean(axes: [x.rank - 2, x.rank - 1]))
        }
        rows.append(stack(cols, axis: -1))
    }
    return stack(rows, axis: -2)
}
