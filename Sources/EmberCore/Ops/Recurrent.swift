import Synchronization

/// The fused LSTM and GRU recurrences: one primitive runs a whole sequence of one layer in one direction.
///
/// The input projection `W_ih x + b_ih` of every step is the caller's (one GEMM over the whole sequence, done by
/// `linear` before the op), or, for an embedding's output, a table of vocabulary rows read by index
/// (`lstmLayer`/`gruLayer`, `RecurrenceVocabulary`). The op runs the time loop: per step one recurrent GEMM `h W_hh^T` into a reused buffer and
/// one fused cell kernel (`Backend.lstmCell` / `gruCell`) for the gate nonlinearities and the state update, which also
/// writes the gate activations backward needs into one saved buffer. Backward runs the reverse loop: one fused cell
/// backward kernel and one GEMM for dh_prev per step, then the whole weight gradient dW_hh as one GEMM over all steps.
/// No tensor is allocated per step. Batches of 16 rows or more run their time loops in independent chains of rows,
/// taken by Ember's threads a step at a time, with no barrier per step (`forEachChainStep`).
///
/// Result: one tensor `[T + 2, B, H]` (LSTM) or `[T + 1, B, H]` (GRU): rows 0..<T are the outputs by time index,
/// row T the final hidden state, row T + 1 (LSTM) the final cell state (`lstmSequence`/`gruSequence` hand out views).
/// With `lengths`, a sequence's state stops changing past its length, its outputs there are zero and the reverse
/// direction starts at its last valid step (PyTorch's packed sequences).
///
/// Gradients of gradients are not available through the fused op (its backward is kernels, not differentiable ops):
/// a backward with `createGraph` stops with a message naming the op. The unfused path of the recurrent layers
/// (`fused = false`) is built from differentiable ops and supports them.
extension OpRegistry {
    static let recurrentOps: [any PrimitiveOp.Type] = [LSTMSequence.self, GRUSequence.self]
}

/// The LSTM recurrence over a sequence. Inputs: `[projected [T, B, 4H], weight_hh [4H, H], h0 [B, H], c0 [B, H]]`
/// plus `bias_hh [4H]` when `hasBias`; with `vocabulary`, projected is `[V, 4H]` and `RecurrenceVocabulary`'s inputs
/// follow.
struct LSTMSequence: PrimitiveOp {
    static let name = "lstm_sequence"
    let reverse: Bool, lengths: [Int]?, hasBias: Bool
    /// Set when the input comes as vocabulary rows (see `RecurrenceVocabulary`).
    var vocabulary: RecurrenceVocabulary? = nil
    var attributes: [String: OpAttribute] {
        var a: [String: OpAttribute] = ["reverse": .bool(reverse), "bias": .bool(hasBias)]
        if let lengths { a["lengths"] = .ints(lengths) }
        if vocabulary != nil { a["vocabulary"] = .bool(true) }
        return a
    }
    func forward(_ inputs: [Tensor]) -> Tensor { forwardAndSave(inputs).0 }
    func forwardAndSave(_ inputs: [Tensor]) -> (Tensor, [Tensor]) {
        recurrenceForward(lstm: true, inputs, reverse: reverse, lengths: lengths, hasBias: hasBias,
                          vocabulary: vocabulary != nil)
    }
    func vjp(_ g: Tensor, _ ctx: VJPContext) -> [Tensor?] {
        recurrenceVJP(lstm: true, g, ctx, reverse: reverse, hasBias: hasBias, vocabulary: vocabulary, name: Self.name)
    }
}

/// The GRU recurrence over a sequence. Inputs: `[projected [T, B, 3H], weight_hh [3H, H], h0 [B, H]]` plus
/// `bias_hh [3H]` when `hasBias`; with `vocabulary`, projected is `[V, 3H]` and `RecurrenceVocabulary`'s inputs
/// follow.
struct GRUSequence: PrimitiveOp {
    static let name = "gru_sequence"
    let reverse: Bool, lengths: [Int]?, hasBias: Bool
    /// Set when the input comes as vocabulary rows (see `RecurrenceVocabulary`).
    var vocabulary: RecurrenceVocabulary? = nil
    var attributes: [String: OpAttribute] {
        var a: [String: OpAttribute] = ["reverse": .bool(reverse), "bias": .bool(hasBias)]
        if let lengths { a["lengths"] = .ints(lengths) }
        if vocabulary != nil { a["vocabulary"] = .bool(true) }
        return a
    }
    func forward(_ inputs: [Tensor]) -> Tensor { forwardAndSave(inputs).0 }
    func forwardAndSave(_ inputs: [Tensor]) -> (Tensor, [Tensor]) {
        recurrenceForward(lstm: false, inputs, reverse: reverse, lengths: lengths, hasBias: hasBias,
                          vocabulary: vocabulary != nil)
    }
    func vjp(_ g: Tensor, _ ctx: VJPContext) -> [Tensor?] {
        recurrenceVJP(lstm: false, g, ctx, reverse: reverse, hasBias: hasBias, vocabulary: vocabulary, name: Self.name)
    }
}

