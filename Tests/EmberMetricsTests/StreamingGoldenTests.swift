import EmberCore
import Foundation
import Testing
@testable import EmberMetrics

/// Splits `n` samples into uneven batches (sizes 1, 2, 3, ...) so a streaming result cannot depend on batch edges.
func unevenBatches(_ n: Int) -> [Range<Int>] {
    var out: [Range<Int>] = [], start = 0, size = 1
    while start < n { out.append(start..<Swift.min(n, start + size)); start += size; size += 1 }
    return out
}

/// The streaming accumulators fed batch by batch must give scikit-learn's values on the whole data.
@Suite struct StreamingGoldenTests {
    static let labelCases = Fixture.golden["label_cases"].array.filter { c in
        c["labels"].isNull && (c["y_true"].ints + c["y_pred"].ints).allSatisfy { $0 >= 0 }
    }

    @Test(arguments: labelCases.indices)
    func labelMetricsStream(_ i: Int) throws {
        let c = Self.labelCases[i]
        let name = c["name"].string
        let yt = c["y_true"].ints, yp = c["y_pred"].ints
        var acc = ClassificationAccumulator(classes: Swift.max(2, (yt + yp).max()! + 1))
        for r in unevenBatches(yt.count) { try acc.update(predictions: Array(yp[r]), targets: Array(yt[r])) }
        let s = acc.finalize()
        checkGolden(c["accuracy"], "\(name) stream accuracy", { _ throws(MetricError) in s.accuracy }, matches: scalar)
        checkGolden(c["balanced_accuracy"], "\(name) stream balanced", { w throws(MetricError) in
            try s.balancedAccuracy(warnings: w)
        }, matches: scalar)
        checkGolden(c["mcc"], "\(name) stream MCC", { w throws(MetricError) in try s.matthewsCorrelation(warnings: w) },
                    matches: scalar)
        checkGolden(c["kappa"]["quadratic"], "\(name) stream kappa", { w throws(MetricError) in
            try s.cohenKappa(weights: .quadratic, warnings: w)
        }, matches: scalar)
        checkGolden(c["confusion"]["None"], "\(name) stream confusion", { w throws(MetricError) in
            s.confusionMatrix(warnings: w).rows.map { $0.map(Double.init) }
        }, matches: { v, j in close(v, j.matrix) })
        for e in c["prf"].array {
            let zd = ZeroDivision(fixture: e["zero_division"].string)
            let tag = "\(name) stream \(e["average"].string) \(e["zero_division"].string)"
            guard let avg = Average.fixture(e["average"].string) else {
                checkGolden(e["prfs"], "\(tag) per class", { w throws(MetricError) in
                    try s.classScores(zeroDivision: zd, warnings: w)
                }, matches: { v, j in close(v.precision, j[0].doubles) && close(v.recall, j[1].doubles) && v.support == j[3].ints })
                continue
            }
            checkGolden(e["precision"], "\(tag) precision", { w throws(MetricError) in
                try s.precision(average: avg, zeroDivision: zd, warnings: w)
            }, matches: scalar)
            checkGolden(e["recall"], "\(tag) recall", { w throws(MetricError) in
                try s.recall(average: avg, zeroDivision: zd, warnings: w)
            }, matches: scalar)
            checkGolden(e["fbeta_2"], "\(tag) f2", { w throws(MetricError) in
                try s.fbeta(2, average: avg, zeroDivision: zd, warnings: w)
            }, matches: scalar)
        }
        checkGolden(c["report"]["4_1"], "\(name) stream report", { w throws(MetricError) in
            try s.classificationReport(digits: 4, zeroDivision: .one, warnings: w)
        }, matches: { v, j in v == j.string })
    }

    static let binaryCases = Fixture.golden["binary_score_cases"].array.filter { c in
        c["log_loss"].exists && c["y_true"].ints.allSatisfy { $0 == 0 || $0 == 1 }
    }

