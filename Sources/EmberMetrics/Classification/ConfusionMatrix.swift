/// Counts of (true label, predicted label) pairs: row `i` is the true label `labels[i]`, column `j` the predicted
/// label `labels[j]`, as scikit-learn's `confusion_matrix`.
///
/// It is also the sufficient statistic of every label-based metric (accuracy, precision, recall, F-scores, balanced
/// accuracy, Matthews correlation, Cohen's kappa), which is why the streaming ``ClassificationAccumulator`` keeps one.
public struct ConfusionMatrix: Sendable, Hashable {
    /// The label of each row and column, in order.
    public let labels: [Int]
    /// Counts, row-major (`counts[i * labels.count + j]`).
    public private(set) var counts: [Int]
    private let index: [Int: Int]

    /// An all-zero matrix over `labels` (distinct).
    public init(labels: [Int]) {
        precondition(Set(labels).count == labels.count, "ConfusionMatrix: labels must be distinct, got \(labels)")
        self.labels = labels
        self.counts = [Int](repeating: 0, count: labels.count * labels.count)
        var idx: [Int: Int] = [:]
        for (i, l) in labels.enumerated() { idx[l] = i }
        self.index = idx
    }

    /// Counts of `yTrue` against `yPred` over `labels` (default: the sorted union of both). Pairs with a label outside
    /// `labels` are not counted, as in scikit-learn.
    public init(yTrue: [Int], yPred: [Int], labels: [Int]? = nil) {
        precondition(yTrue.count == yPred.count, "ConfusionMatrix: \(yTrue.count) true labels but \(yPred.count) predictions")
        self.init(labels: labels ?? sortedUnique(yTrue, yPred))
        for (t, p) in zip(yTrue, yPred) { add(true: t, predicted: p) }
    }

    /// Number of labels.
    public var size: Int { labels.count }

    /// The position of `label` in `labels`, if present.
    public func position(of label: Int) -> Int? { index[label] }

    /// Counts one pair; a pair with a label outside `labels` is ignored.
    public mutating func add(true t: Int, predicted p: Int, count: Int = 1) {
        guard let i = index[t], let j = index[p] else { return }
        counts[i * size + j] += count
    }

    /// Adds another matrix over the same labels.
    public mutating func merge(_ other: ConfusionMatrix) {
        precondition(other.labels == labels, "ConfusionMatrix.merge: labels differ (\(labels) vs \(other.labels))")
        for i in counts.indices { counts[i] += other.counts[i] }
    }

    /// The count at row `i`, column `j` (positions, not labels).
    public subscript(_ i: Int, _ j: Int) -> Int { counts[i * size + j] }

    /// The count of samples with true label `t` predicted as `p`, or 0 when a label is not in the matrix.
    public func count(true t: Int, predicted p: Int) -> Int {
        guard let i = index[t], let j = index[p] else { return 0 }
        return self[i, j]
    }

    /// The counts as rows.
    public var rows: [[Int]] { (0..<size).map { i in Array(counts[(i * size)..<((i + 1) * size)]) } }

    /// Number of samples counted.
    public var total: Int { counts.reduce(0, +) }

    /// Samples per true label (row sums): the support of each class.
    public var trueCounts: [Int] { (0..<size).map { i in (0..<size).reduce(0) { $0 + self[i, $1] } } }

    /// Samples per predicted label (column sums).
    public var predictedCounts: [Int] { (0..<size).map { j in (0..<size).reduce(0) { $0 + self[$1, j] } } }

    /// Correct predictions per label (the diagonal).
    public var diagonal: [Int] { (0..<size).map { self[$0, $0] } }

    /// The labels that occur as a true or a predicted label (what scikit-learn uses when `labels` is not given).
    public var presentLabels: [Int] {
        let t = trueCounts, p = predictedCounts
        return labels.indices.filter { t[$0] > 0 || p[$0] > 0 }.map { labels[$0] }.sorted()
    }

    /// The sub-matrix over `labels` (in that order); labels not in this matrix get zero rows and columns.
    public func restricted(to labels: [Int]) -> ConfusionMatrix {
        var out = ConfusionMatrix(labels: labels)
        for (i, t) in labels.enumerated() {
            for (j, p) in labels.enumerated() { out.counts[i * labels.count + j] = count(true: t, predicted: p) }
        }
        return out
    }

    /// How ``normalized(_:)`` divides the counts.
    public enum Normalization: Sendable, Hashable {
        /// By row sums: each row is the distribution of predictions for one true class (rows sum to 1).
        case trueLabels
        /// By column sums: each column is the distribution of true classes for one prediction.
        case predictedLabels
        /// By the total.
        case all
    }

    /// Counts divided as scikit-learn's `normalize="true" | "pred" | "all"`; 0/0 becomes 0.
    public func normalized(_ by: Normalization) -> [[Double]] {
        let t = trueCounts, p = predictedCounts, n = Double(total)
        return (0..<size).map { i in
            (0..<size).map { j in
                let d: Double
                switch by {
                case .trueLabels: d = Double(t[i])
                case .predictedLabels: d = Double(p[j])
                case .all: d = n
                }
                let v = Double(self[i, j]) / d
                return v.isNaN ? 0 : v
            }
        }
    }
}

/// scikit-learn's warning when a confusion matrix has a single label.
let singleLabelConfusionWarning = MetricWarning(.user,
    "A single label was found in 'y_true' and 'y_pred'. For the confusion matrix to have the correct shape, use the 'labels' parameter to pass all known labels.")

/// The confusion matrix of `yTrue` against `yPred`, as scikit-learn's `confusion_matrix`.
///
/// - Parameters:
///   - labels: rows and columns in this order (default: sorted union of both vectors); samples with other labels are
///     left out. Throws when `labels` is empty or contains no label of `yTrue`.
///   - warnings: receives scikit-learn's warning when the matrix is 1x1.
public func confusionMatrix(_ yTrue: [Int], _ yPred: [Int], labels: [Int]? = nil,
                            warnings: MetricWarnings? = nil) throws(MetricError) -> ConfusionMatrix {
    try checkLabelTargets(yTrue, yPred)
    if let labels {
        if labels.isEmpty { throw MetricError(.invalidLabels, "'labels' should contain at least one label.") }
        if Set(labels).isDisjoint(with: yTrue) {
            throw MetricError(.invalidLabels, "At least one label specified must be in y_true")
        }
    }
    let cm = ConfusionMatrix(yTrue: yTrue, yPred: yPred, labels: labels)
    if cm.size == 1 { warnings?.append(singleLabelConfusionWarning) }
    return cm
}