/// Runs an LSTM over a sequence from its input projection (fused: one recurrent GEMM and one cell kernel per step).
///
/// - Parameters:
///   - projected: `W_ih x + b_ih` for every step, `[T, B, 4H]` (gates i, f, g, o as PyTorch).
///   - weightHH: `[4H, H]`; `biasHH`: `[4H]` or nil.
///   - h0, c0: the initial states `[B, H]`.
///   - reverse: run from the last step to the first (the reverse direction of a bidirectional layer).
///   - lengths: valid steps per sequence (`0...T`), or nil when all are full length.
/// - Returns: the outputs `[T, B, H]` by time index and the final states `[B, H]`.
public func lstmSequence(_ projected: Tensor, weightHH: Tensor, biasHH: Tensor?, h0: Tensor, c0: Tensor,
                         reverse: Bool = false, lengths: [Int]? = nil) -> (output: Tensor, h: Tensor, c: Tensor) {
    checkRecurrence("lstm_sequence", gates: 4, projected, weightHH, biasHH, h0, c0, lengths)
    let op = LSTMSequence(reverse: reverse, lengths: lengths, hasBias: biasHH != nil)
    let packed = Tensor.apply(op, [projected, weightHH, h0, c0] + (biasHH.map { [$0] } ?? []))
    let T = projected.shape[0]
    return (packed.slice(axis: 0, start: 0, end: T), packed.select(axis: 0, T), packed.select(axis: 0, T + 1))
}

/// Runs a GRU over a sequence from its input projection `[T, B, 3H]` (gates r, z, n as PyTorch); see
/// `lstmSequence`. Returns the outputs `[T, B, H]` and the final hidden state `[B, H]`.
public func gruSequence(_ projected: Tensor, weightHH: Tensor, biasHH: Tensor?, h0: Tensor,
                        reverse: Bool = false, lengths: [Int]? = nil) -> (output: Tensor, h: Tensor) {
    checkRecurrence("gru_sequence", gates: 3, projected, weightHH, biasHH, h0, nil, lengths)
    let op = GRUSequence(reverse: reverse, lengths: lengths, hasBias: biasHH != nil)
    let packed = Tensor.apply(op, [projected, weightHH, h0] + (biasHH.map { [$0] } ?? []))
    let T = projected.shape[0]
    return (packed.slice(axis: 0, start: 0, end: T), packed.select(axis: 0, T))
}

/// One LSTM layer in one direction from its input sequence `x` `[T, B, In]`: the input projection
/// `x W_ihᵀ` (one GEMM over all steps) and the recurrence (`lstmSequence`). `bias` is `b_ih + b_hh` (every gate adds
/// both), or nil.
///
/// When `x` is an embedding's output (`embedding(indices, table)`, possibly with its index axes transposed) with at
/// least twice as many rows as the vocabulary, the projection is computed per vocabulary entry and the recurrence
/// reads its rows by index (`RecurrenceVocabulary`): the same values, with a `[V, 4H]` GEMM instead of `[T B, 4H]`.
public func lstmLayer(_ x: Tensor, weightIH: Tensor, weightHH: Tensor, bias: Tensor?, h0: Tensor, c0: Tensor,
                      reverse: Bool = false, lengths: [Int]? = nil) -> (output: Tensor, h: Tensor, c: Tensor) {
    if let lookup = vocabularyLookup(x, weightIH) {
        let P = linear(lookup.table, weightIH)
        checkRecurrence("lstm_sequence", gates: 4, P, projectedShape: [x.shape[0], x.shape[1], P.shape[1]], weightHH, bias,
                        h0, c0, lengths)
        let op = LSTMSequence(reverse: reverse, lengths: lengths, hasBias: bias != nil,
                              vocabulary: RecurrenceVocabulary(lookup: lookup, hasInputBias: false))
        let packed = Tensor.apply(op, [P, weightHH, h0, c0] + (bias.map { [$0] } ?? []) + [x, lookup.indices, weightIH])
        let T = x.shape[0]
        return (packed.slice(axis: 0, start: 0, end: T), packed.select(axis: 0, T), packed.select(axis: 0, T + 1))
    }
    return lstmSequence(linear(x, weightIH), weightHH: weightHH, biasHH: bias, h0: h0, c0: c0, reverse: reverse,
                        lengths: lengths)
}

