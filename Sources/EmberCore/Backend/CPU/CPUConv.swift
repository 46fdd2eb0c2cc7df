import CBLAS
import CEmberKernels
import Foundation

// Convolution on the CPU: per-image im2col + GEMM written straight into NCHW.
//
// Work is cut by image: image n's unfolded columns live in a scratch buffer of one image ([C/groups*kh*kw, outH*outW])
// owned by the thread that runs it, and its GEMM writes image n's output (or input gradient) in place, so nothing
// of batch size is allocated besides the result, nothing is saved for backward (the weight gradient unfolds again),
// and no NCHW <-> [C, N*L] copies are needed. Each GEMM is one single-threaded call (Ember's AVX-512 kernel, else
// OpenBLAS). The weight gradient, a sum over images, is cut into a number of image ranges that depends on the batch
// size alone; each range sums its images in order into its own buffer and the buffers are added in range order: the
// same bits for any thread count.
extension CPUBackend {
    public func conv2dForward(_ x: Operand, weight: Operand, bias: Operand?, _ out: Operand, _ s: Conv2dShape) {
        switch x.dtype {
        case .float32: convForwardTyped(x, weight, bias, out, s, Float.self)
        case .float64: convForwardTyped(x, weight, bias, out, s, Double.self)
        default: convDTypeFailure("conv2d", x.dtype)
        }
    }

    public func conv2dInputGrad(_ g: Operand, weight: Operand, _ gx: Operand, _ s: Conv2dShape) {
        switch g.dtype {
        case .float32: convInputGradTyped(g, weight, gx, s, Float.self)
        case .float64: convInputGradTyped(g, weight, gx, s, Double.self)
        default: convDTypeFailure("conv2d input gradient", g.dtype)
        }
    }

    public func conv2dWeightGrad(_ x: Operand, _ g: Operand, _ gw: Operand, _ s: Conv2dShape) {
        switch x.dtype {
        case .float32: convWeightGradTyped(x, g, gw, s, Float.self)
        case .float64: convWeightGradTyped(x, g, gw, s, Double.self)
        default: convDTypeFailure("conv2d weight gradient", x.dtype)
        }
    }

    /// How many image ranges the weight gradient sums separately: a function of the batch size alone (at most 8,
    /// enough for 8 threads), so results do not depend on the thread count.
    static func convWeightGradParts(batch: Int) -> Int { Swift.max(1, Swift.min(batch, 8)) }

    private func convDTypeFailure(_ op: String, _ dtype: DType) -> Never {
        preconditionFailure("\(op): needs a float32 or float64 tensor, got \(dtype) (cast half tensors to float32)")
    }

    private func convForwardTyped<T: KernelFloat>(_ x: Operand, _ weight: Operand, _ bias: Operand?, _ out: Operand,
                                                  _ s: Conv2dShape, _: T.Type) {
        let g = s.geometry, N = s.batch, C = s.inChannels, O = s.outChannels, groups = s.groups
        let cg = g.channels, og = s.groupOutChannels, K = s.columnRows, L = s.outputPlane, HW = s.inputPlane
        let xp = x.pointer.assumingMemoryBound(to: T.self), wp = weight.pointer.assumingMemoryBound(to: T.self)
        let op = out.pointer.assumingMemoryBound(to: T.self), bp = bias?.pointer.assumingMemoryBound(to: T.self)
        if N == 0 || O == 0 || L == 0 { return }
        let direct = isPointwise(g)
        parallelFor(N, grain: 1) { n0, n1 in
            let scratch = ConvScratch<T>(direct ? 0 : K * L)
            defer { withExtendedLifetime(scratch) {} }   // its pointer outlives the last use of the owner
            for n in n0..<n1 {
                let xn = xp + n * C * HW, on = op + n * O * L
                if let bp { for o in 0..<O { (on + o * L).update(repeating: bp[o], count: L) } }
                for gi in 0..<groups {
                    let src = direct ? UnsafePointer(xn + gi * cg * HW) : unfold(xn + gi * cg * HW, into: scratch.pointer, g)
                    singleThreadGemm(false, false, og, L, K, 1, wp + gi * og * K, K, src, L, bp == nil ? 0 : 1, on + gi * og * L, L)
                }
            }
        }
    }

