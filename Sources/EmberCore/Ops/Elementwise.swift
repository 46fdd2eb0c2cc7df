infix operator .== : ComparisonPrecedence
infix operator .!= : ComparisonPrecedence
infix operator .< : ComparisonPrecedence
infix operator .<= : ComparisonPrecedence
infix operator .> : ComparisonPrecedence
infix operator .>= : ComparisonPrecedence

// MARK: primitives

extension OpRegistry {
    static let elementwiseOps: [any PrimitiveOp.Type] = [
        Cast.self, Add.self, Sub.self, Mul.self, Div.self, Pow.self, Maximum.self, Minimum.self, Where.self,
        Equal.self, NotEqual.self, Less.self, LessEqual.self, Greater.self, GreaterEqual.self, LogicalAnd.self,
        LogicalOr.self, ReluBackward.self, GeluBackward.self, AddScalar.self, RSubScalar.self, MulScalar.self, DivScalar.self,
        RDivScalar.self, CompareScalar.self,
    ]
}

/// Conversion to another dtype (differentiable between float types).
struct Cast: PrimitiveOp {
    static let name = "cast"
    static var savesInputs: Bool { false }
    let to: DType
    var attributes: [String: OpAttribute] { ["to": .dtype(to)] }
    func forward(_ x: [Tensor]) -> Tensor {
        let out = Tensor.empty(x[0].shape, dtype: to, backend: x[0].backend)
        x[0].backend.copy(x[0].operand, into: out.operand, shape: x[0].shape)
        return out
    }
    func vjp(_ g: Tensor, _ c: VJPContext) -> [Tensor?] { [g.cast(c.inputs[0].dtype)] }
}

/// A broadcasting elementwise kernel of two operands of one dtype (`Tensor.promoted` converts them first).
protocol BinaryPrimitive: PrimitiveOp {
    static var kernel: BinaryOp { get }
}

extension BinaryPrimitive {
    func forward(_ x: [Tensor]) -> Tensor {
        let a = x[0], b = x[1]
        guard let shape = broadcastShape(a.shape, b.shape) else {
            preconditionFailure("\(Self.name): shapes \(a.shape) and \(b.shape) cannot be broadcast together")
        }
        let out = Tensor.empty(shape, dtype: Self.kernel.isComparison ? .bool : a.dtype, backend: a.backend)
        a.backend.binary(Self.kernel, a.operand(broadcastTo: shape), b.operand(broadcastTo: shape), out.operand, shape: shape)
        return out
    }
}

struct Add: BinaryPrimitive {
    static let name = "add", kernel = BinaryOp.add
    static var savesInputs: Bool { false }
    func vjp(_ g: Tensor, _ c: VJPContext) -> [Tensor?] {
        [c.needs(0) ? g.sumTo(c.inputs[0].shape) : nil, c.needs(1) ? g.sumTo(c.inputs[1].shape) : nil]
    }
}

struct Sub: BinaryPrimitive {
    static let name = "sub", kernel = BinaryOp.sub
    static var savesInputs: Bool { false }
    func vjp(_ g: Tensor, _ c: VJPContext) -> [Tensor?] {
        [c.needs(0) ? g.sumTo(c.inputs[0].shape) : nil, c.needs(1) ? (-g).sumTo(c.inputs[1].shape) : nil]
    }
}

struct Mul: BinaryPrimitive {
    static let name = "mul", kernel = BinaryOp.mul
    func vjp(_ g: Tensor, _ c: VJPContext) -> [Tensor?] {
        let a = c.inputs[0], b = c.inputs[1]
        return [c.needs(0) ? (g * b).sumTo(a.shape) : nil, c.needs(1) ? (g * a).sumTo(b.shape) : nil]
    }
}

struct Div: BinaryPrimitive {
    static let name = "div", kernel = BinaryOp.div
    static var savesOutput: Bool { true }
    func vjp(_ g: Tensor, _ c: VJPContext) -> [Tensor?] {
        let a = c.inputs[0], b = c.inputs[1], y = c.output
        return [c.needs(0) ? (g / b).sumTo(a.shape) : nil, c.needs(1) ? (-(g * y) / b).sumTo(b.shape) : nil]
    }
}

