extension Tensor {
    /// Normalized, sorted, unique axes (all axes when nil).
    func reductionAxes(_ axes: [Int]?, _ op: String) -> [Int] {
        guard let axes else { return Array(0..<rank) }
        return Array(Set(axes.map { normalizeAxis($0, rank: rank, op) })).sorted()
    }

    /// The shape after reducing `axes` (with or without kept size-1 dimensions).
    func reducedShape(_ axes: [Int], keepDims: Bool) -> [Int] {
        var s: [Int] = []
        for d in 0..<rank {
            if axes.contains(d) { if keepDims { s.append(1) } } else { s.append(shape[d]) }
        }
        return s
    }

    /// Lays the data out as contiguous [outer, n, inner] with the reduced axes as n (copying only when needed).
    func reductionLayout(_ axes: [Int]) -> (Tensor, Int, Int, Int) {
        let n = axes.reduce(1) { $0 * shape[$1] }
        let contiguousRun = axes.isEmpty || axes.last! - axes.first! + 1 == axes.count
        if contiguousRun {
            let x = contiguousData()
            let first = axes.first ?? rank
            let outer = shape[..<first].reduce(1, *)
            let inner = shape[(first + axes.count)...].reduce(1, *)
            return (x, outer, n, inner)
        }
        let rest = (0..<rank).filter { !axes.contains($0) }
        let p = withoutGrad { permuted(rest + axes) }.contiguousData()
        return (p, count / Swift.max(n, 1), n, 1)
    }

    func reduceRaw(_ op: ReduceOp, _ axes: [Int], keepDims: Bool) -> Tensor {
        let (x, outer, n, inner) = reductionLayout(axes)
        let out = Tensor.empty(reducedShape(axes, keepDims: keepDims), dtype: dtype, backend: backend)
        if n == 0 {
            let v: Double = op == .sum ? 0 : (op == .prod ? 1 : (op == .max ? -.infinity : .infinity))
            precondition(op == .sum || op == .prod, "\(op): cannot reduce an empty dimension (shape \(shape))")
            backend.fill(out.operand, count: out.count, value: v)
            return out
        }
        backend.reduce(op, x.operand, out.operand, outer: outer, n: n, inner: inner)
        return out
    }

    /// The upstream gradient of a reduction, reshaped with kept dimensions and broadcast back to this shape.
    func expandReduced(_ g: Tensor, _ axes: [Int]) -> Tensor {
        g.reshaped(reducedShape(axes, keepDims: true)).expanded(to: shape)
    }

    /// Sum over `axes` (all when nil).
    public func sum(axes: [Int]? = nil, keepDims: Bool = false) -> Tensor {
        let ax = reductionAxes(axes, "sum")
        let src = dtype == .bool ? cast(.int64) : self
        let out = src.reduceRaw(.sum, ax, keepDims: keepDims)
        return record(out, "sum", [src]) { g, _ in [src.expandReduced(g, ax).contiguous()] }
    }
    /// Sum over one axis.
    public func sum(axis: Int, keepDims: Bool = false) -> Tensor { sum(axes: [axis], keepDims: keepDims) }

    /// Mean over `axes` (all when nil).
    public func mean(axes: [Int]? = nil, keepDims: Bool = false) -> Tensor {
        let ax = reductionAxes(axes, "mean")
        let n = ax.reduce(1) { $0 * shape[$1] }
        let x = dtype.isFloatingPoint ? self : cast(.float32)
        return x.sum(axes: ax, keepDims: keepDims) / Double(n)
    }
    /// Mean over one axis.
    public func mean(axis: Int, keepDims: Bool = false) -> Tensor { mean(axes: [axis], keepDims: keepDims) }

    /// Maximum over `axes` (gradient split evenly among tied maxima, like `torch.amax`).
    public func max(axes: [Int]? = nil, keepDims: Bool = false) -> Tensor { extremum(axes, keepDims, .max) }
    /// Maximum over one axis.
    public func max(axis: Int, keepDims: Bool = false) -> Tensor { extremum([axis], keepDims, .max) }
    /// Minimum over `axes`.
    public func min(axes: [Int]? = nil, keepDims: Bool = false) -> Tensor { extremum(axes, keepDims, .min) }
    /// Minimum over one axis.
    public func min(axis: Int, keepDims: Bool = false) -> Tensor { extremum([axis], keepDims, .min) }

    func extremum(_ axes: [Int]?, _ keepDims: Bool, _ op: ReduceOp) -> Tensor {
        let ax = reductionAxes(axes, op == .max ? "max" : "min")
        let out = reduceRaw(op, ax, keepDims: keepDims)
        let y = out.savedForBackward
        return record(out, op == .max ? "max" : "min", [self]) { g, _ in
            let hit = (self .== self.expandReduced(y, ax)).cast(g.dtype)
            let share = hit / self.expandReduced(hit.sum(axes: ax, keepDims: true), ax)
            return [(share * self.expandReduced(g, ax))]
        }
    }

