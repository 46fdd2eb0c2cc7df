import Foundation
import Testing
@testable import EmberCore

/// The fused `layer_norm` primitive: central differences in float64 (input, weight and bias gradients), the CPU
/// kernels against the reference backend's plain double loops and against the composite formula over odd sizes and
/// across the 32-row blocks of the parameter-gradient sums, bit-identical results for any thread count, the
/// createGraph form, and the shape stops.
@Suite struct LayerNormOpTests {
    static func leaf(_ shape: [Int], _ rng: inout RandomState, _ dtype: DType, _ backend: any Backend, scale: Double = 1,
                     shift: Double = 0) -> Tensor {
        let vals = Tensor.uniform(shape, low: shift - scale, high: shift + scale, dtype: .float64, rng: &rng).toArray(Double.self)
        let t = dtype == .float32
            ? vals.map { Float($0) }.withUnsafeBytes { Tensor(rawBytes: $0, shape: shape, dtype: dtype, on: backend) }
            : vals.withUnsafeBytes { Tensor(rawBytes: $0, shape: shape, dtype: dtype, on: backend) }
        t.requiresGrad = true
        return t
    }

    /// The composite formula (what LayerNorm computed before the primitive), differentiated op by op.
    static func composite(_ x: Tensor, _ k: Int, _ w: Tensor?, _ b: Tensor?, eps: Double) -> Tensor {
        let axes = Array((x.rank - k)..<x.rank)
        let d = x - x.mean(axes: axes, keepDims: true)
        var y = d * ((d * d).mean(axes: axes, keepDims: true) + eps).rsqrt()
        if let w, let b { y = y * w + b }
        return y
    }

    /// Output and the gradients of sum(y * probe) for x, weight and bias, as float64 arrays.
    static func run(shape: [Int], k: Int, affine: Bool, dtype: DType, backend: any Backend, fused: Bool,
                    seed: UInt64 = 3) -> [[Double]] {
        var rng = RandomState(seed: seed)
        let norm = Array(shape.suffix(k))
        // Rows with a large common offset: a one-pass variance would lose digits here.
        let x = leaf(shape, &rng, dtype, backend, scale: 2, shift: 30)
        let w = affine ? leaf(norm, &rng, dtype, backend) : nil, b = affine ? leaf(norm, &rng, dtype, backend) : nil
        let probe = leaf(shape, &rng, dtype, backend)
        probe.requiresGrad = false
        let y = fused ? layerNorm(x, normalizedShape: norm, weight: w, bias: b, eps: 1e-5) : composite(x, k, w, b, eps: 1e-5)
        let wrt = [x] + (affine ? [w!, b!] : [])
        let grads = gradients(of: (y * probe).sum(), wrt: wrt)
        return ([y] + grads).map { $0.cast(.float64).toArray(Double.self) }
    }

    static func maxRelativeError(_ a: [[Double]], _ b: [[Double]]) -> Double {
        var worst = 0.0
        for (x, y) in zip(a, b) {
            let scale = Swift.max(y.map(abs).max() ?? 0, 1e-30)
            for (u, v) in zip(x, y) { worst = Swift.max(worst, abs(u - v) / scale) }
        }
        return worst
    }

    static let shapes: [([Int], Int)] = [([3, 5], 1), ([2, 3, 7], 1), ([1, 1], 1), ([70, 13], 1), ([4, 2, 3], 2),
                                         ([33, 130], 1), ([2, 40, 8], 1), ([65, 1, 16], 2)]

    @Test func finiteDifferences() {
        for (shape, k) in [([3, 5], 1), ([2, 2, 3], 2), ([2, 9], 1)] {
            for affine in [true, false] {
                var rng = RandomState(seed: 7)
                let be = DefaultBackend.current
                let norm = Array(shape.suffix(k))
                let x = Self.leaf(shape, &rng, .float64, be, scale: 2)
                let w = affine ? Self.leaf(norm, &rng, .float64, be) : nil, b = affine ? Self.leaf(norm, &rng, .float64, be) : nil
                let probe = Self.leaf(shape, &rng, .float64, be)
                probe.requiresGrad = false
                let xs = [x] + (affine ? [w!, b!] : [])
                func loss(_ t: [Tensor]) -> Tensor {
                    (layerNorm(t[0], normalizedShape: norm, weight: affine ? t[1] : nil, bias: affine ? t[2] : nil, eps: 1e-5) * probe).sum()
                }
                let grads = gradients(of: loss(xs), wrt: xs).map { $0.toArray(Double.self) }
                let eps = 1e-6
                for (n, t) in xs.enumerated() {
                    let base = t.toArray(Double.self)
                    for e in 0..<base.count {
                        func value(_ d: Double) -> Double {
                            var vals = base
                            vals[e] += d
                            let moved = xs.enumerated().map { $0.offset == n ? Tensor(vals, shape: t.shape, dtype: .float64) : $0.element }
                            return withoutGrad { loss(moved).item() }
                        }
                        let fd = (value(eps) - value(-eps)) / (2 * eps)
                        #expect(abs(fd - grads[n][e]) <= 1e-7 + 1e-6 * abs(fd), "\(shape) k \(k) affine \(affine) input \(n) [\(e)]: \(fd) vs \(grads[n][e])")
                    }
                }
            }
        }
    }

