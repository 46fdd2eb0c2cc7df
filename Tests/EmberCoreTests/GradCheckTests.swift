import Testing
import EmberTestSupport
@testable import EmberCore

// Finite-difference gradient checks for every differentiable EmberCore op.
//
// For an op f of Float64 tensors, `gradCheck` compares the autodiff gradient of L = sum_k sum(f(x)_k * w_k) (w_k a
// fixed random upstream weight per output) with central differences (L(x + eps e_i) - L(x - eps e_i)) / 2 eps for
// every element i of every input, with eps = 1e-6. In float64 the truncation error is ~eps^2 |f'''| ~ 1e-12 and the
// rounding error ~1e-16 |L| / eps ~ 1e-10 for |L| ~ 1, so |ad - fd| <= 1e-6 + 1e-5 |fd| leaves ample headroom (the
// worst float64 check measured uses 0.11% of it) while any wrong rule (a missing term, a wrong sign, a misrouted
// broadcast) is off by O(1e-2) or more.
//
// Inputs are kept away from non-differentiable points: values are distinct random draws (no max ties; gaps >> eps),
// and kinked ops (relu, abs, clamp, sign, softplus threshold) get inputs bounded away from their kinks.
// `Layout` makes the *leaf* itself a non-contiguous view (transposed, strided with NaN gaps, or flipped), so backward
// rules that read their saved input's strides are exercised too; chained views inside f cover view ops fed into ops.
// `precisionCheck` adds a third reference for the float32 fast paths at sizes the tiny checks never reach.

// MARK: harness

/// How a leaf tensor is laid out in memory; the logical values are the same in every layout.
fileprivate enum Layout: Sendable {
    /// Row-major.
    case contiguous
    /// The last two dims swapped in memory (a transposed view); rank >= 2.
    case transposed
    /// Every other element along axis 0 of a twice-as-long buffer whose gaps hold NaN (a slice with step 2).
    case strided
    /// All axes reversed in memory (negative strides).
    case flipped
}

/// How an input's values are drawn.
fileprivate enum Dist: Sendable {
    case uniform(Double, Double)
    /// Magnitude uniform in [lo, hi], random sign: keeps values away from 0.
    case away(Double, Double)
    case values([Double])
}

/// One differentiable float64 input of a gradient check.
fileprivate struct Arg: Sendable {
    var shape: [Int]
    var dist: Dist
    var layout: Layout
}

/// Uniform in [lo, hi] (default [-1, 1]).
fileprivate func U(_ shape: [Int], _ lo: Double = -1, _ hi: Double = 1, _ layout: Layout = .contiguous) -> Arg {
    Arg(shape: shape, dist: .uniform(lo, hi), layout: layout)
}
/// Positive, in [0.5, 2] (log, sqrt, pow bases).
fileprivate func P(_ shape: [Int], _ layout: Layout = .contiguous) -> Arg { Arg(shape: shape, dist: .uniform(0.5, 2), layout: layout) }
/// Away from zero: |x| in [lo, hi] (default [0.2, 1.5]), random sign.
fileprivate func A(_ shape: [Int], _ lo: Double = 0.2, _ hi: Double = 1.5, _ layout: Layout = .contiguous) -> Arg {
    Arg(shape: shape, dist: .away(lo, hi), layout: layout)
}
/// Given values.
fileprivate func V(_ shape: [Int], _ values: [Double], _ layout: Layout = .contiguous) -> Arg {
    Arg(shape: shape, dist: .values(values), layout: layout)
}

/// A stable seed from a case name (FNV-1a).
fileprivate func seed(for name: String) -> UInt64 {
    var h: UInt64 = 0xCBF2_9CE4_8422_2325
    for b in name.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01B3 }
    return h
}

/// A leaf holding `values` (row-major) as `dtype` in the requested memory layout.
fileprivate func makeLeaf(_ values: [Double], _ shape: [Int], _ layout: Layout, dtype: DType = .float64) -> Tensor {
    withoutGrad {
        switch layout {
        case .contiguous:
            return Tensor(values, shape: shape).cast(dtype)
        case .transposed:
            precondition(shape.count >= 2, "gradCheck: .transposed needs rank >= 2")
            return Tensor(values, shape: shape).cast(dtype).transposed().contiguous().transposed().detached()
        case .strided:
            precondition(!shape.isEmpty, "gradCheck: .strided needs rank >= 1")
            let rowLen = shape.dropFirst().reduce(1, *)
            var buf = [Double](repeating: .nan, count: values.count * 2)
            for r in 0..<shape[0] {
                for j in 0..<rowLen { buf[2 * r * rowLen + j] = values[r * rowLen + j] }
            }
            var big = shape
            big[0] *= 2
            return Tensor(buf, shape: big).cast(dtype).slice(axis: 0, step: 2).detached()
        case .flipped:
            return Tensor(Array(values.reversed()), shape: shape).cast(dtype).flipped(axes: Array(0..<shape.count)).detached()
        }
    }
}

/// Deterministic values for `args` (the same for every run of a named check).
fileprivate func drawValues(_ name: String, _ args: [Arg], _ rng: inout SplitMix64) -> [[Double]] {
    args.map { a in
        let n = a.shape.reduce(1, *)
        switch a.dist {
        case .uniform(let lo, let hi): return (0..<n).map { _ in rng.uniform(lo, hi) }
        case .away(let lo, let hi):
            return (0..<n).map { _ in
                let m = rng.uniform(lo, hi)
                return rng.next() & 1 == 0 ? m : -m
            }
        case .values(let v):
            precondition(v.count == n, "gradCheck \(name): \(v.count) values for shape \(a.shape)")
            return v
        }
    }
}