    /// Product over `axes`. The gradient is the product of the other elements, as PyTorch's (also where inputs are 0).
    public func prod(axes: [Int]? = nil, keepDims: Bool = false) -> Tensor {
        let ax = reductionAxes(axes, "prod")
        let out = reduceRaw(.prod, ax, keepDims: keepDims)
        let y = out.savedForBackward
        return record(out, "prod", [self]) { g, _ in
            let isZero = self .== 0
            if isZero.cast(.int64).sum().item() == 0 { return [self.expandReduced(g * y, ax) / self] }
            // out / x is 0/0 at a zero. There the product of the others is the product of the slice's non-zero
            // elements when it is the slice's only zero, else 0; elsewhere in a slice with a zero, out / x = 0 is right.
            let safe = Tensor.where(isZero, self.onesLike(), self)
            let zeros = isZero.cast(self.dtype).sum(axes: ax, keepDims: true)
            let others = Tensor.where(zeros .== 1, safe.reduceRaw(.prod, ax, keepDims: true), zeros.zerosLike())
            let d = Tensor.where(isZero, others.expanded(to: self.shape), self.expandReduced(y, ax) / safe)
            return [d * self.expandReduced(g, ax)]
        }
    }

    /// Product over one axis.
    public func prod(axis: Int, keepDims: Bool = false) -> Tensor { prod(axes: [axis], keepDims: keepDims) }

    /// Index of the maximum along `axis` (first on ties), int64; flattened when axis is nil.
    public func argmax(axis: Int? = nil, keepDims: Bool = false) -> Tensor { argReduce(axis, keepDims, max: true) }
    /// Index of the minimum along `axis` (first on ties), int64.
    public func argmin(axis: Int? = nil, keepDims: Bool = false) -> Tensor { argReduce(axis, keepDims, max: false) }

    func argReduce(_ axis: Int?, _ keepDims: Bool, max: Bool) -> Tensor {
        guard let axis else { return withoutGrad { reshaped([-1]) }.argReduce(0, false, max: max) }
        let ax = normalizeAxis(axis, rank: rank, max ? "argmax" : "argmin")
        precondition(shape[ax] > 0, "\(max ? "argmax" : "argmin"): axis \(ax) of shape \(shape) is empty")
        let (x, outer, n, inner) = reductionLayout([ax])
        let out = Tensor.empty(reducedShape([ax], keepDims: keepDims), dtype: .int64, backend: backend)
        backend.argReduce(max: max, x.operand, out.operand, outer: outer, n: n, inner: inner)
        return out
    }

    /// Variance over `axes` with Bessel's `correction` (1 = unbiased, as PyTorch's default).
    public func variance(axes: [Int]? = nil, correction: Int = 1, keepDims: Bool = false) -> Tensor {
        let ax = reductionAxes(axes, "var")
        let n = ax.reduce(1) { $0 * shape[$1] }
        let d = self - mean(axes: ax, keepDims: true)
        return (d * d).sum(axes: ax, keepDims: keepDims) / Double(Swift.max(n - correction, 0))
    }

    /// Standard deviation over `axes`.
    public func std(axes: [Int]? = nil, correction: Int = 1, keepDims: Bool = false) -> Tensor {
        variance(axes: axes, correction: correction, keepDims: keepDims).sqrt()
    }

    /// log(sum(exp(x))) over `axes`, computed stably.
    public func logsumexp(axes: [Int]? = nil, keepDims: Bool = false) -> Tensor {
        let ax = reductionAxes(axes, "logsumexp")
        let m = withoutGrad { () -> Tensor in
            let mx = reduceRaw(.max, ax, keepDims: true)
            return Tensor.where(mx.abs() .== Double.infinity, mx.zerosLike(), mx)
        }
        let r = (self - m).exp().sum(axes: ax, keepDims: true).log() + m
        return keepDims ? r : r.reshaped(reducedShape(ax, keepDims: false))
    }

    /// Softmax along `axis`.
    public func softmax(axis: Int = -1) -> Tensor { softmaxCommon(axis, log: false) }
    /// Log-softmax along `axis`.
    public func logSoftmax(axis: Int = -1) -> Tensor { softmaxCommon(axis, log: true) }

    func softmaxCommon(_ axis: Int, log: Bool) -> Tensor {
        precondition(dtype.isFloatingPoint, "softmax: needs a float tensor, got \(dtype)")
        let ax = normalizeAxis(axis, rank: rank, log ? "logSoftmax" : "softmax")
        if rank == 0 { return log ? zerosLike() : onesLike() }
        let (x, outer, n, inner) = reductionLayout([ax])
        let out = Tensor.empty(shape, dtype: dtype, backend: backend)
        if count > 0 { backend.softmax(log: log, x.operand, out.operand, outer: outer, n: n, inner: inner) }
        let y = out.savedForBackward
        return record(out, log ? "logSoftmax" : "softmax", [self]) { g, _ in
            let gc = g.contiguousData()
            let dx = Tensor.empty(y.shape, dtype: y.dtype, backend: y.backend)
            if y.count > 0 {
                y.backend.softmaxBackward(log: log, y: y.operand, g: gc.operand, dx.operand, outer: outer, n: n, inner: inner)
            }
            return [dx]
        }
    }

    /// Inclusive cumulative sum along `axis`.
    public func cumsum(axis: Int) -> Tensor {
        let ax = normalizeAxis(axis, rank: rank, "cumsum")
        if rank == 0 { return self }
        let (x, outer, n, inner) = reductionLayout([ax])
        let out = Tensor.empty(shape, dtype: dtype, backend: backend)
        backend.cumsum(x.operand, out.operand, outer: outer, n: n, inner: inner)
        return record(out, "cumsum", [self]) { g, _ in
            [g.flipped(axes: [ax]).cumsum(axis: ax).flipped(axes: [ax]).contiguous()]
        }
    }
}
