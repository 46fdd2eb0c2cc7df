import EmberCore

/// Fills missing values (NaN) column by column with a statistic of the training data, like scikit-learn's
/// `SimpleImputer`.
///
/// A column with no observed value in training is filled with 0 (scikit-learn's `keep_empty_features=True`;
/// by default scikit-learn drops such columns instead) unless the strategy is `.constant`.
///
/// ```swift
/// var imputer = SimpleImputer(strategy: .median)
/// let x = try imputer.fitTransform(trainX)
/// ```
public struct SimpleImputer: TablePreparer, Equatable {
    /// How the fill value of each column is chosen.
    public enum Strategy: Codable, Sendable, Equatable {
        /// The mean of the observed values.
        case mean
        /// The median of the observed values.
        case median
        /// The most frequent observed value (the smallest, on ties).
        case mostFrequent
        /// A fixed value.
        case constant(Double)
    }

    /// The strategy.
    public var strategy: Strategy
    /// The fill value of each column (nil before `fit`).
    public private(set) var statistics: [Double]?

    /// An unfitted imputer.
    public init(strategy: Strategy = .mean) {
        self.strategy = strategy
    }

    /// Learns the statistics of each feature from `x` ([samples, features], NaN where missing).
    public mutating func fit(_ x: Tensor) throws {
        let t = try Table(x, step: "SimpleImputer")
        statistics = (0..<t.cols).map { j in
            if case .constant(let v) = strategy { return v }
            let v = t.present(j)
            if v.isEmpty { return 0 }
            switch strategy {
            case .mean: return v.reduce(0, +) / Double(v.count)
            case .median: return percentile(sorted: v.sorted(), 50)
            case .mostFrequent:
                var counts: [Double: Int] = [:]
                for e in v { counts[e == 0 ? 0 : e, default: 0] += 1 }   // -0 and 0 count together
                let best = counts.values.max()!
                return counts.filter { $0.value == best }.keys.min()!
            case .constant(let c): return c
            }
        }
    }

    /// Applies the fitted step to `x`; the result has the dtype of `x`.
    public func transform(_ x: Tensor) throws -> Tensor {
        guard let stats = statistics else { throw PreparationError.notFitted(step: "SimpleImputer") }
        var t = try Table(x, step: "SimpleImputer")
        try checkWidth(t, stats.count, "SimpleImputer")
        for i in 0..<t.rows {
            for j in 0..<t.cols where t.values[i * t.cols + j].isNaN { t.values[i * t.cols + j] = stats[j] }
        }
        return t.tensor(x.dtype)
    }
}
