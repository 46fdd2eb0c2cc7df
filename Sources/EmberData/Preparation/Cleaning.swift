import EmberCore

/// Row-removing cleaning of training data: dropping rows with missing values, removing duplicate rows, removing
/// rows with outliers.
///
/// Each operation takes the inputs (`[samples, features]`, NaN where missing) and optionally the targets (any
/// tensor whose first dimension is the sample), and returns a `CleanedData`: the kept inputs and targets, the
/// original numbers of the kept rows, and a `CleaningReport` of what was removed and why. Removing rows changes
/// the number of samples, so these are for training data only, never a step applied at prediction time; the
/// column-wise steps that are (`MissingColumnDropper`, `OutlierClipper`, `SimpleImputer`) are `TablePreparer`s.
///
/// ```swift
/// let clean = try Cleaning.dropRowsWithMissing(trainX, targets: trainY)
///     .then { try Cleaning.removeDuplicates($0, targets: $1) }
///     .then { try Cleaning.removeOutliers($0, targets: $1, method: .zScore(threshold: 3)) }
/// print(clean.report)
/// let weights = clean.kept.map { sampleWeights[$0] }    // anything else indexed by sample
/// ```
public enum Cleaning {
    /// Drops every row with a missing value (NaN) in `columns` (nil: all columns) or, when `checkTargets` is true,
    /// in its targets.
    /// - Throws: `PreparationError.notATable` for inputs that are not 2-D, `.sampleCountMismatch` when the targets
    ///   have a different number of samples.
    public static func dropRowsWithMissing(_ inputs: Tensor, targets: Tensor? = nil, columns: [Int]? = nil,
                                           checkTargets: Bool = true) throws -> CleanedData {
        let step = "Cleaning.dropRowsWithMissing"
        let t = try Table(inputs, step: step)
        let y = try targetRows(targets, rows: t.rows, step: step)
        let checked = columns ?? Array(0..<t.cols)
        precondition(checked.allSatisfy { $0 >= 0 && $0 < t.cols }, "\(step): columns \(checked) out of range for \(t.cols) features")
        var perColumn = [Int](repeating: 0, count: t.cols)
        for j in Set(checked) { perColumn[j] = t.rows - t.present(j).count }
        var missingTargets = 0
        var removed: [Int] = []
        for i in 0..<t.rows {
            let inputMissing = checked.contains { t.values[i * t.cols + $0].isNaN }
            let targetMissing = checkTargets && (y?[i].contains { $0.isNaN } ?? false)
            if targetMissing { missingTargets += 1 }
            if inputMissing || targetMissing { removed.append(i) }
        }
        return keeping(removing: removed, inputs, targets, rows: t.rows, cols: t.cols,
                       change: .droppedRowsWithMissing(rows: removed, missingPerColumn: perColumn, missingTargets: missingTargets))
    }

    /// Removes every row that repeats an earlier row, keeping the first occurrence. Rows are compared on their
    /// inputs, and also on their targets when `consideringTargets` is true (so equal inputs with different targets
    /// are both kept). NaN equals NaN and -0 equals 0 here, as in pandas' `drop_duplicates`.
    /// - Throws: `PreparationError.notATable` for inputs that are not 2-D, `.sampleCountMismatch` when the targets
    ///   have a different number of samples.
    public static func removeDuplicates(_ inputs: Tensor, targets: Tensor? = nil,
                                        consideringTargets: Bool = true) throws -> CleanedData {
        let step = "Cleaning.removeDuplicates"
        let t = try Table(inputs, step: step)
        let y = try targetRows(targets, rows: t.rows, step: step)
        let withTargets = consideringTargets && y != nil
        var first: [[UInt64]: Int] = [:]
        var removed: [Int] = [], originals: [Int] = []
        for i in 0..<t.rows {
            var key = (0..<t.cols).map { canonicalBits(t.values[i * t.cols + $0]) }
            if withTargets, let y { key += y[i].map(canonicalBits) }
            if let f = first[key] {
                removed.append(i)
                originals.append(f)
            } else {
                first[key] = i
            }
        }
        return keeping(removing: removed, inputs, targets, rows: t.rows, cols: t.cols,
                       change: .removedDuplicates(rows: removed, duplicateOf: originals, consideringTargets: withTargets))
    }

