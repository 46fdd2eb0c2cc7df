import Foundation

/// A second, deliberately plain backend: every kernel is a straightforward loop over element indices, computed in
/// double precision (integers in 64-bit integer arithmetic), with no BLAS, no SIMD, no threads and no caching
/// allocator. It is the oracle the fast `CPUBackend` is compared with (tinygrad's `ops_python` habit), and the
/// template a new backend follows.
///
/// ## What a backend implements
/// - Memory: `allocate`/`deallocate` (a CUDA backend would hand out device pointers; here `malloc`).
/// - Data movement: `copy` between strided views with dtype conversion, `fill`.
/// - Elementwise: `unary` (every `UnaryOp`, contiguous), `binary` (every `BinaryOp`, broadcast strides, contiguous
///   output; comparisons produce `bool`), `binaryScalar` (a tensor with a number passed as a kernel argument, in either
///   order; the rounding rules for half types are in its requirement's documentation), `select` (where).
/// - Along one axis of a contiguous [outer, n, inner] tensor: `reduce`, `argReduce`, `softmax`, `softmaxBackward`,
///   `cumsum`, `gather`, `scatterAdd`, `indexSelect`, `indexAdd`.
/// - Linear algebra and images: `gemm` (row-major, transposes, alpha/beta), convolution (`conv2dForward`,
///   `conv2dInputGrad`, `conv2dWeightGrad`: the backend picks the algorithm), training-mode batch norm
///   (`batchNormStats`, `batchNormApply`, `batchNormBackward`), max and average pooling forward and backward.
/// - Randomness: `random` fills from the counter-based Philox stream, element i from block `counter + i`, so every
///   backend draws the same numbers for a seed.
/// - Optimizer: `axpby` (y = alpha x + beta y in place) and `adam` (one fused Adam/AdamW step).
/// - Recurrent cells: `lstmCell`/`lstmCellBackward` and `gruCell`/`gruCellBackward`, one time step of the fused
///   sequence ops (the recurrent GEMM is theirs, through `gemm`).
/// - Host transfer: `upload`/`download` and `isHostMemory` have host-memory defaults (plain copies); a device backend
///   implements them, and everything outside a backend reaches a tensor's bytes only through them.
/// Semantics to keep (tested on both backends): PyTorch's on NaN (maximum/minimum/max-pool/softmax/relu propagate it),
/// -0.0 and ties; first index on ties for argmax/argmin; `beta == 0` in `gemm` ignores what C held.
public final class ReferenceBackend: Backend {
    /// The process-wide reference backend.
    public static let shared = ReferenceBackend()
    public var name: String { "reference" }

    public func allocate(byteCount: Int) -> (UnsafeMutableRawPointer, Int) {
        let n = Swift.max(byteCount, 64)
        return (UnsafeMutableRawPointer.allocate(byteCount: n, alignment: 64), n)
    }

    public func deallocate(_ pointer: UnsafeMutableRawPointer, capacity: Int) { pointer.deallocate() }

    // MARK: helpers

    /// Calls body(linear index, offsets per operand) for every index of `shape` in row-major order.
    private func forEach(_ shape: [Int], _ strides: [[Int]], _ body: (Int, [Int]) -> Void) {
        let count = shape.reduce(1, *)
        if count == 0 { return }
        var index = [Int](repeating: 0, count: shape.count)
        var offs = [Int](repeating: 0, count: strides.count)
        for linear in 0..<count {
            body(linear, offs)
            // odometer step: the last index moves fastest; offsets follow each operand's strides
            var d = shape.count - 1
            while d >= 0 {
                index[d] += 1
                for k in strides.indices { offs[k] += strides[k][d] }
                if index[d] < shape[d] { break }
                for k in strides.indices { offs[k] -= strides[k][d] * shape[d] }
                index[d] = 0
                d -= 1
            }
        }
    }

    private func load(_ o: Operand, _ i: Int) -> Double { loadDouble(o.pointer, i, o.dtype) }
    private func store(_ o: Operand, _ i: Int, _ v: Double) { storeDouble(o.pointer, i, o.dtype, v) }
    private func loadInt(_ o: Operand, _ i: Int) -> Int64 {
        switch o.dtype {
        case .int64: return o.pointer.assumingMemoryBound(to: Int64.self)[i]
        case .int32: return Int64(o.pointer.assumingMemoryBound(to: Int32.self)[i])
        case .uint8: return Int64(o.pointer.assumingMemoryBound(to: UInt8.self)[i])
        default: return Int64(load(o, i))
        }
    }
    private func storeInt(_ o: Operand, _ i: Int, _ v: Int64) {
        switch o.dtype {
        case .int64: o.pointer.assumingMemoryBound(to: Int64.self)[i] = v
        case .int32: o.pointer.assumingMemoryBound(to: Int32.self)[i] = Int32(truncatingIfNeeded: v)
        case .uint8: o.pointer.assumingMemoryBound(to: UInt8.self)[i] = UInt8(truncatingIfNeeded: v)
        default: store(o, i, Double(v))
        }
    }
    private func isInteger(_ d: DType) -> Bool { d == .int32 || d == .int64 || d == .uint8 }
    /// Element i of a float32, float16 or bfloat16 operand as a float32 (exact), nil for other dtypes.
    private func loadFloat32(_ o: Operand, _ i: Int) -> Float? {
        switch o.dtype {
        case .float32: return o.pointer.assumingMemoryBound(to: Float.self)[i]
        case .float16: return floatFromFloat16Bits(o.pointer.assumingMemoryBound(to: UInt16.self)[i])
        case .bfloat16: return floatFromBFloat16Bits(o.pointer.assumingMemoryBound(to: UInt16.self)[i])
        default: return nil
        }
    }
    /// Stores a float32 into a float32, float16 or bfloat16 operand (rounded to nearest even); false for others.
    private func storeFloat32(_ o: Operand, _ i: Int, _ f: Float) -> Bool {
        switch o.dtype {
        case .float32: o.pointer.assumingMemoryBound(to: Float.self)[i] = f
        case .float16: o.pointer.assumingMemoryBound(to: UInt16.self)[i] = float16Bits(f)
        case .bfloat16: o.pointer.assumingMemoryBound(to: UInt16.self)[i] = bfloat16Bits(f)
        default: return false
        }
        return true
    }

