import CEmberKernels
import Foundation

// The fused LSTM/GRU cell kernels of the CPU backend: float32 through the vectorized C kernels (rows split across
// Ember's threads; each row is independent, so the split does not change any bit), float64 as plain loops.
extension CPUBackend {
    /// Rows per thread chunk: at least 64K gate values. A step of the char-LSTM benchmark (32 x 4 x 256) stays on one
    /// thread: a second barrier per step cost more than the split saved (A/B on a loaded host: ~25k vs ~20.6k tokens/s).
    private static func rowGrain(_ hidden: Int) -> Int { Swift.max(1, 65_536 / Swift.max(4 * hidden, 1)) }

    public func lstmCell(x: Operand, r: Operand, bias: Operand?, cPrev: Operand, hPrev: Operand, mask: Operand?,
                         saved: Operand, c: Operand, h: Operand, y: Operand, batch: Int, hidden: Int) {
        let H = hidden
        switch x.dtype {
        case .float32:
            let xp = f32(x), rp = f32(r), bp = bias.map(f32), cp = f32(cPrev), hp = f32(hPrev), mp = mask.map(f32)
            let sp = f32(saved), co = f32(c), ho = f32(h), yp = f32(y)
            parallelFor(batch, grain: Self.rowGrain(H)) { s, e in
                ek_lstm_cell_f32(xp + s * 4 * H, rp + s * 4 * H, bp, cp + s * H, hp + s * H, mp.map { $0 + s },
                                 sp + s * 5 * H, co + s * H, ho + s * H, yp + s * H, e - s, H)
            }
        case .float64:
            lstmCellLoop(x: f64(x), r: f64(r), bias: bias.map(f64), cPrev: f64(cPrev), hPrev: f64(hPrev),
                         mask: mask.map(f64), saved: f64(saved), c: f64(c), h: f64(h), y: f64(y), batch: batch, hidden: H)
        default:
            preconditionFailure("lstm cell: \(x.dtype) is not supported (float32 or float64)")
        }
    }

    public func lstmCellBackward(saved: Operand, cPrev: Operand, dh: Operand, dy: Operand, dc: Operand, mask: Operand?,
                                 dGates: Operand, dBias: Operand?, batch: Int, hidden: Int) {
        let H = hidden
        switch saved.dtype {
        case .float32:
            let sp = f32(saved), cp = f32(cPrev), dhp = f32(dh), dyp = f32(dy), dcp = f32(dc), mp = mask.map(f32)
            let dg = f32(dGates), db = dBias.map(f32)
            // With a bias gradient the rows add into it in order: one call.
            parallelFor(batch, grain: db == nil ? Self.rowGrain(H) : Swift.max(batch, 1)) { s, e in
                ek_lstm_cell_backward_f32(sp + s * 5 * H, cp + s * H, dhp + s * H, dyp + s * H, dcp + s * H,
                                          mp.map { $0 + s }, dg + s * 4 * H, db, e - s, H)
            }
        case .float64:
            let sp = f64(saved), cp = f64(cPrev), dhp = f64(dh), dyp = f64(dy), dcp = f64(dc), mp = mask.map(f64)
            let dg = f64(dGates), db = dBias.map(f64)
            for b in 0..<batch {
                if let mp, mp[b] == 0 {
                    for j in 0..<4 * H { dg[b * 4 * H + j] = 0 }
                    continue
                }
                let s = sp + b * 5 * H
                for j in 0..<H {
                    let i = s[j], f = s[H + j], g = s[2 * H + j], o = s[3 * H + j], tc = s[4 * H + j]
                    let dhv = dhp[b * H + j] + dyp[b * H + j]
                    let dcv = dcp[b * H + j] + dhv * o * (1 - tc * tc)
                    dg[b * 4 * H + j] = dcv * g * i * (1 - i)
                    dg[b * 4 * H + H + j] = dcv * cp[b * H + j] * f * (1 - f)
                    dg[b * 4 * H + 2 * H + j] = dcv * i * (1 - g * g)
                    dg[b * 4 * H + 3 * H + j] = dhv * tc * o * (1 - o)
                    dcp[b * H + j] = dcv * f
                    dhp[b * H + j] = 0
                }
                if let db { for j in 0..<4 * H { db[j] += dg[b * 4 * H + j] } }
            }
        default:
            preconditionFailure("lstm cell backward: \(saved.dtype) is not supported (float32 or float64)")
        }
    }

