import CEmberKernels
import Foundation

/// The reference backend: host memory from the caching allocator, OpenBLAS GEMM, vectorized C kernels for the
/// hot float32 paths, and generic Swift loops for the rest.
public final class CPUBackend: Backend {
    /// The process-wide CPU backend.
    public static let shared = CPUBackend()
    public var name: String { "cpu" }
    let allocator = CachingAllocator.shared

    init() {
        // GEMMs are split across Ember's own threads (see `gemm`), so OpenBLAS itself runs one thread unless
        // EMBER_BLAS_THREADS asks otherwise (with EMBER_GEMM_SPLIT=0, for comparison): idle BLAS workers would
        // otherwise spin against Ember's kernels, and a threaded BLAS makes results depend on its thread count.
        let env = ProcessInfo.processInfo.environment["EMBER_BLAS_THREADS"].flatMap(Int.init) ?? 1
        BLAS.setThreads(env)
        switch KernelVariant.requested() {
        case .success(let v?): _ = ek_select_variant(v.code)
        case .success(nil): _ = ek_active_variant()
        case .failure(let e): fatalError(e.message)
        }
    }

    /// Runs `init` (kernel build selection) if it has not run yet.
    func activate() {}

    public func allocate(byteCount: Int) -> (UnsafeMutableRawPointer, Int) { allocator.allocate(byteCount) }
    public func deallocate(_ pointer: UnsafeMutableRawPointer, capacity: Int) {
        allocator.release(pointer, size: capacity)
    }

    // MARK: copy and fill

    public func copy(_ src: Operand, into dst: Operand, shape: [Int]) {
        let loop = StridedLoop(shape: shape, strides: [src.strides, dst.strides])
        let sp = src.pointer, dp = dst.pointer
        if src.dtype == dst.dtype {
            let es = src.dtype.byteSize
            loop.forEachRow { off, n, inner in
                let s = sp + off[0] * es, d = dp + off[1] * es
                if inner[0] == 1 && inner[1] == 1 {
                    d.copyMemory(from: s, byteCount: n * es)
                    return
                }
                switch es {
                case 8: copyRow(s, d, n, inner[0], inner[1], UInt64.self)
                case 4: copyRow(s, d, n, inner[0], inner[1], UInt32.self)
                case 2: copyRow(s, d, n, inner[0], inner[1], UInt16.self)
                default: copyRow(s, d, n, inner[0], inner[1], UInt8.self)
                }
            }
            return
        }
        let st = src.dtype, dt = dst.dtype
        loop.forEachRow { off, n, inner in
            if convertRow(sp, st, off[0], inner[0], dp, dt, off[1], inner[1], n) { return }
            for i in 0..<n {
                storeDouble(dp, off[1] + i * inner[1], dt, loadDouble(sp, off[0] + i * inner[0], st))
            }
        }
    }

    @inline(__always)
    private func copyRow<T>(_ s: UnsafeMutableRawPointer, _ d: UnsafeMutableRawPointer, _ n: Int, _ ss: Int, _ ds: Int,
                            _: T.Type) {
        let sp = s.assumingMemoryBound(to: T.self), dp = d.assumingMemoryBound(to: T.self)
        for i in 0..<n { dp[i * ds] = sp[i * ss] }
    }

    public func fill(_ dst: Operand, count: Int, value: Double) {
        switch dst.dtype {
        case .float32: dst.pointer.assumingMemoryBound(to: Float.self).update(repeating: Float(value), count: count)
        case .float64: dst.pointer.assumingMemoryBound(to: Double.self).update(repeating: value, count: count)
        case .int32: dst.pointer.assumingMemoryBound(to: Int32.self).update(repeating: Int32(value), count: count)
        case .int64: dst.pointer.assumingMemoryBound(to: Int64.self).update(repeating: Int64(value), count: count)
        case .bool: dst.pointer.assumingMemoryBound(to: Bool.self).update(repeating: value != 0, count: count)
        case .uint8: dst.pointer.assumingMemoryBound(to: UInt8.self).update(repeating: uint8Wrapping(value), count: count)
        case .float16, .bfloat16:
            var bits: UInt16 = 0
            storeDouble(&bits, 0, dst.dtype, value)
            dst.pointer.assumingMemoryBound(to: UInt16.self).update(repeating: bits, count: count)
        }
    }