/// One GRU layer in one direction from its input sequence `x` `[T, B, In]`: the input projection `x W_ihᵀ + b_ih`
/// and the recurrence (`gruSequence`); an embedding's output is read by vocabulary rows as in `lstmLayer`.
public func gruLayer(_ x: Tensor, weightIH: Tensor, biasIH: Tensor?, weightHH: Tensor, biasHH: Tensor?, h0: Tensor,
                     reverse: Bool = false, lengths: [Int]? = nil) -> (output: Tensor, h: Tensor) {
    if let lookup = vocabularyLookup(x, weightIH) {
        let P = linear(lookup.table, weightIH, biasIH)
        checkRecurrence("gru_sequence", gates: 3, P, projectedShape: [x.shape[0], x.shape[1], P.shape[1]], weightHH, biasHH,
                        h0, nil, lengths)
        let op = GRUSequence(reverse: reverse, lengths: lengths, hasBias: biasHH != nil,
                             vocabulary: RecurrenceVocabulary(lookup: lookup, hasInputBias: biasIH != nil))
        let packed = Tensor.apply(op, [P, weightHH, h0] + (biasHH.map { [$0] } ?? []) + [x, lookup.indices, weightIH]
                                      + (biasIH.map { [$0] } ?? []))
        let T = x.shape[0]
        return (packed.slice(axis: 0, start: 0, end: T), packed.select(axis: 0, T))
    }
    return gruSequence(linear(x, weightIH, biasIH), weightHH: weightHH, biasHH: biasHH, h0: h0, reverse: reverse,
                       lengths: lengths)
}

/// The lookup behind a time-major layer input `[T, B, In]` when the recurrence should read vocabulary rows.
private func vocabularyLookup(_ x: Tensor, _ weightIH: Tensor) -> EmbeddingLookup? {
    guard x.rank == 3, weightIH.rank == 2, weightIH.shape[1] == x.shape[2], weightIH.dtype == x.dtype,
          x.dtype == .float32 || x.dtype == .float64 else { return nil }
    return usableLookup(x)
}

/// `projectedShape`: the projection's shape when `projected` holds vocabulary rows (`[V, gates H]`) instead.
private func checkRecurrence(_ op: String, gates: Int, _ projected: Tensor, projectedShape: [Int]? = nil, _ w: Tensor,
                             _ bias: Tensor?, _ h0: Tensor, _ c0: Tensor?, _ lengths: [Int]?) {
    checkOperands(op, ["projected": projected, "weight_hh": w, "h0": h0, "c0": c0, "bias_hh": bias])
    let shape = projectedShape ?? projected.shape
    precondition(projected.dtype == .float32 || projected.dtype == .float64,
                 "\(op): \(projected.dtype) is not supported (float32 or float64)")
    precondition(shape.count == 3 && h0.rank == 2, "\(op): projected must be [T, B, \(gates)H] and h0 [B, H], got \(shape) and \(h0.shape)")
    let T = shape[0], B = shape[1], H = h0.shape[1]
    precondition(h0.shape[0] == B && shape[2] == gates * H,
                 "\(op): projected \(shape) does not match h0 \(h0.shape) (expected [\(T), \(B), \(gates * H)])")
    precondition(w.shape == [gates * H, H], "\(op): weight_hh must be [\(gates * H), \(H)], got \(w.shape)")
    if let bias { precondition(bias.shape == [gates * H], "\(op): bias_hh must be [\(gates * H)], got \(bias.shape)") }
    if let c0 { precondition(c0.shape == [B, H], "\(op): c0 must be [\(B), \(H)], got \(c0.shape)") }
    if let lengths {
        precondition(lengths.count == B && lengths.allSatisfy { $0 >= 0 && $0 <= T },
                     "\(op): lengths must be \(B) values in 0...\(T), got \(lengths)")
    }
}

