import Foundation
import Testing
@testable import EmberNN

/// The fused recurrent path (`lstm_sequence`/`gru_sequence`, the default) against the unfused one (`fused = false`,
/// the step as separate differentiable ops) on the same weights (float32, as layers' parameters are): outputs, final states and every
/// gradient, for multi-layer bidirectional batch-first layers with variable lengths and initial states, and for
/// truncated backpropagation through time (state carried, detached, into the next chunk).
@Suite struct RecurrentFusedTests {
    static func makeLayer(_ kind: String, fused: Bool) -> RecurrentLayer {
        let g = Generator(seed: 3)
        let m: RecurrentLayer = kind == "lstm"
            ? LSTM(5, 6, numLayers: 2, batchFirst: true, bidirectional: true, generator: g)
            : GRU(5, 6, numLayers: 2, batchFirst: true, bidirectional: true, generator: g)
        m.fused = fused
        return m
    }

    /// Runs `model` on two consecutive chunks (the second starting from the first's detached final state) and
    /// returns every output, final state and gradient (inputs, initial states, parameters) as float64 arrays.
    static func run(_ model: RecurrentLayer, lengths: [Int]?) -> [[Double]] {
        var rng = RandomState(seed: 21)
        let B = 4, T = 7
        let x1 = Tensor.normal([B, T, 5], rng: &rng), x2 = Tensor.normal([B, T, 5], rng: &rng)
        let h0 = Tensor.normal([4, B, 6], rng: &rng), c0 = Tensor.normal([4, B, 6], rng: &rng)
        for t in [x1, x2, h0, c0] { t.requiresGrad = true }
        let isLSTM = model is LSTM
        func forward(_ x: Tensor, _ h: Tensor, _ c: Tensor?) -> (Tensor, Tensor, Tensor?) {
            if let m = model as? LSTM {
                let r = m(x, (h, c!), lengths: lengths)
                return (r.output, r.state.h, r.state.c)
            }
            let r = (model as! GRU)(x, h, lengths: lengths)
            return (r.output, r.hidden, nil)
        }
        let (y1, h1, c1) = forward(x1, h0, isLSTM ? c0 : nil)
        let (y2, h2, c2) = forward(x2, h1.detached(), c1?.detached())
        var w = RandomState(seed: 4)
        func weighted(_ t: Tensor) -> Tensor { (t * Tensor.normal(t.shape, rng: &w)).sum() }
        var loss = weighted(y1) + weighted(y2) + weighted(h2) + weighted(h1)
        if let c1, let c2 { loss = loss + weighted(c1) + weighted(c2) }
        let wrt = [x1, x2, h0] + (isLSTM ? [c0] : []) + model.parameters
        let grads = gradients(of: loss, wrt: wrt)
        return ([y1, y2, h1, h2] + [c1, c2].compactMap { $0 } + grads).map { $0.toArray(Double.self) }
    }

    @Test(arguments: ["lstm", "gru"], [nil, [7, 3, 1, 5]] as [[Int]?])
    func fusedEqualsUnfused(kind: String, lengths: [Int]?) {
        let fused = Self.run(Self.makeLayer(kind, fused: true), lengths: lengths)
        let plain = Self.run(Self.makeLayer(kind, fused: false), lengths: lengths)
        #expect(fused.count == plain.count)
        // Float32 rounding in a different order (the fused kernels add the bias inside the cell, and backward sums
        // dW_hh in one GEMM instead of per step): |a - b| <= 1e-5 (|b| + mean |b|) per tensor.
        var worst = 0.0
        for (a, b) in zip(fused, plain) {
            #expect(a.count == b.count)
            let scale = b.reduce(0) { $0 + Swift.abs($1) } / Double(Swift.max(b.count, 1))
            for (u, v) in zip(a, b) { worst = Swift.max(worst, Swift.abs(u - v) / (Swift.abs(v) + scale)) }
        }
        #expect(worst <= 1e-5, "\(kind) lengths \(String(describing: lengths)): worst relative difference \(worst)")
    }
}
