import Testing
import EmberTestSupport
@testable import EmberCore

/// `linear` of an embedding's output runs through the vocabulary (`EmbeddingLinear`); these tests compare it with the
/// plain path on the same values, in float64, where only the order of additions differs (relative 1e-12). The
/// reference is `indexSelect` + `linear`, which carries no lookup and so runs the plain GEMM. The finite-difference
/// checks of the op itself are in GradCheckTests.
@Suite struct EmbeddingLinearTests {
    static let V = 5, D = 3, out = 4

    static func values(_ shape: [Int], seed: UInt64) -> Tensor {
        var rng = RandomState(seed: seed)
        return Tensor.normal(shape, dtype: .float64, rng: &rng)
    }

    static func tokens(_ shape: [Int], seed: UInt64) -> Tensor {
        var rng = RandomState(seed: seed)
        return Tensor.randint(0, V, shape: shape, rng: &rng)
    }

    static func leaf(_ shape: [Int], seed: UInt64) -> Tensor {
        let t = values(shape, seed: seed)
        t.requiresGrad = true
        return t
    }

    static func close(_ a: Tensor, _ b: Tensor, _ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(a.shape == b.shape, "\(what): shapes \(a.shape) and \(b.shape)", sourceLocation: sourceLocation)
        let x = a.toArray(Double.self), y = b.toArray(Double.self)
        let scale = y.map(abs).max() ?? 1
        let worst = zip(x, y).map { abs($0 - $1) }.max() ?? 0
        #expect(worst <= 1e-12 * Swift.max(scale, 1), "\(what): off by \(worst) (scale \(scale))", sourceLocation: sourceLocation)
    }

    /// The plain path: the same lookup without the embedding's record.
    static func plainLookup(_ indices: Tensor, _ table: Tensor) -> Tensor {
        table.indexSelect(axis: 0, index: indices.reshaped([-1])).reshaped(indices.shape + [table.shape[1]])
    }

    @Test func forwardAndGradientsMatchThePlainPath() {
        let idx = Self.tokens([3, 7], seed: 1)
        for bias in [true, false] {
            let t1 = Self.leaf([Self.V, Self.D], seed: 2), w1 = Self.leaf([Self.out, Self.D], seed: 3)
            let b1 = bias ? Self.leaf([Self.out], seed: 4) : nil
            let t2 = Self.leaf([Self.V, Self.D], seed: 2), w2 = Self.leaf([Self.out, Self.D], seed: 3)
            let b2 = bias ? Self.leaf([Self.out], seed: 4) : nil
            let seedGrad = Self.values([3, 7, Self.out], seed: 5)

            let fused = linear(embedding(idx, t1), w1, b1)
            #expect(fused.gradFn?.op.name == "embedding_linear")
            let plain = linear(Self.plainLookup(idx, t2), w2, b2)
            #expect(plain.gradFn?.op.name == "linear")
            Self.close(fused, plain, "output (bias \(bias))")
            fused.backward(seedGrad)
            plain.backward(seedGrad)
            Self.close(t1.grad!, t2.grad!, "table gradient (bias \(bias))")
            Self.close(w1.grad!, w2.grad!, "weight gradient (bias \(bias))")
            if bias { Self.close(b1!.grad!, b2!.grad!, "bias gradient") }
        }
    }