/// Checks the autodiff gradients of sum_k sum(f(x)_k * w_k) against central finite differences.
fileprivate func gradCheckMulti(_ name: String, _ args: [Arg], eps: Double = 1e-6, atol: Double = 1e-6, rtol: Double = 1e-5,
                    sourceLocation: SourceLocation = #_sourceLocation, _ f: ([Tensor]) -> [Tensor]) {
    var rng = SplitMix64(seed(for: name))
    let values = drawValues(name, args, &rng)
    func leaves(_ vals: [[Double]], grad: Bool) -> [Tensor] {
        zip(args, vals).map { a, v in
            let t = makeLeaf(v, a.shape, a.layout)
            t.requiresGrad = grad
            return t
        }
    }

    // autodiff
    let xs = leaves(values, grad: true)
    let outs = f(xs)
    guard !outs.isEmpty else { Issue.record("\(name): f returned no tensors", sourceLocation: sourceLocation); return }
    for o in outs where o.dtype != .float64 {
        Issue.record("\(name): output dtype \(o.dtype), expected float64", sourceLocation: sourceLocation)
        return
    }
    let weights: [[Double]] = outs.map { o in (0..<o.count).map { _ in rng.uniform(-1, 1) } }
    var loss = Tensor(0.0, dtype: .float64)
    for (o, w) in zip(outs, weights) {
        let wt = Tensor(w, shape: o.shape)
        let term: Tensor = (o * wt).sum()
        loss = loss + term
    }
    guard loss.requiresGrad else {
        Issue.record("\(name): the loss does not require a gradient (op not recorded)", sourceLocation: sourceLocation)
        return
    }
    let grads = gradients(of: loss, wrt: xs)

    // finite differences
    func lossValue(_ vals: [[Double]]) -> Double {
        withoutGrad {
            let os = f(leaves(vals, grad: false))
            var s = 0.0
            for (o, w) in zip(os, weights) {
                let a = o.toArray(Double.self)
                for k in a.indices { s += a[k] * w[k] }
            }
            return s
        }
    }
    let l0 = lossValue(values)
    if Swift.abs(l0 - loss.item()) > 1e-9 * Swift.max(1, Swift.abs(l0)) {
        Issue.record("\(name): forward differs with and without grad recording: \(loss.item()) vs \(l0)", sourceLocation: sourceLocation)
    }
    for (i, a) in args.enumerated() {
        guard grads[i].shape == a.shape else {
            Issue.record("\(name): gradient \(i) has shape \(grads[i].shape), input \(a.shape)", sourceLocation: sourceLocation)
            continue
        }
        let ad = grads[i].toArray(Double.self)
        var bad: [String] = []
        var worst = 0.0
        for j in 0..<values[i].count {
            var plus = values, minus = values
            plus[i][j] += eps
            minus[i][j] -= eps
            let fd = (lossValue(plus) - lossValue(minus)) / (2 * eps)
            let err = Swift.abs(ad[j] - fd)
            if !(err <= atol + rtol * Swift.abs(fd)) {
                worst = Swift.max(worst, err.isNaN ? .infinity : err)
                if bad.count < 4 { bad.append("[\(j)] autodiff \(ad[j]) vs finite difference \(fd)") }
            }
        }
        if !bad.isEmpty {
            Issue.record("\(name): input \(i) \(a.shape) \(a.layout): \(bad.joined(separator: "; ")); worst |diff| \(worst)",
                         sourceLocation: sourceLocation)
        }
    }
}

/// Single-output form of `gradCheckMulti`.
fileprivate func gradCheck(_ name: String, _ args: [Arg], eps: Double = 1e-6, atol: Double = 1e-6, rtol: Double = 1e-5,
               sourceLocation: SourceLocation = #_sourceLocation, _ f: ([Tensor]) -> Tensor) {
    gradCheckMulti(name, args, eps: eps, atol: atol, rtol: rtol, sourceLocation: sourceLocation) { [f($0)] }
}

/// Float32 at sizes that reach the vectorized C kernels and the multi-threaded splits, checked against float64 on the
/// same values: the float64 ops run the generic loops that the finite-difference checks above verify, so they are an
/// independent reference for the float32 fast paths (forward and gradients). The error bound is relative to the
/// tensor's scale: |f32 - f64| <= tol * (|f64| + mean |f64|); float32 rounding gives ~1e-7 per op and the longest
/// reductions here (~1e5 terms) stay well under tol = 1e-5: the worst measured value uses 19% of the bound (the
/// sigmoid gradient y(1-y) near saturation, where the float32 subtraction cancels).
fileprivate func precisionCheck(_ name: String, _ args: [Arg], tol: Double = 1e-5, sourceLocation: SourceLocation = #_sourceLocation,
                    _ f: ([Tensor]) -> Tensor) {
    var rng = SplitMix64(seed(for: name))
    // Values exactly representable in float32, so both runs see identical inputs.
    let values = drawValues(name, args, &rng).map { v in v.map { Double(Float($0)) } }
    func leaves(_ dt: DType) -> [Tensor] {
        zip(args, values).map { a, v in
            let t = makeLeaf(v, a.shape, a.layout, dtype: dt)
            t.requiresGrad = true
            return t
        }
    }
    let x64 = leaves(.float64), x32 = leaves(.float32)
    let y64 = f(x64), y32 = f(x32)
    guard y32.dtype == .float32, y64.dtype == .float64 else {
        Issue.record("\(name): dtypes \(y32.dtype)/\(y64.dtype)", sourceLocation: sourceLocation)
        return
    }
    let w = (0..<y64.count).map { _ in Double(Float(rng.uniform(-1, 1))) }
    let l64: Tensor = (y64 * Tensor(w, shape: y64.shape)).sum()
    let l32: Tensor = (y32 * Tensor(w.map { Float($0) }, shape: y32.shape)).sum()
    let g64 = gradients(of: l64, wrt: x64), g32 = gradients(of: l32, wrt: x32)
    func compare(_ what: String, _ a: Tensor, _ b: Tensor) {
        guard a.shape == b.shape else {
            Issue.record("\(name): \(what) shape \(a.shape) vs \(b.shape)", sourceLocation: sourceLocation)
            return
        }
        let av = a.toArray(Double.self), bv = b.toArray(Double.self)
        let scale = bv.reduce(0) { $0 + Swift.abs($1) } / Double(Swift.max(bv.count, 1))
        var bad = 0, first = ""
        for i in av.indices where !(Swift.abs(av[i] - bv[i]) <= tol * (Swift.abs(bv[i]) + scale)) {
            if bad == 0 { first = "[\(i)] float32 \(av[i]) vs float64 \(bv[i])" }
            bad += 1
        }
        if bad > 0 {
            Issue.record("\(name): \(what): \(bad) of \(av.count) values differ, first \(first)", sourceLocation: sourceLocation)
        }
    }
    compare("output", y32, y64)
    for i in args.indices { compare("gradient \(i)", g32[i], g64[i]) }
}

/// Int64 index tensor.
fileprivate func I(_ values: [Int], _ shape: [Int]) -> Tensor { Tensor(values.map { Int64($0) }, shape: shape) }

/// The identity with a deliberately wrong VJP (twice the gradient), to show the harness is not vacuous.
fileprivate struct BogusDouble: PrimitiveOp {
    static let name = "bogus"
    func forward(_ x: [Tensor]) -> Tensor { x[0].copied() }
    func vjp(_ g: Tensor, _ c: VJPContext) -> [Tensor?] { [g * 2.0] }
}

// MARK: tests

@Suite struct GradCheckTests {
    @Test func harnessCatchesAWrongGradient() {
        // A deliberately wrong backward (gradient 2x instead of 1x) must be reported: the harness is not vacuous.
        let x = Tensor([0.3, -0.7, 1.1] as [Double])
        x.requiresGrad = true
        let y = Tensor.apply(BogusDouble(), [x])
        let g = gradients(of: y.sum(), wrt: [x])[0].toArray(Double.self)
        #expect(g == [2, 2, 2])
        withKnownIssue {
            gradCheck("bogus", [U([3])]) { v in Tensor.apply(BogusDouble(), [v[0]]) }
        }
    }