    private func convInputGradTyped<T: KernelFloat>(_ g: Operand, _ weight: Operand, _ gx: Operand, _ s: Conv2dShape,
                                                    _: T.Type) {
        let geo = s.geometry, N = s.batch, C = s.inChannels, O = s.outChannels, groups = s.groups
        let cg = geo.channels, og = s.groupOutChannels, K = s.columnRows, L = s.outputPlane, HW = s.inputPlane
        let gp = g.pointer.assumingMemoryBound(to: T.self), wp = weight.pointer.assumingMemoryBound(to: T.self)
        let xp = gx.pointer.assumingMemoryBound(to: T.self)
        if N == 0 || C == 0 || HW == 0 { return }
        if O == 0 || L == 0 { xp.update(repeating: 0, count: N * C * HW); return }
        let direct = isPointwise(geo)
        parallelFor(N, grain: 1) { n0, n1 in
            let scratch = ConvScratch<T>(direct ? 0 : K * L)
            defer { withExtendedLifetime(scratch) {} }   // its pointer outlives the last use of the owner
            for n in n0..<n1 {
                let xn = xp + n * C * HW, gn = gp + n * O * L
                if direct {
                    for gi in 0..<groups {
                        singleThreadGemm(true, false, cg, L, og, 1, wp + gi * og * K, K, gn + gi * og * L, L, 0, xn + gi * cg * HW, HW)
                    }
                    continue
                }
                xn.update(repeating: 0, count: C * HW)
                for gi in 0..<groups {
                    singleThreadGemm(true, false, K, L, og, 1, wp + gi * og * K, K, gn + gi * og * L, L, 0, scratch.pointer, L)
                    fold(scratch.pointer, into: xn + gi * cg * HW, geo)
                }
            }
        }
    }

    private func convWeightGradTyped<T: KernelFloat>(_ x: Operand, _ g: Operand, _ gw: Operand, _ s: Conv2dShape,
                                                     _: T.Type) {
        let geo = s.geometry, N = s.batch, C = s.inChannels, O = s.outChannels, groups = s.groups
        let cg = geo.channels, og = s.groupOutChannels, K = s.columnRows, L = s.outputPlane, HW = s.inputPlane
        let xp = x.pointer.assumingMemoryBound(to: T.self), gp = g.pointer.assumingMemoryBound(to: T.self)
        let wp = gw.pointer.assumingMemoryBound(to: T.self)
        let total = O * K
        if total == 0 { return }
        if N == 0 || L == 0 { wp.update(repeating: 0, count: total); return }
        let direct = isPointwise(geo)
        let parts = CPUBackend.convWeightGradParts(batch: N)
        // range 0 sums into gw itself, ranges 1... into their own slices of `partial`
        let partial = ConvScratch<T>((parts - 1) * total)
        defer { withExtendedLifetime(partial) {} }   // its pointer outlives the last use of the owner
        let pp = partial.pointer
        parallelFor(parts, grain: 1) { p0, p1 in
            let scratch = ConvScratch<T>(direct ? 0 : K * L)
            defer { withExtendedLifetime(scratch) {} }   // its pointer outlives the last use of the owner
            for p in p0..<p1 {
                let dst = p == 0 ? wp : pp + (p - 1) * total
                let first = N * p / parts, last = N * (p + 1) / parts
                for n in first..<last {
                    let xn = xp + n * C * HW, gn = gp + n * O * L
                    for gi in 0..<groups {
                        let cols = direct ? UnsafePointer(xn + gi * cg * HW) : unfold(xn + gi * cg * HW, into: scratch.pointer, geo)
                        singleThreadGemm(false, true, og, K, L, 1, gn + gi * og * L, L, cols, L, n == first ? 0 : 1, dst + gi * og * K, K)
                    }
                }
            }
        }
        for p in 1..<parts {
            let src = pp + (p - 1) * total
            for i in 0..<total { wp[i] += src[i] }
        }
    }

    /// A 1x1 window with stride 1 and no padding: the image itself is its column matrix.
    private func isPointwise(_ g: Conv2dGeometry) -> Bool {
        g.kernelH == 1 && g.kernelW == 1 && g.strideH == 1 && g.strideW == 1 && g.padH == 0 && g.padW == 0
    }

