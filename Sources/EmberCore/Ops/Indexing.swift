// MARK: primitives

extension OpRegistry {
    static let indexingOps: [any PrimitiveOp.Type] = [
        Gather.self, ScatterAdd.self, IndexSelect.self, IndexAdd.self, Concat.self, Pad.self, OneHot.self,
    ]
}

/// The [outer, n, m, inner] split of an indexed op along `axis` (n: the input's size there, m: the index's).
private func indexGeometry(_ shape: [Int], _ axis: Int, m: Int) -> (outer: Int, n: Int, m: Int, inner: Int) {
    (shape[..<axis].reduce(1, *), shape[axis], m, shape[(axis + 1)...].reduce(1, *))
}

/// out[..., j, ...] = x[..., index[..., j, ...], ...] along `axis`, inputs [x, index].
struct Gather: PrimitiveOp {
    static let name = "gather"
    static var savesInputs: Bool { false }
    let axis: Int
    var attributes: [String: OpAttribute] { ["axis": .int(axis)] }
    func forward(_ inputs: [Tensor]) -> Tensor {
        let x = inputs[0].contiguousData(), index = inputs[1].contiguousData()
        let d = indexGeometry(x.shape, axis, m: index.shape[axis])
        let out = Tensor.empty(index.shape, dtype: x.dtype, backend: x.backend)
        x.backend.gather(x.operand, index: index.operand, out.operand, outer: d.outer, n: d.n, m: d.m, inner: d.inner)
        return out
    }
    func vjp(_ g: Tensor, _ c: VJPContext) -> [Tensor?] {
        [Tensor.zeros(c.inputs[0].shape, dtype: g.dtype, on: g.backend).scatterAdd(axis: axis, index: c.inputs[1], source: g), nil]
    }
}

/// A copy of `x` with `source` added at `index` along `axis`, inputs [x, index, source].
struct ScatterAdd: PrimitiveOp {
    static let name = "scatter_add"
    static var savesInputs: Bool { false }
    let axis: Int
    var attributes: [String: OpAttribute] { ["axis": .int(axis)] }
    func forward(_ inputs: [Tensor]) -> Tensor {
        let x = inputs[0], index = inputs[1].contiguousData(), src = inputs[2].contiguousData()
        let d = indexGeometry(x.shape, axis, m: index.shape[axis])
        let out = x.copied()
        x.backend.scatterAdd(src.operand, index: index.operand, out.operand, outer: d.outer, n: d.n, m: d.m, inner: d.inner)
        return out
    }
    func vjp(_ g: Tensor, _ c: VJPContext) -> [Tensor?] {
        [c.needs(0) ? g : nil, nil, c.needs(2) ? g.gather(axis: axis, index: c.inputs[1]) : nil]
    }
}

/// Slices of `x` at the positions in the 1-D `index` along `axis`, inputs [x, index].
struct IndexSelect: PrimitiveOp {
    static let name = "index_select"
    static var savesInputs: Bool { false }
    let axis: Int
    var attributes: [String: OpAttribute] { ["axis": .int(axis)] }
    func forward(_ inputs: [Tensor]) -> Tensor {
        let x = inputs[0].contiguousData(), index = inputs[1].contiguousData()
        let d = indexGeometry(x.shape, axis, m: index.count)
        var outShape = x.shape
        outShape[axis] = index.count
        let out = Tensor.empty(outShape, dtype: x.dtype, backend: x.backend)
        x.backend.indexSelect(x.operand, index: index.operand, out.operand, outer: d.outer, n: d.n, m: d.m, inner: d.inner)
        return out
    }
    func vjp(_ g: Tensor, _ c: VJPContext) -> [Tensor?] {
        [Tensor.zeros(c.inputs[0].shape, dtype: g.dtype, on: g.backend).indexAdd(axis: axis, index: c.inputs[1], source: g), nil]
    }
}

/// A copy of `x` with the slices of `source` added at the positions in the 1-D `index` along `axis`, inputs
/// [x, index, source].
struct IndexAdd: PrimitiveOp {
    static let name = "index_add"
    static var savesInputs: Bool { false }
    let axis: Int
    var attributes: [String: OpAttribute] { ["axis": .int(axis)] }
    func forward(_ inputs: [Tensor]) -> Tensor {
        let x = inputs[0], index = inputs[1].contiguousData(), src = inputs[2].contiguousData()
        let d = indexGeometry(x.shape, axis, m: index.count)
        let out = x.copied()
        x.backend.indexAdd(src.operand, index: index.operand, out.operand, outer: d.outer, n: d.n, m: d.m, inner: d.inner)
        return out
    }
    func vjp(_ g: Tensor, _ c: VJPContext) -> [Tensor?] {
        [c.needs(0) ? g : nil, nil, c.needs(2) ? g.indexSelect(axis: axis, index: c.inputs[1]) : nil]
    }
}

