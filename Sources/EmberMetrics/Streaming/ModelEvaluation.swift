import EmberCore
import EmberNN
import EmberTrain
import Foundation

/// A classifier evaluated on a data source in one pass: streaming metrics, calibration, the worst examples and,
/// with a training history, the fit diagnosis; ``report(title:classNames:)`` turns it into an HTML page.
///
/// ```swift
/// let history = try trainer.fit(train, validation: val, epochs: 10)
/// let eval = try Evaluation(model, on: test, classes: 10, history: history)
/// print(eval)                                             // metrics, classification report, diagnosis
/// try eval.report(title: "Fashion-MNIST").write(to: URL(fileURLWithPath: "report.html"))
/// ```
public struct Evaluation: @unchecked Sendable, CustomStringConvertible {
    /// The metrics.
    public let classification: ClassificationSummary
    /// Reliability diagram: P(class 1) for two classes, top-class confidence against correctness otherwise.
    public let calibration: ReliabilityDiagram
    /// The highest-loss samples, with their inputs.
    public let worstExamples: [WorstExample]
    /// The training history, if given.
    public let history: History?
    /// The fit diagnosis of `history`.
    public let diagnosis: FitDiagnosis?

    /// Runs `model` (in evaluation mode, without recording gradients) over epoch 0 of `data`.
    ///
    /// - Parameters:
    ///   - classes: number of classes; outputs are [n, classes] (or [n] for two classes).
    ///   - scores: whether outputs are logits (default) or probabilities.
    ///   - history: the training history, for learning curves and the diagnosis.
    ///   - baselineLoss: the diagnosis baseline (for cross-entropy, ln(classes) is chance level; default: the first
    ///     epoch's training loss).
    ///   - worst: how many worst examples to keep.
    ///   - storage: score storage for ROC/PR (``ScoreStorage``).
    public init(_ model: Module, on data: any BatchSource, classes: Int, scores: ScoreKind = .logits,
                history: History? = nil, baselineLoss: Double? = nil, worst: Int = 12,
                storage: ScoreStorage = .exact, calibrationBins: Int = 10) throws {
        var acc = ClassificationAccumulator(classes: classes, scores: scores, storage: storage)
        var cal = ReliabilityDiagram(bins: calibrationBins)
        var worstTracker = WorstExamples(k: worst)
        try withEvaluationMode(model) {
            try withoutGrad {
                for (x, y) in data.batches(epoch: 0) {
                    let out = model(x)
                    try acc.update(outputs: out, targets: y)
                    var rows = out.scoreRows()
                    if scores == .logits { rows = ClassificationAccumulator.probabilities(fromLogits: rows) }
                    let targets = y.classLabels()
                    var probs = (0..<rows.rows).map { Array(rows.values[($0 * rows.columns)..<(($0 + 1) * rows.columns)]) }
                    if rows.columns == 1 { probs = probs.map { [1 - $0[0], $0[0]] } }
                    if classes == 2 {
                        cal.add(probabilities: probs.map { $0[1] }, targets: targets)
                    } else {
                        cal.add(probabilityRows: probs, targets: targets)
                    }
                    worstTracker.update(probabilities: probs, targets: targets, inputs: x)
                }
            }
        }
        classification = acc.finalize()
        calibration = cal
        worstExamples = worstTracker.examples
        self.history = history
        diagnosis = history.map { diagnoseFit($0, baselineLoss: baselineLoss) }
    }

    /// The HTML report of this evaluation.
    public func report(title: String = "Evaluation", classNames: [String]? = nil) -> EvaluationReport {
        var r = EvaluationReport(title: title)
        r.history = history
        r.diagnosis = diagnosis
        r.classification = classification
        r.classNames = classNames
        r.calibration = calibration
        r.worstExamples = worstExamples
        return r
    }