    // MARK: unary

    static let cUnaryCodes: [UnaryOp: Int32] = [
        .exp: 0, .relu: 1, .neg: 2, .sigmoid: 3, .tanh: 4, .square: 5, .sqrt: 6, .abs: 7, .gelu: 8, .geluGrad: 9,
    ]

    public func unary(_ op: UnaryOp, _ x: Operand, _ out: Operand, count: Int) {
        switch x.dtype {
        case .float32:
            let xp = x.pointer.assumingMemoryBound(to: Float.self), op2 = out.pointer.assumingMemoryBound(to: Float.self)
            if let code = Self.cUnaryCodes[op] {
                parallelFor(count, grain: 1 << 15) { s, e in ek_unary_f32(code, xp + s, op2 + s, e - s) }
            } else {
                unaryGeneric(op, xp, op2, count)
            }
        case .float64:
            unaryGeneric(op, x.pointer.assumingMemoryBound(to: Double.self), out.pointer.assumingMemoryBound(to: Double.self), count)
        case .float16, .bfloat16:
            unaryViaFloat32(op, x, out, count: count)
        default:
            unaryInteger(op, x, out, count)
        }
    }

    private func unaryInteger(_ op: UnaryOp, _ x: Operand, _ out: Operand, _ count: Int) {
        for i in 0..<count {
            let v = loadDouble(x.pointer, i, x.dtype)
            let r: Double
            switch op {
            case .neg: r = -v
            case .abs: r = Swift.abs(v)
            case .sign: r = v > 0 ? 1 : (v < 0 ? -1 : 0)
            case .square: r = v * v
            case .relu: r = Swift.max(v, 0)
            case .clamp(let lo, let hi): r = Swift.min(Swift.max(v, lo), hi)
            case .affine(let a, let b): r = a * v + b
            default: preconditionFailure("unary \(op): not defined for \(x.dtype) tensors")
            }
            storeDouble(out.pointer, i, out.dtype, r)
        }
    }

