import Testing
@testable import EmberCore

/// The CPU backend's convolution and batch-norm kernels (per-image im2col + GEMM, 1x1 direct path, per-range weight
/// gradient sums; fused batch-norm passes) against the reference backend's direct loops, for odd sizes, strides,
/// padding, dilation, groups and batches that split unevenly across threads and weight-gradient ranges; and the
/// same bits for any thread count.
@Suite struct ConvKernelTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var n: Int, c: Int, o: Int, h: Int, w: Int, kernel: Pair, stride: Pair, padding: Pair, dilation: Pair, groups: Int
        var bias = true
        var testDescription: String {
            "N\(n) C\(c)->\(o) \(h)x\(w) k\(kernel.h)x\(kernel.w) s\(stride.h),\(stride.w) p\(padding.h),\(padding.w) d\(dilation.h),\(dilation.w) g\(groups)"
        }
    }

    static let cases: [Case] = [
        Case(n: 3, c: 4, o: 6, h: 7, w: 9, kernel: 3, stride: 1, padding: 1, dilation: 1, groups: 1),
        Case(n: 5, c: 6, o: 4, h: 11, w: 8, kernel: Pair(3, 2), stride: Pair(2, 1), padding: Pair(1, 0), dilation: Pair(1, 2), groups: 2),
        Case(n: 7, c: 3, o: 5, h: 10, w: 10, kernel: 5, stride: Pair(3, 2), padding: 2, dilation: 1, groups: 1, bias: false),
        Case(n: 2, c: 8, o: 8, h: 6, w: 5, kernel: 1, stride: 1, padding: 0, dilation: 1, groups: 4),  // 1x1: no unfolding
        Case(n: 9, c: 4, o: 6, h: 9, w: 7, kernel: 1, stride: 2, padding: 0, dilation: 1, groups: 1),  // 1x1 strided
        Case(n: 1, c: 2, o: 3, h: 5, w: 5, kernel: 2, stride: 1, padding: 1, dilation: 2, groups: 1),
        Case(n: 13, c: 6, o: 6, h: 8, w: 8, kernel: 3, stride: 1, padding: 1, dilation: 1, groups: 6),  // depthwise, 13 over 8 ranges
        Case(n: 4, c: 3, o: 2, h: 4, w: 6, kernel: Pair(2, 3), stride: Pair(1, 4), padding: Pair(3, 2), dilation: 1, groups: 1),  // padding wider than the image
        // larger planes (the GEMM's column count), 1x1 among them
        Case(n: 3, c: 4, o: 6, h: 34, w: 33, kernel: 3, stride: 1, padding: 1, dilation: 1, groups: 2),
        Case(n: 2, c: 4, o: 6, h: 32, w: 33, kernel: 1, stride: 1, padding: 0, dilation: 1, groups: 1),
        Case(n: 5, c: 3, o: 4, h: 22, w: 22, kernel: 3, stride: 1, padding: 0, dilation: 1, groups: 1),
        // stride 1 with output rows as wide as input rows (the whole-plane unfolding): padding rows beyond the image,
        // and horizontal offsets whose every column is padding
        Case(n: 2, c: 3, o: 4, h: 2, w: 6, kernel: Pair(5, 3), stride: 1, padding: Pair(2, 1), dilation: 1, groups: 1),
        Case(n: 3, c: 2, o: 3, h: 6, w: 4, kernel: Pair(3, 5), stride: 1, padding: Pair(0, 4), dilation: Pair(1, 2), groups: 1),
    ]

    /// Forward output and the gradients of sum(conv(x, w, b) * seed) for x, w (and b), in double.
    static func convolve(_ t: Case, dtype: DType, on device: Device) -> [[Double]] {
        var rng = RandomState(seed: 7)
        let x = Tensor.normal([t.n, t.c, t.h, t.w], dtype: dtype, rng: &rng)
        let w = Tensor.normal([t.o, t.c / t.groups, t.kernel.h, t.kernel.w], dtype: dtype, rng: &rng)
        let b = Tensor.normal([t.o], dtype: dtype, rng: &rng)
        let y0 = conv2d(x, w, t.bias ? b : nil, stride: t.stride, padding: t.padding, dilation: t.dilation, groups: t.groups)
        let seed = Tensor.normal(y0.shape, dtype: dtype, rng: &rng).to(device)
        let inputs = (t.bias ? [x, w, b] : [x, w]).map { $0.to(device) }
        var out: Tensor? = nil
        let (_, grads) = valueAndGrad(inputs) { v in
            let y = conv2d(v[0], v[1], t.bias ? v[2] : nil, stride: t.stride, padding: t.padding, dilation: t.dilation,
                           groups: t.groups)
            out = y
            return (y * seed).sum()
        }
        return ([out!] + grads).map { $0.cast(.float64).toArray(Double.self) }
    }

    static func expectClose(_ a: [[Double]], _ b: [[Double]], tol: Double, _ what: String) {
        #expect(a.count == b.count, "\(what): \(a.count) results vs \(b.count)")
        for (i, (u, v)) in zip(a, b).enumerated() {
            #expect(u.count == v.count, "\(what) result \(i): \(u.count) vs \(v.count) elements")
            let worst = zip(u, v).map { abs($0 - $1) / (tol + tol * abs($1)) }.max() ?? 0
            #expect(worst <= 1, "\(what) result \(i): off by \(worst) x the tolerance")
        }
    }

    @Test(arguments: cases) func convolutionMatchesTheReferenceBackend(_ t: Case) {
        Self.expectClose(Self.convolve(t, dtype: .float64, on: .cpu), Self.convolve(t, dtype: .float64, on: .reference),
                         tol: 1e-11, "float64 \(t.testDescription)")
        Self.expectClose(Self.convolve(t, dtype: .float32, on: .cpu), Self.convolve(t, dtype: .float32, on: .reference),
                         tol: 2e-5, "float32 \(t.testDescription)")
    }

    @Test func sameBitsForAnyThreadCount() {
        for t in [Self.cases[1], Self.cases[3], Self.cases[6], Case(n: 11, c: 5, o: 7, h: 12, w: 9, kernel: 3, stride: 1,
                                                                     padding: 1, dilation: 1, groups: 1)] {
            let one = Threading.withThreads(1) { Self.convolve(t, dtype: .float32, on: .cpu) }
            for n in 2...4 {
                let other = Threading.withThreads(n) { Self.convolve(t, dtype: .float32, on: .cpu) }
                #expect(other == one, "\(t.testDescription): \(n) threads differ from 1")
            }
        }
    }

    @Test func transposedConvolutionMatchesTheReferenceBackend() {
        for dtype in [DType.float64, .float32] {
            func run(_ device: Device) -> [[Double]] {
                var rng = RandomState(seed: 3)
                let x = Tensor.normal([5, 4, 5, 6], dtype: dtype, rng: &rng).to(device)
                let w = Tensor.normal([4, 3, 3, 2], dtype: dtype, rng: &rng).to(device)
                let b = Tensor.normal([6], dtype: dtype, rng: &rng).to(device)
                var out: Tensor? = nil
                let (_, grads) = valueAndGrad([x, w, b]) { v in
                    let y = convTranspose2d(v[0], v[1], v[2], stride: Pair(2, 3), padding: Pair(1, 0),
                                            outputPadding: Pair(1, 2), dilation: Pair(1, 2), groups: 2)
                    out = y
                    return (y * y.detached().affine(0.5, 0.25)).sum()
                }
                return ([out!] + grads).map { $0.cast(.float64).toArray(Double.self) }
            }
            Self.expectClose(run(.cpu), run(.reference), tol: dtype == .float64 ? 1e-11 : 2e-5, "conv_transpose2d \(dtype)")
        }
    }

    @Test func conv1dMatchesTheReferenceBackend() {
        func run(_ device: Device) -> [[Double]] {
            var rng = RandomState(seed: 4)
            let x = Tensor.normal([3, 4, 17], dtype: .float64, rng: &rng).to(device)
            let w = Tensor.normal([6, 2, 4], dtype: .float64, rng: &rng).to(device)
            let (v, grads) = valueAndGrad([x, w]) { v in
                conv1d(v[0], v[1], stride: 2, padding: 3, dilation: 2, groups: 2).square().sum()
            }
            return ([v] + grads).map { $0.toArray(Double.self) }
        }
        Self.expectClose(run(.cpu), run(.reference), tol: 1e-11, "conv1d")
    }

    // MARK: batch norm

    /// Output, statistics and the gradients of sum(bn(x) * seed) for x (and weight, bias), in double.
    static func normalize(_ shape: [Int], affine: Bool, dtype: DType, on device: Device, createGraph: Bool = false) -> [[Double]] {
        var rng = RandomState(seed: 11)
        let x = Tensor.normal(shape, mean: 0.7, std: 1.9, dtype: dtype, rng: &rng)
        let w = Tensor.normal([shape[1]], dtype: dtype, rng: &rng), b = Tensor.normal([shape[1]], dtype: dtype, rng: &rng)
        let seed = Tensor.normal(shape, dtype: dtype, rng: &rng).to(device)
        let leaves = (affine ? [x, w, b] : [x]).map { t -> Tensor in
            let v = t.to(device).detached()
            v.requiresGrad = true
            return v
        }
        let (y, stats) = batchNormTraining(leaves[0], weight: affine ? leaves[1] : nil, bias: affine ? leaves[2] : nil, eps: 1e-5)
        let grads = gradients(of: (y * seed).sum(), wrt: leaves, createGraph: createGraph)
        return ([y, stats] + grads).map { $0.detached().cast(.float64).toArray(Double.self) }
    }

    static let normShapes: [[Int]] = [[5, 3, 7, 9], [6, 4], [3, 5, 11], [13, 6, 4, 4], [2, 1, 33, 1]]

    @Test func batchNormMatchesTheReferenceBackend() {
        for shape in Self.normShapes {
            for affine in [true, false] {
                Self.expectClose(Self.normalize(shape, affine: affine, dtype: .float64, on: .cpu),
                                 Self.normalize(shape, affine: affine, dtype: .float64, on: .reference),
                                 tol: 1e-11, "float64 \(shape) affine \(affine)")
                Self.expectClose(Self.normalize(shape, affine: affine, dtype: .float32, on: .cpu),
                                 Self.normalize(shape, affine: affine, dtype: .float32, on: .reference),
                                 tol: 2e-5, "float32 \(shape) affine \(affine)")
            }
        }
    }

    /// The composite VJP used under createGraph and the fused kernel compute the same gradients.
    @Test func batchNormGradientsAgreeWithTheirDifferentiableForm() {
        for shape in Self.normShapes {
            Self.expectClose(Self.normalize(shape, affine: true, dtype: .float64, on: .cpu, createGraph: true),
                             Self.normalize(shape, affine: true, dtype: .float64, on: .cpu),
                             tol: 1e-11, "createGraph \(shape)")
        }
    }

    /// Second derivative through the batch norm (createGraph) against central differences of the first.
    @Test func batchNormSecondDerivativeMatchesFiniteDifferences() {
        var rng = RandomState(seed: 5)
        let x0 = Tensor.normal([4, 3, 5], dtype: .float64, rng: &rng), w = Tensor.normal([3], dtype: .float64, rng: &rng)
        let b = Tensor.normal([3], dtype: .float64, rng: &rng), seed = Tensor.normal([4, 3, 5], dtype: .float64, rng: &rng)
        let v = Tensor.normal([4, 3, 5], dtype: .float64, rng: &rng)
        // f(x) = sum(bn(x) * seed)^2-ish so the Hessian is not zero: sum(bn(x)^2 * seed)
        func grad(_ x: Tensor, createGraph: Bool) -> Tensor {
            let y = batchNormTraining(x, weight: w, bias: b, eps: 1e-5).output
            return gradients(of: (y * y * seed).sum(), wrt: [x], createGraph: createGraph)[0]
        }
        let x = x0.detached()
        x.requiresGrad = true
        let g = grad(x, createGraph: true)
        let hv = gradients(of: (g * v).sum(), wrt: [x])[0].toArray(Double.self)
        let h = 1e-5
        let xp = withoutGrad { x0 + v * h }, xm = withoutGrad { x0 - v * h }
        xp.requiresGrad = true
        xm.requiresGrad = true
        let gp = grad(xp, createGraph: false).toArray(Double.self), gm = grad(xm, createGraph: false).toArray(Double.self)
        let fd = zip(gp, gm).map { ($0 - $1) / (2 * h) }
        Self.expectClose([hv], [fd], tol: 1e-6, "Hessian-vector product")
    }

    @Test func batchNormSameBitsForAnyThreadCount() {
        for shape in [[13, 6, 9, 7], [37, 5]] {
            let one = Threading.withThreads(1) { Self.normalize(shape, affine: true, dtype: .float32, on: .cpu) }
            for n in 2...4 {
                let other = Threading.withThreads(n) { Self.normalize(shape, affine: true, dtype: .float32, on: .cpu) }
                #expect(other == one, "\(shape): \(n) threads differ from 1")
            }
        }
    }
}

