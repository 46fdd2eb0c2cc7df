import EmberCore
import Foundation

/// A univariate time series read from a CSV column, in file order (oldest first), for forecasting.
///
/// ```swift
/// let s = try TimeSeries(csv: "AirPassengers.csv", column: "AirPassengers", date: "time")
/// let parts = s.chronologicalParts(validation: 12, test: 24, window: 24, horizon: 12)
/// ```
public struct TimeSeries: Sendable {
    /// What to do with missing values (empty cells, `NA`, ...).
    public enum MissingPolicy: String, Sendable, Codable, CaseIterable {
        /// Throw a `DataError` naming the first missing value's line.
        case error
        /// Fill each gap linearly between its neighbours (a gap at either end takes the nearest value).
        case interpolate
        /// Leave the rows out (the series then has uneven steps).
        case drop
    }

    /// The values, oldest first.
    public var values: [Double]
    /// The time stamps (the date column's text), when the file has one.
    public var dates: [String]?
    /// The column's name.
    public var name: String

    /// A series of `values`.
    public init(values: [Double], dates: [String]? = nil, name: String = "value") {
        precondition(dates == nil || dates!.count == values.count, "TimeSeries: \(dates!.count) dates for \(values.count) values")
        self.values = values
        self.dates = dates
        self.name = name
    }

    /// Reads column `column` of a CSV file (and the time stamps of column `date`, if given).
    /// - Throws: `DataError`: the file's own errors, `.notFound` for a missing column, `.badValue` for text in the
    ///   value column, a missing value under `.error`, or fewer than 2 values.
    public init(csv path: String, column: String, date: String? = nil, missing: MissingPolicy = .error) throws {
        let table = try CSVTable(path: path)
        var v = try table.numbers(column)
        var d: [String]? = nil
        if let date {
            switch try table.column(date) {
            case .numeric(let x): d = x.map { $0.isNaN ? "" : formatStamp($0) }
            case .text(let x): d = x.map { $0 ?? "" }
            }
        }
        if let i = v.firstIndex(where: { !$0.isFinite }) {
            switch missing {
            case .error:
                throw DataError(.badValue, file: path, at: .field(line: table.lines[i], column: column),
                                expected: "a number (set missing: interpolate or drop to accept gaps)", found: v[i].isNaN ? "a missing value" : "\(v[i])")
            case .drop:
                let keep = v.indices.filter { v[$0].isFinite }
                v = keep.map { v[$0] }
                d = d.map { dd in keep.map { dd[$0] } }
            case .interpolate:
                let known = v.indices.filter { v[$0].isFinite }
                guard !known.isEmpty else {
                    throw DataError(.badValue, file: path, at: .column(column), expected: "at least one number", found: "only missing values")
                }
                for i in v.indices where !v[i].isFinite {
                    let before = known.last { $0 < i }, after = known.first { $0 > i }
                    switch (before, after) {
                    case let (a?, b?): v[i] = v[a] + (v[b] - v[a]) * Double(i - a) / Double(b - a)
                    case let (a?, nil): v[i] = v[a]
                    case let (nil, b?): v[i] = v[b]
                    default: break
                    }
                }
            }
        }
        guard v.count >= 2 else {
            throw DataError(.truncated, file: path, at: .column(column), expected: "a series of at least 2 values", found: "\(v.count)")
        }
        self.init(values: v, dates: d, name: column)
    }

    /// Number of steps.
    public var count: Int { values.count }

