import Foundation

// Layer normalization on the CPU: per row one pass for the mean and one for the variance (SIMD lanes summed in
// double, LaneSum's order), one to normalize; backward per row the two sums and the input gradient, and the weight
// and bias gradients summed over rows in blocks of `layerNormBlockRows` (fixed by the shape) added in block order.
// Rows never span threads, so the bits are the same for any thread count.
extension CPUBackend {
    static let layerNormBlockRows = 32

    public func layerNormForward(_ x: Operand, weight: Operand?, bias: Operand?, _ y: Operand, rows: Int, cols: Int,
                                 eps: Double) {
        switch x.dtype {
        case .float32: lnForward(x, weight, bias, y, rows, cols, eps, Float.self)
        case .float64: lnForward(x, weight, bias, y, rows, cols, eps, Double.self)
        default: preconditionFailure("layer_norm: needs a float32 or float64 tensor, got \(x.dtype)")
        }
    }

    public func layerNormBackward(_ g: Operand, _ x: Operand, weight: Operand?, gx: Operand?, gweight: Operand?,
                                  gbias: Operand?, rows: Int, cols: Int, eps: Double) {
        switch x.dtype {
        case .float32: lnBackward(g, x, weight, gx, gweight, gbias, rows, cols, eps, Float.self)
        case .float64: lnBackward(g, x, weight, gx, gweight, gbias, rows, cols, eps, Double.self)
        default: preconditionFailure("layer_norm backward: needs a float32 or float64 tensor, got \(x.dtype)")
        }
    }

    /// Mean and 1 / sqrt(biased variance + eps) of one row.
    @inline(__always)
    private func lnStats<T: KernelFloat & SIMDScalar>(_ row: UnsafeMutablePointer<T>, _ cols: Int, _ eps: Double) -> (T, T) {
        let mean = T(LaneSum.sum(row, cols) / Double(cols))
        let variance = LaneSum.squaredDeviations(row, cols, mean) / Double(cols)
        return (mean, T(1 / (variance + eps).squareRoot()))
    }

    private func lnForward<T: KernelFloat & SIMDScalar>(_ x: Operand, _ weight: Operand?, _ bias: Operand?, _ y: Operand,
                                                       _ rows: Int, _ cols: Int, _ eps: Double, _: T.Type) {
        let xp = x.pointer.assumingMemoryBound(to: T.self), yp = y.pointer.assumingMemoryBound(to: T.self)
        let wp = weight?.pointer.assumingMemoryBound(to: T.self), bp = bias?.pointer.assumingMemoryBound(to: T.self)
        parallelFor(rows, grain: Swift.max(1, 16384 / Swift.max(cols, 1))) { r0, r1 in
            for r in r0..<r1 {
                let xr = xp + r * cols, yr = yp + r * cols
                let (mean, invstd) = lnStats(xr, cols, eps)
                if let wp, let bp {
                    for i in 0..<cols { yr[i] = (xr[i] - mean) * invstd * wp[i] + bp[i] }
                } else {
                    for i in 0..<cols { yr[i] = (xr[i] - mean) * invstd }
                }
            }
        }
    }

    private func lnBackward<T: KernelFloat & SIMDScalar>(_ g: Operand, _ x: Operand, _ weight: Operand?, _ gx: Operand?,
                                                        _ gweight: Operand?, _ gbias: Operand?, _ rows: Int, _ cols: Int,
                                                        _ eps: Double, _: T.Type) {
        let gp = g.pointer.assumingMemoryBound(to: T.self), xp = x.pointer.assumingMemoryBound(to: T.self)
        let wp = weight?.pointer.assumingMemoryBound(to: T.self), gxp = gx?.pointer.assumingMemoryBound(to: T.self)
        let wantParams = gweight != nil || gbias != nil
        let blockRows = CPUBackend.layerNormBlockRows
        let blocks = (rows + blockRows - 1) / blockRows
        // Per block: the partial sums of g * xhat (first cols) and g (next cols), in T.
        let partial = UnsafeMutablePointer<T>.allocate(capacity: wantParams ? blocks * 2 * cols : 1)
        defer { partial.deallocate() }
        let scratch = UnsafeMutablePointer<T>.allocate(capacity: blocks * Swift.max(cols, 1))  // xhat of one row, per block
        defer { scratch.deallocate() }
        let D = T(cols)
        parallelFor(blocks, grain: Swift.max(1, 16384 / Swift.max(cols * blockRows, 1))) { b0, b1 in
            for blk in b0..<b1 {
                let pw = partial + blk * 2 * cols, pb = pw + cols, xhat = scratch + blk * cols
                if wantParams { for i in 0..<(2 * cols) { pw[i] = 0 } }
                for r in (blk * blockRows)..<Swift.min(rows, (blk + 1) * blockRows) {
                    let xr = xp + r * cols, gr = gp + r * cols
                    let (mean, invstd) = lnStats(xr, cols, eps)
                    var a = SIMD8<T>(repeating: 0), bsum = SIMD8<T>(repeating: 0)
                    var ta: T = 0, tb: T = 0
                    var i = 0
                    while i + 8 <= cols {
                        var xh = SIMD8<T>(), gh = SIMD8<T>()
                        for l in 0..<8 {
                            xh[l] = (xr[i + l] - mean) * invstd
                            gh[l] = gr[i + l] * (wp?[i + l] ?? 1)
                            xhat[i + l] = xh[l]
                        }
                        a += gh
                        bsum += gh * xh
                        i += 8
                    }
                    while i < cols {
                        let xh = (xr[i] - mean) * invstd, gh = gr[i] * (wp?[i] ?? 1)
                        xhat[i] = xh
                        ta += gh
                        tb += gh * xh
                        i += 1
                    }
                    if wantParams {
                        for i in 0..<cols {
                            pw[i] += gr[i] * xhat[i]
                            pb[i] += gr[i]
                        }
                    }
                    guard let gxp else { continue }
                    let ma = T(LaneSum.total(a, Double(ta))) / D, mb = T(LaneSum.total(bsum, Double(tb))) / D
                    let gxr = gxp + r * cols
                    if let wp {
                        for i in 0..<cols { gxr[i] = invstd * (gr[i] * wp[i] - ma - xhat[i] * mb) }
                    } else {
                        for i in 0..<cols { gxr[i] = invstd * (gr[i] - ma - xhat[i] * mb) }
                    }
                }
            }
        }
        guard wantParams else { return }
        let gw = gweight?.pointer.assumingMemoryBound(to: T.self), gb = gbias?.pointer.assumingMemoryBound(to: T.self)
        for i in 0..<cols {
            var sw: T = 0, sb: T = 0
            for blk in 0..<blocks {
                sw += partial[blk * 2 * cols + i]
                sb += partial[blk * 2 * cols + cols + i]
            }
            gw?[i] = sw
            gb?[i] = sb
        }
    }
}
