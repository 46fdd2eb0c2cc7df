import EmberTestSupport
import Foundation
import Testing
@testable import EmberCore

/// The fused scaled-dot-product attention (`scaled_dot_product_attention`): finite differences in float64, equality
/// with the composite form (matmul, softmax, dropout, matmul) for every mask kind and odd sizes across the 64-row
/// blocks, the reference backend's plain loops against the CPU kernel, bit-identical results for any thread count,
/// the registry entry and the clear stops.
@Suite struct AttentionOpTests {
    enum MaskKind: String, CaseIterable, Sendable {
        case none, bool2d, additive, keyPadding, causal, causalAndMask
    }

    struct Case: Sendable, CustomStringConvertible {
        var B = 2, H = 2, Tq = 5, Tk = 5, D = 3, Dv = 3
        var mask = MaskKind.none
        var description: String { "B\(B) H\(H) Tq\(Tq) Tk\(Tk) D\(D) Dv\(Dv) \(mask)" }
    }

    /// Values from `rng` as a leaf of `dtype` on `backend`.
    static func leaf(_ shape: [Int], _ rng: inout RandomState, _ dtype: DType, _ backend: any Backend,
                     scale: Double = 1) -> Tensor {
        let vals = Tensor.uniform(shape, low: -scale, high: scale, dtype: .float64, rng: &rng).toArray(Double.self)
        let t: Tensor
        if dtype == .float32 {
            t = vals.map { Float($0) }.withUnsafeBytes { Tensor(rawBytes: $0, shape: shape, dtype: dtype, on: backend) }
        } else {
            t = vals.withUnsafeBytes { Tensor(rawBytes: $0, shape: shape, dtype: dtype, on: backend) }
        }
        t.requiresGrad = true
        return t
    }

    /// The mask of `kind` (nil for none and plain causal), never masking a whole row.
    static func mask(_ c: Case, _ dtype: DType, _ backend: any Backend) -> Tensor? {
        switch c.mask {
        case .none, .causal: return nil
        case .bool2d, .causalAndMask:
            // key 0 always visible; others hidden in a fixed pattern
            let v = (0..<c.Tq * c.Tk).map { e -> Bool in let i = e / c.Tk, j = e % c.Tk; return j == 0 || (i * 7 + j * 3) % 4 != 0 }
            return Tensor(v, shape: [c.Tq, c.Tk])
        case .additive:
            var rng = RandomState(seed: 77)
            let vals = Tensor.uniform([c.B, 1, c.Tq, c.Tk], low: -2, high: 1, dtype: .float64, rng: &rng).toArray(Double.self)
            let withInf = vals.enumerated().map { e, x in (e % c.Tk != 0 && e % 5 == 2) ? -Double.infinity : x }
            return Tensor(withInf, shape: [c.B, 1, c.Tq, c.Tk], dtype: dtype)
        case .keyPadding:
            // batch b sees its first Tk - b keys (at least one)
            let v = (0..<c.B * c.Tk).map { e in e % c.Tk < Swift.max(1, c.Tk - e / c.Tk) }
            return Tensor(v, shape: [c.B, 1, 1, c.Tk])
        }
    }

    /// Output and gradients of sum(out * w) w.r.t. q, k, v as float64 arrays.
    static func run(_ c: Case, dtype: DType, backend: any Backend, fused: Bool, dropout: Double = 0,
                    seed: UInt64 = 3) -> [[Double]] {
        DefaultBackend.with(backend) {
            var rng = RandomState(seed: seed)
            let q = leaf([c.B, c.H, c.Tq, c.D], &rng, dtype, backend, scale: 2)
            let k = leaf([c.B, c.H, c.Tk, c.D], &rng, dtype, backend, scale: 2)
            let v = leaf([c.B, c.H, c.Tk, c.Dv], &rng, dtype, backend)
            let w = leaf([c.B, c.H, c.Tq, c.Dv], &rng, dtype, backend)
            w.requiresGrad = false
            let m = mask(c, dtype, backend)
            let causal = c.mask == .causal || c.mask == .causalAndMask
            var drng = RandomState(seed: 99)
            let out: Tensor
            if fused {
                out = dropout > 0
                    ? scaledDotProductAttention(q, k, v, mask: m, causal: causal, dropout: dropout, rng: &drng)
                    : scaledDotProductAttention(q, k, v, mask: m, causal: causal)
            } else {
                out = scaledDotProductAttentionComposite(q, k, v, mask: m, causal: causal, dropout: dropout, rng: &drng)
            }
            let grads = gradients(of: (out * w).sum(), wrt: [q, k, v])
            return ([out] + grads).map { $0.toArray(Double.self) }
        }
    }