struct Pow: BinaryPrimitive {
    static let name = "pow", kernel = BinaryOp.pow
    static var savesOutput: Bool { true }
    func vjp(_ g: Tensor, _ c: VJPContext) -> [Tensor?] {
        let a = c.inputs[0], b = c.inputs[1], y = c.output
        return [c.needs(0) ? (g * b * a.pow(b - 1)).sumTo(a.shape) : nil,
                c.needs(1) ? (g * y * a.log()).sumTo(b.shape) : nil]
    }
}

/// PyTorch's rule for maximum/minimum: where(a == b, g / 2, g), zeroed for the operand that loses. Nothing is equal
/// to or loses against NaN, so both operands get all of g there.
private func minmaxVJP(_ g: Tensor, _ c: VJPContext, max: Bool) -> [Tensor?] {
    let a = c.inputs[0], b = c.inputs[1]
    let shared = Tensor.where(a .== b, g * 0.5, g), zero = g.scalarLike(0)
    let aLoses = max ? a .< b : a .> b, bLoses = max ? a .> b : a .< b
    return [c.needs(0) ? Tensor.where(aLoses, zero, shared).sumTo(a.shape) : nil,
            c.needs(1) ? Tensor.where(bLoses, zero, shared).sumTo(b.shape) : nil]
}

struct Maximum: BinaryPrimitive {
    static let name = "maximum", kernel = BinaryOp.maximum
    func vjp(_ g: Tensor, _ c: VJPContext) -> [Tensor?] { minmaxVJP(g, c, max: true) }
}

struct Minimum: BinaryPrimitive {
    static let name = "minimum", kernel = BinaryOp.minimum
    func vjp(_ g: Tensor, _ c: VJPContext) -> [Tensor?] { minmaxVJP(g, c, max: false) }
}

/// Comparisons and logical ops: bool results, no gradient.
struct Equal: BinaryPrimitive { static let name = "eq", kernel = BinaryOp.eq; static var isDifferentiable: Bool { false } }
struct NotEqual: BinaryPrimitive { static let name = "ne", kernel = BinaryOp.ne; static var isDifferentiable: Bool { false } }
struct Less: BinaryPrimitive { static let name = "lt", kernel = BinaryOp.lt; static var isDifferentiable: Bool { false } }
struct LessEqual: BinaryPrimitive { static let name = "le", kernel = BinaryOp.le; static var isDifferentiable: Bool { false } }
struct Greater: BinaryPrimitive { static let name = "gt", kernel = BinaryOp.gt; static var isDifferentiable: Bool { false } }
struct GreaterEqual: BinaryPrimitive { static let name = "ge", kernel = BinaryOp.ge; static var isDifferentiable: Bool { false } }
struct LogicalAnd: BinaryPrimitive { static let name = "logical_and", kernel = BinaryOp.logicalAnd; static var isDifferentiable: Bool { false } }
struct LogicalOr: BinaryPrimitive { static let name = "logical_or", kernel = BinaryOp.logicalOr; static var isDifferentiable: Bool { false } }

/// ReLU's backward, fused: g * (x > 0) for inputs [x, g]. A primitive of its own so that ReLU's gradient can be
/// differentiated again (its derivative in x is zero almost everywhere; in g it is itself).
struct ReluBackward: BinaryPrimitive {
    static let name = "relu_backward", kernel = BinaryOp.reluBackward
    func vjp(_ h: Tensor, _ c: VJPContext) -> [Tensor?] {
        [nil, c.needs(1) ? Tensor.apply(ReluBackward(), [c.inputs[0], h]).sumTo(c.inputs[1].shape) : nil]
    }
}