    // MARK: data movement

    public func copy(_ src: Operand, into dst: Operand, shape: [Int]) {
        forEach(shape, [src.strides, dst.strides]) { _, o in
            if src.dtype == dst.dtype {
                let es = src.dtype.byteSize
                (dst.pointer + o[1] * es).copyMemory(from: src.pointer + o[0] * es, byteCount: es)
            } else if isInteger(src.dtype) && isInteger(dst.dtype) {
                storeInt(dst, o[1], loadInt(src, o[0]))
            } else if let f = loadFloat32(src, o[0]), storeFloat32(dst, o[1], f) {
                // float32 <-> float16/bfloat16 directly: a double in between would quiet signaling NaNs
            } else {
                store(dst, o[1], load(src, o[0]))
            }
        }
    }

    public func fill(_ dst: Operand, count: Int, value: Double) {
        for i in 0..<count { store(dst, i, value) }
    }

    // MARK: elementwise

    public func unary(_ op: UnaryOp, _ x: Operand, _ out: Operand, count: Int) {
        let f = Self.scalar(op)
        for i in 0..<count { store(out, i, f(load(x, i))) }
    }

    /// Each unary op as a function of one double (PyTorch's semantics at NaN, -0.0 and the edges).
    static func scalar(_ op: UnaryOp) -> (Double) -> Double {
        func sig(_ v: Double) -> Double { 1 / (1 + Foundation.exp(-v)) }
        let k0 = (2 / Double.pi).squareRoot(), k1 = 0.044715
        switch op {
        case .neg: return { -$0 }
        case .exp: return { Foundation.exp($0) }
        case .log: return { Foundation.log($0) }
        case .log1p: return { Foundation.log1p($0) }
        case .expm1: return { Foundation.expm1($0) }
        case .sqrt: return { $0.squareRoot() }
        case .rsqrt: return { 1 / $0.squareRoot() }
        case .abs: return { Swift.abs($0) }
        case .sign: return { $0 > 0 ? 1 : ($0 < 0 ? -1 : 0) }
        case .signGradZero: return { _ in 0 }
        case .sin: return { Foundation.sin($0) }
        case .cos: return { Foundation.cos($0) }
        case .tanh: return { Foundation.tanh($0) }
        case .sigmoid: return sig
        case .relu: return { $0 < 0 ? 0 : $0 }
        case .reluGrad: return { $0 <= 0 ? 0 : 1 }
        case .square: return { $0 * $0 }
        case .reciprocal: return { 1 / $0 }
        case .erf: return { Foundation.erf($0) }
        case .leakyRelu(let a): return { $0 > 0 ? $0 : a * $0 }
        case .leakyReluGrad(let a): return { $0 > 0 ? 1 : a }
        case .elu(let a): return { $0 > 0 ? $0 : a * Foundation.expm1($0) }
        case .eluGrad(let a): return { $0 > 0 ? 1 : a * Foundation.exp($0) }
        case .gelu: return { 0.5 * $0 * (1 + Foundation.erf($0 / 2.0.squareRoot())) }
        case .geluGrad:
            return { 0.5 * (1 + Foundation.erf($0 / 2.0.squareRoot())) + $0 * Foundation.exp(-0.5 * $0 * $0) / (2 * Double.pi).squareRoot() }
        case .geluTanh: return { 0.5 * $0 * (1 + Foundation.tanh(k0 * ($0 + k1 * $0 * $0 * $0))) }
        case .geluTanhGrad:
            return { v in
                let t = Foundation.tanh(k0 * (v + k1 * v * v * v))
                return 0.5 * (1 + t) + 0.5 * v * (1 - t * t) * k0 * (1 + 3 * k1 * v * v)
            }
        case .silu: return { $0 * sig($0) }
        case .siluGrad: return { v in let s = sig(v); return s * (1 + v * (1 - s)) }
        case .softplus(let b, let t): return { b * $0 > t ? $0 : Foundation.log1p(Foundation.exp(b * $0)) / b }
        case .softplusGrad(let b, let t): return { b * $0 > t ? 1 : sig(b * $0) }
        case .clamp(let lo, let hi): return { $0 < lo ? lo : ($0 > hi ? hi : $0) }
        case .clampGrad(let lo, let hi): return { $0 >= lo && $0 <= hi ? 1 : 0 }
        case .affine(let a, let b): return { a * $0 + b }
        case .powScalar(let p): return { Foundation.pow($0, p) }
        }
    }

