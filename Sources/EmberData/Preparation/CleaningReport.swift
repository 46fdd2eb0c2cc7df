import EmberCore
import Foundation

/// How outliers are recognised, column by column, from training data.
public enum OutlierMethod: Codable, Sendable, Equatable, CustomStringConvertible {
    /// Tukey's fences: values outside `[Q1 - k·IQR, Q3 + k·IQR]`, where Q1 and Q3 are the 25th and 75th
    /// percentiles by linear interpolation (NumPy's default `np.percentile`) and `IQR = Q3 - Q1`.
    case iqr(k: Double = 1.5)
    /// Values more than `threshold` standard deviations from the mean: outside `mean ± threshold·std`, with the
    /// population standard deviation (`ddof = 0`, as `scipy.stats.zscore`).
    case zScore(threshold: Double = 3)

    /// A short name with the parameter, e.g. `IQR, k = 1.5`.
    public var description: String {
        switch self {
        case .iqr(let k): return "IQR, k = \(shortNumber(k))"
        case .zScore(let t): return "z-score, threshold = \(shortNumber(t))"
        }
    }
}

/// What a cleaning operation changed, for review and for logs: rows and columns before and after, and each
/// change in order (rows dropped for missing values, duplicates, outliers, columns dropped, values clipped).
///
/// Row numbers in the changes are rows of the table given to the first operation, also after chaining with
/// `CleanedData.then(_:)`; column numbers are columns of the table the operation saw. `description` is a
/// plain-text summary:
///
/// ```text
/// Cleaning: 12 rows x 3 columns -> 9 rows x 3 columns
/// - dropped 1 row with missing values: row 4 (missing per column: x1: 1)
/// - removed 1 duplicate row (inputs and targets): row 7 (duplicate of row 2)
/// - removed 1 row with outliers (IQR, k = 1.5): row 10; x0: 1 row outside [-1.5, 8.5]
/// ```
public struct CleaningReport: Codable, Sendable, Equatable, CustomStringConvertible {
    /// One change made by a cleaning operation.
    public enum Change: Codable, Sendable, Equatable {
        /// Rows dropped because a value was missing (NaN): the rows dropped, the number of missing values in each
        /// checked input column (0 for unchecked columns), and the number of rows with a missing target.
        case droppedRowsWithMissing(rows: [Int], missingPerColumn: [Int], missingTargets: Int)
        /// Columns dropped because their fraction of missing values in training data exceeded `threshold`.
        case droppedColumns(columns: [Int], missingFractions: [Double], threshold: Double)
        /// Rows removed as repeats of an earlier row: each removed row and the earlier row it repeats.
        case removedDuplicates(rows: [Int], duplicateOf: [Int], consideringTargets: Bool)
        /// Rows removed because a value lay outside its column's bounds: the rows removed, the number of removed
        /// rows with an outlier in each column, and the bounds.
        case removedOutliers(method: OutlierMethod, rows: [Int], rowsPerColumn: [Int], lower: [Double], upper: [Double])
        /// Values moved to their column's bounds: the number of values clipped in each column, and the bounds.
        case clippedOutliers(method: OutlierMethod, valuesPerColumn: [Int], lower: [Double], upper: [Double])
    }

    /// Rows of the table given to the first operation.
    public var rowsBefore: Int
    /// Rows left after the last operation.
    public var rowsAfter: Int
    /// Columns before the first operation.
    public var columnsBefore: Int
    /// Columns after the last operation.
    public var columnsAfter: Int
    /// The changes, in the order they were made.
    public var changes: [Change]

    /// A report of `changes` turning a `rowsBefore` x `columnsBefore` table into `rowsAfter` x `columnsAfter`.
    public init(rowsBefore: Int, rowsAfter: Int, columnsBefore: Int, columnsAfter: Int, changes: [Change]) {
        self.rowsBefore = rowsBefore
        self.rowsAfter = rowsAfter
        self.columnsBefore = columnsBefore
        self.columnsAfter = columnsAfter
        self.changes = changes
    }

