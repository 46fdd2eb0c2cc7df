import EmberCore

// Input checks shared by the metrics, with scikit-learn's messages, and conversions from tensors.

/// Sorted distinct values (NumPy's `unique`).
func sortedUnique(_ xs: [Int]) -> [Int] { Array(Set(xs)).sorted() }

/// Sorted distinct values of two label vectors (scikit-learn's `unique_labels`).
func sortedUnique(_ a: [Int], _ b: [Int]) -> [Int] { Array(Set(a).union(b)).sorted() }

/// An integer array as NumPy prints it: `[2 3]`.
func numpyRepr(_ xs: [Int]) -> String { "[" + xs.map(String.init).joined(separator: " ") + "]" }

/// An integer array as a Python list prints: `[2, 3]`.
func pythonListRepr(_ xs: [Int]) -> String { "[" + xs.map(String.init).joined(separator: ", ") + "]" }

/// A float as Python prints it (`nan`, `1.0`, `0.5`).
func pythonFloatRepr(_ x: Double) -> String {
    if x.isNaN { return "nan" }
    if x.isInfinite { return x > 0 ? "inf" : "-inf" }
    if x == x.rounded() && Swift.abs(x) < 1e16 { return String(format: "%.1f", x) }
    return "\(x)"
}

/// scikit-learn's `check_consistent_length`.
func checkLengths(_ lengths: Int...) throws(MetricError) {
    guard let first = lengths.first, lengths.allSatisfy({ $0 == first }) else {
        throw MetricError(.inconsistentLength,
                          "Found input variables with inconsistent numbers of samples: \(pythonListRepr(lengths))")
    }
}

/// The checks of scikit-learn's `_check_targets` for label vectors: equal lengths, at least one sample.
func checkLabelTargets(_ yTrue: [Int], _ yPred: [Int]) throws(MetricError) {
    try checkLengths(yTrue.count, yPred.count)
    if yTrue.isEmpty {
        throw MetricError(.emptyInput, "Found empty input array (e.g., `y_true` or `y_pred`) while a minimum of 1 sample is required.")
    }
}

/// A row-major matrix of scores, one row per sample and one column per class.
struct ScoreRows {
    var values: [Double]
    let rows: Int
    let columns: Int

    init(_ rows: [[Double]]) {
        let c = rows.first?.count ?? 0
        precondition(rows.allSatisfy { $0.count == c }, "scores: every row must have the same number of columns")
        self.values = rows.flatMap { $0 }
        self.rows = rows.count
        self.columns = c
    }

    init(flat: [Double], rows: Int, columns: Int) {
        precondition(flat.count == rows * columns, "scores: \(flat.count) values do not fill \(rows)x\(columns)")
        self.values = flat
        self.rows = rows
        self.columns = columns
    }

    subscript(_ r: Int, _ c: Int) -> Double { values[r * columns + c] }

    func column(_ c: Int) -> [Double] { (0..<rows).map { values[$0 * columns + c] } }
    func rowSum(_ r: Int) -> Double { (0..<columns).reduce(0) { $0 + values[r * columns + $1] } }
}

extension Tensor {
    /// Integer class labels from a tensor: the values of an integer (or integral float) tensor [n] or [n, 1], or
    /// the argmax over the last axis of scores [n, classes] (ties go to the first class, as NumPy's argmax).
    public func classLabels() -> [Int] {
        if rank == 2 && shape[1] > 1 { return withoutGrad { argmax(axis: -1) }.toArray(Int64.self).map { Int($0) } }
        precondition(rank <= 1 || (rank == 2 && shape[1] == 1),
                     "classLabels: expected labels [n] or scores [n, classes], got shape \(shape)")
        return toArray(Double.self).map { v in
            precondition(v == v.rounded(), "classLabels: \(v) is not an integer class label")
            return Int(v)
        }
    }

    /// Scores as rows of Doubles: [n, classes] stays as is, [n] becomes one column.
    func scoreRows() -> ScoreRows {
        precondition(rank == 1 || rank == 2, "scores: expected shape [n] or [n, classes], got \(shape)")
        let d = withoutGrad { detached() }.toArray(Double.self)
        return ScoreRows(flat: d, rows: shape[0], columns: rank == 2 ? shape[1] : 1)
    }
}
