import CBLAS
import CEmberKernels
import Foundation
import Synchronization

/// How a GEMM is cut into single-threaded BLAS calls (see `CPUBackend.gemmPartition`).
struct GEMMPartition: Equatable, Sendable {
    /// Whether C is cut into column blocks (else row blocks).
    var alongColumns: Bool
    /// Block i spans bounds[i]..<bounds[i + 1] of the cut dimension.
    var bounds: [Int]
    var blocks: Int { Swift.max(bounds.count - 1, 1) }
    static let whole = GEMMPartition(alongColumns: true, bounds: [])
}

/// One single-threaded row-major GEMM: C[m,n] = alpha op(A) op(B) + beta C. Float32 runs Ember's own AVX-512 kernel
/// (CEmberKernels/sgemm_avx512.c) when the active kernel build is avx512, else OpenBLAS; float64 always OpenBLAS.
/// Either way the result depends only on the operands and the shape, never on the thread calling.
@inline(__always)
func singleThreadGemm<T: KernelFloat>(_ transA: Bool, _ transB: Bool, _ m: Int, _ n: Int, _ k: Int, _ alpha: T,
                                      _ a: UnsafePointer<T>, _ lda: Int, _ b: UnsafePointer<T>, _ ldb: Int, _ beta: T,
                                      _ c: UnsafeMutablePointer<T>, _ ldc: Int) {
    if m == 0 || n == 0 { return }
    let ta = transA ? CblasTrans : CblasNoTrans, tb = transB ? CblasTrans : CblasNoTrans
    if T.self == Float.self {
        let ap = UnsafeRawPointer(a).assumingMemoryBound(to: Float.self)
        let bp = UnsafeRawPointer(b).assumingMemoryBound(to: Float.self)
        let cp = UnsafeMutableRawPointer(c).assumingMemoryBound(to: Float.self)
        let al = unsafeBitCast(alpha, to: Float.self), be = unsafeBitCast(beta, to: Float.self)
        if ek_sgemm_f32(transA ? 1 : 0, transB ? 1 : 0, m, n, k, al, ap, lda, bp, ldb, be, cp, ldc) != 0 { return }
        cblas_sgemm(CblasRowMajor, ta, tb, Int32(m), Int32(n), Int32(k), al, ap, Int32(lda), bp, Int32(ldb), be, cp, Int32(ldc))
    } else {
        cblas_dgemm(CblasRowMajor, ta, tb, Int32(m), Int32(n), Int32(k), unsafeBitCast(alpha, to: Double.self),
                    UnsafeRawPointer(a).assumingMemoryBound(to: Double.self), Int32(lda),
                    UnsafeRawPointer(b).assumingMemoryBound(to: Double.self), Int32(ldb), unsafeBitCast(beta, to: Double.self),
                    UnsafeMutableRawPointer(c).assumingMemoryBound(to: Double.self), Int32(ldc))
    }
}

