import Foundation
import Testing
@testable import EmberCore

// Forward values and gradients of EmberCore ops against PyTorch 2.13 (CPU; float32, and float64 for the special group).
//
// The fixture `Fixtures/core_golden.json` is written by `scripts/golden/make_core_golden.py` (see its header for the
// format, the case list and how to regenerate). Each case names an op key, its parameters and its inputs; `pre` view
// transforms (transpose, flip, strided slice, expand, permute) are applied to the stored leaves before the op exactly
// as the script does, so ops see non-contiguous inputs. The loss is sum_k sum(outputs[k] * upstream[k]) and the
// gradients are those of the loss with respect to the stored leaves.
//
// Tolerance: |ember - torch| <= 1e-5 + 1e-4 * |torch|, elementwise, for forward values and gradients alike.
// Why this is tight enough and loose enough: all inputs are O(1) and every case sums at most ~100 products, so two
// correct float32 implementations that differ only in summation order (OpenBLAS vs. PyTorch's GEMM/conv kernels,
// pairwise vs. sequential reductions) or in the last ulps of a transcendental (Swift/glibc expf, erff vs. SLEEF) agree
// to a few 1e-7 absolute; 1e-5 absolute leaves >10x headroom for cancellation in sums near zero, and 1e-4 relative
// (~800 ulps) covers chained transcendentals in composites (softmax -> log -> gather). Any real bug (a wrong
// index, a missing term, a wrong constant) is off by far more. Measured when the fixture was made: the worst case
// used 4.5% of this tolerance (|diff| <= 0.045 * (1e-5 + 1e-4 |b|)), so there is >20x headroom. A case may override
// the tolerance with `tol` in the fixture; the script must give the reason in the case's `note` (none does today).

// Special values (the "special" group: NaN, +-inf, -0.0, subnormal and huge inputs, every case in float32 and
// float64): the fixture spells NaN, +-inf and -0.0 as the strings "nan", "inf", "-inf", "-0". NaN must come out NaN
// (any payload), an infinity the same infinity, a finite value finite; and where PyTorch's forward output is a zero
// and Ember's is a zero too, the signs must agree (`goldenValueMatches`). The tolerance for finite values is the same.

// MARK: fixture model

/// A JSON value (params and `pre` entries are heterogeneous).
enum GoldenJSON: Decodable, Sendable {
    case null, bool(Bool), number(Double), string(String), array([GoldenJSON]), object([String: GoldenJSON])

    init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let d = try? c.decode(Double.self) { self = .number(d) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let a = try? c.decode([GoldenJSON].self) { self = .array(a) }
        else { self = .object(try c.decode([String: GoldenJSON].self)) }
    }

    var int: Int? { if case .number(let d) = self { return Int(d) } else { return nil } }
    var double: Double? { if case .number(let d) = self { return d } else { return nil } }
    var bool: Bool? { if case .bool(let b) = self { return b } else { return nil } }
    var string: String? { if case .string(let s) = self { return s } else { return nil } }
    var array: [GoldenJSON]? { if case .array(let a) = self { return a } else { return nil } }
    var ints: [Int]? { array?.compactMap(\.int) }
}

/// One fixture number: a JSON number, or one of the strings "nan", "inf", "-inf", "-0" for the values a JSON number
/// cannot carry exactly (null, from older fixtures, reads as NaN), or "any" where PyTorch's own answer depends on
/// where the element sits in its kernels (not compared; the script finds and lists these).
struct GoldenValue: Decodable, Sendable {
    let value: Double
    var isAny = false

    init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let d = try? c.decode(Double.self) { value = d; return }
        if c.decodeNil() { value = .nan; return }
        let s = try c.decode(String.self)
        switch s {
        case "nan": value = .nan
        case "inf": value = .infinity
        case "-inf": value = -.infinity
        case "-0": value = -0.0
        case "any": value = .nan; isAny = true
        default:
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "golden: unknown special value '\(s)'")
        }
    }
}

