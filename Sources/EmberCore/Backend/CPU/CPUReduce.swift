import CEmberKernels

extension CPUBackend {
    public func reduce(_ op: ReduceOp, _ x: Operand, _ out: Operand, outer: Int, n: Int, inner: Int) {
        switch x.dtype {
        case .float32:
            if op == .sum && inner == 1 {
                let xp = x.pointer.assumingMemoryBound(to: Float.self), o = out.pointer.assumingMemoryBound(to: Float.self)
                if outer == 1 && n >= (1 << 16) {
                    // Fixed 64K-element blocks (whatever the thread count) summed in parallel, combined in order:
                    // the same bits for any thread count.
                    let blocks = (n + 65535) / 65536
                    var partial = [Double](repeating: 0, count: blocks)
                    partial.withUnsafeMutableBufferPointer { pb in
                        let pp = pb.baseAddress!
                        parallelFor(blocks, grain: 1) { s, e in
                            for b in s..<e { pp[b] = ek_sum_f32(xp + b * 65536, Swift.min(65536, n - b * 65536)) }
                        }
                    }
                    o[0] = Float(partial.reduce(0, +))
                    return
                }
                parallelFor(outer, grain: Swift.max(1, 8192 / Swift.max(n, 1))) { s, e in
                    for r in s..<e { o[r] = Float(ek_sum_f32(xp + r * n, n)) }
                }
                return
            }
            if op == .sum && inner >= 16 {
                // Sums over a middle axis (a bias gradient's column sums): each output element adds its n values in
                // order, as reduceTyped does (same bits), a row of a column block at a time on the vector kernel,
                // column blocks of 256 shared among the threads.
                let xp = x.pointer.assumingMemoryBound(to: Float.self), o = out.pointer.assumingMemoryBound(to: Float.self)
                let blocks = (inner + 255) / 256
                parallelFor(outer * blocks, grain: Swift.max(1, 65536 / Swift.max(n * Swift.min(inner, 256), 1))) { s, e in
                    for u in s..<e {
                        let r = u / blocks, c0 = (u % blocks) * 256, w = Swift.min(256, inner - c0)
                        let orow = o + r * inner + c0
                        orow.update(repeating: 0, count: w)
                        for j in 0..<n { ek_binary_f32(0, orow, 1, xp + (r * n + j) * inner + c0, 1, orow, w) }
                    }
                }
                return
            }
            reduceTyped(op, x, out, outer, n, inner, Float.self)
        case .float64: reduceTyped(op, x, out, outer, n, inner, Double.self)
        case .int32: reduceTyped(op, x, out, outer, n, inner, Int32.self)
        case .int64: reduceTyped(op, x, out, outer, n, inner, Int64.self)
        case .bool: preconditionFailure("reduce \(op): convert bool tensors to a numeric dtype first")
        case .uint8: reduceUInt8(op, x, out, outer: outer, n: n, inner: inner)
        case .float16, .bfloat16: reduceViaFloat32(op, x, out, outer: outer, n: n, inner: inner)
        }
    }

    private func reduceTyped<T: KernelNumeric>(_ op: ReduceOp, _ x: Operand, _ out: Operand, _ outer: Int, _ n: Int,
                                               _ inner: Int, _: T.Type) {
        let xp = x.pointer.assumingMemoryBound(to: T.self), o = out.pointer.assumingMemoryBound(to: T.self)
        let initial: T
        switch op {
        case .sum: initial = .zero
        case .prod: initial = .one
        case .max: initial = .lowest
        case .min: initial = .highest
        }
        @inline(__always) func run(_ f: (T, T) -> T) {
            withoutActuallyEscaping(f) { f in
                let box = UncheckedSendable(value: f)
                parallelFor(outer, grain: Swift.max(1, 8192 / Swift.max(n * inner, 1))) { s, e in
                    for r in s..<e {
                        let orow = o + r * inner
                        for i in 0..<inner { orow[i] = initial }
                        for j in 0..<n {
                            let xrow = xp + (r * n + j) * inner
                            for i in 0..<inner { orow[i] = box.value(orow[i], xrow[i]) }
                        }
                    }
                }
            }
        }
        switch op {
        case .sum: run { $0 + $1 }
        case .prod: run { $0 * $1 }
        // NaN propagates as in PyTorch: a NaN operand wins.
        case .max: run { a, b in (b != b || b > a) ? b : a }
        case .min: run { a, b in (b != b || b < a) ? b : a }
        }
    }

    public func argReduce(max: Bool, _ x: Operand, _ out: Operand, outer: Int, n: Int, inner: Int) {
        precondition(n > 0, "argmax/argmin: reduced dimension is empty")
        let o = out.pointer.assumingMemoryBound(to: Int64.self)
        for r in 0..<outer {
            for i in 0..<inner {
                var best = loadDouble(x.pointer, r * n * inner + i, x.dtype)
                var bi = 0
                for j in 1..<Swift.max(n, 1) {
                    let v = loadDouble(x.pointer, (r * n + j) * inner + i, x.dtype)
                    if best != best { break }
                    if v != v || (max ? v > best : v < best) { best = v; bi = j }
                }
                o[r * inner + i] = Int64(bi)
            }
        }
    }

