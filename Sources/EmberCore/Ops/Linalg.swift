/// How a strided matrix can be handed to GEMM: transposed or not, with its leading dimension.
func gemmLayout(rows: Int, cols: Int, rs: Int, cs: Int) -> (trans: Bool, ld: Int)? {
    if rows <= 1 && cols <= 1 { return (false, Swift.max(cols, 1)) }
    let ers = rows == 1 ? Swift.max(cols, 1) : rs, ecs = cols == 1 ? 1 : cs
    if ecs == 1 && ers >= Swift.max(cols, 1) { return (false, ers) }
    let trs = rows == 1 ? 1 : rs, tcs = cols == 1 ? Swift.max(rows, 1) : cs
    if trs == 1 && tcs >= Swift.max(rows, 1) { return (true, tcs) }
    return nil
}

/// Matrix product with NumPy/PyTorch semantics: 1-D operands are promoted to a row or column vector (and the added
/// dimension removed), leading dimensions broadcast as a batch. Float32/Float64 run on OpenBLAS.
public func matmul(_ a: Tensor, _ b: Tensor) -> Tensor {
    checkOperands("matmul", ["a": a, "b": b], sameDType: false)
    precondition(a.rank >= 1 && b.rank >= 1, "matmul: \(a.shape) x \(b.shape): both operands need at least one dimension")
    // vector . vector is a 0-D dot product (squeezing -2 after the recursive call would hit a rank-1 result).
    if a.rank == 1 && b.rank == 1 { return matmul(a.unsqueezed(axis: 0), b.unsqueezed(axis: -1)).reshaped([]) }
    if a.rank == 1 { return matmul(a.unsqueezed(axis: 0), b).squeezed(axis: -2) }
    if b.rank == 1 { return matmul(a, b.unsqueezed(axis: -1)).squeezed(axis: -1) }
    let k = a.shape[a.rank - 1], k2 = b.shape[b.rank - 2]
    precondition(k == k2, "matmul: \(a.shape) x \(b.shape): inner dimensions \(k) and \(k2) differ")
    precondition(a.dtype == b.dtype, "matmul: \(a.shape) x \(b.shape): dtypes \(a.dtype) and \(b.dtype) differ")
    let batchA = Array(a.shape.dropLast(2)), batchB = Array(b.shape.dropLast(2))
    guard broadcastShape(batchA, batchB) != nil else {
        preconditionFailure("matmul: \(a.shape) x \(b.shape): batch dimensions \(batchA) and \(batchB) cannot be broadcast")
    }
    return Tensor.apply(Matmul(), [a, b])
}

extension OpRegistry {
    static let linalgOps: [any PrimitiveOp.Type] = [Matmul.self, Linear.self, EmbeddingLinear.self]
}

/// Matrix product of operands of rank >= 2 (leading dimensions broadcast as a batch; checked by `matmul`).
struct Matmul: PrimitiveOp {
    static let name = "matmul"
    func forward(_ x: [Tensor]) -> Tensor {
        let a = x[0], b = x[1]
        let m = a.shape[a.rank - 2], k = a.shape[a.rank - 1], n = b.shape[b.rank - 1]
        let batch = broadcastShape(Array(a.shape.dropLast(2)), Array(b.shape.dropLast(2)))!
        if b.rank == 2 && a.rank > 2 && a.isContiguous {
            // Fold the batch into rows: one large GEMM.
            let rows = a.count / Swift.max(k, 1)
            let flat = matmulRaw(a.view(shape: [rows, k], strides: [k, 1], offset: a.offset), b)
            return flat.view(shape: batch + [m, n], strides: contiguousStrides(batch + [m, n]), offset: 0)
        }
        return matmulBatched(a, b, batch: batch, m: m, n: n, k: k)
    }
    func vjp(_ g: Tensor, _ c: VJPContext) -> [Tensor?] {
        let a = c.inputs[0], b = c.inputs[1]
        let k = a.shape[a.rank - 1], n = b.shape[b.rank - 1]
        var ga: Tensor? = nil, gb: Tensor? = nil
        if c.needs(0) { ga = matmul(g, b.transposed()).sumTo(a.shape) }
        if c.needs(1) {
            if b.rank == 2 && a.rank > 2 {
                gb = matmul(a.reshaped([-1, k]).transposed(), g.reshaped([-1, n]))
            } else {
                gb = matmul(a.transposed(), g).sumTo(b.shape)
            }
        }
        return [ga, gb]
    }
}

