import Foundation

// MARK: fused attention: the definition, one query row at a time in double precision (no blocking, no online softmax),
// the oracle for the CPU backend's blocked kernel.
extension ReferenceBackend {
    /// The scaled, masked scores of query row i against every key (-inf where masked or above the causal diagonal).
    private func attentionScores(_ q: Operand, _ k: Operand, _ mask: Operand?, _ s: AttentionShape, b: Int, h: Int,
                                 i: Int) -> [Double] {
        let bh = b * s.heads + h, D = s.headDim
        var scores = [Double](repeating: 0, count: s.keys)
        for j in 0..<s.keys {
            if s.causal && j > i { scores[j] = -.infinity; continue }
            var dot = 0.0
            for d in 0..<D {
                dot += loadDouble(q.pointer, (bh * s.queries + i) * D + d, q.dtype)
                    * loadDouble(k.pointer, (bh * s.keys + j) * D + d, k.dtype)
            }
            var x = dot * s.scale
            if let mask {
                let st = mask.strides
                x += loadDouble(mask.pointer, b * st[0] + h * st[1] + i * st[2] + j * st[3], mask.dtype)
            }
            scores[j] = x
        }
        return scores
    }

    /// The dropout factor of weight (bh, i, j): 1/(1-p) when kept, 0 when dropped, 1 without dropout.
    private func keepFactor(_ drop: AttentionDropout?, _ s: AttentionShape, bh: Int, i: Int, j: Int) -> Double {
        guard let drop else { return 1 }
        return drop.keeps((bh * s.queries + i) * s.keys + j) ? 1 / (1 - drop.p) : 0
    }

    public func attentionForward(q: Operand, k: Operand, v: Operand, mask: Operand?, out: Operand, lse: Operand,
                                 _ s: AttentionShape, dropout: AttentionDropout?) {
        let Dv = s.valueDim
        for b in 0..<s.batch {
            for h in 0..<s.heads {
                let bh = b * s.heads + h
                for i in 0..<s.queries {
                    let scores = attentionScores(q, k, mask, s, b: b, h: h, i: i)
                    let mx = scores.max() ?? -.infinity
                    let row = (bh * s.queries + i)
                    if mx == -.infinity {
                        for d in 0..<Dv { storeDouble(out.pointer, row * Dv + d, out.dtype, 0) }
                        storeDouble(lse.pointer, row, lse.dtype, -.infinity)
                        continue
                    }
                    let w = scores.map { Foundation.exp($0 - mx) }
                    let l = w.reduce(0, +)
                    for d in 0..<Dv {
                        var acc = 0.0
                        for j in 0..<s.keys where w[j] != 0 {
                            acc += w[j] / l * keepFactor(dropout, s, bh: bh, i: i, j: j)
                                * loadDouble(v.pointer, (bh * s.keys + j) * Dv + d, v.dtype)
                        }
                        storeDouble(out.pointer, row * Dv + d, out.dtype, acc)
                    }
                    storeDouble(lse.pointer, row, lse.dtype, mx + Foundation.log(l))
                }
            }
        }
    }

    public func attentionBackward(q: Operand, k: Operand, v: Operand, mask: Operand?, out: Operand, lse: Operand,
                                  gOut: Operand, gq: Operand, gk: Operand, gv: Operand, _ s: AttentionShape,
                                  dropout: AttentionDropout?) {
        let D = s.headDim, Dv = s.valueDim
        var dq = [Double](repeating: 0, count: s.batch * s.heads * s.queries * D)
        var dk = [Double](repeating: 0, count: s.batch * s.heads * s.keys * D)
        var dv = [Double](repeating: 0, count: s.batch * s.heads * s.keys * Dv)
        for b in 0..<s.batch {
            for h in 0..<s.heads {
                let bh = b * s.heads + h
                for i in 0..<s.queries {
                    let row = bh * s.queries + i
                    let L = loadDouble(lse.pointer, row, lse.dtype)
                    if L == -.infinity { continue }
                    let scores = attentionScores(q, k, mask, s, b: b, h: h, i: i)
                    var rowDot = 0.0
                    for d in 0..<Dv {
                        rowDot += loadDouble(gOut.pointer, row * Dv + d, gOut.dtype)
                            * loadDouble(out.pointer, row * Dv + d, out.dtype)
                    }
                    for j in 0..<s.keys {
                        let p = Foundation.exp(scores[j] - L)
                        if p == 0 { continue }
                        let keep = keepFactor(dropout, s, bh: bh, i: i, j: j)
                        var dP = 0.0
                        for d in 0..<Dv {
                            let go = loadDouble(gOut.pointer, row * Dv + d, gOut.dtype)
                            dP += go * loadDouble(v.pointer, (bh * s.keys + j) * Dv + d, v.dtype)
                            dv[(bh * s.keys + j) * Dv + d] += p * keep * go
                        }
                        let dS = p * (dP * keep - rowDot) * s.scale
                        for d in 0..<D {
                            dq[row * D + d] += dS * loadDouble(k.pointer, (bh * s.keys + j) * D + d, k.dtype)
                            dk[(bh * s.keys + j) * D + d] += dS * loadDouble(q.pointer, row * D + d, q.dtype)
                        }
                    }
                }
            }
        }
        for (i, x) in dq.enumerated() { storeDouble(gq.pointer, i, gq.dtype, x) }
        for (i, x) in dk.enumerated() { storeDouble(gk.pointer, i, gk.dtype, x) }
        for (i, x) in dv.enumerated() { storeDouble(gv.pointer, i, gv.dtype, x) }
    }
}