struct GoldenTensor: Decodable, Sendable {
    let shape: [Int]
    let dtype: String
    /// Flat row-major values (special floats spelled as in `GoldenValue`).
    let data: [GoldenValue]
    /// For sampled tensors (the large fixture): the flat indices `data` holds; nil when `data` is the whole tensor.
    let indices: [Int]?

    var values: [Double] { data.map(\.value) }
}

struct GoldenInput: Decodable, Sendable {
    let shape: [Int]
    let dtype: String
    let data: [GoldenValue]
    let grad: Bool
    let pre: [[GoldenJSON]]
}

struct GoldenTolerance: Decodable, Sendable {
    let atol: Double
    let rtol: Double
}

struct GoldenCase: Decodable, Sendable, CustomTestStringConvertible {
    let name: String
    let op: String
    let params: [String: GoldenJSON]
    let inputs: [GoldenInput]
    let outputs: [GoldenTensor]
    let upstream: [GoldenTensor]?
    let grads: [GoldenTensor?]?
    let tol: GoldenTolerance?
    let note: String?
    /// "special" for the NaN / inf / signed-zero cases; nil for the rest.
    let group: String?

    var testDescription: String { name }
}

struct GoldenFile: Decodable, Sendable {
    let torch: String
    let seed: Int
    let cases: [GoldenCase]
}

enum GoldenFixture {
    static let file: GoldenFile = {
        guard let url = Bundle.module.url(forResource: "core_golden", withExtension: "json", subdirectory: "Fixtures") else {
            fatalError("GoldenTests: Fixtures/core_golden.json is missing from the test bundle; run scripts/golden/make_core_golden.py")
        }
        do {
            return try JSONDecoder().decode(GoldenFile.self, from: Data(contentsOf: url))
        } catch {
            fatalError("GoldenTests: cannot decode core_golden.json: \(error)")
        }
    }()
}

// MARK: params

/// Typed access to a case's params; a missing or mistyped key is a fixture error.
struct GoldenParams {
    let raw: [String: GoldenJSON]
    let caseName: String

    private func value(_ k: String) -> GoldenJSON {
        guard let v = raw[k] else { fatalError("golden case \(caseName): missing param '\(k)'") }
        return v
    }
    func int(_ k: String) -> Int { value(k).int! }
    func optInt(_ k: String) -> Int? { raw[k]?.int }
    func double(_ k: String) -> Double { value(k).double! }
    func optDouble(_ k: String) -> Double? { raw[k]?.double }
    func bool(_ k: String) -> Bool { value(k).bool! }
    func string(_ k: String) -> String { value(k).string! }
    func ints(_ k: String) -> [Int] { value(k).ints! }
    /// nil for JSON null (e.g. "all axes").
    func optInts(_ k: String) -> [Int]? { raw[k]?.ints }
    func pair(_ k: String) -> Pair { let v = ints(k); return Pair(v[0], v[1]) }
    func optPair(_ k: String) -> Pair? { optInts(k).map { Pair($0[0], $0[1]) } }
}

// MARK: running a case

/// The stored leaf as an Ember tensor (float32 leaves require a gradient when the case says so).
func goldenLeaf(_ input: GoldenInput) -> Tensor {
    let values = input.data.map(\.value)
    switch input.dtype {
    case "float32":
        let t = Tensor(values.map { Float($0) }, shape: input.shape)
        t.requiresGrad = input.grad
        return t
    case "float64":
        let t = Tensor(values, shape: input.shape)
        t.requiresGrad = input.grad
        return t
    case "int64": return Tensor(values.map { Int64($0) }, shape: input.shape)
    case "bool": return Tensor(values.map { $0 != 0 }, shape: input.shape)
    default: fatalError("golden: unknown dtype \(input.dtype)")
    }
}

