// Elementwise functions of one tensor: one primitive each, with its derivative beside its kernel.

extension OpRegistry {
    static let unaryOps: [any PrimitiveOp.Type] = [
        Neg.self, Exp.self, Log.self, Log1p.self, Expm1.self, Sqrt.self, Rsqrt.self, Abs.self, Sign.self, Sin.self,
        Cos.self, Tanh.self, Sigmoid.self, Square.self, Reciprocal.self, Erf.self, Affine.self, PowScalar.self,
        Relu.self, LeakyRelu.self, Elu.self, Gelu.self, Silu.self, Softplus.self, Clamp.self,
        LeakyReluGrad.self, EluGrad.self, GeluGrad.self, SiluGrad.self, SoftplusGrad.self, ClampGrad.self,
    ]
}

/// An elementwise primitive computed by one backend kernel; `grad` gives the input gradient from the upstream
/// gradient `g`, the input `x` and the output `y` (in differentiable ops).
protocol UnaryPrimitive: PrimitiveOp {
    var kernel: UnaryOp { get }
    func grad(_ g: Tensor, x: Tensor, y: Tensor) -> Tensor
}

extension UnaryPrimitive {
    func forward(_ inputs: [Tensor]) -> Tensor {
        let x = inputs[0].contiguousData()
        let out = Tensor.empty(x.shape, dtype: x.dtype, backend: x.backend)
        x.backend.unary(kernel, x.operand, out.operand, count: x.count)
        return out
    }
    func vjp(_ g: Tensor, _ c: VJPContext) -> [Tensor?] { [grad(g, x: c.inputs[0], y: c.output)] }
}

/// Ops whose gradient reads only their output.
protocol OutputSavingUnary: UnaryPrimitive {}
extension OutputSavingUnary {
    static var savesInputs: Bool { false }
    static var savesOutput: Bool { true }
}

/// Ops whose gradient reads neither input nor output.
protocol LinearUnary: UnaryPrimitive {}
extension LinearUnary {
    static var savesInputs: Bool { false }
}

