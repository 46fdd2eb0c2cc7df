import Foundation

/// Weight initializers, in place, as `torch.nn.init`. Each draws from a `Generator` (default: `Generator.default`).
public enum Init {
    /// (fan_in, fan_out) of a weight as PyTorch computes them: dims 1 and 0 times the receptive field.
    public static func fans(_ t: Tensor) -> (Int, Int) {
        precondition(t.rank >= 2, "Init.fans: needs at least 2 dimensions, got \(t.shape)")
        let receptive = t.shape.dropFirst(2).reduce(1, *)
        return (t.shape[1] * receptive, t.shape[0] * receptive)
    }

    /// The recommended gain for a nonlinearity ("linear", "relu", "leaky_relu", "tanh", "sigmoid", "selu").
    public static func gain(_ nonlinearity: String, param: Double = 0.01) -> Double {
        switch nonlinearity {
        case "relu": return 2.0.squareRoot()
        case "leaky_relu": return (2.0 / (1 + param * param)).squareRoot()
        case "tanh": return 5.0 / 3
        case "selu": return 0.75
        default: return 1
        }
    }

    /// Uniform in [low, high).
    public static func uniform(_ t: Tensor, low: Double, high: Double, generator: Generator = .default) {
        let v = generator.withState { Tensor.uniform(t.shape, low: low, high: high, dtype: t.dtype, rng: &$0) }
        t.assign(v)
    }

    /// Normal with mean and std.
    public static func normal(_ t: Tensor, mean: Double = 0, std: Double = 1, generator: Generator = .default) {
        let v = generator.withState { Tensor.normal(t.shape, mean: mean, std: std, dtype: t.dtype, rng: &$0) }
        t.assign(v)
    }

    /// Kaiming/He uniform: bound = gain * sqrt(3 / fan), fan = fan_in (default) or fan_out.
    public static func kaimingUniform(_ t: Tensor, a: Double = 0, fanOut: Bool = false, nonlinearity: String = "leaky_relu",
                                      generator: Generator = .default) {
        let (fi, fo) = fans(t)
        let bound = gain(nonlinearity, param: a) * (3.0 / Double(fanOut ? fo : fi)).squareRoot()
        uniform(t, low: -bound, high: bound, generator: generator)
    }

    /// Kaiming/He normal: std = gain / sqrt(fan).
    public static func kaimingNormal(_ t: Tensor, a: Double = 0, fanOut: Bool = false, nonlinearity: String = "leaky_relu",
                                     generator: Generator = .default) {
        let (fi, fo) = fans(t)
        normal(t, std: gain(nonlinearity, param: a) / Double(fanOut ? fo : fi).squareRoot(), generator: generator)
    }

    /// Xavier/Glorot uniform: bound = gain * sqrt(6 / (fan_in + fan_out)).
    public static func xavierUniform(_ t: Tensor, gain g: Double = 1, generator: Generator = .default) {
        let (fi, fo) = fans(t)
        let bound = g * (6.0 / Double(fi + fo)).squareRoot()
        uniform(t, low: -bound, high: bound, generator: generator)
    }

    /// Xavier/Glorot normal: std = gain * sqrt(2 / (fan_in + fan_out)).
    public static func xavierNormal(_ t: Tensor, gain g: Double = 1, generator: Generator = .default) {
        let (fi, fo) = fans(t)
        normal(t, std: g * (2.0 / Double(fi + fo)).squareRoot(), generator: generator)
    }

    /// A (semi-)orthogonal matrix (rows of the flattened [dim0, rest] weight orthonormal, or columns when taller),
    /// from the QR decomposition of a normal sample with R's diagonal made positive, times `gain`.
    public static func orthogonal(_ t: Tensor, gain g: Double = 1, generator: Generator = .default) {
        precondition(t.rank >= 2, "Init.orthogonal: needs at least 2 dimensions, got \(t.shape)")
        let rows = t.shape[0], cols = t.count / Swift.max(rows, 1)
        let tall = rows >= cols
        let (m, n) = tall ? (rows, cols) : (cols, rows)   // work on an m x n matrix with m >= n
        let sample = generator.withState { Tensor.normal([m, n], dtype: .float64, rng: &$0) }.toArray(Double.self)
        // Modified Gram-Schmidt on the columns: Q has orthonormal columns, R's diagonal is positive.
        var q = sample
        for j in 0..<n {
            for k in 0..<j {
                var dot = 0.0
                for i in 0..<m { dot += q[i * n + k] * q[i * n + j] }
                for i in 0..<m { q[i * n + j] -= dot * q[i * n + k] }
            }
            var norm = 0.0
            for i in 0..<m { norm += q[i * n + j] * q[i * n + j] }
            norm = norm.squareRoot()
            for i in 0..<m { q[i * n + j] /= norm }
        }
        var result = Tensor(q.map { $0 * g }, shape: [m, n])
        if !tall { result = result.transposed().contiguous() }
        t.assign(result.reshaped(t.shape).cast(t.dtype))
    }

    /// Sets every element to `value`.
    public static func constant(_ t: Tensor, _ value: Double) { t.fill(value) }
    /// Zeros.
    public static func zeros(_ t: Tensor) { t.fill(0) }
    /// Ones.
    public static func ones(_ t: Tensor) { t.fill(1) }
}

/// A parameter tensor (requires gradients) of `shape`, filled by `initialize`.
func makeParameter(_ shape: [Int], _ initialize: (Tensor) -> Void) -> Tensor {
    let t = Tensor.zeros(shape)
    initialize(t)
    t.requiresGrad = true
    return t
}