    /// Rows removed in all.
    public var rowsRemoved: Int { rowsBefore - rowsAfter }
    /// Columns removed in all.
    public var columnsRemoved: Int { columnsBefore - columnsAfter }

    /// This report followed by `later`, a report on this report's output table (its row numbers are kept as they
    /// are; `CleanedData.then(_:)` renumbers rows to the original table).
    public func appending(_ later: CleaningReport) -> CleaningReport {
        CleaningReport(rowsBefore: rowsBefore, rowsAfter: later.rowsAfter, columnsBefore: columnsBefore,
                       columnsAfter: later.columnsAfter, changes: changes + later.changes)
    }

    /// The same report with row `r` written as `original[r]` (for a report made on a subset of rows).
    func renumberingRows(_ original: [Int]) -> CleaningReport {
        var copy = self
        copy.changes = changes.map { change in
            switch change {
            case .droppedRowsWithMissing(let rows, let perColumn, let targets):
                return .droppedRowsWithMissing(rows: rows.map { original[$0] }, missingPerColumn: perColumn, missingTargets: targets)
            case .removedDuplicates(let rows, let firsts, let withTargets):
                return .removedDuplicates(rows: rows.map { original[$0] }, duplicateOf: firsts.map { original[$0] },
                                          consideringTargets: withTargets)
            case .removedOutliers(let m, let rows, let perColumn, let lo, let hi):
                return .removedOutliers(method: m, rows: rows.map { original[$0] }, rowsPerColumn: perColumn, lower: lo, upper: hi)
            case .droppedColumns, .clippedOutliers:
                return change
            }
        }
        return copy
    }

    /// The summary as plain text, naming columns by `columnNames` where given (else `x0`, `x1`, ...).
    public func text(columnNames: [String]? = nil) -> String {
        func name(_ j: Int) -> String {
            if let columnNames, j < columnNames.count { return columnNames[j] }
            return "x\(j)"
        }
        var lines = ["Cleaning: \(plural(rowsBefore, "row")) x \(plural(columnsBefore, "column")) -> "
                     + "\(plural(rowsAfter, "row")) x \(plural(columnsAfter, "column"))"]
        if changes.isEmpty { lines.append("- no changes") }
        for change in changes {
            switch change {
            case .droppedRowsWithMissing(let rows, let perColumn, let targets):
                var parts = perColumn.enumerated().filter { $0.element > 0 }.map { "\(name($0.offset)): \($0.element)" }
                if targets > 0 { parts.append("targets: \(targets)") }
                let detail = parts.isEmpty ? "" : " (missing per column: \(parts.joined(separator: ", ")))"
                lines.append("- dropped \(plural(rows.count, "row")) with missing values\(rowList(rows))\(detail)")
            case .droppedColumns(let columns, let fractions, let threshold):
                let list = zip(columns, fractions).map { "\(name($0)) (\(percent($1)) missing)" }
                lines.append("- dropped \(plural(columns.count, "column")) with more than \(percent(threshold)) missing"
                             + (list.isEmpty ? "" : ": " + list.joined(separator: ", ")))
            case .removedDuplicates(let rows, let firsts, let withTargets):
                let pairs = zip(rows, firsts).prefix(listLimit).map { "\($0) (duplicate of row \($1))" }
                let more = rows.count > listLimit ? ", ... (\(rows.count - listLimit) more)" : ""
                lines.append("- removed \(plural(rows.count, "duplicate row")) (\(withTargets ? "inputs and targets" : "inputs only"))"
                             + (rows.isEmpty ? "" : ": " + (rows.count == 1 ? "row " : "rows ") + pairs.joined(separator: ", ") + more))
            case .removedOutliers(let method, let rows, let perColumn, let lo, let hi):
                let cols = perColumn.enumerated().filter { $0.element > 0 }.map {
                    "\(name($0.offset)): \(plural($0.element, "row")) outside [\(shortNumber(lo[$0.offset])), \(shortNumber(hi[$0.offset]))]"
                }
                lines.append("- removed \(plural(rows.count, "row")) with outliers (\(method))\(rowList(rows))"
                             + (cols.isEmpty ? "" : "; " + cols.joined(separator: "; ")))
            case .clippedOutliers(let method, let perColumn, let lo, let hi):
                let cols = perColumn.enumerated().filter { $0.element > 0 }.map {
                    "\(name($0.offset)): \(plural($0.element, "value")) to [\(shortNumber(lo[$0.offset])), \(shortNumber(hi[$0.offset]))]"
                }
                lines.append("- clipped \(plural(perColumn.reduce(0, +), "value")) (\(method))"
                             + (cols.isEmpty ? "" : ": " + cols.joined(separator: "; ")))
            }
        }
        return lines.joined(separator: "\n")
    }

