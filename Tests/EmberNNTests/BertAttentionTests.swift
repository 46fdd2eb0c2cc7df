import Foundation
import Testing
@testable import EmberCore
@testable import EmberNN

/// BERT's self-attention runs the fused kernel; its plain-op form (`composite: true`) is the reference: outputs and
/// gradients of query, key and value agree with key padding (including a sequence with most keys padded) on odd sizes.
@Suite struct BertAttentionTests {
    @Test(arguments: [(2, 3, 7, 5), (1, 2, 70, 8), (3, 1, 1, 4)])
    func fusedMatchesComposite(b: Int, heads: Int, t: Int, d: Int) {
        for dtype in [DType.float64, .float32] {
            var rng = RandomState(seed: UInt64(b * 100 + t))
            func leaf() -> Tensor {
                let x = Tensor.uniform([b, heads, t, d], low: -2, high: 2, dtype: dtype, rng: &rng)
                x.requiresGrad = true
                return x
            }
            let q = leaf(), k = leaf(), v = leaf()
            let probe = Tensor.uniform([b, heads, t, d], low: -1, high: 1, dtype: dtype, rng: &rng)
            // sequence i keeps its first t - i * (t / (b + 1)) keys (at least one)
            var pad = [Bool]()
            for i in 0..<b { for j in 0..<t { pad.append(j >= Swift.max(1, t - i * (t / (b + 1)))) } }
            let padding = Tensor(pad, shape: [b, t])
            func run(_ composite: Bool) -> [[Double]] {
                let y = BertSelfAttention.attention(query: q, key: k, value: v, keyPadding: padding, composite: composite)
                let g = gradients(of: (y * probe).sum(), wrt: [q, k, v])
                return ([y] + g).map { $0.cast(.float64).toArray(Double.self) }
            }
            let fused = run(false), plain = run(true)
            for (i, (x, y)) in zip(fused, plain).enumerated() {
                // relative to the tensor's largest value, or absolute where that is below 1 (with one key the
                // gradients of query and key are exactly zero)
                let scale = Swift.max(y.map(abs).max() ?? 0, 1)
                let err = zip(x, y).map { abs($0 - $1) }.max() ?? 0
                #expect(err / scale <= (dtype == .float64 ? 1e-12 : 2e-5), "\(dtype) tensor \(i): \(err / scale)")
            }
        }
    }
}
