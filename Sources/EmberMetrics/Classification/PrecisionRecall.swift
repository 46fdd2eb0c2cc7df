// Precision, recall and F-scores with scikit-learn's averaging, zero-division and warning rules
// (`precision_recall_fscore_support` and the functions built on it).

/// How per-class scores are combined into one number.
public enum Average: Sendable, Hashable {
    /// Only the positive class (`positiveLabel`); the targets must have at most two labels.
    case binary
    /// Global counts: total true positives over total predicted (or true) samples.
    case micro
    /// The unweighted mean over classes.
    case macro
    /// The mean over classes weighted by their support (number of true samples).
    case weighted

    var sklearnName: String {
        switch self {
        case .binary: return "binary"
        case .micro: return "micro"
        case .macro: return "macro"
        case .weighted: return "weighted"
        }
    }
}

/// Precision, recall, F-score and support for each label.
public struct ClassScores: Sendable, Hashable {
    /// The label of each entry.
    public let labels: [Int]
    /// Precision per label.
    public let precision: [Double]
    /// Recall per label.
    public let recall: [Double]
    /// F-beta score per label.
    public let fScore: [Double]
    /// Number of true samples per label.
    public let support: [Int]
}

/// Which ratios log a warning when their denominator is zero (scikit-learn's internal `warn_for`).
struct WarnFor: OptionSet {
    let rawValue: Int
    static let precision = WarnFor(rawValue: 1)
    static let recall = WarnFor(rawValue: 2)
    static let fScore = WarnFor(rawValue: 4)
    static let all: WarnFor = [.precision, .recall, .fScore]
}

/// The per-label counts behind precision and recall.
struct PRFCounts {
    var labels: [Int]
    var tp: [Double], predicted: [Double], actual: [Double]
}

/// Selects the labels scikit-learn scores: validates `binary` averaging and gathers counts from `cm`, a confusion
/// matrix over every present label plus any requested ones.
func prfCounts(_ cm: ConfusionMatrix, present: [Int], labels: [Int]?, average: Average?,
               positiveLabel: Int) throws(MetricError) -> PRFCounts {
    var chosen = labels ?? present
    if average == .binary {
        if present.count > 2 {
            throw MetricError(.invalidAverage, "Target is multiclass but average='binary'. Please choose another average setting, one of [None, 'micro', 'macro', 'weighted'].")
        }
        if !present.contains(positiveLabel) && present.count >= 2 {
            throw MetricError(.invalidLabels, "pos_label=\(positiveLabel) is not a valid label. It should be one of \(numpyRepr(present))")
        }
        chosen = [positiveLabel]
    }
    let t = cm.trueCounts, p = cm.predictedCounts
    var c = PRFCounts(labels: chosen, tp: [], predicted: [], actual: [])
    for l in chosen {
        if let i = cm.position(of: l) {
            c.tp.append(Double(cm[i, i])); c.predicted.append(Double(p[i])); c.actual.append(Double(t[i]))
        } else {
            c.tp.append(0); c.predicted.append(0); c.actual.append(0)
        }
    }
    if average == .micro {
        c = PRFCounts(labels: chosen, tp: [c.tp.reduce(0, +)], predicted: [c.predicted.reduce(0, +)],
                      actual: [c.actual.reduce(0, +)])
    }
    return c
}

/// scikit-learn's `_prf_divide`: num / den, with `zeroDivision` where den == 0 and one warning when asked.
func prfDivide(_ num: [Double], _ den: [Double], metric: String, modifier: String, warn: Bool,
               zeroDivision: ZeroDivision, warnings: MetricWarnings?) -> [Double] {
    var out = [Double](repeating: 0, count: num.count)
    var anyZero = false
    for i in num.indices {
        if den[i] == 0 { out[i] = zeroDivision.value; anyZero = true } else { out[i] = num[i] / den[i] }
    }
    if anyZero && warn && zeroDivision == .warn {
        let place = num.count == 1 ? "due to" : "in labels with"
        warnings?.append(MetricWarning(.undefinedMetric, "\(metric) is ill-defined and being set to 0.0 \(place) no \(modifier) samples. Use `zero_division` parameter to control this behavior."))
    }
    return out
}