    public func binary(_ op: BinaryOp, _ a: Operand, _ b: Operand, _ out: Operand, shape: [Int]) {
        precondition(a.dtype == b.dtype, "binary \(op): operand dtypes \(a.dtype) and \(b.dtype) differ")
        let ints = isInteger(a.dtype)
        forEach(shape, [a.strides, b.strides]) { i, o in
            let x = load(a, o[0]), y = load(b, o[1])
            if op.isComparison {
                store(out, i, Self.combine(op, x, y))
            } else if ints {
                let p = loadInt(a, o[0]), q = loadInt(b, o[1])
                let r: Int64
                switch op {
                case .add: r = p &+ q
                case .sub: r = p &- q
                case .mul: r = p &* q
                case .div: r = q == 0 ? 0 : p / q
                case .maximum: r = Swift.max(p, q)
                case .minimum: r = Swift.min(p, q)
                case .pow: r = Int64(Foundation.pow(Double(p), Double(q)))
                case .reluBackward: r = p <= 0 ? 0 : q
                default: preconditionFailure("binary \(op)")
                }
                storeInt(out, i, r)
            } else if a.dtype == .bool {
                let r: Bool
                switch op {
                case .add, .maximum: r = x != 0 || y != 0
                case .mul, .minimum: r = x != 0 && y != 0
                default: preconditionFailure("binary \(op): not defined for bool tensors")
                }
                store(out, i, r ? 1 : 0)
            } else {
                store(out, i, Self.combine(op, x, y))
            }
        }
    }

    /// `x op y` in double precision, comparisons and logical ops giving 1 or 0: the float semantics `binary` and
    /// `binaryScalar` share (PyTorch's on NaN for maximum/minimum).
    static func combine(_ op: BinaryOp, _ x: Double, _ y: Double) -> Double {
        switch op {
        case .eq: return x == y ? 1 : 0
        case .ne: return x != y ? 1 : 0
        case .lt: return x < y ? 1 : 0
        case .le: return x <= y ? 1 : 0
        case .gt: return x > y ? 1 : 0
        case .ge: return x >= y ? 1 : 0
        case .logicalAnd: return x != 0 && y != 0 ? 1 : 0
        case .logicalOr: return x != 0 || y != 0 ? 1 : 0
        case .add: return x + y
        case .sub: return x - y
        case .mul: return x * y
        case .div: return x / y
        case .pow: return Foundation.pow(x, y)
        case .maximum: return (y > x || y.isNaN) ? y : x
        case .minimum: return (y < x || y.isNaN) ? y : x
        case .reluBackward: return x <= 0 ? 0 : y
        case .geluBackward:
            return y * (0.5 * (1 + Foundation.erf(x / 2.0.squareRoot())) + x * Foundation.exp(-0.5 * x * x) / (2 * Double.pi).squareRoot())
        }
    }

    public func binaryScalar(_ op: BinaryOp, _ a: Operand, _ scalar: Double, reversed: Bool, _ out: Operand,
                             shape: [Int]) {
        if a.dtype.isFloatingPoint {
            // float16/bfloat16 as PyTorch: the result rounded through float32 once; the number rounded to the
            // tensor's dtype except in products and quotients, where it is a float32.
            let half = a.dtype == .float16 || a.dtype == .bfloat16
            var s = a.dtype == .float64 ? scalar : Double(Float(scalar))
            if half && !(op == .div || (op == .mul && !reversed)) {
                var slot: UInt64 = 0
                withUnsafeMutableBytes(of: &slot) { b in
                    storeDouble(b.baseAddress!, 0, a.dtype, scalar)
                    s = loadDouble(b.baseAddress!, 0, a.dtype)
                }
            }
            forEach(shape, [a.strides]) { i, o in
                let v = load(a, o[0])
                let r = reversed ? Self.combine(op, s, v) : Self.combine(op, v, s)
                store(out, i, half && !op.isComparison ? Double(Float(r)) : r)
            }
            return
        }
        // Integers and bool: the scalar converted as `copy` converts, then the ordinary kernel with stride 0.
        var source = scalar, converted: Int64 = 0
        withUnsafeMutablePointer(to: &source) { sp in
            withUnsafeMutablePointer(to: &converted) { cp in
                copy(Operand(pointer: UnsafeMutableRawPointer(sp), strides: [], dtype: .float64),
                     into: Operand(pointer: UnsafeMutableRawPointer(cp), strides: [], dtype: a.dtype), shape: [])
                let s = Operand(pointer: UnsafeMutableRawPointer(cp), strides: shape.map { _ in 0 }, dtype: a.dtype)
                binary(op, reversed ? s : a, reversed ? a : s, out, shape: shape)
            }
        }
    }

    public func select(_ cond: Operand, _ a: Operand, _ b: Operand, _ out: Operand, shape: [Int]) {
        let es = a.dtype.byteSize
        forEach(shape, [cond.strides, a.strides, b.strides]) { i, o in
            let src = load(cond, o[0]) != 0 ? a.pointer + o[1] * es : b.pointer + o[2] * es
            (out.pointer + i * es).copyMemory(from: src, byteCount: es)
        }
    }