/// Applies the fixture's `pre` view transforms, mirroring `apply_pre` in the script.
func goldenApplyPre(_ t: Tensor, _ pre: [[GoldenJSON]]) -> Tensor {
    var r = t
    for p in pre {
        switch p[0].string! {
        case "transpose": r = r.transposed(-2, -1)
        case "flip": r = r.flipped(axes: p[1].ints!)
        case "slice": r = r.slice(axis: p[1].int!, start: p[2].int!, end: p[3].int, step: p[4].int!)
        case "expand": r = r.expanded(to: p[1].ints!)
        case "permute": r = r.permuted(p[1].ints!)
        default: fatalError("golden: unknown pre transform \(p)")
        }
    }
    return r
}

/// The Ember call for each op key of the fixture (nil for an unknown key).
func goldenEmberOp(_ op: String, _ x: [Tensor], _ p: GoldenParams) -> [Tensor]? {
    func one(_ t: Tensor) -> [Tensor] { [t] }
    let bias: Tensor? = x.count > 2 ? x[2] : nil
    switch op {
    // binary
    case "add": return one(x[0] + x[1])
    case "sub": return one(x[0] - x[1])
    case "mul": return one(x[0] * x[1])
    case "div": return one(x[0] / x[1])
    case "pow": return one(x[0].pow(x[1]))
    case "pow_scalar": return one(x[0].pow(p.double("p")))
    case "maximum": return one(x[0].maximum(x[1]))
    case "minimum": return one(x[0].minimum(x[1]))
    case "add_scalar": return one(x[0] + p.double("s"))
    case "rsub_scalar": return one(p.double("s") - x[0])
    case "mul_scalar": return one(x[0] * p.double("s"))
    case "div_scalar": return one(x[0] / p.double("s"))
    case "rdiv_scalar": return one(p.double("s") / x[0])
    case "neg": return one(-x[0])
    case "eq": return one(x[0] .== x[1])
    case "ne": return one(x[0] .!= x[1])
    case "lt": return one(x[0] .< x[1])
    case "le": return one(x[0] .<= x[1])
    case "gt": return one(x[0] .> x[1])
    case "ge": return one(x[0] .>= x[1])
    case "x_times_x_plus_x":
        let sq: Tensor = x[0] * x[0]
        return one(sq + x[0])
    // unary
    case "exp": return one(x[0].exp())
    case "log": return one(x[0].log())
    case "log1p": return one(x[0].log1p())
    case "expm1": return one(x[0].expm1())
    case "sqrt": return one(x[0].sqrt())
    case "rsqrt": return one(x[0].rsqrt())
    case "abs": return one(x[0].abs())
    case "sign": return one(x[0].sign())
    case "sin": return one(x[0].sin())
    case "cos": return one(x[0].cos())
    case "tanh": return one(x[0].tanh())
    case "sigmoid": return one(x[0].sigmoid())
    case "square": return one(x[0].square())
    case "reciprocal": return one(x[0].reciprocal())
    case "erf": return one(x[0].erf())
    case "affine": return one(x[0].affine(p.double("a"), p.double("b")))
    // activations
    case "relu": return one(x[0].relu())
    case "leaky_relu": return one(x[0].leakyRelu(p.double("slope")))
    case "elu": return one(x[0].elu(p.double("alpha")))
    case "gelu": return one(x[0].gelu(approximate: p.bool("approximate")))
    case "silu": return one(x[0].silu())
    case "softplus": return one(x[0].softplus(beta: p.double("beta"), threshold: p.double("threshold")))
    case "clamp": return one(x[0].clamp(min: p.optDouble("min") ?? -.infinity, max: p.optDouble("max") ?? .infinity))
    // reductions
    case "sum": return one(x[0].sum(axes: p.optInts("axes"), keepDims: p.bool("keepDims")))
    case "mean": return one(x[0].mean(axes: p.optInts("axes"), keepDims: p.bool("keepDims")))
    case "max": return one(x[0].max(axes: p.optInts("axes"), keepDims: p.bool("keepDims")))
    case "min": return one(x[0].min(axes: p.optInts("axes"), keepDims: p.bool("keepDims")))
    case "prod": return one(x[0].prod(axes: p.optInts("axes"), keepDims: p.bool("keepDims")))
    case "var":
        return one(x[0].variance(axes: p.optInts("axes"), correction: p.int("correction"), keepDims: p.bool("keepDims")))
    case "std":
        return one(x[0].std(axes: p.optInts("axes"), correction: p.int("correction"), keepDims: p.bool("keepDims")))
    case "logsumexp": return one(x[0].logsumexp(axes: p.optInts("axes"), keepDims: p.bool("keepDims")))
    case "softmax": return one(x[0].softmax(axis: p.int("axis")))
    case "log_softmax": return one(x[0].logSoftmax(axis: p.int("axis")))
    case "cumsum": return one(x[0].cumsum(axis: p.int("axis")))
    case "argmax": return one(x[0].argmax(axis: p.optInt("axis"), keepDims: p.bool("keepDims")))
    case "argmin": return one(x[0].argmin(axis: p.optInt("axis"), keepDims: p.bool("keepDims")))
    // views
    case "reshape": return one(x[0].reshaped(p.ints("shape")))
    case "flatten": return one(x[0].flattened(from: p.int("start"), to: p.int("end")))
    case "permute": return one(x[0].permuted(p.ints("dims")))
    case "transpose": return one(x[0].transposed(p.int("a"), p.int("b")))
    case "slice":
        return one(x[0].slice(axis: p.int("axis"), start: p.int("start"), end: p.optInt("end"), step: p.int("step")))
    case "select": return one(x[0].select(axis: p.int("axis"), p.int("index")))
    case "expand": return one(x[0].expanded(to: p.ints("shape")))
    case "squeeze": return one(x[0].squeezed(axis: p.int("axis")))
    case "unsqueeze": return one(x[0].unsqueezed(axis: p.int("axis")))
    case "flip": return one(x[0].flipped(axes: p.ints("axes")))
    case "contiguous": return one(x[0].contiguous())
    case "index_multi": return one(x[0][.at(1), .range(0, nil, step: 2), .newAxis])
    // linalg
    case "matmul": return one(matmul(x[0], x[1]))
    case "linear": return one(linear(x[0], x[1], bias))
    // convolution and pooling
    case "conv2d":
        return one(conv2d(x[0], x[1], bias, stride: p.pair("stride"), padding: p.pair("padding"),
                          dilation: p.pair("dilation"), groups: p.int("groups")))
    case "conv1d":
        return one(conv1d(x[0], x[1], bias, stride: p.int("stride"), padding: p.int("padding"),
                          dilation: p.int("dilation"), groups: p.int("groups")))
    case "conv_transpose2d":
        return one(convTranspose2d(x[0], x[1], bias, stride: p.pair("stride"), padding: p.pair("padding"),
                                   outputPadding: p.pair("outputPadding"), dilation: p.pair("dilation"),
                                   groups: p.int("groups")))
    case "max_pool2d":
        return one(maxPool2d(x[0], kernel: p.pair("kernel"), stride: p.optPair("stride"), padding: p.pair("padding"),
                             dilation: p.pair("dilation")))
    case "avg_pool2d":
        return one(avgPool2d(x[0], kernel: p.pair("kernel"), stride: p.optPair("stride"), padding: p.pair("padding"),
                             countIncludePad: p.bool("countIncludePad")))
    case "adaptive_avg_pool2d": return one(adaptiveAvgPool2d(x[0], outputSize: p.pair("outputSize")))
    // indexing, joining, padding, masks
    case "gather": return one(x[0].gather(axis: p.int("axis"), index: x[1]))
    case "scatter_add": return one(x[0].scatterAdd(axis: p.int("axis"), index: x[1], source: x[2]))
    case "index_select": return one(x[0].indexSelect(axis: p.int("axis"), index: x[1]))
    case "embedding": return one(embedding(x[0], x[1]))
    case "concat": return one(concat(x, axis: p.int("axis")))
    case "stack": return one(stack(x, axis: p.int("axis")))
    case "split": return x[0].split(sizes: p.ints("sizes"), axis: p.int("axis"))
    case "chunk": return x[0].chunked(p.int("chunks"), axis: p.int("axis"))
    case "pad":
        let widths: [(Int, Int)] = p.raw["widths"]!.array!.map { ($0.ints![0], $0.ints![1]) }
        let mode: Tensor.PadMode = p.string("mode") == "reflect" ? .reflect : .constant(p.double("value"))
        return one(x[0].padded(widths, mode: mode))
    case "roll": return one(x[0].rolled(p.int("shift"), axis: p.int("axis")))
    case "masked_fill": return one(x[0].maskedFill(x[1], p.double("value")))
    case "where": return one(Tensor.where(x[0], x[1], x[2]))
    // composites (mirroring the script's formulas op for op)
    case "layernorm":
        let mu: Tensor = x[0].mean(axes: [-1], keepDims: true)
        let v: Tensor = x[0].variance(axes: [-1], correction: 0, keepDims: true)
        let xhat: Tensor = (x[0] - mu) / (v + p.double("eps")).sqrt()
        return one(xhat * x[1] + x[2])
    case "attention":
        let scores: Tensor = matmul(x[0], x[1].transposed(-2, -1)) / 2.0
        return one(matmul(scores.softmax(axis: -1), x[2]))
    case "cross_entropy":
        let picked: Tensor = x[0].logSoftmax(axis: 1).gather(axis: 1, index: x[1])
        return one(-picked.mean())
    case "mlp":
        let h: Tensor = linear(x[0], x[1], x[2]).relu()
        return one(linear(h, x[3], x[4]))
    case "masked_softmax": return one(x[0].maskedFill(x[1], -1e9).softmax(axis: -1))
    default: return nil
    }
}