/// scikit-learn's `_nanaverage`: the (weighted) mean ignoring NaN; NaN when nothing is left.
func nanAverage(_ a: [Double], weights: [Double]?) -> Double {
    let keep = a.indices.filter { !a[$0].isNaN }
    if keep.isEmpty { return .nan }
    if let w = weights {
        let ws = keep.reduce(0.0) { $0 + w[$1] }
        if ws != 0 { return keep.reduce(0.0) { $0 + a[$1] * w[$1] } / ws }
    }
    return keep.reduce(0.0) { $0 + a[$1] } / Double(keep.count)
}

/// Precision, recall and F-beta per label (or pooled for micro), before averaging.
func prfScores(_ c: PRFCounts, beta: Double, zeroDivision: ZeroDivision, warnFor: WarnFor,
               warnings: MetricWarnings?) -> (p: [Double], r: [Double], f: [Double]) {
    let p = prfDivide(c.tp, c.predicted, metric: "Precision", modifier: "predicted",
                      warn: warnFor.contains(.precision), zeroDivision: zeroDivision, warnings: warnings)
    let r = prfDivide(c.tp, c.actual, metric: "Recall", modifier: "true",
                      warn: warnFor.contains(.recall), zeroDivision: zeroDivision, warnings: warnings)
    let f: [Double]
    if beta.isInfinite && beta > 0 {
        f = r
    } else if beta == 0 {
        f = p
    } else {
        let b2 = beta * beta
        let num = c.tp.map { (1 + b2) * $0 }
        let den = c.actual.indices.map { b2 * c.actual[$0] + c.predicted[$0] }
        f = prfDivide(num, den, metric: "F-score", modifier: "true nor predicted", warn: warnFor.contains(.fScore),
                      zeroDivision: zeroDivision, warnings: warnings)
    }
    return (p, r, f)
}

/// Averaged precision, recall and F-score from a confusion matrix over every present label.
func averagedPRF(_ cm: ConfusionMatrix, present: [Int], labels: [Int]?, average: Average, positiveLabel: Int,
                 beta: Double, zeroDivision: ZeroDivision, warnFor: WarnFor,
                 warnings: MetricWarnings?) throws(MetricError) -> (precision: Double, recall: Double, fScore: Double) {
    let c = try prfCounts(cm, present: present, labels: labels, average: average, positiveLabel: positiveLabel)
    let s = prfScores(c, beta: beta, zeroDivision: zeroDivision, warnFor: warnFor, warnings: warnings)
    let w = average == .weighted ? c.actual : nil
    return (nanAverage(s.p, weights: w), nanAverage(s.r, weights: w), nanAverage(s.f, weights: w))
}

/// Per-label scores from a confusion matrix over every present label.
func classScores(_ cm: ConfusionMatrix, present: [Int], labels: [Int]?, beta: Double,
                 zeroDivision: ZeroDivision, warnings: MetricWarnings?) -> ClassScores {
    // Without averaging the binary checks never apply, so this cannot throw.
    let c = try! prfCounts(cm, present: present, labels: labels, average: nil, positiveLabel: 1)
    let s = prfScores(c, beta: beta, zeroDivision: zeroDivision, warnFor: .all, warnings: warnings)
    return ClassScores(labels: c.labels, precision: s.p, recall: s.r, fScore: s.f, support: c.actual.map { Int($0) })
}

/// The confusion matrix scikit-learn's set-wise metrics need: every label of either vector plus requested ones.
func setWiseMatrix(_ yTrue: [Int], _ yPred: [Int], labels: [Int]?) throws(MetricError) -> (ConfusionMatrix, [Int]) {
    try checkLabelTargets(yTrue, yPred)
    let present = sortedUnique(yTrue, yPred)
    let all = Array(Set(present).union(labels ?? [])).sorted()
    return (ConfusionMatrix(yTrue: yTrue, yPred: yPred, labels: all), present)
}

