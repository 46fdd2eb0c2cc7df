/// The metrics of a ``ClassificationAccumulator``: each equals scikit-learn's function on all the data at once.
///
/// Label metrics use scikit-learn's default `labels=None` (the classes that occur as a target or a prediction);
/// pass `labels:` to score every class. Score metrics (log loss, top-k, ROC, precision-recall) use
/// `labels=range(classes)`; with two classes they use P(class 1) as scikit-learn's binary functions do.
public struct ClassificationSummary: Sendable {
    /// Number of classes.
    public let classCount: Int
    /// Counts of (true, predicted) over every class `0..<classCount`.
    public let confusion: ConfusionMatrix
    /// Samples seen.
    public let count: Int
    /// Samples that came with scores (score metrics cover only these).
    public let scoredCount: Int
    let logLossSum: Double
    let rankCounts: [Int]
    let binaryTopOneHits: Int
    let store: ScoreStore
    let notNormalized: Bool

    init(_ a: ClassificationAccumulator) {
        classCount = a.classCount
        confusion = a.confusion
        count = a.count
        scoredCount = a.store.count
        logLossSum = a.logLossSum
        rankCounts = a.rankCounts
        binaryTopOneHits = a.binaryTopOneHits
        store = a.store
        notNormalized = a.notNormalized
    }

    /// The classes that occur as a target or a prediction.
    public var presentLabels: [Int] { confusion.presentLabels }

    /// The confusion matrix over the present classes, as scikit-learn's `confusion_matrix` (use ``confusion`` for
    /// every class); a 1x1 matrix logs scikit-learn's warning.
    public func confusionMatrix(warnings: MetricWarnings? = nil) -> ConfusionMatrix {
        let cm = confusion.restricted(to: presentLabels)
        if cm.size == 1 { warnings?.append(singleLabelConfusionWarning) }
        return cm
    }

    private func nonEmpty() throws(MetricError) {
        if count == 0 {
            throw MetricError(.emptyInput, "Found empty input array (e.g., `y_true` or `y_pred`) while a minimum of 1 sample is required.")
        }
    }

    private func scored() throws(MetricError) {
        if scoredCount == 0 {
            throw MetricError(.invalidScores, "no scores were accumulated: update the accumulator with probabilities or logits, not labels")
        }
    }

    /// Fraction of correct predictions.
    public var accuracy: Double { Double(confusion.diagonal.reduce(0, +)) / Double(count) }

    /// Balanced accuracy (see ``balancedAccuracy(_:_:adjusted:warnings:)``).
    public func balancedAccuracy(adjusted: Bool = false, warnings: MetricWarnings? = nil) throws(MetricError) -> Double {
        try nonEmpty()
        return EmberMetrics.balancedAccuracy(confusion.restricted(to: presentLabels), adjusted: adjusted, warnings: warnings)
    }

    /// Precision, recall and F-beta averaged as `average`.
    public func precisionRecallFScore(beta: Double = 1, labels: [Int]? = nil, positiveLabel: Int = 1,
                                      average: Average = .binary, zeroDivision: ZeroDivision = .warn,
                                      warnings: MetricWarnings? = nil) throws(MetricError) -> (precision: Double, recall: Double, fScore: Double) {
        try nonEmpty()
        return try averagedPRF(confusion, present: presentLabels, labels: labels, average: average,
                               positiveLabel: positiveLabel, beta: beta, zeroDivision: zeroDivision, warnFor: .all,
                               warnings: warnings)
    }

    /// Precision averaged as `average` (`precision_score`).
    public func precision(labels: [Int]? = nil, positiveLabel: Int = 1, average: Average = .binary,
                          zeroDivision: ZeroDivision = .warn, warnings: MetricWarnings? = nil) throws(MetricError) -> Double {
        try nonEmpty()
        return try averagedPRF(confusion, present: presentLabels, labels: labels, average: average,
                               positiveLabel: positiveLabel, beta: 1, zeroDivision: zeroDivision, warnFor: .precision,
                               warnings: warnings).precision
    }

    /// Recall averaged as `average` (`recall_score`).
    public func recall(labels: [Int]? = nil, positiveLabel: Int = 1, average: Average = .binary,
                       zeroDivision: ZeroDivision = .warn, warnings: MetricWarnings? = nil) throws(MetricError) -> Double {
        try nonEmpty()
        return try averagedPRF(confusion, present: presentLabels, labels: labels, average: average,
                               positiveLabel: positiveLabel, beta: 1, zeroDivision: zeroDivision, warnFor: .recall,
                               warnings: warnings).recall
    }

    /// F-beta averaged as `average` (`fbeta_score`; `beta` 1 is `f1_score`).
    public func fbeta(_ beta: Double = 1, labels: [Int]? = nil, positiveLabel: Int = 1, average: Average = .binary,
                      zeroDivision: ZeroDivision = .warn, warnings: MetricWarnings? = nil) throws(MetricError) -> Double {
        try nonEmpty()
        return try averagedPRF(confusion, present: presentLabels, labels: labels, average: average,
                               positiveLabel: positiveLabel, beta: beta, zeroDivision: zeroDivision, warnFor: .fScore,
                               warnings: warnings).fScore
    }

    /// F1 averaged as `average` (`f1_score`).
    public func f1(labels: [Int]? = nil, positiveLabel: Int = 1, average: Average = .binary,
                   zeroDivision: ZeroDivision = .warn, warnings: MetricWarnings? = nil) throws(MetricError) -> Double {
        try fbeta(1, labels: labels, positiveLabel: positiveLabel, average: average, zeroDivision: zeroDivision,
                  warnings: warnings)
    }

