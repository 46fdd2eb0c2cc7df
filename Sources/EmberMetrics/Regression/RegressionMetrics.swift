import EmberCore
import Foundation

/// Regression scores of one output (or their uniform average over outputs).
public struct RegressionScores: Sendable, Hashable {
    /// Mean squared error (`mean_squared_error`).
    public var meanSquaredError: Double
    /// Square root of the MSE (`root_mean_squared_error`; averaged over outputs after the root).
    public var rootMeanSquaredError: Double
    /// Mean absolute error (`mean_absolute_error`).
    public var meanAbsoluteError: Double
    /// Mean of |error| / max(|y|, eps) (`mean_absolute_percentage_error`; a fraction, not a percentage).
    public var meanAbsolutePercentageError: Double
    /// Coefficient of determination (`r2_score`, `force_finite=True`).
    public var r2: Double
    /// Explained variance (`explained_variance_score`, `force_finite=True`).
    public var explainedVariance: Double
}

/// What a ``RegressionAccumulator`` has seen: scores per output and their uniform average (scikit-learn's default
/// `multioutput="uniform_average"`).
public struct RegressionSummary: Sendable, Hashable {
    /// Number of samples.
    public let count: Int
    /// Scores of each output (`multioutput="raw_values"`).
    public let perOutput: [RegressionScores]
    /// The uniform average over outputs.
    public let average: RegressionScores
    /// scikit-learn's warnings for these inputs (R² with fewer than two samples).
    public let warnings: [MetricWarning]
}

/// Streaming regression metrics in constant memory: per output, the sample count, sums of squared, absolute and
/// relative errors, and mean and centred sum of squares of the targets and the residuals (merged between batches
/// with Chan et al.'s update, so the result does not depend on how the data is split).
///
/// ```swift
/// var acc = RegressionAccumulator()
/// for (x, y) in loader { try acc.update(predictions: model(x), targets: y) }
/// print(acc.finalize().average.r2)
/// ```
public struct RegressionAccumulator: Sendable {
    struct Stats: Sendable {
        var n = 0.0, sse = 0.0, sae = 0.0, sape = 0.0
        var meanY = 0.0, m2Y = 0.0, meanR = 0.0, m2R = 0.0

        static func batch(_ y: [Double], _ r: [Double]) -> Stats {
            var s = Stats()
            s.n = Double(y.count)
            let eps = Double.ulpOfOne
            for i in y.indices {
                s.sse += r[i] * r[i]
                s.sae += Swift.abs(r[i])
                s.sape += Swift.abs(r[i]) / Swift.max(Swift.abs(y[i]), eps)
            }
            s.meanY = y.reduce(0, +) / s.n
            s.meanR = r.reduce(0, +) / s.n
            for i in y.indices {
                s.m2Y += (y[i] - s.meanY) * (y[i] - s.meanY)
                s.m2R += (r[i] - s.meanR) * (r[i] - s.meanR)
            }
            return s
        }

        mutating func merge(_ b: Stats) {
            if b.n == 0 { return }
            if n == 0 { self = b; return }
            let total = n + b.n
            let dy = b.meanY - meanY, dr = b.meanR - meanR
            m2Y += b.m2Y + dy * dy * n * b.n / total
            m2R += b.m2R + dr * dr * n * b.n / total
            meanY += dy * b.n / total
            meanR += dr * b.n / total
            sse += b.sse; sae += b.sae; sape += b.sape
            n = total
        }

        /// scikit-learn's `_assemble_fraction_of_explained_deviance` with `force_finite=True`.
        static func fraction(_ num: Double, _ den: Double) -> Double {
            if num == 0 { return 1 }
            if den == 0 { return 0 }
            return 1 - num / den
        }

        func scores() -> RegressionScores {
            let mse = sse / n
            return RegressionScores(meanSquaredError: mse, rootMeanSquaredError: mse.squareRoot(),
                                    meanAbsoluteError: sae / n, meanAbsolutePercentageError: sape / n,
                                    r2: n < 2 ? .nan : Stats.fraction(sse, m2Y),
                                    explainedVariance: Stats.fraction(m2R / n, m2Y / n))
        }
    }

    /// Number of outputs per sample.
    public let outputs: Int
    private var stats: [Stats]

    /// An empty accumulator for `outputs` values per sample.
    public init(outputs: Int = 1) {
        precondition(outputs > 0, "RegressionAccumulator: outputs must be positive")
        self.outputs = outputs
        self.stats = [Stats](repeating: Stats(), count: outputs)
    }

    /// Samples seen so far.
    public var count: Int { Int(stats[0].n) }