/// Whether `a` (Ember) matches `b` (PyTorch) under the fixture's rules:
/// - NaN must be NaN (any payload), +-inf must be the same infinity, and a finite value must not be NaN or inf;
/// - finite values agree to |a - b| <= atol + rtol |b|;
/// - with `signedZeros` (forward outputs): where PyTorch gives a zero and Ember gives a zero too, their signs agree.
///   (Gradients are not held to the sign of their zeros: PyTorch's there follow from its backward formulas' order of
///   operations, not from any documented semantics.)
func goldenValueMatches(_ a: Double, _ b: Double, atol: Double, rtol: Double, signedZeros: Bool) -> Bool {
    if b.isNaN { return a.isNaN }
    if b.isInfinite { return a == b }
    if !a.isFinite { return false }
    if signedZeros && a == 0 && b == 0 && a.sign != b.sign { return false }
    return Swift.abs(a - b) <= atol + rtol * Swift.abs(b)
}

/// Compares an Ember tensor with a golden one (whole, or at the sampled `indices`); returns a description of the
/// mismatches (empty when they agree).
func goldenCompare(_ what: String, _ got: Tensor, _ want: GoldenTensor, atol: Double, rtol: Double,
                   signedZeros: Bool = false) -> [String] {
    guard got.shape == want.shape else { return ["\(what): shape \(got.shape), torch \(want.shape)"] }
    let wantValues = want.values
    let index: (Int) -> Int = { k in want.indices?[k] ?? k }
    guard want.indices != nil || wantValues.count == got.count else {
        return ["\(what): \(wantValues.count) golden values for \(got.count) elements"]
    }
    if want.dtype == "int64" || want.dtype == "bool" {
        guard got.dtype == (want.dtype == "int64" ? .int64 : .bool) else { return ["\(what): dtype \(got.dtype), torch \(want.dtype)"] }
        let g = got.toArray(Int64.self)
        let bad = wantValues.indices.filter { Double(g[index($0)]) != wantValues[$0] }
        return bad.isEmpty ? [] : ["\(what): \(bad.count) values differ, first at \(index(bad[0])): \(g[index(bad[0])]) vs torch \(wantValues[bad[0]])"]
    }
    let expected: DType = want.dtype == "float64" ? .float64 : .float32
    guard got.dtype == expected else { return ["\(what): dtype \(got.dtype), expected \(expected)"] }
    let g = got.toArray(Double.self)
    var msgs: [String] = []
    var worst = 0.0, bad = 0
    for k in wantValues.indices where !want.data[k].isAny {
        let i = index(k), a = g[i], b = wantValues[k]
        if !goldenValueMatches(a, b, atol: atol, rtol: rtol, signedZeros: signedZeros) {
            bad += 1
            let err = Swift.abs(a - b)
            worst = Swift.max(worst, err.isNaN ? .infinity : err)
            if msgs.count < 4 { msgs.append("\(what)[\(i)]: ember \(a), torch \(b), |diff| \(err)") }
        }
    }
    if !msgs.isEmpty { msgs.append("\(what): \(bad) mismatches, worst |diff| \(worst) (atol \(atol), rtol \(rtol))") }
    return msgs
}

