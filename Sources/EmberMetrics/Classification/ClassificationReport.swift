import Foundation

/// scikit-learn's `classification_report`: precision, recall, F1 and support per class, then the accuracy (or micro
/// average), macro and weighted averages, laid out character for character as scikit-learn prints it.
///
/// ```swift
/// print(try classificationReport(yTrue, yPred, targetNames: ["cat", "dog", "bird"]))
/// ```
///
/// - Parameters:
///   - labels: the classes to list (default: every label of either vector). When they do not cover every label,
///     the "accuracy" line becomes "micro avg", as in scikit-learn.
///   - targetNames: display names, one per label (default: the labels as numbers).
///   - digits: decimals of the scores.
///   - zeroDivision: see ``ZeroDivision``; `.warn` prints 0.00 and logs warnings.
public func classificationReport(_ yTrue: [Int], _ yPred: [Int], labels: [Int]? = nil, targetNames: [String]? = nil,
                                 digits: Int = 2, zeroDivision: ZeroDivision = .warn,
                                 warnings: MetricWarnings? = nil) throws(MetricError) -> String {
    let (cm, present) = try setWiseMatrix(yTrue, yPred, labels: labels)
    return try classificationReport(cm, present: present, labels: labels, targetNames: targetNames, digits: digits,
                                    zeroDivision: zeroDivision, warnings: warnings)
}

func classificationReport(_ cm: ConfusionMatrix, present: [Int], labels: [Int]?, targetNames: [String]?, digits: Int,
                          zeroDivision: ZeroDivision, warnings: MetricWarnings?) throws(MetricError) -> String {
    precondition(digits >= 0, "classificationReport: digits must be non-negative")
    let shown = labels ?? present
    let microIsAccuracy = labels == nil || Set(labels!).isSuperset(of: present)
    var names = targetNames ?? shown.map(String.init)
    if names.count != shown.count {
        if labels != nil {
            warnings?.append(MetricWarning(.user, "labels size, \(shown.count), does not match size of target_names, \(names.count)"))
            if names.count < shown.count { names += shown[names.count...].map(String.init) }
        } else {
            throw MetricError(.invalidLabels, "Number of classes, \(shown.count), does not match size of target_names, \(names.count). Try specifying the labels parameter")
        }
    }
    let per = classScores(cm, present: present, labels: labels, beta: 1, zeroDivision: zeroDivision, warnings: warnings)
    let width = Swift.max(names.prefix(shown.count).map(\.count).max() ?? 0, "weighted avg".count, digits)
    func pad(_ s: String, _ w: Int) -> String { s.count >= w ? s : String(repeating: " ", count: w - s.count) + s }
    // Python prints every NaN as "nan"; C's printf would print a negative NaN as "-nan".
    func num(_ x: Double) -> String { pad(x.isNaN ? "nan" : String(format: "%.\(digits)f", x), 9) }
    var out = pad("", width) + " " + ["precision", "recall", "f1-score", "support"].map { " " + pad($0, 9) }.joined()
    out += "\n\n"
    for i in shown.indices {
        out += pad(names[i], width) + " " + " " + num(per.precision[i]) + " " + num(per.recall[i]) + " "
            + num(per.fScore[i]) + " " + pad(String(per.support[i]), 9) + "\n"
    }
    out += "\n"
    let total = per.support.reduce(0, +)
    for avg in [Average.micro, .macro, .weighted] {
        let s = try averagedPRF(cm, present: present, labels: labels, average: avg, positiveLabel: 1, beta: 1,
                                zeroDivision: zeroDivision, warnFor: .all, warnings: warnings)
        if avg == .micro && microIsAccuracy {
            out += pad("accuracy", width) + " " + " " + pad("", 9) + " " + pad("", 9) + " " + num(s.fScore) + " "
                + pad(String(total), 9) + "\n"
        } else {
            out += pad(avg.sklearnName + " avg", width) + " " + " " + num(s.precision) + " " + num(s.recall) + " "
                + num(s.fScore) + " " + pad(String(total), 9) + "\n"
        }
    }
    return out
}