/// mask[t, b] = 1 while t < lengths[b], else 0, in `dtype` on `backend`.
private func stepMask(_ lengths: [Int], steps T: Int, dtype: DType, backend: any Backend) -> Tensor {
    let B = lengths.count
    var m = [Double](repeating: 0, count: T * B)
    for b in 0..<B { for t in 0..<lengths[b] { m[t * B + b] = 1 } }
    if dtype == .float32 {
        return m.map { Float($0) }.withUnsafeBytes { Tensor(rawBytes: $0, shape: [T, B], dtype: dtype, on: backend) }
    }
    return m.withUnsafeBytes { Tensor(rawBytes: $0, shape: [T, B], dtype: dtype, on: backend) }
}

/// The forward loop. Saved for backward: `[hIn, gates, cIn (LSTM), mask (with lengths)]`, where hIn[t] / cIn[t] are
/// the states entering the step at time t and gates[t] what the cell kernel saves.
private func recurrenceForward(lstm: Bool, _ inputs: [Tensor], reverse: Bool, lengths: [Int]?,
                               hasBias: Bool, vocabulary: Bool) -> (Tensor, [Tensor]) {
    let G = lstm ? 4 : 3, stateRows = lstm ? 2 : 1
    let proj = inputs[0].contiguousData(), w = inputs[1].contiguousData(), h0 = inputs[2].contiguousData()
    let c0 = lstm ? inputs[3].contiguousData() : nil
    let bias = hasBias ? inputs[lstm ? 4 : 3].contiguousData() : nil
    // With vocabulary rows, proj is [V, G H] and step t's rows are proj[indices[t, b]].
    let indices = vocabulary ? inputs[RecurrenceVocabulary.firstInput(lstm: lstm, hasBias: hasBias) + 1].contiguousData() : nil
    let T = indices?.shape[0] ?? proj.shape[0], B = h0.shape[0], H = h0.shape[1]
    let be = proj.backend, dt = proj.dtype
    let out = Tensor.empty([T + stateRows, B, H], dtype: dt, backend: be)
    let hIn = Tensor.empty([T, B, H], dtype: dt, backend: be)
    let cIn = lstm ? Tensor.empty([T, B, H], dtype: dt, backend: be) : nil
    let gates = Tensor.empty([T, B, (G + 1) * H], dtype: dt, backend: be)
    let rec = Tensor.empty([B, G * H], dtype: dt, backend: be)
    let mask = lengths.map { stepMask($0, steps: T, dtype: dt, backend: be) }
    let rowShape = [B, H]
    /// Row block i of a contiguous [n, B, width] tensor as a [B, width] operand.
    func row(_ t: Tensor, _ i: Int, width: Int = H) -> Operand {
        offsetOperand(t.operand, i * B * width).restrided([width, 1])
    }
    if T == 0 || B == 0 || H == 0 {
        be.copy(h0.operand, into: row(out, T), shape: rowShape)
        if let c0 { be.copy(c0.operand, into: row(out, T + 1), shape: rowShape) }
        return (out, [hIn, gates] + (cIn.map { [$0] } ?? []) + (mask.map { [$0] } ?? []))
    }
    let first = reverse ? T - 1 : 0
    be.copy(h0.operand, into: row(hIn, first), shape: rowShape)
    if let c0, let cIn { be.copy(c0.operand, into: row(cIn, first), shape: rowShape) }
    // W_hh^T laid out once for the backend's GEMM kernel, reused by every step.
    let packedW = T > 1 ? be.prepareGemmB(transB: true, k: H, n: G * H, b: w.operand, ldb: H) : nil
    // Vocabulary rows: the CPU's float32 cell kernels read them from the table in place; elsewhere they are gathered
    // per chain and step into the chain's own block of rows (hot in cache). Either way no [T, B, G H] projection is
    // written out and read back.
    let inPlace = cpuVocabularyRows(indices, tableRows: proj.shape[0], dtype: dt, backend: be)
    let bounds = chainBounds(B)
    let chainRows = zip(bounds.dropFirst(), bounds).map { $0 - $1 }.max() ?? 0
    let gathered = indices != nil && inPlace == nil
        ? Tensor.empty([bounds.count - 1, chainRows, G * H], dtype: dt, backend: be) : nil
    forEachChainStep(B, steps: T, on: be) { chain, r0, n, step in
        /// Rows r0..<r0 + n of block i of a contiguous [steps, B, width] tensor.
        func rows(_ t: Tensor, _ i: Int, width: Int = H) -> Operand {
            offsetOperand(t.operand, (i * B + r0) * width).restrided([width, 1])
        }
        let recRows = rows(rec, 0, width: G * H)
        let t = reverse ? T - 1 - step : step
        // The step's projected input rows (unused when the cell kernel reads the table's rows in place).
        let xRows: Operand
        if inPlace != nil {
            xRows = proj.operand
        } else if let indices, let gathered {
            xRows = offsetOperand(gathered.operand, chain * chainRows * G * H).restrided([G * H, 1])
            be.indexSelect(proj.operand, index: offsetOperand(indices.operand, t * B + r0), xRows, outer: 1,
                           n: proj.shape[0], m: n, inner: G * H)
        } else {
            xRows = rows(proj, t, width: G * H)
        }
        let next: Int? = step + 1 < T ? (reverse ? t - 1 : t + 1) : nil
        if let packedW {
            be.gemm(transA: false, m: n, n: G * H, k: H, alpha: 1, a: rows(hIn, t), lda: H, preparedB: packedW,
                    beta: 0, c: recRows, ldc: G * H)
        } else {
            be.gemm(transA: false, transB: true, m: n, n: G * H, k: H, alpha: 1, a: rows(hIn, t), lda: H,
                    b: w.operand, ldb: H, beta: 0, c: recRows, ldc: G * H)
        }
        let hOut = next.map { rows(hIn, $0) } ?? rows(out, T)
        let m = mask.map { offsetOperand($0.operand, t * B + r0) }
        if let (cpu, rowIndex) = inPlace {
            let cOut = cIn.map { cIn in next.map { rows(cIn, $0) } ?? rows(out, T + 1) }
            cpu.recurrentCellRows(table: proj.operand, rows: offsetOperand(rowIndex.operand, t * B + r0), r: recRows,
                                  bias: bias?.operand, cPrev: cIn.map { rows($0, t) }, hPrev: rows(hIn, t), mask: m,
                                  saved: rows(gates, t, width: (G + 1) * H), c: cOut, h: hOut, y: rows(out, t),
                                  batch: n, hidden: H)
        } else if let cIn {
            let cOut = next.map { rows(cIn, $0) } ?? rows(out, T + 1)
            be.lstmCell(x: xRows, r: recRows, bias: bias?.operand, cPrev: rows(cIn, t),
                        hPrev: rows(hIn, t), mask: m, saved: rows(gates, t, width: (G + 1) * H), c: cOut, h: hOut,
                        y: rows(out, t), batch: n, hidden: H)
        } else {
            be.gruCell(x: xRows, r: recRows, bias: bias?.operand, hPrev: rows(hIn, t), mask: m,
                       saved: rows(gates, t, width: (G + 1) * H), h: hOut, y: rows(out, t), batch: n, hidden: H)
        }
    }
    return (out, [hIn, gates] + (cIn.map { [$0] } ?? []) + (mask.map { [$0] } ?? []))
}

