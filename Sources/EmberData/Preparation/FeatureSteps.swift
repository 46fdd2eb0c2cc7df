import EmberCore
import Foundation

/// Products of features up to a degree, like scikit-learn's `PolynomialFeatures`, with the same output columns in
/// the same order: the bias column `1` (if `includeBias`), then for each degree 1, 2, ... the products over
/// `combinations_with_replacement` of the feature indices (or plain `combinations` if `interactionOnly`), in
/// lexicographic order. For features `[a, b]` and degree 2: `1, a, b, a², ab, b²`.
///
/// Each product is formed in scikit-learn's order (from the last factor to the first), so results agree to the
/// last bit in float64. NaN propagates into every product it is part of.
///
/// ```swift
/// var poly = PolynomialFeatures(degree: 2)
/// let x = try poly.fitTransform(train)       // [n, 6] for 2 features
/// poly.featureNames()                         // ["1", "x0", "x1", "x0^2", "x0 x1", "x1^2"]
/// ```
public struct PolynomialFeatures: TablePreparer, Equatable {
    /// The highest degree of the products.
    public var degree: Int
    /// Only products of distinct features (no `x0^2`).
    public var interactionOnly: Bool
    /// Whether to start with a column of ones.
    public var includeBias: Bool
    /// The number of input features (nil before `fit`).
    public private(set) var inputFeatures: Int?

    /// An unfitted step.
    public init(degree: Int = 2, interactionOnly: Bool = false, includeBias: Bool = true) {
        precondition(degree >= 0, "PolynomialFeatures: degree must be >= 0, got \(degree)")
        precondition(degree > 0 || includeBias, "PolynomialFeatures: degree 0 without the bias column gives no features")
        self.degree = degree
        self.interactionOnly = interactionOnly
        self.includeBias = includeBias
    }

    /// Records the number of features of `x`.
    public mutating func fit(_ x: Tensor) throws {
        let t = try Table(x, step: "PolynomialFeatures")
        inputFeatures = t.cols
    }

    /// The feature indices multiplied in each output column (empty for the bias column), in output order.
    public var terms: [[Int]]? {
        guard let n = inputFeatures else { return nil }
        var out: [[Int]] = includeBias ? [[]] : []
        if degree >= 1 {
            for d in 1...degree { out += combinations(n, d, repeating: !interactionOnly) }
        }
        return out
    }

    /// Applies the fitted step to `x`; the result has the dtype of `x`.
    public func transform(_ x: Tensor) throws -> Tensor {
        guard let terms, let n = inputFeatures else { throw PreparationError.notFitted(step: "PolynomialFeatures") }
        let t = try Table(x, step: "PolynomialFeatures")
        try checkWidth(t, n, "PolynomialFeatures")
        var out = [Double](repeating: 0, count: t.rows * terms.count)
        for i in 0..<t.rows {
            let row = i * t.cols
            for (k, term) in terms.enumerated() {
                guard var v = term.last.map({ t.values[row + $0] }) else {
                    out[i * terms.count + k] = 1
                    continue
                }
                for f in term.dropLast().reversed() { v *= t.values[row + f] }
                out[i * terms.count + k] = v
            }
        }
        return Table(rows: t.rows, cols: terms.count, values: out).tensor(x.dtype)
    }

    /// Output column names as scikit-learn writes them (`1`, `x0`, `x0^2`, `x0 x1`), from `inputNames` (else
    /// `x0`, `x1`, ...).
    public func featureNames(inputNames: [String]? = nil) -> [String] {
        guard let terms else { return [] }
        return terms.map { term in
            guard !term.isEmpty else { return "1" }
            var powers: [(Int, Int)] = []
            for f in term {
                if let last = powers.last, last.0 == f { powers[powers.count - 1].1 += 1 } else { powers.append((f, 1)) }
            }
            return powers.map { f, p in
                let name = inputNames?[f] ?? "x\(f)"
                return p == 1 ? name : "\(name)^\(p)"
            }.joined(separator: " ")
        }
    }
}

/// The `k`-element index tuples over `0..<n` in lexicographic order, ascending within each tuple (non-decreasing
/// with repetition, as Python's `combinations_with_replacement`; strictly increasing without, as `combinations`).
func combinations(_ n: Int, _ k: Int, repeating: Bool) -> [[Int]] {
    var out: [[Int]] = []
    var current: [Int] = []
    func extend(from start: Int) {
        if current.count == k { out.append(current); return }
        guard start < n else { return }
        for f in start..<n {
            current.append(f)
            extend(from: repeating ? f : f + 1)
            current.removeLast()
        }
    }
    extend(from: 0)
    return out
}