    private func unaryGeneric<T: KernelFloat>(_ op: UnaryOp, _ x: UnsafeMutablePointer<T>, _ out: UnsafeMutablePointer<T>, _ n: Int) {
        @inline(__always) func map(_ f: (T) -> T) {
            withoutActuallyEscaping(f) { f in
                let box = UncheckedSendable(value: f)
                parallelFor(n, grain: 1 << 14) { s, e in for i in s..<e { out[i] = box.value(x[i]) } }
            }
        }
        let half: T = 0.5, one: T = 1, two: T = 2
        let sqrt2: T = T(2.0.squareRoot())
        let k0: T = T((2 / Double.pi).squareRoot()), k1: T = 0.044715
        switch op {
        case .neg: map { -$0 }
        case .exp: map { T.exp($0) }
        case .log: map { T.log($0) }
        case .log1p: map { T.log1p($0) }
        case .expm1: map { T.expm1($0) }
        case .sqrt: map { $0.squareRoot() }
        case .rsqrt: map { one / $0.squareRoot() }
        case .abs: map { Swift.abs($0) }
        case .sign: map { $0 > 0 ? one : ($0 < 0 ? -one : 0) }
        case .signGradZero: map { _ in 0 }
        case .sin: map { T.sin($0) }
        case .cos: map { T.cos($0) }
        case .tanh: map { T.tanh($0) }
        case .sigmoid: map { one / (one + T.exp(-$0)) }
        // PyTorch's relu keeps NaN and -0.0 (x < 0 ? 0 : x); its gradient is 0 only where relu(x) <= 0, so 1 at NaN.
        case .relu: map { $0 < 0 ? 0 : $0 }
        case .reluGrad: map { $0 <= 0 ? 0 : one }
        case .square: map { $0 * $0 }
        case .reciprocal: map { one / $0 }
        case .erf: map { T.erf($0) }
        case .leakyRelu(let a): let a = T(a); map { $0 > 0 ? $0 : a * $0 }
        case .leakyReluGrad(let a): let a = T(a); map { $0 > 0 ? one : a }
        case .elu(let a): let a = T(a); map { $0 > 0 ? $0 : a * T.expm1($0) }
        case .eluGrad(let a): let a = T(a); map { $0 > 0 ? one : a * T.exp($0) }
        case .gelu: map { half * $0 * (one + T.erf($0 / sqrt2)) }
        case .geluGrad: map { geluDerivative($0) }
        case .geluTanh: map { half * $0 * (one + T.tanh(k0 * ($0 + k1 * $0 * $0 * $0))) }
        case .geluTanhGrad:
            map { v in
                let u = k0 * (v + k1 * v * v * v), t = T.tanh(u)
                return half * (one + t) + half * v * (one - t * t) * k0 * (one + 3 * k1 * v * v)
            }
        case .silu: map { $0 / (one + T.exp(-$0)) }
        case .siluGrad: map { v in let s = one / (one + T.exp(-v)); return s * (one + v * (one - s)) }
        case .softplus(let beta, let th):
            let b = T(beta), t = T(th)
            map { v in b * v > t ? v : T.log1p(T.exp(b * v)) / b }
        case .softplusGrad(let beta, let th):
            let b = T(beta), t = T(th)
            map { v in b * v > t ? one : one / (one + T.exp(-b * v)) }
        // As PyTorch's clamp: NaN stays NaN, and x itself (not the bound) on a tie, so clamp(-0.0, min: 0) = -0.0.
        case .clamp(let lo, let hi): let l = T(lo), h = T(hi); map { $0 < l ? l : ($0 > h ? h : $0) }
        case .clampGrad(let lo, let hi): let l = T(lo), h = T(hi); map { $0 >= l && $0 <= h ? one : 0 }
        case .affine(let a, let b): let a = T(a), b = T(b); map { a * $0 + b }
        case .powScalar(let p):
            let pp = T(p)
            if p == 2 { map { $0 * $0 } } else if p == 0.5 { map { $0.squareRoot() } } else { map { T.pow($0, pp) } }
        }
        _ = two
    }

    // MARK: binary

    public func binary(_ op: BinaryOp, _ a: Operand, _ b: Operand, _ out: Operand, shape: [Int]) {
        precondition(a.dtype == b.dtype, "binary \(op): operand dtypes \(a.dtype) and \(b.dtype) differ")
        let loop = StridedLoop(shape: shape, strides: [a.strides, b.strides, contiguousStrides(shape)])
        if loop.isEmpty { return }
        switch a.dtype {
        case .float32: binaryTyped(op, a, b, out, loop, Float.self)
        case .float64: binaryTyped(op, a, b, out, loop, Double.self)
        case .int32: binaryTyped(op, a, b, out, loop, Int32.self)
        case .int64: binaryTyped(op, a, b, out, loop, Int64.self)
        case .bool: binaryBool(op, a, b, out, loop)
        case .uint8: binaryUInt8(op, a, b, out, loop)
        case .float16, .bfloat16: binaryViaFloat32(op, a, b, out, shape: shape)
        }
    }

