import EmberCore
import Foundation

/// How well one class is recognized.
public struct ClassAccuracy: Sendable, Hashable {
    /// The class.
    public let label: Int
    /// Samples of the class predicted correctly.
    public let correct: Int
    /// Samples of the class.
    public let total: Int
    /// correct / total (the class' recall); NaN when the class has no samples.
    public var accuracy: Double { total == 0 ? .nan : Double(correct) / Double(total) }
}

/// Accuracy of each class: the diagonal of the confusion matrix over its row sums.
public func perClassAccuracy(_ cm: ConfusionMatrix) -> [ClassAccuracy] {
    let rows = cm.trueCounts
    return cm.labels.indices.map { ClassAccuracy(label: cm.labels[$0], correct: cm[$0, $0], total: rows[$0]) }
}

/// A kind of mistake: samples of one class predicted as another.
public struct ConfusedPair: Sendable, Hashable {
    /// The true class.
    public let trueLabel: Int
    /// The class predicted instead.
    public let predictedLabel: Int
    /// How many samples.
    public let count: Int
    /// count over the samples of the true class.
    public let fractionOfClass: Double
}

/// The most frequent mistakes, largest count first (ties: smaller true label, then smaller predicted label).
public func mostConfusedPairs(_ cm: ConfusionMatrix, top: Int = 5) -> [ConfusedPair] {
    let rows = cm.trueCounts
    var pairs: [ConfusedPair] = []
    for i in 0..<cm.size {
        for j in 0..<cm.size where i != j && cm[i, j] > 0 {
            pairs.append(ConfusedPair(trueLabel: cm.labels[i], predictedLabel: cm.labels[j], count: cm[i, j],
                                      fractionOfClass: Double(cm[i, j]) / Double(rows[i])))
        }
    }
    pairs.sort { a, b in
        if a.count != b.count { return a.count > b.count }
        if a.trueLabel != b.trueLabel { return a.trueLabel < b.trueLabel }
        return a.predictedLabel < b.predictedLabel
    }
    return Array(pairs.prefix(top))
}

/// One badly predicted sample.
public struct WorstExample: @unchecked Sendable {
    /// Position of the sample in the evaluated data (0-based, in the order it was seen).
    public let index: Int
    /// Its true class.
    public let target: Int
    /// The predicted class (argmax).
    public let predicted: Int
    /// Its cross-entropy, -ln p(true class) (probabilities clipped like log loss).
    public let loss: Double
    /// The probability given to the predicted class.
    public let confidence: Double
    /// The input (for images, [channels, height, width] or [height, width]), when it was kept.
    public let input: Tensor?
}

/// Keeps the `k` samples with the highest loss seen so far, in bounded memory; feed it batch by batch.
///
/// ```swift
/// var worst = WorstExamples(k: 8)
/// for (x, y) in loader { worst.update(probabilities: model(x).softmax(axis: -1), targets: y, inputs: x) }
/// for e in worst.examples { print(e.index, e.loss) }
/// ```
public struct WorstExamples: @unchecked Sendable {
    /// How many to keep.
    public let k: Int
    /// Samples seen (the next sample's index).
    public private(set) var seen = 0
    private var kept: [WorstExample] = []

    /// Keeps the `k` worst.
    public init(k: Int) {
        precondition(k >= 0, "WorstExamples: k must be non-negative")
        self.k = k
    }

    /// The kept samples, highest loss first (ties: lower index first).
    public var examples: [WorstExample] { kept }

    /// Adds a batch of probability rows and targets; `inputs` (same first dimension) are kept for the worst ones.
    public mutating func update(probabilities: [[Double]], targets: [Int], inputs: Tensor? = nil) {
        precondition(probabilities.count == targets.count, "WorstExamples: \(probabilities.count) rows, \(targets.count) targets")
        if let inputs { precondition(inputs.shape.first == targets.count, "WorstExamples: inputs \(inputs.shape) do not match \(targets.count) targets") }
        for (r, row) in probabilities.enumerated() {
            let t = targets[r]
            var pred = 0
            for j in row.indices where row[j] > row[pred] { pred = j }
            let loss = logLossTerm(row[t])
            let index = seen + r
            let worse = kept.count < k || loss > kept.last!.loss
            guard worse else { continue }
            let input = inputs.map { x in withoutGrad { x.select(axis: 0, r).contiguous() } }
            let e = WorstExample(index: index, target: t, predicted: pred, loss: loss, confidence: row[pred], input: input)
            let pos = kept.firstIndex { $0.loss < loss } ?? kept.count
            kept.insert(e, at: pos)
            if kept.count > k { kept.removeLast() }
        }
        seen += targets.count
    }

    /// Adds a batch of model outputs (probabilities or logits, [n, classes]) with their targets and inputs.
    public mutating func update(outputs: Tensor, targets: Tensor, inputs: Tensor? = nil, scores: ScoreKind = .logits) {
        var s = outputs.scoreRows()
        precondition(s.columns >= 2, "WorstExamples: outputs must be [n, classes]")
        if scores == .logits { s = ClassificationAccumulator.probabilities(fromLogits: s) }
        let rows = (0..<s.rows).map { Array(s.values[($0 * s.columns)..<(($0 + 1) * s.columns)]) }
        update(probabilities: rows, targets: targets.classLabels(), inputs: inputs)
    }
}

/// The `k` samples with the highest cross-entropy, worst first (ties: lower index first).
public func worstExamples(probabilities: [[Double]], targets: [Int], k: Int, inputs: Tensor? = nil) -> [WorstExample] {
    var w = WorstExamples(k: k)
    w.update(probabilities: probabilities, targets: targets, inputs: inputs)
    return w.examples
}
