import Foundation

// Training-mode batch norm on the CPU: one pass for the mean, one for the variance, one to normalize; backward one
// pass for the two sums per channel and one for the input gradient. Sums run per channel (a channel's planes in
// order, SIMD lanes within a plane, lanes and planes added in double), each channel on one thread: the same bits
// for any thread count.
extension CPUBackend {
    public func batchNormStats(_ x: Operand, _ stats: Operand, batch: Int, channels: Int, inner: Int) {
        switch x.dtype {
        case .float32: bnStats(x, stats, batch, channels, inner, Float.self)
        case .float64: bnStats(x, stats, batch, channels, inner, Double.self)
        default: preconditionFailure("batch norm: needs a float32 or float64 tensor, got \(x.dtype)")
        }
    }

    public func batchNormApply(_ x: Operand, stats: Operand, weight: Operand?, bias: Operand?, _ y: Operand, batch: Int,
                               channels: Int, inner: Int, eps: Double) {
        switch x.dtype {
        case .float32: bnApply(x, stats, weight, bias, y, batch, channels, inner, eps, Float.self)
        case .float64: bnApply(x, stats, weight, bias, y, batch, channels, inner, eps, Double.self)
        default: preconditionFailure("batch norm: needs a float32 or float64 tensor, got \(x.dtype)")
        }
    }

    public func batchNormBackward(_ g: Operand, _ x: Operand, stats: Operand, weight: Operand?, gx: Operand?,
                                  gweight: Operand?, gbias: Operand?, batch: Int, channels: Int, inner: Int, eps: Double) {
        switch x.dtype {
        case .float32: bnBackward(g, x, stats, weight, gx, gweight, gbias, batch, channels, inner, eps, Float.self)
        case .float64: bnBackward(g, x, stats, weight, gx, gweight, gbias, batch, channels, inner, eps, Double.self)
        default: preconditionFailure("batch norm backward: needs a float32 or float64 tensor, got \(x.dtype)")
        }
    }

    private func bnStats<T: KernelFloat>(_ x: Operand, _ stats: Operand, _ N: Int, _ C: Int, _ inner: Int, _: T.Type) {
        let xp = x.pointer.assumingMemoryBound(to: T.self), sp = stats.pointer.assumingMemoryBound(to: T.self)
        let M = Double(N * inner)
        parallelFor(C, grain: Swift.max(1, 16384 / Swift.max(N * inner, 1))) { c0, c1 in
            for c in c0..<c1 {
                var sum = 0.0
                for n in 0..<N { sum += laneSum(xp + (n * C + c) * inner, inner) { $0 } }
                let mean = M > 0 ? sum / M : .nan
                let m = T(mean)
                var sq = 0.0
                for n in 0..<N { sq += laneSum(xp + (n * C + c) * inner, inner) { ($0 - m) * ($0 - m) } }
                sp[c] = m
                sp[C + c] = T(M > 0 ? sq / M : .nan)
            }
        }
    }

    private func bnApply<T: KernelFloat>(_ x: Operand, _ stats: Operand, _ weight: Operand?, _ bias: Operand?,
                                         _ y: Operand, _ N: Int, _ C: Int, _ inner: Int, _ eps: Double, _: T.Type) {
        let xp = x.pointer.assumingMemoryBound(to: T.self), yp = y.pointer.assumingMemoryBound(to: T.self)
        let sp = stats.pointer.assumingMemoryBound(to: T.self)
        let wp = weight?.pointer.assumingMemoryBound(to: T.self), bp = bias?.pointer.assumingMemoryBound(to: T.self)
        parallelFor(N * C, grain: Swift.max(1, 16384 / Swift.max(inner, 1))) { p0, p1 in
            for p in p0..<p1 {
                let c = p % C
                let invstd = 1 / (Double(sp[C + c]) + eps).squareRoot()
                let scale = T(invstd * Double(wp?[c] ?? 1)), mean = sp[c], shift = bp?[c] ?? 0
                let src = xp + p * inner, dst = yp + p * inner
                for i in 0..<inner { dst[i] = (src[i] - mean) * scale + shift }
            }
        }
    }

