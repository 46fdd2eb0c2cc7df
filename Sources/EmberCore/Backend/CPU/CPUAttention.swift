import CBLAS
import CEmberKernels
import Foundation

// The fused scaled-dot-product attention of the CPU backend (FlashAttention-2's blocking on a CPU): per (batch, head)
// the queries are taken `attentionBlock` rows at a time and the keys `attentionBlock` columns at a time; a block of
// scores is one single-threaded GEMM (Ember's AVX-512 kernel, else OpenBLAS) into a small scratch buffer, the online softmax (running max and sum
// per row) rescales the output accumulator, and a second GEMM adds the block's weights times the values. Only the
// log-sum-exp of each row is kept for backward, which recomputes the weights block by block.
//
// Work is split by (batch, head) only: each pair runs start to finish on one thread in a fixed block order, so the
// result never depends on the thread count. For float32 the online-softmax step of a block (row maxima, exponentials,
// row sums, rescaling of the output accumulator, the causal cut) is one vectorized C kernel
// (`ek_attn_online_rows_f32`), and backward's recomputed weights another (`ek_attn_exp_rows_f32`); float64 runs the
// same steps in Swift with libm.
extension CPUBackend {
    /// Rows (queries) and columns (keys) of one block of scores.
    static let attentionBlock = 64

    public func attentionForward(q: Operand, k: Operand, v: Operand, mask: Operand?, out: Operand, lse: Operand,
                                 _ s: AttentionShape, dropout: AttentionDropout?) {
        switch q.dtype {
        case .float32: attentionForwardTyped(Float.self, q, k, v, mask, out, lse, s, dropout)
        case .float64: attentionForwardTyped(Double.self, q, k, v, mask, out, lse, s, dropout)
        default: preconditionFailure("scaled_dot_product_attention: \(q.dtype) is not supported (float32 or float64)")
        }
    }

    public func attentionBackward(q: Operand, k: Operand, v: Operand, mask: Operand?, out: Operand, lse: Operand,
                                  gOut: Operand, gq: Operand, gk: Operand, gv: Operand, _ s: AttentionShape,
                                  dropout: AttentionDropout?) {
        switch q.dtype {
        case .float32: attentionBackwardTyped(Float.self, q, k, v, mask, out, lse, gOut, gq, gk, gv, s, dropout)
        case .float64: attentionBackwardTyped(Double.self, q, k, v, mask, out, lse, gOut, gq, gk, gv, s, dropout)
        default: preconditionFailure("scaled_dot_product_attention backward: \(q.dtype) is not supported (float32 or float64)")
        }
    }

