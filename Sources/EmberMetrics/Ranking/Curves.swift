// ROC and precision-recall curves over binary targets, as scikit-learn's `roc_curve` and `precision_recall_curve`.
//
// Both start from the same table: the distinct scores in decreasing order, and how many positive and negative samples
// carry each. Samples with tied scores always fall on the same side of a threshold, so a tie is one point of the
// curve. The exact path builds the table by sorting; the bounded-memory histogram accumulator builds it from bins.

/// Distinct scores in decreasing order with the positive and negative counts at each.
struct ScoreGroups: Sendable {
    var thresholds: [Double] = []
    var positives: [Double] = []
    var negatives: [Double] = []

    /// Groups `scores` by value; `positive[i]` says whether sample i is of the positive class.
    init(positive: [Bool], scores: [Double]) {
        let order = scores.indices.sorted { scores[$0] > scores[$1] }
        var i = 0
        while i < order.count {
            let s = scores[order[i]]
            var pos = 0.0, neg = 0.0
            while i < order.count && scores[order[i]] == s {
                if positive[order[i]] { pos += 1 } else { neg += 1 }
                i += 1
            }
            thresholds.append(s); positives.append(pos); negatives.append(neg)
        }
    }

    /// Groups given directly (already in decreasing threshold order, empty groups removed).
    init(thresholds: [Double], positives: [Double], negatives: [Double]) {
        self.thresholds = thresholds; self.positives = positives; self.negatives = negatives
    }

    /// Cumulative (false positives, true positives) at each threshold (scikit-learn's `fps`, `tps`).
    func cumulative() -> (fps: [Double], tps: [Double]) {
        var fps: [Double] = [], tps: [Double] = []
        var f = 0.0, t = 0.0
        for i in thresholds.indices {
            f += negatives[i]; t += positives[i]
            fps.append(f); tps.append(t)
        }
        return (fps, tps)
    }
}

/// Points of a receiver operating characteristic curve, from the strictest threshold to the loosest.
public struct ROCCurve: Sendable, Hashable {
    /// False positive rate at each threshold (starts at 0).
    public var falsePositiveRate: [Double]
    /// True positive rate at each threshold (starts at 0).
    public var truePositiveRate: [Double]
    /// Score thresholds: a sample is predicted positive when its score is >= the threshold. The first is +infinity.
    public var thresholds: [Double]
}

/// Points of a precision-recall curve, with recall decreasing (scikit-learn's order).
public struct PrecisionRecallCurve: Sendable, Hashable {
    /// Precision at each threshold, then 1 for the empty selection.
    public var precision: [Double]
    /// Recall at each threshold, then 0.
    public var recall: [Double]
    /// Increasing score thresholds (one fewer than points).
    public var thresholds: [Double]
}

func rocCurve(_ g: ScoreGroups, dropIntermediate: Bool, warnings: MetricWarnings?) -> ROCCurve {
    var (fps, tps) = g.cumulative()
    var thr = g.thresholds
    if dropIntermediate && fps.count > 2 {
        // Keep the ends and every point where the curve bends (a non-zero second difference).
        var keep = [0]
        for i in 1..<(fps.count - 1) {
            let df = (fps[i + 1] - fps[i]) - (fps[i] - fps[i - 1])
            let dt = (tps[i + 1] - tps[i]) - (tps[i] - tps[i - 1])
            if df != 0 || dt != 0 { keep.append(i) }
        }
        keep.append(fps.count - 1)
        fps = keep.map { fps[$0] }; tps = keep.map { tps[$0] }; thr = keep.map { thr[$0] }
    }
    fps.insert(0, at: 0); tps.insert(0, at: 0); thr.insert(.infinity, at: 0)
    let fpr: [Double], tpr: [Double]
    if fps.last! <= 0 {
        warnings?.append(MetricWarning(.undefinedMetric, "No negative samples in y_true, false positive value should be meaningless"))
        fpr = [Double](repeating: .nan, count: fps.count)
    } else {
        fpr = fps.map { $0 / fps.last! }
    }
    if tps.last! <= 0 {
        warnings?.append(MetricWarning(.undefinedMetric, "No positive samples in y_true, true positive value should be meaningless"))
        tpr = [Double](repeating: .nan, count: tps.count)
    } else {
        tpr = tps.map { $0 / tps.last! }
    }
    return ROCCurve(falsePositiveRate: fpr, truePositiveRate: tpr, thresholds: thr)
}

func precisionRecallCurve(_ g: ScoreGroups, dropIntermediate: Bool, warnings: MetricWarnings?) -> PrecisionRecallCurve {
    var (fps, tps) = g.cumulative()
    var thr = g.thresholds
    if dropIntermediate && fps.count > 2 {
        // Keep the first and last point of each run of equal true positives.
        var keep = [0]
        for i in 1..<(tps.count - 1) where tps[i] != tps[i - 1] || tps[i + 1] != tps[i] { keep.append(i) }
        keep.append(tps.count - 1)
        fps = keep.map { fps[$0] }; tps = keep.map { tps[$0] }; thr = keep.map { thr[$0] }
    }
    let precision = tps.indices.map { i -> Double in
        let ps = tps[i] + fps[i]
        return ps != 0 ? tps[i] / ps : 0
    }
    let recall: [Double]
    if tps.last! == 0 {
        warnings?.append(MetricWarning(.user, "No positive class found in y_true, recall is set to one for all thresholds."))
        recall = [Double](repeating: 1, count: tps.count)
    } else {
        recall = tps.map { $0 / tps.last! }
    }
    return PrecisionRecallCurve(precision: precision.reversed() + [1], recall: recall.reversed() + [0],
                                thresholds: thr.reversed())
}

