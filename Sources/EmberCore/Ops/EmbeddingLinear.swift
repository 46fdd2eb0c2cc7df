/// `linear` of an embedding's output, computed through the vocabulary.
///
/// When `x = table[indices]` (made by `embedding`, or a permutation of its index axes) feeds `linear(x, W, b)` and
/// there are more rows than vocabulary entries, the product `table · Wᵀ + b` is computed once per vocabulary entry
/// (`[V, out]`) and its rows are gathered by the indices: the same dot products, `V` rows of GEMM instead of one per
/// token. Backward adds the output gradient up per vocabulary entry first (`dP`, `[V, out]`), so the weight's
/// gradient is `dPᵀ · table` and the bias's `Σ dP`. The gradient reaching the table is `dP · W` when the embedding
/// output's own gradient is not asked for (its only way back is into the table's rows, so the sum is the same);
/// when it is asked for (`gradients(of:wrt:)` on that tensor, or on the embedding output it is a view of) or it is a
/// leaf, it gets `g · W` as `linear` gives it.
///
/// A char-level language model (65 symbols, 2,048 tokens a step) thus spends on its input projection 65/2,048 of
/// the GEMM work. Not used while tracing (exports see plain `embedding` and `linear` nodes) or when the table, the
/// indices or the embedding output were written in place after the lookup.
struct EmbeddingLookup {
    /// The lookup's indices, shaped as the output's leading axes.
    let indices: Tensor
    /// The embedding table `[V, D]`.
    let table: Tensor
    /// Storage versions when looked up: of the output, the indices and the table.
    let versions: [Int]
    /// Whether the output's gradient flows into the table through its tape node (false for a lookup made without
    /// recording).
    let recorded: Bool
    /// The embedding output and the views between it and this tensor (this one excluded): asking for the gradient of
    /// any of them needs this tensor's own gradient.
    let through: [ObjectIdentifier]

    init(output: Tensor, indices: Tensor, table: Tensor) {
        self.indices = indices
        self.table = table
        versions = [output.storage.version, indices.storage.version, table.storage.version]
        recorded = output.gradFn != nil
        through = []
    }

    private init(indices: Tensor, table: Tensor, versions: [Int], recorded: Bool, through: [ObjectIdentifier]) {
        self.indices = indices
        self.table = table
        self.versions = versions
        self.recorded = recorded
        self.through = through
    }

    /// Whether the gradient of the tensor carrying this lookup (input `i` of the op) is needed for itself, not only
    /// on its way into the table.
    func needsOwnGradient(_ ctx: VJPContext, input i: Int) -> Bool {
        ctx.needs(i) && (!recorded || ctx.isRequested(i) || through.contains { ctx.isRequested($0) })
    }

    /// Whether nothing was written in place since the lookup.
    func isCurrent(for output: Tensor) -> Bool {
        versions == [output.storage.version, indices.storage.version, table.storage.version]
    }

    /// The lookup of `base.permuted(dims)` (`base` carries this one) when the permutation keeps the feature axis
    /// last; nil otherwise.
    func permuted(_ dims: [Int], of base: Tensor) -> EmbeddingLookup? {
        guard dims.last == dims.count - 1 else { return nil }
        return EmbeddingLookup(indices: indices.permuted(Array(dims.dropLast())), table: table, versions: versions,
                               recorded: recorded, through: through + [ObjectIdentifier(base)])
    }
}

/// `linear(x, weight, bias)` through the vocabulary when `x` is a current embedding output with at least twice as
/// many rows as the table; nil otherwise (the caller runs the plain GEMM).
func linearThroughLookup(_ x: Tensor, _ weight: Tensor, _ bias: Tensor?) -> Tensor? {
    guard let lookup = usableLookup(x) else { return nil }
    let inputs = [x, lookup.indices, lookup.table, weight] + (bias.map { [$0] } ?? [])
    return Tensor.apply(EmbeddingLinear(lookup: lookup), inputs)
}

/// `x`'s lookup when computing through the vocabulary pays: not tracing, nothing written in place since, and at
/// least twice as many rows as vocabulary entries.
func usableLookup(_ x: Tensor) -> EmbeddingLookup? {
    guard let lookup = x.lookup, Tracer.current == nil, lookup.isCurrent(for: x) else { return nil }
    let rows = x.count / Swift.max(x.shape[x.rank - 1], 1)
    guard rows >= 2 * lookup.table.shape[0], lookup.table.dtype == x.dtype, lookup.table.backend === x.backend else {
        return nil
    }
    return lookup
}

/// `table[indices] · weightᵀ + bias`, inputs `[x, indices, table, weight]` plus `bias`, where `x = table[indices]`
/// is the embedding output (its values are not read: it is an input so that its gradient can be given to it).
struct EmbeddingLinear: PrimitiveOp {
    static let name = "embedding_linear"
    /// x's lookup (which tells whether x's gradient only flows into the table).
    let lookup: EmbeddingLookup

    func forward(_ inputs: [Tensor]) -> Tensor {
        let x = inputs[0], indices = inputs[1].contiguousData(), table = inputs[2].contiguousData()
        let weight = inputs[3].contiguousData(), bias: Tensor? = inputs.count > 4 ? inputs[4] : nil
        let V = table.shape[0], inF = weight.shape[1], outF = weight.shape[0]
        let rows = indices.count
        let projected = Tensor.empty([V, outF], dtype: x.dtype, backend: x.backend)
        if let bias {
            x.backend.copy(bias.contiguousData().operand(broadcastTo: [V, outF]), into: projected.operand, shape: [V, outF])
        }
        if inF == 0 {
            if bias == nil { x.backend.fill(projected.operand, count: projected.count, value: 0) }
        } else if V > 0 && outF > 0 {
            x.backend.gemm(transA: false, transB: true, m: V, n: outF, k: inF, alpha: 1, a: table.operand, lda: inF,
                           b: weight.operand, ldb: inF, beta: bias == nil ? 0 : 1, c: projected.operand, ldc: outF)
        }
        let out = Tensor.empty(Array(x.shape.dropLast()) + [outF], dtype: x.dtype, backend: x.backend)
        if rows > 0 && outF > 0 {
            x.backend.indexSelect(projected.operand, index: indices.operand, out.operand, outer: 1, n: V, m: rows, inner: outF)
        }
        return out
    }

    func vjp(_ g: Tensor, _ c: VJPContext) -> [Tensor?] {
        let x = c.inputs[0], indices = c.inputs[1], table = c.inputs[2], weight = c.inputs[3]
        let outF = weight.shape[0], rows = indices.count
        let g2 = g.reshaped([rows, outF])
        let toTable = c.needs(2) && !lookup.needsOwnGradient(c, input: 0)
        // dP[v] = Σ of the output gradient's rows looked up from entry v (in row order).
        let needsSums = toTable || c.needs(3) || c.needs(4)
        let dP = needsSums
            ? Tensor.zeros([table.shape[0], outF], dtype: g.dtype, on: g.backend)
                .indexAdd(axis: 0, index: indices.reshaped([-1]), source: g2)
            : nil
        return [c.needs(0) && !toTable ? matmul(g2, weight).reshaped(x.shape) : nil,
                nil,
                toTable ? matmul(dP!, weight) : nil,
                c.needs(3) ? matmul(dP!.transposed(), table) : nil,
                c.needs(4) ? dP!.sum(axis: 0) : nil]
    }
}
