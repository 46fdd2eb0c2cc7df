import Testing
import EmberTestSupport
@testable import EmberCore

/// `lstmLayer`/`gruLayer` on an embedding's output read the projection by vocabulary rows (`RecurrenceVocabulary`);
/// these tests compare them with the plain path (the same rows looked up by `indexSelect`, which carries no lookup,
/// so the projection is one GEMM over all steps) in float64, where only the order of additions differs, and in float32,
/// where the CPU's cell kernels read the rows from the table in place and add their gradients into it.
@Suite struct VocabularyRecurrenceTests {
    static let V = 5, E = 3, H = 4

    static func values(_ shape: [Int], seed: UInt64, dtype: DType = .float64) -> Tensor {
        var rng = RandomState(seed: seed)
        return (Tensor.normal(shape, dtype: dtype, rng: &rng) * 0.5)
    }

    static func leaf(_ shape: [Int], seed: UInt64, dtype: DType = .float64) -> Tensor {
        let t = values(shape, seed: seed, dtype: dtype)
        t.requiresGrad = true
        return t
    }

    static func tokens(_ shape: [Int], seed: UInt64) -> Tensor {
        var rng = RandomState(seed: seed)
        return Tensor.randint(0, V, shape: shape, rng: &rng)
    }

    /// Within 1e-11 (float64) or 1e-5 (float32) of the largest magnitude (at least 1): rounding, where a wrong row
    /// would be off by the values' own size.
    static func close(_ a: Tensor, _ b: Tensor, _ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(a.shape == b.shape, "\(what): shapes \(a.shape) and \(b.shape)", sourceLocation: sourceLocation)
        let x = a.toArray(Double.self), y = b.toArray(Double.self)
        let scale = Swift.max(y.map(abs).max() ?? 0, 1)
        let worst = zip(x, y).map { abs($0 - $1) }.max() ?? 0
        #expect(worst <= (a.dtype == .float32 ? 1e-5 : 1e-11) * scale, "\(what): off by \(worst) (scale \(scale))", sourceLocation: sourceLocation)
    }

    /// The parameters of one layer: table, W_ih, W_hh, b_ih, b_hh (fresh leaves with the same values per call).
    static func parameters(gates: Int, dtype: DType = .float64) -> [Tensor] {
        [leaf([V, E], seed: 1, dtype: dtype), leaf([gates * H, E], seed: 2, dtype: dtype),
         leaf([gates * H, H], seed: 3, dtype: dtype), leaf([gates * H], seed: 4, dtype: dtype),
         leaf([gates * H], seed: 5, dtype: dtype)]
    }

    /// Runs a layer on `idx` [B, T] (batch-first, transposed to time-major as the layers do) and returns the output
    /// with the loss's gradients of every parameter; `vocabulary` selects the embedding (true) or the plain lookup.
    static func run(lstm: Bool, _ idx: Tensor, vocabulary: Bool, reverse: Bool = false, lengths: [Int]? = nil,
                    extra: ((Tensor) -> Tensor)? = nil, dtype: DType = .float64) -> (output: Tensor, grads: [Tensor], op: String?) {
        let p = parameters(gates: lstm ? 4 : 3, dtype: dtype)
        let B = idx.shape[0]
        let looked = vocabulary ? embedding(idx, p[0])
            : p[0].indexSelect(axis: 0, index: idx.reshaped([-1])).reshaped(idx.shape + [E])
        let x = looked.transposed(0, 1)
        let h0 = values([B, H], seed: 6, dtype: dtype), c0 = values([B, H], seed: 7, dtype: dtype)
        let out: Tensor, state: Tensor
        if lstm {
            let r = lstmLayer(x, weightIH: p[1], weightHH: p[2], bias: p[3] + p[4], h0: h0, c0: c0, reverse: reverse,
                              lengths: lengths)
            (out, state) = (r.output, r.h + r.c * 0.5)
        } else {
            let r = gruLayer(x, weightIH: p[1], biasIH: p[3], weightHH: p[2], biasHH: p[4], h0: h0, reverse: reverse,
                             lengths: lengths)
            (out, state) = (r.output, r.h)
        }
        let op = out.gradFn?.inputs.first?.gradFn?.op
        let name = op.map { "\($0.name)\($0.attributes["vocabulary"] == nil ? "" : "+vocabulary")" }
        let upstream = values(out.shape, seed: 8, dtype: dtype)
        var loss = (out * upstream).sum() + state.sum()
        if let extra { loss = loss + extra(looked) }
        loss.backward()
        return (out, p.map { $0.grad ?? $0.zerosLike() }, name)
    }