    private func bnBackward<T: KernelFloat>(_ g: Operand, _ x: Operand, _ stats: Operand, _ weight: Operand?,
                                            _ gx: Operand?, _ gweight: Operand?, _ gbias: Operand?, _ N: Int, _ C: Int,
                                            _ inner: Int, _ eps: Double, _: T.Type) {
        let gp = g.pointer.assumingMemoryBound(to: T.self), xp = x.pointer.assumingMemoryBound(to: T.self)
        let sp = stats.pointer.assumingMemoryBound(to: T.self), wp = weight?.pointer.assumingMemoryBound(to: T.self)
        let M = Double(N * inner)
        // per channel: sum of g and sum of g * (x - mean)
        var sums = [Double](repeating: 0, count: 2 * C)
        sums.withUnsafeMutableBufferPointer { buf in
            let s = buf.baseAddress!
            parallelFor(C, grain: Swift.max(1, 8192 / Swift.max(N * inner, 1))) { c0, c1 in
                for c in c0..<c1 {
                    let mean = sp[c]
                    var sg = 0.0, sgx = 0.0
                    for n in 0..<N {
                        let off = (n * C + c) * inner
                        sg += laneSum(gp + off, inner) { $0 }
                        sgx += laneSum2(gp + off, xp + off, inner) { gv, xv in gv * (xv - mean) }
                    }
                    s[c] = sg
                    s[C + c] = sgx
                }
            }
        }
        let invstds = (0..<C).map { 1 / (Double(sp[C + $0]) + eps).squareRoot() }
        if let gbias {
            let o = gbias.pointer.assumingMemoryBound(to: T.self)
            for c in 0..<C { o[c] = T(sums[c]) }
        }
        if let gweight {
            let o = gweight.pointer.assumingMemoryBound(to: T.self)
            for c in 0..<C { o[c] = T(sums[C + c] * invstds[c]) }
        }
        guard let gx, M > 0 else { return }
        // gx = k * (g - sum g / M - (x - mean) * invstd^2 * sum g(x - mean) / M), k = weight * invstd
        let op = gx.pointer.assumingMemoryBound(to: T.self)
        let coef = (0..<C).map { c -> (T, T, T, T) in
            let inv = invstds[c], k = inv * Double(wp?[c] ?? 1)
            return (T(k), T(sums[c] / M), T(inv * inv * sums[C + c] / M), sp[c])
        }
        coef.withUnsafeBufferPointer { cf in
            parallelFor(N * C, grain: Swift.max(1, 16384 / Swift.max(inner, 1))) { p0, p1 in
                for p in p0..<p1 {
                    let (k, meanG, proj, mean) = cf[p % C]
                    let gs = gp + p * inner, xs = xp + p * inner, dst = op + p * inner
                    for i in 0..<inner { dst[i] = k * (gs[i] - meanG - (xs[i] - mean) * proj) }
                }
            }
        }
    }
}

/// Sum of f(p[i]) over `count` elements: 8 lanes in T (element i into lane i % 8), the lanes then added in double
/// in lane order. The order depends on `count` alone.
@inline(__always)
private func laneSum<T: KernelFloat>(_ p: UnsafeMutablePointer<T>, _ count: Int, _ f: (T) -> T) -> Double {
    var a0: T = 0, a1: T = 0, a2: T = 0, a3: T = 0, a4: T = 0, a5: T = 0, a6: T = 0, a7: T = 0
    var i = 0
    while i + 8 <= count {
        a0 += f(p[i]); a1 += f(p[i + 1]); a2 += f(p[i + 2]); a3 += f(p[i + 3])
        a4 += f(p[i + 4]); a5 += f(p[i + 5]); a6 += f(p[i + 6]); a7 += f(p[i + 7])
        i += 8
    }
    var tail = 0.0
    while i < count { tail += Double(f(p[i])); i += 1 }
    return ((Double(a0) + Double(a1)) + (Double(a2) + Double(a3))) + ((Double(a4) + Double(a5)) + (Double(a6) + Double(a7))) + tail
}

/// Sum of f(a[i], b[i]), in the order of `laneSum`.
@inline(__always)
private func laneSum2<T: KernelFloat>(_ a: UnsafeMutablePointer<T>, _ b: UnsafeMutablePointer<T>, _ count: Int,
                                      _ f: (T, T) -> T) -> Double {
    var a0: T = 0, a1: T = 0, a2: T = 0, a3: T = 0, a4: T = 0, a5: T = 0, a6: T = 0, a7: T = 0
    var i = 0
    while i + 8 <= count {
        a0 += f(a[i], b[i]); a1 += f(a[i + 1], b[i + 1]); a2 += f(a[i + 2], b[i + 2]); a3 += f(a[i + 3], b[i + 3])
        a4 += f(a[i + 4], b[i + 4]); a5 += f(a[i + 5], b[i + 5]); a6 += f(a[i + 6], b[i + 6]); a7 += f(a[i + 7], b[i + 7])
        i += 8
    }
    var tail = 0.0
    while i < count { tail += Double(f(a[i], b[i])); i += 1 }
    return ((Double(a0) + Double(a1)) + (Double(a2) + Double(a3))) + ((Double(a4) + Double(a5)) + (Double(a6) + Double(a7))) + tail
}