/// The area under the ROC curve of one binary problem, or NaN with a warning when a class is missing.
func binaryROCAUC(_ g: ScoreGroups, warnings: MetricWarnings?) -> Double {
    let pos = g.positives.reduce(0, +), neg = g.negatives.reduce(0, +)
    if pos == 0 || neg == 0 {
        warnings?.append(MetricWarning(.undefinedMetric, "Only one class is present in y_true. ROC AUC score is not defined in that case."))
        return .nan
    }
    let c = rocCurve(g, dropIntermediate: true, warnings: nil)
    return trapezoid(x: c.falsePositiveRate, y: c.truePositiveRate)
}

/// Average precision of one binary problem: the step-wise integral of the precision-recall curve.
func binaryAveragePrecision(_ g: ScoreGroups, warnings: MetricWarnings?) -> Double {
    let c = precisionRecallCurve(g, dropIntermediate: false, warnings: warnings)
    var s = 0.0
    for i in 0..<(c.recall.count - 1) { s += (c.recall[i + 1] - c.recall[i]) * c.precision[i] }
    return Swift.max(0, -s)
}

/// NumPy's `trapezoid(y, x)`.
func trapezoid(x: [Double], y: [Double]) -> Double {
    var s = 0.0
    for i in 0..<(x.count - 1) { s += (x[i + 1] - x[i]) * (y[i + 1] + y[i]) / 2 }
    return s
}

/// Checks that scores are finite (scikit-learn's `assert_all_finite`).
func checkFinite(_ scores: [Double]) throws(MetricError) {
    if scores.contains(where: \.isNaN) { throw MetricError(.invalidScores, "Input contains NaN.") }
    if scores.contains(where: \.isInfinite) {
        throw MetricError(.invalidScores, "Input contains infinity or a value too large for dtype('float64').")
    }
}

/// Which samples are positive for a binary curve (scikit-learn's `_check_pos_label_consistency`).
func positiveMask(_ yTrue: [Int], positiveLabel: Int?) throws(MetricError) -> [Bool] {
    let classes = sortedUnique(yTrue)
    if classes.count > 2 && positiveLabel == nil {
        throw MetricError(.unsupportedTarget, "multiclass format is not supported")
    }
    var pos = positiveLabel ?? 1
    if positiveLabel == nil {
        let allowed: [[Int]] = [[0, 1], [-1, 1], [0], [-1], [1]]
        if !allowed.contains(classes) {
            throw MetricError(.invalidLabels, "y_true takes value in {\(classes.map(String.init).joined(separator: ", "))} and pos_label is not specified: either make y_true take value in {0, 1} or {-1, 1} or pass pos_label explicitly.")
        }
        pos = 1
    }
    return yTrue.map { $0 == pos }
}

/// The ROC curve of binary `yTrue` against `scores` (`roc_curve`).
///
/// - Parameters:
///   - scores: higher means more likely positive (probabilities or logits).
///   - positiveLabel: the positive class; required unless the labels are {0, 1} or {-1, 1}.
///   - dropIntermediate: leave out points that lie on a straight segment (they do not change the area).
///   - warnings: receives a warning when `yTrue` has no negatives (FPR is NaN) or no positives (TPR is NaN).
public func rocCurve(_ yTrue: [Int], _ scores: [Double], positiveLabel: Int? = nil, dropIntermediate: Bool = true,
                     warnings: MetricWarnings? = nil) throws(MetricError) -> ROCCurve {
    try checkLengths(yTrue.count, scores.count)
    try checkFinite(scores)
    let mask = try positiveMask(yTrue, positiveLabel: positiveLabel)
    return rocCurve(ScoreGroups(positive: mask, scores: scores), dropIntermediate: dropIntermediate, warnings: warnings)
}

/// The precision-recall curve of binary `yTrue` against `scores` (`precision_recall_curve`).
public func precisionRecallCurve(_ yTrue: [Int], _ scores: [Double], positiveLabel: Int? = nil,
                                 dropIntermediate: Bool = false,
                                 warnings: MetricWarnings? = nil) throws(MetricError) -> PrecisionRecallCurve {
    try checkLengths(yTrue.count, scores.count)
    try checkFinite(scores)
    let mask = try positiveMask(yTrue, positiveLabel: positiveLabel)
    return precisionRecallCurve(ScoreGroups(positive: mask, scores: scores), dropIntermediate: dropIntermediate,
                                warnings: warnings)
}

/// The area under a curve by the trapezoidal rule (`auc`); `x` must be monotonic.
public func auc(x: [Double], y: [Double]) throws(MetricError) -> Double {
    try checkLengths(x.count, y.count)
    if x.count < 2 {
        throw MetricError(.invalidScores, "At least 2 points are needed to compute area under curve, but x.shape = (\(x.count),)")
    }
    var increasing = true, decreasing = true
    for i in 0..<(x.count - 1) {
        if x[i + 1] < x[i] { increasing = false }
        if x[i + 1] > x[i] { decreasing = false }
    }
    if !increasing && !decreasing { throw MetricError(.invalidScores, "x is neither increasing nor decreasing.") }
    return (increasing ? 1 : -1) * trapezoid(x: x, y: y)
}