    // MARK: along one axis

    public func reduce(_ op: ReduceOp, _ x: Operand, _ out: Operand, outer: Int, n: Int, inner: Int) {
        for r in 0..<outer {
            for i in 0..<inner {
                if isInteger(x.dtype) {
                    var acc: Int64 = op == .prod ? 1 : op == .max ? .min : op == .min ? .max : 0
                    for j in 0..<n {
                        let v = loadInt(x, (r * n + j) * inner + i)
                        switch op {
                        case .sum: acc = acc &+ v
                        case .prod: acc = acc &* v
                        case .max: acc = Swift.max(acc, v)
                        case .min: acc = Swift.min(acc, v)
                        }
                    }
                    storeInt(out, r * inner + i, acc)
                } else {
                    var acc: Double = op == .prod ? 1 : op == .max ? -.infinity : op == .min ? .infinity : 0
                    for j in 0..<n {
                        let v = load(x, (r * n + j) * inner + i)
                        switch op {
                        case .sum: acc += v
                        case .prod: acc *= v
                        case .max: if v > acc || v.isNaN { acc = v }
                        case .min: if v < acc || v.isNaN { acc = v }
                        }
                        if (op == .max || op == .min) && acc.isNaN { break }
                    }
                    store(out, r * inner + i, acc)
                }
            }
        }
    }

    public func argReduce(max: Bool, _ x: Operand, _ out: Operand, outer: Int, n: Int, inner: Int) {
        precondition(n > 0, "argmax/argmin: reduced dimension is empty")
        for r in 0..<outer {
            for i in 0..<inner {
                var best = load(x, r * n * inner + i), bi = 0
                for j in 1..<Swift.max(n, 1) where !best.isNaN {
                    let v = load(x, (r * n + j) * inner + i)
                    if v.isNaN || (max ? v > best : v < best) { best = v; bi = j }
                }
                storeInt(out, r * inner + i, Int64(bi))
            }
        }
    }

    public func softmax(log: Bool, _ x: Operand, _ out: Operand, outer: Int, n: Int, inner: Int) {
        for r in 0..<outer {
            for i in 0..<inner {
                let idx = (0..<n).map { (r * n + $0) * inner + i }
                let v = idx.map { load(x, $0) }
                var m = v.reduce(-Double.infinity) { ($1 > $0 || $1.isNaN || $0.isNaN) ? ($0.isNaN ? $0 : $1) : $0 }
                if m == -.infinity { m = 0 }
                let s = v.reduce(0) { $0 + Foundation.exp($1 - m) }
                for (k, j) in idx.enumerated() {
                    store(out, j, log ? v[k] - m - Foundation.log(s) : Foundation.exp(v[k] - m) / s)
                }
            }
        }
    }

    public func softmaxBackward(log: Bool, y: Operand, g: Operand, _ out: Operand, outer: Int, n: Int, inner: Int) {
        for r in 0..<outer {
            for i in 0..<inner {
                let idx = (0..<n).map { (r * n + $0) * inner + i }
                let s = log ? idx.reduce(0) { $0 + load(g, $1) } : idx.reduce(0) { $0 + load(g, $1) * load(y, $1) }
                for j in idx {
                    store(out, j, log ? load(g, j) - Foundation.exp(load(y, j)) * s : load(y, j) * (load(g, j) - s))
                }
            }
        }
    }

    public func cumsum(_ x: Operand, _ out: Operand, outer: Int, n: Int, inner: Int) {
        for r in 0..<outer {
            for i in 0..<inner {
                var acc = 0.0, iacc: Int64 = 0
                for j in 0..<n {
                    let k = (r * n + j) * inner + i
                    if isInteger(x.dtype) { iacc = iacc &+ loadInt(x, k); storeInt(out, k, iacc) } else { acc += load(x, k); store(out, k, acc) }
                }
            }
        }
    }

    public func gather(_ x: Operand, index: Operand, _ out: Operand, outer: Int, n: Int, m: Int, inner: Int) {
        for o in 0..<outer { for j in 0..<m { for i in 0..<inner {
            let k = (o * m + j) * inner + i
            let ix = Int(loadInt(index, k))
            precondition(ix >= 0 && ix < n, "gather: index \(ix) is out of range for a dimension of size \(n)")
            copyElement(x, (o * n + ix) * inner + i, out, k)
        } } }
    }

    public func scatterAdd(_ src: Operand, index: Operand, _ out: Operand, outer: Int, n: Int, m: Int, inner: Int) {
        for o in 0..<outer { for j in 0..<m { for i in 0..<inner {
            let k = (o * m + j) * inner + i
            let ix = Int(loadInt(index, k))
            precondition(ix >= 0 && ix < n, "scatterAdd: index \(ix) is out of range for a dimension of size \(n)")
            let d = (o * n + ix) * inner + i
            store(out, d, load(out, d) + load(src, k))
        } } }
    }

    public func indexSelect(_ x: Operand, index: Operand, _ out: Operand, outer: Int, n: Int, m: Int, inner: Int) {
        for o in 0..<outer { for j in 0..<m {
            let ix = Int(loadInt(index, j))
            precondition(ix >= 0 && ix < n, "indexSelect: index \(ix) is out of range for a dimension of size \(n)")
            for i in 0..<inner { copyElement(x, (o * n + ix) * inner + i, out, (o * m + j) * inner + i) }
        } }
    }

