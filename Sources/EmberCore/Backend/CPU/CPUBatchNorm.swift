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

    private func bnStats<T: KernelFloat & SIMDScalar>(_ x: Operand, _ stats: Operand, _ N: Int, _ C: Int, _ inner: Int, _: T.Type) {
        let xp = x.pointer.assumingMemoryBound(to: T.self), sp = stats.pointer.assumingMemoryBound(to: T.self)
        let M = Double(N * inner)
        parallelFor(C, grain: Swift.max(1, 16384 / Swift.max(N * inner, 1))) { c0, c1 in
            for c in c0..<c1 {
                var sum = 0.0
                for n in 0..<N { sum += LaneSum.sum(xp + (n * C + c) * inner, inner) }
                let mean = M > 0 ? sum / M : .nan
                let m = T(mean)
                var sq = 0.0
                for n in 0..<N { sq += LaneSum.squaredDeviations(xp + (n * C + c) * inner, inner, m) }
                sp[c] = m
                sp[C + c] = T(M > 0 ? sq / M : .nan)
            }
        }
    }

    private func bnApply<T: KernelFloat & SIMDScalar>(_ x: Operand, _ stats: Operand, _ weight: Operand?, _ bias: Operand?,
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

    private func bnBackward<T: KernelFloat & SIMDScalar>(_ g: Operand, _ x: Operand, _ stats: Operand, _ weight: Operand?,
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
                        let (a, b) = LaneSum.gradientSums(gp + off, xp + off, inner, mean)
                        sg += a
                        sgx += b
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

/// Sums of one plane in SIMD lanes: blocks of 32 elements go to four independent 8-lane accumulators (element i to
/// accumulator i / 8 % 4, lane i % 8; one accumulator made every add wait for the previous one), combined as
/// (a0 + a1) + (a2 + a3), then the remaining blocks of 8, then the lanes added in double in a fixed tree and the
/// scalar tail after them. The order depends on `count` alone.
enum LaneSum {
    @inline(__always)
    static func load<T: KernelFloat & SIMDScalar>(_ p: UnsafeMutablePointer<T>, _ i: Int) -> SIMD8<T> {
        UnsafeRawPointer(p + i).loadUnaligned(as: SIMD8<T>.self)
    }

    @inline(__always)
    static func total<T: KernelFloat & SIMDScalar>(_ v: SIMD8<T>, _ tail: Double) -> Double {
        ((Double(v[0]) + Double(v[1])) + (Double(v[2]) + Double(v[3])))
            + ((Double(v[4]) + Double(v[5])) + (Double(v[6]) + Double(v[7]))) + tail
    }

    /// Sum of p[i].
    static func sum<T: KernelFloat & SIMDScalar>(_ p: UnsafeMutablePointer<T>, _ count: Int) -> Double {
        var a0 = SIMD8<T>(repeating: 0), a1 = a0, a2 = a0, a3 = a0, i = 0
        while i + 32 <= count {
            a0 += load(p, i); a1 += load(p, i + 8); a2 += load(p, i + 16); a3 += load(p, i + 24)
            i += 32
        }
        var acc = (a0 + a1) + (a2 + a3)
        while i + 8 <= count { acc += load(p, i); i += 8 }
        var tail = 0.0
        while i < count { tail += Double(p[i]); i += 1 }
        return total(acc, tail)
    }

    /// Sum of (p[i] - mean)^2.
    static func squaredDeviations<T: KernelFloat & SIMDScalar>(_ p: UnsafeMutablePointer<T>, _ count: Int, _ mean: T) -> Double {
        var a0 = SIMD8<T>(repeating: 0), a1 = a0, a2 = a0, a3 = a0, i = 0
        let m = SIMD8<T>(repeating: mean)
        while i + 32 <= count {
            let d0 = load(p, i) - m, d1 = load(p, i + 8) - m, d2 = load(p, i + 16) - m, d3 = load(p, i + 24) - m
            a0 += d0 * d0; a1 += d1 * d1; a2 += d2 * d2; a3 += d3 * d3
            i += 32
        }
        var acc = (a0 + a1) + (a2 + a3)
        while i + 8 <= count { let d = load(p, i) - m; acc += d * d; i += 8 }
        var tail = 0.0
        while i < count { let d = p[i] - mean; tail += Double(d * d); i += 1 }
        return total(acc, tail)
    }

    /// Sum of g[i] and sum of g[i] * (x[i] - mean), in one pass.
    static func gradientSums<T: KernelFloat & SIMDScalar>(_ g: UnsafeMutablePointer<T>, _ x: UnsafeMutablePointer<T>,
                                                         _ count: Int, _ mean: T) -> (Double, Double) {
        var g0 = SIMD8<T>(repeating: 0), g1 = g0, g2 = g0, g3 = g0, x0 = g0, x1 = g0, x2 = g0, x3 = g0, i = 0
        let m = SIMD8<T>(repeating: mean)
        while i + 32 <= count {
            let v0 = load(g, i), v1 = load(g, i + 8), v2 = load(g, i + 16), v3 = load(g, i + 24)
            g0 += v0; g1 += v1; g2 += v2; g3 += v3
            x0 += v0 * (load(x, i) - m); x1 += v1 * (load(x, i + 8) - m)
            x2 += v2 * (load(x, i + 16) - m); x3 += v3 * (load(x, i + 24) - m)
            i += 32
        }
        var sg = (g0 + g1) + (g2 + g3), sgx = (x0 + x1) + (x2 + x3)
        while i + 8 <= count {
            let gv = load(g, i)
            sg += gv
            sgx += gv * (load(x, i) - m)
            i += 8
        }
        var tg = 0.0, tgx = 0.0
        while i < count { tg += Double(g[i]); tgx += Double(g[i] * (x[i] - mean)); i += 1 }
        return (total(sg, tg), total(sgx, tgx))
    }
}