/// Joins its inputs (one dtype) along `axis`.
struct Concat: PrimitiveOp {
    static let name = "concat"
    static var savesInputs: Bool { false }
    let axis: Int
    var attributes: [String: OpAttribute] { ["axis": .int(axis)] }
    func forward(_ inputs: [Tensor]) -> Tensor {
        let first = inputs[0]
        var outShape = first.shape
        outShape[axis] = inputs.reduce(0) { $0 + $1.shape[axis] }
        let out = Tensor.empty(outShape, dtype: first.dtype, backend: first.backend)
        var start = 0
        for t in inputs {
            let dst = out.sliceView(axis, start, start + t.shape[axis], 1)
            first.backend.copy(t.operand, into: dst.operand, shape: t.shape)
            start += t.shape[axis]
        }
        return out
    }
    func vjp(_ g: Tensor, _ c: VJPContext) -> [Tensor?] {
        var start = 0
        return c.inputs.enumerated().map { i, t in
            defer { start += t.shape[axis] }
            return c.needs(i) ? g.slice(axis: axis, start: start, end: start + t.shape[axis]).contiguous() : nil
        }
    }
}

/// Constant padding of the trailing dimensions: `widths` = [before, after] per padded dimension, flattened.
struct Pad: PrimitiveOp {
    static let name = "pad"
    static var savesInputs: Bool { false }
    let widths: [Int], value: Double
    var attributes: [String: OpAttribute] { ["widths": .ints(widths), "value": .double(value)] }
    func forward(_ inputs: [Tensor]) -> Tensor {
        let x = inputs[0], k = widths.count / 2, lead = x.rank - k
        var outShape = x.shape
        for i in 0..<k { outShape[lead + i] += widths[2 * i] + widths[2 * i + 1] }
        let out = Tensor.full(outShape, value, dtype: x.dtype, on: x.backend)
        var dst = out
        for i in 0..<k { dst = dst.sliceView(lead + i, widths[2 * i], widths[2 * i] + x.shape[lead + i], 1) }
        x.backend.copy(x.operand, into: dst.operand, shape: x.shape)
        return out
    }
    func vjp(_ g: Tensor, _ c: VJPContext) -> [Tensor?] {
        let shape = c.inputs[0].shape, k = widths.count / 2, lead = shape.count - k
        var s = g
        for i in 0..<k { s = s.slice(axis: lead + i, start: widths[2 * i], end: widths[2 * i] + shape[lead + i]) }
        return [s.contiguous()]
    }
}

/// One-hot encoding of integer class indices: shape + [numClasses], as `dtype`. No gradient.
struct OneHot: PrimitiveOp {
    static let name = "one_hot"
    static var isDifferentiable: Bool { false }
    let numClasses: Int, dtype: DType
    var attributes: [String: OpAttribute] { ["numClasses": .int(numClasses), "dtype": .dtype(dtype)] }
    func forward(_ inputs: [Tensor]) -> Tensor {
        let idx = inputs[0].toArray(Int64.self)
        // built in host memory (zeros, then the ones) and uploaded to the input's backend
        return Tensor.fromHost(inputs[0].shape + [numClasses], dtype: dtype, backend: inputs[0].backend) { host in
            for (i, c) in idx.enumerated() {
                precondition(c >= 0 && Int(c) < numClasses, "oneHot: class index \(c) is out of range for \(numClasses) classes")
                storeDouble(host, i * numClasses + Int(c), dtype, 1)
            }
        }
    }
}

// MARK: API

extension Tensor {
    private func checkIndex(_ index: Tensor, _ op: String) {
        checkIndexDType(op, index)
        checkOperands(op, ["input": self, "index": index], sameDType: false)
    }

    /// out[..., j, ...] = self[..., index[..., j, ...], ...] along `axis` (as `torch.gather`); `index` has this
    /// tensor's shape except along `axis`.
    public func gather(axis: Int, index: Tensor) -> Tensor {
        checkIndex(index, "gather")
        let ax = normalizeAxis(axis, rank: rank, "gather")
        precondition(index.rank == rank && (0..<rank).allSatisfy { $0 == ax || index.shape[$0] == shape[$0] },
                     "gather: index shape \(index.shape) must match input shape \(shape) except along axis \(ax)")
        return Tensor.apply(Gather(axis: ax), [self, index])
    }

