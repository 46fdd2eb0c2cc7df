import EmberCore

/// Orders strings by Unicode scalar values, as Python sorts `str` (and so as scikit-learn orders categories).
@inline(__always)
func codePointLess(_ a: String, _ b: String) -> Bool {
    a.unicodeScalars.lexicographicallyPrecedes(b.unicodeScalars) { $0.value < $1.value }
}

/// Checks that every row of a categorical table has `width` fields.
func checkRows(_ rows: [[String?]], width: Int, step: String) throws {
    for r in rows where r.count != width {
        throw PreparationError.featureCountMismatch(step: step, expected: width, found: r.count)
    }
}

/// Encodes categorical features as one-hot indicator columns, like scikit-learn's `OneHotEncoder`.
///
/// Rows are samples, fields are features; nil marks a missing value, which is kept as a category of its own
/// (ordered after the others, as scikit-learn does with NaN). Categories are learned from the training data and
/// sorted by Unicode code points (as Python sorts strings).
///
/// ```swift
/// var encoder = OneHotEncoder(handleUnknown: .ignore)
/// let x = try encoder.fitTransform([["red", "S"], ["blue", "M"], ["red", nil]])   // [3, 5] float32
/// encoder.featureNames()   // ["x0_blue", "x0_red", "x1_M", "x1_S", "x1_nan"]
/// ```
public struct OneHotEncoder: Codable, Sendable, Equatable {
    /// What to do with a category not seen in training.
    public enum UnknownHandling: String, Codable, Sendable {
        /// Throw `PreparationError.unknownCategory`.
        case error
        /// Encode it as all zeros.
        case ignore
    }

    /// What to do with unseen categories.
    public var handleUnknown: UnknownHandling
    /// The sorted categories of each feature (nil before `fit`; a nil category is the missing value).
    public private(set) var categories: [[String?]]?

    /// An unfitted encoder.
    public init(handleUnknown: UnknownHandling = .error) {
        self.handleUnknown = handleUnknown
    }

    /// Learns each feature's categories from `rows` (samples x features).
    public mutating func fit(_ rows: [[String?]]) throws {
        guard let width = rows.first?.count else { throw PreparationError.emptyInput(step: "OneHotEncoder") }
        try checkRows(rows, width: width, step: "OneHotEncoder")
        categories = (0..<width).map { j in
            let seen = Set(rows.map { $0[j] })
            let present = seen.compactMap { $0 }.sorted(by: codePointLess)
            return present.map { Optional($0) } + (seen.contains(nil) ? [nil] : [])
        }
    }

    /// One indicator column per (feature, category), in feature then category order, as `dtype`.
    public func transform(_ rows: [[String?]], dtype: DType = .float32) throws -> Tensor {
        guard let categories else { throw PreparationError.notFitted(step: "OneHotEncoder") }
        try checkRows(rows, width: categories.count, step: "OneHotEncoder")
        var offsets: [Int] = []
        var index: [[String?: Int]] = []
        var total = 0
        for cats in categories {
            offsets.append(total)
            index.append(Dictionary(uniqueKeysWithValues: cats.enumerated().map { ($1, $0) }))
            total += cats.count
        }
        var out = [Double](repeating: 0, count: rows.count * total)
        for (i, row) in rows.enumerated() {
            for (j, value) in row.enumerated() {
                if let k = index[j][value] {
                    out[i * total + offsets[j] + k] = 1
                } else if handleUnknown == .error {
                    throw PreparationError.unknownCategory(step: "OneHotEncoder", column: j, value: value ?? "(missing)", row: i)
                }
            }
        }
        return Tensor(out, shape: [rows.count, total]).cast(dtype)
    }

    /// Fits on `rows`, then transforms them.
    public mutating func fitTransform(_ rows: [[String?]], dtype: DType = .float32) throws -> Tensor {
        try fit(rows)
        return try transform(rows, dtype: dtype)
    }

    /// Output column names, `<feature>_<category>` (features named `x0`, `x1`, ... unless `inputNames` are given).
    public func featureNames(inputNames: [String]? = nil) -> [String] {
        guard let categories else { return [] }
        return categories.enumerated().flatMap { j, cats in
            cats.map { "\(inputNames?[j] ?? "x\(j)")_\($0 ?? "nan")" }
        }
    }
}