    static func compare(lstm: Bool, _ idx: Tensor, reverse: Bool = false, lengths: [Int]? = nil,
                        extra: ((Tensor) -> Tensor)? = nil, dtype: DType = .float64,
                        sourceLocation: SourceLocation = #_sourceLocation) {
        let a = run(lstm: lstm, idx, vocabulary: true, reverse: reverse, lengths: lengths, extra: extra, dtype: dtype)
        let b = run(lstm: lstm, idx, vocabulary: false, reverse: reverse, lengths: lengths, extra: extra, dtype: dtype)
        let kind = lstm ? "lstm_sequence" : "gru_sequence"
        #expect(a.op == kind + "+vocabulary" && b.op == kind, "ops \(a.op ?? "-") / \(b.op ?? "-")", sourceLocation: sourceLocation)
        close(a.output, b.output, "\(kind) output", sourceLocation: sourceLocation)
        for (i, name) in ["table", "weight_ih", "weight_hh", "bias_ih", "bias_hh"].enumerated() {
            close(a.grads[i], b.grads[i], "\(kind) \(name) gradient", sourceLocation: sourceLocation)
        }
    }

    @Test(arguments: [true, false]) func matchesThePlainProjection(lstm: Bool) {
        // 3 rows (one chain), 20 rows (two chains, so dP is added per chain and then over the chains)
        Self.compare(lstm: lstm, Self.tokens([3, 6], seed: 11))
        Self.compare(lstm: lstm, Self.tokens([20, 3], seed: 12), reverse: true)
        Self.compare(lstm: lstm, Self.tokens([20, 4], seed: 13), lengths: (0..<20).map { 1 + $0 % 4 })
    }

    /// Float32: the CPU cell kernels read the table's rows in place (forward) and add into dP (backward); int32 and
    /// int64 indices, one chain and three (32 rows), lengths (masked rows add zeros) and reverse.
    @Test(arguments: [true, false]) func float32MatchesThePlainProjection(lstm: Bool) {
        Self.compare(lstm: lstm, Self.tokens([3, 6], seed: 14), dtype: .float32)
        Self.compare(lstm: lstm, Self.tokens([32, 3], seed: 15).cast(.int32), reverse: true, dtype: .float32)
        Self.compare(lstm: lstm, Self.tokens([32, 4], seed: 16), lengths: (0..<32).map { 1 + $0 % 4 }, dtype: .float32)
    }

    /// The embedding output also feeds another op: the table's gradient arrives both ways.
    @Test(arguments: [true, false]) func sharedEmbeddingOutput(lstm: Bool) {
        Self.compare(lstm: lstm, Self.tokens([4, 5], seed: 21), extra: { ($0 * $0).sum() })
    }

    /// Asking for the embedding output's own gradient gives it (and the weights' gradients stay right, the table's
    /// counted once).
    @Test(arguments: [true, false]) func requestedEmbeddingOutput(lstm: Bool) {
        let idx = Self.tokens([4, 6], seed: 31)
        func grads(vocabulary: Bool) -> [Tensor] {
            let p = Self.parameters(gates: lstm ? 4 : 3)
            let looked = vocabulary ? embedding(idx, p[0])
                : p[0].indexSelect(axis: 0, index: idx.reshaped([-1])).reshaped(idx.shape + [Self.E])
            let x = looked.transposed(0, 1)
            let h0 = Tensor.zeros([4, Self.H], dtype: .float64), c0 = Tensor.zeros([4, Self.H], dtype: .float64)
            let out = lstm
                ? lstmLayer(x, weightIH: p[1], weightHH: p[2], bias: p[3] + p[4], h0: h0, c0: c0).output
                : gruLayer(x, weightIH: p[1], biasIH: p[3], weightHH: p[2], biasHH: p[4], h0: h0).output
            let loss = (out * Self.values(out.shape, seed: 32)).sum() + (looked * looked).sum()
            return gradients(of: loss, wrt: [looked, p[0], p[1], p[3]], retainGraph: true)
        }
        let a = grads(vocabulary: true), b = grads(vocabulary: false)
        for (i, name) in ["embedding output", "table", "weight_ih", "bias_ih"].enumerated() {
            Self.close(a[i], b[i], "\(lstm ? "lstm" : "gru") \(name)")
        }
    }

    /// Float32 at the char-LSTM's chain layout (32 rows: chains of 8, 12 and 12): the same bits for 1-4 threads.
    @Test func sameBitsForAnyThreadCount() {
        var rng = RandomState(seed: 41)
        let idx = Tensor.randint(0, 9, shape: [32, 5], rng: &rng)
        let table = Tensor.normal([9, 6], rng: &rng), wih = Tensor.normal([32, 6], rng: &rng) * 0.3
        let whh = Tensor.normal([32, 8], rng: &rng) * 0.3, b = Tensor.normal([32], rng: &rng) * 0.1
        for t in [table, wih, whh, b] { t.requiresGrad = true }
        func run() -> [[UInt32]] {
            for t in [table, wih, whh, b] { t.grad = nil }
            let x = embedding(idx, table).transposed(0, 1)
            let zeros = Tensor.zeros([32, 8])
            let r = lstmLayer(x, weightIH: wih, weightHH: whh, bias: b, h0: zeros, c0: zeros)
            (r.output.tanh().sum() + r.c.sum()).backward()
            return ([r.output] + [table, wih, whh, b].map { $0.grad! }).map { $0.scalars.map(\.bitPattern) }
        }
        let one = Threading.withThreads(1) { run() }
        for n in [2, 3, 4] { #expect(Threading.withThreads(n) { run() } == one, "\(n) threads") }
    }
}
