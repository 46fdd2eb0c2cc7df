import Foundation

/// Metrics of a model on labelled examples, computed from its outputs with EmberMetrics (values equal to
/// scikit-learn's): accuracy, macro F1, balanced accuracy, ROC-AUC (one-vs-rest, macro), log loss, per-class
/// precision/recall/F1 and the confusion matrix for classification; MSE, RMSE, MAE and R² for regression. `loss` is
/// the training loss function on the same outputs.
public struct EvaluationResult: Sendable {
    /// Which examples (`test`, `validation`, a file name).
    public var split: String
    /// Number of examples.
    public var examples: Int
    /// Scalar metrics by name (`accuracy`, `loss`, `macro_f1`, `rmse`, ...).
    public var scalars: [(String, Double)]
    /// Class names (classification).
    public var classes: [String]
    /// confusion[true][predicted] (classification).
    public var confusion: [[Int]]
    /// Per-class precision, recall, F1 and support (classification).
    public var perClass: [(name: String, precision: Double, recall: Double, f1: Double, support: Int)]
    /// Metric names asked for.
    public var requested: [String]
    /// EmberMetrics' summary, for the HTML report (classification).
    public var summary: ClassificationSummary?
    /// EmberMetrics' summary, for the HTML report (regression).
    public var regression: RegressionSummary?

    /// The scalar called `name`.
    public subscript(_ name: String) -> Double? { scalars.first { $0.0 == name }?.1 }

    /// Classification metrics of `logits` [N, C] against class indices `targets` [N].
    static func classification(logits: Tensor, targets: Tensor, classes: [String], loss: LossFunction, split: String,
                               requested: [String]) throws -> EvaluationResult {
        let n = targets.shape[0], k = classes.count
        guard n > 0 else { throw CLIError("\(split): no examples to evaluate") }
        var acc = ClassificationAccumulator(classes: k, scores: .logits)
        try acc.update(outputs: logits, targets: targets)
        let s = acc.finalize()
        let lossValue = withoutGrad { loss(logits, targets).item() }
        let all = Array(0..<k)
        let scores = try s.classScores(labels: all, zeroDivision: .zero)
        func orNaN(_ f: () throws -> Double) -> Double { (try? f()) ?? .nan }
        return EvaluationResult(
            split: split, examples: n,
            scalars: [("accuracy", s.accuracy), ("loss", lossValue),
                      ("macro_f1", orNaN { try s.f1(average: .macro, zeroDivision: .zero) }),
                      ("balanced_accuracy", orNaN { try s.balancedAccuracy() }),
                      ("roc_auc", orNaN { try s.rocAUC(average: .macro) }),
                      ("log_loss", orNaN { try s.logLoss() })],
            classes: classes,
            confusion: all.map { t in all.map { p in s.confusion.count(true: t, predicted: p) } },
            perClass: all.map { (classes[$0], scores.precision[$0], scores.recall[$0], scores.fScore[$0], scores.support[$0]) },
            requested: requested, summary: s, regression: nil)
    }

    /// Regression metrics of `outputs` against `targets` (same number of values per example).
    static func regression(outputs: Tensor, targets: Tensor, loss: LossFunction, split: String, requested: [String]) throws -> EvaluationResult {
        guard targets.shape[0] > 0 else { throw CLIError("\(split): no examples to evaluate") }
        let k = outputs.count / outputs.shape[0]
        var acc = RegressionAccumulator(outputs: k)
        try acc.update(predictions: outputs.reshaped([outputs.shape[0], k]), targets: targets.cast(.float32).reshaped([targets.shape[0], k]))
        let r = try acc.finalize()
        let lossValue = withoutGrad { loss(outputs, targets).item() }
        return EvaluationResult(split: split, examples: targets.shape[0],
                                scalars: [("loss", lossValue), ("mse", r.average.meanSquaredError), ("rmse", r.average.rootMeanSquaredError),
                                          ("mae", r.average.meanAbsoluteError), ("r2", r.average.r2)],
                                classes: [], confusion: [], perClass: [], requested: requested, summary: nil, regression: r)
    }

    /// The HTML report (EmberMetrics' `EvaluationReport`) of this result, with learning curves from `history` and,
    /// for classification, calibration and the worst examples from `evaluation` when given.
    func report(title: String, history: History?, evaluation: Evaluation?) -> EvaluationReport {
        var r = evaluation?.report(title: title, classNames: classes) ?? EvaluationReport(title: title)
        r.history = history
        if let h = history, h.epochs > 0, r.diagnosis == nil { r.diagnosis = diagnoseFit(h) }
        if evaluation == nil {
            r.classification = summary
            r.classNames = classes.isEmpty ? nil : classes
        }
        r.regression = regression
        r.extraMetrics = scalars.filter { $0.0 == "loss" }.map { (name: "loss (training loss function)", value: $0.1) }
        return r
    }

    /// The metrics as `metrics.json` holds them: the requested scalars, then per-class figures and the confusion
    /// matrix when asked for.
    public var json: JSONValue {
        var kv: [(String, JSONValue)] = [("split", .string(split)), ("examples", .number(Double(examples)))]
        for (name, v) in scalars where requested.contains(name) { kv.append((name, .number(v))) }
        if requested.contains("per_class") {
            kv.append(("per_class", .array(perClass.map {
                .object([("class", .string($0.name)), ("precision", .number($0.precision)), ("recall", .number($0.recall)),
                         ("f1", .number($0.f1)), ("support", .number(Double($0.support)))])
            })))
        }
        if requested.contains("confusion_matrix") {
            kv.append(("confusion_matrix", .object([
                ("classes", .array(classes.map { .string($0) })),
                ("rows_are", .string("true class; columns: predicted class")),
                ("matrix", .array(confusion.map { .array($0.map { .number(Double($0)) }) })),
            ])))
        }
        return .object(kv)
    }

    /// A few lines for the terminal.
    public var text: String {
        var lines = ["\(split) (\(examples) examples):"]
        for (name, v) in scalars where requested.contains(name) {
            let shown = name == "accuracy" ? String(format: "%.4f (%.2f%%)", v, v * 100) : String(format: "%.4f", v)
            lines.append("  " + name.padding(toLength: 18, withPad: " ", startingAt: 0) + shown)
        }
        if requested.contains("per_class") && !classes.isEmpty {
            let w = Swift.max(5, classes.map(\.count).max() ?? 0)
            lines.append("  " + "class".padding(toLength: w, withPad: " ", startingAt: 0) + "  precision  recall     f1  support")
            for c in perClass {
                lines.append("  " + c.name.padding(toLength: w, withPad: " ", startingAt: 0)
                             + String(format: "  %9.4f  %6.4f  %6.4f  %7d", c.precision, c.recall, c.f1, c.support))
            }
        }
        if requested.contains("confusion_matrix") && !classes.isEmpty && classes.count <= 20 {
            let w = Swift.max(4, (confusion.flatMap { $0 }.max() ?? 0).description.count + 1)
            lines.append("  confusion (rows: true, columns: predicted):")
            for row in confusion {
                lines.append("    " + row.map { String(repeating: " ", count: Swift.max(0, w - "\($0)".count)) + "\($0)" }.joined())
            }
        }
        return lines.joined(separator: "\n")
    }
}