    /// The plain-text summary, columns named `x0`, `x1`, ...
    public var description: String { text() }
}

/// Rows listed in a report line before eliding the rest.
private let listLimit = 10

private func plural(_ n: Int, _ noun: String) -> String { "\(n) \(noun)\(n == 1 ? "" : "s")" }

private func percent(_ f: Double) -> String { shortNumber(f * 100) + "%" }

private func rowList(_ rows: [Int]) -> String {
    guard !rows.isEmpty else { return "" }
    let shown = rows.prefix(listLimit).map(String.init).joined(separator: ", ")
    return (rows.count == 1 ? ": row " : ": rows ") + shown + (rows.count > listLimit ? ", ... (\(rows.count - listLimit) more)" : "")
}

/// A number with at most 6 significant digits, without a trailing ".0" when whole.
func shortNumber(_ v: Double) -> String {
    if v.isNaN { return "nan" }
    if v.isInfinite { return v > 0 ? "inf" : "-inf" }
    if v == v.rounded(), abs(v) < 1e15 { return String(Int64(v)) }
    var s = String(format: "%.6g", v)
    if s.contains("."), !s.contains("e") {
        while s.hasSuffix("0") { s.removeLast() }
        if s.hasSuffix(".") { s.removeLast() }
    }
    return s
}

/// The result of a row-removing cleaning operation on training data: the rows kept, their targets, which rows of
/// the original table they are, and a report of what changed.
///
/// Row removal changes the number of samples, so it belongs to training-data preparation only; it is not a
/// `TablePreparer` and is never applied at prediction time. Use `kept` to filter anything else that is indexed
/// by sample (weights, ids, text).
///
/// ```swift
/// let clean = try Cleaning.dropRowsWithMissing(trainX, targets: trainY)
///     .then { try Cleaning.removeDuplicates($0, targets: $1) }
///     .then { try Cleaning.removeOutliers($0, targets: $1, method: .iqr(k: 1.5)) }
/// print(clean.report)                     // what was dropped and why
/// model.fit(clean.inputs, clean.targets!)
/// ```
public struct CleanedData: Sendable {
    /// The kept rows of the inputs, in their original order, with the input dtype.
    public var inputs: Tensor
    /// The kept targets (nil when no targets were given).
    public var targets: Tensor?
    /// The original row number of each kept row, ascending.
    public var kept: [Int]
    /// What changed.
    public var report: CleaningReport

    /// A result holding `inputs` and `targets` with the given kept rows and report.
    public init(inputs: Tensor, targets: Tensor?, kept: [Int], report: CleaningReport) {
        self.inputs = inputs
        self.targets = targets
        self.kept = kept
        self.report = report
    }

    /// Applies another cleaning operation to this result's inputs and targets, composing the kept rows and the
    /// reports so that row numbers still refer to the original table.
    public func then(_ next: (Tensor, Tensor?) throws -> CleanedData) rethrows -> CleanedData {
        let after = try next(inputs, targets)
        return CleanedData(inputs: after.inputs, targets: after.targets, kept: after.kept.map { kept[$0] },
                           report: report.appending(after.report.renumberingRows(kept)))
    }
}
