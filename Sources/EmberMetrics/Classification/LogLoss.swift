import Foundation

/// Cross-entropy of predicted probabilities (`log_loss`), in nats, averaged over samples.
///
/// Probabilities are clipped to [eps, 1 - eps] with eps = `Double.ulpOfOne` (scikit-learn's clip for float64 input).
/// - Parameters:
///   - probabilities: one row per sample, one column per class in sorted label order. Rows that do not sum to 1 log
///     a warning (scikit-learn computes the loss anyway).
///   - labels: every class (default: the labels of `yTrue`, which must then match the columns). Needed when `yTrue`
///     has a single class.
/// - Throws: ``MetricError`` for values outside [0, 1], a single class, or a class count that does not match.
public func logLoss(_ yTrue: [Int], probabilities: [[Double]], labels: [Int]? = nil,
                    warnings: MetricWarnings? = nil) throws(MetricError) -> Double {
    try logLoss(yTrue, ScoreRows(probabilities), labels: labels, warnings: warnings)
}

/// Log loss of binary `yTrue` given the probability of the larger label (`log_loss` on 1-D probabilities).
public func logLoss(_ yTrue: [Int], _ probabilities: [Double], labels: [Int]? = nil,
                    warnings: MetricWarnings? = nil) throws(MetricError) -> Double {
    try logLoss(yTrue, ScoreRows(flat: probabilities, rows: probabilities.count, columns: 1), labels: labels,
                warnings: warnings)
}

func logLoss(_ yTrue: [Int], _ s: ScoreRows, labels: [Int]?, warnings: MetricWarnings?) throws(MetricError) -> Double {
    let (classes, p) = try validateProbabilities(yTrue, s, labels: labels, warnings: warnings)
    let column = Dictionary(uniqueKeysWithValues: classes.enumerated().map { ($1, $0) })
    var total = 0.0
    for r in 0..<p.rows { total += logLossTerm(p[r, column[yTrue[r]]!]) }
    return total / Double(p.rows)
}

/// -log of a probability clipped as scikit-learn clips float64 probabilities.
@inline(__always)
func logLossTerm(_ p: Double) -> Double {
    let eps = Double.ulpOfOne
    return -Foundation.log(Swift.min(Swift.max(p, eps), 1 - eps))
}

/// scikit-learn's `_validate_multiclass_probabilistic_prediction`: the classes and [n, classes] probabilities.
func validateProbabilities(_ yTrue: [Int], _ s: ScoreRows, labels: [Int]?,
                           warnings: MetricWarnings?) throws(MetricError) -> ([Int], ScoreRows) {
    if let mx = s.values.max(), mx > 1 {
        throw MetricError(.invalidScores, "y_prob contains values greater than 1: \(mx)")
    }
    if let mn = s.values.min(), mn < 0 {
        throw MetricError(.invalidScores, "y_prob contains values lower than 0: \(mn)")
    }
    try checkLengths(s.rows, yTrue.count)
    let classes: [Int]
    if let labels {
        classes = sortedUnique(labels)
        let undeclared = Set(yTrue).subtracting(classes)
        if !undeclared.isEmpty {
            // scikit-learn prints these as a Python set of NumPy scalars; Ember prints plain integers.
            throw MetricError(.invalidLabels, "y_true contains values {\(undeclared.sorted().map(String.init).joined(separator: ", "))} not belonging to the passed labels \(pythonListRepr(labels)).")
        }
        if classes.count == 1 {
            throw MetricError(.invalidLabels, "The labels array needs to contain at least two labels, got \(numpyRepr(classes)).")
        }
    } else {
        classes = sortedUnique(yTrue)
        if classes.count == 1 {
            throw MetricError(.invalidLabels, "y_true contains only one label (\(classes[0])). Please provide the list of all expected class labels explicitly through the labels argument.")
        }
    }
    var p = s
    if s.columns == 1 {
        var flat: [Double] = []
        flat.reserveCapacity(2 * s.rows)
        for v in s.values { flat.append(1 - v); flat.append(v) }
        p = ScoreRows(flat: flat, rows: s.rows, columns: 2)
    }
    let tol = Double.ulpOfOne.squareRoot()
    for r in 0..<p.rows where !(Swift.abs(p.rowSum(r) - 1) <= 1e-8 + tol) {
        warnings?.append(MetricWarning(.user, "The y_prob values do not sum to one. Make sure to pass probabilities."))
        break
    }
    if classes.count != p.columns {
        if labels == nil {
            throw MetricError(.invalidLabels, "y_true and y_prob contain different number of classes: \(classes.count) vs \(p.columns). Please provide the true labels explicitly through the labels argument. Classes found in y_true: \(numpyRepr(classes))")
        }
        throw MetricError(.invalidLabels, "The number of classes in labels is different from that in y_prob. Classes found in labels: \(numpyRepr(classes))")
    }
    return (classes, p)
}