/// The exact GELU's backward, fused: g * GELU'(x) for inputs [x, g] (one pass instead of GELU'(x), then a product).
struct GeluBackward: BinaryPrimitive {
    static let name = "gelu_backward", kernel = BinaryOp.geluBackward
    func vjp(_ h: Tensor, _ c: VJPContext) -> [Tensor?] {
        let x = c.inputs[0], g = c.inputs[1], d = GeluGrad(approximate: false)
        return [c.needs(0) ? d.second(h * g, x).map { $0.sumTo(x.shape) } : nil,
                c.needs(1) ? (h * Tensor.apply(d, [x])).sumTo(g.shape) : nil]
    }
}

// MARK: tensor-scalar primitives: the scalar is an attribute and a kernel argument, never a tensor

/// A tensor combined with a constant through `Backend.binaryScalar`.
protocol ScalarPrimitive: PrimitiveOp {
    static var kernel: BinaryOp { get }
    static var reversed: Bool { get }
    var scalar: Double { get }
}

extension ScalarPrimitive {
    static var reversed: Bool { false }
    var attributes: [String: OpAttribute] { ["scalar": .double(scalar)] }
    func forward(_ x: [Tensor]) -> Tensor {
        let a = x[0]
        let out = Tensor.empty(a.shape, dtype: Self.kernel.isComparison ? .bool : a.dtype, backend: a.backend)
        a.backend.binaryScalar(Self.kernel, a.operand, scalar, reversed: Self.reversed, out.operand, shape: a.shape)
        return out
    }
}

/// x + c (x - c is x + (-c): the same bits in IEEE arithmetic).
struct AddScalar: ScalarPrimitive {
    static let name = "add_scalar", kernel = BinaryOp.add
    static var savesInputs: Bool { false }
    let scalar: Double
    func vjp(_ g: Tensor, _ c: VJPContext) -> [Tensor?] { [g] }
}

/// c - x.
struct RSubScalar: ScalarPrimitive {
    static let name = "rsub_scalar", kernel = BinaryOp.sub
    static var reversed: Bool { true }
    static var savesInputs: Bool { false }
    let scalar: Double
    func vjp(_ g: Tensor, _ c: VJPContext) -> [Tensor?] { [-g] }
}

/// x * c.
struct MulScalar: ScalarPrimitive {
    static let name = "mul_scalar", kernel = BinaryOp.mul
    static var savesInputs: Bool { false }
    let scalar: Double
    func vjp(_ g: Tensor, _ c: VJPContext) -> [Tensor?] { [g * scalar] }
}

/// x / c (a true division, as `x / tensor(c)`, not a multiplication by 1/c).
struct DivScalar: ScalarPrimitive {
    static let name = "div_scalar", kernel = BinaryOp.div
    static var savesInputs: Bool { false }
    let scalar: Double
    func vjp(_ g: Tensor, _ c: VJPContext) -> [Tensor?] { [g / scalar] }
}

/// c / x; d/dx = -c / x^2 = -y / x.
struct RDivScalar: ScalarPrimitive {
    static let name = "rdiv_scalar", kernel = BinaryOp.div
    static var reversed: Bool { true }
    static var savesOutput: Bool { true }
    let scalar: Double
    func vjp(_ g: Tensor, _ c: VJPContext) -> [Tensor?] { [-(g * c.output) / c.inputs[0]] }
}

/// A comparison with a constant (bool result, no gradient); `op` is one of eq, ne, lt, le, gt, ge.
struct CompareScalar: PrimitiveOp {
    static let name = "compare_scalar"
    static var isDifferentiable: Bool { false }
    let op: BinaryOp
    let scalar: Double
    var attributes: [String: OpAttribute] { ["op": .string("\(op)"), "scalar": .double(scalar)] }
    func forward(_ x: [Tensor]) -> Tensor {
        let a = x[0]
        let out = Tensor.empty(a.shape, dtype: .bool, backend: a.backend)
        a.backend.binaryScalar(op, a.operand, scalar, reversed: false, out.operand, shape: a.shape)
        return out
    }
}