    public var description: String {
        let c = classification
        var s = String(format: "accuracy %.4f", c.accuracy)
        if let f = try? c.f1(average: .macro, zeroDivision: .zero) { s += String(format: ", macro F1 %.4f", f) }
        if let a = try? c.rocAUC() { s += String(format: ", ROC-AUC %.4f", a) }
        if let l = try? c.logLoss() { s += String(format: ", log loss %.4f", l) }
        s += String(format: ", ECE %.4f\n", calibration.expectedCalibrationError)
        if let r = try? c.classificationReport(labels: Array(0..<c.classCount), zeroDivision: .zero) { s += r }
        if let d = diagnosis { s += "\n" + d.description }
        return s
    }
}

/// Regression scores of `model` over epoch 0 of `data`, streamed batch by batch in evaluation mode. Outputs and
/// targets are [n] or [n, outputs].
public func evaluateRegression(_ model: Module, on data: any BatchSource, outputs: Int = 1) throws -> RegressionSummary {
    var acc = RegressionAccumulator(outputs: outputs)
    try withEvaluationMode(model) {
        try withoutGrad {
            for (x, y) in data.batches(epoch: 0) { try acc.update(predictions: model(x), targets: y) }
        }
    }
    return try acc.finalize()
}

/// A `Trainer` callback that scores a classifier on validation data after every epoch with the streaming
/// accumulator, so metrics that are not averages over batches (F1, ROC-AUC, MCC) are exact for the whole set.
///
/// ```swift
/// let scores = ValidationScores(val, classes: 10)
/// let history = try trainer.fit(train, validation: val, epochs: 10, callbacks: [scores])
/// let all = scores.merged(into: history)          // history plus val_f1_macro, val_roc_auc, ...
/// ```
public final class ValidationScores: Callback {
    let data: any BatchSource
    let classes: Int
    let scores: ScoreKind
    let storage: ScoreStorage
    let output: ((String) -> Void)?
    /// Metric name ("val_f1_macro", ...) -> one value per epoch.
    public private(set) var values: [String: [Double]] = [:]
    /// The summary of the last epoch.
    public private(set) var latest: ClassificationSummary?

    /// Scores `data` (epoch 0 of the source) after every epoch; `output` receives one line per epoch when set.
    /// The default storage keeps ROC-AUC in constant memory with 1000 probability bins (see ``ScoreStorage``); pass
    /// `.exact` for scikit-learn's exact value.
    public init(_ data: any BatchSource, classes: Int, scores: ScoreKind = .logits,
                storage: ScoreStorage = .histogram(bins: 1000), output: ((String) -> Void)? = nil) {
        self.data = data
        self.classes = classes
        self.scores = scores
        self.storage = storage
        self.output = output
    }

    public func epochEnd(_ trainer: Trainer, epoch: Int, logs: [String: Double]) throws {
        var acc = ClassificationAccumulator(classes: classes, scores: scores, storage: storage)
        try withEvaluationMode(trainer.model) {
            try withoutGrad {
                for (x, y) in data.batches(epoch: 0) { try acc.update(outputs: trainer.model(x), targets: y) }
            }
        }
        let s = acc.finalize()
        latest = s
        var row: [String: Double] = ["val_accuracy_streamed": s.accuracy]
        row["val_balanced_accuracy"] = (try? s.balancedAccuracy()) ?? .nan
        row["val_f1_macro"] = (try? s.f1(average: .macro, zeroDivision: .zero)) ?? .nan
        row["val_mcc"] = (try? s.matthewsCorrelation()) ?? .nan
        row["val_roc_auc"] = (try? s.rocAUC()) ?? .nan
        row["val_log_loss"] = (try? s.logLoss()) ?? .nan
        for (k, v) in row { values[k, default: []].append(v) }
        if let output {
            output("epoch \(epoch + 1): " + row.keys.sorted().map { "\($0) " + String(format: "%.4f", row[$0]!) }.joined(separator: " - "))
        }
    }

    /// `history` with this callback's per-epoch metrics added.
    public func merged(into history: History) -> History {
        var h = history
        for (k, v) in values { h.metrics[k] = v }
        return h
    }
}
