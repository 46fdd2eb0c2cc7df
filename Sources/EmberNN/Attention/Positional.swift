import Foundation

/// Fixed sinusoidal position encodings ("Attention is all you need"): pe[pos, 2i] = sin(pos / 10000^(2i/d)),
/// pe[pos, 2i+1] = cos(pos / 10000^(2i/d)), added to a batch-first input [N, T, d]. No parameters; the table is a
/// non-persistent buffer, as in PyTorch's tutorial `PositionalEncoding`.
public final class SinusoidalPositionalEncoding: Module {
    @Buffer(wrappedValue: Tensor.zeros([0]), persistent: false) public var pe: Tensor
    public let dModel: Int, maxLength: Int

    /// A table for positions 0..<maxLength of width dModel.
    public init(dModel: Int, maxLength: Int = 5000) {
        precondition(dModel > 0 && maxLength > 0, "SinusoidalPositionalEncoding: d_model and max_len must be positive")
        self.dModel = dModel; self.maxLength = maxLength
        var v = [Float](repeating: 0, count: maxLength * dModel)
        for pos in 0..<maxLength {
            for i in stride(from: 0, to: dModel, by: 2) {
                let angle = Double(pos) * Foundation.exp(Double(i) * -Foundation.log(10000.0) / Double(dModel))
                v[pos * dModel + i] = Float(Foundation.sin(angle))
                if i + 1 < dModel { v[pos * dModel + i + 1] = Float(Foundation.cos(angle)) }
            }
        }
        _pe = Buffer(wrappedValue: Tensor(v, shape: [maxLength, dModel]), persistent: false)
    }

    /// x [N, T, d] + pe[offset..<offset+T].
    public func callAsFunction(_ x: Tensor, offset: Int = 0) -> Tensor {
        let T = x.shape[x.rank - 2]
        precondition(x.shape.last == dModel && offset >= 0 && offset + T <= maxLength,
                     "SinusoidalPositionalEncoding: input \(x.shape) at offset \(offset) exceeds [\(maxLength), \(dModel)]")
        return x + pe.slice(axis: 0, start: offset, end: offset + T).cast(x.dtype).to(x.device)
    }

    override public func forward(_ x: Tensor) -> Tensor { self(x, offset: 0) }
}

/// Learned absolute position embeddings: `weight` [maxLength, dim] (N(0, 1) initially, as `nn.Embedding`), row t
/// added at position t of a batch-first input [N, T, dim].
public final class LearnedPositionalEmbedding: Module {
    public let weight: Tensor
    public let maxLength: Int

    public init(maxLength: Int, dim: Int, generator: Generator = .default) {
        self.maxLength = maxLength
        weight = makeParameter([maxLength, dim]) { Init.normal($0, generator: generator) }
    }

    /// The embeddings of positions offset..<offset+T: [T, dim].
    public func positions(_ T: Int, offset: Int = 0) -> Tensor {
        precondition(offset >= 0 && offset + T <= maxLength,
                     "LearnedPositionalEmbedding: positions \(offset)..<\(offset + T) exceed max length \(maxLength)")
        return weight.slice(axis: 0, start: offset, end: offset + T)
    }

    /// x [N, T, dim] + positions(T, offset).
    public func callAsFunction(_ x: Tensor, offset: Int = 0) -> Tensor { x + positions(x.shape[x.rank - 2], offset: offset) }

    override public func forward(_ x: Tensor) -> Tensor { self(x, offset: 0) }
}

/// Rotary position embeddings (RoFormer; the "rotate half" layout of GPT-NeoX and Llama): for x [..., T, d] at
/// positions offset..<offset+T, x * cos(θ) + rotate_half(x) * sin(θ), with θ[t, i] = t / base^(2i/d) for the first
/// d/2 features, repeated for the second half, and rotate_half(x) = [-x2, x1]. Applied to queries and keys before
/// attention, so scores depend on relative positions only. No parameters.
public final class RotaryEmbedding: Module {
    public let dim: Int
    public let base: Double

    public init(dim: Int, base: Double = 10000) {
        precondition(dim > 0 && dim % 2 == 0, "RotaryEmbedding: dim must be even and positive, got \(dim)")
        self.dim = dim; self.base = base
    }

    /// cos and sin tables [T, dim] for positions offset..<offset+T.
    public func tables(_ T: Int, offset: Int = 0, dtype: DType = .float32) -> (cos: Tensor, sin: Tensor) {
        var c = [Double](repeating: 0, count: T * dim), s = c
        let half = dim / 2
        for t in 0..<T {
            for i in 0..<half {
                let invFreq = 1 / Foundation.pow(base, Double(2 * i) / Double(dim))
                let angle = Double(t + offset) * invFreq
                c[t * dim + i] = Foundation.cos(angle); c[t * dim + half + i] = c[t * dim + i]
                s[t * dim + i] = Foundation.sin(angle); s[t * dim + half + i] = s[t * dim + i]
            }
        }
        return (Tensor(c, shape: [T, dim], dtype: dtype), Tensor(s, shape: [T, dim], dtype: dtype))
    }

    /// x [..., T, dim] rotated by position.
    public func callAsFunction(_ x: Tensor, offset: Int = 0) -> Tensor {
        precondition(x.rank >= 2 && x.shape.last == dim, "RotaryEmbedding: input \(x.shape) must end with [T, \(dim)]")
        let T = x.shape[x.rank - 2], half = dim / 2
        let (c, s) = DefaultBackend.with(x.backend) { tables(T, offset: offset, dtype: x.dtype) }
        let x1 = x.slice(axis: -1, start: 0, end: half), x2 = x.slice(axis: -1, start: half, end: dim)
        let rotated = concat([x2 * -1, x1], axis: -1)
        return x * c + rotated * s
    }

    override public func forward(_ x: Tensor) -> Tensor { self(x, offset: 0) }
}