    public func indexAdd(_ src: Operand, index: Operand, _ out: Operand, outer: Int, n: Int, m: Int, inner: Int) {
        for o in 0..<outer { for j in 0..<m {
            let ix = Int(loadInt(index, j))
            precondition(ix >= 0 && ix < n, "indexAdd: index \(ix) is out of range for a dimension of size \(n)")
            for i in 0..<inner {
                let d = (o * n + ix) * inner + i
                store(out, d, load(out, d) + load(src, (o * m + j) * inner + i))
            }
        } }
    }

    private func copyElement(_ src: Operand, _ i: Int, _ dst: Operand, _ j: Int) {
        let es = src.dtype.byteSize
        (dst.pointer + j * es).copyMemory(from: src.pointer + i * es, byteCount: es)
    }

    // MARK: linear algebra and images

    public func gemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Double, a: Operand, lda: Int,
                     b: Operand, ldb: Int, beta: Double, c: Operand, ldc: Int) {
        for i in 0..<m {
            for j in 0..<n {
                var acc = 0.0
                for p in 0..<k {
                    acc += load(a, transA ? p * lda + i : i * lda + p) * load(b, transB ? j * ldb + p : p * ldb + j)
                }
                let old = beta == 0 ? 0 : beta * load(c, i * ldc + j)
                store(c, i * ldc + j, alpha * acc + old)
            }
        }
    }

    // MARK: convolution: the definition, one output (or gradient) element at a time

    /// Calls body(n, o, oy, ox, c, ki, kj, x index) for every tap of every output position that falls inside the
    /// image (`c` the channel within the group; the x index is flat in [N, C, H, W]).
    private func convTaps(_ s: Conv2dShape, _ body: (Int, Int, Int, Int, Int, Int, Int, Int) -> Void) {
        let g = s.geometry, og = s.groupOutChannels
        for n in 0..<s.batch {
            for o in 0..<s.outChannels {
                let gi = o / og
                for oy in 0..<g.outH {
                    for ox in 0..<g.outW {
                        for c in 0..<g.channels {
                            for ki in 0..<g.kernelH {
                                for kj in 0..<g.kernelW {
                                    let iy = oy * g.strideH - g.padH + ki * g.dilationH
                                    let ix = ox * g.strideW - g.padW + kj * g.dilationW
                                    guard iy >= 0 && iy < g.height && ix >= 0 && ix < g.width else { continue }
                                    let xi = ((n * s.inChannels + gi * g.channels + c) * g.height + iy) * g.width + ix
                                    body(n, o, oy, ox, c, ki, kj, xi)
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    private func convCheck(_ op: String, _ dtype: DType) {
        precondition(dtype == .float32 || dtype == .float64,
                     "\(op): needs a float32 or float64 tensor, got \(dtype) (cast half tensors to float32)")
    }

    public func conv2dForward(_ x: Operand, weight: Operand, bias: Operand?, _ out: Operand, _ s: Conv2dShape) {
        convCheck("conv2d", x.dtype)
        let g = s.geometry, L = g.outH * g.outW
        var acc = [Double](repeating: 0, count: s.batch * s.outChannels * L)
        convTaps(s) { n, o, oy, ox, c, ki, kj, xi in
            let wi = ((o * g.channels + c) * g.kernelH + ki) * g.kernelW + kj
            acc[(n * s.outChannels + o) * L + oy * g.outW + ox] += load(x, xi) * load(weight, wi)
        }
        for (i, v) in acc.enumerated() { store(out, i, v + (bias.map { load($0, (i / L) % s.outChannels) } ?? 0)) }
    }

    public func conv2dInputGrad(_ g: Operand, weight: Operand, _ gx: Operand, _ s: Conv2dShape) {
        convCheck("conv2d input gradient", g.dtype)
        let geo = s.geometry, L = geo.outH * geo.outW
        var acc = [Double](repeating: 0, count: s.batch * s.inChannels * geo.height * geo.width)
        convTaps(s) { n, o, oy, ox, c, ki, kj, xi in
            let wi = ((o * geo.channels + c) * geo.kernelH + ki) * geo.kernelW + kj
            acc[xi] += load(g, (n * s.outChannels + o) * L + oy * geo.outW + ox) * load(weight, wi)
        }
        for (i, v) in acc.enumerated() { store(gx, i, v) }
    }

    public func conv2dWeightGrad(_ x: Operand, _ g: Operand, _ gw: Operand, _ s: Conv2dShape) {
        convCheck("conv2d weight gradient", x.dtype)
        let geo = s.geometry, L = geo.outH * geo.outW
        var acc = [Double](repeating: 0, count: s.outChannels * s.columnRows)
        convTaps(s) { n, o, oy, ox, c, ki, kj, xi in
            let wi = ((o * geo.channels + c) * geo.kernelH + ki) * geo.kernelW + kj
            acc[wi] += load(g, (n * s.outChannels + o) * L + oy * geo.outW + ox) * load(x, xi)
        }
        for (i, v) in acc.enumerated() { store(gw, i, v) }
    }

    // MARK: batch norm: sums in double, element by element

    public func batchNormStats(_ x: Operand, _ stats: Operand, batch: Int, channels: Int, inner: Int) {
        let M = Double(batch * inner)
        for c in 0..<channels {
            var sum = 0.0, sq = 0.0
            for n in 0..<batch { for i in 0..<inner { sum += load(x, (n * channels + c) * inner + i) } }
            let mean = sum / M
            for n in 0..<batch { for i in 0..<inner { let d = load(x, (n * channels + c) * inner + i) - mean; sq += d * d } }
            store(stats, c, mean)
            store(stats, channels + c, sq / M)
        }
    }

    public func batchNormApply(_ x: Operand, stats: Operand, weight: Operand?, bias: Operand?, _ y: Operand, batch: Int,
                               channels: Int, inner: Int, eps: Double) {
        for n in 0..<batch {
            for c in 0..<channels {
                let mean = load(stats, c), invstd = 1 / (load(stats, channels + c) + eps).squareRoot()
                let w = weight.map { load($0, c) } ?? 1, b = bias.map { load($0, c) } ?? 0
                for i in 0..<inner {
                    let k = (n * channels + c) * inner + i
                    store(y, k, (load(x, k) - mean) * invstd * w + b)
                }
            }
        }
    }

    public func batchNormBackward(_ g: Operand, _ x: Operand, stats: Operand, weight: Operand?, gx: Operand?,
                                  gweight: Operand?, gbias: Operand?, batch: Int, channels: Int, inner: Int, eps: Double) {
        let M = Double(batch * inner)
        for c in 0..<channels {
            let mean = load(stats, c), invstd = 1 / (load(stats, channels + c) + eps).squareRoot()
            let w = weight.map { load($0, c) } ?? 1
            var sg = 0.0, sgxhat = 0.0
            for n in 0..<batch {
                for i in 0..<inner {
                    let k = (n * channels + c) * inner + i
                    sg += load(g, k)
                    sgxhat += load(g, k) * (load(x, k) - mean) * invstd
                }
            }
            if let gbias { store(gbias, c, sg) }
            if let gweight { store(gweight, c, sgxhat) }
            guard let gx else { continue }
            for n in 0..<batch {
                for i in 0..<inner {
                    let k = (n * channels + c) * inner + i
                    let xhat = (load(x, k) - mean) * invstd
                    store(gx, k, w * invstd * (load(g, k) - sg / M - xhat * sgxhat / M))
                }
            }
        }
    }

    /// Mean and 1 / sqrt(biased variance + eps) of row `row` (two passes in double).
    private func layerNormRowStats(_ x: Operand, row r: Int, cols: Int, eps: Double) -> (Double, Double) {
        var mean = 0.0, sq = 0.0
        for i in 0..<cols { mean += load(x, r * cols + i) }
        mean /= Double(cols)
        for i in 0..<cols { let d = load(x, r * cols + i) - mean; sq += d * d }
        return (mean, 1 / (sq / Double(cols) + eps).squareRoot())
    }

    public func layerNormForward(_ x: Operand, weight: Operand?, bias: Operand?, _ y: Operand, rows: Int, cols: Int,
                                 eps: Double) {
        for r in 0..<rows {
            let (mean, invstd) = layerNormRowStats(x, row: r, cols: cols, eps: eps)
            for i in 0..<cols {
                let w = weight.map { load($0, i) } ?? 1, b = bias.map { load($0, i) } ?? 0
                store(y, r * cols + i, (load(x, r * cols + i) - mean) * invstd * w + b)
            }
        }
    }

    public func layerNormBackward(_ g: Operand, _ x: Operand, weight: Operand?, gx: Operand?, gweight: Operand?,
                                  gbias: Operand?, rows: Int, cols: Int, eps: Double) {
        var gw = [Double](repeating: 0, count: cols), gb = [Double](repeating: 0, count: cols)
        for r in 0..<rows {
            let (mean, invstd) = layerNormRowStats(x, row: r, cols: cols, eps: eps)
            var a = 0.0, b = 0.0
            for i in 0..<cols {
                let k = r * cols + i, xhat = (load(x, k) - mean) * invstd, gv = load(g, k)
                let gh = gv * (weight.map { load($0, i) } ?? 1)
                a += gh
                b += gh * xhat
                gw[i] += gv * xhat
                gb[i] += gv
            }
            guard let gx else { continue }
            for i in 0..<cols {
                let k = r * cols + i, xhat = (load(x, k) - mean) * invstd
                let gh = load(g, k) * (weight.map { load($0, i) } ?? 1)
                store(gx, k, invstd * (gh - a / Double(cols) - xhat * b / Double(cols)))
            }
        }
        for i in 0..<cols {
            if let gweight { store(gweight, i, gw[i]) }
            if let gbias { store(gbias, i, gb[i]) }
        }
    }

    /// The input positions (flat within one plane) of output (oy, ox)'s window, padding excluded.
    private func window(_ oy: Int, _ ox: Int, _ g: Conv2dGeometry) -> [Int] {
        var out: [Int] = []
        for ki in 0..<g.kernelH {
            let iy = oy * g.strideH - g.padH + ki * g.dilationH
            guard iy >= 0 && iy < g.height else { continue }
            for kj in 0..<g.kernelW {
                let ix = ox * g.strideW - g.padW + kj * g.dilationW
                if ix >= 0 && ix < g.width { out.append(iy * g.width + ix) }
            }
        }
        return out
    }

    public func maxPool2d(_ x: Operand, _ out: Operand, indices: Operand, planes: Int, _ g: Conv2dGeometry) {
        let hw = g.height * g.width, L = g.outH * g.outW
        for p in 0..<planes {
            for oy in 0..<g.outH {
                for ox in 0..<g.outW {
                    // PyTorch's rule: the last NaN of the window, else the first maximum.
                    var best = -Double.infinity, bi = -1
                    for pos in window(oy, ox, g) {
                        let v = load(x, p * hw + pos)
                        if v.isNaN || bi < 0 || (!best.isNaN && v > best) { best = v; bi = pos }
                    }
                    let o = p * L + oy * g.outW + ox
                    store(out, o, best)
                    storeInt(indices, o, Int64(bi))
                }
            }
        }
    }

    public func maxPool2dBackward(_ g: Operand, indices: Operand, _ out: Operand, planes: Int, _ geo: Conv2dGeometry) {
        let hw = geo.height * geo.width, L = geo.outH * geo.outW
        for i in 0..<(planes * hw) { store(out, i, 0) }
        for p in 0..<planes {
            for j in 0..<L {
                let ix = Int(loadInt(indices, p * L + j))
                guard ix >= 0 else { continue }
                store(out, p * hw + ix, load(out, p * hw + ix) + load(g, p * L + j))
            }
        }
    }

    /// PyTorch's average-pooling divisor for output (oy, ox).
    private func divisor(_ oy: Int, _ ox: Int, _ g: Conv2dGeometry, includePad: Bool) -> Double {
        func span(_ o: Int, _ s: Int, _ p: Int, _ k: Int, _ size: Int) -> (Int, Int) {
            let start = o * s - p, end = Swift.min(start + k, size + p)
            return (end - start, Swift.min(end, size) - Swift.max(start, 0))
        }
        let (fh, h) = span(oy, g.strideH, g.padH, g.kernelH, g.height), (fw, w) = span(ox, g.strideW, g.padW, g.kernelW, g.width)
        return Double(includePad ? fh * fw : Swift.max(h * w, 1))
    }

    public func avgPool2d(_ x: Operand, _ out: Operand, planes: Int, _ g: Conv2dGeometry, countIncludePad: Bool) {
        let hw = g.height * g.width, L = g.outH * g.outW
        for p in 0..<planes {
            for oy in 0..<g.outH {
                for ox in 0..<g.outW {
                    let s = window(oy, ox, g).reduce(0.0) { $0 + load(x, p * hw + $1) }
                    store(out, p * L + oy * g.outW + ox, s / divisor(oy, ox, g, includePad: countIncludePad))
                }
            }
        }
    }

    public func avgPool2dBackward(_ g: Operand, _ out: Operand, planes: Int, _ geo: Conv2dGeometry, countIncludePad: Bool) {
        let hw = geo.height * geo.width, L = geo.outH * geo.outW
        for p in 0..<planes {
            for oy in 0..<geo.outH {
                for ox in 0..<geo.outW {
                    let gv = load(g, p * L + oy * geo.outW + ox) / divisor(oy, ox, geo, includePad: countIncludePad)
                    for pos in window(oy, ox, geo) { store(out, p * hw + pos, load(out, p * hw + pos) + gv) }
                }
            }
        }
    }

    // MARK: randomness and the optimizer

    public func random(_ out: Operand, count: Int, normal: Bool, key: (UInt32, UInt32), counter: UInt64) {
        for i in 0..<count { store(out, i, Philox.sample(key: key, counter: counter &+ UInt64(i), normal: normal, dtype: out.dtype)) }
    }

    public func axpby(_ x: Operand, alpha: Double, _ y: Operand, beta: Double, count: Int) {
        for i in 0..<count { store(y, i, alpha * load(x, i) + beta * load(y, i)) }
    }

    public func adam(param: Operand, grad: Operand, m: Operand, v: Operand, count: Int, lr: Double, beta1: Double,
                     beta2: Double, eps: Double, step: Int, l2: Double, decoupledDecay: Double) {
        let c1 = 1 - Foundation.pow(beta1, Double(step)), c2 = 1 - Foundation.pow(beta2, Double(step))
        for i in 0..<count {
            let p = load(param, i)
            let gi = load(grad, i) + l2 * p
            let mi = load(m, i) * beta1 + (1 - beta1) * gi
            let vi = load(v, i) * beta2 + (1 - beta2) * gi * gi
            store(m, i, mi)
            store(v, i, vi)
            store(param, i, p * (1 - decoupledDecay) - lr / c1 * mi / (vi.squareRoot() / c2.squareRoot() + eps))
        }
    }
}

// MARK: fused recurrent cells: the plain formulas, element by element in double precision.
extension ReferenceBackend {
    private func sigmoid(_ v: Double) -> Double { 1 / (1 + Foundation.exp(-v)) }
    private func isPast(_ mask: Operand?, _ b: Int) -> Bool { mask.map { load($0, b) == 0 } ?? false }

    public func lstmCell(x: Operand, r: Operand, bias: Operand?, cPrev: Operand, hPrev: Operand, mask: Operand?,
                         saved: Operand, c: Operand, h: Operand, y: Operand, batch: Int, hidden H: Int) {
        for b in 0..<batch {
            for j in 0..<H {
                let k = b * H + j
                if isPast(mask, b) {
                    store(c, k, load(cPrev, k)); store(h, k, load(hPrev, k)); store(y, k, 0)
                    for q in 0..<5 { store(saved, b * 5 * H + q * H + j, 0) }
                    continue
                }
                // gate q's pre-activation: x + (W_hh h + b_hh)
                func pre(_ q: Int) -> Double {
                    load(x, b * 4 * H + q * H + j) + (load(r, b * 4 * H + q * H + j) + (bias.map { load($0, q * H + j) } ?? 0))
                }
                let i = sigmoid(pre(0)), f = sigmoid(pre(1)), g = Foundation.tanh(pre(2)), o = sigmoid(pre(3))
                let cNew = f * load(cPrev, k) + i * g, tc = Foundation.tanh(cNew)
                for (q, v) in [i, f, g, o, tc].enumerated() { store(saved, b * 5 * H + q * H + j, v) }
                store(c, k, cNew); store(h, k, o * tc); store(y, k, o * tc)
            }
        }
    }

    public func lstmCellBackward(saved: Operand, cPrev: Operand, dh: Operand, dy: Operand, dc: Operand, mask: Operand?,
                                 dGates: Operand, dBias: Operand?, batch: Int, hidden H: Int) {
        for b in 0..<batch {
            for j in 0..<H {
                let k = b * H + j
                if isPast(mask, b) {
                    for q in 0..<4 { store(dGates, b * 4 * H + q * H + j, 0) }
                    continue
                }
                let s = (0..<5).map { load(saved, b * 5 * H + $0 * H + j) }
                let (i, f, g, o, tc) = (s[0], s[1], s[2], s[3], s[4])
                let dhTotal = load(dh, k) + load(dy, k)
                // dL/dc through both the carried c and h = o tanh(c)
                let dcTotal = load(dc, k) + dhTotal * o * (1 - tc * tc)
                let grads = [dcTotal * g * i * (1 - i), dcTotal * load(cPrev, k) * f * (1 - f),
                             dcTotal * i * (1 - g * g), dhTotal * tc * o * (1 - o)]
                for (q, v) in grads.enumerated() {
                    store(dGates, b * 4 * H + q * H + j, v)
                    if let dBias { store(dBias, q * H + j, load(dBias, q * H + j) + v) }
                }
                store(dc, k, dcTotal * f)
                store(dh, k, 0)
            }
        }
    }

    public func gruCell(x: Operand, r: Operand, bias: Operand?, hPrev: Operand, mask: Operand?, saved: Operand,
                        h: Operand, y: Operand, batch: Int, hidden H: Int) {
        for b in 0..<batch {
            for j in 0..<H {
                let k = b * H + j
                if isPast(mask, b) {
                    store(h, k, load(hPrev, k)); store(y, k, 0)
                    for q in 0..<4 { store(saved, b * 4 * H + q * H + j, 0) }
                    continue
                }
                func rec(_ q: Int) -> Double { load(r, b * 3 * H + q * H + j) + (bias.map { load($0, q * H + j) } ?? 0) }
                func inp(_ q: Int) -> Double { load(x, b * 3 * H + q * H + j) }
                let rg = sigmoid(inp(0) + rec(0)), z = sigmoid(inp(1) + rec(1)), hn = rec(2)
                let n = Foundation.tanh(inp(2) + rg * hn)
                let hNew = (1 - z) * n + z * load(hPrev, k)
                for (q, v) in [rg, z, n, hn].enumerated() { store(saved, b * 4 * H + q * H + j, v) }
                store(h, k, hNew); store(y, k, hNew)
            }
        }
    }

    public func gruCellBackward(saved: Operand, hPrev: Operand, dh: Operand, dy: Operand, mask: Operand?, dX: Operand,
                                dRec: Operand, dBias: Operand?, batch: Int, hidden H: Int) {
        for b in 0..<batch {
            for j in 0..<H {
                let k = b * H + j
                if isPast(mask, b) {
                    for q in 0..<3 { store(dX, b * 3 * H + q * H + j, 0); store(dRec, b * 3 * H + q * H + j, 0) }
                    continue
                }
                let s = (0..<4).map { load(saved, b * 4 * H + $0 * H + j) }
                let (rg, z, n, hn) = (s[0], s[1], s[2], s[3])
                let dhTotal = load(dh, k) + load(dy, k)
                let dnPre = dhTotal * (1 - z) * (1 - n * n)
                let dzPre = dhTotal * (load(hPrev, k) - n) * z * (1 - z)
                let drPre = dnPre * hn * rg * (1 - rg)
                for (q, v) in [drPre, dzPre, dnPre].enumerated() { store(dX, b * 3 * H + q * H + j, v) }
                for (q, v) in [drPre, dzPre, dnPre * rg].enumerated() {
                    store(dRec, b * 3 * H + q * H + j, v)
                    if let dBias { store(dBias, q * H + j, load(dBias, q * H + j) + v) }
                }
                store(dh, k, dhTotal * z)
            }
        }
    }
}
