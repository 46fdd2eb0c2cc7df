infix operator .== : ComparisonPrecedence
infix operator .!= : ComparisonPrecedence
infix operator .< : ComparisonPrecedence
infix operator .<= : ComparisonPrecedence
infix operator .> : ComparisonPrecedence
infix operator .>= : ComparisonPrecedence

extension Tensor {
    /// This tensor converted to `dtype` (differentiable between float types).
    public func cast(_ to: DType) -> Tensor {
        if to == dtype { return self }
        let out = Tensor.empty(shape, dtype: to, backend: backend)
        backend.copy(operand, into: out.operand, shape: shape)
        guard to.isFloatingPoint && dtype.isFloatingPoint else { return out }
        let from = dtype
        return record(out, "cast", [self]) { g, _ in [g.cast(from)] }
    }

    /// A scalar tensor for `value` that combines with this tensor without changing its dtype where possible.
    func scalarLike(_ value: Double) -> Tensor {
        if dtype.isFloatingPoint { return Tensor(value, dtype: dtype, on: backend) }
        if value.rounded() == value { return Tensor(value, dtype: dtype == .bool ? .int64 : dtype, on: backend) }
        return Tensor(value, dtype: .float32, on: backend)
    }

    /// Applies a broadcasting binary op; promotes dtypes first.
    static func binaryOp(_ op: BinaryOp, _ a: Tensor, _ b: Tensor, _ name: String) -> (Tensor, Tensor, Tensor) {
        checkOperands(name, ["a": a, "b": b], sameDType: false)
        var dt = DType.promote(a.dtype, b.dtype)
        if (op == .div || op == .pow) && !dt.isFloatingPoint && op == .div { dt = .float32 }
        let a2 = a.cast(dt), b2 = b.cast(dt)
        guard let shape = broadcastShape(a.shape, b.shape) else {
            preconditionFailure("\(name): shapes \(a.shape) and \(b.shape) cannot be broadcast together")
        }
        let out = Tensor.empty(shape, dtype: op.isComparison ? .bool : dt, backend: a.backend)
        a.backend.binary(op, a2.operand(broadcastTo: shape), b2.operand(broadcastTo: shape), out.operand, shape: shape)
        return (out, a2, b2)
    }

    // MARK: arithmetic

    public static func + (a: Tensor, b: Tensor) -> Tensor {
        let (out, a2, b2) = binaryOp(.add, a, b, "add")
        return record(out, "add", [a2, b2]) { g, n in
            [n[0] ? g.sumTo(a2.shape) : nil, n[1] ? g.sumTo(b2.shape) : nil]
        }
    }

    public static func - (a: Tensor, b: Tensor) -> Tensor {
        let (out, a2, b2) = binaryOp(.sub, a, b, "sub")
        return record(out, "sub", [a2, b2]) { g, n in
            [n[0] ? g.sumTo(a2.shape) : nil, n[1] ? (-g).sumTo(b2.shape) : nil]
        }
    }

    public static func * (a: Tensor, b: Tensor) -> Tensor {
        let (out, a2, b2) = binaryOp(.mul, a, b, "mul")
        return record(out, "mul", [a2, b2]) { g, n in
            [n[0] ? (g * b2).sumTo(a2.shape) : nil, n[1] ? (g * a2).sumTo(b2.shape) : nil]
        }
    }

    public static func / (a: Tensor, b: Tensor) -> Tensor {
        let (out, a2, b2) = binaryOp(.div, a, b, "div")
        let y = out.savedForBackward
        return record(out, "div", [a2, b2]) { g, n in
            [n[0] ? (g / b2).sumTo(a2.shape) : nil, n[1] ? (-(g * y) / b2).sumTo(b2.shape) : nil]
        }
    }

    public static prefix func - (a: Tensor) -> Tensor { a.unary(.neg, "neg") { g, _, _ in -g } }

    public static func + (a: Tensor, b: Double) -> Tensor { a + a.scalarLike(b) }
    public static func + (a: Double, b: Tensor) -> Tensor { b.scalarLike(a) + b }
    public static func - (a: Tensor, b: Double) -> Tensor { a - a.scalarLike(b) }
    public static func - (a: Double, b: Tensor) -> Tensor { b.scalarLike(a) - b }
    public static func * (a: Tensor, b: Double) -> Tensor { a * a.scalarLike(b) }
    public static func * (a: Double, b: Tensor) -> Tensor { b.scalarLike(a) * b }
    public static func / (a: Tensor, b: Double) -> Tensor { a / a.scalarLike(b) }
    public static func / (a: Double, b: Tensor) -> Tensor { b.scalarLike(a) / b }

    /// Elementwise power with broadcasting.
    public func pow(_ exponent: Tensor) -> Tensor {
        let (out, a2, b2) = Tensor.binaryOp(.pow, self, exponent, "pow")
        let y = out.savedForBackward
        return record(out, "pow", [a2, b2]) { g, n in
            [n[0] ? (g * b2 * a2.pow(b2 - 1)).sumTo(a2.shape) : nil,
             n[1] ? (g * y * a2.log()).sumTo(b2.shape) : nil]
        }
    }