extension CPUBackend {
    public func gemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Double,
                     a: Operand, lda: Int, b: Operand, ldb: Int, beta: Double, c: Operand, ldc: Int) {
        if m == 0 || n == 0 { return }
        if c.dtype.isHalf {
            gemmViaFloat32(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb,
                           beta: beta, c: c, ldc: ldc)
            return
        }
        guard c.dtype.isFloatingPoint else {
            gemmInteger(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b,
                        ldb: ldb, beta: beta, c: c, ldc: ldc)
            return
        }
        // Large GEMMs are cut into blocks of C whose boundaries depend only on (m, n, k) (see `gemmPartition`), each
        // one single-threaded OpenBLAS call; Ember's threads take whole blocks. With any thread count the same calls
        // run on the same data, so results are bit-identical for 1, 2, 3 or 4 threads.
        let part = Threading.splitGEMM ? CPUBackend.gemmPartition(m: m, n: n, k: k) : GEMMPartition.whole
        let es = c.dtype.byteSize
        func call(_ m: Int, _ n: Int, _ a: UnsafeMutableRawPointer, _ b: UnsafeMutableRawPointer, _ cp: UnsafeMutableRawPointer) {
            if c.dtype == .float32 {
                singleThreadGemm(transA, transB, m, n, k, Float(alpha), a.assumingMemoryBound(to: Float.self), lda,
                                 b.assumingMemoryBound(to: Float.self), ldb, Float(beta), cp.assumingMemoryBound(to: Float.self), ldc)
            } else {
                singleThreadGemm(transA, transB, m, n, k, alpha, a.assumingMemoryBound(to: Double.self), lda,
                                 b.assumingMemoryBound(to: Double.self), ldb, beta, cp.assumingMemoryBound(to: Double.self), ldc)
            }
        }
        if part.blocks <= 1 {
            call(m, n, a.pointer, b.pointer, c.pointer)
            return
        }
        let ap = a.pointer, bp = b.pointer, cp = c.pointer, bounds = part.bounds
        if !part.alongColumns, c.dtype == .float32,
           let packed = prepareGemmB(transB: transB, k: k, n: n, b: b, ldb: ldb) as? PackedSGEMMB {
            // Row blocks share B: pack it once for all of them instead of once per block (same bits either way).
            let al = Float(alpha), be = Float(beta), pb = UnsafePointer(packed.pointer)
            withExtendedLifetime(packed) {
                parallelForEach(part.blocks) { blk in
                    let start = bounds[blk], size = bounds[blk + 1] - start
                    let done = ek_sgemm_f32_packed_b(transA ? 1 : 0, size, n, k, al,
                                                     (ap + (transA ? start : start * lda) * es).assumingMemoryBound(to: Float.self),
                                                     lda, pb, 0, be, (cp + start * ldc * es).assumingMemoryBound(to: Float.self), ldc)
                    precondition(done != 0, "gemm: the kernel build changed during a call")
                }
            }
            return
        }
        // Threads take the next block as they come free (`parallelForEach`): which thread runs a block changes no bit.
        parallelForEach(part.blocks) { blk in
            let start = bounds[blk], size = bounds[blk + 1] - start
            if part.alongColumns {
                // column block of C: B's columns (rows when transposed) move, A stays
                call(m, size, ap, bp + (transB ? start * ldb : start) * es, cp + start * es)
            } else {
                call(size, n, ap + (transA ? start : start * lda) * es, bp, cp + start * ldc * es)
            }
        }
    }

    /// Float32 B packed for Ember's AVX-512 kernel (nil for other dtypes or kernel builds).
    public func prepareGemmB(transB: Bool, k: Int, n: Int, b: Operand, ldb: Int) -> PreparedGemmB? {
        guard b.dtype == .float32, k > 0, n > 0 else { return nil }
        let floats = ek_sgemm_packed_b_floats(k, n)
        guard floats > 0 else { return nil }
        let p = PackedSGEMMB(k: k, n: n, floats: floats)
        // Panels of 32 columns shared among the threads (a copy: any cut gives the same bytes).
        let panels = (n + 31) / 32, bp = b.pointer.assumingMemoryBound(to: Float.self), dst = p.pointer
        let packed = Atomic<Bool>(true)
        parallelFor(panels, grain: Swift.max(1, 65536 / Swift.max(32 * k, 1))) { s, e in
            if ek_sgemm_pack_b_panels(transB ? 1 : 0, k, n, bp, ldb, dst, s, e) == 0 { packed.store(false, ordering: .relaxed) }
        }
        return packed.load(ordering: .relaxed) ? p : nil
    }

    /// The prepared GEMM, cut into column blocks as `gemmPartition` would (boundaries at multiples of 32, the packed
    /// panels' width) when more than one thread runs it; the same bits as the plain float32 GEMM on this kernel build.
    public func gemm(transA: Bool, m: Int, n: Int, k: Int, alpha: Double, a: Operand, lda: Int, preparedB: PreparedGemmB,
                     beta: Double, c: Operand, ldc: Int) {
        guard let pb = preparedB as? PackedSGEMMB, pb.k == k, pb.n == n, c.dtype == .float32, a.dtype == .float32 else {
            preconditionFailure("gemm(preparedB:): B was prepared as [\(preparedB.k), \(preparedB.n)] by another backend or dtype; "
                                + "this call has k \(k), n \(n), \(c.dtype)")
        }
        if m == 0 || n == 0 { return }
        let ap = a.pointer.assumingMemoryBound(to: Float.self), cp = c.pointer.assumingMemoryBound(to: Float.self)
        let packed = UnsafePointer(pb.pointer), al = Float(alpha), be = Float(beta)
        func call(_ col0: Int, _ cols: Int) {
            let done = ek_sgemm_f32_packed_b(transA ? 1 : 0, m, cols, k, al, ap, lda, packed, col0, be, cp + col0, ldc)
            precondition(done != 0, "gemm(preparedB:): the kernel build changed after B was prepared")
        }
        let flops = 2.0 * Double(m) * Double(n) * Double(k)
        let units = (n + 31) / 32
        // One thread: one call (the kernel's bits do not depend on how C is cut; each extra call packs A again).
        guard Threading.splitGEMM, flops >= 4_194_304, units >= 2, Threading.threads > 1 else {
            return withExtendedLifetime(pb) { call(0, n) }
        }
        let pieces = Swift.min(units, flops >= 2 * CPUBackend.gemmBlockFlops ? 4 : 2)
        withExtendedLifetime(pb) {
            parallelForEach(pieces) { i in
                let lo = Swift.min(n, units * i / pieces * 32), hi = Swift.min(n, units * (i + 1) / pieces * 32)
                if hi > lo { call(lo, hi - lo) }
            }
        }
    }

    /// The blocks a GEMM's C is cut into: a function of the shape alone. Below 2^22 flops, one call. Above, 2, 4 or 8
    /// blocks (one per `gemmBlockFlops`, rounded down to a power of two, at least 2) along the longer of m and n,
    /// as equal as possible with boundaries at multiples of 16, so that no boundary falls inside one of OpenBLAS's
    /// register tiles. Few, even blocks: each extra call packs the shared operand again.
    static func gemmPartition(m: Int, n: Int, k: Int) -> GEMMPartition {
        let flops = 2.0 * Double(m) * Double(n) * Double(k)
        let alongColumns = n >= m
        let dim = alongColumns ? n : m
        guard flops >= 4_194_304, dim >= 2 * gemmAlign else { return .whole }
        var pieces = 2
        while pieces * 2 <= gemmMaxBlocks && Double(pieces * 2) * gemmBlockFlops <= flops { pieces *= 2 }
        let units = (dim + gemmAlign - 1) / gemmAlign
        pieces = Swift.min(pieces, units)
        let bounds = (0...pieces).map { Swift.min(dim, units * $0 / pieces * gemmAlign) }
        return GEMMPartition(alongColumns: alongColumns, bounds: bounds)
    }

    static let gemmAlign = 16
    static let gemmMaxBlocks = ProcessInfo.processInfo.environment["EMBER_GEMM_MAX_BLOCKS"].flatMap(Int.init) ?? 8
    static let gemmBlockFlops = ProcessInfo.processInfo.environment["EMBER_GEMM_BLOCK_FLOPS"].flatMap(Double.init) ?? 67_108_864

    private func gemmInteger(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Double, a: Operand, lda: Int,
                             b: Operand, ldb: Int, beta: Double, c: Operand, ldc: Int) {
        for i in 0..<m {
            for j in 0..<n {
                var acc = 0.0
                for p in 0..<k {
                    let av = loadDouble(a.pointer, transA ? p * lda + i : i * lda + p, a.dtype)
                    let bv = loadDouble(b.pointer, transB ? j * ldb + p : p * ldb + j, b.dtype)
                    acc += av * bv
                }
                let old = beta == 0 ? 0 : loadDouble(c.pointer, i * ldc + j, c.dtype)
                storeDouble(c.pointer, i * ldc + j, c.dtype, alpha * acc + beta * old)
            }
        }
    }

    public func maxPool2d(_ x: Operand, _ out: Operand, indices: Operand, planes: Int, _ g: Conv2dGeometry) {
        switch x.dtype {
        case .float32:
            let xp = x.pointer.assumingMemoryBound(to: Float.self), op = out.pointer.assumingMemoryBound(to: Float.self)
            let ip = indices.pointer.assumingMemoryBound(to: Int64.self)
            let hw = g.height * g.width, L = g.outH * g.outW
            parallelFor(planes, grain: Swift.max(1, 4096 / Swift.max(L * g.kernelH * g.kernelW, 1))) { s, e in
                ek_maxpool2d_f32(xp + s * hw, op + s * L, ip + s * L, e - s, Int32(g.height), Int32(g.width),
                                 Int32(g.outH), Int32(g.outW), Int32(g.kernelH), Int32(g.kernelW), Int32(g.strideH),
                                 Int32(g.strideW), Int32(g.padH), Int32(g.padW), Int32(g.dilationH), Int32(g.dilationW))
            }
        case .float64: maxPoolTyped(x, out, indices, planes, g, Double.self)
        default: preconditionFailure("maxPool2d: needs a float32 or float64 tensor, got \(x.dtype) (cast half tensors to float32)")
        }
    }

    private func maxPoolTyped<T: KernelFloat>(_ x: Operand, _ out: Operand, _ indices: Operand, _ planes: Int,
                                              _ g: Conv2dGeometry, _: T.Type) {
        let xp = x.pointer.assumingMemoryBound(to: T.self), op = out.pointer.assumingMemoryBound(to: T.self)
        let ip = indices.pointer.assumingMemoryBound(to: Int64.self)
        let oh = g.outH, ow = g.outW, hw = g.height * g.width
        parallelFor(planes, grain: Swift.max(1, 4096 / Swift.max(oh * ow * g.kernelH * g.kernelW, 1))) { s, e in
            for p in s..<e {
                let plane = xp + p * hw
                for oy in 0..<oh {
                    for ox in 0..<ow {
                        var best = -T.infinity, bi = -1
                        for ki in 0..<g.kernelH {
                            let iy = oy * g.strideH - g.padH + ki * g.dilationH
                            if iy < 0 || iy >= g.height { continue }
                            for kj in 0..<g.kernelW {
                                let ix = ox * g.strideW - g.padW + kj * g.dilationW
                                if ix < 0 || ix >= g.width { continue }
                                let v = plane[iy * g.width + ix]
                                // as PyTorch's: the last NaN of the window wins, else the first maximum
                                if bi < 0 || v > best || v != v { best = v; bi = iy * g.width + ix }
                            }
                        }
                        let o = (p * oh + oy) * ow + ox
                        op[o] = best
                        ip[o] = Int64(bi)
                    }
                }
            }
        }
    }

    public func maxPool2dBackward(_ g: Operand, indices: Operand, _ out: Operand, planes: Int, _ geo: Conv2dGeometry) {
        let ip = indices.pointer.assumingMemoryBound(to: Int64.self)
        let L = geo.outH * geo.outW, hw = geo.height * geo.width
        switch g.dtype {
        case .float32:
            let gp = g.pointer.assumingMemoryBound(to: Float.self), o = out.pointer.assumingMemoryBound(to: Float.self)
            // Each plane is zeroed just before its scatter, while it is in cache (no separate fill pass).
            parallelFor(planes, grain: Swift.max(1, 8192 / Swift.max(L, 1))) { s, e in
                for p in s..<e {
                    (o + p * hw).update(repeating: 0, count: hw)
                    for j in 0..<L where ip[p * L + j] >= 0 { o[p * hw + Int(ip[p * L + j])] += gp[p * L + j] }
                }
            }
        case .float64:
            let gp = g.pointer.assumingMemoryBound(to: Double.self), o = out.pointer.assumingMemoryBound(to: Double.self)
            o.update(repeating: 0, count: planes * hw)
            for p in 0..<planes { for j in 0..<L where ip[p * L + j] >= 0 { o[p * hw + Int(ip[p * L + j])] += gp[p * L + j] } }
        default: preconditionFailure("maxPool2d backward: needs a float32 or float64 tensor, got \(g.dtype) (cast half tensors to float32)")
        }
    }

    /// PyTorch's window bounds for average pooling: (start, end, divisor) per output position.
    private func avgWindow(_ o: Int, stride: Int, pad: Int, kernel: Int, size: Int) -> (Int, Int, Int) {
        var start = o * stride - pad
        var end = Swift.min(start + kernel, size + pad)
        let full = end - start
        start = Swift.max(start, 0)
        end = Swift.min(end, size)
        return (start, end, full)
    }

    public func avgPool2d(_ x: Operand, _ out: Operand, planes: Int, _ g: Conv2dGeometry, countIncludePad: Bool) {
        avgPoolCommon(x, out, planes, g, countIncludePad, backward: false)
    }

    public func avgPool2dBackward(_ g: Operand, _ out: Operand, planes: Int, _ geo: Conv2dGeometry, countIncludePad: Bool) {
        avgPoolCommon(g, out, planes, geo, countIncludePad, backward: true)
    }

    private func avgPoolCommon(_ a: Operand, _ b: Operand, _ planes: Int, _ g: Conv2dGeometry, _ include: Bool,
                               backward: Bool) {
        let oh = g.outH, ow = g.outW, hw = g.height * g.width
        for p in 0..<planes {
            for oy in 0..<oh {
                let (h0, h1, fh) = avgWindow(oy, stride: g.strideH, pad: g.padH, kernel: g.kernelH, size: g.height)
                for ox in 0..<ow {
                    let (w0, w1, fw) = avgWindow(ox, stride: g.strideW, pad: g.padW, kernel: g.kernelW, size: g.width)
                    let div = Double(include ? fh * fw : Swift.max((h1 - h0) * (w1 - w0), 1))
                    let o = (p * oh + oy) * ow + ox
                    if backward {
                        let gv = loadDouble(a.pointer, o, a.dtype) / div
                        for iy in h0..<Swift.max(h0, h1) {
                            for ix in w0..<Swift.max(w0, w1) {
                                let k = p * hw + iy * g.width + ix
                                storeDouble(b.pointer, k, b.dtype, loadDouble(b.pointer, k, b.dtype) + gv)
                            }
                        }
                    } else {
                        var s = 0.0
                        for iy in h0..<Swift.max(h0, h1) {
                            for ix in w0..<Swift.max(w0, w1) { s += loadDouble(a.pointer, p * hw + iy * g.width + ix, a.dtype) }
                        }
                        storeDouble(b.pointer, o, b.dtype, s / div)
                    }
                }
            }
        }
    }
}

/// Float32 B packed by `ek_sgemm_pack_b`, in memory from the caching allocator.
final class PackedSGEMMB: PreparedGemmB, @unchecked Sendable {
    let pointer: UnsafeMutablePointer<Float>
    private let raw: UnsafeMutableRawPointer, capacity: Int
    init(k: Int, n: Int, floats: Int) {
        (raw, capacity) = CachingAllocator.shared.allocate(floats * MemoryLayout<Float>.stride)
        pointer = raw.bindMemory(to: Float.self, capacity: floats)
        super.init(k: k, n: n)
    }
    deinit { CachingAllocator.shared.release(raw, size: capacity) }
}
