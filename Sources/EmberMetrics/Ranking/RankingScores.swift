// Score-based metrics: ROC-AUC (binary and one-vs-rest), average precision and top-k accuracy, as scikit-learn's
// `roc_auc_score`, `average_precision_score` and `top_k_accuracy_score`.

/// How one-vs-rest scores of several classes are combined.
public enum RankingAverage: Sendable, Hashable {
    /// The unweighted mean over classes.
    case macro
    /// The mean weighted by each class' number of true samples.
    case weighted
    /// One binary problem over every (sample, class) cell.
    case micro
}

/// The one-vs-rest table of a multiclass problem: for each class, which samples are of it.
struct OneVsRest {
    let classes: [Int]
    let scores: ScoreRows
    let yTrue: [Int]

    func groups(_ c: Int) -> ScoreGroups {
        ScoreGroups(positive: yTrue.map { $0 == classes[c] }, scores: scores.column(c))
    }

    func microGroups() -> ScoreGroups {
        var pos: [Bool] = []
        pos.reserveCapacity(scores.values.count)
        for y in yTrue { for c in classes { pos.append(y == c) } }
        return ScoreGroups(positive: pos, scores: scores.values)
    }

    func average(_ average: RankingAverage?, metric: (ScoreGroups) -> Double) -> [Double] {
        let support = classes.map { c in Double(yTrue.reduce(0) { $0 + ($1 == c ? 1 : 0) }) }
        return averageBinaryScore(support: support, groups: groups, micro: microGroups, average: average, metric: metric)
    }
}

/// scikit-learn's `_average_binary_score`: one binary metric per class, then the requested average (nil: per
/// class). Weighted averaging forces classes without support to 0 and returns 0 when no class has support.
func averageBinaryScore(support: [Double], groups: (Int) -> ScoreGroups, micro: () -> ScoreGroups,
                        average: RankingAverage?, metric: (ScoreGroups) -> Double) -> [Double] {
    if average == .micro { return [metric(micro())] }
    let total = support.reduce(0, +)
    if average == .weighted && Swift.abs(total) <= 1e-8 { return [0] }
    var per = support.indices.map { metric(groups($0)) }
    guard let average else { return per }
    if average == .weighted {
        for i in per.indices where support[i] == 0 { per[i] = 0 }
        return [zip(per, support).reduce(0) { $0 + $1.0 * $1.1 } / total]
    }
    return [per.reduce(0, +) / Double(per.count)]
}

private func shapeError(_ rows: Int, _ cols: Int?) -> MetricError {
    let shape = cols.map { "(\(rows), \($0))" } ?? "(\(rows),)"
    return MetricError(.invalidScores, "`y_score` needs to be of shape `(n_samples, n_classes)`, since `y_true` contains multiple classes. Got `y_score.shape=\(shape)`.")
}

private func oneDimensionalError(_ rows: Int, _ cols: Int) -> MetricError {
    MetricError(.invalidScores, "y should be a 1d array, got an array of shape (\(rows), \(cols)) instead.")
}

/// The area under the ROC curve of binary `yTrue` against `scores` (`roc_auc_score`). The larger of the two labels
/// is the positive class. A single class in `yTrue` gives NaN and a warning, as in scikit-learn.
public func rocAUC(_ yTrue: [Int], _ scores: [Double], warnings: MetricWarnings? = nil) throws(MetricError) -> Double {
    try checkLengths(yTrue.count, scores.count)
    try checkFinite(scores)
    let classes = sortedUnique(yTrue)
    if classes.count > 2 { throw shapeError(scores.count, nil) }
    let positive = yTrue.map { $0 == classes.last! && classes.count == 2 }
    return binaryROCAUC(ScoreGroups(positive: positive, scores: scores), warnings: warnings)
}