/// Runs `body(chain, firstRow, rows, step)` for steps 0..<T of every chain of rows: the batch is cut into chains that
/// each run the whole time loop on their own (rows never meet in a recurrence: the GEMMs and cell kernels are row by
/// row), so chains need no barrier per step. Each step of a chain runs single-threaded, after the chain's previous step.
///
/// The cut depends on B alone (about 12 rows a chain, the AVX-512 GEMM kernel's row block, at least 8, boundaries at
/// multiples of 4, at most 16 chains), so the bits do not depend on the thread count. With more chains than threads,
/// a thread that finishes a step takes the least advanced free chain: a core that runs slower (a busy neighbour on a
/// shared host) does fewer steps instead of holding the other at the end of the loop.
private func forEachChainStep(_ B: Int, steps T: Int, on be: any Backend, _ body: (Int, Int, Int, Int) -> Void) {
    let bounds = chainBounds(B), chains = bounds.count - 1
    let workers = be is CPUBackend ? Swift.min(Threading.threads, chains) : 1
    if workers <= 1 {
        for c in 0..<chains { for s in 0..<T { body(c, bounds[c], bounds[c + 1] - bounds[c], s) } }
        return
    }
    let schedule = ChainSchedule(chains: chains, steps: T)
    parallelFor(workers, grain: 1) { w0, w1 in
        for _ in w0..<w1 {
            Threading.withThreads(1) {
                var done: Int? = nil
                while let (c, s) = schedule.next(after: done) {
                    body(c, bounds[c], bounds[c + 1] - bounds[c], s)
                    done = c
                }
            }
        }
    }
}

