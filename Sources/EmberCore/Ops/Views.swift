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

// MARK: primitives (views share memory with their input; their VJPs are views and sums)

extension OpRegistry {
    static let viewOps: [any PrimitiveOp.Type] = [
        Reshape.self, Permute.self, Slice.self, SliceBackward.self, Expand.self, Squeeze.self, Unsqueeze.self,
        Flip.self, Contiguous.self,
    ]
}

/// The same elements in a new shape (`shape` resolved, no -1). A view of a contiguous input.
struct Reshape: PrimitiveOp {
    static let name = "reshape"
    static var savesInputs: Bool { false }
    let shape: [Int]
    var attributes: [String: OpAttribute] { ["shape": .ints(shape)] }
    func forward(_ x: [Tensor]) -> Tensor {
        let src = x[0].contiguousData()
        return src.view(shape: shape, strides: contiguousStrides(shape), offset: src.offset)
    }
    func vjp(_ g: Tensor, _ c: VJPContext) -> [Tensor?] { [g.reshaped(c.inputs[0].shape)] }
}

/// Result dimension i is input dimension dims[i]. A view.
struct Permute: PrimitiveOp {
    static let name = "permute"
    static var savesInputs: Bool { false }
    let dims: [Int]
    var attributes: [String: OpAttribute] { ["dims": .ints(dims)] }
    func forward(_ x: [Tensor]) -> Tensor {
        let t = x[0]
        return t.view(shape: dims.map { t.shape[$0] }, strides: dims.map { t.strides[$0] }, offset: t.offset)
    }
    func vjp(_ g: Tensor, _ c: VJPContext) -> [Tensor?] {
        var inverse = [Int](repeating: 0, count: dims.count)
        for (i, j) in dims.enumerated() { inverse[j] = i }
        return [g.permuted(inverse)]
    }
}

/// Elements start..<end by step along `axis` (bounds resolved). A view.
struct Slice: PrimitiveOp {
    static let name = "slice"
    static var savesInputs: Bool { false }
    let axis: Int, start: Int, end: Int, step: Int
    var attributes: [String: OpAttribute] { ["axis": .int(axis), "start": .int(start), "end": .int(end), "step": .int(step)] }
    func forward(_ x: [Tensor]) -> Tensor { x[0].sliceView(axis, start, end, step) }
    func vjp(_ g: Tensor, _ c: VJPContext) -> [Tensor?] {
        [Tensor.apply(SliceBackward(inputShape: c.inputs[0].shape, axis: axis, start: start, end: end, step: step), [g])]
    }
}

/// Slice's backward: zeros of `inputShape` with the gradient written into the slice. Its VJP is the slice.
struct SliceBackward: PrimitiveOp {
    static let name = "slice_backward"
    static var savesInputs: Bool { false }
    let inputShape: [Int], axis: Int, start: Int, end: Int, step: Int
    var attributes: [String: OpAttribute] {
        ["inputShape": .ints(inputShape), "axis": .int(axis), "start": .int(start), "end": .int(end), "step": .int(step)]
    }
    func forward(_ x: [Tensor]) -> Tensor {
        let g = x[0]
        let outer = inputShape[..<axis].reduce(1, *), size = inputShape[axis]
        let inner = inputShape[(axis + 1)...].reduce(1, *)
        let z: Tensor
        if step == 1 && outer <= 64 {
            // Zero only what the slice does not cover (the slice is copied over next): for a gradient of most of a
            // tensor (a recurrence's outputs without its final states) that skips a pass over the whole of it.
            z = Tensor.empty(inputShape, dtype: g.dtype, backend: g.backend)
            for o in 0..<outer {
                let base = o * size * inner
                if start > 0 { g.backend.fill(offsetOperand(z.operand, base), count: start * inner, value: 0) }
                if end < size {
                    g.backend.fill(offsetOperand(z.operand, base + end * inner), count: (size - end) * inner, value: 0)
                }
            }
        } else {
            z = Tensor.zeros(inputShape, dtype: g.dtype, on: g.backend)
        }
        let dst = z.sliceView(axis, start, end, step)
        g.backend.copy(g.operand, into: dst.operand, shape: dst.shape)
        return z
    }
    func vjp(_ h: Tensor, _ c: VJPContext) -> [Tensor?] { [h.slice(axis: axis, start: start, end: end, step: step)] }
}

/// Broadcast to `shape` without copying (stride 0). A view.
struct Expand: PrimitiveOp {
    static let name = "expand"
    static var savesInputs: Bool { false }
    let shape: [Int]
    var attributes: [String: OpAttribute] { ["shape": .ints(shape)] }
    func forward(_ x: [Tensor]) -> Tensor {
        let t = x[0]
        return t.view(shape: shape, strides: broadcastStrides(shape: t.shape, strides: t.strides, to: shape), offset: t.offset)
    }
    func vjp(_ g: Tensor, _ c: VJPContext) -> [Tensor?] { [g.sumTo(c.inputs[0].shape)] }
}