    @Test func layoutsHoldTheSameValues() {
        let vals: [Double] = (0..<12).map { Double($0) * 0.5 - 2 }
        for layout in [Layout.contiguous, .transposed, .strided, .flipped] {
            let t = makeLeaf(vals, [3, 4], layout)
            #expect(t.shape == [3, 4])
            #expect(t.toArray(Double.self) == vals, "layout \(layout)")
            #expect(t.isContiguous == (layout == .contiguous), "layout \(layout)")
        }
    }

    /// Tensor-scalar ops (the number is a kernel argument), on non-contiguous leaves.
    @Test func scalarOperands() {
        gradCheck("x + 2.5 transposed", [U([3, 4], -1, 1, .transposed)]) { $0[0] + 2.5 }
        gradCheck("x - 1.5 strided", [U([3, 4], -1, 1, .strided)]) { $0[0] - 1.5 }
        gradCheck("0.5 - x flipped", [U([3, 4], -1, 1, .flipped)]) { 0.5 - $0[0] }
        gradCheck("x * -3 transposed", [U([3, 4], -1, 1, .transposed)]) { $0[0] * -3 }
        gradCheck("x / 0.7 strided", [U([3, 4], -1, 1, .strided)]) { $0[0] / 0.7 }
        gradCheck("2 / x away from 0", [A([3, 4], 0.2, 1.5, .transposed)]) { 2 / $0[0] }
        gradCheck("scalar chain", [A([2, 3])]) { v in ((v[0] * 2 + 1) / 3 - 0.25) * (1 / v[0]) }
    }

    @Test func binaryBroadcasting() {
        gradCheck("add [3,1]+[1,4]", [U([3, 1]), U([1, 4])]) { $0[0] + $0[1] }
        gradCheck("add [2,3,4]+[4]", [U([2, 3, 4]), U([4])]) { $0[0] + $0[1] }
        gradCheck("sub [2,3,4]-[3,1]", [U([2, 3, 4]), U([3, 1])]) { $0[0] - $0[1] }
        gradCheck("mul [2,3,4]*[4]", [U([2, 3, 4]), U([4])]) { $0[0] * $0[1] }
        gradCheck("mul [3,1]*[1,4]", [U([3, 1]), U([1, 4])]) { $0[0] * $0[1] }
        gradCheck("div [2,3]/[2,1]", [U([2, 3]), P([2, 1])]) { $0[0] / $0[1] }
        gradCheck("div [2,3]/0-d", [U([2, 3]), P([])]) { $0[0] / $0[1] }
        gradCheck("div 0-d/[3]", [U([]), P([3])]) { $0[0] / $0[1] }
        gradCheck("pow tensor", [P([2, 3]), U([3], -2, 2)]) { $0[0].pow($0[1]) }
        gradCheck("maximum bcast", [U([2, 3]), U([3])]) { $0[0].maximum($0[1]) }
        gradCheck("minimum bcast", [U([3, 1]), U([1, 4])]) { $0[0].minimum($0[1]) }
        gradCheck("same tensor twice", [U([2, 3])]) { v in
            let sq: Tensor = v[0] * v[0]
            return sq + v[0]
        }
        gradCheck("shared subexpression", [U([3]), U([3])]) { v in
            let s: Tensor = v[0] * v[1]
            let t: Tensor = s.exp()
            return t * s - v[1]
        }
    }

    @Test func binaryScalarsAndLayouts() {
        gradCheck("x + 2.5", [U([2, 3])]) { $0[0] + 2.5 }
        gradCheck("2.5 - x", [U([2, 3])]) { 2.5 - $0[0] }
        gradCheck("x * -1.5", [U([2, 3])]) { $0[0] * -1.5 }
        gradCheck("x / 4", [U([2, 3])]) { $0[0] / 4.0 }
        gradCheck("3 / x", [A([2, 3])]) { 3.0 / $0[0] }
        gradCheck("-x", [U([2, 3])]) { -$0[0] }
        gradCheck("x^2.5", [P([2, 3])]) { $0[0].pow(2.5) }
        gradCheck("x^3 negative base", [A([2, 3])]) { $0[0].pow(3) }
        gradCheck("x^2", [A([2, 3])]) { $0[0].pow(2) }
        gradCheck("x^-0.5", [P([2, 3])]) { $0[0].pow(-0.5) }
        gradCheck("x^0.5", [P([2, 3])]) { $0[0].pow(0.5) }
        // non-contiguous leaves on both sides, long rows
        gradCheck("mul transposed*strided", [U([3, 4], -1, 1, .transposed), U([3, 4], -1, 1, .strided)]) { $0[0] * $0[1] }
        gradCheck("add flipped+contiguous", [U([2, 11], -1, 1, .flipped), U([2, 11])]) { $0[0] + $0[1] }
        gradCheck("div flipped/strided", [U([12], -1, 1, .flipped), P([12], .strided)]) { $0[0] / $0[1] }
        gradCheck("maximum flipped", [U([2, 9], -1, 1, .flipped), U([2, 9])]) { $0[0].maximum($0[1]) }
        // views made inside f and fed into binary ops
        gradCheck("expanded * x", [U([3, 1]), U([3, 4])]) { $0[0].expanded(to: [3, 4]) * $0[1] }
        gradCheck("both expanded", [U([3, 1]), U([1, 10])]) { $0[0].expanded(to: [3, 10]) + $0[1].expanded(to: [3, 10]) }
        gradCheck("x.T * y[::2]", [U([4, 3]), U([6, 4])]) { $0[0].transposed() * $0[1].slice(axis: 0, step: 2) }
        gradCheck("flipped - x", [U([3, 4]), U([3, 4])]) { $0[0].flipped(axes: [1]) - $0[1] }
        gradCheck("float32 cast round trip", [U([2, 3])], eps: 1e-2, atol: 1e-4, rtol: 1e-4) {
            // cast's rule is g.cast(back); the function is linear, so a large eps is exact up to float32 rounding
            // (~6e-8 per element / 2e-2), which the looser tolerance covers.
            $0[0].cast(.float32).cast(.float64) * 3.0
        }
    }