    public func softmax(log: Bool, _ x: Operand, _ out: Operand, outer: Int, n: Int, inner: Int) {
        if x.dtype == .float32 && inner == 1 {
            let xp = x.pointer.assumingMemoryBound(to: Float.self), o = out.pointer.assumingMemoryBound(to: Float.self)
            parallelFor(outer, grain: Swift.max(1, 16384 / Swift.max(n, 1))) { s, e in
                ek_softmax_rows_f32(xp + s * n, o + s * n, e - s, n, log ? 1 : 0)
            }
            return
        }
        switch x.dtype {
        case .float32: softmaxGeneric(log, x, out, outer, n, inner, Float.self)
        case .float64: softmaxGeneric(log, x, out, outer, n, inner, Double.self)
        case .float16, .bfloat16: softmaxViaFloat32(log: log, x, out, outer: outer, n: n, inner: inner)
        default: preconditionFailure("softmax: needs a float tensor, got \(x.dtype)")
        }
    }

    private func softmaxGeneric<T: KernelFloat>(_ log: Bool, _ x: Operand, _ out: Operand, _ outer: Int, _ n: Int,
                                                _ inner: Int, _: T.Type) {
        let xp = x.pointer.assumingMemoryBound(to: T.self), o = out.pointer.assumingMemoryBound(to: T.self)
        parallelFor(outer * inner, grain: Swift.max(1, 8192 / Swift.max(n, 1))) { s, e in
            for idx in s..<e {
                let r = idx / inner, i = idx % inner
                let base = r * n * inner + i
                // A NaN in the row becomes the maximum, so the row comes out NaN (as PyTorch's); an all -inf row
                // is shifted by 0 and comes out 0/0 = NaN too.
                var m = -T.infinity
                for j in 0..<n { let v = xp[base + j * inner]; if v > m || v != v { m = v } }
                if m == -T.infinity { m = 0 }
                var sum: T = 0
                for j in 0..<n { sum += T.exp(xp[base + j * inner] - m) }
                if log {
                    let shift = m + T.log(sum)
                    for j in 0..<n { o[base + j * inner] = xp[base + j * inner] - shift }
                } else {
                    for j in 0..<n { o[base + j * inner] = T.exp(xp[base + j * inner] - m) / sum }
                }
            }
        }
    }

    public func softmaxBackward(log: Bool, y: Operand, g: Operand, _ out: Operand, outer: Int, n: Int, inner: Int) {
        if y.dtype == .float32 && inner == 1 {
            let yp = y.pointer.assumingMemoryBound(to: Float.self), gp = g.pointer.assumingMemoryBound(to: Float.self)
            let o = out.pointer.assumingMemoryBound(to: Float.self)
            parallelFor(outer, grain: Swift.max(1, 16384 / Swift.max(n, 1))) { s, e in
                ek_softmax_backward_rows_f32(yp + s * n, gp + s * n, o + s * n, e - s, n, log ? 1 : 0)
            }
            return
        }
        switch y.dtype {
        case .float32: softmaxBackwardGeneric(log, y, g, out, outer, n, inner, Float.self)
        case .float64: softmaxBackwardGeneric(log, y, g, out, outer, n, inner, Double.self)
        case .float16, .bfloat16: softmaxBackwardViaFloat32(log: log, y: y, g: g, out, outer: outer, n: n, inner: inner)
        default: preconditionFailure("softmax backward: needs a float tensor, got \(y.dtype)")
        }
    }

    private func softmaxBackwardGeneric<T: KernelFloat>(_ log: Bool, _ y: Operand, _ g: Operand, _ out: Operand,
                                                        _ outer: Int, _ n: Int, _ inner: Int, _: T.Type) {
        let yp = y.pointer.assumingMemoryBound(to: T.self), gp = g.pointer.assumingMemoryBound(to: T.self)
        let o = out.pointer.assumingMemoryBound(to: T.self)
        for r in 0..<outer {
            for i in 0..<inner {
                let base = r * n * inner + i
                var s: T = 0
                if log {
                    for j in 0..<n { s += gp[base + j * inner] }
                    for j in 0..<n { o[base + j * inner] = gp[base + j * inner] - T.exp(yp[base + j * inner]) * s }
                } else {
                    for j in 0..<n { s += gp[base + j * inner] * yp[base + j * inner] }
                    for j in 0..<n { o[base + j * inner] = yp[base + j * inner] * (gp[base + j * inner] - s) }
                }
            }
        }
    }

    public func cumsum(_ x: Operand, _ out: Operand, outer: Int, n: Int, inner: Int) {
        switch x.dtype {
        case .float32: cumsumTyped(x, out, outer, n, inner, Float.self)
        case .float64: cumsumTyped(x, out, outer, n, inner, Double.self)
        case .int32: cumsumTyped(x, out, outer, n, inner, Int32.self)
        case .int64: cumsumTyped(x, out, outer, n, inner, Int64.self)
        case .bool: preconditionFailure("cumsum: convert bool tensors to a numeric dtype first")
        case .uint8: cumsumUInt8(x, out, outer: outer, n: n, inner: inner)
        case .float16, .bfloat16: cumsumViaFloat32(x, out, outer: outer, n: n, inner: inner)
        }
    }

    private func cumsumTyped<T: KernelNumeric>(_ x: Operand, _ out: Operand, _ outer: Int, _ n: Int, _ inner: Int,
                                               _: T.Type) {
        let xp = x.pointer.assumingMemoryBound(to: T.self), o = out.pointer.assumingMemoryBound(to: T.self)
        for r in 0..<outer {
            for i in 0..<inner {
                var acc = T.zero
                for j in 0..<n {
                    let k = (r * n + j) * inner + i
                    acc = acc + xp[k]
                    o[k] = acc
                }
            }
        }
    }
}