/// 2-D GEMM without recording.
func matmulRaw(_ a: Tensor, _ b: Tensor) -> Tensor {
    let m = a.shape[0], k = a.shape[1], n = b.shape[1]
    let out = Tensor.empty([m, n], dtype: a.dtype, backend: a.backend)
    if k == 0 { a.backend.fill(out.operand, count: out.count, value: 0); return out }
    let a2 = gemmLayout(rows: m, cols: k, rs: a.strides[0], cs: a.strides[1]) == nil ? a.contiguousData() : a
    let b2 = gemmLayout(rows: k, cols: n, rs: b.strides[0], cs: b.strides[1]) == nil ? b.contiguousData() : b
    let la = gemmLayout(rows: m, cols: k, rs: a2.strides[0], cs: a2.strides[1])!
    let lb = gemmLayout(rows: k, cols: n, rs: b2.strides[0], cs: b2.strides[1])!
    a.backend.gemm(transA: la.trans, transB: lb.trans, m: m, n: n, k: k, alpha: 1, a: a2.operand, lda: la.ld,
                   b: b2.operand, ldb: lb.ld, beta: 0, c: out.operand, ldc: Swift.max(n, 1))
    return out
}

private func matmulBatched(_ a: Tensor, _ b: Tensor, batch: [Int], m: Int, n: Int, k: Int) -> Tensor {
    let out = Tensor.empty(batch + [m, n], dtype: a.dtype, backend: a.backend)
    if out.count == 0 { return out }
    if k == 0 { a.backend.fill(out.operand, count: out.count, value: 0); return out }
    let ra = a.rank, rb = b.rank
    let a2 = gemmLayout(rows: m, cols: k, rs: a.strides[ra - 2], cs: a.strides[ra - 1]) == nil ? a.contiguousData() : a
    let b2 = gemmLayout(rows: k, cols: n, rs: b.strides[rb - 2], cs: b.strides[rb - 1]) == nil ? b.contiguousData() : b
    let la = gemmLayout(rows: m, cols: k, rs: a2.strides[ra - 2], cs: a2.strides[ra - 1])!
    let lb = gemmLayout(rows: k, cols: n, rs: b2.strides[rb - 2], cs: b2.strides[rb - 1])!
    let sa = broadcastStrides(shape: Array(a2.shape.dropLast(2)), strides: Array(a2.strides.dropLast(2)), to: batch)
    let sb = broadcastStrides(shape: Array(b2.shape.dropLast(2)), strides: Array(b2.strides.dropLast(2)), to: batch)
    let so = contiguousStrides(batch).map { $0 * m * n }
    let es = a.dtype.byteSize
    let oa = a2.operand, ob = b2.operand, oc = out.operand
    StridedLoop(shape: batch, strides: [sa, sb, so]).forEachRow { off, cnt, inner in
        for i in 0..<cnt {
            var pa = oa, pb = ob, pc = oc
            pa.pointer += (off[0] + i * inner[0]) * es
            pb.pointer += (off[1] + i * inner[1]) * es
            pc.pointer += (off[2] + i * inner[2]) * es
            a.backend.gemm(transA: la.trans, transB: lb.trans, m: m, n: n, k: k, alpha: 1, a: pa, lda: la.ld,
                           b: pb, ldb: lb.ld, beta: 0, c: pc, ldc: n)
        }
    }
    return out
}

extension Tensor {
    /// Matrix product (see the free function `matmul`).
    public func matmul(_ other: Tensor) -> Tensor { EmberCore.matmul(self, other) }
}

