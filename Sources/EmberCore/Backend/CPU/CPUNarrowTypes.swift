/// The CPU kernels for the narrow dtypes: uint8 arithmetic (wrapping modulo 256, as PyTorch's), and float16 /
/// bfloat16 compute done in float32 (operands converted to float32 scratch, the float32 kernel run, the result
/// rounded back once), which is what `DType` documents.
extension CPUBackend {
    // MARK: conversion rows

    /// Converts one strided row for the common dtype pairs (float32 <-> float16/bfloat16, uint8 -> float32, integers
    /// -> uint8) without going through Double; returns false for other pairs (the caller's generic path handles them).
    func convertRow(_ sp: UnsafeMutableRawPointer, _ st: DType, _ so: Int, _ ss: Int,
                    _ dp: UnsafeMutableRawPointer, _ dt: DType, _ doff: Int, _ ds: Int, _ n: Int) -> Bool {
        switch (st, dt) {
        case (.float32, .float16), (.float32, .bfloat16):
            let s = sp.assumingMemoryBound(to: Float.self) + so, d = dp.assumingMemoryBound(to: UInt16.self) + doff
            if dt == .float16 {
                for i in 0..<n { d[i * ds] = float16Bits(s[i * ss]) }
            } else {
                for i in 0..<n { d[i * ds] = bfloat16Bits(s[i * ss]) }
            }
        case (.float16, .float32), (.bfloat16, .float32):
            let s = sp.assumingMemoryBound(to: UInt16.self) + so, d = dp.assumingMemoryBound(to: Float.self) + doff
            if st == .float16 {
                for i in 0..<n { d[i * ds] = floatFromFloat16Bits(s[i * ss]) }
            } else {
                for i in 0..<n { d[i * ds] = floatFromBFloat16Bits(s[i * ss]) }
            }
        case (.uint8, .float32):
            let s = sp.assumingMemoryBound(to: UInt8.self) + so, d = dp.assumingMemoryBound(to: Float.self) + doff
            for i in 0..<n { d[i * ds] = Float(s[i * ss]) }
        // Integers to uint8 keep the low byte of the integer itself (a trip through Double would round int64).
        case (.int64, .uint8):
            let s = sp.assumingMemoryBound(to: Int64.self) + so, d = dp.assumingMemoryBound(to: UInt8.self) + doff
            for i in 0..<n { d[i * ds] = UInt8(truncatingIfNeeded: s[i * ss]) }
        case (.int32, .uint8):
            let s = sp.assumingMemoryBound(to: Int32.self) + so, d = dp.assumingMemoryBound(to: UInt8.self) + doff
            for i in 0..<n { d[i * ds] = UInt8(truncatingIfNeeded: s[i * ss]) }
        default:
            return false
        }
        return true
    }

    // MARK: float16 / bfloat16 through float32

    /// A float32 copy of `x` read over `shape`: dimensions `x` broadcasts (stride 0) stay size 1 in the copy and keep
    /// stride 0 in the returned operand, so a broadcast bias is not materialized. Keep the tensor alive while the
    /// operand is used.
    func float32Copy(_ x: Operand, shape: [Int]) -> (Tensor, Operand) {
        let compact = zip(shape, x.strides).map { $1 == 0 ? 1 : $0 }
        let t = Tensor.empty(compact, dtype: .float32, backend: self)
        copy(x, into: t.operand, shape: compact)
        var strides = contiguousStrides(compact)
        for d in 0..<strides.count where x.strides[d] == 0 { strides[d] = 0 }
        return (t, Operand(pointer: t.storage.pointer, strides: strides, dtype: .float32, owner: t.storage))
    }

    /// A float32 copy of `count` contiguous elements of `x`.
    func float32Copy(_ x: Operand, count: Int) -> (Tensor, Operand) {
        float32Copy(x.restrided([1]), shape: [count])
    }

    /// Rounds `count` contiguous float32 elements of `src` into `dst` (a half operand).
    func storeRounded(_ src: Tensor, into dst: Operand, count: Int) {
        copy(Operand(pointer: src.storage.pointer, strides: [1], dtype: .float32, owner: src.storage),
             into: dst.restrided([1]), shape: [count])
    }

