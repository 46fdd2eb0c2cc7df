extension Tensor {
    /// A tensor holding `values` (row-major) with the given shape (default: 1-D).
    public convenience init<T: TensorScalar>(_ values: [T], shape: [Int]? = nil) {
        let shp = shape ?? [values.count]
        precondition(shp.reduce(1, *) == values.count, "Tensor(values:shape:): \(values.count) values do not fill shape \(shp)")
        let t = Tensor.empty(shp, dtype: T.dtype)
        self.init(storage: t.storage, shape: shp, strides: t.strides, offset: 0, dtype: T.dtype)
        values.withUnsafeBytes { src in upload(from: src) }
    }

    /// A tensor of `dtype` holding `values` (row-major) converted as `cast` converts, e.g. float32 values rounded to
    /// float16: `Tensor([0.1, 65519] as [Float], dtype: .float16)`.
    public convenience init<T: TensorScalar>(_ values: [T], shape: [Int]? = nil, dtype: DType) {
        let src = Tensor(values, shape: shape)
        let t = Tensor.empty(src.shape, dtype: dtype)
        t.backend.copy(src.operand, into: t.operand, shape: src.shape)
        self.init(storage: t.storage, shape: t.shape, strides: t.strides, offset: 0, dtype: dtype)
    }

    /// A float16 or bfloat16 tensor from its raw 16-bit patterns (row-major), e.g. as PyTorch's
    /// `t.view(torch.int16)` shows them.
    public convenience init(bitPatterns: [UInt16], shape: [Int]? = nil, dtype: DType) {
        precondition(dtype.isHalf, "Tensor(bitPatterns:): dtype must be float16 or bfloat16, got \(dtype)")
        let shp = shape ?? [bitPatterns.count]
        precondition(shp.reduce(1, *) == bitPatterns.count,
                     "Tensor(bitPatterns:): \(bitPatterns.count) values do not fill shape \(shp)")
        let t = Tensor.empty(shp, dtype: dtype)
        self.init(storage: t.storage, shape: shp, strides: t.strides, offset: 0, dtype: dtype)
        bitPatterns.withUnsafeBytes { src in upload(from: src) }
    }

    /// A 2-D tensor from rows of equal length.
    public convenience init<T: TensorScalar>(_ rows: [[T]]) {
        let cols = rows.first?.count ?? 0
        precondition(rows.allSatisfy { $0.count == cols }, "Tensor(rows:): rows have different lengths")
        self.init(rows.flatMap { $0 }, shape: [rows.count, cols])
    }

    /// A 0-dimensional tensor holding one value.
    public convenience init(_ value: Double, dtype: DType = .float32, on backend: any Backend = DefaultBackend.current) {
        let t = Tensor.empty([], dtype: dtype, backend: backend)
        self.init(storage: t.storage, shape: [], strides: [], offset: 0, dtype: dtype)
        withUnsafeTemporaryAllocation(byteCount: 16, alignment: 16) { host in
            storeDouble(host.baseAddress!, 0, dtype, value)
            upload(from: UnsafeRawBufferPointer(start: host.baseAddress!, count: dtype.byteSize))
        }
    }

    /// A contiguous tensor in `backend`'s memory whose bytes `body` writes into zeroed host memory first.
    static func fromHost(_ shape: [Int], dtype: DType, backend: any Backend = DefaultBackend.current,
                         _ body: (UnsafeMutableRawPointer) -> Void) -> Tensor {
        let t = empty(shape, dtype: dtype, backend: backend)
        let bytes = t.count * dtype.byteSize
        let host = UnsafeMutableRawPointer.allocate(byteCount: Swift.max(bytes, 1), alignment: 64)
        defer { host.deallocate() }
        host.initializeMemory(as: UInt8.self, repeating: 0, count: bytes)
        body(host)
        t.upload(from: UnsafeRawBufferPointer(start: host, count: bytes))
        return t
    }

    /// Copies host bytes (this contiguous tensor's elements, row-major) into its memory through the backend.
    func upload(from src: UnsafeRawBufferPointer) {
        if count == 0 && src.count == 0 { return }   // nothing to move (and an empty tensor's strides may be anything)
        precondition(isContiguous && src.count == count * dtype.byteSize, "upload: \(src.count) bytes for a tensor of \(count) \(dtype) elements")
        guard let base = src.baseAddress, src.count > 0 else { return }
        withExtendedLifetime(storage) { backend.upload(base, byteCount: src.count, into: operand.pointer) }
    }

    /// A tensor of `shape` and `dtype` whose elements are `bytes` (row-major, in the dtype's little-endian layout,
    /// as file formats store them), uploaded to `backend` through the backend.
    public convenience init(rawBytes bytes: UnsafeRawBufferPointer, shape: [Int], dtype: DType,
                            on backend: any Backend = DefaultBackend.current) {
        let t = Tensor.empty(shape, dtype: dtype, backend: backend)
        precondition(bytes.count == t.count * dtype.byteSize,
                     "Tensor(rawBytes:): \(bytes.count) bytes for \(t.count) \(dtype) elements of shape \(shape)")
        self.init(storage: t.storage, shape: shape, strides: t.strides, offset: 0, dtype: dtype)
        upload(from: bytes)
    }

    /// Calls `body` with this tensor's elements (row-major, contiguous) downloaded into host memory: a
    /// synchronisation point on a device backend. The bytes are valid only inside `body` (`count * dtype.byteSize`
    /// of them). What file writers use instead of touching the tensor's memory.
    public func withHostBytes<R>(_ body: (UnsafeRawPointer) throws -> R) rethrows -> R {
        let bytes = count * dtype.byteSize
        let host = UnsafeMutableRawPointer.allocate(byteCount: Swift.max(bytes, 1), alignment: 64)
        defer { host.deallocate() }
        download(into: host)
        return try body(UnsafeRawPointer(host))
    }

    /// Downloads this tensor's elements (row-major, made contiguous first when needed) into `count * byteSize`
    /// bytes of host memory at `destination`, through the backend.
    func download(into destination: UnsafeMutableRawPointer) {
        let bytes = count * dtype.byteSize
        guard bytes > 0 else { return }
        let c = contiguousData()
        withExtendedLifetime(c.storage) { c.backend.download(c.operand.pointer, byteCount: bytes, into: destination) }
    }

    /// A tensor of `shape` with every element `value`, in the memory of `backend` (default: the CPU).
    public static func full(_ shape: [Int], _ value: Double, dtype: DType = .float32,
                            on backend: any Backend = DefaultBackend.current) -> Tensor {
        let t = empty(shape, dtype: dtype, backend: backend)
        t.backend.fill(t.operand, count: t.count, value: value)
        return t
    }

    /// Zeros.
    public static func zeros(_ shape: [Int], dtype: DType = .float32, on backend: any Backend = DefaultBackend.current) -> Tensor {
        full(shape, 0, dtype: dtype, on: backend)
    }
    /// Ones.
    public static func ones(_ shape: [Int], dtype: DType = .float32, on backend: any Backend = DefaultBackend.current) -> Tensor {
        full(shape, 1, dtype: dtype, on: backend)
    }
    /// Zeros with this tensor's shape, dtype and backend.
    public func zerosLike() -> Tensor { Tensor.zeros(shape, dtype: dtype, on: backend) }
    /// Ones with this tensor's shape, dtype and backend.
    public func onesLike() -> Tensor { Tensor.ones(shape, dtype: dtype, on: backend) }

    /// Values start, start+step, ... below end (like `torch.arange`).
    public static func arange(_ start: Double = 0, _ end: Double, step: Double = 1, dtype: DType = .float32) -> Tensor {
        precondition(step != 0, "arange: step must not be zero")
        let n = Swift.max(0, Int(((end - start) / step).rounded(.up)))
        return fromHost([n], dtype: dtype) { host in
            for i in 0..<n { storeDouble(host, i, dtype, start + Double(i) * step) }
        }
    }

    /// `count` evenly spaced values from start to end inclusive.
    public static func linspace(_ start: Double, _ end: Double, count: Int, dtype: DType = .float32) -> Tensor {
        precondition(count >= 0, "linspace: count must be non-negative, got \(count)")
        let step = count > 1 ? (end - start) / Double(count - 1) : 0
        return fromHost([count], dtype: dtype) { host in
            for i in 0..<count {
                // Fill from both ends as PyTorch does, so the last value is exactly `end`.
                let v = i < count / 2 ? start + step * Double(i) : end - step * Double(count - 1 - i)
                storeDouble(host, i, dtype, v)
            }
        }
    }

    /// The identity matrix (n x m, default square).
    public static func eye(_ n: Int, _ m: Int? = nil, dtype: DType = .float32) -> Tensor {
        let cols = m ?? n
        return fromHost([n, cols], dtype: dtype) { host in
            for i in 0..<Swift.min(n, cols) { storeDouble(host, i * cols + i, dtype, 1) }
        }
    }

    // MARK: random

    /// Uniform samples in [low, high) from `rng`.
    public static func uniform(_ shape: [Int], low: Double = 0, high: Double = 1, dtype: DType = .float32,
                               rng: inout RandomState) -> Tensor {
        precondition(dtype.isFloatingPoint, "uniform: dtype must be float, got \(dtype)")
        let t = empty(shape, dtype: dtype)
        t.backend.random(t.operand, count: t.count, normal: false, key: rng.key, counter: rng.reserve(t.count))
        if low == 0 && high == 1 { return t }
        return withoutGrad { t.affine(high - low, low) }
    }

    /// Normal samples with the given mean and standard deviation from `rng`.
    public static func normal(_ shape: [Int], mean: Double = 0, std: Double = 1, dtype: DType = .float32,
                              rng: inout RandomState) -> Tensor {
        precondition(dtype.isFloatingPoint, "normal: dtype must be float, got \(dtype)")
        let t = empty(shape, dtype: dtype)
        t.backend.random(t.operand, count: t.count, normal: true, key: rng.key, counter: rng.reserve(t.count))
        if mean == 0 && std == 1 { return t }
        return withoutGrad { t.affine(std, mean) }
    }

    /// Bernoulli samples: 1 with probability `p`, else 0 (as `dtype`).
    public static func bernoulli(_ shape: [Int], p: Double, dtype: DType = .float32, rng: inout RandomState) -> Tensor {
        precondition(p >= 0 && p <= 1, "bernoulli: p must be in [0, 1], got \(p)")
        let u = uniform(shape, dtype: .float64, rng: &rng)
        return withoutGrad { (u .< Tensor(p, dtype: .float64)).cast(dtype) }
    }

    /// Bernoulli samples with per-element probabilities `probs`.
    public static func bernoulli(probs: Tensor, rng: inout RandomState) -> Tensor {
        let u = uniform(probs.shape, dtype: probs.dtype, rng: &rng)
        return withoutGrad { (u .< probs).cast(probs.dtype) }
    }

    /// Uniform integers in [low, high).
    public static func randint(_ low: Int, _ high: Int, shape: [Int], dtype: DType = .int64, rng: inout RandomState) -> Tensor {
        precondition(high > low, "randint: high (\(high)) must exceed low (\(low))")
        let n = shape.reduce(1, *)
        return fromHost(shape, dtype: dtype) { host in
            for i in 0..<n { storeDouble(host, i, dtype, Double(low + rng.nextInt(below: high - low))) }
        }
    }

    /// A random permutation of 0..<n as int64.
    public static func randperm(_ n: Int, rng: inout RandomState) -> Tensor {
        Tensor(rng.permutation(n).map { Int64($0) })
    }

    /// Draws `samples` category indices per row from unnormalized non-negative weights `probs` ([k] or [n, k]),
    /// with replacement (like `torch.multinomial(..., replacement=True)`). Returns int64 [samples] or [n, samples].
    public static func categorical(_ probs: Tensor, samples: Int, rng: inout RandomState) -> Tensor {
        precondition(probs.rank == 1 || probs.rank == 2, "categorical: probs must be 1-D or 2-D, got shape \(probs.shape)")
        let p = probs.rank == 1 ? probs.reshaped([1, probs.shape[0]]) : probs
        let rows = p.shape[0], k = p.shape[1]
        let w = p.toArray(Double.self)
        var out = [Int64](repeating: 0, count: rows * samples)
        for r in 0..<rows {
            var cdf = [Double](repeating: 0, count: k)
            var acc = 0.0
            for j in 0..<k {
                precondition(w[r * k + j] >= 0 && w[r * k + j].isFinite, "categorical: probabilities must be finite and non-negative")
                acc += w[r * k + j]
                cdf[j] = acc
            }
            precondition(acc > 0, "categorical: row \(r) has zero total probability")
            for s in 0..<samples {
                let u = rng.nextDouble() * acc
                var lo = 0, hi = k - 1
                while lo < hi { let mid = (lo + hi) / 2; if cdf[mid] > u { hi = mid } else { lo = mid + 1 } }
                // skip zero-weight categories that share the cdf value
                while lo < k - 1 && w[r * k + lo] == 0 { lo += 1 }
                out[r * samples + s] = Int64(lo)
            }
        }
        return Tensor(out, shape: probs.rank == 1 ? [samples] : [rows, samples])
    }

    // MARK: reading values

    /// The elements in row-major order, converted to `T`. float16 and bfloat16 elements read as `Float` exactly;
    /// `UInt8` from other dtypes converts as `cast(.uint8)` does (low byte of the truncated value).
    public func toArray<T: TensorScalar>(_: T.Type = T.self) -> [T] {
        let n = count
        if T.dtype == dtype {
            return [T](unsafeUninitializedCapacity: n) { buf, initialized in
                if n > 0 { download(into: UnsafeMutableRawPointer(buf.baseAddress!)) }
                initialized = n
            }
        }
        return withHostBytes { base in
            let p = UnsafeMutableRawPointer(mutating: base)
            return (0..<n).map { T(fromDouble: loadDouble(p, $0, dtype)) }
        }
    }

    /// The raw 16-bit patterns of a float16 or bfloat16 tensor (row-major), as PyTorch's `t.view(torch.int16)`.
    public func bitPatterns() -> [UInt16] {
        precondition(dtype.isHalf, "bitPatterns: tensor is \(dtype), not float16 or bfloat16")
        let n = count
        return [UInt16](unsafeUninitializedCapacity: n) { buf, initialized in
            if n > 0 { download(into: UnsafeMutableRawPointer(buf.baseAddress!)) }
            initialized = n
        }
    }

    /// Elements as Float (row-major).
    public var scalars: [Float] { toArray(Float.self) }

    /// The single element as a Double. The tensor must hold exactly one element.
    public func item() -> Double {
        precondition(count == 1, "item: tensor of shape \(shape) holds \(count) elements, not one")
        return withUnsafeTemporaryAllocation(byteCount: 16, alignment: 16) { host in
            download(into: host.baseAddress!)
            return loadDouble(host.baseAddress!, 0, dtype)
        }
    }

    /// A contiguous copy in memory of its own, outside autodiff (PyTorch's `clone()` under `no_grad`).
    public func copied() -> Tensor {
        let out = Tensor.empty(shape, dtype: dtype, backend: backend)
        backend.copy(operand, into: out.operand, shape: shape)
        return out
    }

    /// A contiguous copy outside autodiff, or self when already contiguous.
    func contiguousData() -> Tensor {
        if isContiguous { return self }
        let out = Tensor.empty(shape, dtype: dtype, backend: backend)
        backend.copy(operand, into: out.operand, shape: shape)
        return out
    }
}