    public func binaryScalar(_ op: BinaryOp, _ a: Operand, _ scalar: Double, reversed: Bool, _ out: Operand,
                             shape: [Int]) {
        // The scalar lives in a register-sized local, seen by the broadcasting kernels with all strides 0.
        let half = a.dtype == .float16 || a.dtype == .bfloat16
        let dt: DType = half ? .float32 : a.dtype
        var source = scalar, converted: UInt64 = 0, rounded: UInt64 = 0
        withUnsafeMutablePointer(to: &source) { sp in
            withUnsafeMutablePointer(to: &converted) { cp in
                let d = Operand(pointer: UnsafeMutableRawPointer(sp), strides: [], dtype: .float64)
                if half && !(op == .div || (op == .mul && !reversed)) {
                    // PyTorch rounds the number to the half type first for everything but products and quotients
                    withUnsafeMutablePointer(to: &rounded) { rp in
                        let h = Operand(pointer: UnsafeMutableRawPointer(rp), strides: [], dtype: a.dtype)
                        copy(d, into: h, shape: [])
                        copy(h, into: Operand(pointer: UnsafeMutableRawPointer(cp), strides: [], dtype: dt), shape: [])
                    }
                } else {
                    copy(d, into: Operand(pointer: UnsafeMutableRawPointer(cp), strides: [], dtype: dt), shape: [])
                }
                let s = Operand(pointer: UnsafeMutableRawPointer(cp), strides: shape.map { _ in 0 }, dtype: dt)
                if half {
                    let (t, a32) = float32Copy(a, shape: shape)
                    withExtendedLifetime(t) {
                        if op.isComparison {
                            binary(op, reversed ? s : a32, reversed ? a32 : s, out, shape: shape)
                        } else {
                            let r = Tensor.empty(shape, dtype: .float32, backend: self)
                            binary(op, reversed ? s : a32, reversed ? a32 : s, r.operand, shape: shape)
                            storeRounded(r, into: out, count: r.count)
                        }
                    }
                } else {
                    binary(op, reversed ? s : a, reversed ? a : s, out, shape: shape)
                }
            }
        }
    }

    static let cBinaryCodes: [BinaryOp: Int32] = [.add: 0, .sub: 1, .mul: 2, .div: 3, .maximum: 4, .minimum: 5]