    static func maxRelativeError(_ a: [[Double]], _ b: [[Double]]) -> Double {
        var worst = 0.0
        for (x, y) in zip(a, b) {
            let scale = y.reduce(0) { $0 + Swift.abs($1) } / Double(Swift.max(y.count, 1))
            for (u, v) in zip(x, y) { worst = Swift.max(worst, Swift.abs(u - v) / (Swift.abs(v) + scale + 1e-300)) }
        }
        return worst
    }

    static let cases: [Case] = {
        var out: [Case] = []
        for kind in MaskKind.allCases {
            out.append(Case(B: 2, H: 3, Tq: 7, Tk: 7, D: 5, Dv: 5, mask: kind))
            out.append(Case(B: 2, H: 1, Tq: 9, Tk: 4, D: 3, Dv: 6, mask: kind))
            // across the 64-row blocks: odd sizes, more queries than one block, keys in 3 blocks
            out.append(Case(B: 1, H: 2, Tq: 67, Tk: 131, D: 17, Dv: 9, mask: kind))
            out.append(Case(B: 2, H: 1, Tq: 130, Tk: 130, D: 8, Dv: 8, mask: kind))
        }
        return out
    }()

    /// Fused equals the composite softmax(q kᵀ/√d + mask) v, outputs and gradients, for every mask kind.
    @Test(arguments: cases) func fusedMatchesComposite(_ c: Case) {
        for dtype in [DType.float64, .float32] {
            let fused = Self.run(c, dtype: dtype, backend: CPUBackend.shared, fused: true)
            let comp = Self.run(c, dtype: dtype, backend: CPUBackend.shared, fused: false)
            let err = Self.maxRelativeError(fused, comp)
            #expect(err <= (dtype == .float64 ? 1e-12 : 2e-5), "\(c) \(dtype): \(err)")
        }
    }

    /// With dropout the fused kernel draws the same mask as `Tensor.dropout` on the weights.
    @Test(arguments: [MaskKind.none, .causal, .keyPadding]) func dropoutMatchesComposite(_ kind: MaskKind) {
        let c = Case(B: 2, H: 2, Tq: 70, Tk: 70, D: 5, Dv: 7, mask: kind)
        let fused = Self.run(c, dtype: .float64, backend: CPUBackend.shared, fused: true, dropout: 0.3)
        let comp = Self.run(c, dtype: .float64, backend: CPUBackend.shared, fused: false, dropout: 0.3)
        #expect(Self.maxRelativeError(fused, comp) <= 1e-12)
        let plain = Self.run(c, dtype: .float64, backend: CPUBackend.shared, fused: true)
        #expect(Self.maxRelativeError(fused, plain) > 1e-3, "dropout changed nothing")
    }

