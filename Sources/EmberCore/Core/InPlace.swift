/// In-place updates outside autodiff: what optimizers, running statistics and state loading need.
/// They write into this tensor's storage (so every view of it sees the change) and are never recorded on the tape.
/// Each bumps the storage's `version`: backward stops with a message if a tensor its VJP reads changed this way.
extension Tensor {
    /// Copies `other`'s values (broadcast to this shape, converted to this dtype) into this tensor.
    public func assign(_ other: Tensor) {
        checkOperands("assign", ["target": self, "source": other], sameDType: false)
        precondition(broadcastShape(other.shape, shape) == shape, "assign: cannot assign shape \(other.shape) to \(shape)")
        backend.copy(other.operand(broadcastTo: shape), into: operand, shape: shape)
        storage.version += 1
    }

    /// self = self * alpha + other * beta, in place (float tensors of one shape).
    public func scaleAdd(_ alpha: Double, _ other: Tensor, _ beta: Double) {
        checkOperands("scaleAdd", ["target": self, "other": other], sameDType: false)
        precondition(other.shape == shape, "scaleAdd: shapes \(shape) and \(other.shape) differ")
        precondition(dtype.isFloatingPoint && other.dtype == dtype, "scaleAdd: needs two float tensors of one dtype, got \(dtype) and \(other.dtype)")
        if dtype == .float32 && isContiguous && other.isContiguous {
            backend.axpby(other.operand, alpha: beta, operand, beta: alpha, count: count)
            storage.version += 1
            return
        }
        let r = withoutGrad { self * alpha + other * beta }
        assign(r)
    }

    /// Fills this tensor with `value`.
    public func fill(_ value: Double) {
        if isContiguous {
            backend.fill(operand, count: count, value: value)
            storage.version += 1
        } else {
            assign(Tensor(value, dtype: dtype))
        }
    }

    /// One fused Adam/AdamW update of this parameter in place, with its moment buffers `m` and `v`.
    /// `l2` is Adam's coupled weight decay; `decoupledDecay` is AdamW's lr * weight_decay.
    public func adamUpdate(grad: Tensor, m: Tensor, v: Tensor, lr: Double, beta1: Double, beta2: Double, eps: Double,
                           step: Int, l2: Double = 0, decoupledDecay: Double = 0) {
        checkOperands("adamUpdate", ["parameter": self, "m": m, "v": v])
        checkOperands("adamUpdate", ["parameter": self, "grad": grad], sameDType: false)
        precondition(isContiguous && m.isContiguous && v.isContiguous && m.shape == shape && v.shape == shape && grad.shape == shape,
                     "adamUpdate: parameter, gradient and moments must be contiguous with shape \(shape)")
        let g = grad.contiguousData().cast(dtype)
        backend.adam(param: operand, grad: g.operand, m: m.operand, v: v.operand, count: count, lr: lr, beta1: beta1,
                     beta2: beta2, eps: eps, step: step, l2: l2, decoupledDecay: decoupledDecay)
        storage.version += 1
        m.storage.version += 1
        v.storage.version += 1
    }
}

/// A seeded generator shared by reference: layers keep one for dropout, loaders for shuffling.
/// `Generator.default` is reseeded with `Generator.manualSeed(_:)`, like `torch.manual_seed`.
public final class Generator: @unchecked Sendable {
    private let lock = NSLockLike()
    private var rng: RandomState

    /// A generator seeded with `seed`.
    public init(seed: UInt64) { rng = RandomState(seed: seed) }
    /// A generator continuing from `state`.
    public init(state: RandomState) { rng = state }

    /// The process-wide default generator (seed 0 until `manualSeed` is called).
    public static let `default` = Generator(seed: 0)

    /// Reseeds the default generator.
    public static func manualSeed(_ seed: UInt64) { Generator.default.state = RandomState(seed: seed) }

    /// The current state (to checkpoint) or a state to restore.
    public var state: RandomState {
        get { lock.withLock { rng } }
        set { lock.withLock { rng = newValue } }
    }

    /// Runs `body` with exclusive access to the underlying state.
    public func withState<R>(_ body: (inout RandomState) throws -> R) rethrows -> R {
        try lock.withLock { try body(&rng) }
    }

    /// A new generator on an independent stream (advances this one).
    public func fork() -> Generator { Generator(state: withState { $0.fork() }) }
}