    @Test func unary() {
        gradCheck("exp", [U([2, 3])]) { $0[0].exp() }
        gradCheck("exp transposed", [U([3, 4], -1, 1, .transposed)]) { $0[0].exp() }
        gradCheck("log", [P([2, 3])]) { $0[0].log() }
        gradCheck("log strided", [P([3, 2], .strided)]) { $0[0].log() }
        gradCheck("log1p", [U([2, 3], -0.5, 2)]) { $0[0].log1p() }
        gradCheck("expm1", [U([2, 3])]) { $0[0].expm1() }
        gradCheck("sqrt", [P([2, 3])]) { $0[0].sqrt() }
        gradCheck("rsqrt", [P([2, 3])]) { $0[0].rsqrt() }
        gradCheck("abs", [A([2, 3])]) { $0[0].abs() }
        gradCheck("abs flipped", [A([2, 3], 0.2, 1.5, .flipped)]) { $0[0].abs() }
        gradCheck("sign (zero gradient)", [A([2, 3])]) { $0[0].sign() }
        gradCheck("sin", [U([2, 3], -3, 3)]) { $0[0].sin() }
        gradCheck("cos", [U([2, 3], -3, 3)]) { $0[0].cos() }
        gradCheck("tanh", [U([2, 3], -3, 3)]) { $0[0].tanh() }
        gradCheck("tanh of slice", [U([3, 6])]) { $0[0].slice(axis: 1, start: 1, step: 2).tanh() }
        gradCheck("sigmoid", [U([2, 3], -4, 4)]) { $0[0].sigmoid() }
        gradCheck("sigmoid flipped view", [U([3, 4])]) { $0[0].flipped(axes: [0]).sigmoid() }
        gradCheck("square", [U([2, 3])]) { $0[0].square() }
        gradCheck("reciprocal", [A([2, 3], 0.5, 2)]) { $0[0].reciprocal() }
        gradCheck("erf", [U([2, 3], -2, 2)]) { $0[0].erf() }
        gradCheck("affine", [U([2, 3])]) { $0[0].affine(2, -1) }
    }

    @Test func activations() {
        gradCheck("relu", [A([3, 4])]) { $0[0].relu() }
        gradCheck("relu transposed", [A([3, 4], 0.2, 1.5, .transposed)]) { $0[0].relu() }
        gradCheck("leakyRelu", [A([3, 4])]) { $0[0].leakyRelu(0.1) }
        gradCheck("elu", [A([3, 4], 0.1, 2)]) { $0[0].elu() }
        gradCheck("elu alpha", [A([3, 4], 0.1, 2)]) { $0[0].elu(0.5) }
        gradCheck("gelu", [U([3, 4], -3, 3)]) { $0[0].gelu() }
        gradCheck("gelu tanh", [U([3, 4], -3, 3)]) { $0[0].gelu(approximate: true) }
        gradCheck("silu", [U([3, 4], -4, 4)]) { $0[0].silu() }
        gradCheck("softplus", [V([8], [-25, -3, -0.5, 0.01, 0.7, 3, 19.5, 25])]) { $0[0].softplus() }
        gradCheck("softplus beta threshold", [V([8], [-2, -0.7, 0.1, 0.3, 0.7, 1.5, 3, -0.2])]) {
            $0[0].softplus(beta: 2, threshold: 1)
        }
        let c: [Double] = [-1.2, -0.6, -0.4, 0.01, 0.3, 0.45, 0.6, 2]
        gradCheck("clamp", [V([2, 4], c)]) { $0[0].clamp(min: -0.5, max: 0.5) }
        gradCheck("clamp min", [V([2, 4], c)]) { $0[0].clamp(min: 0) }
        gradCheck("clamp max", [V([2, 4], c, .flipped)]) { $0[0].clamp(max: 0.2) }
    }

    @Test func reductions() {
        gradCheck("sum all", [U([2, 3, 4])]) { $0[0].sum() }
        gradCheck("sum [0,2]", [U([2, 3, 4])]) { $0[0].sum(axes: [0, 2]) }
        gradCheck("sum [0,2] keep", [U([2, 3, 4])]) { $0[0].sum(axes: [0, 2], keepDims: true) }
        gradCheck("sum -1 transposed", [U([3, 4], -1, 1, .transposed)]) { $0[0].sum(axis: -1) }
        gradCheck("sum [1,2] strided", [U([2, 3, 2], -1, 1, .strided)]) { $0[0].sum(axes: [1, 2]) }
        gradCheck("mean all", [U([2, 3, 4])]) { $0[0].mean() }
        gradCheck("mean [1] keep", [U([2, 3, 4])]) { $0[0].mean(axes: [1], keepDims: true) }
        gradCheck("mean of permuted", [U([2, 3, 4])]) { $0[0].permuted([2, 0, 1]).mean(axes: [1, 2]) }
        gradCheck("max all", [U([2, 3, 4])]) { $0[0].max() }
        gradCheck("max [0,2]", [U([2, 3, 4])]) { $0[0].max(axes: [0, 2]) }
        gradCheck("max 1 keep flipped", [U([2, 3, 4], -1, 1, .flipped)]) { $0[0].max(axis: 1, keepDims: true) }
        gradCheck("min [0,1]", [U([2, 3, 4])]) { $0[0].min(axes: [0, 1]) }
        gradCheck("min all transposed", [U([3, 4], -1, 1, .transposed)]) { $0[0].min() }
        gradCheck("prod [1]", [A([2, 3, 4], 0.5, 1.5)]) { $0[0].prod(axes: [1]) }
        gradCheck("prod all", [A([2, 3], 0.5, 1.5)]) { $0[0].prod() }
        gradCheck("prod [0,2] keep strided", [A([2, 3, 2], 0.5, 1.5, .strided)]) { $0[0].prod(axes: [0, 2], keepDims: true) }
        gradCheck("prod [1] with zeros", [V([3, 4], [0.5, 0, 2, -1.5, 0, 1.5, 0, 0.7, 1.2, -0.8, 0.9, 1.1])]) {
            $0[0].prod(axes: [1])
        }
        gradCheck("prod all, one zero, transposed", [V([2, 3], [0.5, 1.5, -2, 0, 1.2, -0.9], .transposed)]) { $0[0].prod() }
        gradCheck("variance [1]", [U([2, 3, 4])]) { $0[0].variance(axes: [1]) }
        gradCheck("variance [0,1] c0 keep", [U([2, 3, 4])]) { $0[0].variance(axes: [0, 1], correction: 0, keepDims: true) }
        gradCheck("std all", [U([2, 3, 4])]) { $0[0].std() }
        gradCheck("std [0,2] transposed", [U([2, 3, 4], -1, 1, .transposed)]) { $0[0].std(axes: [0, 2]) }
        gradCheck("logsumexp [1]", [U([2, 3, 4], -2, 2)]) { $0[0].logsumexp(axes: [1]) }
        gradCheck("logsumexp all", [U([2, 3, 4], -2, 2)]) { $0[0].logsumexp() }
        gradCheck("logsumexp [0,1] keep flipped", [U([2, 3, 4], -2, 2, .flipped)]) { $0[0].logsumexp(axes: [0, 1], keepDims: true) }
        gradCheck("softmax -1", [U([3, 4], -2, 2)]) { $0[0].softmax(axis: -1) }
        gradCheck("softmax 0 transposed", [U([3, 4], -2, 2, .transposed)]) { $0[0].softmax(axis: 0) }
        gradCheck("softmax 1 of 3-D", [U([2, 3, 4], -2, 2)]) { $0[0].softmax(axis: 1) }
        gradCheck("logSoftmax 1 of 3-D", [U([2, 3, 4], -2, 2)]) { $0[0].logSoftmax(axis: 1) }
        gradCheck("logSoftmax -1 strided", [U([3, 5], -2, 2, .strided)]) { $0[0].logSoftmax(axis: -1) }
        gradCheck("cumsum 0", [U([3, 4])]) { $0[0].cumsum(axis: 0) }
        gradCheck("cumsum 1 strided", [U([2, 5], -1, 1, .strided)]) { $0[0].cumsum(axis: 1) }
        gradCheck("cumsum -1 of 3-D flipped", [U([2, 3, 4], -1, 1, .flipped)]) { $0[0].cumsum(axis: -1) }
    }