/// Checks of scikit-learn's `_multiclass_roc_auc_score`; returns the one-vs-rest table.
func multiclassROCTable(_ yTrue: [Int], _ s: ScoreRows, labels: [Int]?) throws(MetricError) -> OneVsRest {
    try checkLengths(yTrue.count, s.rows)
    try checkFinite(s.values)
    let present = sortedUnique(yTrue)
    if present.count <= 2 && s.columns <= 2 { throw oneDimensionalError(s.rows, s.columns) }
    for r in 0..<s.rows {
        let sum = s.rowSum(r)
        if !(Swift.abs(1 - sum) <= 1e-8 + 1e-5 * Swift.abs(sum)) {
            throw MetricError(.invalidScores, "Target scores need to be probabilities for multiclass roc_auc, i.e. they should sum up to 1.0 over classes")
        }
    }
    let classes: [Int]
    if let labels {
        let u = sortedUnique(labels)
        if u.count != labels.count { throw MetricError(.invalidLabels, "Parameter 'labels' must be unique") }
        if u != labels { throw MetricError(.invalidLabels, "Parameter 'labels' must be ordered") }
        if u.count != s.columns {
            throw MetricError(.invalidLabels, "Number of given labels, \(u.count), not equal to the number of columns in 'y_score', \(s.columns)")
        }
        if !Set(yTrue).isSubset(of: u) { throw MetricError(.invalidLabels, "'y_true' contains labels not in parameter 'labels'") }
        classes = u
    } else {
        if present.count != s.columns {
            throw MetricError(.invalidLabels, "Number of classes in y_true not equal to the number of columns in 'y_score'")
        }
        classes = present
    }
    return OneVsRest(classes: classes, scores: s, yTrue: yTrue)
}

/// One-vs-rest ROC-AUC of a multiclass problem (`roc_auc_score(multi_class="ovr")`).
///
/// - Parameters:
///   - probabilities: one row per sample, one column per class (in the order of `labels`); rows must sum to 1.
///   - labels: the class of each column, sorted (default: the sorted labels of `yTrue`, which must then cover every
///     column). A class absent from `yTrue` has an undefined AUC (NaN, with a warning): the macro average becomes
///     NaN, the weighted average gives it weight 0.
public func rocAUC(_ yTrue: [Int], probabilities: [[Double]], average: RankingAverage = .macro, labels: [Int]? = nil,
                   warnings: MetricWarnings? = nil) throws(MetricError) -> Double {
    let t = try multiclassROCTable(yTrue, ScoreRows(probabilities), labels: labels)
    return t.average(average) { binaryROCAUC($0, warnings: warnings) }[0]
}

/// One-vs-rest ROC-AUC of each class (`roc_auc_score(multi_class="ovr", average=None)`).
public func rocAUCPerClass(_ yTrue: [Int], probabilities: [[Double]], labels: [Int]? = nil,
                           warnings: MetricWarnings? = nil) throws(MetricError) -> [Double] {
    let t = try multiclassROCTable(yTrue, ScoreRows(probabilities), labels: labels)
    return t.average(nil) { binaryROCAUC($0, warnings: warnings) }
}

/// Average precision of binary `yTrue` against `scores` (`average_precision_score`): the sum over thresholds of
/// (recall step) x precision.
public func averagePrecision(_ yTrue: [Int], _ scores: [Double], positiveLabel: Int = 1,
                             warnings: MetricWarnings? = nil) throws(MetricError) -> Double {
    try checkLengths(yTrue.count, scores.count)
    let present = sortedUnique(yTrue)
    if present.count > 2 { throw shapeError(scores.count, nil) }
    if present.count == 2 && !present.contains(positiveLabel) {
        throw MetricError(.invalidLabels, "pos_label=\(positiveLabel) is not a valid label. It should be one of \(numpyRepr(present))")
    }
    try checkFinite(scores)
    return binaryAveragePrecision(ScoreGroups(positive: yTrue.map { $0 == positiveLabel }, scores: scores), warnings: warnings)
}

func multiclassAPTable(_ yTrue: [Int], _ s: ScoreRows) throws(MetricError) -> OneVsRest {
    try checkLengths(yTrue.count, s.rows)
    let present = sortedUnique(yTrue)
    if present.count <= 2 { throw oneDimensionalError(s.rows, s.columns) }
    if s.columns != present.count { throw shapeError(s.rows, s.columns) }
    try checkFinite(s.values)
    return OneVsRest(classes: present, scores: s, yTrue: yTrue)
}

/// One-vs-rest average precision of a multiclass problem (`average_precision_score` on multiclass targets).
/// `scores` has one column per class present in `yTrue`, in sorted label order.
public func averagePrecision(_ yTrue: [Int], scores: [[Double]], average: RankingAverage = .macro,
                             warnings: MetricWarnings? = nil) throws(MetricError) -> Double {
    let t = try multiclassAPTable(yTrue, ScoreRows(scores))
    return t.average(average) { binaryAveragePrecision($0, warnings: warnings) }[0]
}

/// One-vs-rest average precision of each class.
public func averagePrecisionPerClass(_ yTrue: [Int], scores: [[Double]],
                                     warnings: MetricWarnings? = nil) throws(MetricError) -> [Double] {
    let t = try multiclassAPTable(yTrue, ScoreRows(scores))
    return t.average(nil) { binaryAveragePrecision($0, warnings: warnings) }
}