/// Runs one golden case and returns every mismatch.
func runGoldenCase(_ c: GoldenCase) -> [String] {
    let atol = c.tol?.atol ?? 1e-5, rtol = c.tol?.rtol ?? 1e-4
    let leaves = c.inputs.map(goldenLeaf)
    let xs = zip(leaves, c.inputs).map { goldenApplyPre($0, $1.pre) }
    guard let outs = goldenEmberOp(c.op, xs, GoldenParams(raw: c.params, caseName: c.name)) else {
        return ["unknown op key '\(c.op)': add it to goldenEmberOp"]
    }
    guard outs.count == c.outputs.count else { return ["\(outs.count) outputs, torch has \(c.outputs.count)"] }
    var problems: [String] = []
    for (k, (o, w)) in zip(outs, c.outputs).enumerated() {
        problems += goldenCompare("output \(k)", o, w, atol: atol, rtol: rtol, signedZeros: true)
    }
    let wantsGrad = c.inputs.contains { $0.grad } && c.outputs.contains { $0.dtype == "float32" }
    guard let ups = c.upstream, let grads = c.grads else {
        return problems + (wantsGrad ? ["fixture has inputs that need gradients but no upstream/grads"] : [])
    }
    let floatOuts = outs.filter { $0.dtype.isFloatingPoint }
    guard floatOuts.count == ups.count else { return problems + ["\(floatOuts.count) float outputs, \(ups.count) upstreams"] }
    let upstream = ups.map { u in
        u.dtype == "float64" ? Tensor(u.values, shape: u.shape) : Tensor(u.values.map { Float($0) }, shape: u.shape)
    }
    return problems + goldenGradientProblems(floatOuts, upstream, leaves, wrt: leaves.indices.filter { c.inputs[$0].grad }) { i, g in
        guard let want = grads[i] else { return ["input \(i): fixture has no gradient"] }
        return goldenCompare("grad \(i)", g, want, atol: atol, rtol: rtol)
    }
}

