import EmberCore

/// Clips outliers to per-column bounds learned from training data (IQR fences or z-score limits), then applies the
/// same bounds to any split. Unlike `Cleaning.removeOutliers`, it keeps every row, so it can run at prediction time.
///
/// Missing values (NaN) are ignored when fitting and stay NaN. A column with no observed value, or one left out by
/// `columns`, gets the bounds -inf...inf and is never clipped. A constant column under `.zScore` has zero spread,
/// so other values in later splits are clipped to the constant.
///
/// ```swift
/// var clipper = OutlierClipper(method: .iqr(k: 1.5))
/// try clipper.fit(trainX)
/// let (x, report) = try clipper.clip(testX)       // report.description: "clipped 3 values (IQR, k = 1.5): ..."
/// ```
public struct OutlierClipper: TablePreparer, Equatable {
    /// How the bounds are found.
    public var method: OutlierMethod
    /// The columns to clip (nil: all).
    public var columns: [Int]?
    /// Per-column lower bounds (nil before `fit`).
    public private(set) var lower: [Double]?
    /// Per-column upper bounds (nil before `fit`).
    public private(set) var upper: [Double]?

    /// An unfitted clipper.
    public init(method: OutlierMethod = .iqr(), columns: [Int]? = nil) {
        switch method {
        case .iqr(let k): precondition(k >= 0, "OutlierClipper: the IQR factor k must be >= 0, got \(k)")
        case .zScore(let t): precondition(t >= 0, "OutlierClipper: the z-score threshold must be >= 0, got \(t)")
        }
        self.method = method
        self.columns = columns
    }

    /// Learns the bounds of each column from `x` ([samples, features], NaN where missing).
    public mutating func fit(_ x: Tensor) throws {
        let t = try Table(x, step: "OutlierClipper")
        guard t.rows > 0 else { throw PreparationError.emptyInput(step: "OutlierClipper") }
        let chosen = Set(columns ?? Array(0..<t.cols))
        precondition(chosen.allSatisfy { $0 >= 0 && $0 < t.cols }, "OutlierClipper: columns \(columns ?? []) out of range for \(t.cols) features")
        var lo = [Double](repeating: -.infinity, count: t.cols), hi = [Double](repeating: .infinity, count: t.cols)
        for j in chosen {
            let v = t.present(j)
            guard !v.isEmpty else { continue }
            switch method {
            case .iqr(let k):
                let s = v.sorted()
                let q1 = percentile(sorted: s, 25), q3 = percentile(sorted: s, 75)
                let iqr = q3 - q1
                lo[j] = q1 - k * iqr
                hi[j] = q3 + k * iqr
            case .zScore(let threshold):
                let mean = v.reduce(0, +) / Double(v.count)
                let std = (v.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(v.count)).squareRoot()
                lo[j] = mean - threshold * std
                hi[j] = mean + threshold * std
            }
        }
        lower = lo
        upper = hi
    }

    /// `x` with values below a column's lower bound raised to it and values above its upper bound lowered to it;
    /// the result has the dtype of `x`.
    public func transform(_ x: Tensor) throws -> Tensor { try clip(x).clipped }

    /// Clips `x` as `transform` does, and reports how many values of each column were clipped.
    public func clip(_ x: Tensor) throws -> (clipped: Tensor, report: CleaningReport) {
        guard let lower, let upper else { throw PreparationError.notFitted(step: "OutlierClipper") }
        var t = try Table(x, step: "OutlierClipper")
        try checkWidth(t, lower.count, "OutlierClipper")
        var counts = [Int](repeating: 0, count: t.cols)
        for i in 0..<t.rows {
            for j in 0..<t.cols {
                let v = t.values[i * t.cols + j]
                if v < lower[j] {
                    t.values[i * t.cols + j] = lower[j]
                    counts[j] += 1
                } else if v > upper[j] {
                    t.values[i * t.cols + j] = upper[j]
                    counts[j] += 1
                }
            }
        }
        let report = CleaningReport(rowsBefore: t.rows, rowsAfter: t.rows, columnsBefore: t.cols, columnsAfter: t.cols,
                                    changes: [.clippedOutliers(method: method, valuesPerColumn: counts, lower: lower, upper: upper)])
        return (t.tensor(x.dtype), report)
    }