/// The vocabulary row indices as int64 for the CPU's float32 cell kernels, which read (and in backward, add into) the
/// table's rows in place; each is checked against the table's `V` rows here, once. Nil where the rows are gathered
/// instead (no vocabulary, another backend, float64).
private func cpuVocabularyRows(_ indices: Tensor?, tableRows V: Int, dtype: DType, backend: any Backend) -> (CPUBackend, Tensor)? {
    guard let indices, dtype == .float32, let cpu = backend as? CPUBackend else { return nil }
    let rows = (indices.dtype == .int64 ? indices : indices.cast(.int64)).contiguousData()
    let p = rows.operand.pointer.assumingMemoryBound(to: Int64.self)
    for i in 0..<rows.count where p[i] < 0 || p[i] >= V {
        preconditionFailure("recurrence: vocabulary row \(p[i]) is out of range for a table of \(V) rows")
    }
    return (cpu, rows)
}

/// The first row of each chain of a batch of B rows (see `forEachChainStep`), then B.
private func chainBounds(_ B: Int) -> [Int] {
    let chains = Swift.max(1, Swift.min((B + 11) / 12, B / 8, 16))
    return (0...chains).map { $0 == chains ? B : B * $0 / chains / 4 * 4 }
}

/// Which chain runs its next step where (see `forEachChainStep`): a chain is held by one thread at a time.
private final class ChainSchedule: Sendable {
    private struct State { var progress: [Int]; var held: [Bool] }
    private let state: Mutex<State>
    private let steps: Int

    init(chains: Int, steps: Int) {
        state = Mutex(State(progress: [Int](repeating: 0, count: chains), held: [Bool](repeating: false, count: chains)))
        self.steps = steps
    }

    /// Releases chain `after` (its step done) and holds the least advanced free chain with steps left: its index and
    /// step, or nil when none is free (the chains still held finish on their threads).
    func next(after done: Int?) -> (Int, Int)? {
        state.withLock { st in
            if let done { st.progress[done] += 1; st.held[done] = false }
            var best = -1
            for c in st.progress.indices where !st.held[c] && st.progress[c] < steps {
                if best < 0 || st.progress[c] < st.progress[best] { best = c }
            }
            guard best >= 0 else { return nil }
            st.held[best] = true
            return (best, st.progress[best])
        }
    }
}

