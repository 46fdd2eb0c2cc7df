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
        let outer = shape[..<ax].reduce(1, *), inner = shape[(ax + 1)...].reduce(1, *)
        let n = shape[ax], m = index.shape[ax]
        let x = contiguousData(), ic = index.contiguousData()
        let out = Tensor.empty(index.shape, dtype: dtype, backend: backend)
        backend.gather(x.operand, index: ic.operand, out.operand, outer: outer, n: n, m: m, inner: inner)
        let from = shape
        return record(out, "gather", [self]) { g, _ in
            let gx = Tensor.zeros(from, dtype: g.dtype, on: g.backend)
            g.backend.scatterAdd(g.contiguousData().operand, index: ic.operand, gx.operand, outer: outer, n: n, m: m, inner: inner)
            return [gx]
        }
    }

    /// A copy of this tensor with `source` added at `index` along `axis` (as `torch.scatter_add`).
    public func scatterAdd(axis: Int, index: Tensor, source: Tensor) -> Tensor {
        checkOperands("scatterAdd", ["input": self, "index": index, "source": source], sameDType: false)
        checkIndex(index, "scatterAdd")
        checkOperands("scatterAdd", ["input": self, "source": source])
        let ax = normalizeAxis(axis, rank: rank, "scatterAdd")
        precondition(index.shape == source.shape && index.rank == rank && (0..<rank).allSatisfy { $0 == ax || index.shape[$0] == shape[$0] },
                     "scatterAdd: index \(index.shape) and source \(source.shape) must match each other, and input \(shape) except along axis \(ax)")
        let outer = shape[..<ax].reduce(1, *), inner = shape[(ax + 1)...].reduce(1, *)
        let n = shape[ax], m = index.shape[ax]
        let out = Tensor.empty(shape, dtype: dtype, backend: backend)
        backend.copy(operand, into: out.operand, shape: shape)
        let ic = index.contiguousData()
        let src = source.cast(dtype)
        backend.scatterAdd(src.contiguousData().operand, index: ic.operand, out.operand, outer: outer, n: n, m: m, inner: inner)
        return record(out, "scatterAdd", [self, src]) { g, need in
            [need[0] ? g : nil, need[1] ? g.gather(axis: ax, index: ic) : nil]
        }
    }

    /// Slices of this tensor at the positions in the 1-D `index` along `axis` (as `torch.index_select`).
    public func indexSelect(axis: Int, index: Tensor) -> Tensor {
        checkIndex(index, "indexSelect")
        precondition(index.rank == 1, "indexSelect: index must be 1-D, got \(index.shape)")
        let ax = normalizeAxis(axis, rank: rank, "indexSelect")
        let outer = shape[..<ax].reduce(1, *), inner = shape[(ax + 1)...].reduce(1, *)
        let n = shape[ax], m = index.count
        var outShape = shape
        outShape[ax] = m
        let x = contiguousData(), ic = index.contiguousData()
        let out = Tensor.empty(outShape, dtype: dtype, backend: backend)
        backend.indexSelect(x.operand, index: ic.operand, out.operand, outer: outer, n: n, m: m, inner: inner)
        let from = shape
        return record(out, "indexSelect", [self]) { g, _ in
            let gx = Tensor.zeros(from, dtype: g.dtype, on: g.backend)
            g.backend.indexAdd(g.contiguousData().operand, index: ic.operand, gx.operand, outer: outer, n: n, m: m, inner: inner)
            return [gx]
        }
    }

    /// One-hot encoding of integer class indices: shape + [numClasses], as `dtype` (float32 by default, ready for
    /// losses; PyTorch returns int64).
    public func oneHot(numClasses: Int, dtype: DType = .float32) -> Tensor {
        precondition(self.dtype == .int64 || self.dtype == .int32, "oneHot: indices must be int32 or int64, got \(self.dtype)")
        let idx = toArray(Int64.self)
        let out = Tensor.zeros(shape + [numClasses], dtype: dtype)
        for (i, c) in idx.enumerated() {
            precondition(c >= 0 && Int(c) < numClasses, "oneHot: class index \(c) is out of range for \(numClasses) classes")
            storeDouble(out.storage.pointer, i * numClasses + Int(c), dtype, 1)
        }
        return out
    }
}

/// Rows of `weight` [vocab, dim] for each integer in `indices`: result indices.shape + [dim] (as
/// `torch.nn.functional.embedding`). The gradient is added back into the rows used.
public func embedding(_ indices: Tensor, _ weight: Tensor) -> Tensor {
    checkIndexDType("embedding", indices, "indices")
    checkOperands("embedding", ["indices": indices, "weight": weight], sameDType: false)
    precondition(weight.rank == 2, "embedding: weight must be [vocab, dim], got \(weight.shape)")
    return weight.indexSelect(axis: 0, index: indices.reshaped([-1])).reshaped(indices.shape + [weight.shape[1]])
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
    var outShape = first.shape
    outShape[ax] = tensors.reduce(0) { $0 + $1.shape[ax] }
    let out = Tensor.empty(outShape, dtype: dt, backend: first.backend)
    var start = 0
    var bounds: [(Int, Int)] = []
    for t in tensors {
        let dst = out.view(shape: out.shape, strides: out.strides, offset: 0).slice(axis: ax, start: start, end: start + t.shape[ax])
        first.backend.copy(t.operand, into: dst.operand, shape: t.shape)
        bounds.append((start, start + t.shape[ax]))
        start += t.shape[ax]
    }
    let inputs = tensors.map { $0.cast(dt) }
    return record(out, "concat", inputs) { g, need in
        bounds.enumerated().map { i, b in need[i] ? g.slice(axis: ax, start: b.0, end: b.1).contiguous() : nil }
    }
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
            var outShape = shape
            for (i, w) in widths.enumerated() { outShape[lead + i] += w.0 + w.1 }
            let out = Tensor.full(outShape, v, dtype: dtype, on: backend)
            var dst = out.view(shape: out.shape, strides: out.strides, offset: 0)
            for (i, w) in widths.enumerated() { dst = withoutGrad { dst.slice(axis: lead + i, start: w.0, end: w.0 + shape[lead + i]) } }
            backend.copy(operand, into: dst.operand, shape: shape)
            return record(out, "pad", [self]) { g, _ in
                var s = g
                for (i, w) in widths.enumerated() { s = s.slice(axis: lead + i, start: w.0, end: w.0 + self.shape[lead + i]) }
                return [s.contiguous()]
            }
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
