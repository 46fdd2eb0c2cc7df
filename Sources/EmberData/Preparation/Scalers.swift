import EmberCore

/// Standardizes each feature to zero mean and unit variance, like scikit-learn's `StandardScaler`:
/// `(x - mean) / std`, with the population standard deviation of the training data.
///
/// Missing values (NaN) are ignored when fitting and stay NaN. Constant features get scale 1.
public struct StandardScaler: TablePreparer, Equatable {
    /// Whether to subtract the mean.
    public var withMean: Bool
    /// Whether to divide by the standard deviation.
    public var withStd: Bool
    /// Per-feature means (nil before `fit`).
    public private(set) var mean: [Double]?
    /// Per-feature scales, the standard deviation or 1 for constant features (nil before `fit`).
    public private(set) var scale: [Double]?

    /// An unfitted scaler.
    public init(withMean: Bool = true, withStd: Bool = true) {
        self.withMean = withMean
        self.withStd = withStd
    }

    /// Learns the statistics of each feature from `x` ([samples, features], NaN where missing).
    public mutating func fit(_ x: Tensor) throws {
        let t = try Table(x, step: "StandardScaler")
        guard t.rows > 0 else { throw PreparationError.emptyInput(step: "StandardScaler") }
        var m: [Double] = [], s: [Double] = []
        for j in 0..<t.cols {
            let v = t.present(j)
            let mu = v.isEmpty ? .nan : v.reduce(0, +) / Double(v.count)
            let variance = v.isEmpty ? .nan : v.reduce(0) { $0 + ($1 - mu) * ($1 - mu) } / Double(v.count)
            m.append(mu)
            // scikit-learn's test for a constant feature: a variance within rounding error of zero.
            let n = Double(v.count), eps = Double.ulpOfOne
            let constant = variance <= n * eps * variance + (n * mu * eps) * (n * mu * eps)
            s.append(constant ? 1 : nonZeroScale(variance.squareRoot()))
        }
        mean = m
        scale = s
    }

    /// Applies the fitted step to `x`; the result has the dtype of `x`.
    public func transform(_ x: Tensor) throws -> Tensor {
        guard let mean, let scale else { throw PreparationError.notFitted(step: "StandardScaler") }
        var t = try Table(x, step: "StandardScaler")
        try checkWidth(t, mean.count, "StandardScaler")
        t.shiftAndScale(subtract: withMean ? mean : nil, divideBy: withStd ? scale : nil)
        return t.tensor(x.dtype)
    }

    /// Undoes `transform`.
    public func inverseTransform(_ x: Tensor) throws -> Tensor {
        guard let mean, let scale else { throw PreparationError.notFitted(step: "StandardScaler") }
        var t = try Table(x, step: "StandardScaler")
        try checkWidth(t, mean.count, "StandardScaler")
        for i in 0..<t.rows {
            for j in 0..<t.cols {
                var v = t.values[i * t.cols + j]
                if withStd { v *= scale[j] }
                if withMean { v += mean[j] }
                t.values[i * t.cols + j] = v
            }
        }
        return t.tensor(x.dtype)
    }
}

/// Rescales each feature linearly so the training data spans `range` (default 0...1), like scikit-learn's
/// `MinMaxScaler`. Values outside the training range map outside `range`. NaN is ignored when fitting and kept.
public struct MinMaxScaler: TablePreparer, Equatable {
    /// Target range, lower bound.
    public var lower: Double
    /// Target range, upper bound.
    public var upper: Double
    /// Per-feature training minimum (nil before `fit`).
    public private(set) var dataMin: [Double]?
    /// Per-feature training maximum (nil before `fit`).
    public private(set) var dataMax: [Double]?

    /// An unfitted scaler to `range`.
    public init(range: ClosedRange<Double> = 0...1) {
        lower = range.lowerBound
        upper = range.upperBound
    }