/// y = x · weightᵀ + bias, fused into one GEMM per call (as `torch.nn.functional.linear`).
/// x: [..., in], weight: [out, in], bias: [out].
///
/// When `x` is an embedding's output with at least twice as many rows as the vocabulary, the GEMM runs over the
/// vocabulary and its rows are gathered (same result and gradients; see `EmbeddingLookup`).
public func linear(_ x: Tensor, _ weight: Tensor, _ bias: Tensor? = nil) -> Tensor {
    checkOperands("linear", ["input": x, "weight": weight, "bias": bias])
    precondition(weight.rank == 2, "linear: weight must be [out, in], got \(weight.shape)")
    let inF = weight.shape[1], outF = weight.shape[0]
    precondition(x.rank >= 1 && x.shape[x.rank - 1] == inF,
                 "linear: input \(x.shape) x weight \(weight.shape): input features \(x.shape.last ?? 0) and \(inF) differ")
    if let bias { precondition(bias.shape == [outF], "linear: bias must be [\(outF)], got \(bias.shape)") }
    if let y = linearThroughLookup(x, weight, bias) { return y }
    return Tensor.apply(Linear(), bias.map { [x, weight, $0] } ?? [x, weight])
}

/// y = x · weightᵀ + bias for inputs [x, weight] or [x, weight, bias], one GEMM with the bias as its C operand.
struct Linear: PrimitiveOp {
    static let name = "linear"
    func forward(_ inputs: [Tensor]) -> Tensor { run(inputs, inputs[0].contiguousData()) }
    /// Keeps the contiguous copy of a strided input (a batch-first view of a recurrence's output) for backward's
    /// dW, which would otherwise copy it again.
    func forwardAndSave(_ inputs: [Tensor]) -> (Tensor, [Tensor]) {
        let x2 = inputs[0].contiguousData()
        return (run(inputs, x2), x2 === inputs[0] ? [] : [x2])
    }
    private func run(_ inputs: [Tensor], _ x2: Tensor) -> Tensor {
        let x = inputs[0], weight = inputs[1], bias: Tensor? = inputs.count > 2 ? inputs[2] : nil
        let inF = weight.shape[1], outF = weight.shape[0]
        let rows = x.count / Swift.max(inF, 1)
        let out = Tensor.empty(Array(x.shape.dropLast()) + [outF], dtype: x.dtype, backend: x.backend)
        if let bias {
            let bc = bias.contiguousData()
            // out viewed as the [rows, outF] matrix the GEMM writes (its own strides are for x's rank)
            x.backend.copy(bc.operand(broadcastTo: [rows, outF]),
                           into: out.operand.restrided([outF, 1]), shape: [rows, outF])
        }
        if rows > 0 && outF > 0 {
            if inF == 0 {
                if bias == nil { x.backend.fill(out.operand, count: out.count, value: 0) }
            } else {
                let w = weight.contiguousData()
                x.backend.gemm(transA: false, transB: true, m: rows, n: outF, k: inF, alpha: 1, a: x2.operand, lda: inF,
                               b: w.operand, ldb: inF, beta: bias == nil ? 0 : 1, c: out.operand, ldc: outF)
            }
        }
        return out
    }
    func vjp(_ g: Tensor, _ c: VJPContext) -> [Tensor?] {
        let x = c.inputs[0], weight = c.inputs[1]
        let inF = weight.shape[1], outF = weight.shape[0]
        let rows = x.count / Swift.max(inF, 1)
        let g2 = g.reshaped([rows, outF])
        return [c.needs(0) ? matmul(g2, weight).reshaped(x.shape) : nil,
                // The saved copy holds x's values but not its graph: a createGraph backward uses x itself.
                c.needs(1) ? matmul(g2.transposed(), (GradMode.isEnabled ? x : c.saved.first ?? x).reshaped([rows, inF])) : nil,
                c.needs(2) ? g2.sum(axis: 0) : nil]
    }
}