/// `condition ? a : b` for inputs [condition, a, b] (broadcast).
struct Where: PrimitiveOp {
    static let name = "where"
    func forward(_ x: [Tensor]) -> Tensor {
        let cond = x[0], a = x[1], b = x[2]
        guard let s1 = broadcastShape(a.shape, b.shape), let shape = broadcastShape(cond.shape, s1) else {
            preconditionFailure("where: shapes \(cond.shape), \(a.shape) and \(b.shape) cannot be broadcast together")
        }
        let out = Tensor.empty(shape, dtype: a.dtype, backend: a.backend)
        a.backend.select(cond.operand(broadcastTo: shape), a.operand(broadcastTo: shape), b.operand(broadcastTo: shape),
                         out.operand, shape: shape)
        return out
    }
    func vjp(_ g: Tensor, _ c: VJPContext) -> [Tensor?] {
        let cond = c.inputs[0], z = g.scalarLike(0)
        return [nil, c.needs(1) ? Tensor.where(cond, g, z).sumTo(c.inputs[1].shape) : nil,
                c.needs(2) ? Tensor.where(cond, z, g).sumTo(c.inputs[2].shape) : nil]
    }
}

// MARK: API

extension Tensor {
    /// This tensor converted to `dtype` (differentiable between float types).
    public func cast(_ to: DType) -> Tensor {
        if to == dtype { return self }
        return Tensor.apply(Cast(to: to), [self])
    }

    /// A scalar tensor for `value` that combines with this tensor without changing its dtype where possible.
    func scalarLike(_ value: Double) -> Tensor {
        if dtype.isFloatingPoint { return Tensor(value, dtype: dtype, on: backend) }
        if value.rounded() == value { return Tensor(value, dtype: dtype == .bool ? .int64 : dtype, on: backend) }
        return Tensor(value, dtype: .float32, on: backend)
    }

    /// The dtype a tensor-scalar op computes in, as PyTorch promotes a tensor with a Python number: float tensors
    /// keep their dtype; integer tensors keep theirs for whole numbers (bool becomes int64) and become float32 for
    /// fractions (and for division).
    private func scalarOperand(_ value: Double, division: Bool = false) -> Tensor {
        if dtype.isFloatingPoint { return self }
        if division || value.rounded() != value || !value.isFinite { return cast(.float32) }
        return dtype == .bool ? cast(.int64) : self
    }

    /// Applies a broadcasting binary primitive after promoting both operands to one dtype (float32 for integer
    /// division).
    static func binary<Op: BinaryPrimitive>(_ op: Op, _ a: Tensor, _ b: Tensor) -> Tensor {
        checkOperands(Op.name, ["a": a, "b": b], sameDType: false)
        var dt = DType.promote(a.dtype, b.dtype)
        if Op.kernel == .div && !dt.isFloatingPoint { dt = .float32 }
        return apply(op, [a.cast(dt), b.cast(dt)])
    }

    // MARK: arithmetic

    public static func + (a: Tensor, b: Tensor) -> Tensor { binary(Add(), a, b) }
    public static func - (a: Tensor, b: Tensor) -> Tensor { binary(Sub(), a, b) }
    public static func * (a: Tensor, b: Tensor) -> Tensor { binary(Mul(), a, b) }
    public static func / (a: Tensor, b: Tensor) -> Tensor { binary(Div(), a, b) }

    public static prefix func - (a: Tensor) -> Tensor { apply(Neg(), [a]) }

    // Tensor-scalar arithmetic: the number is an op attribute and a kernel argument (no 0-d tensor is made).
    public static func + (a: Tensor, b: Double) -> Tensor { apply(AddScalar(scalar: b), [a.scalarOperand(b)]) }
    public static func + (a: Double, b: Tensor) -> Tensor { b + a }
    public static func - (a: Tensor, b: Double) -> Tensor { apply(AddScalar(scalar: -b), [a.scalarOperand(b)]) }
    public static func - (a: Double, b: Tensor) -> Tensor { apply(RSubScalar(scalar: a), [b.scalarOperand(a)]) }
    public static func * (a: Tensor, b: Double) -> Tensor { apply(MulScalar(scalar: b), [a.scalarOperand(b)]) }
    public static func * (a: Double, b: Tensor) -> Tensor { b * a }
    public static func / (a: Tensor, b: Double) -> Tensor {
        apply(DivScalar(scalar: b), [a.scalarOperand(b, division: true)])
    }
    public static func / (a: Double, b: Tensor) -> Tensor {
        apply(RDivScalar(scalar: a), [b.scalarOperand(a, division: true)])
    }

