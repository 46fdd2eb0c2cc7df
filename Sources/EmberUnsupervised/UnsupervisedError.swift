import EmberCore

/// Why a PCA or k-means fit (or a transform) could not run on the data it was given.
public struct UnsupervisedError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The estimator and method ("PCA.fit", "KMeans.predict").
    public let operation: String
    /// What was wrong and what was expected.
    public let message: String

    /// An error of `operation` saying `message`.
    public init(_ operation: String, _ message: String) {
        self.operation = operation
        self.message = message
    }

    public var description: String { "\(operation): \(message)" }
}

/// A dense float64 matrix in row-major order: the data layout of every estimator here.
struct RowMatrix {
    var rows: Int
    var cols: Int
    var values: [Double]

    subscript(_ r: Int, _ c: Int) -> Double {
        get { values[r * cols + c] }
        set { values[r * cols + c] = newValue }
    }

    /// Checks that `x` is a non-empty rectangular matrix of finite numbers and flattens it.
    init(checking x: [[Double]], _ operation: String, minRows: Int = 1) throws(UnsupervisedError) {
        guard x.count >= minRows else {
            throw UnsupervisedError(operation, x.isEmpty ? "the data has no rows (expected at least \(minRows))"
                                    : "the data has \(x.count) rows; at least \(minRows) are needed")
        }
        let c = x[0].count
        guard c > 0 else { throw UnsupervisedError(operation, "the data has rows of no features") }
        var v = [Double]()
        v.reserveCapacity(x.count * c)
        for (i, row) in x.enumerated() {
            guard row.count == c else {
                throw UnsupervisedError(operation, "row \(i) has \(row.count) features, row 0 has \(c) (rows must all have the same length)")
            }
            if let j = row.firstIndex(where: { !$0.isFinite }) {
                throw UnsupervisedError(operation, "row \(i) has a non-finite value (\(row[j])) in feature \(j); remove or impute NaN/infinite rows first")
            }
            v += row
        }
        rows = x.count
        cols = c
        values = v
    }

    init(rows: Int, cols: Int, values: [Double]) {
        self.rows = rows
        self.cols = cols
        self.values = values
    }

    func row(_ r: Int) -> ArraySlice<Double> { values[(r * cols)..<((r + 1) * cols)] }
    var rowArrays: [[Double]] { (0..<rows).map { Array(row($0)) } }
}

extension Tensor {
    /// The rows of a 2-D tensor as float64 arrays (the input form of `PCA` and `KMeans`).
    public func matrixRows() -> [[Double]] {
        precondition(shape.count == 2, "matrixRows: expected a 2-D tensor (samples x features), got shape \(shape)")
        let v = toArray(Double.self), c = shape[1]
        return (0..<shape[0]).map { Array(v[($0 * c)..<(($0 + 1) * c)]) }
    }
}