    /// A copy of this tensor with `source` added at `index` along `axis` (as `torch.scatter_add`).
    public func scatterAdd(axis: Int, index: Tensor, source: Tensor) -> Tensor {
        checkOperands("scatterAdd", ["input": self, "index": index, "source": source], sameDType: false)
        checkIndex(index, "scatterAdd")
        checkOperands("scatterAdd", ["input": self, "source": source])
        let ax = normalizeAxis(axis, rank: rank, "scatterAdd")
        precondition(index.shape == source.shape && index.rank == rank && (0..<rank).allSatisfy { $0 == ax || index.shape[$0] == shape[$0] },
                     "scatterAdd: index \(index.shape) and source \(source.shape) must match each other, and input \(shape) except along axis \(ax)")
        return Tensor.apply(ScatterAdd(axis: ax), [self, index, source.cast(dtype)])
    }

    /// Slices of this tensor at the positions in the 1-D `index` along `axis` (as `torch.index_select`).
    public func indexSelect(axis: Int, index: Tensor) -> Tensor {
        checkIndex(index, "indexSelect")
        precondition(index.rank == 1, "indexSelect: index must be 1-D, got \(index.shape)")
        return Tensor.apply(IndexSelect(axis: normalizeAxis(axis, rank: rank, "indexSelect")), [self, index])
    }

    /// A copy of this tensor with the slices of `source` added at the positions in the 1-D `index` along `axis`
    /// (as `torch.index_add`); `source` has this tensor's shape except `index.count` along `axis`.
    public func indexAdd(axis: Int, index: Tensor, source: Tensor) -> Tensor {
        checkIndex(index, "indexAdd")
        checkOperands("indexAdd", ["input": self, "source": source], sameDType: false)
        let ax = normalizeAxis(axis, rank: rank, "indexAdd")
        precondition(index.rank == 1 && source.rank == rank
                     && (0..<rank).allSatisfy { source.shape[$0] == ($0 == ax ? index.count : shape[$0]) },
                     "indexAdd: index \(index.shape) and source \(source.shape) do not match input \(shape) along axis \(ax)")
        return Tensor.apply(IndexAdd(axis: ax), [self, index, source.cast(dtype)])
    }

    /// One-hot encoding of integer class indices: shape + [numClasses], as `dtype` (float32 by default, ready for
    /// losses; PyTorch returns int64).
    public func oneHot(numClasses: Int, dtype: DType = .float32) -> Tensor {
        precondition(self.dtype == .int64 || self.dtype == .int32, "oneHot: indices must be int32 or int64, got \(self.dtype)")
        return Tensor.apply(OneHot(numClasses: numClasses, dtype: dtype), [self])
    }
}

/// Rows of `weight` [vocab, dim] for each integer in `indices`: result indices.shape + [dim] (as
/// `torch.nn.functional.embedding`). The gradient is added back into the rows used.
public func embedding(_ indices: Tensor, _ weight: Tensor) -> Tensor {
    checkIndexDType("embedding", indices, "indices")
    checkOperands("embedding", ["indices": indices, "weight": weight], sameDType: false)
    precondition(weight.rank == 2, "embedding: weight must be [vocab, dim], got \(weight.shape)")
    let out = weight.indexSelect(axis: 0, index: indices.reshaped([-1])).reshaped(indices.shape + [weight.shape[1]])
    if Tracer.current == nil && weight.dtype.isFloatingPoint {
        out.lookup = EmbeddingLookup(output: out, indices: indices, table: weight)
    }
    return out
}

/// Joins tensors along an existing axis.
public func concat(_ tensors: [Tensor], axis: Int = 0) -> Tensor {
    precondition(!tensors.isEmpty, "concat: needs at least one tensor")
    checkSameBackend("concat", tensors)
    let first = tensors[0]
    let ax = normalizeAxis(axis, rank: first.rank, "concat")
    let dt = tensors.map(\.dtype).reduce(first.dtype, DType.promote)
    for t in tensors {
        precondition(t.rank == first.rank && (0..<t.rank).allSatisfy { $0 == ax || t.shape[$0] == first.shape[$0] },
                     "concat: shapes \(tensors.map(\.shape)) differ outside axis \(ax)")
    }
    return Tensor.apply(Concat(axis: ax), tensors.map { $0.cast(dt) })
}

