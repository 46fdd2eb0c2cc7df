import Foundation

/// Binary-classification rates of one group of a sensitive attribute.
public struct GroupRates: Sendable, Hashable {
    /// The group's value of the sensitive attribute.
    public let group: String
    /// Samples in the group.
    public let count: Int
    /// Fraction predicted correctly.
    public let accuracy: Double
    /// Fraction predicted positive (fairlearn's `selection_rate`).
    public let selectionRate: Double
    /// Fraction of actual positives predicted positive (recall). 0 when the group has no positives, as fairlearn's
    /// `true_positive_rate` (scikit-learn's row-normalized confusion matrix maps 0/0 to 0).
    public let truePositiveRate: Double
    /// Fraction of actual negatives predicted positive. 0 when the group has no negatives, as fairlearn's
    /// `false_positive_rate`.
    public let falsePositiveRate: Double
}

/// Per-group rates and the disparity measures of fairlearn, for a binary classifier and one sensitive attribute.
///
/// ```swift
/// let f = try fairness(yTrue: labels, yPred: predictions, groups: applicants.map(\.sex))
/// print(f.demographicParityDifference, f.equalOpportunityDifference)
/// ```
public struct FairnessReport: Sendable, Hashable, CustomStringConvertible {
    /// Rates per group, sorted by group name.
    public let groups: [GroupRates]
    /// Rates over all samples.
    public let overall: GroupRates

    private func spread(_ k: KeyPath<GroupRates, Double>) -> Double {
        let v = groups.map { $0[keyPath: k] }
        return (v.max() ?? 0) - (v.min() ?? 0)
    }

    /// Largest minus smallest group selection rate (fairlearn's `demographic_parity_difference`,
    /// `method="between_groups"`). 0 means every group is selected at the same rate.
    public var demographicParityDifference: Double { spread(\.selectionRate) }

    /// Largest minus smallest group true-positive rate (fairlearn's `equal_opportunity_difference`).
    public var equalOpportunityDifference: Double { spread(\.truePositiveRate) }

    /// The larger of the true-positive-rate and false-positive-rate spreads (fairlearn's `equalized_odds_difference`,
    /// `agg="worst_case"`).
    public var equalizedOddsDifference: Double { Swift.max(spread(\.truePositiveRate), spread(\.falsePositiveRate)) }

    /// Largest minus smallest group accuracy.
    public var accuracyDifference: Double { spread(\.accuracy) }

    public var description: String {
        var s = "group        count  accuracy  selection    TPR    FPR\n"
        for g in groups + [overall] {
            s += g.group.padding(toLength: 12, withPad: " ", startingAt: 0)
                + String(format: " %6d  %8.4f  %9.4f  %6.4f %6.4f\n", g.count, g.accuracy, g.selectionRate, g.truePositiveRate, g.falsePositiveRate)
        }
        s += String(format: "demographic parity difference %.4f, equal opportunity difference %.4f, equalized odds difference %.4f",
                    demographicParityDifference, equalOpportunityDifference, equalizedOddsDifference)
        return s
    }
}

func groupRates(_ name: String, _ yTrue: [Int], _ yPred: [Int], positive: Int) -> GroupRates {
    var tp = 0, fp = 0, pos = 0, correct = 0, selected = 0
    for (t, p) in zip(yTrue, yPred) {
        if t == p { correct += 1 }
        if p == positive { selected += 1 }
        if t == positive { pos += 1; if p == positive { tp += 1 } } else if p == positive { fp += 1 }
    }
    let n = yTrue.count, neg = n - pos
    return GroupRates(group: name, count: n, accuracy: Double(correct) / Double(n),
                      selectionRate: Double(selected) / Double(n),
                      truePositiveRate: pos == 0 ? 0 : Double(tp) / Double(pos),
                      falsePositiveRate: neg == 0 ? 0 : Double(fp) / Double(neg))
}

/// Per-group accuracy, selection rate and true/false-positive rates of binary predictions, and the disparities
/// between groups (see ``FairnessReport``).
///
/// - Parameters:
///   - groups: the sensitive attribute of each sample (any value printable as a group name).
///   - positiveLabel: the favourable outcome; the labels must be binary.
/// - Throws: ``MetricError`` for inputs of different lengths, no samples, or more than two labels.
public func fairness<G: Hashable & CustomStringConvertible>(yTrue: [Int], yPred: [Int], groups: [G],
                                                            positiveLabel: Int = 1) throws(MetricError) -> FairnessReport {
    try checkLabelTargets(yTrue, yPred)
    try checkLengths(yTrue.count, groups.count)
    if sortedUnique(yTrue, yPred).count > 2 {
        throw MetricError(.unsupportedTarget, "Must have no more than two unique y values")
    }
    var members: [G: [Int]] = [:]
    for (i, g) in groups.enumerated() { members[g, default: []].append(i) }
    let rates = members.map { g, idx in
        groupRates(g.description, idx.map { yTrue[$0] }, idx.map { yPred[$0] }, positive: positiveLabel)
    }.sorted { $0.group < $1.group }
    return FairnessReport(groups: rates, overall: groupRates("overall", yTrue, yPred, positive: positiveLabel))
}
