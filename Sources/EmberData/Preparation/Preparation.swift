import EmberCore
import Foundation

/// An error applying a preparation step: used before fitting, given the wrong number of features, or meeting a
/// category it never saw.
public enum PreparationError: Error, Sendable, Equatable, CustomStringConvertible {
    /// `transform` was called before `fit`.
    case notFitted(step: String)
    /// The data has a different number of features (columns) than the step was fitted on.
    case featureCountMismatch(step: String, expected: Int, found: Int)
    /// The data is not a 2-D table `[samples, features]`.
    case notATable(step: String, shape: [Int])
    /// `fit` got no samples.
    case emptyInput(step: String)
    /// An encoder met a category absent from its training data (with `handleUnknown: .error`).
    case unknownCategory(step: String, column: Int, value: String, row: Int)
    /// A split cannot be made (more folds than samples, or than members of a class).
    case tooFewSamples(String)
    /// A value outside a step's domain (for example a value <= -1 given to `LogTransform`).
    case invalidValue(step: String, column: Int, row: Int, value: Double, expected: String)
    /// Targets given with inputs have a different number of samples (first dimension).
    case sampleCountMismatch(step: String, inputs: Int, targets: Int)

    /// A one-line, human-readable message.
    public var description: String {
        switch self {
        case .notFitted(let s): return "\(s): transform called before fit"
        case .featureCountMismatch(let s, let e, let f): return "\(s): expected \(e) features (as in fit), found \(f)"
        case .notATable(let s, let shape): return "\(s): expected a 2-D [samples, features] tensor, found shape \(shape)"
        case .emptyInput(let s): return "\(s): fit needs at least one sample"
        case .unknownCategory(let s, let c, let v, let r): return "\(s): unknown category \(excerpt(v)) in column \(c), row \(r)"
        case .tooFewSamples(let m): return m
        case .invalidValue(let s, let c, let r, let v, let e): return "\(s): value \(v) in column \(c), row \(r); expected \(e)"
        case .sampleCountMismatch(let s, let i, let t): return "\(s): \(i) input rows but \(t) targets"
        }
    }
}

/// A preparation step for numeric tables: fitted on training data only, then applied to any split.
///
/// Inputs are `[samples, features]` float tensors with NaN marking missing values; outputs keep the input dtype.
/// Every step is `Codable`, so fitted statistics can be saved beside a model (`PreparationPipeline.jsonData()`).
///
/// ```swift
/// var scaler = StandardScaler()
/// let trainX = try scaler.fitTransform(train)     // statistics from the training split only
/// let testX = try scaler.transform(test)
/// ```
public protocol TablePreparer: Codable, Sendable {
    /// Learns the step's statistics from `x` (training data).
    mutating func fit(_ x: Tensor) throws
    /// Applies the fitted step to `x`.
    func transform(_ x: Tensor) throws -> Tensor
}

extension TablePreparer {
    /// Fits on `x`, then transforms it.
    public mutating func fitTransform(_ x: Tensor) throws -> Tensor {
        try fit(x)
        return try transform(x)
    }
}

/// A row-major table of Doubles, the working form of the preparation steps.
struct Table {
    let rows: Int
    let cols: Int
    var values: [Double]

    init(rows: Int, cols: Int, values: [Double]) {
        self.rows = rows
        self.cols = cols
        self.values = values
    }

    /// `x` as a table, or a `notATable` error naming `step`.
    init(_ x: Tensor, step: String) throws {
        guard x.rank == 2 else { throw PreparationError.notATable(step: step, shape: x.shape) }
        rows = x.shape[0]
        cols = x.shape[1]
        values = x.toArray(Double.self)
    }

    /// Column `j` with NaNs removed.
    func present(_ j: Int) -> [Double] {
        var out: [Double] = []
        out.reserveCapacity(rows)
        for i in 0..<rows where !values[i * cols + j].isNaN { out.append(values[i * cols + j]) }
        return out
    }

    /// (value - shift[j]) / scale[j] for every column j; a nil array skips that part.
    mutating func shiftAndScale(subtract shift: [Double]?, divideBy scale: [Double]?) {
        for i in 0..<rows {
            for j in 0..<cols {
                var v = values[i * cols + j]
                if let shift { v -= shift[j] }
                if let scale { v /= scale[j] }
                values[i * cols + j] = v
            }
        }
    }

    /// This table as a tensor of `dtype`.
    func tensor(_ dtype: DType) -> Tensor {
        let t = Tensor(values, shape: [rows, cols])
        return dtype == .float64 ? t : t.cast(dtype)
    }
}

/// Checks the feature count of `x` against a fitted width.
@inline(__always)
func checkWidth(_ t: Table, _ expected: Int, _ step: String) throws {
    if t.cols != expected { throw PreparationError.featureCountMismatch(step: step, expected: expected, found: t.cols) }
}

/// The q-th percentile (0...100) of sorted values by linear interpolation (NumPy's default method), computed as
/// NumPy does (`(n - 1) * q/100`, then NumPy's two-sided lerp) so results agree to the last bit. A position that
/// falls exactly on a value returns it (NumPy's lerp gives NaN there when a neighbour is infinite).
func percentile(sorted v: [Double], _ q: Double) -> Double {
    guard !v.isEmpty else { return .nan }
    let pos = Double(v.count - 1) * (q / 100)
    let lo = Int(pos.rounded(.down)), hi = Swift.min(lo + 1, v.count - 1)
    let frac = pos - Double(lo)
    return frac == 0 ? v[lo] : numpyLerp(v[lo], v[hi], frac)
}

/// The q-th percentile (0...100) of sorted values by NumPy's `method="averaged_inverted_cdf"` (Hyndman and Fan's
/// type 2: the inverse of the empirical distribution function, averaging the two neighbours where it is flat), the
/// method scikit-learn 1.9's `KBinsDiscretizer` uses by default.
func percentileAveragedInvertedCDF(sorted v: [Double], _ q: Double) -> Double {
    guard !v.isEmpty else { return .nan }
    let n = v.count
    let virtual = Double(n) * (q / 100) - 1
    if virtual >= Double(n - 1) { return v[n - 1] }
    if virtual < 0 { return v[0] }
    let lo = Int(virtual.rounded(.down))
    let gamma = virtual - Double(lo) == 0 ? 0.5 : 1
    return numpyLerp(v[lo], v[lo + 1], gamma)
}

/// NumPy's `_lerp`: `a + (b - a) t`, but `b - (b - a)(1 - t)` for `t >= 0.5` (exact at both ends).
@inline(__always)
func numpyLerp(_ a: Double, _ b: Double, _ t: Double) -> Double {
    let d = b - a
    return t >= 0.5 ? b - d * (1 - t) : a + d * t
}

/// Scales of (near-)zero width are replaced by 1, so constant features pass through unscaled (as scikit-learn).
@inline(__always)
func nonZeroScale(_ s: Double) -> Double { s.isNaN || abs(s) < 10 * Double.ulpOfOne ? 1 : s }

/// JSON coding for preparation steps: NaN and infinities are written as the strings "NaN", "Infinity",
/// "-Infinity" (plain JSON has no such numbers).
public enum PreparationJSON {
    /// An encoder for fitted steps (sorted keys, non-finite numbers as strings).
    public static func encoder() -> JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        e.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
        return e
    }

    /// The matching decoder.
    public static func decoder() -> JSONDecoder {
        let d = JSONDecoder()
        d.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
        return d
    }
}