    @Test func views() {
        gradCheck("reshape of transposed", [U([3, 4], -1, 1, .transposed)]) { $0[0].reshaped([2, 6]) }
        gradCheck("reshape -1", [U([2, 3, 4])]) { $0[0].reshaped([4, -1]) }
        gradCheck("flattened 1...", [U([2, 3, 4])]) { $0[0].flattened(from: 1) }
        gradCheck("permuted", [U([2, 3, 4])]) { $0[0].permuted([2, 0, 1]) }
        gradCheck("transposed 0,2", [U([2, 3, 4])]) { $0[0].transposed(0, 2) }
        gradCheck("T", [U([3, 4], -1, 1, .strided)]) { $0[0].T }
        gradCheck("slice step", [U([3, 7])]) { $0[0].slice(axis: 1, start: 1, end: 6, step: 2) }
        gradCheck("slice negative start", [U([5, 2])]) { $0[0].slice(axis: 0, start: -3) }
        gradCheck("select", [U([3, 4])]) { $0[0].select(axis: 1, 2) }
        gradCheck("subscript int and range", [U([4, 3])]) { v in
            let a: Tensor = v[0][1]
            let b: Tensor = v[0][1..<3].sum(axis: 0)
            return a * b
        }
        gradCheck("subscript multi", [U([3, 5, 2])]) { $0[0][.at(1), .range(0, nil, step: 2), .newAxis] }
        gradCheck("expanded", [U([3, 1])]) { $0[0].expanded(to: [2, 3, 4]) }
        gradCheck("expanded -1", [U([3, 1])]) { $0[0].expanded(to: [-1, 5]) }
        gradCheck("squeezed", [U([3, 1, 4])]) { $0[0].squeezed(axis: 1) }
        gradCheck("squeezed all", [U([1, 3, 1])]) { $0[0].squeezed() }
        gradCheck("unsqueezed", [U([3, 4])]) { $0[0].unsqueezed(axis: 1) }
        gradCheck("unsqueezed last of transposed", [U([3, 4], -1, 1, .transposed)]) { $0[0].unsqueezed(axis: -1).exp() }
        gradCheck("flipped", [U([3, 4])]) { $0[0].flipped(axes: [0, 1]) }
        gradCheck("contiguous of transposed", [U([3, 4], -1, 1, .transposed)]) { $0[0].contiguous() }
        gradCheck("sumTo", [U([2, 3, 4])]) { $0[0].sumTo([3, 1]) }
        gradCheck("view chain into op", [U([4, 6])]) { v in
            v[0].transposed().slice(axis: 0, step: 2).flipped(axes: [1]).exp() * 2.0
        }
        gradCheck("expanded view into matmul", [U([3, 1]), U([4, 2])]) { matmul($0[0].expanded(to: [3, 4]), $0[1]) }
    }

    @Test func linalg() {
        gradCheck("matmul 2-D", [U([3, 4]), U([4, 2])]) { matmul($0[0], $0[1]) }
        gradCheck("matmul fold batch", [U([2, 3, 4]), U([4, 5])]) { matmul($0[0], $0[1]) }
        gradCheck("matmul batch broadcast", [U([2, 1, 3, 4]), U([3, 4, 2])]) { matmul($0[0], $0[1]) }
        gradCheck("matmul 2-D x 3-D", [U([3, 4]), U([2, 4, 2])]) { matmul($0[0], $0[1]) }
        gradCheck("matmul 1-D x 2-D", [U([4]), U([4, 3])]) { matmul($0[0], $0[1]) }
        gradCheck("matmul 2-D x 1-D", [U([3, 4]), U([4])]) { matmul($0[0], $0[1]) }
        gradCheck("matmul 1-D x 1-D", [U([4]), U([4])]) { matmul($0[0], $0[1]) }
        gradCheck("matmul 3-D x 1-D", [U([2, 3, 4]), U([4])]) { matmul($0[0], $0[1]) }
        gradCheck("matmul 1-D x 3-D", [U([4]), U([2, 4, 3])]) { matmul($0[0], $0[1]) }
        gradCheck("matmul transposed leaves", [U([3, 4], -1, 1, .transposed), U([4, 2], -1, 1, .transposed)]) { matmul($0[0], $0[1]) }
        gradCheck("matmul strided/flipped leaves", [U([3, 4], -1, 1, .strided), U([4, 2], -1, 1, .flipped)]) { matmul($0[0], $0[1]) }
        gradCheck("matmul batch transposed", [U([2, 3, 4], -1, 1, .transposed), U([2, 4, 2])]) { matmul($0[0], $0[1]) }
        gradCheck("matmul of views", [U([4, 3]), U([2, 4])]) { $0[0].T.matmul($0[1].T) }
        gradCheck("linear bias", [U([5, 4]), U([3, 4]), U([3])]) { linear($0[0], $0[1], $0[2]) }
        gradCheck("linear 3-D no bias", [U([2, 3, 4]), U([5, 4])]) { linear($0[0], $0[1]) }
        gradCheck("linear transposed", [U([5, 4], -1, 1, .transposed), U([3, 4], -1, 1, .transposed), U([3], -1, 1, .flipped)]) {
            linear($0[0], $0[1], $0[2])
        }
    }