/// The gradients of loss = sum_k sum(outs[k] * upstream[k]) (the goldens' loss) with respect to the leaves at `wrt`,
/// each checked by `compare(leaf index, gradient)`; returns the problems found.
func goldenGradientProblems(_ outs: [Tensor], _ upstream: [Tensor], _ leaves: [Tensor], wrt: [Int],
                            _ compare: (Int, Tensor) -> [String]) -> [String] {
    var loss: Tensor? = nil
    for (o, u) in zip(outs, upstream) {
        let term: Tensor = (o * u).sum()
        loss = loss.map { $0 + term } ?? term
    }
    guard let loss, loss.requiresGrad else { return ["loss does not require a gradient"] }
    let gs = gradients(of: loss, wrt: wrt.map { leaves[$0] })
    return zip(wrt, gs).flatMap { compare($0, $1) }
}

// MARK: tests

@Suite struct GoldenTests {
    @Test func fixtureLoads() {
        let f = GoldenFixture.file
        #expect(f.torch.hasPrefix("2.13"))
        #expect(f.cases.count >= 150)
        #expect(Set(f.cases.map(\.name)).count == f.cases.count, "case names must be unique")
    }

    @Test func specialGroupCoversBothDtypes() {
        let special = GoldenFixture.file.cases.filter { $0.group == "special" }
        #expect(special.count >= 140)
        #expect(special.contains { $0.inputs.first?.dtype == "float64" })
        #expect(special.contains { $0.inputs.first?.dtype == "float32" })
    }