struct Neg: LinearUnary {
    static let name = "neg"
    var kernel: UnaryOp { .neg }
    func grad(_ g: Tensor, x: Tensor, y: Tensor) -> Tensor { -g }
}
struct Exp: OutputSavingUnary {
    static let name = "exp"
    var kernel: UnaryOp { .exp }
    func grad(_ g: Tensor, x: Tensor, y: Tensor) -> Tensor { g * y }
}
struct Log: UnaryPrimitive {
    static let name = "log"
    var kernel: UnaryOp { .log }
    func grad(_ g: Tensor, x: Tensor, y: Tensor) -> Tensor { g / x }
}
struct Log1p: UnaryPrimitive {
    static let name = "log1p"
    var kernel: UnaryOp { .log1p }
    func grad(_ g: Tensor, x: Tensor, y: Tensor) -> Tensor { g / (x + 1) }
}
struct Expm1: OutputSavingUnary {
    static let name = "expm1"
    var kernel: UnaryOp { .expm1 }
    func grad(_ g: Tensor, x: Tensor, y: Tensor) -> Tensor { g * (y + 1) }
}
struct Sqrt: OutputSavingUnary {
    static let name = "sqrt"
    var kernel: UnaryOp { .sqrt }
    func grad(_ g: Tensor, x: Tensor, y: Tensor) -> Tensor { g * 0.5 / y }
}
struct Rsqrt: OutputSavingUnary {
    static let name = "rsqrt"
    var kernel: UnaryOp { .rsqrt }
    func grad(_ g: Tensor, x: Tensor, y: Tensor) -> Tensor { g * y * y * y * -0.5 }
}
struct Abs: UnaryPrimitive {
    static let name = "abs"
    var kernel: UnaryOp { .abs }
    func grad(_ g: Tensor, x: Tensor, y: Tensor) -> Tensor { g * x.sign() }
}
struct Sign: LinearUnary {
    static let name = "sign"
    var kernel: UnaryOp { .sign }
    func grad(_ g: Tensor, x: Tensor, y: Tensor) -> Tensor { g.zerosLike() }
}
struct Sin: UnaryPrimitive {
    static let name = "sin"
    var kernel: UnaryOp { .sin }
    func grad(_ g: Tensor, x: Tensor, y: Tensor) -> Tensor { g * x.cos() }
}
struct Cos: UnaryPrimitive {
    static let name = "cos"
    var kernel: UnaryOp { .cos }
    func grad(_ g: Tensor, x: Tensor, y: Tensor) -> Tensor { -(g * x.sin()) }
}
struct Tanh: OutputSavingUnary {
    static let name = "tanh"
    var kernel: UnaryOp { .tanh }
    func grad(_ g: Tensor, x: Tensor, y: Tensor) -> Tensor { g * (1 - y * y) }
}
struct Sigmoid: OutputSavingUnary {
    static let name = "sigmoid"
    var kernel: UnaryOp { .sigmoid }
    func grad(_ g: Tensor, x: Tensor, y: Tensor) -> Tensor { g * y * (1 - y) }
}
/// x * x. The gradient is g * (2x), in PyTorch's order, so it overflows to inf exactly where PyTorch's does.
struct Square: UnaryPrimitive {
    static let name = "square"
    var kernel: UnaryOp { .square }
    func grad(_ g: Tensor, x: Tensor, y: Tensor) -> Tensor { g * (x * 2) }
}
struct Reciprocal: OutputSavingUnary {
    static let name = "reciprocal"
    var kernel: UnaryOp { .reciprocal }
    func grad(_ g: Tensor, x: Tensor, y: Tensor) -> Tensor { -(g * y * y) }
}
struct Erf: UnaryPrimitive {
    static let name = "erf"
    var kernel: UnaryOp { .erf }
    func grad(_ g: Tensor, x: Tensor, y: Tensor) -> Tensor { g * (x * x * -1).exp() * (2 / Double.pi.squareRoot()) }
}
/// a * x + b.
struct Affine: LinearUnary {
    static let name = "affine"
    let a: Double, b: Double
    var attributes: [String: OpAttribute] { ["a": .double(a), "b": .double(b)] }
    var kernel: UnaryOp { .affine(a, b) }
    func grad(_ g: Tensor, x: Tensor, y: Tensor) -> Tensor { g * a }
}
/// x^p for a constant p.
struct PowScalar: UnaryPrimitive {
    static let name = "pow_scalar"
    let p: Double
    var attributes: [String: OpAttribute] { ["p": .double(p)] }
    var kernel: UnaryOp { .powScalar(p) }
    func grad(_ g: Tensor, x: Tensor, y: Tensor) -> Tensor { g * x.pow(p - 1) * p }
}

// MARK: activations

struct Relu: UnaryPrimitive {
    static let name = "relu"
    var kernel: UnaryOp { .relu }
    func grad(_ g: Tensor, x: Tensor, y: Tensor) -> Tensor { Tensor.apply(ReluBackward(), [x, g]) }
}
struct LeakyRelu: UnaryPrimitive {
    static let name = "leaky_relu"
    let slope: Double
    var attributes: [String: OpAttribute] { ["slope": .double(slope)] }
    var kernel: UnaryOp { .leakyRelu(slope) }
    func grad(_ g: Tensor, x: Tensor, y: Tensor) -> Tensor { g * Tensor.apply(LeakyReluGrad(slope: slope), [x]) }
}
struct Elu: UnaryPrimitive {
    static let name = "elu"
    let alpha: Double
    var attributes: [String: OpAttribute] { ["alpha": .double(alpha)] }
    var kernel: UnaryOp { .elu(alpha) }
    func grad(_ g: Tensor, x: Tensor, y: Tensor) -> Tensor { g * Tensor.apply(EluGrad(alpha: alpha), [x]) }
}
/// GELU: exact (erf), or the tanh approximation.
struct Gelu: UnaryPrimitive {
    static let name = "gelu"
    let approximate: Bool
    var attributes: [String: OpAttribute] { ["approximate": .string(approximate ? "tanh" : "none")] }
    var kernel: UnaryOp { approximate ? .geluTanh : .gelu }
    func grad(_ g: Tensor, x: Tensor, y: Tensor) -> Tensor {
        if !approximate && x.shape == g.shape && x.dtype == g.dtype { return Tensor.apply(GeluBackward(), [x, g]) }
        return g * Tensor.apply(GeluGrad(approximate: approximate), [x])
    }
}
struct Silu: UnaryPrimitive {
    static let name = "silu"
    var kernel: UnaryOp { .silu }
    func grad(_ g: Tensor, x: Tensor, y: Tensor) -> Tensor { g * Tensor.apply(SiluGrad(), [x]) }
}
/// log(1 + exp(beta x)) / beta, linear above `threshold`.
struct Softplus: UnaryPrimitive {
    static let name = "softplus"
    let beta: Double, threshold: Double
    var attributes: [String: OpAttribute] { ["beta": .double(beta), "threshold": .double(threshold)] }
    var kernel: UnaryOp { .softplus(beta: beta, threshold: threshold) }
    func grad(_ g: Tensor, x: Tensor, y: Tensor) -> Tensor {
        g * Tensor.apply(SoftplusGrad(beta: beta, threshold: threshold), [x])
    }
}
struct Clamp: UnaryPrimitive {
    static let name = "clamp"
    let min: Double, max: Double
    var attributes: [String: OpAttribute] { ["min": .double(min), "max": .double(max)] }
    var kernel: UnaryOp { .clamp(min, max) }
    func grad(_ g: Tensor, x: Tensor, y: Tensor) -> Tensor { g * Tensor.apply(ClampGrad(min: min, max: max), [x]) }
}

