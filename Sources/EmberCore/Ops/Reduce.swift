// Reductions, softmax and cumulative sums.

extension OpRegistry {
    static let reduceOps: [any PrimitiveOp.Type] = [
        Sum.self, Max.self, Min.self, Prod.self, ArgMax.self, ArgMin.self, Softmax.self, LogSoftmax.self,
        SoftmaxBackward.self, Cumsum.self,
    ]
}

/// Sum over `axes` (normalized, sorted).
struct Sum: PrimitiveOp {
    static let name = "sum"
    static var savesInputs: Bool { false }
    let axes: [Int], keepDims: Bool
    var attributes: [String: OpAttribute] { ["axes": .ints(axes), "keepDims": .bool(keepDims)] }
    func forward(_ x: [Tensor]) -> Tensor { x[0].reduceRaw(.sum, axes, keepDims: keepDims) }
    func vjp(_ g: Tensor, _ c: VJPContext) -> [Tensor?] { [c.inputs[0].expandReduced(g, axes).contiguous()] }
}

/// Maximum or minimum over `axes`; the gradient is split evenly among tied extrema (as `torch.amax`).
protocol ExtremumPrimitive: PrimitiveOp {
    static var kernel: ReduceOp { get }
    var axes: [Int] { get }
    var keepDims: Bool { get }
}
extension ExtremumPrimitive {
    static var savesOutput: Bool { true }
    var attributes: [String: OpAttribute] { ["axes": .ints(axes), "keepDims": .bool(keepDims)] }
    func forward(_ x: [Tensor]) -> Tensor { x[0].reduceRaw(Self.kernel, axes, keepDims: keepDims) }
    func vjp(_ g: Tensor, _ c: VJPContext) -> [Tensor?] {
        let x = c.inputs[0]
        let hit = (x .== x.expandReduced(c.output, axes)).cast(g.dtype)
        let share = hit / x.expandReduced(hit.sum(axes: axes, keepDims: true), axes)
        return [share * x.expandReduced(g, axes)]
    }
}
struct Max: ExtremumPrimitive {
    static let name = "max", kernel = ReduceOp.max
    let axes: [Int], keepDims: Bool
}
struct Min: ExtremumPrimitive {
    static let name = "min", kernel = ReduceOp.min
    let axes: [Int], keepDims: Bool
}

/// Product over `axes`. The gradient is the product of the other elements, as PyTorch's (also where inputs are 0).
struct Prod: PrimitiveOp {
    static let name = "prod"
    static var savesOutput: Bool { true }
    let axes: [Int], keepDims: Bool
    var attributes: [String: OpAttribute] { ["axes": .ints(axes), "keepDims": .bool(keepDims)] }
    func forward(_ x: [Tensor]) -> Tensor { x[0].reduceRaw(.prod, axes, keepDims: keepDims) }
    func vjp(_ g: Tensor, _ c: VJPContext) -> [Tensor?] {
        let x = c.inputs[0], y = c.output, ax = axes
        let isZero = x .== 0
        if withoutGrad({ isZero.cast(.int64).sum().item() }) == 0 { return [x.expandReduced(g * y, ax) / x] }
        // out / x is 0/0 at a zero. There the product of the others is the product of the slice's non-zero
        // elements when it is the slice's only zero, else 0; elsewhere in a slice with a zero, out / x = 0 is right.
        let safe = Tensor.where(isZero, x.onesLike(), x)
        let zeros = isZero.cast(x.dtype).sum(axes: ax, keepDims: true)
        let others = Tensor.where(zeros .== 1, safe.prod(axes: ax, keepDims: true), zeros.zerosLike())
        let d = Tensor.where(isZero, others.expanded(to: x.shape), x.expandReduced(y, ax) / safe)
        return [d * x.expandReduced(g, ax)]
    }
}