    @Test func convolution() {
        gradCheck("conv2d basic", [U([1, 2, 5, 5]), U([3, 2, 3, 3]), U([3])]) { conv2d($0[0], $0[1], $0[2]) }
        gradCheck("conv2d stride 2 pad 1 N=2", [U([2, 2, 5, 5]), U([3, 2, 3, 3])]) { conv2d($0[0], $0[1], stride: 2, padding: 1) }
        gradCheck("conv2d dilation 2", [U([1, 2, 6, 6]), U([2, 2, 2, 2]), U([2])]) {
            conv2d($0[0], $0[1], $0[2], padding: 1, dilation: 2)
        }
        gradCheck("conv2d groups 2", [U([1, 4, 5, 5]), U([4, 2, 3, 3]), U([4])]) {
            conv2d($0[0], $0[1], $0[2], padding: 1, groups: 2)
        }
        gradCheck("conv2d depthwise", [U([1, 3, 4, 4]), U([3, 1, 3, 3])]) { conv2d($0[0], $0[1], padding: 1, groups: 3) }
        gradCheck("conv2d asymmetric", [U([1, 2, 6, 5]), U([3, 2, 3, 2]), U([3])]) {
            conv2d($0[0], $0[1], $0[2], stride: [2, 1], padding: [1, 0], dilation: [1, 2])
        }
        gradCheck("conv2d non-contiguous", [U([1, 2, 5, 4], -1, 1, .transposed), U([2, 2, 3, 3], -1, 1, .flipped)]) {
            conv2d($0[0], $0[1], padding: 1)
        }
        gradCheck("conv1d", [U([2, 2, 7]), U([3, 2, 3])]) { conv1d($0[0], $0[1]) }
        gradCheck("conv1d stride pad dilation groups bias", [U([2, 2, 9]), U([4, 1, 3]), U([4])]) {
            conv1d($0[0], $0[1], $0[2], stride: 2, padding: 1, dilation: 2, groups: 2)
        }
        gradCheck("convTranspose2d basic", [U([1, 2, 3, 3]), U([2, 3, 3, 3]), U([3])]) { convTranspose2d($0[0], $0[1], $0[2]) }
        gradCheck("convTranspose2d stride 2 pad 1 outpad 1", [U([2, 2, 3, 3]), U([2, 2, 3, 3])]) {
            convTranspose2d($0[0], $0[1], stride: 2, padding: 1, outputPadding: 1)
        }
        gradCheck("convTranspose2d dilation 2", [U([1, 2, 3, 3]), U([2, 2, 2, 2]), U([2])]) {
            convTranspose2d($0[0], $0[1], $0[2], padding: 1, dilation: 2)
        }
        gradCheck("convTranspose2d groups 2", [U([1, 4, 3, 3]), U([4, 1, 2, 2]), U([2])]) {
            convTranspose2d($0[0], $0[1], $0[2], stride: 2, groups: 2)
        }
        gradCheck("convTranspose2d asymmetric", [U([1, 2, 3, 2]), U([2, 2, 3, 2])]) {
            convTranspose2d($0[0], $0[1], stride: [2, 1], padding: [1, 0], outputPadding: [1, 0])
        }
        gradCheck("convTranspose2d non-contiguous", [U([1, 2, 3, 4], -1, 1, .strided), U([2, 2, 2, 3], -1, 1, .transposed)]) {
            convTranspose2d($0[0], $0[1], stride: 2)
        }
    }

    @Test func pooling() {
        gradCheck("maxPool2d k2", [U([1, 2, 4, 4])]) { maxPool2d($0[0], kernel: 2) }
        gradCheck("maxPool2d k3 s2 p1", [U([1, 2, 5, 5])]) { maxPool2d($0[0], kernel: 3, stride: 2, padding: 1) }
        gradCheck("maxPool2d dilation 2", [U([1, 1, 5, 5])]) { maxPool2d($0[0], kernel: 2, stride: 1, dilation: 2) }
        gradCheck("maxPool2d 3-D asymmetric", [U([2, 4, 5])]) { maxPool2d($0[0], kernel: [2, 3], stride: [1, 2], padding: 1) }
        gradCheck("maxPool2d overlapping transposed", [U([1, 2, 5, 4], -1, 1, .transposed)]) {
            maxPool2d($0[0], kernel: 3, stride: 1, padding: 1)
        }
        gradCheck("avgPool2d k2", [U([1, 2, 4, 4])]) { avgPool2d($0[0], kernel: 2) }
        gradCheck("avgPool2d k3 s2 p1", [U([1, 2, 5, 5])]) { avgPool2d($0[0], kernel: 3, stride: 2, padding: 1) }
        gradCheck("avgPool2d k3 s2 p1 exclude pad", [U([1, 2, 5, 5])]) {
            avgPool2d($0[0], kernel: 3, stride: 2, padding: 1, countIncludePad: false)
        }
        gradCheck("avgPool2d asymmetric flipped", [U([1, 2, 6, 5], -1, 1, .flipped)]) {
            avgPool2d($0[0], kernel: [2, 3], stride: [1, 2], padding: 1, countIncludePad: false)
        }
        gradCheck("adaptiveAvgPool2d divisible", [U([1, 2, 6, 6])]) { adaptiveAvgPool2d($0[0], outputSize: 3) }
        gradCheck("adaptiveAvgPool2d non-divisible", [U([1, 2, 5, 7])]) { adaptiveAvgPool2d($0[0], outputSize: [3, 4]) }
        gradCheck("adaptiveAvgPool2d 3-D", [U([2, 5, 5])]) { adaptiveAvgPool2d($0[0], outputSize: [2, 3]) }
    }

    /// Evaluation-mode batch norm (fixed statistics): input, weight and bias gradients.
    @Test func batchNormInferenceGradients() {
        let mean = Tensor([0.3, -0.2, 0.1, 0] as [Double]), variance = Tensor([1.5, 0.5, 2, 0.8] as [Double])
        gradCheck("batchNormInference affine", [U([3, 4, 2, 3], -1, 1, .transposed), U([4]), U([4])]) { v in
            batchNormInference(v[0], mean: mean, variance: variance, weight: v[1], bias: v[2], eps: 1e-5)
        }
        gradCheck("batchNormInference plain 2-D", [U([5, 4])]) { v in
            batchNormInference(v[0], mean: mean, variance: variance, weight: nil, bias: nil, eps: 1e-3)
        }
    }