    public func gruCell(x: Operand, r: Operand, bias: Operand?, hPrev: Operand, mask: Operand?, saved: Operand,
                        h: Operand, y: Operand, batch: Int, hidden: Int) {
        let H = hidden
        switch x.dtype {
        case .float32:
            let xp = f32(x), rp = f32(r), bp = bias.map(f32), hp = f32(hPrev), mp = mask.map(f32)
            let sp = f32(saved), ho = f32(h), yp = f32(y)
            parallelFor(batch, grain: Self.rowGrain(H)) { s, e in
                ek_gru_cell_f32(xp + s * 3 * H, rp + s * 3 * H, bp, hp + s * H, mp.map { $0 + s }, sp + s * 4 * H,
                                ho + s * H, yp + s * H, e - s, H)
            }
        case .float64:
            let xp = f64(x), rp = f64(r), bp = bias.map(f64), hp = f64(hPrev), mp = mask.map(f64)
            let sp = f64(saved), ho = f64(h), yp = f64(y)
            for b in 0..<batch {
                if let mp, mp[b] == 0 {
                    for j in 0..<H { ho[b * H + j] = hp[b * H + j]; yp[b * H + j] = 0 }
                    for j in 0..<4 * H { sp[b * 4 * H + j] = 0 }
                    continue
                }
                let xb = xp + b * 3 * H, rb = rp + b * 3 * H, s = sp + b * 4 * H
                for j in 0..<H {
                    func rec(_ k: Int) -> Double { rb[k] + (bp?[k] ?? 0) }
                    let rg = 1 / (1 + Foundation.exp(-(xb[j] + rec(j))))
                    let z = 1 / (1 + Foundation.exp(-(xb[H + j] + rec(H + j))))
                    let hn = rec(2 * H + j)
                    let n = Foundation.tanh(xb[2 * H + j] + rg * hn)
                    let hv = n + z * (hp[b * H + j] - n)
                    s[j] = rg; s[H + j] = z; s[2 * H + j] = n; s[3 * H + j] = hn
                    ho[b * H + j] = hv; yp[b * H + j] = hv
                }
            }
        default:
            preconditionFailure("gru cell: \(x.dtype) is not supported (float32 or float64)")
        }
    }

    public func gruCellBackward(saved: Operand, hPrev: Operand, dh: Operand, dy: Operand, mask: Operand?, dX: Operand,
                                dRec: Operand, dBias: Operand?, batch: Int, hidden: Int) {
        let H = hidden
        switch saved.dtype {
        case .float32:
            let sp = f32(saved), hp = f32(hPrev), dhp = f32(dh), dyp = f32(dy), mp = mask.map(f32)
            let dx = f32(dX), dr = f32(dRec), db = dBias.map(f32)
            // With a bias gradient the rows add into it in order: one call.
            parallelFor(batch, grain: db == nil ? Self.rowGrain(H) : Swift.max(batch, 1)) { s, e in
                ek_gru_cell_backward_f32(sp + s * 4 * H, hp + s * H, dhp + s * H, dyp + s * H, mp.map { $0 + s },
                                         dx + s * 3 * H, dr + s * 3 * H, db, e - s, H)
            }
        case .float64:
            let sp = f64(saved), hp = f64(hPrev), dhp = f64(dh), dyp = f64(dy), mp = mask.map(f64)
            let dx = f64(dX), dr = f64(dRec), db = dBias.map(f64)
            for b in 0..<batch {
                if let mp, mp[b] == 0 {
                    for j in 0..<3 * H { dx[b * 3 * H + j] = 0; dr[b * 3 * H + j] = 0 }
                    continue
                }
                let s = sp + b * 4 * H
                for j in 0..<H {
                    let rg = s[j], z = s[H + j], n = s[2 * H + j], hn = s[3 * H + j]
                    let dhv = dhp[b * H + j] + dyp[b * H + j]
                    let dnp = dhv * (1 - z) * (1 - n * n)
                    let dzp = dhv * (hp[b * H + j] - n) * z * (1 - z)
                    let drp = dnp * hn * rg * (1 - rg)
                    dx[b * 3 * H + j] = drp; dx[b * 3 * H + H + j] = dzp; dx[b * 3 * H + 2 * H + j] = dnp
                    dr[b * 3 * H + j] = drp; dr[b * 3 * H + H + j] = dzp; dr[b * 3 * H + 2 * H + j] = dnp * rg
                    dhp[b * H + j] = dhv * z
                }
                if let db { for j in 0..<3 * H { db[j] += dr[b * 3 * H + j] } }
            }
        default:
            preconditionFailure("gru cell backward: \(saved.dtype) is not supported (float32 or float64)")
        }
    }

    // MARK: vocabulary rows (float32)

