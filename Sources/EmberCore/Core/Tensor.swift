/// An n-dimensional array with reverse-mode autodiff.
///
/// A tensor is a strided view (shape, strides, offset) of reference-counted `Storage`, so reshape, permute, slicing,
/// expand and flip share memory instead of copying. Tensors have reference semantics like PyTorch's: an op returns a
/// new tensor, `grad` is filled in by `backward()`. Ops on float tensors that require gradients are recorded on a
/// tape (see `Autograd`).
public final class Tensor: @unchecked Sendable {
    /// The memory behind this tensor (shared by views).
    public internal(set) var storage: Storage
    /// Size of each dimension.
    public let shape: [Int]
    /// Step between neighbours in each dimension, in elements (0 for broadcast, negative for flipped views).
    public internal(set) var strides: [Int]
    /// Index of element 0 in `storage`, in elements.
    public internal(set) var offset: Int
    /// Element type.
    public let dtype: DType
    /// Whether gradients flow to this tensor. Set it on leaves (parameters, inputs) you want `grad` for.
    public var requiresGrad: Bool {
        didSet {
            precondition(!requiresGrad || dtype.isFloatingPoint, "requiresGrad: only float tensors can require gradients, this one is \(dtype)")
        }
    }
    /// The accumulated gradient (after `backward()`), with the same shape as this tensor.
    public var grad: Tensor?
    /// The tape node that produced this tensor (nil for leaves).
    var gradFn: GradNode?
    /// Set on an embedding's output: its indices and table, so that a `linear` of it can run through the
    /// vocabulary (see `EmbeddingLookup`).
    var lookup: EmbeddingLookup?

    init(storage: Storage, shape: [Int], strides: [Int], offset: Int, dtype: DType) {
        self.storage = storage
        self.shape = shape
        self.strides = strides
        self.offset = offset
        self.dtype = dtype
        self.requiresGrad = false
    }

    /// An uninitialized contiguous tensor.
    static func empty(_ shape: [Int], dtype: DType, backend: any Backend = DefaultBackend.current) -> Tensor {
        for d in shape { precondition(d >= 0, "tensor: negative dimension in shape \(shape)") }
        let count = shape.reduce(1, *)
        let st = Storage(byteCount: Swift.max(count, 1) * dtype.byteSize, backend: backend)
        return Tensor(storage: st, shape: shape, strides: contiguousStrides(shape), offset: 0, dtype: dtype)
    }

    /// Number of dimensions.
    public var rank: Int { shape.count }
    /// Number of elements.
    public var count: Int { shape.reduce(1, *) }
    /// The backend that computes on this tensor.
    public var backend: any Backend { storage.backend }
    /// Whether this tensor was made by `Autograd`-recorded ops (has a tape node).
    public var isLeaf: Bool { gradFn == nil }

    /// Whether elements are laid out row-major with no gaps, starting at `offset`.
    public var isContiguous: Bool {
        var expected = 1
        for d in stride(from: rank - 1, through: 0, by: -1) where shape[d] != 1 {
            if strides[d] != expected { return false }
            expected *= shape[d]
        }
        return true
    }

    /// This tensor as a backend operand.
    var operand: Operand {
        Operand(pointer: storage.pointer + offset * dtype.byteSize, strides: strides, dtype: dtype, owner: storage)
    }

    /// This tensor as an operand broadcast to `target` (stride 0 on broadcast dims).
    func operand(broadcastTo target: [Int]) -> Operand {
        Operand(pointer: storage.pointer + offset * dtype.byteSize,
                strides: broadcastStrides(shape: shape, strides: strides, to: target), dtype: dtype, owner: storage)
    }

    /// A new view of the same storage.
    func view(shape: [Int], strides: [Int], offset: Int) -> Tensor {
        Tensor(storage: storage, shape: shape, strides: strides, offset: offset, dtype: dtype)
    }