    /// Elementwise power with broadcasting.
    public func pow(_ exponent: Tensor) -> Tensor { Tensor.binary(Pow(), self, exponent) }

    /// Elementwise power by a constant.
    public func pow(_ p: Double) -> Tensor { Tensor.apply(PowScalar(p: p), [self]) }

    /// Elementwise maximum, as `torch.maximum`: NaN in either operand gives NaN; the gradient is split evenly on
    /// ties and goes whole to both operands where either is NaN.
    public func maximum(_ other: Tensor) -> Tensor { Tensor.binary(Maximum(), self, other) }
    /// Elementwise minimum (NaN and gradients as `maximum`).
    public func minimum(_ other: Tensor) -> Tensor { Tensor.binary(Minimum(), self, other) }

    // MARK: comparisons (bool results, no gradient)

    public static func .== (a: Tensor, b: Tensor) -> Tensor { binary(Equal(), a, b) }
    public static func .!= (a: Tensor, b: Tensor) -> Tensor { binary(NotEqual(), a, b) }
    public static func .< (a: Tensor, b: Tensor) -> Tensor { binary(Less(), a, b) }
    public static func .<= (a: Tensor, b: Tensor) -> Tensor { binary(LessEqual(), a, b) }
    public static func .> (a: Tensor, b: Tensor) -> Tensor { binary(Greater(), a, b) }
    public static func .>= (a: Tensor, b: Tensor) -> Tensor { binary(GreaterEqual(), a, b) }
    public static func .== (a: Tensor, b: Double) -> Tensor { compare(.eq, a, b) }
    public static func .!= (a: Tensor, b: Double) -> Tensor { compare(.ne, a, b) }
    public static func .< (a: Tensor, b: Double) -> Tensor { compare(.lt, a, b) }
    public static func .<= (a: Tensor, b: Double) -> Tensor { compare(.le, a, b) }
    public static func .> (a: Tensor, b: Double) -> Tensor { compare(.gt, a, b) }
    public static func .>= (a: Tensor, b: Double) -> Tensor { compare(.ge, a, b) }

    private static func compare(_ op: BinaryOp, _ a: Tensor, _ b: Double) -> Tensor {
        apply(CompareScalar(op: op, scalar: b), [a.scalarOperand(b)])
    }

    /// Elementwise logical and of two bool tensors.
    public func logicalAnd(_ other: Tensor) -> Tensor { Tensor.binary(LogicalAnd(), self, other) }
    /// Elementwise logical or of two bool tensors.
    public func logicalOr(_ other: Tensor) -> Tensor { Tensor.binary(LogicalOr(), self, other) }
    /// Elementwise logical not.
    public func logicalNot() -> Tensor { self .== 0 }

    // MARK: where / masks

    /// Picks `a` where `condition` is true, else `b` (all three broadcast).
    public static func `where`(_ condition: Tensor, _ a: Tensor, _ b: Tensor) -> Tensor {
        precondition(condition.dtype == .bool, "where: condition must be a bool tensor, got \(condition.dtype)")
        checkOperands("where", ["condition": condition, "a": a, "b": b], sameDType: false)
        let dt = DType.promote(a.dtype, b.dtype)
        return apply(Where(), [condition, a.cast(dt), b.cast(dt)])
    }

    /// This tensor with `value` wherever `mask` is true.
    public func maskedFill(_ mask: Tensor, _ value: Double) -> Tensor {
        precondition(mask.dtype == .bool, "maskedFill: mask must be a bool tensor, got \(mask.dtype)")
        return Tensor.where(mask, scalarLike(value).cast(dtype), self)
    }
}