/// Bins each feature into intervals learned from training data and replaces values by their bin number, like
/// scikit-learn's `KBinsDiscretizer(encode="ordinal")` (or `"onehot-dense"` with `.oneHot`).
///
/// - `.uniform`: `nBins` equal-width bins between the training minimum and maximum (edges as `np.linspace`).
/// - `.quantile`: bins holding about equal numbers of training values; edges are percentiles `0, 100/nBins, ...,
///   100` computed by `quantileMethod`, by default `.averagedInvertedCDF`, scikit-learn 1.9's default
///   (`quantile_method="averaged_inverted_cdf"`; before 1.9 it was `"linear"`). Bins narrower than 1e-8 are merged
///   away, as scikit-learn does, so a feature can end up with fewer bins (see `binCounts`).
///
/// A constant feature gets a single bin (all zeros). Values below the first edge go to bin 0 and above the last to
/// the last bin. Missing values (NaN) are ignored when fitting and stay NaN (scikit-learn rejects them). Unlike
/// scikit-learn, fitting uses every training row (scikit-learn subsamples 200000 rows of larger inputs at random).
///
/// ```swift
/// var bins = KBinsDiscretizer(nBins: 4, strategy: .quantile)
/// let codes = try bins.fitTransform(train)    // 0, 1, 2, 3 per feature
/// bins.binEdges![0]                           // the 5 edges of feature 0
/// ```
public struct KBinsDiscretizer: TablePreparer, Equatable {
    /// How bin edges are placed.
    public enum Strategy: String, Codable, Sendable {
        /// Equal-width bins.
        case uniform
        /// Equal-frequency bins.
        case quantile
    }

    /// How the percentiles of `.quantile` bins are computed (NumPy's `method` names).
    public enum QuantileMethod: String, Codable, Sendable {
        /// NumPy's `averaged_inverted_cdf`, scikit-learn 1.9's default.
        case averagedInvertedCDF
        /// NumPy's `linear` (its default, and scikit-learn's before 1.9).
        case linear
    }

    /// How bin numbers are written.
    public enum Encoding: String, Codable, Sendable {
        /// One column per feature holding the bin number.
        case ordinal
        /// One indicator column per (feature, bin), feature by feature (scikit-learn's `"onehot-dense"`); a
        /// missing value gives NaN in all its feature's columns.
        case oneHot
    }

    /// The requested number of bins per feature (at least 2).
    public var nBins: Int
    /// How edges are placed.
    public var strategy: Strategy
    /// How quantile edges are computed.
    public var quantileMethod: QuantileMethod
    /// How bin numbers are written.
    public var encoding: Encoding
    /// The bin edges of each feature, ascending (nil before `fit`); `[-inf, inf]` for a constant feature.
    public private(set) var binEdges: [[Double]]?

    /// An unfitted discretizer.
    public init(nBins: Int = 5, strategy: Strategy = .quantile, quantileMethod: QuantileMethod = .averagedInvertedCDF,
                encoding: Encoding = .ordinal) {
        precondition(nBins >= 2, "KBinsDiscretizer: nBins must be at least 2, got \(nBins)")
        self.nBins = nBins
        self.strategy = strategy
        self.quantileMethod = quantileMethod
        self.encoding = encoding
    }

    /// The number of bins of each feature after fitting (nil before `fit`).
    public var binCounts: [Int]? { binEdges?.map { $0.count - 1 } }

    /// Learns the bin edges of each feature from `x` ([samples, features], NaN where missing).
    public mutating func fit(_ x: Tensor) throws {
        let t = try Table(x, step: "KBinsDiscretizer")
        guard t.rows > 0 else { throw PreparationError.emptyInput(step: "KBinsDiscretizer") }
        binEdges = (0..<t.cols).map { j in
            let v = t.present(j).sorted()
            guard let lo = v.first, let hi = v.last, lo != hi else { return [-.infinity, .infinity] }
            switch strategy {
            case .uniform:
                return numpyLinspace(lo, hi, count: nBins + 1)
            case .quantile:
                let edges = numpyLinspace(0, 100, count: nBins + 1).map { q in
                    quantileMethod == .linear ? percentile(sorted: v, q) : percentileAveragedInvertedCDF(sorted: v, q)
                }
                // Drop edges less than 1e-8 above the previous edge (scikit-learn's np.ediff1d mask).
                var kept = [edges[0]]
                for k in 1..<edges.count where edges[k] - edges[k - 1] > 1e-8 { kept.append(edges[k]) }
                return kept
            }
        }
    }