    /// For each row of `t`, the columns where it lies outside the bounds (empty for rows within them).
    func outlierColumns(_ t: Table) -> [[Int]] {
        guard let lower, let upper else { return [] }
        return (0..<t.rows).map { i in
            (0..<t.cols).filter { j in
                let v = t.values[i * t.cols + j]
                return v < lower[j] || v > upper[j]
            }
        }
    }
}

/// Drops the columns whose fraction of missing values (NaN) in training data exceeds `threshold`; the same
/// columns are then dropped from any split.
///
/// ```swift
/// var dropper = MissingColumnDropper(threshold: 0.4)
/// let x = try dropper.fitTransform(trainX)     // columns more than 40% missing in trainX are gone
/// print(dropper.report!)                         // "dropped 1 column with more than 40% missing: x3 (75% missing)"
/// let names = dropper.featureNames(inputNames: csvColumns)
/// ```
public struct MissingColumnDropper: TablePreparer, Equatable {
    /// The largest missing fraction a column may have and be kept (0...1; 0 drops every column with a missing
    /// value, 1 keeps all).
    public var threshold: Double
    /// The missing fraction of each column in the training data (nil before `fit`).
    public private(set) var missingFractions: [Double]?
    /// The dropped columns, ascending (nil before `fit`).
    public private(set) var dropped: [Int]?
    /// The number of training rows (nil before `fit`).
    public private(set) var trainingRows: Int?

    /// An unfitted dropper.
    public init(threshold: Double = 0.5) {
        precondition(threshold >= 0 && threshold <= 1, "MissingColumnDropper: threshold must be in 0...1, got \(threshold)")
        self.threshold = threshold
    }

    /// The kept columns, ascending (nil before `fit`).
    public var kept: [Int]? {
        guard let missingFractions, let dropped else { return nil }
        let gone = Set(dropped)
        return (0..<missingFractions.count).filter { !gone.contains($0) }
    }

    /// Learns which columns to drop from `x` ([samples, features], NaN where missing).
    public mutating func fit(_ x: Tensor) throws {
        let t = try Table(x, step: "MissingColumnDropper")
        guard t.rows > 0 else { throw PreparationError.emptyInput(step: "MissingColumnDropper") }
        let fractions = (0..<t.cols).map { Double(t.rows - t.present($0).count) / Double(t.rows) }
        missingFractions = fractions
        dropped = fractions.indices.filter { fractions[$0] > threshold }
        trainingRows = t.rows
    }

    /// `x` without the dropped columns; the result has the dtype of `x`.
    public func transform(_ x: Tensor) throws -> Tensor {
        guard let kept, let missingFractions else { throw PreparationError.notFitted(step: "MissingColumnDropper") }
        let t = try Table(x, step: "MissingColumnDropper")
        try checkWidth(t, missingFractions.count, "MissingColumnDropper")
        var out: [Double] = []
        out.reserveCapacity(t.rows * kept.count)
        for i in 0..<t.rows {
            for j in kept { out.append(t.values[i * t.cols + j]) }
        }
        return Table(rows: t.rows, cols: kept.count, values: out).tensor(x.dtype)
    }

    /// What fitting decided, as a report on the training table (nil before `fit`).
    public var report: CleaningReport? {
        guard let missingFractions, let dropped, let trainingRows else { return nil }
        return CleaningReport(rowsBefore: trainingRows, rowsAfter: trainingRows, columnsBefore: missingFractions.count,
                              columnsAfter: missingFractions.count - dropped.count,
                              changes: [.droppedColumns(columns: dropped, missingFractions: dropped.map { missingFractions[$0] },
                                                        threshold: threshold)])
    }

    /// The names of the kept columns, from `inputNames` (else `x0`, `x1`, ...).
    public func featureNames(inputNames: [String]? = nil) -> [String] {
        (kept ?? []).map { inputNames?[$0] ?? "x\($0)" }
    }
}