    func unaryViaFloat32(_ op: UnaryOp, _ x: Operand, _ out: Operand, count: Int) {
        let (t, x32) = float32Copy(x, count: count)
        let r = Tensor.empty([count], dtype: .float32, backend: self)
        withExtendedLifetime(t) { unary(op, x32, r.operand, count: count) }
        storeRounded(r, into: out, count: count)
    }

    func binaryViaFloat32(_ op: BinaryOp, _ a: Operand, _ b: Operand, _ out: Operand, shape: [Int]) {
        let (ta, a32) = float32Copy(a, shape: shape), (tb, b32) = float32Copy(b, shape: shape)
        withExtendedLifetime((ta, tb)) {
            if op.isComparison {
                // float16 -> float32 is exact, so comparing in float32 is comparing the half values.
                binary(op, a32, b32, out, shape: shape)
            } else {
                let r = Tensor.empty(shape, dtype: .float32, backend: self)
                binary(op, a32, b32, r.operand, shape: shape)
                storeRounded(r, into: out, count: r.count)
            }
        }
    }

    func reduceViaFloat32(_ op: ReduceOp, _ x: Operand, _ out: Operand, outer: Int, n: Int, inner: Int) {
        let (t, x32) = float32Copy(x, count: outer * n * inner)
        let r = Tensor.empty([outer * inner], dtype: .float32, backend: self)
        withExtendedLifetime(t) { reduce(op, x32, r.operand, outer: outer, n: n, inner: inner) }
        storeRounded(r, into: out, count: outer * inner)
    }

    func softmaxViaFloat32(log: Bool, _ x: Operand, _ out: Operand, outer: Int, n: Int, inner: Int) {
        let (t, x32) = float32Copy(x, count: outer * n * inner)
        let r = Tensor.empty([outer * n * inner], dtype: .float32, backend: self)
        withExtendedLifetime(t) { softmax(log: log, x32, r.operand, outer: outer, n: n, inner: inner) }
        storeRounded(r, into: out, count: outer * n * inner)
    }

    func softmaxBackwardViaFloat32(log: Bool, y: Operand, g: Operand, _ out: Operand, outer: Int, n: Int, inner: Int) {
        let count = outer * n * inner
        let (ty, y32) = float32Copy(y, count: count), (tg, g32) = float32Copy(g, count: count)
        let r = Tensor.empty([count], dtype: .float32, backend: self)
        withExtendedLifetime((ty, tg)) { softmaxBackward(log: log, y: y32, g: g32, r.operand, outer: outer, n: n, inner: inner) }
        storeRounded(r, into: out, count: count)
    }

    func cumsumViaFloat32(_ x: Operand, _ out: Operand, outer: Int, n: Int, inner: Int) {
        let (t, x32) = float32Copy(x, count: outer * n * inner)
        let r = Tensor.empty([outer * n * inner], dtype: .float32, backend: self)
        withExtendedLifetime(t) { cumsum(x32, r.operand, outer: outer, n: n, inner: inner) }
        storeRounded(r, into: out, count: outer * n * inner)
    }

