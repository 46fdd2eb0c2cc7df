/// One entry of a multi-dimensional subscript: `t[0, .all, .range(1, 5, step: 2), .newAxis]`.
public enum TensorIndex: Sendable, ExpressibleByIntegerLiteral {
    /// Picks one position and drops the dimension (negative counts from the end).
    case at(Int)
    /// Positions start..<end by step (end nil = to the end; negatives count from the end).
    case range(Int, Int?, step: Int = 1)
    /// The whole dimension.
    case all
    /// Inserts a dimension of size 1.
    case newAxis

    public init(integerLiteral value: Int) { self = .at(value) }
}

extension Tensor {
    /// A tensor with the same elements in a new shape; one dimension may be -1 (inferred).
    /// A view when the layout allows, else a copy.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        var s = newShape
        let known = s.filter { $0 != -1 }.reduce(1, *)
        if let i = s.firstIndex(of: -1) {
            precondition(s.filter({ $0 == -1 }).count == 1 && known > 0 && count % known == 0,
                         "reshape: cannot reshape \(shape) (\(count) elements) to \(newShape)")
            s[i] = count / known
        }
        precondition(s.reduce(1, *) == count, "reshape: cannot reshape \(shape) (\(count) elements) to \(newShape)")
        if s == shape { return self }
        let src = isContiguous ? self : contiguous()
        let out = src.view(shape: s, strides: contiguousStrides(s), offset: src.offset)
        let from = shape
        return record(out, "reshape", [src]) { g, _ in [g.reshaped(from)] }
    }

    /// Flattens dimensions start...end into one.
    public func flattened(from start: Int = 0, to end: Int = -1) -> Tensor {
        if rank == 0 { return reshaped([1]) }
        let s = normalizeAxis(start, rank: rank, "flatten"), e = normalizeAxis(end, rank: rank, "flatten")
        precondition(s <= e, "flatten: start axis \(start) is after end axis \(end)")
        let merged = shape[s...e].reduce(1, *)
        return reshaped(Array(shape[..<s]) + [merged] + Array(shape[(e + 1)...]))
    }

    /// Reorders dimensions: result dimension i is input dimension dims[i]. A view.
    public func permuted(_ dims: [Int]) -> Tensor {
        let d = dims.map { normalizeAxis($0, rank: rank, "permute") }
        precondition(d.count == rank && Set(d).count == rank, "permute: \(dims) is not a permutation of \(rank) dimensions (shape \(shape))")
        let out = view(shape: d.map { shape[$0] }, strides: d.map { strides[$0] }, offset: offset)
        var inverse = [Int](repeating: 0, count: rank)
        for (i, j) in d.enumerated() { inverse[j] = i }
        return record(out, "permute", [self]) { g, _ in [g.permuted(inverse)] }
    }

    /// Swaps two dimensions. A view.
    public func transposed(_ a: Int = -2, _ b: Int = -1) -> Tensor {
        precondition(rank >= 2 || (rank == 1 && a == -2 && b == -1), "transpose: tensor of shape \(shape) has fewer than 2 dimensions")
        if rank < 2 { return self }
        var p = Array(0..<rank)
        p.swapAt(normalizeAxis(a, rank: rank, "transpose"), normalizeAxis(b, rank: rank, "transpose"))
        return permuted(p)
    }

    /// The transpose of a matrix (last two dimensions swapped).
    public var T: Tensor { transposed() }

    /// Elements start..<end by step along an axis. A view.
    public func slice(axis: Int, start: Int = 0, end: Int? = nil, step: Int = 1) -> Tensor {
        let ax = normalizeAxis(axis, rank: rank, "slice")
        precondition(step > 0, "slice: step must be positive, got \(step)")
        let n = shape[ax]
        func clampIndex(_ i: Int) -> Int { Swift.min(Swift.max(i < 0 ? i + n : i, 0), n) }
        let s = clampIndex(start), e = Swift.max(s, clampIndex(end ?? n))
        var newShape = shape, newStrides = strides
        newShape[ax] = (e - s + step - 1) / step
        newStrides[ax] = strides[ax] * step
        let out = view(shape: newShape, strides: newStrides, offset: offset + s * strides[ax])
        let from = shape
        return record(out, "slice", [self]) { g, _ in
            let z = Tensor.zeros(from, dtype: g.dtype, on: g.backend)
            let dst = z.slice(axis: ax, start: s, end: e, step: step)
            g.backend.copy(g.operand, into: dst.operand, shape: dst.shape)
            return [z]
        }
    }

    /// The sub-tensor at `index` along an axis, with that axis removed. A view.
    public func select(axis: Int = 0, _ index: Int) -> Tensor {
        let ax = normalizeAxis(axis, rank: rank, "select")
        let i = index < 0 ? index + shape[ax] : index
        precondition(i >= 0 && i < shape[ax], "select: index \(index) is out of range for axis \(ax) of size \(shape[ax])")
        return slice(axis: ax, start: i, end: i + 1).squeezed(axis: ax)
    }

    /// `t[i]`: the sub-tensor at position i of axis 0.
    public subscript(_ i: Int) -> Tensor { select(axis: 0, i) }
    /// `t[a..<b]`: rows a..<b of axis 0.
    public subscript(_ r: Range<Int>) -> Tensor { slice(axis: 0, start: r.lowerBound, end: r.upperBound) }

    /// NumPy-style indexing over several axes.
    public subscript(_ indices: TensorIndex...) -> Tensor {
        var t = self, axis = 0
        for ix in indices {
            switch ix {
            case .at(let i): t = t.select(axis: axis, i)
            case .range(let s, let e, let st): t = t.slice(axis: axis, start: s, end: e, step: st); axis += 1
            case .all: axis += 1
            case .newAxis: t = t.unsqueezed(axis: axis); axis += 1
            }
        }
        return t
    }

    /// Broadcasts to a larger shape without copying (stride 0 on new or size-1 dimensions); -1 keeps a dimension.
    public func expanded(to target: [Int]) -> Tensor {
        let lead = target.count - rank
        precondition(lead >= 0, "expand: cannot expand shape \(shape) to \(target)")
        var t = target
        for i in 0..<rank where t[lead + i] == -1 { t[lead + i] = shape[i] }
        if t == shape { return self }
        guard broadcastShape(shape, t) == t else { preconditionFailure("expand: cannot expand shape \(shape) to \(target)") }
        let out = view(shape: t, strides: broadcastStrides(shape: shape, strides: strides, to: t), offset: offset)
        let from = shape
        return record(out, "expand", [self]) { g, _ in [g.sumTo(from)] }
    }

    /// Removes size-1 dimensions (all, or just `axis`).
    public func squeezed(axis: Int? = nil) -> Tensor {
        var keep: [Int]
        if let a = axis {
            let ax = normalizeAxis(a, rank: rank, "squeeze")
            keep = Array(0..<rank)
            if shape[ax] == 1 { keep.remove(at: ax) }
        } else {
            keep = (0..<rank).filter { shape[$0] != 1 }
        }
        if keep.count == rank { return self }
        let out = view(shape: keep.map { shape[$0] }, strides: keep.map { strides[$0] }, offset: offset)
        let from = shape
        return record(out, "squeeze", [self]) { g, _ in [g.reshaped(from)] }
    }

    /// Inserts a size-1 dimension at `axis` (negative counts from the end of the result).
    public func unsqueezed(axis: Int) -> Tensor {
        let ax = normalizeAxis(axis, rank: rank + 1, "unsqueeze")
        var s = shape, st = strides
        s.insert(1, at: ax)
        st.insert(ax < rank ? strides[ax] * shape[ax] : 1, at: ax)
        let out = view(shape: s, strides: st, offset: offset)
        let from = shape
        return record(out, "unsqueeze", [self]) { g, _ in [g.reshaped(from)] }
    }

    /// Reverses the order of elements along the given axes. A view (negative strides).
    public func flipped(axes: [Int]) -> Tensor {
        var st = strides, off = offset
        let axs = Set(axes.map { normalizeAxis($0, rank: rank, "flip") })
        for a in axs where shape[a] > 0 {
            off += (shape[a] - 1) * strides[a]
            st[a] = -strides[a]
        }
        let out = view(shape: shape, strides: st, offset: off)
        return record(out, "flip", [self]) { g, _ in [g.flipped(axes: Array(axs))] }
    }

    /// A contiguous tensor with the same values (self when already contiguous).
    public func contiguous() -> Tensor {
        if isContiguous { return self }
        let out = contiguousData()
        return record(out, "contiguous", [self]) { g, _ in [g] }
    }

    /// Sums a broadcast gradient back down to `target` (the shape before broadcasting).
    public func sumTo(_ target: [Int]) -> Tensor {
        if shape == target { return self }
        let lead = rank - target.count
        precondition(lead >= 0, "sumTo: cannot reduce shape \(shape) to \(target)")
        var axes = Array(0..<lead)
        for i in 0..<target.count where target[i] == 1 && shape[lead + i] != 1 { axes.append(lead + i) }
        var r = axes.isEmpty ? self : sum(axes: axes, keepDims: true)
        if lead > 0 { r = r.reshaped(target) }
        precondition(r.shape == target, "sumTo: cannot reduce shape \(shape) to \(target)")
        return r
    }
}