    @Test func indexing() {
        gradCheck("gather axis 1 (repeats)", [U([2, 4])]) { $0[0].gather(axis: 1, index: I([0, 2, 2, 3, 1, 3], [2, 3])) }
        gradCheck("gather axis 0 3-D", [U([3, 2, 2])]) {
            $0[0].gather(axis: 0, index: I([0, 2, 1, 1, 2, 2, 0, 1, 1, 0, 0, 2, 2, 1, 0, 0], [4, 2, 2]))
        }
        gradCheck("gather transposed", [U([2, 4], -1, 1, .transposed)]) { $0[0].gather(axis: 1, index: I([3, 3, 0, 1, 0, 2], [2, 3])) }
        gradCheck("scatterAdd axis 0", [U([3, 4]), U([2, 4])]) {
            $0[0].scatterAdd(axis: 0, index: I([0, 2, 2, 1, 0, 1, 2, 1], [2, 4]), source: $0[1])
        }
        gradCheck("scatterAdd axis 1 strided", [U([2, 3], -1, 1, .strided), U([2, 4], -1, 1, .flipped)]) {
            $0[0].scatterAdd(axis: 1, index: I([0, 2, 2, 1, 1, 1, 0, 2], [2, 4]), source: $0[1])
        }
        gradCheck("indexSelect axis 1", [U([3, 4])]) { $0[0].indexSelect(axis: 1, index: I([3, 0, 3], [3])) }
        gradCheck("indexSelect axis 0 flipped", [U([4, 2, 3], -1, 1, .flipped)]) { $0[0].indexSelect(axis: 0, index: I([1, 3, 1, 0, 2], [5])) }
        gradCheck("embedding", [U([5, 3])]) { embedding(I([1, 3, 1, 0, 4, 3], [2, 3]), $0[0]) }
        // linear of an embedding's output with at least twice as many rows as entries runs through the vocabulary
        // (EmbeddingLinear); EmbeddingLinearTests checks that it does
        gradCheck("embedding then linear", [U([3, 2]), U([4, 2]), U([4])]) {
            linear(embedding(I([2, 0, 2, 1, 1, 2, 0, 2], [2, 4]), $0[0]), $0[1], $0[2])
        }
        gradCheck("embedding transposed then linear", [U([3, 2]), U([4, 2], -1, 1, .transposed)]) {
            linear(embedding(I([2, 0, 2, 1, 1, 2, 0, 2], [2, 4]), $0[0]).transposed(0, 1), $0[1])
        }
        gradCheck("concat axis 1", [U([2, 1]), U([3, 2], -1, 1, .transposed), U([2, 2])]) { v in
            concat([v[0], v[1].T, v[2]], axis: 1)
        }
        gradCheck("concat axis 0 same input twice", [U([2, 3])]) { concat([$0[0], $0[0].flipped(axes: [0])], axis: 0) }
        gradCheck("stack axis 1", [U([2, 3]), U([2, 3], -1, 1, .flipped)]) { stack([$0[0], $0[1]], axis: 1) }
        gradCheck("stack axis -1", [U([2, 3]), U([2, 3])]) { stack([$0[0], $0[1]], axis: -1) }
        gradCheckMulti("split sizes", [U([2, 5])]) { $0[0].split(sizes: [1, 3, 1], axis: 1) }
        gradCheckMulti("chunked", [U([5, 2])]) { $0[0].chunked(3, axis: 0) }
        gradCheck("split pieces recombined", [U([6])]) { v in
            let p = v[0].split(sizes: [2, 4])
            return p[0].sum() * p[1]
        }
        gradCheck("padded constant", [U([2, 3])]) { $0[0].padded([(1, 2), (0, 1)], mode: .constant(0.5)) }
        gradCheck("padded reflect 1-D", [U([3, 5])]) { $0[0].padded([(2, 1)], mode: .reflect) }
        gradCheck("padded reflect 2-D transposed", [U([2, 4, 5], -1, 1, .transposed)]) { $0[0].padded([(1, 1), (2, 2)], mode: .reflect) }
        gradCheck("rolled +2", [U([3, 4])]) { $0[0].rolled(2, axis: 1) }
        gradCheck("rolled -1", [U([3, 4])]) { $0[0].rolled(-1, axis: 0) }
        let mask = Tensor([true, false, false, true, false, true, true, false, false, false, true, false], shape: [3, 4])
        gradCheck("maskedFill", [U([3, 4])]) { $0[0].maskedFill(mask, -2) }
        let cond = Tensor([true, false, true], shape: [3, 1])
        gradCheck("where broadcast", [U([3, 4]), U([4])]) { Tensor.where(cond, $0[0], $0[1]) }
        gradCheck("where non-contiguous", [U([4, 3], -1, 1, .transposed), U([3, 4], -1, 1, .flipped)]) {
            Tensor.where(mask, $0[0].T, $0[1])
        }
        gradCheck("dropout (fixed stream)", [U([4, 5])]) { v in
            var r = RandomState(seed: 7)
            return v[0].dropout(0.5, rng: &r)
        }
        gradCheck("dropout inference is identity", [U([4])]) { v in
            var r = RandomState(seed: 7)
            return v[0].dropout(0.5, training: false, rng: &r)
        }
    }

    @Test func float32FastPathsMatchFloat64() {
        // Sizes are above the kernels' parallel grains (2^14..2^16 elements) and vector widths, with odd tails.
        let n = 40_001
        precisionCheck("f32 add row-broadcast", [U([263, 131]), U([131])]) { $0[0] + $0[1] }
        precisionCheck("f32 mul 1-D", [U([n]), U([n])]) { $0[0] * $0[1] }
        precisionCheck("f32 sub flipped", [U([211, 173], -1, 1, .flipped), U([211, 173])]) { $0[0] - $0[1] }
        precisionCheck("f32 div column-broadcast", [U([173, 211]), P([173, 1])]) { $0[0] / $0[1] }
        precisionCheck("f32 maximum strided", [U([250, 150], -1, 1, .strided), U([250, 150])]) { $0[0].maximum($0[1]) }
        precisionCheck("f32 exp", [U([n], -5, 5)]) { $0[0].exp() }
        precisionCheck("f32 tanh", [U([n], -4, 4)]) { $0[0].tanh() }
        precisionCheck("f32 sigmoid", [U([n], -6, 6)]) { $0[0].sigmoid() }
        precisionCheck("f32 relu", [A([n])]) { $0[0].relu() }
        precisionCheck("f32 sqrt", [P([n])]) { $0[0].sqrt() }
        precisionCheck("f32 abs square neg", [A([n])]) { (-$0[0].abs()).square() }
        precisionCheck("f32 gelu silu log", [P([n])]) { $0[0].gelu().silu().log() }
        precisionCheck("f32 sum all", [U([70_001])]) { $0[0].sum() }
        precisionCheck("f32 sum rows", [U([100, 333])]) { $0[0].sum(axis: 1) }
        precisionCheck("f32 sum columns", [U([333, 100])]) { $0[0].sum(axis: 0) }
        precisionCheck("f32 max rows", [U([100, 333])]) { $0[0].max(axis: 1) }
        precisionCheck("f32 softmax rows", [U([40, 1001], -3, 3)]) { $0[0].softmax(axis: -1) }
        precisionCheck("f32 logSoftmax rows", [U([40, 1001], -3, 3)]) { $0[0].logSoftmax(axis: -1) }
        precisionCheck("f32 softmax columns", [U([300, 61], -3, 3)]) { $0[0].softmax(axis: 0) }
        precisionCheck("f32 matmul", [U([64, 48]), U([48, 80])]) { matmul($0[0], $0[1]) }
        precisionCheck("f32 matmul batch transposed", [U([3, 40, 24], -1, 1, .transposed), U([3, 24, 30])]) { matmul($0[0], $0[1]) }
        precisionCheck("f32 linear", [U([96, 64]), U([48, 64]), U([48])]) { linear($0[0], $0[1], $0[2]) }
        precisionCheck("f32 conv2d", [U([2, 4, 20, 20]), U([8, 4, 3, 3]), U([8])]) { conv2d($0[0], $0[1], $0[2], padding: 1) }
        precisionCheck("f32 conv2d stride groups", [U([2, 4, 21, 19]), U([6, 2, 3, 3])]) {
            conv2d($0[0], $0[1], stride: 2, padding: 1, groups: 2)
        }
        precisionCheck("f32 convTranspose2d", [U([2, 4, 10, 10]), U([4, 3, 3, 3])]) {
            convTranspose2d($0[0], $0[1], stride: 2, padding: 1, outputPadding: 1)
        }
        precisionCheck("f32 maxPool2d 2x2", [U([2, 8, 40, 40])]) { maxPool2d($0[0], kernel: 2) }
        precisionCheck("f32 maxPool2d 3x3 s2 p1", [U([2, 8, 21, 21])]) { maxPool2d($0[0], kernel: 3, stride: 2, padding: 1) }
        precisionCheck("f32 avgPool2d", [U([2, 8, 40, 40])]) { avgPool2d($0[0], kernel: 3, stride: 2, padding: 1) }
        precisionCheck("f32 conv relu pool", [U([2, 3, 16, 16]), U([8, 3, 3, 3])]) { v in
            maxPool2d(conv2d(v[0], v[1], padding: 1).relu(), kernel: 2)
        }
    }