    private func binaryTyped<T: KernelNumeric>(_ op: BinaryOp, _ a: Operand, _ b: Operand, _ out: Operand,
                                               _ loop: StridedLoop, _: T.Type) {
        let ap = a.pointer.assumingMemoryBound(to: T.self), bp = b.pointer.assumingMemoryBound(to: T.self)
        if op.isComparison {
            let op2 = out.pointer.assumingMemoryBound(to: Bool.self)
            @inline(__always) func cmp(_ f: (T, T) -> Bool) {
                loop.forEachRow { off, n, s in
                    let x = ap + off[0], y = bp + off[1], o = op2 + off[2]
                    for i in 0..<n { o[i] = f(x[i * s[0]], y[i * s[1]]) }
                }
            }
            switch op {
            case .eq: cmp(==)
            case .ne: cmp(!=)
            case .lt: cmp(<)
            case .le: cmp(<=)
            case .gt: cmp(>)
            case .ge: cmp(>=)
            case .logicalAnd: cmp { $0 != .zero && $1 != .zero }
            default: cmp { $0 != .zero || $1 != .zero }
            }
            return
        }
        let op2 = out.pointer.assumingMemoryBound(to: T.self)
        if T.self == Float.self && op == .reluBackward && loop.shape.count <= 1 && loop.strides[0].allSatisfy({ $0 == 1 })
            && loop.strides[1].allSatisfy({ $0 == 1 }) {
            let n = loop.shape.first ?? 1
            let fa = a.pointer.assumingMemoryBound(to: Float.self), fb = b.pointer.assumingMemoryBound(to: Float.self)
            let fo = out.pointer.assumingMemoryBound(to: Float.self)
            parallelFor(n, grain: 1 << 15) { s, e in ek_relu_backward_f32(fa + s, fb + s, fo + s, e - s) }
            return
        }
        if T.self == Float.self && op == .geluBackward && loop.shape.count <= 1 && loop.strides[0].allSatisfy({ $0 == 1 })
            && loop.strides[1].allSatisfy({ $0 == 1 }) {
            // GELU'(x) into a cache-sized piece of out, then times g in place: one pass over memory.
            let n = loop.shape.first ?? 1
            let fa = a.pointer.assumingMemoryBound(to: Float.self), fb = b.pointer.assumingMemoryBound(to: Float.self)
            let fo = out.pointer.assumingMemoryBound(to: Float.self)
            parallelFor(n, grain: 1 << 15) { s, e in
                var i = s
                while i < e {
                    let m = Swift.min(4096, e - i)
                    ek_unary_f32(9, fa + i, fo + i, m)
                    ek_binary_f32(2, fo + i, 1, fb + i, 1, fo + i, m)
                    i += m
                }
            }
            return
        }
        if T.self == Float.self, let code = Self.cBinaryCodes[op] {
            let fa = a.pointer.assumingMemoryBound(to: Float.self), fb = b.pointer.assumingMemoryBound(to: Float.self)
            let fo = out.pointer.assumingMemoryBound(to: Float.self)
            if loop.shape.count <= 1, loop.strides[0].allSatisfy({ $0 <= 1 }), loop.strides[1].allSatisfy({ $0 <= 1 }) {
                let n = loop.shape.first ?? 1
                let sa = loop.strides[0].first ?? 0, sb = loop.strides[1].first ?? 0
                parallelFor(n, grain: 1 << 15) { s, e in
                    ek_binary_f32(code, fa + s * sa, sa, fb + s * sb, sb, fo + s, e - s)
                }
                return
            }
            let rows = loop.rowCount
            let inner = loop.shape.last ?? 1
            if loop.strides[0].last! <= 1 && loop.strides[1].last! <= 1 && rows * inner >= (1 << 15) && Threading.threads > 1 {
                // Precompute row offsets, then split rows across threads.
                var offs: [(Int, Int, Int)] = []
                offs.reserveCapacity(rows)
                loop.forEachRow { off, _, _ in offs.append((off[0], off[1], off[2])) }
                let sa = loop.strides[0].last!, sb = loop.strides[1].last!
                offs.withUnsafeBufferPointer { ob in
                    parallelFor(rows, grain: max(1, (1 << 14) / max(inner, 1))) { s, e in
                        for r in s..<e {
                            ek_binary_f32(code, fa + ob[r].0, sa, fb + ob[r].1, sb, fo + ob[r].2, inner)
                        }
                    }
                }
                return
            }
            loop.forEachRow { off, n, s in
                if s[0] <= 1 && s[1] <= 1 {
                    ek_binary_f32(code, fa + off[0], s[0], fb + off[1], s[1], fo + off[2], n)
                } else {
                    self.rowApply(fa + off[0], s[0], fb + off[1], s[1], fo + off[2], n, code)
                }
            }
            return
        }
        @inline(__always) func arith(_ f: (T, T) -> T) {
            loop.forEachRow { off, n, s in
                let x = ap + off[0], y = bp + off[1], o = op2 + off[2]
                let s0 = s[0], s1 = s[1]
                for i in 0..<n { o[i] = f(x[i * s0], y[i * s1]) }
            }
        }
        switch op {
        case .add: arith { $0 + $1 }
        case .sub: arith { $0 - $1 }
        case .mul: arith { $0 * $1 }
        // NaN from either side propagates (PyTorch's maximum/minimum); on ties the first operand, as the C kernel.
        case .maximum: arith { a, b in (b > a || b != b) ? b : a }
        case .minimum: arith { a, b in (b < a || b != b) ? b : a }
        case .reluBackward: arith { $0 <= .zero ? .zero : $1 }
        case .div, .pow, .geluBackward:
            if T.self == Double.self {
                arithFloat(op, a, b, out, loop, Double.self)
            } else if T.self == Float.self {
                arithFloat(op, a, b, out, loop, Float.self)
            } else if op == .div {
                arith { x, y in T(fromDouble: (x.asDouble / y.asDouble).rounded(.towardZero)) }
            } else if op == .pow {
                arith { x, y in T(fromDouble: Foundation.pow(x.asDouble, y.asDouble)) }
            } else {
                preconditionFailure("gelu_backward: needs a floating-point tensor, got \(T.self)")
            }
        default: preconditionFailure("binary \(op) unsupported")
        }
    }