    /// Unfolds one image's `g.channels` planes (starting at `image`) into columns [channels*kh*kw, outH*outW]
    /// (zero padding); returns `columns`.
    private func unfold<T: KernelFloat>(_ image: UnsafeMutablePointer<T>, into columns: UnsafeMutablePointer<T>,
                                        _ g: Conv2dGeometry) -> UnsafePointer<T> {
        if T.self == Float.self {
            ek_im2col_f32(UnsafeRawPointer(image).assumingMemoryBound(to: Float.self),
                          UnsafeMutableRawPointer(columns).assumingMemoryBound(to: Float.self), Int32(g.channels),
                          Int32(g.height), Int32(g.width), Int32(g.kernelH), Int32(g.kernelW), Int32(g.strideH),
                          Int32(g.strideW), Int32(g.padH), Int32(g.padW), Int32(g.dilationH), Int32(g.dilationW),
                          Int32(g.outH), Int32(g.outW))
            return UnsafePointer(columns)
        }
        let oh = g.outH, ow = g.outW, L = oh * ow, rows = g.channels * g.kernelH * g.kernelW
        for row in 0..<rows {
            let kj = row % g.kernelW, ki = (row / g.kernelW) % g.kernelH, c = row / (g.kernelW * g.kernelH)
            let dst = columns + row * L, plane = image + c * g.height * g.width
            let x0 = kj * g.dilationW - g.padW
            // valid ox: 0 <= ox * strideW + x0 < width
            let lo = Swift.min(ow, x0 >= 0 ? 0 : (-x0 + g.strideW - 1) / g.strideW)
            let hi = Swift.max(lo, Swift.min(ow, g.width - x0 <= 0 ? 0 : (g.width - x0 - 1) / g.strideW + 1))
            for oy in 0..<oh {
                let iy = oy * g.strideH - g.padH + ki * g.dilationH
                let drow = dst + oy * ow
                if iy < 0 || iy >= g.height {
                    drow.update(repeating: 0, count: ow)
                    continue
                }
                let srow = plane + iy * g.width + x0
                if lo > 0 { drow.update(repeating: 0, count: lo) }
                if g.strideW == 1 {
                    if hi > lo { (drow + lo).update(from: srow + lo, count: hi - lo) }
                } else {
                    for ox in lo..<hi { drow[ox] = srow[ox * g.strideW] }
                }
                if hi < ow { (drow + hi).update(repeating: 0, count: ow - hi) }
            }
        }
        return UnsafePointer(columns)
    }

    /// Adds columns [channels*kh*kw, outH*outW] back into one image's planes (the transpose of `unfold`); float32 may zero the
    /// entries of `columns` that fall in padding (a scratch buffer).
    private func fold<T: KernelFloat>(_ columns: UnsafeMutablePointer<T>, into image: UnsafeMutablePointer<T>,
                                      _ g: Conv2dGeometry) {
        if T.self == Float.self {
            ek_col2im_add_f32(UnsafeMutableRawPointer(columns).assumingMemoryBound(to: Float.self),
                              UnsafeMutableRawPointer(image).assumingMemoryBound(to: Float.self), Int32(g.channels),
                              Int32(g.height), Int32(g.width), Int32(g.kernelH), Int32(g.kernelW), Int32(g.strideH),
                              Int32(g.strideW), Int32(g.padH), Int32(g.padW), Int32(g.dilationH), Int32(g.dilationW),
                              Int32(g.outH), Int32(g.outW))
            return
        }
        let oh = g.outH, ow = g.outW, L = oh * ow, rows = g.channels * g.kernelH * g.kernelW
        for row in 0..<rows {
            let kj = row % g.kernelW, ki = (row / g.kernelW) % g.kernelH, c = row / (g.kernelW * g.kernelH)
            let src = columns + row * L, plane = image + c * g.height * g.width
            let x0 = kj * g.dilationW - g.padW
            let lo = Swift.min(ow, x0 >= 0 ? 0 : (-x0 + g.strideW - 1) / g.strideW)
            let hi = Swift.max(lo, Swift.min(ow, g.width - x0 <= 0 ? 0 : (g.width - x0 - 1) / g.strideW + 1))
            for oy in 0..<oh {
                let iy = oy * g.strideH - g.padH + ki * g.dilationH
                if iy < 0 || iy >= g.height { continue }
                let prow = plane + iy * g.width + x0, srow = src + oy * ow
                if g.strideW == 1 {
                    for ox in lo..<hi { prow[ox] += srow[ox] }
                } else {
                    for ox in lo..<hi { prow[ox * g.strideW] += srow[ox] }
                }
            }
        }
    }
}

/// A per-thread scratch buffer for one image's columns (or partial sums) from the caching allocator (fresh
/// `malloc`ed pages of this size cost more in page faults than the unfolding itself), returned when it goes out of
/// scope.
private final class ConvScratch<T> {
    let pointer: UnsafeMutablePointer<T>
    private let raw: UnsafeMutableRawPointer, capacity: Int
    init(_ count: Int) {
        (raw, capacity) = CachingAllocator.shared.allocate(Swift.max(count, 1) * MemoryLayout<T>.stride)
        pointer = raw.bindMemory(to: T.self, capacity: Swift.max(count, 1))
    }
    deinit { CachingAllocator.shared.release(raw, size: capacity) }
}

