// Pooling: max (with the argmax of each window saved for backward) and average, each with a backward primitive.

private func poolInput(_ x: Tensor, _ op: String) -> (Int, [Int]) {
    precondition(x.rank == 3 || x.rank == 4, "\(op): input must be [N,C,H,W] or [C,H,W], got \(x.shape)")
    return (x.shape.dropLast(2).reduce(1, *), Array(x.shape.dropLast(2)))
}

/// The pooling window of an input of `shape` ([..., H, W]).
private func poolGeometry(_ shape: [Int], kernel: Pair, stride: Pair, padding: Pair, dilation: Pair) -> Conv2dGeometry {
    Conv2dGeometry(channels: 1, height: shape[shape.count - 2], width: shape[shape.count - 1], kernelH: kernel.h,
                   kernelW: kernel.w, strideH: stride.h, strideW: stride.w, padH: padding.h, padW: padding.w,
                   dilationH: dilation.h, dilationW: dilation.w)
}

private func poolAttributes(_ kernel: Pair, _ stride: Pair, _ padding: Pair) -> [String: OpAttribute] {
    ["kernel": .ints([kernel.h, kernel.w]), "stride": .ints([stride.h, stride.w]), "padding": .ints([padding.h, padding.w])]
}

/// Max pooling; the forward saves the flat argmax (within H*W) of each window for the backward.
struct MaxPool2d: PrimitiveOp {
    static let name = "max_pool2d"
    static var savesInputs: Bool { false }
    let kernel: Pair, stride: Pair, padding: Pair, dilation: Pair
    var attributes: [String: OpAttribute] {
        poolAttributes(kernel, stride, padding).merging(["dilation": .ints([dilation.h, dilation.w])]) { a, _ in a }
    }
    func forward(_ inputs: [Tensor]) -> Tensor { forwardAndSave(inputs).0 }
    func forwardAndSave(_ inputs: [Tensor]) -> (Tensor, [Tensor]) {
        let x = inputs[0], (planes, lead) = poolInput(x, "maxPool2d")
        let geo = poolGeometry(x.shape, kernel: kernel, stride: stride, padding: padding, dilation: dilation)
        let xc = x.contiguousData()
        let out = Tensor.empty(lead + [geo.outH, geo.outW], dtype: x.dtype, backend: x.backend)
        let idx = Tensor.empty(out.shape, dtype: .int64, backend: x.backend)
        x.backend.maxPool2d(xc.operand, out.operand, indices: idx.operand, planes: planes, geo)
        return (out, [idx])
    }
    func vjp(_ g: Tensor, _ c: VJPContext) -> [Tensor?] {
        let rule = MaxPool2dBackward(inputShape: c.inputs[0].shape, kernel: kernel, stride: stride, padding: padding,
                                     dilation: dilation)
        return [Tensor.apply(rule, [g, c.saved[0]])]
    }
}

/// Max pooling's backward from inputs [g, indices]: g scattered through the saved argmax into zeros of
/// `inputShape`. Its VJP gathers through the same indices.
struct MaxPool2dBackward: PrimitiveOp {
    static let name = "max_pool2d_backward"
    let inputShape: [Int], kernel: Pair, stride: Pair, padding: Pair, dilation: Pair
    var attributes: [String: OpAttribute] {
        poolAttributes(kernel, stride, padding).merging(["dilation": .ints([dilation.h, dilation.w]),
                                                         "inputShape": .ints(inputShape)]) { a, _ in a }
    }
    func forward(_ inputs: [Tensor]) -> Tensor {
        let g = inputs[0], idx = inputs[1].contiguousData()
        let geo = poolGeometry(inputShape, kernel: kernel, stride: stride, padding: padding, dilation: dilation)
        let planes = inputShape.dropLast(2).reduce(1, *)
        let gx = Tensor.empty(inputShape, dtype: g.dtype, backend: g.backend)
        g.backend.maxPool2dBackward(g.contiguousData().operand, indices: idx.operand, gx.operand, planes: planes, geo)
        return gx
    }
    func vjp(_ h: Tensor, _ c: VJPContext) -> [Tensor?] {
        let g = c.inputs[0], idx = c.inputs[1]
        let planes = inputShape.dropLast(2).reduce(1, *), hw = inputShape.suffix(2).reduce(1, *)
        let picked = h.reshaped([planes, hw]).gather(axis: 1, index: idx.reshaped([planes, idx.count / Swift.max(planes, 1)]))
        return [picked.reshaped(g.shape), nil]
    }
}