/// Joins tensors of one shape along a new axis.
public func stack(_ tensors: [Tensor], axis: Int = 0) -> Tensor {
    precondition(!tensors.isEmpty, "stack: needs at least one tensor")
    precondition(tensors.allSatisfy { $0.shape == tensors[0].shape }, "stack: shapes \(tensors.map(\.shape)) differ")
    let ax = normalizeAxis(axis, rank: tensors[0].rank + 1, "stack")
    return concat(tensors.map { $0.unsqueezed(axis: ax) }, axis: ax)
}

extension Tensor {
    /// Splits into pieces of the given sizes along `axis` (views).
    public func split(sizes: [Int], axis: Int = 0) -> [Tensor] {
        let ax = normalizeAxis(axis, rank: rank, "split")
        precondition(sizes.reduce(0, +) == shape[ax] && sizes.allSatisfy { $0 >= 0 },
                     "split: sizes \(sizes) do not add up to \(shape[ax]) (axis \(ax) of \(shape))")
        var start = 0
        return sizes.map { s in defer { start += s }; return slice(axis: ax, start: start, end: start + s) }
    }

    /// Splits into `chunks` nearly equal pieces along `axis` (the last may be smaller), as `torch.chunk`.
    public func chunked(_ chunks: Int, axis: Int = 0) -> [Tensor] {
        precondition(chunks > 0, "chunk: number of chunks must be positive")
        let ax = normalizeAxis(axis, rank: rank, "chunk")
        let size = (shape[ax] + chunks - 1) / chunks
        if size == 0 { return [self] }
        var sizes: [Int] = []
        var left = shape[ax]
        while left > 0 { sizes.append(Swift.min(size, left)); left -= size }
        return split(sizes: sizes, axis: ax)
    }

    /// Padding modes.
    public enum PadMode: Sendable { case constant(Double), reflect }

    /// Pads the trailing dimensions: `widths[i]` = (before, after) for dimension rank - widths.count + i.
    public func padded(_ widths: [(Int, Int)], mode: PadMode = .constant(0)) -> Tensor {
        precondition(widths.count <= rank, "pad: \(widths.count) padding pairs for a tensor of rank \(rank)")
        let lead = rank - widths.count
        switch mode {
        case .constant(let v):
            precondition(widths.allSatisfy { $0.0 >= 0 && $0.1 >= 0 }, "pad: negative padding \(widths)")
            return Tensor.apply(Pad(widths: widths.flatMap { [$0.0, $0.1] }, value: v), [self])
        case .reflect:
            var t = self
            for (i, w) in widths.enumerated() {
                let ax = lead + i, n = shape[ax]
                precondition(w.0 < n && w.1 < n, "pad: reflect padding \(w) must be smaller than dimension \(ax) of size \(n)")
                var parts: [Tensor] = []
                if w.0 > 0 { parts.append(t.slice(axis: ax, start: 1, end: w.0 + 1).flipped(axes: [ax])) }
                parts.append(t)
                if w.1 > 0 { parts.append(t.slice(axis: ax, start: n - 1 - w.1, end: n - 1).flipped(axes: [ax])) }
                t = parts.count == 1 ? t : concat(parts, axis: ax)
            }
            return t
        }
    }

    /// Rotates elements by `shift` positions along `axis` (as `torch.roll`).
    public func rolled(_ shift: Int, axis: Int) -> Tensor {
        let ax = normalizeAxis(axis, rank: rank, "roll")
        let n = shape[ax]
        if n == 0 { return self }
        let s = ((shift % n) + n) % n
        if s == 0 { return self }
        return concat([slice(axis: ax, start: n - s), slice(axis: ax, start: 0, end: n - s)], axis: ax)
    }

    /// Inverted dropout: zeroes each element with probability `p` and scales the rest by 1/(1-p) when `training`.
    public func dropout(_ p: Double, training: Bool = true, rng: inout RandomState) -> Tensor {
        precondition(p >= 0 && p <= 1, "dropout: p must be in [0, 1], got \(p)")
        if !training || p == 0 { return self }
        if p == 1 { return self * 0 }
        let mask = Tensor.bernoulli(shape, p: 1 - p, dtype: dtype, rng: &rng)
        return self * withoutGrad { mask * (1 / (1 - p)) }
    }
}