    @Test(arguments: binaryCases.indices)
    func binaryScoresStream(_ i: Int) throws {
        let c = Self.binaryCases[i]
        let name = c["name"].string
        let yt = c["y_true"].ints, p = c["scores"].doubles
        for storage in [ScoreStorage.exact, .histogram(bins: c["quantized_bins"].int)] {
            var acc = ClassificationAccumulator(classes: 2, storage: storage)
            for r in unevenBatches(yt.count) {
                try acc.update(probabilities: p[r].map { [$0] }, targets: Array(yt[r]))
            }
            let s = acc.finalize()
            if storage == .exact {
                checkGolden(c["roc_auc"], "\(name) stream AUC", { w throws(MetricError) in try s.rocAUC(warnings: w) }, matches: scalar)
                checkGolden(c["average_precision"], "\(name) stream AP", { w throws(MetricError) in
                    try s.averagePrecision(warnings: w)
                }, matches: scalar)
                checkGolden(c["roc_curve"], "\(name) stream ROC curve", { w throws(MetricError) in try s.rocCurve(warnings: w) },
                            matches: { v, j in close(v.falsePositiveRate, j[0].doubles) && close(v.truePositiveRate, j[1].doubles) })
                checkGolden(c["pr_curve"], "\(name) stream PR curve", { w throws(MetricError) in
                    try s.precisionRecallCurve(warnings: w)
                }, matches: { v, j in close(v.precision, j[0].doubles) && close(v.recall, j[1].doubles) })
            } else {
                checkGolden(c["quantized_roc_auc"], "\(name) histogram AUC", { w throws(MetricError) in try s.rocAUC(warnings: w) },
                            matches: scalar)
                checkGolden(c["quantized_average_precision"], "\(name) histogram AP", { w throws(MetricError) in
                    try s.averagePrecision(warnings: w)
                }, matches: scalar)
            }
            checkGolden(c["log_loss_labels"], "\(name) stream log loss", { w throws(MetricError) in try s.logLoss(warnings: w) },
                        matches: scalar)
            for k in c["top_k"].keys {
                // With labels=[0, 1] fixed, scikit-learn's k >= n_classes warning applies whatever y_true holds.
                let r = c["top_k"][k]
                if r["error"].exists { continue }
                checkGolden(r, "\(name) stream top-\(k)", { w throws(MetricError) in
                    try s.topKAccuracy(Int(k)!, warnings: w)
                }, matches: scalar)
            }
        }
    }

    static let multiclassCases = Fixture.golden["multiclass_score_cases"].array.filter { c in
        c["roc_auc"]["macro"]["value"].exists || c["roc_auc"]["macro"]["warnings"].array.count > 0
    }

    @Test(arguments: multiclassCases.indices)
    func multiclassScoresStream(_ i: Int) throws {
        let c = Self.multiclassCases[i]
        let name = c["name"].string
        let yt = c["y_true"].ints, p = c["probabilities"].matrix
        var acc = ClassificationAccumulator(classes: p[0].count)
        for r in unevenBatches(yt.count) { try acc.update(probabilities: Array(p[r]), targets: Array(yt[r])) }
        let s = acc.finalize()
        let averages: [(String, RankingAverage)] = [("macro", .macro), ("weighted", .weighted), ("micro", .micro)]
        for (key, avg) in averages {
            checkGolden(c["roc_auc"][key], "\(name) stream AUC \(key)", { w throws(MetricError) in
                try s.rocAUC(average: avg, warnings: w)
            }, matches: scalar)
            if c["average_precision"].exists {
                checkGolden(c["average_precision"][key], "\(name) stream AP \(key)", { w throws(MetricError) in
                    try s.averagePrecision(average: avg, warnings: w)
                }, matches: scalar)
            }
        }
        checkGolden(c["roc_auc"]["None"], "\(name) stream AUC per class", { w throws(MetricError) in
            try s.rocAUCPerClass(warnings: w)
        }, matches: vector)
        checkGolden(c["log_loss"], "\(name) stream log loss", { w throws(MetricError) in try s.logLoss(warnings: w) }, matches: scalar)
        for k in c["top_k"].keys {
            checkGolden(c["top_k"][k], "\(name) stream top-\(k)", { w throws(MetricError) in
                try s.topKAccuracy(Int(k)!, warnings: w)
            }, matches: scalar)
        }
    }