    /// Typed access to contiguous elements (for kernels in higher modules). The tensor must be contiguous.
    ///
    /// This is the explicit host-access API: the buffer is the tensor's own memory, so it requires a host-memory
    /// backend (`backend.isHostMemory`, true for `Device.cpu` and `Device.reference`) and stops with a message on a
    /// device backend. To read values on any backend use `toArray`, `item()` or `bitPatterns()`, which download.
    public func withUnsafeBufferPointer<T: TensorScalar, R>(as: T.Type, _ body: (UnsafeBufferPointer<T>) throws -> R) rethrows -> R {
        precondition(T.dtype == dtype, "withUnsafeBufferPointer: tensor is \(dtype), asked for \(T.dtype)")
        precondition(backend.isHostMemory, "withUnsafeBufferPointer: the tensor's memory is on the \(backend.name) backend, not host memory; read it with toArray() or move it with to(.cpu)")
        precondition(isContiguous, "withUnsafeBufferPointer: tensor of shape \(shape) is not contiguous; call contiguous()")
        let p = (storage.pointer + offset * dtype.byteSize).assumingMemoryBound(to: T.self)
        return try body(UnsafeBufferPointer(start: p, count: count))
    }

    /// Typed mutable access to contiguous elements, for in-place updates outside autodiff (optimizers, loaders).
    ///
    /// Like `withUnsafeBufferPointer`, this hands out the tensor's own memory, so it requires a host-memory backend
    /// (`backend.isHostMemory`) and stops with a message on a device backend. To write values on any backend, build a
    /// tensor (`Tensor(values)`, which uploads) and `assign` it.
    public func withUnsafeMutableBufferPointer<T: TensorScalar, R>(as: T.Type, _ body: (UnsafeMutableBufferPointer<T>) throws -> R) rethrows -> R {
        precondition(T.dtype == dtype, "withUnsafeMutableBufferPointer: tensor is \(dtype), asked for \(T.dtype)")
        precondition(backend.isHostMemory, "withUnsafeMutableBufferPointer: the tensor's memory is on the \(backend.name) backend, not host memory; write it with assign(Tensor(values)) or move it with to(.cpu)")
        precondition(isContiguous, "withUnsafeMutableBufferPointer: tensor of shape \(shape) is not contiguous")
        storage.version += 1
        let p = (storage.pointer + offset * dtype.byteSize).assumingMemoryBound(to: T.self)
        return try body(UnsafeMutableBufferPointer(start: p, count: count))
    }
}

/// The broadcast shape of two shapes (NumPy rules), or nil when they do not broadcast.
public func broadcastShape(_ a: [Int], _ b: [Int]) -> [Int]? {
    let n = Swift.max(a.count, b.count)
    var out = [Int](repeating: 1, count: n)
    for i in 0..<n {
        let da = i < n - a.count ? 1 : a[i - (n - a.count)]
        let db = i < n - b.count ? 1 : b[i - (n - b.count)]
        if da == db || db == 1 { out[i] = da } else if da == 1 { out[i] = db } else { return nil }
    }
    return out
}

/// Strides that read a tensor of `shape`/`strides` as if broadcast to `target`.
func broadcastStrides(shape: [Int], strides: [Int], to target: [Int]) -> [Int] {
    let lead = target.count - shape.count
    precondition(lead >= 0, "broadcast: cannot broadcast shape \(shape) to \(target)")
    var out = [Int](repeating: 0, count: target.count)
    for i in 0..<shape.count {
        if shape[i] == target[lead + i] {
            out[lead + i] = shape[i] == 1 ? 0 : strides[i]
        } else {
            precondition(shape[i] == 1, "broadcast: cannot broadcast shape \(shape) to \(target)")
        }
    }
    return out
}

/// Normalizes a possibly negative axis for an op, with a clear message when out of range.
@inline(__always)
func normalizeAxis(_ axis: Int, rank: Int, _ op: String) -> Int {
    let a = axis < 0 ? axis + rank : axis
    precondition(a >= 0 && a < Swift.max(rank, 1), "\(op): axis \(axis) is out of range for a tensor of rank \(rank)")
    return a
}