    /// The comparison itself: NaN only matches NaN, infinities match exactly, forward zeros keep PyTorch's sign.
    @Test func comparisonRules() {
        let m = { (a: Double, b: Double, z: Bool) in goldenValueMatches(a, b, atol: 1e-5, rtol: 1e-4, signedZeros: z) }
        #expect(m(.nan, .nan, true))
        #expect(!m(1, .nan, true) && !m(.nan, 1, true) && !m(.infinity, .nan, true))
        #expect(m(.infinity, .infinity, true) && !m(-.infinity, .infinity, true) && !m(3e38, .infinity, true))
        #expect(!m(.infinity, 3e38, true))
        #expect(!m(0.0, -0.0, true) && !m(-0.0, 0.0, true) && m(-0.0, -0.0, true))
        #expect(m(0.0, -0.0, false) && m(1e-9, -0.0, true))
        #expect(m(1.00005, 1, true) && !m(1.0002, 1, true))
    }

    @Test(arguments: GoldenFixture.file.cases)
    func matchesPyTorch(_ c: GoldenCase) {
        for p in runGoldenCase(c) { Issue.record("\(c.name) (\(c.op)): \(p)") }
    }
}

/// The same PyTorch goldens (forward values and gradients of every op) on the plain reference backend: it is the
/// oracle for the fast CPU backend, so it must itself match PyTorch. (scripts/test also runs the gradient checks
/// with EMBER_BACKEND=reference.)
@Suite struct ReferenceBackendGoldenTests {
    @Test(arguments: GoldenFixture.file.cases)
    func matchesPyTorch(_ c: GoldenCase) {
        let problems = DefaultBackend.with(ReferenceBackend.shared) { runGoldenCase(c) }
        for p in problems { Issue.record("reference backend: \(c.name) (\(c.op)): \(p)") }
    }

    @Test(arguments: GoldenLargeFixture.file.cases.filter { $0.name.hasPrefix("conv") || $0.name.hasPrefix("softmax") || $0.name.hasPrefix("sum") })
    func largeCasesMatchPyTorch(_ c: GoldenLargeCase) {
        let problems = DefaultBackend.with(ReferenceBackend.shared) { runGoldenLargeCase(c) }
        for p in problems { Issue.record("reference backend: \(c.name) (\(c.op)): \(p)") }
    }

    @Test func tensorsLiveOnTheBackendTheyWereMadeOn() {
        DefaultBackend.with(ReferenceBackend.shared) {
            var r = RandomState(seed: 4)
            let x = Tensor.normal([3, 4], rng: &r), w = Tensor.ones([5, 4])
            let y = linear(x, w).relu().sum(axis: 1)
            #expect(x.backend === ReferenceBackend.shared && y.backend === ReferenceBackend.shared)
        }
        #expect(Tensor.zeros([2]).backend === DefaultBackend.process)
    }

    @Test func randomStreamsAreTheSameOnEveryBackend() {
        for dtype in [DType.float32, .float64] {
            var a = RandomState(seed: 9), b = RandomState(seed: 9)
            let cpu = Tensor.normal([1000], dtype: dtype, rng: &a).toArray(Double.self)
            let ref = DefaultBackend.with(ReferenceBackend.shared) { Tensor.normal([1000], dtype: dtype, rng: &b).toArray(Double.self) }
            #expect(cpu == ref)
        }
    }
}