    /// Per-class precision, recall, F-beta and support.
    public func classScores(beta: Double = 1, labels: [Int]? = nil, zeroDivision: ZeroDivision = .warn,
                            warnings: MetricWarnings? = nil) throws(MetricError) -> ClassScores {
        try nonEmpty()
        return EmberMetrics.classScores(confusion, present: presentLabels, labels: labels, beta: beta,
                                        zeroDivision: zeroDivision, warnings: warnings)
    }

    /// Matthews correlation coefficient.
    public func matthewsCorrelation(warnings: MetricWarnings? = nil) throws(MetricError) -> Double {
        try nonEmpty()
        return EmberMetrics.matthewsCorrelation(confusion.restricted(to: presentLabels), warnings: warnings)
    }

    /// Cohen's kappa between targets and predictions.
    public func cohenKappa(weights: KappaWeighting = .none, replaceUndefinedBy: Double = .nan,
                           warnings: MetricWarnings? = nil) throws(MetricError) -> Double {
        try nonEmpty()
        return EmberMetrics.cohenKappa(confusionMatrix(warnings: warnings), weights: weights, replaceUndefinedBy: replaceUndefinedBy, warnings: warnings)
    }

    /// scikit-learn's classification report text.
    public func classificationReport(labels: [Int]? = nil, targetNames: [String]? = nil, digits: Int = 2,
                                     zeroDivision: ZeroDivision = .warn, warnings: MetricWarnings? = nil) throws(MetricError) -> String {
        try nonEmpty()
        return try EmberMetrics.classificationReport(confusion, present: presentLabels, labels: labels,
                                                     targetNames: targetNames, digits: digits,
                                                     zeroDivision: zeroDivision, warnings: warnings)
    }

    /// Mean log loss over the scored samples (`log_loss(..., labels=range(classes))`).
    public func logLoss(warnings: MetricWarnings? = nil) throws(MetricError) -> Double {
        try scored()
        if notNormalized { warnings?.append(MetricWarning(.user, "The y_prob values do not sum to one. Make sure to pass probabilities.")) }
        return logLossSum / Double(scoredCount)
    }

    /// Fraction of scored samples whose class is among the `k` best scores (`top_k_accuracy_score`).
    public func topKAccuracy(_ k: Int, warnings: MetricWarnings? = nil) throws(MetricError) -> Double {
        try scored()
        if k >= classCount {
            warnings?.append(MetricWarning(.undefinedMetric, "'k' (\(k)) greater than or equal to 'n_classes' (\(classCount)) will result in a perfect score and is therefore meaningless."))
        }
        if classCount == 2 { return k == 1 ? Double(binaryTopOneHits) / Double(scoredCount) : 1 }
        return Double(rankCounts.prefix(Swift.max(0, k)).reduce(0, +)) / Double(scoredCount)
    }

    private func table() -> OneVsRestStore { OneVsRestStore(store: store) }

    /// ROC-AUC: binary (P(class 1)) for two classes, one-vs-rest averaged as `average` otherwise.
    public func rocAUC(average: RankingAverage = .macro, warnings: MetricWarnings? = nil) throws(MetricError) -> Double {
        try scored()
        if classCount == 2 { return binaryROCAUC(store.groups(1), warnings: warnings) }
        if store.rowsNotProbabilities {
            throw MetricError(.invalidScores, "Target scores need to be probabilities for multiclass roc_auc, i.e. they should sum up to 1.0 over classes")
        }
        return table().average(average) { binaryROCAUC($0, warnings: warnings) }[0]
    }

    /// One-vs-rest ROC-AUC of each class.
    public func rocAUCPerClass(warnings: MetricWarnings? = nil) throws(MetricError) -> [Double] {
        try scored()
        return table().average(nil) { binaryROCAUC($0, warnings: warnings) }
    }

    /// Average precision: binary (P(class 1)) for two classes, one-vs-rest averaged as `average` otherwise (scikit-
    /// learn's `average_precision_score` on the one-hot targets).
    public func averagePrecision(average: RankingAverage = .macro, warnings: MetricWarnings? = nil) throws(MetricError) -> Double {
        try scored()
        if classCount == 2 { return binaryAveragePrecision(store.groups(1), warnings: warnings) }
        return table().average(average) { binaryAveragePrecision($0, warnings: warnings) }[0]
    }

    /// The ROC curve of `positiveClass` against the rest (default: class 1 of a binary problem).
    public func rocCurve(positiveClass: Int = 1, dropIntermediate: Bool = true,
                         warnings: MetricWarnings? = nil) throws(MetricError) -> ROCCurve {
        try scored()
        return EmberMetrics.rocCurve(store.groups(positiveClass), dropIntermediate: dropIntermediate, warnings: warnings)
    }

    /// The precision-recall curve of `positiveClass` against the rest.
    public func precisionRecallCurve(positiveClass: Int = 1, warnings: MetricWarnings? = nil) throws(MetricError) -> PrecisionRecallCurve {
        try scored()
        return EmberMetrics.precisionRecallCurve(store.groups(positiveClass), dropIntermediate: false, warnings: warnings)
    }

    /// The stored probability rows and targets (exact storage only; empty for histograms).
    public var storedScores: (probabilities: [[Double]], targets: [Int]) {
        let c = classCount
        let rows = store.rows
        return ((0..<store.targets.count).map { Array(rows[($0 * c)..<(($0 + 1) * c)]) }, store.targets)
    }
}

/// `_average_binary_score` over a score store.
struct OneVsRestStore {
    let store: ScoreStore

    func average(_ average: RankingAverage?, metric: (ScoreGroups) -> Double) -> [Double] {
        averageBinaryScore(support: store.support, groups: store.groups, micro: store.microGroups, average: average,
                           metric: metric)
    }
}
