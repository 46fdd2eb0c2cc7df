/// ReLU layer.
public final class ReLU: Module {
    override public init() { super.init() }
    override public func forward(_ x: Tensor) -> Tensor { x.relu() }
}
/// Leaky ReLU layer.
public final class LeakyReLU: Module {
    public let slope: Double
    public init(_ slope: Double = 0.01) { self.slope = slope }
    override public func forward(_ x: Tensor) -> Tensor { x.leakyRelu(slope) }
}
/// ELU layer.
public final class ELU: Module {
    public let alpha: Double
    public init(_ alpha: Double = 1) { self.alpha = alpha }
    override public func forward(_ x: Tensor) -> Tensor { x.elu(alpha) }
}
/// GELU layer (exact, or the tanh approximation).
public final class GELU: Module {
    public let approximate: Bool
    public init(approximate: Bool = false) { self.approximate = approximate }
    override public func forward(_ x: Tensor) -> Tensor { x.gelu(approximate: approximate) }
}
/// SiLU (swish) layer.
public final class SiLU: Module {
    override public init() { super.init() }
    override public func forward(_ x: Tensor) -> Tensor { x.silu() }
}
/// Tanh layer.
public final class Tanh: Module {
    override public init() { super.init() }
    override public func forward(_ x: Tensor) -> Tensor { x.tanh() }
}
/// Sigmoid layer.
public final class Sigmoid: Module {
    override public init() { super.init() }
    override public func forward(_ x: Tensor) -> Tensor { x.sigmoid() }
}
/// Softmax layer along an axis.
public final class Softmax: Module {
    public let axis: Int
    public init(axis: Int = -1) { self.axis = axis }
    override public func forward(_ x: Tensor) -> Tensor { x.softmax(axis: axis) }
}