    /// Adds a batch: `yTrue` and `yPred` hold `outputs` values per sample, row-major.
    public mutating func update(_ yTrue: [Double], _ yPred: [Double]) throws(MetricError) {
        try checkLengths(yTrue.count, yPred.count)
        precondition(yTrue.count % outputs == 0, "RegressionAccumulator: \(yTrue.count) values are not a multiple of \(outputs) outputs")
        let n = yTrue.count / outputs
        for o in 0..<outputs {
            var y = [Double](), r = [Double]()
            y.reserveCapacity(n); r.reserveCapacity(n)
            for i in 0..<n {
                y.append(yTrue[i * outputs + o])
                r.append(yTrue[i * outputs + o] - yPred[i * outputs + o])
            }
            if n > 0 { stats[o].merge(Stats.batch(y, r)) }
        }
    }

    /// Adds a batch of tensors: [n] or [n, outputs] (a [n, 1] prediction matches a [n] target).
    public mutating func update(predictions: Tensor, targets: Tensor) throws(MetricError) {
        let p = withoutGrad { predictions.detached() }.toArray(Double.self)
        let t = targets.toArray(Double.self)
        try update(t, p)
    }

    /// Adds everything another accumulator has seen.
    public mutating func merge(_ other: RegressionAccumulator) {
        precondition(other.outputs == outputs, "RegressionAccumulator.merge: \(other.outputs) outputs vs \(outputs)")
        for o in 0..<outputs { stats[o].merge(other.stats[o]) }
    }

    /// The scores of everything seen. Throws when no sample was seen.
    public func finalize() throws(MetricError) -> RegressionSummary {
        if stats[0].n == 0 {
            throw MetricError(.emptyInput, "Found array with 0 sample(s) (shape=(0,)) while a minimum of 1 is required.")
        }
        let per = stats.map { $0.scores() }
        func mean(_ k: KeyPath<RegressionScores, Double>) -> Double { per.reduce(0) { $0 + $1[keyPath: k] } / Double(per.count) }
        let avg = RegressionScores(meanSquaredError: mean(\.meanSquaredError), rootMeanSquaredError: mean(\.rootMeanSquaredError),
                                   meanAbsoluteError: mean(\.meanAbsoluteError),
                                   meanAbsolutePercentageError: mean(\.meanAbsolutePercentageError),
                                   r2: mean(\.r2), explainedVariance: mean(\.explainedVariance))
        let warns = stats[0].n < 2 ? [MetricWarning(.undefinedMetric, "R^2 score is not well-defined with less than two samples.")] : []
        return RegressionSummary(count: count, perOutput: per, average: avg, warnings: warns)
    }
}

/// All regression scores of `yTrue` against `yPred`, each row one sample with one value per output.
public func regressionScores(_ yTrue: [[Double]], _ yPred: [[Double]]) throws(MetricError) -> RegressionSummary {
    try checkLengths(yTrue.count, yPred.count)
    let d = yTrue.first?.count ?? 1
    var acc = RegressionAccumulator(outputs: d)
    try acc.update(yTrue.flatMap { $0 }, yPred.flatMap { $0 })
    return try acc.finalize()
}

private func single(_ yTrue: [Double], _ yPred: [Double]) throws(MetricError) -> RegressionSummary {
    var acc = RegressionAccumulator()
    try acc.update(yTrue, yPred)
    return try acc.finalize()
}

/// Mean squared error (`mean_squared_error`).
public func meanSquaredError(_ yTrue: [Double], _ yPred: [Double]) throws(MetricError) -> Double {
    try single(yTrue, yPred).average.meanSquaredError
}

/// Root mean squared error (`root_mean_squared_error`).
public func rootMeanSquaredError(_ yTrue: [Double], _ yPred: [Double]) throws(MetricError) -> Double {
    try single(yTrue, yPred).average.rootMeanSquaredError
}

/// Mean absolute error (`mean_absolute_error`).
public func meanAbsoluteError(_ yTrue: [Double], _ yPred: [Double]) throws(MetricError) -> Double {
    try single(yTrue, yPred).average.meanAbsoluteError
}

/// Mean absolute percentage error as a fraction (`mean_absolute_percentage_error`): |error| / max(|y|, eps), so a
/// zero target gives a huge but finite term, as in scikit-learn.
public func meanAbsolutePercentageError(_ yTrue: [Double], _ yPred: [Double]) throws(MetricError) -> Double {
    try single(yTrue, yPred).average.meanAbsolutePercentageError
}

/// R², the coefficient of determination (`r2_score`). A constant target gives 1 for a perfect prediction and 0
/// otherwise; fewer than two samples give NaN and a warning.
public func r2Score(_ yTrue: [Double], _ yPred: [Double], warnings: MetricWarnings? = nil) throws(MetricError) -> Double {
    let s = try single(yTrue, yPred)
    warnings?.append(contentsOf: s.warnings)
    return s.average.r2
}

/// Explained variance (`explained_variance_score`): 1 - Var(y - ŷ) / Var(y), with R²'s rules for constant targets.
public func explainedVariance(_ yTrue: [Double], _ yPred: [Double]) throws(MetricError) -> Double {
    try single(yTrue, yPred).average.explainedVariance
}