    /// GEMM on half matrices: A, B and C (when beta != 0) are converted to float32 over the rows and leading
    /// dimensions they span, multiplied by OpenBLAS, and C is rounded back.
    func gemmViaFloat32(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Double,
                        a: Operand, lda: Int, b: Operand, ldb: Int, beta: Double, c: Operand, ldc: Int) {
        precondition(a.dtype == c.dtype && b.dtype == c.dtype, "gemm: operands \(a.dtype), \(b.dtype), \(c.dtype) differ")
        // Elements a row-major matrix with `rows` rows of `cols` used columns and leading dimension `ld` spans.
        func span(_ rows: Int, _ cols: Int, _ ld: Int) -> Int { rows == 0 || cols == 0 ? 0 : (rows - 1) * ld + cols }
        let aCount = transA ? span(k, m, lda) : span(m, k, lda), bCount = transB ? span(n, k, ldb) : span(k, n, ldb)
        let cCount = span(m, n, ldc)
        let (ta, a32) = float32Copy(a, count: aCount), (tb, b32) = float32Copy(b, count: bCount)
        let (tc, c32) = float32Copy(c, count: cCount)
        withExtendedLifetime((ta, tb)) {
            gemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a32, lda: lda, b: b32, ldb: ldb,
                 beta: beta, c: c32, ldc: ldc)
        }
        // Only the m x n elements of C are written back (the gaps between rows of a strided C are left alone).
        for i in 0..<m {
            copy(Operand(pointer: tc.storage.pointer + i * ldc * 4, strides: [1], dtype: .float32, owner: tc.storage),
                 into: Operand(pointer: c.pointer + i * ldc * c.dtype.byteSize, strides: [1], dtype: c.dtype, owner: c.owner), shape: [n])
        }
    }

    // MARK: uint8

    /// uint8 arithmetic wraps modulo 256 (PyTorch's); comparisons give bool. True division never gets here
    /// (integer division promotes to float32 in the op).
    func binaryUInt8(_ op: BinaryOp, _ a: Operand, _ b: Operand, _ out: Operand, _ loop: StridedLoop) {
        let ap = a.pointer.assumingMemoryBound(to: UInt8.self), bp = b.pointer.assumingMemoryBound(to: UInt8.self)
        if op.isComparison {
            let o = out.pointer.assumingMemoryBound(to: Bool.self)
            @inline(__always) func cmp(_ f: (UInt8, UInt8) -> Bool) {
                loop.forEachRow { off, n, s in
                    for i in 0..<n { o[off[2] + i] = f(ap[off[0] + i * s[0]], bp[off[1] + i * s[1]]) }
                }
            }
            switch op {
            case .eq: cmp(==)
            case .ne: cmp(!=)
            case .lt: cmp(<)
            case .le: cmp(<=)
            case .gt: cmp(>)
            case .ge: cmp(>=)
            case .logicalAnd: cmp { $0 != 0 && $1 != 0 }
            default: cmp { $0 != 0 || $1 != 0 }
            }
            return
        }
        let o = out.pointer.assumingMemoryBound(to: UInt8.self)
        @inline(__always) func arith(_ f: (UInt8, UInt8) -> UInt8) {
            loop.forEachRow { off, n, s in
                for i in 0..<n { o[off[2] + i] = f(ap[off[0] + i * s[0]], bp[off[1] + i * s[1]]) }
            }
        }
        switch op {
        case .add: arith { $0 &+ $1 }
        case .sub: arith { $0 &- $1 }
        case .mul: arith { $0 &* $1 }
        case .maximum: arith { Swift.max($0, $1) }
        case .minimum: arith { Swift.min($0, $1) }
        case .reluBackward: arith { x, g in x == 0 ? 0 : g }
        case .geluBackward: preconditionFailure("gelu_backward: needs a floating-point tensor, got uint8")
        case .pow:
            // Exponentiation by squaring in wrapping arithmetic: x^y mod 256.
            arith { x, y in
                var result: UInt8 = 1, base = x, e = y
                while e > 0 {
                    if e & 1 == 1 { result = result &* base }
                    base = base &* base
                    e >>= 1
                }
                return result
            }
        default: preconditionFailure("binary \(op): not defined for uint8 tensors")
        }
    }

    /// Sum and product wrap modulo 256, max and min are exact.
    func reduceUInt8(_ op: ReduceOp, _ x: Operand, _ out: Operand, outer: Int, n: Int, inner: Int) {
        let xp = x.pointer.assumingMemoryBound(to: UInt8.self), o = out.pointer.assumingMemoryBound(to: UInt8.self)
        for r in 0..<outer {
            for i in 0..<inner {
                var acc: UInt8 = op == .sum ? 0 : (op == .prod ? 1 : (op == .max ? 0 : 255))
                for j in 0..<n {
                    let v = xp[(r * n + j) * inner + i]
                    switch op {
                    case .sum: acc = acc &+ v
                    case .prod: acc = acc &* v
                    case .max: acc = Swift.max(acc, v)
                    case .min: acc = Swift.min(acc, v)
                    }
                }
                o[r * inner + i] = acc
            }
        }
    }

    /// Running sums wrap modulo 256.
    func cumsumUInt8(_ x: Operand, _ out: Operand, outer: Int, n: Int, inner: Int) {
        let xp = x.pointer.assumingMemoryBound(to: UInt8.self), o = out.pointer.assumingMemoryBound(to: UInt8.self)
        for r in 0..<outer {
            for i in 0..<inner {
                var acc: UInt8 = 0
                for j in 0..<n {
                    let k = (r * n + j) * inner + i
                    acc = acc &+ xp[k]
                    o[k] = acc
                }
            }
        }
    }
}