    private func attentionForwardTyped<T: KernelFloat>(_: T.Type, _ q: Operand, _ k: Operand, _ v: Operand,
                                                       _ mask: Operand?, _ out: Operand, _ lse: Operand,
                                                       _ s: AttentionShape, _ drop: AttentionDropout?) {
        let H = s.heads, Tq = s.queries, Tk = s.keys, D = s.headDim, Dv = s.valueDim
        let qp = typed(q, T.self), kp = typed(k, T.self), vp = typed(v, T.self), op = typed(out, T.self)
        let lp = typed(lse, T.self), mp = mask.map { typed($0, T.self) }, ms = mask?.strides ?? [0, 0, 0, 0]
        let br = Self.attentionBlock, bc = Self.attentionBlock
        let scale = T(s.scale), keepScale = T(1 / (1 - (drop?.p ?? 0))), causal = s.causal
        parallelFor(s.batch * H, grain: 1) { p0, p1 in
            let scratch = AttentionScratch<T>(br * bc + br * Dv + 2 * br)
            // Raw pointers into the buffer are used below: keep the owner alive to the end of the scope (Swift may
            // otherwise end its lifetime after the last use of `scratch` itself and hand the buffer to another thread).
            defer { withExtendedLifetime(scratch) {} }
            let S = scratch.pointer, acc = S + br * bc, m = acc + br * Dv, l = m + br
            for bh in p0..<p1 {
                let Q = qp + bh * Tq * D, K = kp + bh * Tk * D, V = vp + bh * Tk * Dv, O = op + bh * Tq * Dv
                let M = mp.map { $0 + (bh / H) * ms[0] + (bh % H) * ms[1] }
                var i0 = 0
                while i0 < Tq {
                    let rows = Swift.min(br, Tq - i0)
                    for r in 0..<rows { m[r] = -T.infinity; l[r] = 0 }
                    acc.update(repeating: 0, count: rows * Dv)
                    let jEnd = causal ? Swift.min(Tk, i0 + rows) : Tk
                    var j0 = 0
                    while j0 < jEnd {
                        let cols = Swift.min(bc, jEnd - j0)
                        singleThreadGemm(false, true, rows, cols, D, scale, Q + i0 * D, D, K + j0 * D, D, 0, S, cols)
                        if T.self == Float.self {
                            // The online-softmax step in one vectorized kernel (causal cut included); the additive
                            // mask and dropout around it.
                            if M != nil { for r in 0..<rows { maskRow(S + r * cols, cols, i: i0 + r, j0: j0, M, ms, false) } }
                            ek_attn_online_rows_f32(floats(S), rows, cols, i0 - j0, causal ? 1 : 0, floats(m), floats(l),
                                                    floats(acc), Dv)
                            if let drop {
                                for r in 0..<rows {
                                    let row = S + r * cols, base = (bh * Tq + i0 + r) * Tk + j0
                                    for c in 0..<cols { row[c] = drop.keeps(base + c) ? row[c] * keepScale : 0 }
                                }
                            }
                            singleThreadGemm(false, false, rows, Dv, cols, 1, S, cols, V + j0 * Dv, Dv, 1, acc, Dv)
                            j0 += cols
                            continue
                        }
                        for r in 0..<rows {
                            let row = S + r * cols, i = i0 + r
                            maskRow(row, cols, i: i, j0: j0, M, ms, causal)
                            var mx = -T.infinity
                            for c in 0..<cols { mx = Swift.max(mx, row[c]) }
                            let mNew = Swift.max(m[r], mx)
                            if mNew == -T.infinity {
                                row.update(repeating: 0, count: cols)
                                continue
                            }
                            let alpha = T.exp(m[r] - mNew)
                            expShifted(row, cols, by: mNew)
                            var sum: T = 0
                            for c in 0..<cols { sum += row[c] }
                            l[r] = l[r] * alpha + sum
                            m[r] = mNew
                            if alpha != 1 {
                                let a = acc + r * Dv
                                for d in 0..<Dv { a[d] *= alpha }
                            }
                            if let drop {
                                let base = (bh * Tq + i) * Tk + j0
                                for c in 0..<cols { row[c] = drop.keeps(base + c) ? row[c] * keepScale : 0 }
                            }
                        }
                        singleThreadGemm(false, false, rows, Dv, cols, 1, S, cols, V + j0 * Dv, Dv, 1, acc, Dv)
                        j0 += cols
                    }
                    for r in 0..<rows {
                        let i = i0 + r, o = O + i * Dv, a = acc + r * Dv
                        if l[r] == 0 {
                            o.update(repeating: 0, count: Dv)
                            lp[bh * Tq + i] = -T.infinity
                        } else {
                            let inv = 1 / l[r]
                            for d in 0..<Dv { o[d] = a[d] * inv }
                            lp[bh * Tq + i] = m[r] + T.log(l[r])
                        }
                    }
                    i0 += rows
                }
            }
        }
    }

