import EmberCore
import Foundation

/// The mean and covariance of a set of feature vectors: what the Fréchet distance compares (as FID computes them:
/// the covariance with N − 1 in the denominator, numpy's `np.cov(features, rowvar=False)`).
public struct FeatureStatistics: Sendable, Equatable {
    /// Feature dimension D.
    public let dimension: Int
    /// Number of vectors.
    public let count: Int
    /// The mean, D values.
    public let mean: [Double]
    /// The covariance, D x D row-major.
    public let covariance: [Double]

    /// Statistics of `features` [N, D] (N >= 2), accumulated in double precision in a fixed order.
    public init(_ features: Tensor) {
        precondition(features.rank == 2 && features.shape[0] >= 2,
                     "FeatureStatistics: features must be [N, D] with N >= 2, got \(features.shape)")
        let n = features.shape[0], d = features.shape[1]
        let v = features.cast(.float64).toArray(Double.self)
        var mean = [Double](repeating: 0, count: d)
        for i in 0..<n { for j in 0..<d { mean[j] += v[i * d + j] } }
        for j in 0..<d { mean[j] /= Double(n) }
        // Centred values, then Cᵀ C / (N − 1) as one GEMM in float64.
        let centred = Tensor((0..<(n * d)).map { v[$0] - mean[$0 % d] }, shape: [n, d])
        let cov = matmul(centred.transposed(0, 1), centred).toArray(Double.self).map { $0 / Double(n - 1) }
        var sym = cov
        for i in 0..<d { for j in 0..<d { sym[i * d + j] = 0.5 * (cov[i * d + j] + cov[j * d + i]) } }
        self.init(mean: mean, covariance: sym, count: n)
    }

    /// Statistics given directly (e.g. precomputed reference statistics).
    public init(mean: [Double], covariance: [Double], count: Int) {
        precondition(covariance.count == mean.count * mean.count,
                     "FeatureStatistics: a covariance of \(covariance.count) values for \(mean.count) dimensions")
        dimension = mean.count
        self.count = count
        self.mean = mean
        self.covariance = covariance
    }
}

/// The Fréchet distance between two Gaussians fitted to feature sets (FID's formula, Heusel et al. 2017):
/// ‖μ₁ − μ₂‖² + tr Σ₁ + tr Σ₂ − 2 tr (Σ₁ Σ₂)^½.
///
/// The trace of the matrix square root is computed from symmetric eigendecompositions (DenseLinalg, LAPACK in float64):
/// with A = Σ₁^½, the matrix A Σ₂ A is symmetric positive semi-definite and similar to Σ₁ Σ₂, so tr (Σ₁ Σ₂)^½ is the sum
/// of the square roots of its eigenvalues. Eigenvalues within rounding of zero count as zero (those at most
/// 64 d ε times the largest: singular covariances, N ≤ D, have exact zeros that float64 gives as ±1e-15, whose square
/// roots would add ~1e-7 that depends on the BLAS and the CPU). This is `scipy.linalg.sqrtm`'s trace, the usual
/// reference, without its complex round trip, and nearer the exact value for singular covariances.
///
/// - Throws: `LinalgError` when an eigendecomposition does not converge.
public func frechetDistance(_ a: FeatureStatistics, _ b: FeatureStatistics) throws -> Double {
    precondition(a.dimension == b.dimension, "frechetDistance: feature dimensions \(a.dimension) and \(b.dimension) differ")
    let d = a.dimension
    var meanTerm = 0.0
    for j in 0..<d { meanTerm += (a.mean[j] - b.mean[j]) * (a.mean[j] - b.mean[j]) }
    var traces = 0.0
    for i in 0..<d { traces += a.covariance[i * d + i] + b.covariance[i * d + i] }
    // A = V diag(sqrt(max(λ, 0))) Vᵀ.
    let (values, vectors) = try DenseLinalg.symmetricEigen(a.covariance, n: d)
    let roots = squareRootsAboveRounding(values)
    var scaled = [Double](repeating: 0, count: d * d)   // V diag(roots), row-major
    for k in 0..<d { for i in 0..<d { scaled[i * d + k] = vectors[k][i] * roots[k] } }
    var vt = [Double](repeating: 0, count: d * d)
    for k in 0..<d { for i in 0..<d { vt[k * d + i] = vectors[k][i] } }
    let sqrtA = matmul(Tensor(scaled, shape: [d, d]), Tensor(vt, shape: [d, d]))
    let m = matmul(matmul(sqrtA, Tensor(b.covariance, shape: [d, d])), sqrtA).toArray(Double.self)
    var sym = m
    for i in 0..<d { for j in 0..<d { sym[i * d + j] = 0.5 * (m[i * d + j] + m[j * d + i]) } }
    let traceSqrt = squareRootsAboveRounding(try DenseLinalg.symmetricEigen(sym, n: d).values).reduce(0, +)
    return meanTerm + traces - 2 * traceSqrt
}

/// Square roots of a symmetric matrix's eigenvalues, with those within rounding of zero (at most 64 n ε times the
/// largest magnitude) taken as zero.
private func squareRootsAboveRounding(_ values: [Double]) -> [Double] {
    let tolerance = (values.map(Swift.abs).max() ?? 0) * Double(64 * values.count) * Double.ulpOfOne
    return values.map { $0 > tolerance ? $0.squareRoot() : 0 }
}

/// The Fréchet distance between two feature sets [N, D] and [M, D] (see `frechetDistance(_:_:)`).
public func frechetDistance(_ a: Tensor, _ b: Tensor) throws -> Double {
    try frechetDistance(FeatureStatistics(a), FeatureStatistics(b))
}