/// Average pooling (PyTorch's rules for padding and `countIncludePad`).
struct AvgPool2d: PrimitiveOp {
    static let name = "avg_pool2d"
    static var savesInputs: Bool { false }
    let kernel: Pair, stride: Pair, padding: Pair, countIncludePad: Bool
    var attributes: [String: OpAttribute] {
        poolAttributes(kernel, stride, padding).merging(["countIncludePad": .bool(countIncludePad)]) { a, _ in a }
    }
    func forward(_ inputs: [Tensor]) -> Tensor {
        let x = inputs[0], (planes, lead) = poolInput(x, "avgPool2d")
        let geo = poolGeometry(x.shape, kernel: kernel, stride: stride, padding: padding, dilation: 1)
        let out = Tensor.empty(lead + [geo.outH, geo.outW], dtype: x.dtype, backend: x.backend)
        x.backend.avgPool2d(x.contiguousData().operand, out.operand, planes: planes, geo, countIncludePad: countIncludePad)
        return out
    }
    func vjp(_ g: Tensor, _ c: VJPContext) -> [Tensor?] {
        let rule = AvgPool2dBackward(inputShape: c.inputs[0].shape, kernel: kernel, stride: stride, padding: padding,
                                     countIncludePad: countIncludePad)
        return [Tensor.apply(rule, [g])]
    }
}

/// Average pooling's backward into zeros of `inputShape`: linear, so its VJP is the average pooling itself.
struct AvgPool2dBackward: PrimitiveOp {
    static let name = "avg_pool2d_backward"
    static var savesInputs: Bool { false }
    let inputShape: [Int], kernel: Pair, stride: Pair, padding: Pair, countIncludePad: Bool
    var attributes: [String: OpAttribute] {
        poolAttributes(kernel, stride, padding).merging(["countIncludePad": .bool(countIncludePad),
                                                         "inputShape": .ints(inputShape)]) { a, _ in a }
    }
    func forward(_ inputs: [Tensor]) -> Tensor {
        let g = inputs[0]
        let geo = poolGeometry(inputShape, kernel: kernel, stride: stride, padding: padding, dilation: 1)
        let planes = inputShape.dropLast(2).reduce(1, *)
        let gx = Tensor.zeros(inputShape, dtype: g.dtype, on: g.backend)
        g.backend.avgPool2dBackward(g.contiguousData().operand, gx.operand, planes: planes, geo, countIncludePad: countIncludePad)
        return gx
    }
    func vjp(_ h: Tensor, _ c: VJPContext) -> [Tensor?] {
        [Tensor.apply(AvgPool2d(kernel: kernel, stride: stride, padding: padding, countIncludePad: countIncludePad), [h])]
    }
}

// MARK: API

/// 2-D max pooling over [N, C, H, W] (or [C, H, W]); stride defaults to the kernel size; padding pads with -inf.
public func maxPool2d(_ x: Tensor, kernel: Pair, stride: Pair? = nil, padding: Pair = 0, dilation: Pair = 1) -> Tensor {
    _ = poolInput(x, "maxPool2d")
    precondition(padding.h * 2 <= kernel.h && padding.w * 2 <= kernel.w, "maxPool2d: padding must be at most half the kernel size")
    _ = convGeometry(x, channels: 1, kernel: kernel, stride: stride ?? kernel, padding: padding, dilation: dilation, "maxPool2d")
    return Tensor.apply(MaxPool2d(kernel: kernel, stride: stride ?? kernel, padding: padding, dilation: dilation), [x])
}

/// 2-D average pooling (PyTorch's rules for padding and `countIncludePad`).
public func avgPool2d(_ x: Tensor, kernel: Pair, stride: Pair? = nil, padding: Pair = 0, countIncludePad: Bool = true) -> Tensor {
    _ = poolInput(x, "avgPool2d")
    precondition(padding.h * 2 <= kernel.h && padding.w * 2 <= kernel.w, "avgPool2d: padding must be at most half the kernel size")
    _ = convGeometry(x, channels: 1, kernel: kernel, stride: stride ?? kernel, padding: padding, dilation: 1, "avgPool2d")
    return Tensor.apply(AvgPool2d(kernel: kernel, stride: stride ?? kernel, padding: padding, countIncludePad: countIncludePad), [x])
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
