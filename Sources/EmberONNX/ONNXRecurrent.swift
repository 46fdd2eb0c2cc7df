import EmberCore

extension ONNXNodeRunner {
    /// ONNX's LSTM (gates i, o, f, c) and GRU (gates z, r, h) with the default activations, run step by step on
    /// Ember's ops: outputs Y [seq, directions, batch, hidden], Y_h (and Y_c) [directions, batch, hidden].
    func recurrent() throws -> [Tensor] {
        let lstm = node.opType == "LSTM"
        var x = try input(0)
        let w = try input(1), r = try input(2)
        let hidden = int("hidden_size", r.shape.last ?? 0)
        let direction = string("direction", "forward")
        let dirs = direction == "bidirectional" ? 2 : 1
        let gates = lstm ? 4 : 3
        guard w.rank == 3, w.shape[0] == dirs, w.shape[1] == gates * hidden, r.shape == [dirs, gates * hidden, hidden] else {
            throw fail("W \(w.shape) / R \(r.shape) do not fit hidden_size \(hidden), \(dirs) direction(s)")
        }
        guard attr("clip") == nil, int("input_forget", 0) == 0, optional(lstm ? 7 : 99) == nil else {
            throw fail("clip, input_forget and peepholes are not supported")
        }
        if let acts = attr("activations") {
            let names = acts.strings.map { String(decoding: $0, as: UTF8.self).lowercased() }
            let standard = lstm ? ["sigmoid", "tanh", "tanh"] : ["sigmoid", "tanh"]
            guard names == Array(repeating: standard, count: dirs).flatMap({ $0 }) else { throw fail("activations \(names)") }
        }
        let layout = int("layout", 0)
        guard x.rank == 3, x.shape[2] == w.shape[2], hidden > 0 else { throw fail("input \(x.shape) does not fit W \(w.shape)") }
        if layout == 1 { x = x.transposed(0, 1) }   // [batch, seq, input] -> [seq, batch, input]
        let steps = x.shape[0], batch = x.shape[1]
        for (i, t) in [(3, [dirs, 2 * gates * hidden]), (5, [dirs, batch, hidden]), (6, [dirs, batch, hidden])] where i != 6 || lstm {
            if let v = optional(i), v.shape != (layout == 1 && i > 4 ? [batch, dirs, hidden] : t) {
                throw fail("input \(i) has shape \(v.shape), expected \(t)")
            }
        }
        if let lens = optional(4) {
            guard values(lens).allSatisfy({ $0 == steps }) else { throw fail("sequence_lens shorter than the sequence are not supported") }
        }
        let bias = optional(3)
        // initial states are [directions, batch, hidden] ([batch, directions, hidden] with layout 1)
        let h0 = optional(5).map { layout == 1 ? $0.transposed(0, 1) : $0 }
        let c0 = lstm ? optional(6).map { layout == 1 ? $0.transposed(0, 1) : $0 } : nil
        let linearBeforeReset = int("linear_before_reset", 0) != 0
        var ys: [Tensor] = [], hs: [Tensor] = [], cs: [Tensor] = []
        for d in 0..<dirs {
            let wd = w.select(axis: 0, d), rd = r.select(axis: 0, d)
            let bw = bias?.select(axis: 0, d).slice(axis: 0, start: 0, end: gates * hidden)
            let br = bias?.select(axis: 0, d).slice(axis: 0, start: gates * hidden, end: 2 * gates * hidden)
            var h = h0?.select(axis: 0, d) ?? Tensor.zeros([batch, hidden], dtype: x.dtype)
            var c = c0?.select(axis: 0, d) ?? Tensor.zeros([batch, hidden], dtype: x.dtype)
            // the input projection of every step at once
            var xw = matmul(x, wd.transposed(0, 1))                  // [seq, batch, gates*hidden]
            if let bw { xw = xw + bw }
            let reverse = direction == "reverse" || d == 1
            var outs = [Tensor?](repeating: nil, count: steps)
            for t in (reverse ? Array((0..<steps).reversed()) : Array(0..<steps)) {
                let xt = xw.select(axis: 0, t)
                if lstm {
                    var g = xt + matmul(h, rd.transposed(0, 1))
                    if let br { g = g + br }
                    let p = g.split(sizes: [hidden, hidden, hidden, hidden], axis: 1)
                    let i = p[0].sigmoid(), o = p[1].sigmoid(), f = p[2].sigmoid(), cand = p[3].tanh()
                    c = f * c + i * cand
                    h = o * c.tanh()
                } else {
                    let xs = xt.split(sizes: [hidden, hidden, hidden], axis: 1)
                    let rz = rd.slice(axis: 0, start: 0, end: 2 * hidden), rh = rd.slice(axis: 0, start: 2 * hidden, end: 3 * hidden)
                    var hr = matmul(h, rz.transposed(0, 1))
                    if let br { hr = hr + br.slice(axis: 0, start: 0, end: 2 * hidden) }
                    let zr = hr.split(sizes: [hidden, hidden], axis: 1)
                    let z = (xs[0] + zr[0]).sigmoid(), rg = (xs[1] + zr[1]).sigmoid()
                    let rbh = br?.slice(axis: 0, start: 2 * hidden, end: 3 * hidden)
                    let cand: Tensor
                    if linearBeforeReset {
                        var rh1 = matmul(h, rh.transposed(0, 1))
                        if let rbh { rh1 = rh1 + rbh }
                        cand = (xs[2] + rg * rh1).tanh()
                    } else {
                        var rh1 = matmul(rg * h, rh.transposed(0, 1))
                        if let rbh { rh1 = rh1 + rbh }
                        cand = (xs[2] + rh1).tanh()
                    }
                    h = (1 - z) * cand + z * h
                }
                outs[t] = h
            }
            ys.append(stack(outs.map { $0! }, axis: 0))   // [seq, batch, hidden]
            hs.append(h)
            cs.append(c)
        }
        var y = stack(ys, axis: 1)                           // [seq, dirs, batch, hidden]
        if layout == 1 { y = y.permuted([2, 0, 1, 3]).contiguous() }   // [batch, seq, dirs, hidden]
        var yh = stack(hs, axis: 0), yc = stack(cs, axis: 0)
        if layout == 1 { yh = yh.transposed(0, 1).contiguous(); yc = yc.transposed(0, 1).contiguous() }
        return lstm ? [y, yh, yc] : [y, yh]
    }
}