    /// The bin of each value of `x`: the number of inner edges at or below it (`np.searchsorted(edges[1:-1], x,
    /// side="right")`), encoded per `encoding`; the result has the dtype of `x`.
    public func transform(_ x: Tensor) throws -> Tensor {
        guard let binEdges else { throw PreparationError.notFitted(step: "KBinsDiscretizer") }
        let t = try Table(x, step: "KBinsDiscretizer")
        try checkWidth(t, binEdges.count, "KBinsDiscretizer")
        var codes = t
        for i in 0..<t.rows {
            for j in 0..<t.cols {
                let v = t.values[i * t.cols + j]
                guard !v.isNaN else { continue }
                let inner = binEdges[j].dropFirst().dropLast()
                codes.values[i * t.cols + j] = Double(inner.count(where: { $0 <= v }))
            }
        }
        guard encoding == .oneHot else { return codes.tensor(x.dtype) }
        let counts = binEdges.map { $0.count - 1 }
        let width = counts.reduce(0, +)
        var out = [Double](repeating: 0, count: t.rows * width)
        for i in 0..<t.rows {
            var offset = i * width
            for j in 0..<t.cols {
                let c = codes.values[i * t.cols + j]
                if c.isNaN {
                    for k in 0..<counts[j] { out[offset + k] = .nan }
                } else {
                    out[offset + Int(c)] = 1
                }
                offset += counts[j]
            }
        }
        return Table(rows: t.rows, cols: width, values: out).tensor(x.dtype)
    }
}

/// `count` evenly spaced values from `start` to `stop` inclusive, computed as `np.linspace` does
/// (`i * step + start`, with the last value exactly `stop`).
func numpyLinspace(_ start: Double, _ stop: Double, count: Int) -> [Double] {
    guard count > 1 else { return count == 1 ? [start] : [] }
    let div = Double(count - 1), delta = stop - start, step = delta / div
    var out = (0..<count).map { i in (step == 0 ? Double(i) / div * delta : Double(i) * step) + start }
    out[count - 1] = stop
    return out
}

/// `log(1 + x)` of every value (NumPy's `log1p`, as scikit-learn's `FunctionTransformer(np.log1p)`), for
/// right-skewed non-negative features such as counts and prices. NaN stays NaN.
///
/// Values must be greater than -1; fitting or transforming a value <= -1 throws
/// `PreparationError.invalidValue` naming its column and row.
///
/// ```swift
/// var log = LogTransform()
/// let x = try log.fitTransform(train)
/// let back = try log.inverseTransform(x)     // expm1
/// ```
public struct LogTransform: TablePreparer, Equatable {
    /// The number of input features (nil before `fit`).
    public private(set) var inputFeatures: Int?

    /// An unfitted step.
    public init() {}

    /// Records the number of features of `x` and checks its values.
    public mutating func fit(_ x: Tensor) throws {
        let t = try Table(x, step: "LogTransform")
        try Self.checkDomain(t)
        inputFeatures = t.cols
    }

    /// `log1p` of every value of `x`; the result has the dtype of `x`.
    public func transform(_ x: Tensor) throws -> Tensor {
        guard let inputFeatures else { throw PreparationError.notFitted(step: "LogTransform") }
        var t = try Table(x, step: "LogTransform")
        try checkWidth(t, inputFeatures, "LogTransform")
        try Self.checkDomain(t)
        for k in t.values.indices { t.values[k] = log1p(t.values[k]) }
        return t.tensor(x.dtype)
    }

    /// Undoes `transform` (`expm1`).
    public func inverseTransform(_ x: Tensor) throws -> Tensor {
        guard let inputFeatures else { throw PreparationError.notFitted(step: "LogTransform") }
        var t = try Table(x, step: "LogTransform")
        try checkWidth(t, inputFeatures, "LogTransform")
        for k in t.values.indices { t.values[k] = expm1(t.values[k]) }
        return t.tensor(x.dtype)
    }

    private static func checkDomain(_ t: Table) throws {
        for (k, v) in t.values.enumerated() where v <= -1 {
            throw PreparationError.invalidValue(step: "LogTransform", column: k % t.cols, row: k / t.cols, value: v,
                                                expected: "a value > -1 (log1p is undefined at or below -1)")
        }
    }
}