    private func attentionBackwardTyped<T: KernelFloat>(_: T.Type, _ q: Operand, _ k: Operand, _ v: Operand,
                                                        _ mask: Operand?, _ out: Operand, _ lse: Operand,
                                                        _ gOut: Operand, _ gq: Operand, _ gk: Operand, _ gv: Operand,
                                                        _ s: AttentionShape, _ drop: AttentionDropout?) {
        let H = s.heads, Tq = s.queries, Tk = s.keys, D = s.headDim, Dv = s.valueDim
        let qp = typed(q, T.self), kp = typed(k, T.self), vp = typed(v, T.self), op = typed(out, T.self)
        let lp = typed(lse, T.self), gop = typed(gOut, T.self)
        let gqp = typed(gq, T.self), gkp = typed(gk, T.self), gvp = typed(gv, T.self)
        let mp = mask.map { typed($0, T.self) }, ms = mask?.strides ?? [0, 0, 0, 0]
        let br = Self.attentionBlock, bc = Self.attentionBlock
        let scale = T(s.scale), keepScale = T(1 / (1 - (drop?.p ?? 0))), causal = s.causal
        parallelFor(s.batch * H, grain: 1) { p0, p1 in
            let scratch = AttentionScratch<T>(3 * br * bc + Tq)
            // Raw pointers into the buffer are used below: keep the owner alive to the end of the scope (Swift may
            // otherwise end its lifetime after the last use of `scratch` itself and hand the buffer to another thread).
            defer { withExtendedLifetime(scratch) {} }
            let P = scratch.pointer, dP = P + br * bc, Pd = drop == nil ? P : dP + br * bc, rowDot = dP + 2 * br * bc
            for bh in p0..<p1 {
                let Q = qp + bh * Tq * D, K = kp + bh * Tk * D, V = vp + bh * Tk * Dv
                let O = op + bh * Tq * Dv, dO = gop + bh * Tq * Dv, L = lp + bh * Tq
                let dQ = gqp + bh * Tq * D, dK = gkp + bh * Tk * D, dV = gvp + bh * Tk * Dv
                let M = mp.map { $0 + (bh / H) * ms[0] + (bh % H) * ms[1] }
                dQ.update(repeating: 0, count: Tq * D)
                dK.update(repeating: 0, count: Tk * D)
                dV.update(repeating: 0, count: Tk * Dv)
                for i in 0..<Tq {
                    var acc: T = 0
                    for d in 0..<Dv { acc += dO[i * Dv + d] * O[i * Dv + d] }
                    rowDot[i] = acc
                }
                var j0 = 0
                while j0 < Tk {
                    let cols = Swift.min(bc, Tk - j0)
                    var i0 = causal ? (j0 / br) * br : 0
                    while i0 < Tq {
                        let rows = Swift.min(br, Tq - i0)
                        singleThreadGemm(false, true, rows, cols, D, scale, Q + i0 * D, D, K + j0 * D, D, 0, P, cols)
                        if T.self == Float.self {
                            if M != nil { for r in 0..<rows { maskRow(P + r * cols, cols, i: i0 + r, j0: j0, M, ms, false) } }
                            ek_attn_exp_rows_f32(floats(P), rows, cols, i0 - j0, causal ? 1 : 0, floats(L + i0))
                        } else {
                            for r in 0..<rows {
                                let row = P + r * cols, i = i0 + r
                                if L[i] == -T.infinity {
                                    row.update(repeating: 0, count: cols)
                                    continue
                                }
                                maskRow(row, cols, i: i, j0: j0, M, ms, causal)
                                expShifted(row, cols, by: L[i])
                            }
                        }
                        // dP = dO_i V_jᵀ
                        singleThreadGemm(false, true, rows, cols, Dv, 1, dO + i0 * Dv, Dv, V + j0 * Dv, Dv, 0, dP, cols)
                        if let drop {
                            for r in 0..<rows {
                                let base = (bh * Tq + i0 + r) * Tk + j0
                                for c in 0..<cols {
                                    let x = r * cols + c
                                    if drop.keeps(base + c) {
                                        Pd[x] = P[x] * keepScale
                                        dP[x] *= keepScale
                                    } else {
                                        Pd[x] = 0
                                        dP[x] = 0
                                    }
                                }
                            }
                        }
                        // dV_j += Pdᵀ dO_i
                        singleThreadGemm(true, false, cols, Dv, rows, 1, Pd, cols, dO + i0 * Dv, Dv, 1, dV + j0 * Dv, Dv)
                        // dS = P (dP - rowDot), in dP
                        for r in 0..<rows {
                            let di = rowDot[i0 + r], pr = P + r * cols, dr = dP + r * cols
                            for c in 0..<cols { dr[c] = pr[c] * (dr[c] - di) }
                        }
                        singleThreadGemm(false, false, rows, D, cols, scale, dP, cols, K + j0 * D, D, 1, dQ + i0 * D, D)
                        singleThreadGemm(true, false, cols, D, rows, scale, dP, cols, Q + i0 * D, D, 1, dK + j0 * D, D)
                        i0 += rows
                    }
                    j0 += cols
                }
            }
        }
    }
}

/// Adds the mask's row i (keys j0..<j0+cols) and sets keys after i to -inf when causal.
@inline(__always)
private func maskRow<T: KernelFloat>(_ row: UnsafeMutablePointer<T>, _ cols: Int, i: Int, j0: Int,
                                     _ mask: UnsafeMutablePointer<T>?, _ ms: [Int], _ causal: Bool) {
    if let mask {
        let mr = mask + i * ms[2], sk = ms[3]
        for c in 0..<cols { row[c] += mr[(j0 + c) * sk] }
    }
    if causal && j0 + cols - 1 > i {
        for c in Swift.max(0, i - j0 + 1)..<cols { row[c] = -T.infinity }
    }
}

/// row[c] = exp(row[c] - shift).
@inline(__always)
private func expShifted<T: KernelFloat>(_ row: UnsafeMutablePointer<T>, _ cols: Int, by shift: T) {
    for c in 0..<cols { row[c] -= shift }
    if T.self == Float.self {
        let f = UnsafeMutableRawPointer(row).assumingMemoryBound(to: Float.self)
        ek_unary_f32(0, f, f, cols)
    } else {
        for c in 0..<cols { row[c] = T.exp(row[c]) }
    }
}

/// A float32 buffer's pointer under its own type (callers check T is Float).
@inline(__always)
private func floats<T>(_ p: UnsafeMutablePointer<T>) -> UnsafeMutablePointer<Float> {
    UnsafeMutableRawPointer(p).assumingMemoryBound(to: Float.self)
}

@inline(__always)
private func typed<T>(_ o: Operand, _: T.Type) -> UnsafeMutablePointer<T> { o.pointer.assumingMemoryBound(to: T.self) }

/// A per-thread scratch buffer from the caching allocator, returned when it goes out of scope.
private final class AttentionScratch<T> {
    let pointer: UnsafeMutablePointer<T>
    private let raw: UnsafeMutableRawPointer, capacity: Int
    init(_ count: Int) {
        (raw, capacity) = CachingAllocator.shared.allocate(Swift.max(count, 1) * MemoryLayout<T>.stride)
        pointer = raw.bindMemory(to: T.self, capacity: Swift.max(count, 1))
    }
    deinit { CachingAllocator.shared.release(raw, size: capacity) }
}
