import Foundation
import Testing
@testable import EmberMetrics

/// Label-based metrics against scikit-learn 1.9.1 on every case of `label_cases` (see the golden script): values,
/// warnings and errors, for every average and zero_division option.
@Suite struct ClassificationGoldenTests {
    static let cases = Fixture.golden["label_cases"].array

    @Test(arguments: cases.indices)
    func labelMetrics(_ i: Int) {
        let c = Self.cases[i]
        let name = c["name"].string
        let yt = c["y_true"].ints, yp = c["y_pred"].ints
        let labels = c["labels"].intsOrNil

        checkGolden(c["accuracy"], "\(name) accuracy", { _ throws(MetricError) in try accuracy(yt, yp) }, matches: scalar)
        checkGolden(c["balanced_accuracy"], "\(name) balanced accuracy",
                    { w throws(MetricError) in try balancedAccuracy(yt, yp, warnings: w) }, matches: scalar)
        checkGolden(c["balanced_accuracy_adjusted"], "\(name) adjusted balanced accuracy",
                    { w throws(MetricError) in try balancedAccuracy(yt, yp, adjusted: true, warnings: w) }, matches: scalar)
        checkGolden(c["mcc"], "\(name) MCC", { w throws(MetricError) in try matthewsCorrelation(yt, yp, warnings: w) },
                    matches: scalar)

        let norms: [(String, ConfusionMatrix.Normalization?)] = [("None", nil), ("true", .trueLabels),
                                                                 ("pred", .predictedLabels), ("all", .all)]
        for (key, norm) in norms {
            checkGolden(c["confusion"][key], "\(name) confusion \(key)", { w throws(MetricError) in
                let cm = try confusionMatrix(yt, yp, labels: labels, warnings: w)
                return norm.map { cm.normalized($0) } ?? cm.rows.map { $0.map(Double.init) }
            }, matches: { v, j in close(v, j.matrix) })
        }
        let weights: [(String, KappaWeighting)] = [("None", .none), ("linear", .linear), ("quadratic", .quadratic)]
        for (key, wt) in weights {
            checkGolden(c["kappa"][key], "\(name) kappa \(key)", { w throws(MetricError) in
                try cohenKappa(yt, yp, labels: labels, weights: wt, warnings: w)
            }, matches: scalar)
        }
    }

    @Test(arguments: cases.indices)
    func precisionRecallF(_ i: Int) {
        let c = Self.cases[i]
        let name = c["name"].string
        let yt = c["y_true"].ints, yp = c["y_pred"].ints
        let labels = c["labels"].intsOrNil
        for e in c["prf"].array {
            let avg = Average.fixture(e["average"].string)
            let zd = ZeroDivision(fixture: e["zero_division"].string)
            let tag = "\(name) average=\(e["average"].string) zero_division=\(e["zero_division"].string)"
            if let avg {
                checkGolden(e["precision"], "\(tag) precision", { w throws(MetricError) in
                    try precision(yt, yp, labels: labels, average: avg, zeroDivision: zd, warnings: w)
                }, matches: scalar)
                checkGolden(e["recall"], "\(tag) recall", { w throws(MetricError) in
                    try recall(yt, yp, labels: labels, average: avg, zeroDivision: zd, warnings: w)
                }, matches: scalar)
                checkGolden(e["f1"], "\(tag) f1", { w throws(MetricError) in
                    try f1Score(yt, yp, labels: labels, average: avg, zeroDivision: zd, warnings: w)
                }, matches: scalar)
                for (key, beta) in [("fbeta_0.5", 0.5), ("fbeta_2", 2.0)] {
                    checkGolden(e[key], "\(tag) \(key)", { w throws(MetricError) in
                        try fbetaScore(yt, yp, beta: beta, labels: labels, average: avg, zeroDivision: zd, warnings: w)
                    }, matches: scalar)
                }
                checkGolden(e["prfs"], "\(tag) prfs", { w throws(MetricError) in
                    try precisionRecallFScore(yt, yp, labels: labels, average: avg, zeroDivision: zd, warnings: w)
                }, matches: { v, j in
                    close(v.precision, j[0].double) && close(v.recall, j[1].double) && close(v.fScore, j[2].double)
                        && j[3].isNull
                })
            } else {
                checkGolden(e["prfs"], "\(tag) prfs", { w throws(MetricError) in
                    try classScores(yt, yp, labels: labels, zeroDivision: zd, warnings: w)
                }, matches: { v, j in
                    close(v.precision, j[0].doubles) && close(v.recall, j[1].doubles) && close(v.fScore, j[2].doubles)
                        && v.support == j[3].ints
                })
            }
        }
    }

    @Test(arguments: cases.indices)
    func report(_ i: Int) {
        let c = Self.cases[i]
        let yt = c["y_true"].ints, yp = c["y_pred"].ints
        let labels = c["labels"].intsOrNil
        for key in c["report"].keys {
            let parts = key.split(separator: "_")
            let digits = Int(parts[0])!, zd = ZeroDivision(fixture: String(parts[1]))
            checkGolden(c["report"][key], "\(c["name"].string) report \(key)", { w throws(MetricError) in
                try classificationReport(yt, yp, labels: labels, digits: digits, zeroDivision: zd, warnings: w)
            }, matches: { v, j in
                if v != j.string { print("Ember:\n\(v)\nscikit-learn:\n\(j.string)") }
                return v == j.string
            })
        }
    }
}