    /// Batch-first input made time-major by a transpose (as the recurrent layers do) keeps the lookup: the indices
    /// are transposed with it.
    @Test func transposedLookupMatchesThePlainPath() {
        let idx = Self.tokens([4, 6], seed: 11)
        let t1 = Self.leaf([Self.V, Self.D], seed: 12), w1 = Self.leaf([Self.out, Self.D], seed: 13)
        let t2 = Self.leaf([Self.V, Self.D], seed: 12), w2 = Self.leaf([Self.out, Self.D], seed: 13)
        let fused = linear(embedding(idx, t1).transposed(0, 1), w1)
        #expect(fused.gradFn?.op.name == "embedding_linear")
        let plain = linear(Self.plainLookup(idx, t2).transposed(0, 1), w2)
        Self.close(fused, plain, "output")
        let seedGrad = Self.values([6, 4, Self.out], seed: 14)
        fused.backward(seedGrad)
        plain.backward(seedGrad)
        Self.close(t1.grad!, t2.grad!, "table gradient")
        Self.close(w1.grad!, w2.grad!, "weight gradient")
        // A permutation that moves the feature axis is not a lookup.
        #expect(embedding(idx, t1).permuted([2, 0, 1]).lookup == nil)
    }

    /// The embedding output also used elsewhere, and asked for by name: every gradient as on the plain path.
    @Test func sharedAndRequestedEmbeddingOutputs() {
        let idx = Self.tokens([2, 9], seed: 21)
        let t1 = Self.leaf([Self.V, Self.D], seed: 22), w1 = Self.leaf([Self.out, Self.D], seed: 23)
        let t2 = Self.leaf([Self.V, Self.D], seed: 22), w2 = Self.leaf([Self.out, Self.D], seed: 23)
        let x1 = embedding(idx, t1), x2 = Self.plainLookup(idx, t2)
        let loss1 = (linear(x1, w1).tanh().sum() + (x1 * x1).sum())
        let loss2 = (linear(x2, w2).tanh().sum() + (x2 * x2).sum())
        let g1 = gradients(of: loss1, wrt: [x1, t1, w1], retainGraph: true)
        let g2 = gradients(of: loss2, wrt: [x2, t2, w2], retainGraph: true)
        for (i, what) in ["embedding output", "table", "weight"].enumerated() { Self.close(g1[i], g2[i], what) }
        // Only the table: its gradient arrives both through the vocabulary path and through x1 * x1.
        Self.close(gradients(of: loss1, wrt: [t1])[0], gradients(of: loss2, wrt: [t2])[0], "table alone")

        // The linear sees a transposed view; the embedding output itself is asked for.
        let z1 = embedding(idx, t1), z2 = Self.plainLookup(idx, t2)
        let y1 = linear(z1.transposed(0, 1), w1), y2 = linear(z2.transposed(0, 1), w2)
        #expect(y1.gradFn?.op.name == "embedding_linear")
        let v1 = gradients(of: y1.tanh().sum(), wrt: [z1, t1, w1]), v2 = gradients(of: y2.tanh().sum(), wrt: [z2, t2, w2])
        for (i, what) in ["embedding output (through a view)", "table", "weight"].enumerated() { Self.close(v1[i], v2[i], what) }
    }

    @Test func fewRowsInPlaceWritesAndTracesTakeThePlainPath() throws {
        let table = Self.values([Self.V, Self.D], seed: 31), w = Self.values([Self.out, Self.D], seed: 32)
        // Fewer rows than twice the vocabulary: the plain GEMM.
        let small = table.copied()
        small.requiresGrad = true
        #expect(linear(embedding(Self.tokens([9], seed: 33), small), w).gradFn?.op.name == "linear")

        // The table written in place after the lookup: the output holds the old rows, and so does the result.
        let idx = Self.tokens([20], seed: 34)
        let t = table.copied()
        let x = embedding(idx, t)
        let expected = linear(Self.plainLookup(idx, t), w)
        t.fill(7)
        Self.close(linear(x, w), expected, "after an in-place write of the table")

        // A trace records the embedding and the linear, which exporters know.
        let t3 = table.copied()
        let trace = try Trace.record(input: idx, names: [ObjectIdentifier(t3): "table", ObjectIdentifier(w): "w"]) { i in
            linear(embedding(i, t3), w)
        }
        #expect(trace.nodes.map(\.name).contains("linear"))
        #expect(!trace.nodes.map(\.name).contains("embedding_linear"))
    }
}