/// Precision, recall and F-beta averaged as `average` (`precision_recall_fscore_support` with an average).
///
/// - Parameters:
///   - beta: weight of recall in the F-score (1 gives F1).
///   - labels: the labels to score (default: every label of either vector); may include absent labels.
///   - positiveLabel: the class scored when `average` is `.binary`.
///   - zeroDivision: the value of a ratio with a zero denominator; `.warn` logs which ratio was undefined.
/// - Throws: ``MetricError`` for `.binary` on more than two labels, or a `positiveLabel` that is not one of two.
public func precisionRecallFScore(_ yTrue: [Int], _ yPred: [Int], beta: Double = 1, labels: [Int]? = nil,
                                  positiveLabel: Int = 1, average: Average = .binary,
                                  zeroDivision: ZeroDivision = .warn,
                                  warnings: MetricWarnings? = nil) throws(MetricError) -> (precision: Double, recall: Double, fScore: Double) {
    let (cm, present) = try setWiseMatrix(yTrue, yPred, labels: labels)
    return try averagedPRF(cm, present: present, labels: labels, average: average, positiveLabel: positiveLabel,
                           beta: beta, zeroDivision: zeroDivision, warnFor: .all, warnings: warnings)
}

/// Precision, recall, F-beta and support for each label (`precision_recall_fscore_support(average=None)`).
public func classScores(_ yTrue: [Int], _ yPred: [Int], beta: Double = 1, labels: [Int]? = nil,
                        zeroDivision: ZeroDivision = .warn, warnings: MetricWarnings? = nil) throws(MetricError) -> ClassScores {
    let (cm, present) = try setWiseMatrix(yTrue, yPred, labels: labels)
    return classScores(cm, present: present, labels: labels, beta: beta, zeroDivision: zeroDivision, warnings: warnings)
}

/// Precision: true positives over predicted positives (`precision_score`). See ``precisionRecallFScore(_:_:beta:labels:positiveLabel:average:zeroDivision:warnings:)``.
public func precision(_ yTrue: [Int], _ yPred: [Int], labels: [Int]? = nil, positiveLabel: Int = 1,
                      average: Average = .binary, zeroDivision: ZeroDivision = .warn,
                      warnings: MetricWarnings? = nil) throws(MetricError) -> Double {
    let (cm, present) = try setWiseMatrix(yTrue, yPred, labels: labels)
    return try averagedPRF(cm, present: present, labels: labels, average: average, positiveLabel: positiveLabel,
                           beta: 1, zeroDivision: zeroDivision, warnFor: .precision, warnings: warnings).precision
}

/// Recall: true positives over actual positives (`recall_score`).
public func recall(_ yTrue: [Int], _ yPred: [Int], labels: [Int]? = nil, positiveLabel: Int = 1,
                   average: Average = .binary, zeroDivision: ZeroDivision = .warn,
                   warnings: MetricWarnings? = nil) throws(MetricError) -> Double {
    let (cm, present) = try setWiseMatrix(yTrue, yPred, labels: labels)
    return try averagedPRF(cm, present: present, labels: labels, average: average, positiveLabel: positiveLabel,
                           beta: 1, zeroDivision: zeroDivision, warnFor: .recall, warnings: warnings).recall
}

/// F-beta: the weighted harmonic mean of precision and recall (`fbeta_score`).
public func fbetaScore(_ yTrue: [Int], _ yPred: [Int], beta: Double, labels: [Int]? = nil, positiveLabel: Int = 1,
                       average: Average = .binary, zeroDivision: ZeroDivision = .warn,
                       warnings: MetricWarnings? = nil) throws(MetricError) -> Double {
    let (cm, present) = try setWiseMatrix(yTrue, yPred, labels: labels)
    return try averagedPRF(cm, present: present, labels: labels, average: average, positiveLabel: positiveLabel,
                           beta: beta, zeroDivision: zeroDivision, warnFor: .fScore, warnings: warnings).fScore
}

/// F1: the harmonic mean of precision and recall (`f1_score`).
public func f1Score(_ yTrue: [Int], _ yPred: [Int], labels: [Int]? = nil, positiveLabel: Int = 1,
                    average: Average = .binary, zeroDivision: ZeroDivision = .warn,
                    warnings: MetricWarnings? = nil) throws(MetricError) -> Double {
    try fbetaScore(yTrue, yPred, beta: 1, labels: labels, positiveLabel: positiveLabel, average: average,
                   zeroDivision: zeroDivision, warnings: warnings)
}