/// The reverse loop: per step one fused cell backward kernel (which also adds the step's gate gradients into db_hh)
/// and one GEMM (dh_prev += dgates W_hh), then dW_hh as one GEMM over all steps.
private func recurrenceVJP(lstm: Bool, _ g: Tensor, _ ctx: VJPContext, reverse: Bool, hasBias: Bool,
                           vocabulary: RecurrenceVocabulary?, name: String) -> [Tensor?] {
    precondition(!GradMode.isEnabled, "backward of '\(name)': gradients of gradients (createGraph) are not supported by the fused recurrence; use the layer's unfused path (fused = false) for them")
    let G = lstm ? 4 : 3
    let proj = ctx.inputs[0], w = ctx.inputs[1].contiguousData(), h0 = ctx.inputs[2]
    let hIn = ctx.saved[0], gates = ctx.saved[1], cIn: Tensor? = lstm ? ctx.saved[2] : nil
    let mask: Tensor? = ctx.saved.count > (lstm ? 3 : 2) ? ctx.saved[ctx.saved.count - 1] : nil
    let firstVocabularyInput = RecurrenceVocabulary.firstInput(lstm: lstm, hasBias: hasBias)
    let indices = vocabulary != nil ? ctx.inputs[firstVocabularyInput + 1].contiguousData() : nil
    let T = indices?.shape[0] ?? proj.shape[0], B = h0.shape[0], H = h0.shape[1]
    let be = proj.backend, dt = proj.dtype
    let gc = g.contiguousData()
    /// Row block i of a contiguous [n, B, width] tensor as a [B, width] operand.
    func row(_ t: Tensor, _ i: Int, width: Int = H) -> Operand {
        offsetOperand(t.operand, i * B * width).restrided([width, 1])
    }
    let rowShape = [B, H]
    let dh = Tensor.empty(rowShape, dtype: dt, backend: be)
    be.copy(row(gc, T), into: dh.operand, shape: rowShape)
    let dc: Tensor? = lstm ? Tensor.empty(rowShape, dtype: dt, backend: be) : nil
    if let dc { be.copy(row(gc, T + 1), into: dc.operand, shape: rowShape) }
    let dX = Tensor.empty([T, B, G * H], dtype: dt, backend: be)
    let dRec = lstm ? dX : Tensor.empty([T, B, G * H], dtype: dt, backend: be)
    let needsH0 = ctx.needs(2)
    let packedW = T > 1 ? be.prepareGemmB(transB: false, k: G * H, n: H, b: w.operand, ldb: H) : nil
    // The bias gradient: each chain's cell kernels add its rows' gate gradients into the chain's own row (in step
    // order), then the chains' rows are summed, so the bits do not depend on which thread ran which step.
    let chains = chainBounds(B).count - 1
    let dBiasChains = hasBias && ctx.needs(lstm ? 4 : 3) ? Tensor.zeros([chains, G * H], dtype: dt, on: be) : nil
    // Vocabulary rows: the gradient of the projection table dP[v] = sum of the input gradient's rows looked up from v,
    // added per chain in step order (while the rows are in cache), then over the chains, as the bias's. When the
    // layer input's own gradient is needed instead (see `RecurrenceVocabulary`), it comes from the whole dX below.
    let inputPath = vocabulary.map { $0.inputPath(ctx, firstInput: firstVocabularyInput) } ?? false
    let V = indices != nil ? proj.shape[0] : 0
    let dPChains = indices != nil && !inputPath && ctx.needs(0) ? Tensor.zeros([chains, V, G * H], dtype: dt, on: be) : nil
    // The CPU's float32 cell kernels add the rows into dP themselves (the same bits as the index add below).
    let inPlace = dPChains != nil ? cpuVocabularyRows(indices, tableRows: V, dtype: dt, backend: be) : nil
    forEachChainStep(B, steps: T, on: be) { chain, r0, n, s in
        /// Rows r0..<r0 + n of block i of a contiguous [steps, B, width] tensor.
        func rows(_ t: Tensor, _ i: Int, width: Int = H) -> Operand {
            offsetOperand(t.operand, (i * B + r0) * width).restrided([width, 1])
        }
        let dhRows = rows(dh, 0), dcRows = dc.map { rows($0, 0) }
        let db = dBiasChains.map { offsetOperand($0.operand, chain * G * H) }
        let step = T - 1 - s
        let t = reverse ? T - 1 - step : step
        let m = mask.map { offsetOperand($0.operand, t * B + r0) }
        if let (cpu, rowIndex) = inPlace, let dPChains {
            cpu.recurrentCellBackwardRows(saved: rows(gates, t, width: (G + 1) * H), prev: rows(cIn ?? hIn, t), dh: dhRows,
                                          dy: rows(gc, t), dc: dcRows, mask: m, dX: rows(dX, t, width: G * H),
                                          dRec: lstm ? nil : rows(dRec, t, width: G * H), dBias: db,
                                          rows: offsetOperand(rowIndex.operand, t * B + r0),
                                          dTable: offsetOperand(dPChains.operand, chain * V * G * H), batch: n, hidden: H)
        } else if let dcRows, let cIn {
            be.lstmCellBackward(saved: rows(gates, t, width: (G + 1) * H), cPrev: rows(cIn, t), dh: dhRows,
                                dy: rows(gc, t), dc: dcRows, mask: m, dGates: rows(dX, t, width: G * H), dBias: db,
                                batch: n, hidden: H)
        } else {
            be.gruCellBackward(saved: rows(gates, t, width: (G + 1) * H), hPrev: rows(hIn, t), dh: dhRows,
                               dy: rows(gc, t), mask: m, dX: rows(dX, t, width: G * H),
                               dRec: rows(dRec, t, width: G * H), dBias: db, batch: n, hidden: H)
        }
        if inPlace == nil, let dPChains, let indices {
            be.indexAdd(rows(dX, t, width: G * H), index: offsetOperand(indices.operand, t * B + r0),
                        offsetOperand(dPChains.operand, chain * V * G * H), outer: 1, n: V, m: n, inner: G * H)
        }
        if step > 0 || needsH0 {
            if let packedW {
                be.gemm(transA: false, m: n, n: H, k: G * H, alpha: 1, a: rows(dRec, t, width: G * H), lda: G * H,
                        preparedB: packedW, beta: 1, c: dhRows, ldc: H)
            } else {
                be.gemm(transA: false, transB: false, m: n, n: H, k: G * H, alpha: 1, a: rows(dRec, t, width: G * H),
                        lda: G * H, b: w.operand, ldb: H, beta: 1, c: dhRows, ldc: H)
            }
        }
    }
    var grads: [Tensor?]
    if let dPChains {
        grads = [chains == 1 ? dPChains.reshaped([V, G * H]) : dPChains.sum(axes: [0])]
    } else {
        grads = [ctx.needs(0) && indices == nil ? dX : nil]
    }
    if ctx.needs(1) {
        let dW = Tensor.empty([G * H, H], dtype: dt, backend: be)
        if T * B == 0 {
            be.fill(dW.operand, count: dW.count, value: 0)
        } else {
            be.gemm(transA: true, transB: false, m: G * H, n: H, k: T * B, alpha: 1, a: dRec.operand, lda: G * H,
                    b: hIn.operand, ldb: H, beta: 0, c: dW.operand, ldc: H)
        }
        grads.append(dW)
    } else {
        grads.append(nil)
    }
    grads.append(needsH0 ? dh : nil)
    if let dc { grads.append(ctx.needs(3) ? dc : nil) }
    if hasBias {
        grads.append(dBiasChains.map { chains == 1 ? $0.reshaped([G * H]) : $0.sum(axes: [0]) })
    }
    if let vocabulary {
        grads += vocabulary.inputGradients(ctx, firstInput: firstVocabularyInput, dX: dX, inputPath: inputPath)
    }
    return grads
}

