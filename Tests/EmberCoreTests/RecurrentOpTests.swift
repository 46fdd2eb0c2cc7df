import EmberTestSupport
import Foundation
import Testing
@testable import EmberCore

/// The fused recurrences (`lstm_sequence`, `gru_sequence`) beyond the finite-difference checks in GradCheckTests:
/// the CPU kernels against the reference backend's plain loops, bit-identical results for any thread count, the
/// registry entries, and the clear stop for gradients of gradients.
@Suite struct RecurrentOpTests {
    /// Leaves holding `values` on `backend` in `dtype`, requiring gradients.
    static func leaf(_ values: [Double], _ shape: [Int], _ dtype: DType, _ backend: any Backend) -> Tensor {
        let t: Tensor
        if dtype == .float32 {
            t = values.map { Float($0) }.withUnsafeBytes { Tensor(rawBytes: $0, shape: shape, dtype: dtype, on: backend) }
        } else {
            t = values.withUnsafeBytes { Tensor(rawBytes: $0, shape: shape, dtype: dtype, on: backend) }
        }
        t.requiresGrad = true
        return t
    }

    /// Outputs and gradients (w.r.t. every input) of a weighted sum of the op's results, as float64 arrays.
    static func run(lstm: Bool, T: Int, B: Int, H: Int, dtype: DType, backend: any Backend, reverse: Bool,
                    lengths: [Int]?, seed: UInt64) -> [[Double]] {
        var rng = RandomState(seed: seed)
        let G = lstm ? 4 : 3
        func draw(_ shape: [Int], _ scale: Double) -> [Double] {
            Tensor.uniform(shape, low: -scale, high: scale, rng: &rng).toArray(Double.self).map { Double(Float($0)) }
        }
        let shapes = lstm ? [[T, B, G * H], [G * H, H], [B, H], [B, H], [G * H]] : [[T, B, G * H], [G * H, H], [B, H], [G * H]]
        let xs = shapes.enumerated().map { i, s in leaf(draw(s, i == 0 ? 2 : 0.5), s, dtype, backend) }
        let outs: [Tensor]
        if lstm {
            let r = lstmSequence(xs[0], weightHH: xs[1], biasHH: xs[4], h0: xs[2], c0: xs[3], reverse: reverse, lengths: lengths)
            outs = [r.output, r.h, r.c]
        } else {
            let r = gruSequence(xs[0], weightHH: xs[1], biasHH: xs[3], h0: xs[2], reverse: reverse, lengths: lengths)
            outs = [r.output, r.h]
        }
        var loss: Tensor? = nil
        for o in outs {
            let w = leaf(draw(o.shape, 1), o.shape, dtype, backend)
            w.requiresGrad = false
            let term: Tensor = (o * w).sum()
            loss = loss.map { $0 + term } ?? term
        }
        let grads = gradients(of: loss!, wrt: xs)
        return (outs + grads).map { $0.toArray(Double.self) }
    }

    static func maxRelativeError(_ a: [[Double]], _ b: [[Double]]) -> Double {
        var worst = 0.0
        for (x, y) in zip(a, b) {
            let scale = y.reduce(0) { $0 + Swift.abs($1) } / Double(Swift.max(y.count, 1))
            for (u, v) in zip(x, y) { worst = Swift.max(worst, Swift.abs(u - v) / (Swift.abs(v) + scale)) }
        }
        return worst
    }

    /// The CPU backend (float64 loops; float32 C kernels with vector bodies and row tails; H = 21)
    /// equals the reference backend's plain double loops: float64 to rounding, float32 to float32 precision.
    @Test(arguments: [true, false]) func cpuMatchesTheReferenceBackend(lstm: Bool) {
        // 9, 34 and 67 rows (the GEMMs' and cells' row counts; the time loop runs the batch in 1, 2 or 4 pieces of
        // rows), lengths in both directions.
        let cases: [(Int, Bool, [Int]?)] = [
            (9, false, nil), (9, true, [7, 3, 1, 7, 5, 2, 7, 6, 4]), (9, false, [2, 7, 7, 1, 3, 4, 5, 6, 7]),
            (34, true, (0..<34).map { 1 + ($0 * 5) % 7 }), (34, false, nil), (67, true, (0..<67).map { 1 + ($0 * 3) % 7 }),
        ]
        for (B, reverse, lengths) in cases {
            for dtype in [DType.float64, .float32] {
                let cpu = Self.run(lstm: lstm, T: 7, B: B, H: 21, dtype: dtype, backend: CPUBackend.shared, reverse: reverse,
                                   lengths: lengths, seed: 5)
                let ref = Self.run(lstm: lstm, T: 7, B: B, H: 21, dtype: dtype, backend: ReferenceBackend.shared,
                                   reverse: reverse, lengths: lengths, seed: 5)
                let err = Self.maxRelativeError(cpu, ref)
                #expect(err <= (dtype == .float64 ? 1e-12 : 2e-5), "\(lstm ? "lstm" : "gru") \(dtype) reverse \(reverse): \(err)")
            }
        }
    }

    /// Same bits for 1-4 threads: the batch's chains of rows and the GEMMs' blocks are cut by shape only, and which
    /// thread runs a chain's step or a block (whichever comes free) changes no bit.
    @Test(arguments: [true, false]) func sameBitsForAnyThreadCount(lstm: Bool) {
        // 520 rows: 16 chains of rows; 32 rows over 9 steps: 3 chains (8, 12, 12 rows) that 2 or 3 threads take a
        // step at a time, whichever is free. With lengths, so masked rows are covered too.
        for (T, B) in [(3, 520), (9, 32)] {
            let f = { Self.run(lstm: lstm, T: T, B: B, H: 128, dtype: .float32, backend: CPUBackend.shared, reverse: false,
                               lengths: (0..<B).map { 1 + $0 % T }, seed: 9).map { $0.map(\.bitPattern) } }
            let one = Threading.withThreads(1) { f() }
            for n in [2, 3, 4] {
                let got = Threading.withThreads(n) { f() }
                #expect(got == one, "\(B) rows, \(n) threads")
            }
        }
    }

    @Test func registered() {
        #expect(OpRegistry.lookup("lstm_sequence") != nil)
        #expect(OpRegistry.lookup("gru_sequence") != nil)
    }

    @Test func secondOrderStopsWithAMessage() async {
        let r = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            var rng = RandomState(seed: 1)
            let x = Tensor.uniform([2, 1, 8], low: -1, high: 1, rng: &rng)
            x.requiresGrad = true
            let w = Tensor.zeros([8, 2]), h0 = Tensor.zeros([1, 2]), c0 = Tensor.zeros([1, 2])
            let y = lstmSequence(x, weightHH: w, biasHH: nil, h0: h0, c0: c0).output.sum()
            _ = gradients(of: y, wrt: [x], createGraph: true)
        }
        expectMessage(r, "backward of 'lstm_sequence': gradients of gradients (createGraph) are not supported by the fused recurrence")
    }

    @Test func shapeErrorsNameTheOp() async {
        let r = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = gruSequence(Tensor.zeros([3, 2, 12]), weightHH: Tensor.zeros([12, 3]), biasHH: nil, h0: Tensor.zeros([2, 4]))
        }
        expectMessage(r, "gru_sequence: weight_hh must be [12, 4], got [12, 3]")
    }
}
