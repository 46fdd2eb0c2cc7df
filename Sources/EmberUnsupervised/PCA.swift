import EmberCore

/// Principal component analysis by the exact thin SVD of the centred data, as scikit-learn's
/// `PCA(svd_solver="full")`: the same centring, components with the same sign convention (`svd_flip` on the
/// components: each one's largest-magnitude entry is positive), explained variance with the n − 1 denominator, the
/// probabilistic-PCA noise variance, and whitening. Float64 throughout.
///
/// ```swift
/// var pca = PCA(components: .count(2))
/// let codes = try pca.fitTransform(rows)          // [[Double]], 2 per row
/// print(pca.explainedVarianceRatio)
/// ```
public struct PCA: Sendable {
    /// How many components to keep.
    public enum Components: Sendable, Equatable {
        /// Every component: min(samples, features).
        case all
        /// This many (1...min(samples, features)).
        case count(Int)
        /// The fewest components whose explained variance ratios add up to more than this fraction (0 < f < 1).
        case varianceFraction(Double)
    }

    /// The requested number of components.
    public var requested: Components
    /// Whether `transform` divides each component by its standard deviation (unit-variance outputs).
    public var whiten: Bool

    /// The per-feature mean subtracted before projecting.
    public private(set) var mean: [Double] = []
    /// The principal axes, one unit row per component, by decreasing explained variance.
    public private(set) var components: [[Double]] = []
    /// The variance of the data along each component (eigenvalues of the covariance matrix, n − 1 denominator).
    public private(set) var explainedVariance: [Double] = []
    /// Each component's share of the total variance.
    public private(set) var explainedVarianceRatio: [Double] = []
    /// The singular values of the centred data for the kept components.
    public private(set) var singularValues: [Double] = []
    /// The mean of the discarded eigenvalues (0 when every component is kept).
    public private(set) var noiseVariance: Double = 0
    /// Samples and features seen by `fit`.
    public private(set) var samplesSeen = 0, featuresSeen = 0

    /// A PCA keeping `components`, optionally whitening.
    public init(components: Components = .all, whiten: Bool = false) {
        requested = components
        self.whiten = whiten
    }

    /// Whether `fit` has run.
    public var isFitted: Bool { !components.isEmpty }

    /// Fits the components to `x` (rows are samples).
    /// - Throws: `UnsupervisedError` for empty or ragged data, non-finite values, fewer than 2 samples, or a component
    ///   count outside 1...min(samples, features) / a fraction outside (0, 1).
    public mutating func fit(_ x: [[Double]]) throws(UnsupervisedError) {
        let op = "PCA.fit"
        let m = try RowMatrix(checking: x, op, minRows: 2)
        let n = m.rows, p = m.cols, kMax = Swift.min(n, p)
        switch requested {
        case .all: break
        case .count(let k):
            guard k >= 1 && k <= kMax else {
                throw UnsupervisedError(op, "components \(k) must be between 1 and min(samples, features) = \(kMax) (\(n) samples, \(p) features)")
            }
        case .varianceFraction(let f):
            guard f > 0 && f < 1 else { throw UnsupervisedError(op, "a variance fraction must be in (0, 1), got \(f)") }
        }
        var mu = [Double](repeating: 0, count: p)
        for r in 0..<n { for c in 0..<p { mu[c] += m[r, c] } }
        for c in 0..<p { mu[c] /= Double(n) }
        var centred = m.values
        for r in 0..<n { for c in 0..<p { centred[r * p + c] -= mu[c] } }
        let svd: (u: [Double], s: [Double], vt: [Double])
        do { svd = try DenseLinalg.svd(centred, rows: n, cols: p) } catch {
            throw UnsupervisedError(op, "the SVD failed: \(error)")
        }
        var vt = (0..<kMax).map { Array(svd.vt[($0 * p)..<(($0 + 1) * p)]) }
        // svd_flip(u_based_decision=False): the entry of largest magnitude in each component is made positive.
        for i in vt.indices {
            var best = 0
            for j in 1..<p where Swift.abs(vt[i][j]) > Swift.abs(vt[i][best]) { best = j }
            if vt[i][best] < 0 { vt[i] = vt[i].map { -$0 } }
        }
        let variance = svd.s.map { $0 * $0 / Double(n - 1) }
        let total = variance.reduce(0, +)
        let ratio = variance.map { $0 / total }
        var k: Int
        switch requested {
        case .all: k = kMax
        case .count(let c): k = c
        case .varianceFraction(let f):
            // searchsorted(cumsum, f, side="right") + 1: the first component whose cumulative ratio exceeds f.
            var cum = 0.0
            k = kMax
            for (i, r) in ratio.enumerated() {
                cum += r
                if cum > f { k = i + 1; break }
            }
            k = Swift.min(k, kMax)
        }
        noiseVariance = k < kMax ? variance[k...].reduce(0, +) / Double(kMax - k) : 0
        mean = mu
        components = Array(vt[0..<k])
        explainedVariance = Array(variance[0..<k])
        explainedVarianceRatio = Array(ratio[0..<k])
        singularValues = Array(svd.s[0..<k])
        samplesSeen = n
        featuresSeen = p
    }

    /// Projects `x` onto the components (whitened when `whiten` is on).
    /// - Throws: `UnsupervisedError` when not fitted, or for rows of the wrong width or with non-finite values.
    public func transform(_ x: [[Double]]) throws(UnsupervisedError) -> [[Double]] {
        let op = "PCA.transform"
        guard isFitted else { throw UnsupervisedError(op, "call fit first") }
        if x.isEmpty { return [] }
        let m = try RowMatrix(checking: x, op)
        guard m.cols == featuresSeen else { throw UnsupervisedError(op, "rows have \(m.cols) features; the PCA was fitted on \(featuresSeen)") }
        let scale = whiten ? explainedVariance.map { 1 / $0.squareRoot() } : nil
        return (0..<m.rows).map { r in
            components.indices.map { k in
                var s = 0.0
                let comp = components[k]
                for c in 0..<m.cols { s += (m[r, c] - mean[c]) * comp[c] }
                return scale.map { s * $0[k] } ?? s
            }
        }
    }

    /// `fit` then `transform` on the same rows.
    public mutating func fitTransform(_ x: [[Double]]) throws(UnsupervisedError) -> [[Double]] {
        try fit(x)
        return try transform(x)
    }

    /// Maps component coordinates back to feature space (the reconstruction from the kept components).
    /// - Throws: `UnsupervisedError` when not fitted or for rows that do not have one value per component.
    public func inverseTransform(_ codes: [[Double]]) throws(UnsupervisedError) -> [[Double]] {
        let op = "PCA.inverseTransform"
        guard isFitted else { throw UnsupervisedError(op, "call fit first") }
        if codes.isEmpty { return [] }
        let m = try RowMatrix(checking: codes, op)
        guard m.cols == components.count else {
            throw UnsupervisedError(op, "rows have \(m.cols) values; the PCA has \(components.count) components")
        }
        let scale = whiten ? explainedVariance.map { $0.squareRoot() } : nil
        return (0..<m.rows).map { r in
            var out = mean
            for k in 0..<m.cols {
                let a = m[r, k] * (scale?[k] ?? 1)
                let comp = components[k]
                for c in 0..<featuresSeen { out[c] += a * comp[c] }
            }
            return out
        }
    }
}
