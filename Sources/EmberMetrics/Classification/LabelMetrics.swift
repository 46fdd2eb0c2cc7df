// Label-based scores that are functions of the confusion matrix: accuracy, balanced accuracy, Matthews correlation
// and Cohen's kappa, each equal to scikit-learn's function of the same name.

/// Fraction of samples whose prediction equals the true label (`accuracy_score`).
public func accuracy(_ yTrue: [Int], _ yPred: [Int]) throws(MetricError) -> Double {
    try checkLabelTargets(yTrue, yPred)
    var hits = 0
    for (t, p) in zip(yTrue, yPred) where t == p { hits += 1 }
    return Double(hits) / Double(yTrue.count)
}

/// The mean of per-class recall over the classes present in `yTrue` (`balanced_accuracy_score`).
///
/// A class that is predicted but absent from `yTrue` has no recall: it is left out and a ``MetricWarning``
/// ("y_pred contains classes not in y_true") is logged. With `adjusted`, chance level maps to 0 and perfect to 1.
public func balancedAccuracy(_ yTrue: [Int], _ yPred: [Int], adjusted: Bool = false,
                             warnings: MetricWarnings? = nil) throws(MetricError) -> Double {
    try checkLabelTargets(yTrue, yPred)
    return balancedAccuracy(ConfusionMatrix(yTrue: yTrue, yPred: yPred), adjusted: adjusted, warnings: warnings)
}

func balancedAccuracy(_ cm: ConfusionMatrix, adjusted: Bool, warnings: MetricWarnings?) -> Double {
    if cm.size == 1 { warnings?.append(singleLabelConfusionWarning) }
    let rows = cm.trueCounts
    var perClass: [Double] = []
    var undefined = false
    for i in 0..<cm.size {
        if rows[i] == 0 { undefined = true; continue }
        perClass.append(Double(cm[i, i]) / Double(rows[i]))
    }
    if undefined { warnings?.append(MetricWarning(.user, "y_pred contains classes not in y_true")) }
    var score = perClass.isEmpty ? .nan : perClass.reduce(0, +) / Double(perClass.count)
    if adjusted {
        let chance = 1 / Double(perClass.count)
        score -= chance
        score /= 1 - chance
    }
    return score
}

/// The Matthews correlation coefficient, multiclass form (`matthews_corrcoef`); 0 when it is undefined.
public func matthewsCorrelation(_ yTrue: [Int], _ yPred: [Int], warnings: MetricWarnings? = nil) throws(MetricError) -> Double {
    try checkLabelTargets(yTrue, yPred)
    return matthewsCorrelation(ConfusionMatrix(yTrue: yTrue, yPred: yPred), warnings: warnings)
}

func matthewsCorrelation(_ cm: ConfusionMatrix, warnings: MetricWarnings?) -> Double {
    if cm.size == 1 { warnings?.append(singleLabelConfusionWarning) }
    let t = cm.trueCounts.map(Double.init), p = cm.predictedCounts.map(Double.init)
    let correct = Double(cm.diagonal.reduce(0, +))
    let n = p.reduce(0, +)
    let dotTP = zip(t, p).reduce(0) { $0 + $1.0 * $1.1 }
    let covTP = correct * n - dotTP
    let covPP = n * n - p.reduce(0) { $0 + $1 * $1 }
    let covTT = n * n - t.reduce(0) { $0 + $1 * $1 }
    let denom = covPP * covTT
    return denom == 0 ? 0 : covTP / denom.squareRoot()
}

/// Weighting of disagreements in Cohen's kappa.
public enum KappaWeighting: Sendable, Hashable {
    /// Every disagreement counts 1 (unweighted kappa).
    case none
    /// A disagreement between label positions i and j counts |i - j|.
    case linear
    /// A disagreement between label positions i and j counts (i - j)².
    case quadratic
}

/// Cohen's kappa between two labelings (`cohen_kappa_score`).
///
/// - Parameters:
///   - labels: the labels to use (default: sorted union); at least one must occur in `y1`.
///   - weights: disagreement weighting.
///   - replaceUndefinedBy: the value returned, with a warning, when kappa is undefined (a single common label).
public func cohenKappa(_ y1: [Int], _ y2: [Int], labels: [Int]? = nil, weights: KappaWeighting = .none,
                       replaceUndefinedBy: Double = .nan, warnings: MetricWarnings? = nil) throws(MetricError) -> Double {
    let cm: ConfusionMatrix
    do {
        cm = try confusionMatrix(y1, y2, labels: labels, warnings: warnings)
    } catch let e where e.message == "At least one label specified must be in y_true" {
        throw MetricError(.invalidLabels, "At least one label in `labels` must be present in `y1` (even though `cohen_kappa_score` is otherwise agnostic to the order of `y1` and `y2`).")
    }
    return cohenKappa(cm, weights: weights, replaceUndefinedBy: replaceUndefinedBy, warnings: warnings)
}

func cohenKappa(_ cm: ConfusionMatrix, weights: KappaWeighting, replaceUndefinedBy: Double,
                warnings: MetricWarnings?) -> Double {
    let k = cm.size
    let sum0 = cm.predictedCounts.map(Double.init), sum1 = cm.trueCounts.map(Double.init)
    let total = sum0.reduce(0, +)
    let fill = pythonFloatRepr(replaceUndefinedBy)
    if total == 0 {
        warnings?.append(MetricWarning(.undefinedMetric, "`y2` contains no labels that are present in both `y1` and `labels`.`cohen_kappa_score` is undefined and set to the value defined by the `replace_undefined_by` param, which is set to \(fill)."))
        return replaceUndefinedBy
    }
    func w(_ i: Int, _ j: Int) -> Double {
        switch weights {
        case .none: return i == j ? 0 : 1
        case .linear: return Double(Swift.abs(i - j))
        case .quadratic: return Double((i - j) * (i - j))
        }
    }
    var num = 0.0, den = 0.0
    for i in 0..<k {
        for j in 0..<k {
            // expected[i][j] = outer(sum0, sum1)[i][j] / total, as scikit-learn builds it.
            num += w(i, j) * Double(cm[i, j])
            den += w(i, j) * (sum0[i] * sum1[j] / total)
        }
    }
    if den == 0 {
        warnings?.append(MetricWarning(.undefinedMetric, "`y1`, `y2` and `labels` have only one label in common. `cohen_kappa_score` is undefined and set to the value defined by the the `replace_undefined_by` param, which is set to \(fill)."))
        return replaceUndefinedBy
    }
    return 1 - num / den
}