/// A recurrence whose input projection comes as vocabulary rows: the layer input `x` is an embedding's output
/// (`x[t, b] = table[indices[t, b]]`), so `W_ih x + b_ih` is `P[indices[t, b]]` with `P = table W_ihᵀ + b_ih`
/// (`[V, G H]`, V the vocabulary size): the op reads P's rows per chain and step, and backward adds the input
/// gradient up per vocabulary entry (dP) instead of writing and rereading a `[T, B, G H]` projection.
///
/// Inputs after the usual ones (`[P, weight_hh, h0, (c0), (bias_hh)]`): `[x, indices [T, B], weight_ih, (bias_ih)]`.
/// The gradient normally reaches the table and `weight_ih` through P (`dP`); x's values are not read. When x's own
/// gradient is needed (`gradients(of:wrt:)` asks for x or the embedding output it views, or x is a leaf), P gets
/// none and x, `weight_ih` and `bias_ih` get theirs directly, as the plain path gives them (x's way back into the
/// table then counts once).
struct RecurrenceVocabulary: Sendable {
    /// x's lookup (which tells whether x's gradient only flows into the table).
    let lookup: EmbeddingLookup
    let hasInputBias: Bool

    /// The index of x among the op's inputs.
    static func firstInput(lstm: Bool, hasBias: Bool) -> Int { (lstm ? 4 : 3) + (hasBias ? 1 : 0) }

    /// Whether x itself gets the gradient (and P none).
    func inputPath(_ ctx: VJPContext, firstInput i: Int) -> Bool { lookup.needsOwnGradient(ctx, input: i) }

    /// Gradients of `[x, indices, weight_ih, (bias_ih)]` from the input gradient dX `[T, B, G H]`.
    func inputGradients(_ ctx: VJPContext, firstInput i: Int, dX: Tensor, inputPath: Bool) -> [Tensor?] {
        var grads: [Tensor?] = [nil, nil, nil] + (hasInputBias ? [nil] : [])
        guard inputPath else { return grads }
        let x = ctx.inputs[i], wIH = ctx.inputs[i + 2]
        let rows = dX.shape[0] * dX.shape[1]
        let d2 = dX.reshaped([rows, dX.shape[2]])
        grads[0] = matmul(d2, wIH).reshaped(x.shape)
        if ctx.needs(i + 2) { grads[2] = matmul(d2.transposed(), x.reshaped([rows, wIH.shape[1]])) }
        if hasInputBias && ctx.needs(i + 3) { grads[3] = d2.sum(axis: 0) }
        return grads
    }
}