    /// `lstmCell` (`cPrev` and `c` given) or `gruCell` (both nil), float32, reading the input projection's rows from
    /// `table` (`[V, G hidden]`, G = 4 for the LSTM, 3 for the GRU) at `rows` (int64, one per batch row, each in
    /// 0..<V: the caller checks) instead of from a gathered copy; the same bits as gathering them first.
    func recurrentCellRows(table: Operand, rows: Operand, r: Operand, bias: Operand?, cPrev: Operand?, hPrev: Operand,
                           mask: Operand?, saved: Operand, c: Operand?, h: Operand, y: Operand, batch: Int, hidden H: Int) {
        precondition(table.dtype == .float32 && rows.dtype == .int64, "recurrent cell rows: float32 table and int64 rows")
        precondition((cPrev == nil) == (c == nil), "recurrent cell rows: an LSTM step takes cPrev and c, a GRU step neither")
        let tp = f32(table), ip = rows.pointer.assumingMemoryBound(to: Int64.self), rp = f32(r), bp = bias.map(f32)
        let hp = f32(hPrev), mp = mask.map(f32), sp = f32(saved), ho = f32(h), yp = f32(y)
        let cp = cPrev.map(f32), co = c.map(f32), G = co != nil ? 4 : 3
        parallelFor(batch, grain: Self.rowGrain(H)) { s, e in
            if let cp, let co {
                ek_lstm_cell_rows_f32(tp, ip + s, rp + s * G * H, bp, cp + s * H, hp + s * H, mp.map { $0 + s },
                                      sp + s * (G + 1) * H, co + s * H, ho + s * H, yp + s * H, e - s, H)
            } else {
                ek_gru_cell_rows_f32(tp, ip + s, rp + s * G * H, bp, hp + s * H, mp.map { $0 + s }, sp + s * (G + 1) * H,
                                     ho + s * H, yp + s * H, e - s, H)
            }
        }
    }

    /// `lstmCellBackward` (`dc` given) or `gruCellBackward` (float32) that also adds each row's input-projection
    /// gradient (the LSTM's `dGates`, the GRU's `dX`) into row `rows[b]` of `dTable` (`[V, G hidden]`), row after
    /// row: the same bits as an `indexAdd` of those rows after the step.
    func recurrentCellBackwardRows(saved: Operand, prev: Operand, dh: Operand, dy: Operand, dc: Operand?, mask: Operand?,
                                   dX: Operand, dRec: Operand?, dBias: Operand?, rows: Operand, dTable: Operand,
                                   batch: Int, hidden H: Int) {
        precondition(saved.dtype == .float32 && rows.dtype == .int64, "recurrent cell backward rows: float32 and int64 rows")
        let ip = rows.pointer.assumingMemoryBound(to: Int64.self), dt = f32(dTable), mp = mask.map(f32)
        // The rows add into the table in order: one call.
        if let dc {
            ek_lstm_cell_backward_rows_f32(f32(saved), f32(prev), f32(dh), f32(dy), f32(dc), mp, f32(dX), dBias.map(f32),
                                           ip, dt, batch, H)
        } else if let dRec {
            ek_gru_cell_backward_rows_f32(f32(saved), f32(prev), f32(dh), f32(dy), mp, f32(dX), f32(dRec), dBias.map(f32),
                                          ip, dt, batch, H)
        } else {
            preconditionFailure("recurrent cell backward rows: an LSTM step needs dc, a GRU step dRec")
        }
    }

    private func lstmCellLoop(x: UnsafeMutablePointer<Double>, r: UnsafeMutablePointer<Double>,
                              bias: UnsafeMutablePointer<Double>?, cPrev: UnsafeMutablePointer<Double>,
                              hPrev: UnsafeMutablePointer<Double>, mask: UnsafeMutablePointer<Double>?,
                              saved: UnsafeMutablePointer<Double>, c: UnsafeMutablePointer<Double>,
                              h: UnsafeMutablePointer<Double>, y: UnsafeMutablePointer<Double>, batch: Int, hidden H: Int) {
        for b in 0..<batch {
            if let mask, mask[b] == 0 {
                for j in 0..<H { c[b * H + j] = cPrev[b * H + j]; h[b * H + j] = hPrev[b * H + j]; y[b * H + j] = 0 }
                for j in 0..<5 * H { saved[b * 5 * H + j] = 0 }
                continue
            }
            let xb = x + b * 4 * H, rb = r + b * 4 * H, s = saved + b * 5 * H
            func pre(_ k: Int) -> Double { xb[k] + (rb[k] + (bias?[k] ?? 0)) }
            for j in 0..<H {
                let i = 1 / (1 + Foundation.exp(-pre(j))), f = 1 / (1 + Foundation.exp(-pre(H + j)))
                let g = Foundation.tanh(pre(2 * H + j)), o = 1 / (1 + Foundation.exp(-pre(3 * H + j)))
                let cv = f * cPrev[b * H + j] + i * g
                let tc = Foundation.tanh(cv)
                s[j] = i; s[H + j] = f; s[2 * H + j] = g; s[3 * H + j] = o; s[4 * H + j] = tc
                c[b * H + j] = cv; h[b * H + j] = o * tc; y[b * H + j] = o * tc
            }
        }
    }
}

@inline(__always) private func f32(_ o: Operand) -> UnsafeMutablePointer<Float> { o.pointer.assumingMemoryBound(to: Float.self) }
@inline(__always) private func f64(_ o: Operand) -> UnsafeMutablePointer<Double> { o.pointer.assumingMemoryBound(to: Double.self) }
