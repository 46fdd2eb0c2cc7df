import Foundation
import Testing
@testable import EmberNN

// Initializers cannot match PyTorch's random bits, so these tests check the distributions PyTorch documents
// (torch.nn.init): bounds of the uniform variants, standard deviations of the normal ones, orthogonality, fans.
// Statistical tolerances: on n = 32768 samples the sample std has relative standard error ~1/sqrt(2n) = 0.4% and the
// mean has standard error std/sqrt(n) = 0.55% of std, so a 3% band is > 5 standard errors (flake odds < 1e-6 per
// check, and draws are seeded so a run is reproducible anyway). A wrong gain or fan is off by >= 15% (sqrt(2/3) or
// more), far outside the band. For uniforms the sample max is within 0.1% of the bound with probability
// 1 - 0.999^16384 ~ 1 - 8e-8 per side.

private func stats(_ t: Tensor) -> (mean: Double, std: Double, maxAbs: Double, min: Double, max: Double) {
    let v = t.toArray(Double.self)
    let mean = v.reduce(0, +) / Double(v.count)
    let variance = v.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(v.count)
    return (mean, variance.squareRoot(), v.map(Swift.abs).max()!, v.min()!, v.max()!)
}

private func expectUniform(_ t: Tensor, bound: Double, _ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
    let s = stats(t)
    #expect(s.min >= -bound && s.max <= bound, "\(what): outside [-\(bound), \(bound)]", sourceLocation: sourceLocation)
    #expect(s.min < -0.999 * bound && s.max > 0.999 * bound, "\(what): does not reach the bound \(bound)",
            sourceLocation: sourceLocation)
    #expect(Swift.abs(s.mean) < 0.03 * bound / 3.0.squareRoot(), "\(what): mean \(s.mean)", sourceLocation: sourceLocation)
    #expect(Swift.abs(s.std / (bound / 3.0.squareRoot()) - 1) < 0.03, "\(what): std \(s.std)", sourceLocation: sourceLocation)
}

private func expectNormal(_ t: Tensor, mean: Double = 0, std: Double, _ what: String,
                          sourceLocation: SourceLocation = #_sourceLocation) {
    let s = stats(t)
    #expect(Swift.abs(s.mean - mean) < 0.03 * std, "\(what): mean \(s.mean), expected \(mean)", sourceLocation: sourceLocation)
    #expect(Swift.abs(s.std / std - 1) < 0.03, "\(what): std \(s.std), expected \(std)", sourceLocation: sourceLocation)
}

/// Max |A - B| over elements.
private func maxDiff(_ a: Tensor, _ b: Tensor) -> Double {
    zip(a.toArray(Double.self), b.toArray(Double.self)).map { Swift.abs($0 - $1) }.max() ?? 0
}

@Suite struct InitTests {
    let gen = Generator(seed: 1234)

    @Test func fansFollowPyTorch() {
        #expect(Init.fans(Tensor.zeros([8, 5])) == (5, 8))                 // Linear [out, in]
        #expect(Init.fans(Tensor.zeros([16, 4, 3, 3])) == (36, 144))       // Conv2d: times the receptive field
        #expect(Init.fans(Tensor.zeros([6, 2, 5])) == (10, 30))            // Conv1d
    }

    @Test func kaimingUniform() {
        let w = Tensor.zeros([256, 128])
        Init.kaimingUniform(w, nonlinearity: "relu", generator: gen)
        expectUniform(w, bound: 2.0.squareRoot() * (3.0 / 128).squareRoot(), "kaiming uniform relu fan_in")
        Init.kaimingUniform(w, fanOut: true, nonlinearity: "relu", generator: gen)
        expectUniform(w, bound: 2.0.squareRoot() * (3.0 / 256).squareRoot(), "kaiming uniform relu fan_out")
        // leaky_relu with a = sqrt(5): PyTorch's default Linear/Conv weight init, bound 1/sqrt(fan_in)
        let c = Tensor.zeros([64, 8, 8, 8])
        Init.kaimingUniform(c, a: 5.0.squareRoot(), generator: gen)
        expectUniform(c, bound: 1 / 512.0.squareRoot(), "kaiming uniform a=sqrt5 conv")
    }

    @Test func kaimingNormal() {
        let w = Tensor.zeros([128, 256])
        Init.kaimingNormal(w, nonlinearity: "relu", generator: gen)
        expectNormal(w, std: (2.0 / 256).squareRoot(), "kaiming normal relu fan_in")
        Init.kaimingNormal(w, a: 0.2, fanOut: true, generator: gen)
        expectNormal(w, std: (2.0 / 1.04).squareRoot() / 128.0.squareRoot(), "kaiming normal leaky 0.2 fan_out")
    }