    /// Removes every row with a value outside its column's bounds, the bounds being learned from these inputs by
    /// `method` over `columns` (nil: all columns). Missing values are never outliers.
    ///
    /// IQR bounds are `[Q1 - k·IQR, Q3 + k·IQR]`; z-score bounds are `mean ± threshold·std` (population std).
    /// Values exactly on a bound are kept.
    /// - Throws: `PreparationError.notATable` for inputs that are not 2-D, `.emptyInput` for no rows,
    ///   `.sampleCountMismatch` when the targets have a different number of samples.
    public static func removeOutliers(_ inputs: Tensor, targets: Tensor? = nil, method: OutlierMethod = .iqr(),
                                      columns: [Int]? = nil) throws -> CleanedData {
        var clipper = OutlierClipper(method: method, columns: columns)
        try clipper.fit(inputs)
        return try removeOutliers(inputs, targets: targets, bounds: clipper)
    }

    /// Removes every row with a value outside the bounds of a fitted `OutlierClipper` (for example one fitted on
    /// a larger training set). Missing values are never outliers; values exactly on a bound are kept.
    /// - Throws: `PreparationError.notFitted`, `.featureCountMismatch`, `.notATable`, `.sampleCountMismatch`.
    public static func removeOutliers(_ inputs: Tensor, targets: Tensor? = nil, bounds clipper: OutlierClipper) throws -> CleanedData {
        let step = "Cleaning.removeOutliers"
        guard let lower = clipper.lower, let upper = clipper.upper else { throw PreparationError.notFitted(step: "OutlierClipper") }
        let t = try Table(inputs, step: step)
        try checkWidth(t, lower.count, step)
        _ = try targetRows(targets, rows: t.rows, step: step)
        var removed: [Int] = []
        var perColumn = [Int](repeating: 0, count: t.cols)
        for (i, cols) in clipper.outlierColumns(t).enumerated() where !cols.isEmpty {
            removed.append(i)
            for j in cols { perColumn[j] += 1 }
        }
        return keeping(removing: removed, inputs, targets, rows: t.rows, cols: t.cols,
                       change: .removedOutliers(method: clipper.method, rows: removed, rowsPerColumn: perColumn,
                                                lower: lower, upper: upper))
    }

    /// The targets' values grouped by sample, or nil without targets.
    static func targetRows(_ targets: Tensor?, rows: Int, step: String) throws -> [ArraySlice<Double>]? {
        guard let targets else { return nil }
        let n = targets.rank == 0 ? 0 : targets.shape[0]
        guard targets.rank > 0, n == rows else {
            throw PreparationError.sampleCountMismatch(step: step, inputs: rows, targets: n)
        }
        guard rows > 0 else { return [] }
        let values = targets.toArray(Double.self)
        let per = values.count / rows
        return (0..<rows).map { values[($0 * per)..<(($0 + 1) * per)] }
    }

    /// The result of removing rows `removed` (ascending) from a `rows` x `cols` table.
    static func keeping(removing removed: [Int], _ inputs: Tensor, _ targets: Tensor?, rows: Int, cols: Int,
                        change: CleaningReport.Change) -> CleanedData {
        let gone = Set(removed)
        let kept = (0..<rows).filter { !gone.contains($0) }
        let index = Tensor(kept.map { Int64($0) }, shape: [kept.count])
        let report = CleaningReport(rowsBefore: rows, rowsAfter: kept.count, columnsBefore: cols, columnsAfter: cols, changes: [change])
        return CleanedData(inputs: inputs.indexSelect(axis: 0, index: index),
                           targets: targets?.indexSelect(axis: 0, index: index), kept: kept, report: report)
    }
}

/// The bits of `v` with every NaN made the same NaN and -0 made 0, for comparing rows.
@inline(__always)
private func canonicalBits(_ v: Double) -> UInt64 {
    if v.isNaN { return Double.nan.bitPattern }
    return v == 0 ? 0 : v.bitPattern
}
