import CEmberKernels
import Foundation

extension CPUBackend {
    @inline(__always)
    private func index(_ op: Operand, _ i: Int, _ bound: Int, _ what: String) -> Int {
        let v = op.dtype == .int64 ? Int(op.pointer.assumingMemoryBound(to: Int64.self)[i])
            : Int(op.pointer.assumingMemoryBound(to: Int32.self)[i])
        precondition(v >= 0 && v < bound, "\(what): index \(v) is out of range for a dimension of size \(bound)")
        return v
    }

    public func gather(_ x: Operand, index idx: Operand, _ out: Operand, outer: Int, n: Int, m: Int, inner: Int) {
        let es = x.dtype.byteSize
        for r in 0..<outer {
            for j in 0..<m {
                for i in 0..<inner {
                    let k = (r * m + j) * inner + i
                    let src = (r * n + index(idx, k, n, "gather")) * inner + i
                    (out.pointer + k * es).copyMemory(from: x.pointer + src * es, byteCount: es)
                }
            }
        }
    }

    public func scatterAdd(_ src: Operand, index idx: Operand, _ out: Operand, outer: Int, n: Int, m: Int, inner: Int) {
        for r in 0..<outer {
            for j in 0..<m {
                for i in 0..<inner {
                    let k = (r * m + j) * inner + i
                    let dst = (r * n + index(idx, k, n, "scatterAdd")) * inner + i
                    storeDouble(out.pointer, dst, out.dtype, loadDouble(out.pointer, dst, out.dtype) + loadDouble(src.pointer, k, src.dtype))
                }
            }
        }
    }

    public func indexSelect(_ x: Operand, index idx: Operand, _ out: Operand, outer: Int, n: Int, m: Int, inner: Int) {
        let es = x.dtype.byteSize
        // Rows are copies: any split among the threads gives the same bytes.
        parallelFor(outer * m, grain: Swift.max(1, 65536 / Swift.max(inner * es, 1))) { lo, hi in
            for q in lo..<hi {
                let r = q / m, j = q % m
                let s = index(idx, j, n, "indexSelect")
                (out.pointer + (r * m + j) * inner * es).copyMemory(from: x.pointer + (r * n + s) * inner * es,
                                                                     byteCount: inner * es)
            }
        }
    }

    public func indexAdd(_ src: Operand, index idx: Operand, _ out: Operand, outer: Int, n: Int, m: Int, inner: Int) {
        // Threads take slices of the inner columns; each element still adds its rows in index order, so the bits do
        // not depend on the split.
        parallelFor(inner, grain: Swift.max(16, 65536 / Swift.max(outer * m, 1))) { lo, hi in
            for r in 0..<outer {
                for j in 0..<m {
                    let d = index(idx, j, n, "indexAdd")
                    let dbase = (r * n + d) * inner, sbase = (r * m + j) * inner
                    switch out.dtype {
                    case .float32:
                        let o = out.pointer.assumingMemoryBound(to: Float.self) + dbase
                        let s = src.pointer.assumingMemoryBound(to: Float.self) + sbase
                        for i in lo..<hi { o[i] += s[i] }
                    case .float64:
                        let o = out.pointer.assumingMemoryBound(to: Double.self) + dbase
                        let s = src.pointer.assumingMemoryBound(to: Double.self) + sbase
                        for i in lo..<hi { o[i] += s[i] }
                    default:
                        for i in lo..<hi {
                            storeDouble(out.pointer, dbase + i, out.dtype,
                                        loadDouble(out.pointer, dbase + i, out.dtype) + loadDouble(src.pointer, sbase + i, src.dtype))
                        }
                    }
                }
            }
        }
    }

    public func random(_ out: Operand, count: Int, normal: Bool, key: (UInt32, UInt32), counter: UInt64) {
        // Element i always draws from Philox block counter+i: the values do not depend on the thread split.
        let dt = out.dtype
        let p = out.pointer
        parallelFor(count, grain: 1 << 14) { s, e in
            for i in s..<e { storeDouble(p, i, dt, Philox.sample(key: key, counter: counter &+ UInt64(i), normal: normal, dtype: dt)) }
        }
    }

    public func axpby(_ x: Operand, alpha: Double, _ y: Operand, beta: Double, count: Int) {
        switch y.dtype {
        case .float32:
            let yp = y.pointer.assumingMemoryBound(to: Float.self), xp = x.pointer.assumingMemoryBound(to: Float.self)
            parallelFor(count, grain: 1 << 15) { s, e in ek_axpby_f32(yp + s, Float(beta), xp + s, Float(alpha), yp + s, e - s) }
        default:
            for i in 0..<count {
                storeDouble(y.pointer, i, y.dtype, beta * loadDouble(y.pointer, i, y.dtype) + alpha * loadDouble(x.pointer, i, x.dtype))
            }
        }
    }

    public func adam(param: Operand, grad: Operand, m: Operand, v: Operand, count: Int, lr: Double, beta1: Double,
                     beta2: Double, eps: Double, step: Int, l2: Double, decoupledDecay: Double) {
        let c1 = 1 - Foundation.pow(beta1, Double(step)), c2 = 1 - Foundation.pow(beta2, Double(step))
        switch param.dtype {
        case .float32:
            let pp = param.pointer.assumingMemoryBound(to: Float.self), gp = grad.pointer.assumingMemoryBound(to: Float.self)
            let mp = m.pointer.assumingMemoryBound(to: Float.self), vp = v.pointer.assumingMemoryBound(to: Float.self)
            parallelFor(count, grain: 1 << 15) { s, e in
                ek_adam_f32(pp + s, gp + s, mp + s, vp + s, e - s, Float(lr), Float(1 - beta1), Float(1 - beta2), Float(eps),
                            Float(c1), Float(c2), Float(l2), Float(decoupledDecay))
            }
        default:
            for i in 0..<count {
                var pi = loadDouble(param.pointer, i, param.dtype)
                let gi = loadDouble(grad.pointer, i, grad.dtype) + l2 * pi
                pi *= 1 - decoupledDecay
                let mi = loadDouble(m.pointer, i, m.dtype) * beta1 + (1 - beta1) * gi
                let vi = loadDouble(v.pointer, i, v.dtype) * beta2 + (1 - beta2) * gi * gi
                storeDouble(m.pointer, i, m.dtype, mi)
                storeDouble(v.pointer, i, v.dtype, vi)
                let denom = vi.squareRoot() / c2.squareRoot() + eps
                storeDouble(param.pointer, i, param.dtype, pi - lr / c1 * mi / denom)
            }
        }
    }
}