/// Encodes categorical features as integer codes (0, 1, ... in sorted category order), like scikit-learn's
/// `OrdinalEncoder`. Missing values (nil) become `encodedMissingValue` (NaN by default) and are not categories.
public struct OrdinalEncoder: Codable, Sendable, Equatable {
    /// What to do with a category not seen in training.
    public enum UnknownHandling: Codable, Sendable, Equatable {
        /// Throw `PreparationError.unknownCategory`.
        case error
        /// Encode it as this value (for example -1 or NaN).
        case useEncodedValue(Double)
    }

    /// What to do with unseen categories.
    public var handleUnknown: UnknownHandling
    /// The code given to missing values.
    public var encodedMissingValue: Double
    /// The sorted categories of each feature (nil before `fit`).
    public private(set) var categories: [[String]]?

    /// An unfitted encoder.
    public init(handleUnknown: UnknownHandling = .error, encodedMissingValue: Double = .nan) {
        self.handleUnknown = handleUnknown
        self.encodedMissingValue = encodedMissingValue
    }

    /// Learns each feature's categories from `rows` (samples x features).
    public mutating func fit(_ rows: [[String?]]) throws {
        guard let width = rows.first?.count else { throw PreparationError.emptyInput(step: "OrdinalEncoder") }
        try checkRows(rows, width: width, step: "OrdinalEncoder")
        categories = (0..<width).map { j in Set(rows.compactMap { $0[j] }).sorted(by: codePointLess) }
    }

    /// The codes of `rows` as a [samples, features] tensor of `dtype`.
    public func transform(_ rows: [[String?]], dtype: DType = .float32) throws -> Tensor {
        guard let categories else { throw PreparationError.notFitted(step: "OrdinalEncoder") }
        try checkRows(rows, width: categories.count, step: "OrdinalEncoder")
        let index = categories.map { Dictionary(uniqueKeysWithValues: $0.enumerated().map { ($1, $0) }) }
        var out = [Double](repeating: 0, count: rows.count * categories.count)
        for (i, row) in rows.enumerated() {
            for (j, value) in row.enumerated() {
                let code: Double
                if let value {
                    if let k = index[j][value] {
                        code = Double(k)
                    } else if case .useEncodedValue(let v) = handleUnknown {
                        code = v
                    } else {
                        throw PreparationError.unknownCategory(step: "OrdinalEncoder", column: j, value: value, row: i)
                    }
                } else {
                    code = encodedMissingValue
                }
                out[i * categories.count + j] = code
            }
        }
        return Tensor(out, shape: [rows.count, categories.count]).cast(dtype)
    }

    /// Fits on `rows`, then transforms them.
    public mutating func fitTransform(_ rows: [[String?]], dtype: DType = .float32) throws -> Tensor {
        try fit(rows)
        return try transform(rows, dtype: dtype)
    }

    /// The categories of the codes in `x` ([samples, features]); nil for missing or out-of-range codes.
    public func inverseTransform(_ x: Tensor) throws -> [[String?]] {
        guard let categories else { throw PreparationError.notFitted(step: "OrdinalEncoder") }
        let t = try Table(x, step: "OrdinalEncoder")
        try checkWidth(t, categories.count, "OrdinalEncoder")
        return (0..<t.rows).map { i in
            (0..<t.cols).map { j in
                let v = t.values[i * t.cols + j]
                guard v.isFinite, v >= 0, v == v.rounded(), Int(v) < categories[j].count else { return nil }
                return categories[j][Int(v)]
            }
        }
    }
}

extension CSVTable {
    /// The given columns as categorical rows (samples x columns) for the encoders: text as is, numbers written
    /// without a trailing ".0" when whole, nil where missing.
    public func categoricalRows(columns names: [String]) throws -> [[String?]] {
        let cols: [[String?]] = try names.map { name in
            switch try column(name) {
            case .text(let v): return v
            case .numeric(let v):
                return v.map { x in
                    x.isNaN ? nil : (x == x.rounded() && abs(x) < 1e15 ? String(Int64(x)) : String(x))
                }
            }
        }
        return (0..<rowCount).map { i in cols.map { $0[i] } }
    }
}