// MARK: derivatives f'(x) of the activations, as primitives with their own derivative f''(x)

/// f'(x) from a derivative kernel; `second(h, x)` is the VJP h * f''(x) (nil where f'' is 0).
protocol DerivativePrimitive: UnaryPrimitive {
    func second(_ h: Tensor, _ x: Tensor) -> Tensor?
}
extension DerivativePrimitive {
    func grad(_ g: Tensor, x: Tensor, y: Tensor) -> Tensor { second(g, x) ?? g.zerosLike() }
    func vjp(_ g: Tensor, _ c: VJPContext) -> [Tensor?] { [second(g, c.inputs[0])] }
}

struct LeakyReluGrad: DerivativePrimitive {
    static let name = "leaky_relu_grad"
    let slope: Double
    var attributes: [String: OpAttribute] { ["slope": .double(slope)] }
    var kernel: UnaryOp { .leakyReluGrad(slope) }
    func second(_ h: Tensor, _ x: Tensor) -> Tensor? { nil }
}
struct ClampGrad: DerivativePrimitive {
    static let name = "clamp_grad"
    let min: Double, max: Double
    var attributes: [String: OpAttribute] { ["min": .double(min), "max": .double(max)] }
    var kernel: UnaryOp { .clampGrad(min, max) }
    func second(_ h: Tensor, _ x: Tensor) -> Tensor? { nil }
}
/// f'(x) = 1 for x > 0, alpha e^x below; f'' = 0 and alpha e^x.
struct EluGrad: DerivativePrimitive {
    static let name = "elu_grad"
    let alpha: Double
    var attributes: [String: OpAttribute] { ["alpha": .double(alpha)] }
    var kernel: UnaryOp { .eluGrad(alpha) }
    func second(_ h: Tensor, _ x: Tensor) -> Tensor? { Tensor.where(x .> 0, h.scalarLike(0), h * x.exp() * alpha) }
}
/// Exact: f' = Φ(x) + x φ(x), f'' = φ(x) (2 - x²). Tanh form, with u = √(2/π)(x + 0.044715 x³) and t = tanh u:
/// f' = (1 + t)/2 + x (1 - t²) u'/2, f'' = (1 - t²)(u' - x t u'² + x u''/2).
struct GeluGrad: DerivativePrimitive {
    static let name = "gelu_grad"
    let approximate: Bool
    var attributes: [String: OpAttribute] { ["approximate": .string(approximate ? "tanh" : "none")] }
    var kernel: UnaryOp { approximate ? .geluTanhGrad : .geluGrad }
    func second(_ h: Tensor, _ x: Tensor) -> Tensor? {
        if !approximate {
            let phi = (x * x * -0.5).exp() * (1 / (2 * Double.pi).squareRoot())
            return h * phi * (2 - x * x)
        }
        let k = (2 / Double.pi).squareRoot(), c = 0.044715
        let x2 = x * x
        let t = ((x + x2 * x * c) * k).tanh()
        let du = (x2 * (3 * c) + 1) * k, d2u = x * (6 * c * k)
        return h * (1 - t * t) * (du - x * t * du * du + x * d2u * 0.5)
    }
}
/// f' = s (1 + x (1 - s)) with s = σ(x); f'' = s (1 - s) (2 + x (1 - 2s)).
struct SiluGrad: DerivativePrimitive {
    static let name = "silu_grad"
    var kernel: UnaryOp { .siluGrad }
    func second(_ h: Tensor, _ x: Tensor) -> Tensor? {
        let s = x.sigmoid()
        return h * s * (1 - s) * (2 + x * (1 - 2 * s))
    }
}
/// f' = σ(βx) below the threshold (βx <= threshold), 1 above; f'' = β σ(βx)(1 - σ(βx)) and 0.
struct SoftplusGrad: DerivativePrimitive {
    static let name = "softplus_grad"
    let beta: Double, threshold: Double
    var attributes: [String: OpAttribute] { ["beta": .double(beta), "threshold": .double(threshold)] }
    var kernel: UnaryOp { .softplusGrad(beta: beta, threshold: threshold) }
    func second(_ h: Tensor, _ x: Tensor) -> Tensor? {
        let bx = x * beta, s = bx.sigmoid()
        return Tensor.where(bx .> threshold, h.scalarLike(0), h * s * (1 - s) * beta)
    }
}