    /// Learns the statistics of each feature from `x` ([samples, features], NaN where missing).
    public mutating func fit(_ x: Tensor) throws {
        let t = try Table(x, step: "MinMaxScaler")
        guard t.rows > 0 else { throw PreparationError.emptyInput(step: "MinMaxScaler") }
        dataMin = (0..<t.cols).map { t.present($0).min() ?? .nan }
        dataMax = (0..<t.cols).map { t.present($0).max() ?? .nan }
    }

    /// Per-feature multiplier (nil before `fit`).
    public var scale: [Double]? {
        guard let dataMin, let dataMax else { return nil }
        return zip(dataMin, dataMax).map { (upper - lower) / nonZeroScale($1 - $0) }
    }

    /// Applies the fitted step to `x`; the result has the dtype of `x`.
    public func transform(_ x: Tensor) throws -> Tensor {
        guard let dataMin, let scale else { throw PreparationError.notFitted(step: "MinMaxScaler") }
        var t = try Table(x, step: "MinMaxScaler")
        try checkWidth(t, dataMin.count, "MinMaxScaler")
        for i in 0..<t.rows {
            for j in 0..<t.cols {
                // The same expression as scikit-learn (x * scale + min_), for identical rounding.
                let offset = lower - dataMin[j] * scale[j]
                t.values[i * t.cols + j] = t.values[i * t.cols + j] * scale[j] + offset
            }
        }
        return t.tensor(x.dtype)
    }
}

/// Centers each feature on its median and divides by its interquartile range, like scikit-learn's
/// `RobustScaler`: robust to outliers. Percentiles interpolate linearly (NumPy's default). NaN is ignored when
/// fitting and kept. Features with zero range get scale 1.
public struct RobustScaler: TablePreparer, Equatable {
    /// Whether to subtract the median.
    public var withCentering: Bool
    /// Whether to divide by the quantile range.
    public var withScaling: Bool
    /// The quantile range in percent (default 25...75, the interquartile range).
    public var quantileLow: Double
    /// Upper end of the quantile range in percent.
    public var quantileHigh: Double
    /// Per-feature medians (nil before `fit`).
    public private(set) var center: [Double]?
    /// Per-feature quantile ranges, or 1 where zero (nil before `fit`).
    public private(set) var scale: [Double]?

    /// An unfitted scaler.
    public init(withCentering: Bool = true, withScaling: Bool = true, quantileRange: ClosedRange<Double> = 25...75) {
        precondition(quantileRange.lowerBound >= 0 && quantileRange.upperBound <= 100,
                     "RobustScaler: quantileRange must lie in 0...100, got \(quantileRange)")
        self.withCentering = withCentering
        self.withScaling = withScaling
        quantileLow = quantileRange.lowerBound
        quantileHigh = quantileRange.upperBound
    }

    /// Learns the statistics of each feature from `x` ([samples, features], NaN where missing).
    public mutating func fit(_ x: Tensor) throws {
        let t = try Table(x, step: "RobustScaler")
        guard t.rows > 0 else { throw PreparationError.emptyInput(step: "RobustScaler") }
        var c: [Double] = [], s: [Double] = []
        for j in 0..<t.cols {
            let v = t.present(j).sorted()
            c.append(percentile(sorted: v, 50))
            s.append(nonZeroScale(percentile(sorted: v, quantileHigh) - percentile(sorted: v, quantileLow)))
        }
        center = c
        scale = s
    }

    /// Applies the fitted step to `x`; the result has the dtype of `x`.
    public func transform(_ x: Tensor) throws -> Tensor {
        guard let center, let scale else { throw PreparationError.notFitted(step: "RobustScaler") }
        var t = try Table(x, step: "RobustScaler")
        try checkWidth(t, center.count, "RobustScaler")
        t.shiftAndScale(subtract: withCentering ? center : nil, divideBy: withScaling ? scale : nil)
        return t.tensor(x.dtype)
    }
}