    /// The fused recurrences (`lstm_sequence`, `gru_sequence`): outputs and both final states against central
    /// differences with respect to the input projection, W_hh, h0, c0 and b_hh; forward and reverse, with lengths
    /// (a sequence of length 0 and one cut short, so the masked rows and the reverse start are covered), without bias,
    /// and with non-contiguous leaves.
    @Test func recurrentSequences() {
        let T = 4, B = 3, H = 3
        for reverse in [false, true] {
            for lengths in [nil, [4, 2, 0]] as [[Int]?] {
                let tag = "\(reverse ? "reverse" : "forward") lengths \(lengths.map { "\($0)" } ?? "full")"
                gradCheckMulti("lstm_sequence \(tag)", [U([T, B, 4 * H], -2, 2), U([4 * H, H]), U([B, H]), U([B, H]), U([4 * H])]) { v in
                    let r = lstmSequence(v[0], weightHH: v[1], biasHH: v[4], h0: v[2], c0: v[3], reverse: reverse, lengths: lengths)
                    return [r.output, r.h, r.c]
                }
                gradCheckMulti("gru_sequence \(tag)", [U([T, B, 3 * H], -2, 2), U([3 * H, H]), U([B, H]), U([3 * H])]) { v in
                    let r = gruSequence(v[0], weightHH: v[1], biasHH: v[3], h0: v[2], reverse: reverse, lengths: lengths)
                    return [r.output, r.h]
                }
            }
        }
        gradCheckMulti("lstm_sequence no bias, strided leaves", [U([T, B, 4 * H], -2, 2, .strided), U([4 * H, H], -1, 1, .transposed),
                                                                  U([B, H], -1, 1, .flipped), U([B, H], -1, 1, .strided)]) { v in
            let r = lstmSequence(v[0], weightHH: v[1], biasHH: nil, h0: v[2], c0: v[3])
            return [r.output, r.h, r.c]
        }
        gradCheckMulti("gru_sequence no bias, strided leaves", [U([T, B, 3 * H], -2, 2, .flipped), U([3 * H, H], -1, 1, .transposed),
                                                                 U([B, H], -1, 1, .strided)]) { v in
            let r = gruSequence(v[0], weightHH: v[1], biasHH: nil, h0: v[2], reverse: true)
            return [r.output, r.h]
        }
        // Only the output used (no gradient arrives for the final states), and a one-step sequence (the cells' path).
        gradCheck("lstm_sequence output only", [U([T, B, 4 * H], -2, 2), U([4 * H, H]), U([B, H]), U([B, H])]) { v in
            lstmSequence(v[0], weightHH: v[1], biasHH: nil, h0: v[2], c0: v[3], lengths: [1, 4, 3]).output
        }
        gradCheckMulti("lstm_sequence one step", [U([1, B, 4 * H], -2, 2), U([4 * H, H]), U([B, H]), U([B, H]), U([4 * H])]) { v in
            let r = lstmSequence(v[0], weightHH: v[1], biasHH: v[4], h0: v[2], c0: v[3])
            return [r.h, r.c]
        }
    }

    /// The float32 C cell kernels (vector bodies and row tails: H = 20 is 16 + 4 and 2 x 8 + 4 lanes; rows split
    /// across threads) against the float64 loops the finite-difference checks above verify.
    @Test func recurrentSequencesFloat32() {
        let T = 6, B = 5, H = 20
        precisionCheck("f32 lstm_sequence", [U([T, B, 4 * H], -2, 2), U([4 * H, H], -0.3, 0.3), U([B, H]), U([B, H]), U([4 * H])]) { v in
            let r = lstmSequence(v[0], weightHH: v[1], biasHH: v[4], h0: v[2], c0: v[3], reverse: true, lengths: [6, 1, 3, 6, 2])
            return concat([r.output, r.h.unsqueezed(axis: 0), r.c.unsqueezed(axis: 0)], axis: 0)
        }
        precisionCheck("f32 gru_sequence", [U([T, B, 3 * H], -2, 2), U([3 * H, H], -0.3, 0.3), U([B, H]), U([3 * H])]) { v in
            let r = gruSequence(v[0], weightHH: v[1], biasHH: v[3], h0: v[2], lengths: [6, 1, 3, 6, 2])
            return concat([r.output, r.h.unsqueezed(axis: 0)], axis: 0)
        }
    }

    @Test func composites() {
        gradCheck("layer norm", [U([2, 5]), U([5]), U([5])]) { v in
            let mu: Tensor = v[0].mean(axes: [-1], keepDims: true)
            let va: Tensor = v[0].variance(axes: [-1], correction: 0, keepDims: true)
            let xhat: Tensor = (v[0] - mu) / (va + 1e-5).sqrt()
            return xhat * v[1] + v[2]
        }
        gradCheck("attention", [U([2, 3, 4]), U([2, 3, 4]), U([2, 3, 4])]) { v in
            let s: Tensor = matmul(v[0], v[1].transposed(-2, -1)) / 2.0
            return matmul(s.softmax(axis: -1), v[2])
        }
        gradCheck("cross entropy", [U([4, 5], -2, 2)]) { v in
            let picked: Tensor = v[0].logSoftmax(axis: 1).gather(axis: 1, index: I([1, 0, 4, 2], [4, 1]))
            return -picked.mean()
        }
        gradCheck("mlp", [U([3, 4]), U([5, 4]), U([5]), U([2, 5]), U([2])]) { v in
            let h: Tensor = linear(v[0], v[1], v[2]).tanh()
            return linear(h, v[3], v[4])
        }
        gradCheck("conv relu pool", [U([1, 2, 6, 6]), U([3, 2, 3, 3])]) { v in
            maxPool2d(conv2d(v[0], v[1], padding: 1).sigmoid(), kernel: 2)
        }
    }
}