    /// Chronological parts of a series for forecasting `horizon` steps from `window` past steps: the last `test`
    /// steps are the test part, the `validation` steps before them the validation part, the rest the training part.
    /// A part's forecast origins are the steps `o` whose targets `o ..< o + horizon` all lie in the part and whose
    /// inputs `o - window ..< o` lie in the series (inputs may reach back into earlier parts: that history is known
    /// when the forecast is made; targets never cross a part's boundary).
    public func chronologicalParts(validation: Int, test: Int, window: Int, horizon: Int) -> ForecastParts {
        precondition(validation >= 0 && test >= 0 && window >= 1 && horizon >= 1, "TimeSeries.chronologicalParts: bad sizes")
        let n = count, trainEnd = n - test - validation, validationEnd = n - test
        precondition(trainEnd >= 0, "TimeSeries.chronologicalParts: \(validation) + \(test) steps held out of \(n)")
        func origins(_ lo: Int, _ hi: Int) -> [Int] {
            let first = Swift.max(lo, window), last = hi - horizon
            return first <= last ? Array(first...last) : []
        }
        return ForecastParts(trainEnd: trainEnd, validationEnd: validationEnd, window: window, horizon: horizon,
                             train: origins(0, trainEnd), validation: origins(trainEnd, validationEnd), test: origins(validationEnd, n))
    }
}

/// Where a series' parts end and which forecast origins each part has (see `TimeSeries.chronologicalParts`).
public struct ForecastParts: Sendable, Equatable {
    /// The training part is `0 ..< trainEnd`, validation `trainEnd ..< validationEnd`, test `validationEnd ..< count`.
    public var trainEnd: Int, validationEnd: Int
    /// Input steps and forecast steps.
    public var window: Int, horizon: Int
    /// Forecast origins (the first forecast step) of each part.
    public var train: [Int], validation: [Int], test: [Int]

    /// The `SlidingWindows` index of the window whose forecast starts at `origin` (stride 1).
    public func windowIndex(origin: Int) -> Int { origin - window }
}

/// A time stamp from a numeric date column: whole numbers without a decimal point (1949), else up to 6 digits.
private func formatStamp(_ v: Double) -> String {
    if v == v.rounded(), abs(v) < 1e15 { return String(Int64(v)) }
    return String((v * 1e6).rounded() / 1e6)
}

/// Scaling of a series' values fitted on its training part only: an optional log, then standardization
/// ((x - mean) / std) or min-max scaling to [0, 1], or nothing. Saved with a model, so forecasts are scaled back.
public struct SeriesScaler: Codable, Equatable, Sendable {
    /// The kind of scaling.
    public enum Kind: String, Codable, Sendable, CaseIterable {
        /// (x - mean) / std of the training part.
        case standard
        /// (x - min) / (max - min) of the training part.
        case minmax
        /// None.
        case none
    }
    /// The kind.
    public var kind: Kind
    /// Whether values are log-transformed first (they must then be positive).
    public var log: Bool
    /// Fitted: transformed = (f(x) - shift) / scale.
    public var shift = 0.0, scale = 1.0

    /// An unfitted scaler.
    public init(kind: Kind = .standard, log: Bool = false) {
        self.kind = kind
        self.log = log
    }

    /// Fits on the training values.
    /// - Throws: `DataError(.badValue)` when `log` meets a value that is not positive (`source` names the data).
    public mutating func fit(_ train: [Double], source: String) throws {
        let f = try forward(train, source: source)
        precondition(!f.isEmpty, "SeriesScaler.fit: no training values")
        switch kind {
        case .none: shift = 0; scale = 1
        case .standard:
            let mean = f.reduce(0, +) / Double(f.count)
            let variance = f.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(f.count)
            shift = mean; scale = variance > 0 ? variance.squareRoot() : 1
        case .minmax:
            let lo = f.min()!, hi = f.max()!
            shift = lo; scale = hi > lo ? hi - lo : 1
        }
    }

    private func forward(_ x: [Double], source: String) throws -> [Double] {
        guard log else { return x }
        if let i = x.firstIndex(where: { !($0 > 0) }) {
            throw DataError(.badValue, file: source, at: .record(i), expected: "positive values for a log transform", found: "\(x[i])")
        }
        return x.map { Foundation.log($0) }
    }

    /// Scaled values.
    public func transform(_ x: [Double], source: String = "series") throws -> [Double] {
        try forward(x, source: source).map { ($0 - shift) / scale }
    }

    /// Values in the original units.
    public func inverse(_ y: [Double]) -> [Double] {
        y.map { v in
            let f = v * scale + shift
            return log ? Foundation.exp(f) : f
        }
    }
}