/// Index (int64) of the maximum or minimum along `axis`, first on ties. No gradient.
protocol ArgReducePrimitive: PrimitiveOp {
    static var isMax: Bool { get }
    var axis: Int { get }
    var keepDims: Bool { get }
}
extension ArgReducePrimitive {
    static var isDifferentiable: Bool { false }
    var attributes: [String: OpAttribute] { ["axis": .int(axis), "keepDims": .bool(keepDims)] }
    func forward(_ inputs: [Tensor]) -> Tensor {
        let t = inputs[0]
        let (x, outer, n, inner) = t.reductionLayout([axis])
        let out = Tensor.empty(t.reducedShape([axis], keepDims: keepDims), dtype: .int64, backend: t.backend)
        t.backend.argReduce(max: Self.isMax, x.operand, out.operand, outer: outer, n: n, inner: inner)
        return out
    }
}
struct ArgMax: ArgReducePrimitive {
    static let name = "argmax", isMax = true
    let axis: Int, keepDims: Bool
}
struct ArgMin: ArgReducePrimitive {
    static let name = "argmin", isMax = false
    let axis: Int, keepDims: Bool
}

/// Softmax or log-softmax along `axis`, one fused kernel each way.
protocol SoftmaxPrimitive: PrimitiveOp {
    static var log: Bool { get }
    var axis: Int { get }
}
extension SoftmaxPrimitive {
    static var savesInputs: Bool { false }
    static var savesOutput: Bool { true }
    var attributes: [String: OpAttribute] { ["axis": .int(axis)] }
    func forward(_ inputs: [Tensor]) -> Tensor {
        let t = inputs[0]
        let (x, outer, n, inner) = t.reductionLayout([axis])
        let out = Tensor.empty(t.shape, dtype: t.dtype, backend: t.backend)
        if t.count > 0 { t.backend.softmax(log: Self.log, x.operand, out.operand, outer: outer, n: n, inner: inner) }
        return out
    }
    func vjp(_ g: Tensor, _ c: VJPContext) -> [Tensor?] {
        [Tensor.apply(SoftmaxBackward(axis: axis, log: Self.log), [c.output, g])]
    }
}
struct Softmax: SoftmaxPrimitive {
    static let name = "softmax", log = false
    let axis: Int
}
struct LogSoftmax: SoftmaxPrimitive {
    static let name = "log_softmax", log = true
    let axis: Int
}

/// The backward of softmax (`log` false: y (g - Σ g y)) or log-softmax (g - e^y Σ g) from inputs [y, g], one fused
/// kernel; its own VJP (for gradients of gradients) is written in ops.
struct SoftmaxBackward: PrimitiveOp {
    static let name = "softmax_backward"
    let axis: Int, log: Bool
    var attributes: [String: OpAttribute] { ["axis": .int(axis), "log": .bool(log)] }
    func forward(_ inputs: [Tensor]) -> Tensor {
        let (y, outer, n, inner) = inputs[0].reductionLayout([axis])
        let (g, _, _, _) = inputs[1].reductionLayout([axis])
        let dx = Tensor.empty(y.shape, dtype: y.dtype, backend: y.backend)
        if y.count > 0 {
            y.backend.softmaxBackward(log: log, y: y.operand, g: g.operand, dx.operand, outer: outer, n: n, inner: inner)
        }
        return dx
    }
    func vjp(_ h: Tensor, _ c: VJPContext) -> [Tensor?] {
        let y = c.inputs[0], g = c.inputs[1]
        func total(_ t: Tensor) -> Tensor { t.sum(axes: [axis], keepDims: true) }
        if log {
            let e = y.exp()
            return [c.needs(0) ? -(h * e * total(g)) : nil, c.needs(1) ? h - total(h * e) : nil]
        }
        return [c.needs(0) ? h * (g - total(g * y)) - g * total(h * y) : nil,
                c.needs(1) ? Tensor.apply(SoftmaxBackward(axis: axis, log: false), [y, h]) : nil]
    }
}