/// 2x2 stride-2 max pooling: the CPU's vectorized rows (8 outputs at a time) and scalar tails against the reference
/// backend's scan, on data full of ties and NaNs: the same values (NaN included), the same chosen positions (seen
/// through the gradient) — PyTorch's rule, the last NaN of a window or else its first maximum.
@Suite struct MaxPoolTwoByTwoTests {
    @Test(arguments: [(4, 16), (5, 17), (2, 34), (6, 40), (3, 3), (4, 11), (3, 13), (2, 26), (2, 8), (5, 15), (3, 5), (27, 26)])
    func vectorRowsMatchTheReferenceScan(h: Int, w: Int) {
        var rng = RandomState(seed: UInt64(h * 100 + w))
        let count = 2 * 3 * h * w
        let draws = Tensor.uniform([count], low: 0, high: 1, dtype: .float64, rng: &rng).toArray(Double.self)
        // small integers (many ties) and about 1 in 12 NaN
        let vals: [Float] = draws.map { $0 < 0.08 ? .nan : Float(Int($0 * 40) % 4) }
        let upstream = (0..<(2 * 3 * (h / 2) * (w / 2))).map { Double($0 % 7) + 1 }
        func run(_ backend: any Backend) -> ([UInt32], [Double]) {
            let x = vals.withUnsafeBytes { Tensor(rawBytes: $0, shape: [2, 3, h, w], dtype: .float32, on: backend) }
            x.requiresGrad = true
            let y = maxPool2d(x, kernel: 2)
            let g = Tensor(upstream.map { Float($0) }, shape: y.shape).to(y.device)
            let gx = gradients(of: (y * g).sum(), wrt: [x])[0]
            // NaN * g is NaN, so the NaN windows' gradient is checked through positions below, not through values
            return (y.scalars.map(\.bitPattern), gx.cast(.float64).toArray(Double.self))
        }
        let cpu = run(CPUBackend.shared), ref = run(ReferenceBackend.shared)
        #expect(cpu.0 == ref.0, "\(h)x\(w): pooled values differ")
        #expect(zip(cpu.1, ref.1).allSatisfy { $0 == $1 || ($0.isNaN && $1.isNaN) }, "\(h)x\(w): gradients (chosen positions) differ")
    }
}