    /// Central differences in float64 against the fused backward, every mask kind, with and without dropout.
    @Test(arguments: MaskKind.allCases) func finiteDifferences(_ kind: MaskKind) {
        for dropout in [0.0, 0.25] {
            let c = Case(B: 2, H: 2, Tq: 5, Tk: 6, D: 3, Dv: 4, mask: kind)
            var rng = RandomState(seed: 11)
            let be = DefaultBackend.current   // the reference backend under EMBER_BACKEND=reference
            let q = Self.leaf([c.B, c.H, c.Tq, c.D], &rng, .float64, be, scale: 2)
            let k = Self.leaf([c.B, c.H, c.Tk, c.D], &rng, .float64, be, scale: 2)
            let v = Self.leaf([c.B, c.H, c.Tk, c.Dv], &rng, .float64, be)
            let w = Self.leaf([c.B, c.H, c.Tq, c.Dv], &rng, .float64, be)
            w.requiresGrad = false
            let m = Self.mask(c, .float64, be)
            let causal = kind == .causal || kind == .causalAndMask
            func loss(_ xs: [Tensor]) -> Tensor {
                var drng = RandomState(seed: 5)
                let out = dropout > 0
                    ? scaledDotProductAttention(xs[0], xs[1], xs[2], mask: m, causal: causal, dropout: dropout, rng: &drng)
                    : scaledDotProductAttention(xs[0], xs[1], xs[2], mask: m, causal: causal)
                return (out * w).sum()
            }
            let xs = [q, k, v]
            let grads = gradients(of: loss(xs), wrt: xs).map { $0.toArray(Double.self) }
            let eps = 1e-6
            for (n, x) in xs.enumerated() {
                let base = x.toArray(Double.self)
                for e in 0..<base.count {
                    func value(_ d: Double) -> Double {
                        var vals = base
                        vals[e] += d
                        let moved = xs.enumerated().map { $0.offset == n ? Tensor(vals, shape: x.shape, dtype: .float64) : $0.element }
                        return withoutGrad { loss(moved).item() }
                    }
                    let fd = (value(eps) - value(-eps)) / (2 * eps)
                    #expect(Swift.abs(fd - grads[n][e]) <= 1e-6 + 1e-5 * Swift.abs(fd),
                            "\(kind) dropout \(dropout) input \(n) element \(e): \(fd) vs \(grads[n][e])")
                }
            }
        }
    }

    /// The CPU kernel (blocked, online softmax) equals the reference backend's plain double loops.
    @Test(arguments: [MaskKind.none, .causalAndMask, .additive, .keyPadding]) func cpuMatchesTheReferenceBackend(_ kind: MaskKind) {
        for c in [Case(B: 2, H: 2, Tq: 9, Tk: 13, D: 5, Dv: 3, mask: kind), Case(B: 1, H: 2, Tq: 70, Tk: 70, D: 7, Dv: 7, mask: kind)] {
            for dtype in [DType.float64, .float32] {
                for dropout in [0.0, 0.2] {
                    let cpu = Self.run(c, dtype: dtype, backend: CPUBackend.shared, fused: true, dropout: dropout)
                    let ref = Self.run(c, dtype: dtype, backend: ReferenceBackend.shared, fused: true, dropout: dropout)
                    let err = Self.maxRelativeError(cpu, ref)
                    #expect(err <= (dtype == .float64 ? 1e-12 : 2e-5), "\(c) \(dtype) dropout \(dropout): \(err)")
                }
            }
        }
    }

    /// A query row whose keys are all masked gives zeros and zero gradients (PyTorch's math path gives NaN).
    @Test func fullyMaskedRowsGiveZeros() {
        let be = DefaultBackend.current
        var rng = RandomState(seed: 2)
        let q = Self.leaf([1, 1, 3, 4], &rng, .float32, be), k = Self.leaf([1, 1, 3, 4], &rng, .float32, be)
        let v = Self.leaf([1, 1, 3, 4], &rng, .float32, be)
        let m = Tensor([true, true, true, false, false, false, true, false, true], shape: [3, 3])
        let out = scaledDotProductAttention(q, k, v, mask: m)
        let rows = out.toArray(Float.self)
        #expect(rows[4..<8].allSatisfy { $0 == 0 })
        #expect(rows.allSatisfy { $0.isFinite })
        let g = gradients(of: out.sum(), wrt: [q])[0].toArray(Float.self)
        #expect(g[4..<8].allSatisfy { $0 == 0 } && g.allSatisfy { $0.isFinite })
    }

    /// Same bits for 1-4 threads: work is split by (batch, head) only, in a fixed block order.
    @Test func sameBitsForAnyThreadCount() {
        let c = Case(B: 3, H: 3, Tq: 131, Tk: 131, D: 16, Dv: 16, mask: .causalAndMask)
        let f = { Self.run(c, dtype: .float32, backend: CPUBackend.shared, fused: true, dropout: 0.1).map { $0.map(\.bitPattern) } }
        let one = Threading.withThreads(1) { f() }
        for n in [2, 3, 4] {
            let got = Threading.withThreads(n) { f() }
            #expect(got == one, "\(n) threads")
        }
    }

    @Test func registered() {
        #expect(OpRegistry.lookup("scaled_dot_product_attention") != nil)
    }

    @Test func secondOrderStopsWithAMessage() async {
        let r = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            var rng = RandomState(seed: 1)
            let q = Tensor.uniform([1, 1, 3, 2], rng: &rng)
            q.requiresGrad = true
            let y = scaledDotProductAttention(q, q, q).sum()
            _ = gradients(of: y, wrt: [q], createGraph: true)
        }
        expectMessage(r, "backward of 'scaled_dot_product_attention': gradients of gradients (createGraph) are not supported")
    }

    /// The composite form gives gradients of gradients (createGraph) where the fused one stops.
    @Test func compositeSupportsSecondOrder() {
        var rng = RandomState(seed: 4)
        let q = Self.leaf([1, 1, 3, 2], &rng, .float64, DefaultBackend.current)
        var drng = RandomState(seed: 0)
        let y = scaledDotProductAttentionComposite(q, q, q, causal: true, rng: &drng).square().sum()
        let g = gradients(of: y, wrt: [q], createGraph: true)[0]
        let gg = gradients(of: g.sum(), wrt: [q])[0]
        #expect(gg.toArray(Double.self).allSatisfy { $0.isFinite })
    }

    @Test func shapeErrorsNameTheOp() async {
        let r = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = scaledDotProductAttention(Tensor.zeros([1, 2, 3, 4]), Tensor.zeros([1, 2, 5, 3]), Tensor.zeros([1, 2, 5, 4]))
        }
        expectMessage(r, "scaled_dot_product_attention: key [1, 2, 5, 3] and value [1, 2, 5, 4] do not fit query [1, 2, 3, 4]")
    }
}
