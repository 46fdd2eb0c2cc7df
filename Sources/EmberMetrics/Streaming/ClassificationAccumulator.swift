import EmberCore
import Foundation

/// What the model's outputs are.
public enum ScoreKind: Sendable, Hashable {
    /// Probabilities: rows of [n, classes] that sum to 1, or for two classes [n] holding P(class 1).
    case probabilities
    /// Unnormalized scores: softmax over each row (sigmoid for [n] binary outputs) gives the probabilities.
    case logits
}

/// Classification metrics accumulated batch by batch, for evaluation inside a training loop or over data that does
/// not fit in memory. Classes are `0..<classes`.
///
/// Label metrics (accuracy, precision, recall, F-scores, confusion matrix, balanced accuracy, MCC, kappa) need only the
/// confusion matrix, log loss a running sum, top-k accuracy a histogram of the true class' rank: all constant memory
/// and exact. ROC and precision-recall metrics need the scores; ``ScoreStorage`` chooses exact rows or bounded
/// histograms.
///
/// ```swift
/// var acc = ClassificationAccumulator(classes: 10, scores: .logits)
/// for (x, y) in testLoader { try acc.update(outputs: model(x), targets: y) }
/// let s = acc.finalize()
/// print(try s.f1(average: .macro), try s.rocAUC(), s.accuracy)
/// ```
///
/// ``finalize()`` gives a ``ClassificationSummary`` whose values equal scikit-learn's functions called on all the
/// data at once, with `labels=None` for label metrics and `labels=range(classes)` for score metrics.
public struct ClassificationAccumulator: Sendable {
    /// Number of classes.
    public let classCount: Int
    /// What `update(outputs:targets:)` receives.
    public let scoreKind: ScoreKind
    /// Counts of (true, predicted) over classes `0..<classCount`.
    public private(set) var confusion: ConfusionMatrix
    var logLossSum = 0.0
    var rankCounts: [Int]
    var binaryTopOneHits = 0
    var store: ScoreStore
    var labelOnlySamples = 0
    var notNormalized = false

    /// An empty accumulator for `classes` classes (at least 2).
    public init(classes: Int, scores: ScoreKind = .probabilities, storage: ScoreStorage = .exact) {
        precondition(classes >= 2, "ClassificationAccumulator: need at least 2 classes, got \(classes)")
        self.classCount = classes
        self.scoreKind = scores
        self.confusion = ConfusionMatrix(labels: Array(0..<classes))
        self.rankCounts = [Int](repeating: 0, count: classes)
        self.store = ScoreStore(classes: classes, storage: storage)
    }

    /// Samples seen.
    public var count: Int { confusion.total }

    private func checkTargets(_ targets: [Int]) throws(MetricError) {
        if let bad = targets.first(where: { $0 < 0 || $0 >= classCount }) {
            throw MetricError(.invalidLabels, "target \(bad) is not a class in 0..<\(classCount)")
        }
    }

    /// Adds predicted labels only (score metrics then cover only the batches that came with scores).
    public mutating func update(predictions: [Int], targets: [Int]) throws(MetricError) {
        try checkLengths(targets.count, predictions.count)
        try checkTargets(targets)
        try checkTargets(predictions)
        for (t, p) in zip(targets, predictions) { confusion.add(true: t, predicted: p) }
        labelOnlySamples += targets.count
    }

    /// Adds one probability row per sample (`classes` columns, or one column P(class 1) when there are 2 classes).
    public mutating func update(probabilities: [[Double]], targets: [Int]) throws(MetricError) {
        let s = ScoreRows(probabilities)
        try add(s, targets)
    }

    /// Adds a batch of model outputs: scores [n, classes] (or [n] for two classes), interpreted as `scoreKind`; or
    /// integer predicted labels [n]. Targets are class indices [n].
    public mutating func update(outputs: Tensor, targets: Tensor) throws(MetricError) {
        let t = targets.classLabels()
        if !outputs.dtype.isFloatingPoint {
            try update(predictions: outputs.classLabels(), targets: t)
            return
        }
        var s = outputs.scoreRows()
        if scoreKind == .logits { s = Self.probabilities(fromLogits: s) }
        try add(s, t)
    }