    @Test func xavier() {
        let c = Tensor.zeros([32, 16, 8, 8])      // fan_in 1024, fan_out 2048
        Init.xavierUniform(c, generator: gen)
        expectUniform(c, bound: (6.0 / 3072).squareRoot(), "xavier uniform conv")
        Init.xavierUniform(c, gain: 5.0 / 3, generator: gen)
        expectUniform(c, bound: 5.0 / 3 * (6.0 / 3072).squareRoot(), "xavier uniform tanh gain")
        let w = Tensor.zeros([256, 128])
        Init.xavierNormal(w, generator: gen)
        expectNormal(w, std: (2.0 / 384).squareRoot(), "xavier normal")
    }

    @Test func plainDistributions() {
        let w = Tensor.zeros([32768])
        Init.uniform(w, low: -0.5, high: 1.5, generator: gen)
        let s = stats(w)
        #expect(s.min >= -0.5 && s.max < 1.5 && s.min < -0.498 && s.max > 1.498)
        #expect(Swift.abs(s.mean - 0.5) < 0.03 * 2 / 12.0.squareRoot())
        Init.normal(w, mean: 2, std: 0.5, generator: gen)
        expectNormal(w, mean: 2, std: 0.5, "normal(2, 0.5)")
        Init.constant(w, 0.25)
        #expect(w.toArray(Float.self).allSatisfy { $0 == 0.25 })
        Init.zeros(w); #expect(w.toArray(Float.self).allSatisfy { $0 == 0 })
        Init.ones(w); #expect(w.toArray(Float.self).allSatisfy { $0 == 1 })
    }

    /// Orthogonal: rows orthonormal for a wide matrix (W Wᵀ = I), columns for a tall one (Wᵀ W = I), gain scales,
    /// a conv weight is flattened to [out, in*k*k]. Float32 storage: entries carry ~6e-8 relative rounding, so
    /// the dot products of n <= 36 terms are exact to ~1e-6; 1e-5 is a safe bound, and a non-orthogonal matrix of
    /// normal samples is off by O(1).
    @Test func orthogonal() {
        let wide = Tensor.zeros([8, 20])
        Init.orthogonal(wide, generator: gen)
        #expect(maxDiff(wide.matmul(wide.transposed()), Tensor.eye(8)) < 1e-5)
        let tall = Tensor.zeros([20, 8])
        Init.orthogonal(tall, gain: 2, generator: gen)
        #expect(maxDiff(tall.transposed().matmul(tall), Tensor.eye(8) * 4) < 4e-5)
        let conv = Tensor.zeros([4, 2, 3, 3])
        Init.orthogonal(conv, generator: gen)
        let flat = conv.reshaped([4, 18])
        #expect(maxDiff(flat.matmul(flat.transposed()), Tensor.eye(4)) < 1e-5)
        let square = Tensor.zeros([6, 6])
        Init.orthogonal(square, generator: gen)
        #expect(maxDiff(square.matmul(square.transposed()), Tensor.eye(6)) < 1e-5)
        #expect(maxDiff(square.transposed().matmul(square), Tensor.eye(6)) < 1e-5)
    }

    @Test func seededDrawsRepeat() {
        let a = Tensor.zeros([5, 7]), b = Tensor.zeros([5, 7])
        Init.kaimingUniform(a, generator: Generator(seed: 9))
        Init.kaimingUniform(b, generator: Generator(seed: 9))
        #expect(a.toArray(Float.self) == b.toArray(Float.self))
    }

    /// Layer defaults are PyTorch's: Linear/Conv weight and bias U(-1/sqrt(fan_in), 1/sqrt(fan_in)), Embedding
    /// N(0, 1), norm layers weight 1 and bias 0, BatchNorm running statistics 0 and 1.
    @Test func layerDefaults() {
        let lin = Linear(200, 300, generator: gen)
        expectUniform(lin.weight, bound: 1 / 200.0.squareRoot(), "Linear weight")
        let b = stats(lin.bias!)
        #expect(b.maxAbs <= 1 / 200.0.squareRoot() && b.maxAbs > 0.9 / 200.0.squareRoot())
        let conv = Conv2d(16, 64, kernel: 4, generator: gen)
        expectUniform(conv.weight, bound: 1 / 256.0.squareRoot(), "Conv2d weight")
        #expect(stats(conv.bias!).maxAbs <= 1 / 256.0.squareRoot())
        let emb = Embedding(512, 64, generator: gen)
        expectNormal(emb.weight, std: 1, "Embedding weight")
        let bn = BatchNorm2d(3)
        #expect(bn.weight!.toArray(Float.self) == [1, 1, 1] && bn.bias!.toArray(Float.self) == [0, 0, 0])
        #expect(bn.runningMean.toArray(Float.self) == [0, 0, 0] && bn.runningVar.toArray(Float.self) == [1, 1, 1])
        let ln = LayerNorm([2, 3])
        #expect(ln.weight!.toArray(Float.self) == [Float](repeating: 1, count: 6))
        #expect(ln.bias!.toArray(Float.self) == [Float](repeating: 0, count: 6))
    }
}