    @Test func tensorLogitsMatchProbabilities() throws {
        // Logit tensors go through softmax; the result must equal feeding the softmax probabilities directly.
        let logits: [[Float]] = [[2, 0.5, -1], [0.1, 0.2, 0.3], [-1, 3, 0], [0, 0, 0], [1, -2, 4]]
        let y: [Int64] = [0, 2, 1, 1, 2]
        var a = ClassificationAccumulator(classes: 3, scores: .logits)
        try a.update(outputs: Tensor(logits), targets: Tensor(y))
        let probs = logits.map { row -> [Double] in
            let e = row.map { Foundation.exp(Double($0) - Double(row.max()!)) }
            return e.map { $0 / e.reduce(0, +) }
        }
        let auc = try rocAUC(y.map(Int.init), probabilities: probs)
        let ll = try logLoss(y.map(Int.init), probabilities: probs)
        let s = a.finalize()
        #expect(Swift.abs(try s.rocAUC() - auc) < 1e-12)
        #expect(Swift.abs(try s.logLoss() - ll) < 1e-12)
        #expect(s.accuracy == 0.8)  // argmax 0, 2, 1, 0 (tie -> first), 2
    }

    @Test func mergeEqualsOneAccumulator() throws {
        let c = Fixture.golden["multiclass_score_cases"].array[0]
        let yt = c["y_true"].ints, p = c["probabilities"].matrix
        var whole = ClassificationAccumulator(classes: 4, storage: .histogram(bins: 20))
        try whole.update(probabilities: p, targets: yt)
        var left = ClassificationAccumulator(classes: 4, storage: .histogram(bins: 20))
        var right = left
        try left.update(probabilities: Array(p[..<11]), targets: Array(yt[..<11]))
        try right.update(probabilities: Array(p[11...]), targets: Array(yt[11...]))
        left.merge(right)
        let a = whole.finalize(), b = left.finalize()
        #expect(a.confusion == b.confusion)
        #expect(try a.rocAUC() == b.rocAUC())
        #expect(try a.topKAccuracy(2) == b.topKAccuracy(2))
    }

    static let regressionCases = Fixture.golden["regression_cases"].array

    @Test(arguments: regressionCases.indices)
    func regressionStream(_ i: Int) throws {
        let c = Self.regressionCases[i]
        let twoD = c["y_true"].array.first.map { $0.raw is [Any] } ?? false
        let yt = twoD ? c["y_true"].matrix.flatMap { $0 } : c["y_true"].doubles
        let yp = twoD ? c["y_pred"].matrix.flatMap { $0 } : c["y_pred"].doubles
        let d = twoD ? 2 : 1
        var acc = RegressionAccumulator(outputs: d)
        for r in unevenBatches(yt.count / d) {
            try acc.update(Array(yt[(r.lowerBound * d)..<(r.upperBound * d)]), Array(yp[(r.lowerBound * d)..<(r.upperBound * d)]))
        }
        let s = try acc.finalize()
        let keys: [(String, KeyPath<RegressionScores, Double>)] = [
            ("mse", \.meanSquaredError), ("rmse", \.rootMeanSquaredError), ("mae", \.meanAbsoluteError),
            ("mape", \.meanAbsolutePercentageError), ("r2", \.r2), ("explained_variance", \.explainedVariance)]
        for (key, path) in keys {
            checkGolden(c[key], "\(c["name"].string) stream \(key)", { w throws(MetricError) in
                if key == "r2" { w.append(contentsOf: s.warnings) }
                return s.average[keyPath: path]
            }, matches: scalar)
        }
    }
}