    static func probabilities(fromLogits s: ScoreRows) -> ScoreRows {
        var out = s.values
        if s.columns == 1 {
            for i in out.indices { out[i] = 1 / (1 + Foundation.exp(-out[i])) }
            return ScoreRows(flat: out, rows: s.rows, columns: 1)
        }
        for r in 0..<s.rows {
            let row = (r * s.columns)..<((r + 1) * s.columns)
            let m = out[row].max()!
            var z = 0.0
            for i in row { out[i] = Foundation.exp(out[i] - m); z += out[i] }
            for i in row { out[i] /= z }
        }
        return ScoreRows(flat: out, rows: s.rows, columns: s.columns)
    }

    private mutating func add(_ s0: ScoreRows, _ targets: [Int]) throws(MetricError) {
        try checkLengths(targets.count, s0.rows)
        try checkTargets(targets)
        try checkFinite(s0.values)
        if let mx = s0.values.max(), mx > 1 { throw MetricError(.invalidScores, "y_prob contains values greater than 1: \(mx)") }
        if let mn = s0.values.min(), mn < 0 { throw MetricError(.invalidScores, "y_prob contains values lower than 0: \(mn)") }
        var s = s0
        let binaryColumn = s.columns == 1
        if binaryColumn {
            precondition(classCount == 2, "ClassificationAccumulator: [n] scores need 2 classes, this one has \(classCount)")
            var flat: [Double] = []
            flat.reserveCapacity(2 * s.rows)
            for v in s.values { flat.append(1 - v); flat.append(v) }
            s = ScoreRows(flat: flat, rows: s.rows, columns: 2)
        }
        precondition(s.columns == classCount, "ClassificationAccumulator: scores have \(s.columns) columns for \(classCount) classes")
        let tol = Double.ulpOfOne.squareRoot()
        for r in 0..<s.rows {
            let t = targets[r]
            let row = s.values[(r * s.columns)..<((r + 1) * s.columns)]
            // Predicted label: argmax, first on ties (NumPy); for a single P(class 1) column, P > 0.5.
            var pred = 0
            if binaryColumn {
                pred = s[r, 1] > 0.5 ? 1 : 0
            } else {
                for j in 1..<s.columns where s[r, j] > s[r, pred] { pred = j }
            }
            confusion.add(true: t, predicted: pred)
            logLossSum += logLossTerm(s[r, t])
            if !(Swift.abs(s.rowSum(r) - 1) <= 1e-8 + tol) { notNormalized = true }
            rankCounts[trueClassRank(s, row: r, trueColumn: t)] += 1
            // scikit-learn's binary top-1 rule on P(class 1); probabilities are in [0, 1], so the threshold is 0.5.
            if classCount == 2 && (s[r, 1] > 0.5 ? 1 : 0) == t { binaryTopOneHits += 1 }
            store.add(row: row, target: t)
        }
    }

    /// Adds everything another accumulator (same classes, kind and storage) has seen.
    public mutating func merge(_ other: ClassificationAccumulator) {
        precondition(other.classCount == classCount, "ClassificationAccumulator.merge: \(other.classCount) vs \(classCount) classes")
        confusion.merge(other.confusion)
        logLossSum += other.logLossSum
        for i in rankCounts.indices { rankCounts[i] += other.rankCounts[i] }
        binaryTopOneHits += other.binaryTopOneHits
        store.merge(other.store)
        labelOnlySamples += other.labelOnlySamples
        notNormalized = notNormalized || other.notNormalized
    }

    /// The metrics of everything seen so far (the accumulator can keep going afterwards).
    public func finalize() -> ClassificationSummary { ClassificationSummary(self) }
}