    /// Elementwise power by a constant.
    public func pow(_ p: Double) -> Tensor {
        unary(.powScalar(p), "pow") { g, x, _ in g * x.pow(p - 1) * p }
    }

    /// Elementwise maximum, as `torch.maximum`: NaN in either operand gives NaN; the gradient is split evenly on
    /// ties and goes whole to both operands where either is NaN.
    public func maximum(_ other: Tensor) -> Tensor { Tensor.minmax(self, other, max: true) }
    /// Elementwise minimum (NaN and gradients as `maximum`).
    public func minimum(_ other: Tensor) -> Tensor { Tensor.minmax(self, other, max: false) }

    static func minmax(_ a: Tensor, _ b: Tensor, max: Bool) -> Tensor {
        let (out, a2, b2) = binaryOp(max ? .maximum : .minimum, a, b, max ? "maximum" : "minimum")
        return record(out, max ? "maximum" : "minimum", [a2, b2]) { g, n in
            // PyTorch's rule: where(a == b, g / 2, g), zeroed for the operand that loses. Nothing is equal to or
            // loses against NaN, so both operands get all of g there.
            let shared = Tensor.where(a2 .== b2, g * 0.5, g), zero = g.zerosLike()
            let aLoses = max ? a2 .< b2 : a2 .> b2, bLoses = max ? a2 .> b2 : a2 .< b2
            return [n[0] ? Tensor.where(aLoses, zero, shared).sumTo(a2.shape) : nil,
                    n[1] ? Tensor.where(bLoses, zero, shared).sumTo(b2.shape) : nil]
        }
    }

    // MARK: comparisons (bool results, no gradient)

    public static func .== (a: Tensor, b: Tensor) -> Tensor { binaryOp(.eq, a, b, "eq").0 }
    public static func .!= (a: Tensor, b: Tensor) -> Tensor { binaryOp(.ne, a, b, "ne").0 }
    public static func .< (a: Tensor, b: Tensor) -> Tensor { binaryOp(.lt, a, b, "lt").0 }
    public static func .<= (a: Tensor, b: Tensor) -> Tensor { binaryOp(.le, a, b, "le").0 }
    public static func .> (a: Tensor, b: Tensor) -> Tensor { binaryOp(.gt, a, b, "gt").0 }
    public static func .>= (a: Tensor, b: Tensor) -> Tensor { binaryOp(.ge, a, b, "ge").0 }
    public static func .== (a: Tensor, b: Double) -> Tensor { a .== a.scalarLike(b) }
    public static func .!= (a: Tensor, b: Double) -> Tensor { a .!= a.scalarLike(b) }
    public static func .< (a: Tensor, b: Double) -> Tensor { a .< a.scalarLike(b) }
    public static func .<= (a: Tensor, b: Double) -> Tensor { a .<= a.scalarLike(b) }
    public static func .> (a: Tensor, b: Double) -> Tensor { a .> a.scalarLike(b) }
    public static func .>= (a: Tensor, b: Double) -> Tensor { a .>= a.scalarLike(b) }

    /// Elementwise logical and of two bool tensors.
    public func logicalAnd(_ other: Tensor) -> Tensor { Tensor.binaryOp(.logicalAnd, self, other, "logicalAnd").0 }
    /// Elementwise logical or of two bool tensors.
    public func logicalOr(_ other: Tensor) -> Tensor { Tensor.binaryOp(.logicalOr, self, other, "logicalOr").0 }
    /// Elementwise logical not.
    public func logicalNot() -> Tensor { self .== 0 }

    // MARK: where / masks

    /// Picks `a` where `condition` is true, else `b` (all three broadcast).
    public static func `where`(_ condition: Tensor, _ a: Tensor, _ b: Tensor) -> Tensor {
        precondition(condition.dtype == .bool, "where: condition must be a bool tensor, got \(condition.dtype)")
        checkOperands("where", ["condition": condition, "a": a, "b": b], sameDType: false)
        let dt = DType.promote(a.dtype, b.dtype)
        let a2 = a.cast(dt), b2 = b.cast(dt)
        guard let s1 = broadcastShape(a.shape, b.shape), let shape = broadcastShape(condition.shape, s1) else {
            preconditionFailure("where: shapes \(condition.shape), \(a.shape) and \(b.shape) cannot be broadcast together")
        }
        let out = Tensor.empty(shape, dtype: dt, backend: a.backend)
        a.backend.select(condition.operand(broadcastTo: shape), a2.operand(broadcastTo: shape),
                         b2.operand(broadcastTo: shape), out.operand, shape: shape)
        return record(out, "where", [a2, b2]) { g, n in
            let z = g.zerosLike()
            return [n[0] ? Tensor.where(condition, g, z).sumTo(a2.shape) : nil,
                    n[1] ? Tensor.where(condition, z, g).sumTo(b2.shape) : nil]
        }
    }

    /// This tensor with `value` wherever `mask` is true.
    public func maskedFill(_ mask: Tensor, _ value: Double) -> Tensor {
        precondition(mask.dtype == .bool, "maskedFill: mask must be a bool tensor, got \(mask.dtype)")
        return Tensor.where(mask, scalarLike(value).cast(dtype), self)
    }
}