    /// GELU'(x) = Phi(x) + x phi(x) (exact GELU), for the generic (float64 and strided) paths.
    @inline(__always)
    private func geluDerivative<T: KernelFloat>(_ x: T) -> T {
        let half = T(0.5)
        return half * (1 + T.erf(x / T(2.0.squareRoot()))) + x * T(1 / (2 * Double.pi).squareRoot()) * T.exp(-half * x * x)
    }

    private func rowApply(_ a: UnsafePointer<Float>, _ sa: Int, _ b: UnsafePointer<Float>, _ sb: Int,
                          _ o: UnsafeMutablePointer<Float>, _ n: Int, _ code: Int32) {
        for i in 0..<n { ek_binary_f32(code, a + i * sa, 0, b + i * sb, 0, o + i, 1) }
    }

    private func arithFloat<T: KernelFloat>(_ op: BinaryOp, _ a: Operand, _ b: Operand, _ out: Operand,
                                            _ loop: StridedLoop, _: T.Type) {
        let ap = a.pointer.assumingMemoryBound(to: T.self), bp = b.pointer.assumingMemoryBound(to: T.self)
        let op2 = out.pointer.assumingMemoryBound(to: T.self)
        loop.forEachRow { off, n, s in
            let x = ap + off[0], y = bp + off[1], o = op2 + off[2]
            if op == .div {
                for i in 0..<n { o[i] = x[i * s[0]] / y[i * s[1]] }
            } else if op == .geluBackward {
                for i in 0..<n { o[i] = y[i * s[1]] * geluDerivative(x[i * s[0]]) }
            } else {
                for i in 0..<n { o[i] = T.pow(x[i * s[0]], y[i * s[1]]) }
            }
        }
    }

    private func binaryBool(_ op: BinaryOp, _ a: Operand, _ b: Operand, _ out: Operand, _ loop: StridedLoop) {
        let ap = a.pointer.assumingMemoryBound(to: Bool.self), bp = b.pointer.assumingMemoryBound(to: Bool.self)
        let op2 = out.pointer.assumingMemoryBound(to: Bool.self)
        let f: (Bool, Bool) -> Bool
        switch op {
        case .eq: f = (==)
        case .ne, .add: f = (!=)
        case .logicalAnd, .mul, .minimum: f = { $0 && $1 }
        case .logicalOr, .maximum: f = { $0 || $1 }
        case .gt: f = { $0 && !$1 }
        case .ge: f = { $0 || !$1 }
        case .lt: f = { !$0 && $1 }
        case .le: f = { !$0 || $1 }
        default: preconditionFailure("binary \(op): not defined for bool tensors")
        }
        loop.forEachRow { off, n, s in
            for i in 0..<n { op2[off[2] + i] = f(ap[off[0] + i * s[0]], bp[off[1] + i * s[1]]) }
        }
    }

    public func select(_ cond: Operand, _ a: Operand, _ b: Operand, _ out: Operand, shape: [Int]) {
        precondition(cond.dtype == .bool && a.dtype == b.dtype, "where: condition must be bool and branches of one dtype")
        let loop = StridedLoop(shape: shape, strides: [cond.strides, a.strides, b.strides, contiguousStrides(shape)])
        let es = a.dtype.byteSize
        let cp = cond.pointer.assumingMemoryBound(to: Bool.self)
        loop.forEachRow { off, n, s in
            for i in 0..<n {
                let src = cp[off[0] + i * s[0]] ? a.pointer + (off[1] + i * s[1]) * es : b.pointer + (off[2] + i * s[2]) * es
                (out.pointer + (off[3] + i) * es).copyMemory(from: src, byteCount: es)
            }
        }
    }
}

/// Row-major contiguous strides for a shape.
public func contiguousStrides(_ shape: [Int]) -> [Int] {
    var strides = [Int](repeating: 1, count: shape.count)
    var acc = 1
    for d in stride(from: shape.count - 1, through: 0, by: -1) {
        strides[d] = acc
        acc *= Swift.max(shape[d], 1)
    }
    return strides
}