/// Removes the size-1 dimensions `axes`. A view.
struct Squeeze: PrimitiveOp {
    static let name = "squeeze"
    static var savesInputs: Bool { false }
    let axes: [Int]
    var attributes: [String: OpAttribute] { ["axes": .ints(axes)] }
    func forward(_ x: [Tensor]) -> Tensor {
        let t = x[0], keep = (0..<t.rank).filter { !axes.contains($0) }
        return t.view(shape: keep.map { t.shape[$0] }, strides: keep.map { t.strides[$0] }, offset: t.offset)
    }
    func vjp(_ g: Tensor, _ c: VJPContext) -> [Tensor?] { [g.reshaped(c.inputs[0].shape)] }
}

/// Inserts a size-1 dimension at `axis` of the result. A view.
struct Unsqueeze: PrimitiveOp {
    static let name = "unsqueeze"
    static var savesInputs: Bool { false }
    let axis: Int
    var attributes: [String: OpAttribute] { ["axis": .int(axis)] }
    func forward(_ x: [Tensor]) -> Tensor {
        let t = x[0]
        var s = t.shape, st = t.strides
        s.insert(1, at: axis)
        st.insert(axis < t.rank ? t.strides[axis] * t.shape[axis] : 1, at: axis)
        return t.view(shape: s, strides: st, offset: t.offset)
    }
    func vjp(_ g: Tensor, _ c: VJPContext) -> [Tensor?] { [g.reshaped(c.inputs[0].shape)] }
}

/// Reverses the order of elements along `axes`. A view (negative strides).
struct Flip: PrimitiveOp {
    static let name = "flip"
    static var savesInputs: Bool { false }
    let axes: [Int]
    var attributes: [String: OpAttribute] { ["axes": .ints(axes)] }
    func forward(_ x: [Tensor]) -> Tensor {
        let t = x[0]
        var st = t.strides, off = t.offset
        for a in axes where t.shape[a] > 0 {
            off += (t.shape[a] - 1) * t.strides[a]
            st[a] = -t.strides[a]
        }
        return t.view(shape: t.shape, strides: st, offset: off)
    }
    func vjp(_ g: Tensor, _ c: VJPContext) -> [Tensor?] { [g.flipped(axes: axes)] }
}

/// A contiguous copy of a strided input.
struct Contiguous: PrimitiveOp {
    static let name = "contiguous"
    static var savesInputs: Bool { false }
    func forward(_ x: [Tensor]) -> Tensor { x[0].copied() }
    func vjp(_ g: Tensor, _ c: VJPContext) -> [Tensor?] { [g] }
}

// MARK: API

extension Tensor {
    /// The strided view of elements start..<end by step along `axis`, outside autodiff.
    func sliceView(_ axis: Int, _ start: Int, _ end: Int, _ step: Int) -> Tensor {
        var newShape = shape, newStrides = strides
        newShape[axis] = (end - start + step - 1) / step
        newStrides[axis] = strides[axis] * step
        return view(shape: newShape, strides: newStrides, offset: offset + start * strides[axis])
    }

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
        return Tensor.apply(Reshape(shape: s), [isContiguous ? self : contiguous()])
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
        let out = Tensor.apply(Permute(dims: d), [self])
        // An embedding's output with its index axes reordered is the lookup of the reordered indices.
        if let lookup, Tracer.current == nil { out.lookup = lookup.permuted(d, of: self) }
        return out
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
        return Tensor.apply(Slice(axis: ax, start: s, end: e, step: step), [self])
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
        return Tensor.apply(Expand(shape: t), [self])
    }

    /// Removes size-1 dimensions (all, or just `axis`).
    public func squeezed(axis: Int? = nil) -> Tensor {
        let drop: [Int]
        if let a = axis {
            let ax = normalizeAxis(a, rank: rank, "squeeze")
            drop = shape[ax] == 1 ? [ax] : []
        } else {
            drop = (0..<rank).filter { shape[$0] == 1 }
        }
        if drop.isEmpty { return self }
        return Tensor.apply(Squeeze(axes: drop), [self])
    }

    /// Inserts a size-1 dimension at `axis` (negative counts from the end of the result).
    public func unsqueezed(axis: Int) -> Tensor {
        Tensor.apply(Unsqueeze(axis: normalizeAxis(axis, rank: rank + 1, "unsqueeze")), [self])
    }

    /// Reverses the order of elements along the given axes. A view (negative strides).
    public func flipped(axes: [Int]) -> Tensor {
        let axs = Array(Set(axes.map { normalizeAxis($0, rank: rank, "flip") })).sorted()
        return Tensor.apply(Flip(axes: axs), [self])
    }

    /// A contiguous tensor with the same values (self when already contiguous).
    public func contiguous() -> Tensor {
        if isContiguous { return self }
        return Tensor.apply(Contiguous(), [self])
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