    @Test func cpuMatchesReferenceAndComposite() {
        for (shape, k) in Self.shapes {
            for affine in [true, false] {
                for dtype in [DType.float64, .float32] {
                    let cpu = Self.run(shape: shape, k: k, affine: affine, dtype: dtype, backend: CPUBackend.shared, fused: true)
                    let ref = Self.run(shape: shape, k: k, affine: affine, dtype: .float64, backend: ReferenceBackend.shared, fused: true)
                    let comp = Self.run(shape: shape, k: k, affine: affine, dtype: .float64, backend: CPUBackend.shared, fused: false)
                    let tol = dtype == .float64 ? 1e-11 : 2e-4
                    #expect(Self.maxRelativeError(cpu, ref) <= tol, "\(shape) k \(k) affine \(affine) \(dtype) vs reference")
                    #expect(Self.maxRelativeError(ref, comp) <= 1e-11, "\(shape) k \(k) affine \(affine): reference vs composite")
                }
            }
        }
    }

    @Test func sameBitsForAnyThreadCount() {
        for dtype in [DType.float32, .float64] {
            let one = Threading.withThreads(1) { Self.run(shape: [300, 96], k: 1, affine: true, dtype: dtype, backend: CPUBackend.shared, fused: true) }
            for n in [2, 3, 4] {
                let got = Threading.withThreads(n) { Self.run(shape: [300, 96], k: 1, affine: true, dtype: dtype, backend: CPUBackend.shared, fused: true) }
                #expect(zip(one, got).allSatisfy { zip($0, $1).allSatisfy { $0.bitPattern == $1.bitPattern } }, "\(dtype), \(n) threads")
            }
        }
    }

    /// Under createGraph the VJP is the composite form: its gradients equal the fused ones and can be differentiated
    /// again (a Hessian-vector product against central differences of the gradient).
    @Test func createGraphGivesSecondDerivatives() {
        var rng = RandomState(seed: 9)
        let be = DefaultBackend.current   // the reference backend under EMBER_BACKEND=reference
        let x = Self.leaf([3, 6], &rng, .float64, be, scale: 2)
        let w = Self.leaf([6], &rng, .float64, be), b = Self.leaf([6], &rng, .float64, be)
        let probe = Self.leaf([3, 6], &rng, .float64, be), v = Self.leaf([3, 6], &rng, .float64, be)
        probe.requiresGrad = false
        v.requiresGrad = false
        func grad(_ x: Tensor, create: Bool) -> Tensor {
            let y = layerNorm(x, normalizedShape: [6], weight: w, bias: b, eps: 1e-5)
            return gradients(of: (y * y * probe).sum(), wrt: [x], createGraph: create)[0]
        }
        let g = grad(x, create: true)
        #expect(Self.maxRelativeError([g.toArray(Double.self)], [grad(x, create: false).toArray(Double.self)]) <= 1e-12)
        let hv = gradients(of: (g * v).sum(), wrt: [x])[0].toArray(Double.self)
        let eps = 1e-6, base = x.toArray(Double.self), dir = v.toArray(Double.self)
        func shifted(_ s: Double) -> [Double] {
            let moved = Tensor(zip(base, dir).map { $0 + s * $1 }, shape: x.shape, dtype: .float64)
            moved.requiresGrad = true
            return grad(moved, create: false).toArray(Double.self)
        }
        let plus = shifted(eps), minus = shifted(-eps)
        for i in 0..<hv.count {
            let fd = (plus[i] - minus[i]) / (2 * eps)
            #expect(abs(fd - hv[i]) <= 1e-6 + 1e-5 * abs(fd), "Hv[\(i)]: \(fd) vs \(hv[i])")
        }
    }

    @Test func registeredAndTraced() {
        #expect(OpRegistry.lookup("layer_norm") == LayerNormOp.self)
    }
}
