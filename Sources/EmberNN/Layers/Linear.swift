/// y = x Wᵀ + b. Weight [out, in] and bias [out] start as PyTorch's: U(-1/√in, 1/√in).
public final class Linear: Module {
    public let weight: Tensor
    public let bias: Tensor?
    public let inFeatures: Int, outFeatures: Int

    public init(_ inFeatures: Int, _ outFeatures: Int, bias: Bool = true, generator: Generator = .default) {
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        let bound = 1 / Double(Swift.max(inFeatures, 1)).squareRoot()
        weight = makeParameter([outFeatures, inFeatures]) { Init.kaimingUniform($0, a: 5.0.squareRoot(), generator: generator) }
        self.bias = bias ? makeParameter([outFeatures]) { Init.uniform($0, low: -bound, high: bound, generator: generator) } : nil
    }

    /// A layer over existing tensors: weight [out, in] and bias [out] or nil. Passing another module's tensor shares
    /// it (weight tying: `Linear(weight: embedding.weight, bias: nil)` is the tied output projection of a language
    /// model; the tensor is one parameter saved under both names).
    public init(weight: Tensor, bias: Tensor?) {
        precondition(weight.rank == 2 && (bias == nil || bias!.shape == [weight.shape[0]]),
                     "Linear: weight must be [out, in] and bias [out], got \(weight.shape) and \(bias?.shape ?? [])")
        self.weight = weight
        self.bias = bias
        outFeatures = weight.shape[0]
        inFeatures = weight.shape[1]
        weight.requiresGrad = true
        bias?.requiresGrad = true
    }

    override public func forward(_ x: Tensor) -> Tensor { linear(x, weight, bias) }
    override public var layerDescription: String { "Linear(\(inFeatures), \(outFeatures)\(bias == nil ? ", bias: false" : ""))" }
}

/// Lookup table: integer indices -> rows of weight [count, dim], initialized N(0, 1).
public final class Embedding: Module {
    public let weight: Tensor

    public init(_ count: Int, _ dim: Int, generator: Generator = .default) {
        weight = makeParameter([count, dim]) { Init.normal($0, generator: generator) }
    }

    override public func forward(_ x: Tensor) -> Tensor { embedding(x, weight) }
    override public var layerDescription: String { "Embedding(\(weight.shape[0]), \(weight.shape[1]))" }
}

/// Flattens dimensions start...end (default: all but the batch).
public final class Flatten: Module {
    public let start: Int, end: Int
    public init(start: Int = 1, end: Int = -1) { self.start = start; self.end = end }
    override public func forward(_ x: Tensor) -> Tensor { x.flattened(from: start, to: end) }
}

/// Inverted dropout with probability p, active in training mode only. Draws from its own generator stream
/// (forked from the one given), so results depend only on the seed.
public final class Dropout: Module {
    public let p: Double
    public let generator: Generator

    public init(_ p: Double = 0.5, generator: Generator = .default) {
        precondition(p >= 0 && p <= 1, "Dropout: p must be in [0, 1], got \(p)")
        self.p = p
        self.generator = generator.fork()
    }

    override public func forward(_ x: Tensor) -> Tensor {
        guard training && p > 0 else { return x }
        return generator.withState { x.dropout(p, training: true, rng: &$0) }
    }
    override public var layerDescription: String { "Dropout(\(p))" }
}

/// The identity.
public final class Identity: Module {
    override public init() { super.init() }
    override public func forward(_ x: Tensor) -> Tensor { x }
}
