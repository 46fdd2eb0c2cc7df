import Foundation
import Testing
@testable import EmberMetrics

/// Score-based metrics against scikit-learn: ROC and PR curves, ROC-AUC, average precision, log loss and top-k, on
/// tied scores, single-class targets, labels outside {0, 1} and multiclass probabilities.
@Suite struct RankingGoldenTests {
    static let binary = Fixture.golden["binary_score_cases"].array
    static let multiclass = Fixture.golden["multiclass_score_cases"].array

    @Test(arguments: binary.indices)
    func binaryScores(_ i: Int) {
        let c = Self.binary[i]
        let name = c["name"].string
        let yt = c["y_true"].ints, s = c["scores"].doubles
        let curveMatches: (ROCCurve, J) -> Bool = { v, j in
            close(v.falsePositiveRate, j[0].doubles) && close(v.truePositiveRate, j[1].doubles) && close(v.thresholds, j[2].doubles)
        }
        checkGolden(c["roc_curve"], "\(name) roc_curve", { w throws(MetricError) in try rocCurve(yt, s, warnings: w) },
                    matches: curveMatches)
        checkGolden(c["roc_curve_all"], "\(name) roc_curve all points", { w throws(MetricError) in
            try rocCurve(yt, s, dropIntermediate: false, warnings: w)
        }, matches: curveMatches)
        checkGolden(c["roc_auc"], "\(name) roc_auc", { w throws(MetricError) in try rocAUC(yt, s, warnings: w) }, matches: scalar)
        checkGolden(c["pr_curve"], "\(name) pr curve", { w throws(MetricError) in try precisionRecallCurve(yt, s, warnings: w) },
                    matches: { v, j in close(v.precision, j[0].doubles) && close(v.recall, j[1].doubles) && close(v.thresholds, j[2].doubles) })
        checkGolden(c["average_precision"], "\(name) average precision", { w throws(MetricError) in
            try averagePrecision(yt, s, warnings: w)
        }, matches: scalar)
        if c["log_loss"].exists {
            checkGolden(c["log_loss"], "\(name) log loss", { w throws(MetricError) in try logLoss(yt, s, warnings: w) }, matches: scalar)
            checkGolden(c["log_loss_labels"], "\(name) log loss labels", { w throws(MetricError) in
                try logLoss(yt, s, labels: [0, 1], warnings: w)
            }, matches: scalar)
        }
        for k in c["top_k"].keys {
            checkGolden(c["top_k"][k], "\(name) top-\(k)", { w throws(MetricError) in
                try topKAccuracy(yt, s, k: Int(k)!, warnings: w)
            }, matches: scalar)
        }
    }

    @Test(arguments: multiclass.indices)
    func multiclassScores(_ i: Int) {
        let c = Self.multiclass[i]
        let name = c["name"].string
        let yt = c["y_true"].ints, p = c["probabilities"].matrix
        let labels = c["labels"].intsOrNil
        let averages: [(String, RankingAverage)] = [("macro", .macro), ("weighted", .weighted), ("micro", .micro)]
        for (key, avg) in averages {
            checkGolden(c["roc_auc"][key], "\(name) roc_auc \(key)", { w throws(MetricError) in
                try rocAUC(yt, probabilities: p, average: avg, labels: labels, warnings: w)
            }, matches: scalar)
            if c["average_precision"].exists {
                checkGolden(c["average_precision"][key], "\(name) AP \(key)", { w throws(MetricError) in
                    try averagePrecision(yt, scores: p, average: avg, warnings: w)
                }, matches: scalar)
            }
        }
        checkGolden(c["roc_auc"]["None"], "\(name) roc_auc per class", { w throws(MetricError) in
            try rocAUCPerClass(yt, probabilities: p, labels: labels, warnings: w)
        }, matches: vector)
        if c["average_precision"].exists {
            checkGolden(c["average_precision"]["None"], "\(name) AP per class", { w throws(MetricError) in
                try averagePrecisionPerClass(yt, scores: p, warnings: w)
            }, matches: vector)
        }
        checkGolden(c["log_loss"], "\(name) log loss", { w throws(MetricError) in
            try logLoss(yt, probabilities: p, labels: labels, warnings: w)
        }, matches: scalar)
        for k in c["top_k"].keys {
            checkGolden(c["top_k"][k], "\(name) top-\(k)", { w throws(MetricError) in
                try topKAccuracy(yt, scores: p, k: Int(k)!, labels: labels, warnings: w)
            }, matches: scalar)
        }
    }
}

/// Regression metrics against scikit-learn (uniform average and raw values per output).
@Suite struct RegressionGoldenTests {
    static let cases = Fixture.golden["regression_cases"].array

    @Test(arguments: cases.indices)
    func regression(_ i: Int) {
        let c = Self.cases[i]
        let name = c["name"].string
        if case let rows as [[Any]] = c["y_true"].raw, !rows.isEmpty {
            let yt = c["y_true"].matrix, yp = c["y_pred"].matrix
            let keys: [(String, KeyPath<RegressionScores, Double>)] = [
                ("mse", \.meanSquaredError), ("rmse", \.rootMeanSquaredError), ("mae", \.meanAbsoluteError),
                ("mape", \.meanAbsolutePercentageError), ("r2", \.r2), ("explained_variance", \.explainedVariance)]
            for (key, path) in keys {
                checkGolden(c[key], "\(name) \(key)", { w throws(MetricError) in
                    let s = try regressionScores(yt, yp)
                    if key == "r2" { w.append(contentsOf: s.warnings) }
                    return s.average[keyPath: path]
                }, matches: scalar)
                checkGolden(c[key + "_raw"], "\(name) \(key) raw", { w throws(MetricError) in
                    let s = try regressionScores(yt, yp)
                    if key == "r2" { w.append(contentsOf: s.warnings) }
                    return s.perOutput.map { $0[keyPath: path] }
                }, matches: vector)
            }
            return
        }
        let yt = c["y_true"].doubles, yp = c["y_pred"].doubles
        checkGolden(c["mse"], "\(name) mse", { _ throws(MetricError) in try meanSquaredError(yt, yp) }, matches: scalar)
        checkGolden(c["rmse"], "\(name) rmse", { _ throws(MetricError) in try rootMeanSquaredError(yt, yp) }, matches: scalar)
        checkGolden(c["mae"], "\(name) mae", { _ throws(MetricError) in try meanAbsoluteError(yt, yp) }, matches: scalar)
        checkGolden(c["mape"], "\(name) mape", { _ throws(MetricError) in try meanAbsolutePercentageError(yt, yp) }, matches: scalar)
        checkGolden(c["r2"], "\(name) r2", { w throws(MetricError) in try r2Score(yt, yp, warnings: w) }, matches: scalar)
        checkGolden(c["explained_variance"], "\(name) explained variance", { _ throws(MetricError) in
            try explainedVariance(yt, yp)
        }, matches: scalar)
    }
}