/// Inclusive cumulative sum along `axis`.
struct Cumsum: PrimitiveOp {
    static let name = "cumsum"
    static var savesInputs: Bool { false }
    let axis: Int
    var attributes: [String: OpAttribute] { ["axis": .int(axis)] }
    func forward(_ inputs: [Tensor]) -> Tensor {
        let t = inputs[0]
        let (x, outer, n, inner) = t.reductionLayout([axis])
        let out = Tensor.empty(t.shape, dtype: t.dtype, backend: t.backend)
        t.backend.cumsum(x.operand, out.operand, outer: outer, n: n, inner: inner)
        return out
    }
    func vjp(_ g: Tensor, _ c: VJPContext) -> [Tensor?] {
        [g.flipped(axes: [axis]).cumsum(axis: axis).flipped(axes: [axis]).contiguous()]
    }
}

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
        let order = rest + axes
        let p = view(shape: order.map { shape[$0] }, strides: order.map { strides[$0] }, offset: offset).contiguousData()
        return (p, count / Swift.max(n, 1), n, 1)
    }

    /// A reduction through the backend, outside autodiff.
    func reduceRaw(_ op: ReduceOp, _ axes: [Int], keepDims: Bool) -> Tensor {
        // Axes in several runs (a convolution's bias gradient sums [N, C, H, W] over 0, 2 and 3): reduce one run at a
        // time from the last, each in place in the layout, instead of copying the whole tensor into a permuted one.
        if axes.count > 1, axes.last! - axes.first! + 1 != axes.count, count > 0 {
            var runs: [[Int]] = []
            for a in axes {
                if let last = runs.last?.last, a == last + 1 { runs[runs.count - 1].append(a) } else { runs.append([a]) }
            }
            var t = self
            for run in runs.reversed() { t = t.reduceRaw(op, run, keepDims: true) }
            return keepDims ? t : t.reshaped(reducedShape(axes, keepDims: false))
        }
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

    /// Sum over `axes` (all when nil). Integer and bool tensors sum to int64, as in PyTorch.
    public func sum(axes: [Int]? = nil, keepDims: Bool = false) -> Tensor {
        let ax = reductionAxes(axes, "sum")
        // Integer and bool sums accumulate in int64, as PyTorch's (a uint8 image's pixel sum does not wrap).
        let src = dtype.isFloatingPoint ? self : cast(.int64)
        return Tensor.apply(Sum(axes: ax, keepDims: keepDims), [src])
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
    public func max(axes: [Int]? = nil, keepDims: Bool = false) -> Tensor {
        Tensor.apply(Max(axes: reductionAxes(axes, "max"), keepDims: keepDims), [self])
    }
    /// Maximum over one axis.
    public func max(axis: Int, keepDims: Bool = false) -> Tensor { max(axes: [axis], keepDims: keepDims) }
    /// Minimum over `axes`.
    public func min(axes: [Int]? = nil, keepDims: Bool = false) -> Tensor {
        Tensor.apply(Min(axes: reductionAxes(axes, "min"), keepDims: keepDims), [self])
    }
    /// Minimum over one axis.
    public func min(axis: Int, keepDims: Bool = false) -> Tensor { min(axes: [axis], keepDims: keepDims) }

    /// Product over `axes`. The gradient is the product of the other elements, as PyTorch's (also where inputs are 0).
    /// Integer and bool tensors multiply in int64.
    public func prod(axes: [Int]? = nil, keepDims: Bool = false) -> Tensor {
        Tensor.apply(Prod(axes: reductionAxes(axes, "prod"), keepDims: keepDims), [dtype.isFloatingPoint ? self : cast(.int64)])
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
        return max ? Tensor.apply(ArgMax(axis: ax, keepDims: keepDims), [self])
                   : Tensor.apply(ArgMin(axis: ax, keepDims: keepDims), [self])
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

    /// log(sum(exp(x))) over `axes`, computed stably (the shift by the maximum is cut from the tape).
    public func logsumexp(axes: [Int]? = nil, keepDims: Bool = false) -> Tensor {
        let ax = reductionAxes(axes, "logsumexp")
        let m = withoutGrad { () -> Tensor in
            let mx = max(axes: ax, keepDims: true)
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
        return log ? Tensor.apply(LogSoftmax(axis: ax), [self]) : Tensor.apply(Softmax(axis: ax), [self])
    }

    /// Inclusive cumulative sum along `axis` (int64 for integer and bool tensors, as in PyTorch).
    public func cumsum(axis: Int) -> Tensor {
        let ax = normalizeAxis(axis, rank: rank, "cumsum")
        let src = dtype.isFloatingPoint ? self : cast(.int64)
        if rank == 0 { return src }
        return Tensor.apply(Cumsum(axis: ax), [src])
    }
}
