extension Tensor {
    /// Applies an elementwise function; `grad(g, x, out)` gives the input gradient.
    func unary(_ op: UnaryOp, _ name: String, grad: @escaping (Tensor, Tensor, Tensor) -> Tensor) -> Tensor {
        let x = contiguousData()
        let out = Tensor.empty(shape, dtype: dtype, backend: backend)
        backend.unary(op, x.operand, out.operand, count: count)
        let y = out.savedForBackward
        return record(out, name, [self]) { g, _ in [grad(g, x, y)] }
    }

    /// g * f'(x), with f' computed by a derivative kernel.
    static func chain(_ g: Tensor, _ x: Tensor, _ derivative: UnaryOp) -> Tensor {
        let d = Tensor.empty(x.shape, dtype: x.dtype, backend: x.backend)
        x.backend.unary(derivative, x.operand, d.operand, count: x.count)
        return g * d
    }

    public func exp() -> Tensor { unary(.exp, "exp") { g, _, y in g * y } }
    public func log() -> Tensor { unary(.log, "log") { g, x, _ in g / x } }
    public func log1p() -> Tensor { unary(.log1p, "log1p") { g, x, _ in g / (x + 1) } }
    public func expm1() -> Tensor { unary(.expm1, "expm1") { g, _, y in g * (y + 1) } }
    public func sqrt() -> Tensor { unary(.sqrt, "sqrt") { g, _, y in g * 0.5 / y } }
    public func rsqrt() -> Tensor { unary(.rsqrt, "rsqrt") { g, _, y in g * y * y * y * -0.5 } }
    public func abs() -> Tensor { unary(.abs, "abs") { g, x, _ in g * x.sign() } }
    public func sign() -> Tensor { unary(.sign, "sign") { g, _, _ in g.zerosLike() } }
    public func sin() -> Tensor { unary(.sin, "sin") { g, x, _ in g * x.cos() } }
    public func cos() -> Tensor { unary(.cos, "cos") { g, x, _ in -(g * x.sin()) } }
    public func tanh() -> Tensor { unary(.tanh, "tanh") { g, _, y in g * (1 - y * y) } }
    public func sigmoid() -> Tensor { unary(.sigmoid, "sigmoid") { g, _, y in g * y * (1 - y) } }
    /// x * x. The gradient is g * (2x), in PyTorch's order, so it overflows to inf exactly where PyTorch's does.
    public func square() -> Tensor { unary(.square, "square") { g, x, _ in g * (x * 2) } }
    public func reciprocal() -> Tensor { unary(.reciprocal, "reciprocal") { g, _, y in -(g * y * y) } }
    public func erf() -> Tensor {
        unary(.erf, "erf") { g, x, _ in g * (x * x * -1).exp() * (2 / Double.pi.squareRoot()) }
    }
    /// a * x + b in one pass.
    public func affine(_ a: Double, _ b: Double) -> Tensor { unary(.affine(a, b), "affine") { g, _, _ in g * a } }

    // MARK: activations

    public func relu() -> Tensor {
        unary(.relu, "relu") { g, x, _ in Tensor.binaryOp(.reluBackward, x, g, "reluBackward").0 }
    }
    public func leakyRelu(_ slope: Double = 0.01) -> Tensor {
        unary(.leakyRelu(slope), "leakyRelu") { g, x, _ in Tensor.chain(g, x, .leakyReluGrad(slope)) }
    }
    public func elu(_ alpha: Double = 1) -> Tensor {
        unary(.elu(alpha), "elu") { g, x, _ in Tensor.chain(g, x, .eluGrad(alpha)) }
    }
    /// GELU: exact (erf) by default, or the tanh approximation.
    public func gelu(approximate: Bool = false) -> Tensor {
        approximate
            ? unary(.geluTanh, "gelu") { g, x, _ in Tensor.chain(g, x, .geluTanhGrad) }
            : unary(.gelu, "gelu") { g, x, _ in Tensor.chain(g, x, .geluGrad) }
    }
    public func silu() -> Tensor { unary(.silu, "silu") { g, x, _ in Tensor.chain(g, x, .siluGrad) } }
    /// log(1 + exp(beta x)) / beta, linear above `threshold` (as `torch.nn.functional.softplus`).
    public func softplus(beta: Double = 1, threshold: Double = 20) -> Tensor {
        unary(.softplus(beta: beta, threshold: threshold), "softplus") { g, x, _ in
            Tensor.chain(g, x, .softplusGrad(beta: beta, threshold: threshold))
        }
    }
    /// Clamps to [min, max] (either may be infinite). Gradient passes where min <= x <= max.
    public func clamp(min lo: Double = -.infinity, max hi: Double = .infinity) -> Tensor {
        precondition(!(lo > hi), "clamp: min \(lo) exceeds max \(hi)")
        return unary(.clamp(lo, hi), "clamp") { g, x, _ in Tensor.chain(g, x, .clampGrad(lo, hi)) }
    }
}
