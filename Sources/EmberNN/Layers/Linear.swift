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

    /// LoRA's down projection A [rank, in] when an adapter is attached (`addLoRA`); saved as `lora_A`.
    public private(set) var loraA: Tensor?
    /// LoRA's up projection B [out, rank] (starts at zero, so the adapted layer starts as the base); saved as `lora_B`.
    public private(set) var loraB: Tensor?
    /// alpha / rank: the factor on the adapter's output.
    public private(set) var loraScaling = 0.0

    override public var stateKeys: [String: String] { ["loraA": "lora_A", "loraB": "lora_B"] }

    override public func forward(_ x: Tensor) -> Tensor {
        let y = linear(x, weight, bias)
        guard let a = loraA, let b = loraB else { return y }
        return y + linear(linear(x, a), b) * loraScaling
    }

    /// Attaches a low-rank adapter (LoRA): the layer computes `x Wᵀ + b + (alpha / rank) · x Aᵀ Bᵀ` with A
    /// [rank, in] drawn as PyTorch's Linear weights are and B [out, rank] zero, and freezes `weight` and `bias`, so
    /// training changes A and B only. `mergeLoRA()` (on this layer or any model holding it) folds the adapter into `weight` for export.
    public func addLoRA(rank: Int, alpha: Double, generator: Generator = .default) {
        precondition(rank >= 1 && rank <= Swift.min(inFeatures, outFeatures),
                     "Linear.addLoRA: rank \(rank) must be in 1...\(Swift.min(inFeatures, outFeatures)) for Linear(\(inFeatures), \(outFeatures))")
        precondition(loraA == nil, "Linear.addLoRA: the layer already has an adapter (merge it first)")
        precondition(alpha > 0 && alpha.isFinite, "Linear.addLoRA: alpha must be positive, got \(alpha)")
        let a = Tensor.zeros([rank, inFeatures], dtype: weight.dtype, on: weight.backend)
        Init.kaimingUniform(a, a: 5.0.squareRoot(), generator: generator)
        a.requiresGrad = true
        let b = Tensor.zeros([outFeatures, rank], dtype: weight.dtype, on: weight.backend)
        b.requiresGrad = true
        loraA = a; loraB = b; loraScaling = alpha / Double(rank)
        weight.requiresGrad = false
        bias?.requiresGrad = false
    }

    /// Folds this layer's adapter into `weight` (W + (alpha / rank) · B A) and removes it (`Module.mergeLoRA()`
    /// does this for every layer of a model). `weight` and `bias` stay frozen.
    func mergeOwnLoRA() {
        guard let a = loraA, let b = loraB else { return }
        withoutGrad { weight.assign(weight + matmul(b, a) * loraScaling) }
        loraA = nil; loraB = nil; loraScaling = 0
    }

    override public var layerDescription: String {
        "Linear(\(inFeatures), \(outFeatures)\(bias == nil ? ", bias: false" : "")\(loraA.map { ", lora rank \($0.shape[0])" } ?? ""))"
    }
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