/// Whether the true class is among the `k` highest scores (`top_k_accuracy_score`), as a fraction of samples.
///
/// Ties follow scikit-learn: among equal scores the class with the larger column index ranks higher.
/// - Parameters:
///   - scores: one row per sample and one column per class (in the order of `labels`).
///   - labels: the class of each column, sorted (default: the sorted labels of `yTrue`, which must cover every
///     column).
public func topKAccuracy(_ yTrue: [Int], scores: [[Double]], k: Int = 2, labels: [Int]? = nil,
                         warnings: MetricWarnings? = nil) throws(MetricError) -> Double {
    let s = ScoreRows(scores)
    var binary = sortedUnique(yTrue).count <= 2
    if binary && labels != nil && labels!.count > 2 { binary = false }
    if binary && s.columns != 1 {
        throw MetricError(.invalidScores, "`y_true` is binary while y_score is 2d with \(s.columns) classes. If `y_true` does not contain all the labels, `labels` must be provided.")
    }
    if binary { return try topKAccuracy(yTrue, s.values, k: k, labels: labels, warnings: warnings) }
    try checkLengths(yTrue.count, s.rows)
    let classes = try topKClasses(yTrue, columns: s.columns, labels: labels, k: k, warnings: warnings)
    let position = Dictionary(uniqueKeysWithValues: classes.enumerated().map { ($1, $0) })
    var hits = 0
    for r in 0..<s.rows where trueClassRank(s, row: r, trueColumn: position[yTrue[r]]!) < k { hits += 1 }
    return Double(hits) / Double(s.rows)
}

/// Top-k accuracy of binary `yTrue` with one score per sample (`top_k_accuracy_score` on 1-D scores): for k = 1
/// a sample is predicted positive when its score exceeds 0.5 (scores in [0, 1]) or 0 (other scores); for k >= 2
/// every sample is a hit.
public func topKAccuracy(_ yTrue: [Int], _ scores: [Double], k: Int = 2, labels: [Int]? = nil,
                         warnings: MetricWarnings? = nil) throws(MetricError) -> Double {
    try checkLengths(yTrue.count, scores.count)
    let classes = try topKClasses(yTrue, columns: 2, labels: labels, k: k, warnings: warnings)
    if k != 1 { return 1 }
    let inUnit = scores.allSatisfy { $0 >= 0 && $0 <= 1 }
    let threshold = inUnit ? 0.5 : 0
    var hits = 0
    for (y, s) in zip(yTrue, scores) where (s > threshold ? 1 : 0) == classes.firstIndex(of: y)! { hits += 1 }
    return Double(hits) / Double(scores.count)
}

/// The number of classes that rank ahead of the true class in one row (scikit-learn's stable descending order).
func trueClassRank(_ s: ScoreRows, row r: Int, trueColumn t: Int) -> Int {
    let st = s[r, t]
    var ahead = 0
    for j in 0..<s.columns where j != t {
        let v = s[r, j]
        if v > st || (v == st && j > t) { ahead += 1 }
    }
    return ahead
}

private func topKClasses(_ yTrue: [Int], columns: Int, labels: [Int]?, k: Int,
                         warnings: MetricWarnings?) throws(MetricError) -> [Int] {
    let classes: [Int]
    if let labels {
        let u = sortedUnique(labels)
        if u.count != labels.count { throw MetricError(.invalidLabels, "Parameter 'labels' must be unique.") }
        if u != labels { throw MetricError(.invalidLabels, "Parameter 'labels' must be ordered.") }
        if u.count != columns {
            throw MetricError(.invalidLabels, "Number of given labels (\(u.count)) not equal to the number of classes in 'y_score' (\(columns)).")
        }
        if !Set(yTrue).isSubset(of: u) { throw MetricError(.invalidLabels, "'y_true' contains labels not in parameter 'labels'.") }
        classes = u
    } else {
        classes = sortedUnique(yTrue)
        if classes.count != columns {
            throw MetricError(.invalidLabels, "Number of classes in 'y_true' (\(classes.count)) not equal to the number of classes in 'y_score' (\(columns)).You can provide a list of all known classes by assigning it to the `labels` parameter.")
        }
    }
    if k >= classes.count {
        warnings?.append(MetricWarning(.undefinedMetric, "'k' (\(k)) greater than or equal to 'n_classes' (\(classes.count)) will result in a perfect score and is therefore meaningless."))
    }
    return classes
}