// MARK: API

extension Tensor {
    public func exp() -> Tensor { Tensor.apply(Exp(), [self]) }
    public func log() -> Tensor { Tensor.apply(Log(), [self]) }
    public func log1p() -> Tensor { Tensor.apply(Log1p(), [self]) }
    public func expm1() -> Tensor { Tensor.apply(Expm1(), [self]) }
    public func sqrt() -> Tensor { Tensor.apply(Sqrt(), [self]) }
    public func rsqrt() -> Tensor { Tensor.apply(Rsqrt(), [self]) }
    public func abs() -> Tensor { Tensor.apply(Abs(), [self]) }
    public func sign() -> Tensor { Tensor.apply(Sign(), [self]) }
    public func sin() -> Tensor { Tensor.apply(Sin(), [self]) }
    public func cos() -> Tensor { Tensor.apply(Cos(), [self]) }
    public func tanh() -> Tensor { Tensor.apply(Tanh(), [self]) }
    public func sigmoid() -> Tensor { Tensor.apply(Sigmoid(), [self]) }
    /// x * x. The gradient is g * (2x), in PyTorch's order, so it overflows to inf exactly where PyTorch's does.
    public func square() -> Tensor { Tensor.apply(Square(), [self]) }
    public func reciprocal() -> Tensor { Tensor.apply(Reciprocal(), [self]) }
    public func erf() -> Tensor { Tensor.apply(Erf(), [self]) }
    /// a * x + b in one pass.
    public func affine(_ a: Double, _ b: Double) -> Tensor { Tensor.apply(Affine(a: a, b: b), [self]) }

    // MARK: activations

    public func relu() -> Tensor { Tensor.apply(Relu(), [self]) }
    public func leakyRelu(_ slope: Double = 0.01) -> Tensor { Tensor.apply(LeakyRelu(slope: slope), [self]) }
    public func elu(_ alpha: Double = 1) -> Tensor { Tensor.apply(Elu(alpha: alpha), [self]) }
    /// GELU: exact (erf) by default, or the tanh approximation.
    public func gelu(approximate: Bool = false) -> Tensor { Tensor.apply(Gelu(approximate: approximate), [self]) }
    public func silu() -> Tensor { Tensor.apply(Silu(), [self]) }
    /// log(1 + exp(beta x)) / beta, linear above `threshold` (as `torch.nn.functional.softplus`).
    public func softplus(beta: Double = 1, threshold: Double = 20) -> Tensor {
        Tensor.apply(Softplus(beta: beta, threshold: threshold), [self])
    }
    /// Clamps to [min, max] (either may be infinite). Gradient passes where min <= x <= max.
    public func clamp(min lo: Double = -.infinity, max hi: Double = .infinity) -> Tensor {
        precondition(!(lo > hi), "clamp: min \(lo) exceeds max \(hi)")
        return Tensor.apply(Clamp(min: lo, max: hi), [self])
    }
}
