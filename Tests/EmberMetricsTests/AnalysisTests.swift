import EmberCore
import EmberTrain
import Foundation
import Testing
@testable import EmberMetrics

func history(_ metrics: [String: [Double]]) -> History {
    var h = History()
    h.metrics = metrics
    h.epochs = metrics.values.map(\.count).max() ?? 0
    return h
}

/// Diagnosis on constructed learning curves whose verdict is known.
@Suite struct DiagnosisTests {
    @Test func overfittingUShapedValidation() {
        // Training keeps falling; validation is lowest at epoch 4, then climbs by 40%.
        let h = history(["loss": [1.0, 0.7, 0.5, 0.4, 0.3, 0.22, 0.16, 0.12],
                         "val_loss": [1.05, 0.8, 0.62, 0.55, 0.58, 0.63, 0.70, 0.77]])
        let d = diagnoseFit(h)
        #expect(d.verdict == .overfitting)
        #expect(d.bestEpoch == 4)
        #expect(d.trainingLossFalling)
        #expect(d.evidence[0].contains("lowest at epoch 4 (0.5500)") && d.evidence[0].contains("+40.0%"))
        #expect(d.evidence[1].hasPrefix("Training loss is still falling"))
        #expect(d.suggestions[0].contains("epoch 4"))
    }

    @Test func overfittingByGapWithoutRise() {
        // Validation plateaued far above a low training loss (no rise after its best epoch).
        let h = history(["loss": [0.9, 0.5, 0.3, 0.2, 0.15, 0.12],
                         "val_loss": [1.0, 0.8, 0.70, 0.70, 0.70, 0.70]])
        let d = diagnoseFit(h)
        #expect(d.verdict == .overfitting)
        #expect(d.evidence.contains { $0.contains("validation loss is 483.3% above training loss") })
    }

    @Test func underfittingBothHigh() {
        // Cross-entropy of 10 classes barely below chance (ln 10 = 2.303) on both sets.
        let h = history(["loss": [2.30, 2.25, 2.24, 2.235, 2.232], "val_loss": [2.31, 2.27, 2.26, 2.255, 2.252]])
        let d = diagnoseFit(h, baselineLoss: Foundation.log(10.0))
        #expect(d.verdict == .underfitting)
        #expect(d.evidence.contains { $0.hasPrefix("Both losses are high") })
        #expect(d.suggestions[0].contains("bigger model"))
        #expect(!d.trainingLossFalling && d.suggestions[1].hasPrefix("Raise the learning rate"))
    }

    @Test func stillImprovingAndGoodFit() {
        let improving = history(["loss": [1.0, 0.6, 0.4, 0.3, 0.24], "val_loss": [1.0, 0.62, 0.43, 0.33, 0.27]])
        #expect(diagnoseFit(improving).verdict == .stillImproving)
        let good = history(["loss": [1.0, 0.4, 0.2, 0.2, 0.2, 0.2], "val_loss": [1.0, 0.42, 0.22, 0.22, 0.22, 0.22]])
        let d = diagnoseFit(good)
        #expect(d.verdict == .goodFit)
        #expect(d.bestEpoch == 3)
    }

    @Test func nanEpochKeepsEpochNumbers() {
        // Epoch 3's validation loss is NaN: it is skipped, and the best epoch is still reported as epoch 5.
        let h = history(["loss": [1.0, 0.8, 0.6, 0.5, 0.4, 0.3, 0.2], "val_loss": [1.0, 0.9, .nan, 0.8, 0.6, 0.7, 0.9]])
        let d = diagnoseFit(h)
        #expect(d.bestEpoch == 5 && d.verdict == .overfitting)
        #expect(d.evidence[0].contains("epoch 5") && d.evidence[0].contains("at epoch 7"))
    }

    @Test func insufficientData() {
        #expect(diagnoseFit(history(["loss": [1.0, 0.5]])).verdict == .insufficientData)
        #expect(diagnoseFit(history(["loss": [1.0], "val_loss": [1.0]])).verdict == .insufficientData)
        #expect(diagnoseFit(History()).description.hasPrefix("Not enough data to diagnose."))
    }
}

/// Error analysis on constructed confusion matrices and probabilities.
@Suite struct ErrorAnalysisTests {
    @Test func perClassAndConfusedPairs() {
        // class 0: 3/4 right, one -> 2; class 1: 1/3 right, two -> 2; class 2: 2/2 right; class 3: no samples.
        let cm = ConfusionMatrix(yTrue: [0, 0, 0, 0, 1, 1, 1, 2, 2], yPred: [0, 0, 0, 2, 1, 2, 2, 2, 2], labels: [0, 1, 2, 3])
        let acc = perClassAccuracy(cm)
        #expect(acc.map(\.correct) == [3, 1, 2, 0] && acc.map(\.total) == [4, 3, 2, 0])
        #expect(acc[0].accuracy == 0.75 && acc[2].accuracy == 1 && acc[3].accuracy.isNaN)
        let pairs = mostConfusedPairs(cm, top: 5)
        #expect(pairs.map { [$0.trueLabel, $0.predictedLabel, $0.count] } == [[1, 2, 2], [0, 2, 1]])
        #expect(pairs[0].fractionOfClass == 2.0 / 3.0)
    }

    @Test func worstExamplesByLossWithTies() {
        let p: [[Double]] = [[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.2, 0.8], [0.5, 0.5], [0.99, 0.01]]
        let y = [0, 0, 1, 0, 1, 0]
        // losses: -ln 0.9, -ln 0.2, -ln 0.4, -ln 0.2, -ln 0.5, -ln 0.99 -> order 1, 3 (tie, lower index first), 2, 4
        let w = worstExamples(probabilities: p, targets: y, k: 4)
        #expect(w.map(\.index) == [1, 3, 2, 4])
        #expect(Swift.abs(w[0].loss - -Foundation.log(0.2)) < 1e-15)
        #expect(w[0].predicted == 1 && w[0].confidence == 0.8)
        // Streaming in batches keeps the same k and the images of the kept samples.
        let images = Tensor((0..<(6 * 4)).map { Float($0) }, shape: [6, 2, 2])
        var tracker = WorstExamples(k: 4)
        tracker.update(probabilities: Array(p[..<2]), targets: Array(y[..<2]), inputs: images[0..<2])
        tracker.update(probabilities: Array(p[2...]), targets: Array(y[2...]), inputs: images[2..<6])
        #expect(tracker.examples.map(\.index) == [1, 3, 2, 4])
        #expect(tracker.examples[1].input!.scalars == [12, 13, 14, 15])
    }

    @Test(arguments: Fixture.golden["calibration_cases"].array.indices)
    func calibrationMatchesScikitLearn(_ i: Int) {
        let c = Fixture.golden["calibration_cases"].array[i]
        var d = ReliabilityDiagram(bins: c["bins"].int)
        d.add(probabilities: c["probabilities"].doubles, targets: c["y_true"].ints)
        checkGolden(c["result"], "calibration_curve bins=\(c["bins"].int)", { _ throws(MetricError) in d.curve },
                    matches: { v, j in close(v.fractionPositive, j[0].doubles) && close(v.meanPredicted, j[1].doubles) })
    }

    @Test func expectedCalibrationErrorKnownAnswer() {
        // Bin (0.2, 0.3]: 4 samples at 0.25, 1 positive -> |0.25 - 0.25| = 0.
        // Bin (0.8, 0.9]: 4 samples at 0.9, 2 positive -> |0.5 - 0.9| = 0.4. Total 8: ECE = 4/8 * 0.4 = 0.2, MCE 0.4.
        var d = ReliabilityDiagram(bins: 10)
        d.add(probabilities: [0.25, 0.25, 0.25, 0.25, 0.9, 0.9, 0.9, 0.9], targets: [1, 0, 0, 0, 1, 1, 0, 0])
        #expect(Swift.abs(d.expectedCalibrationError - 0.2) < 1e-15)
        #expect(Swift.abs(d.maximumCalibrationError - 0.4) < 1e-15)
        #expect(d.bins[2].count == 4 && d.bins[8].count == 4 && d.bins[9].count == 0)  // 0.9 is an edge: lower bin
        // A perfectly calibrated top-label model: confidence 0.75 and right 3 times in 4.
        var top = ReliabilityDiagram(bins: 4)
        top.add(probabilityRows: [[0.75, 0.25], [0.25, 0.75], [0.75, 0.25], [0.75, 0.25]], targets: [0, 1, 0, 1])
        #expect(top.expectedCalibrationError == 0)
    }
}

/// K-fold splits against scikit-learn's KFold and the cross-validation summary.
@Suite struct CrossValidationTests {
    @Test(arguments: Fixture.golden["kfold"].array.indices)
    func kFoldMatchesScikitLearn(_ i: Int) {
        let c = Fixture.golden["kfold"].array[i]
        let splits = KFold(folds: c["k"].int).splits(count: c["n"].int)
        #expect(splits.map(\.test) == c["test_folds"].array.map(\.ints))
        for s in splits { #expect(Set(s.train).union(s.test) == Set(0..<c["n"].int) && Set(s.train).isDisjoint(with: s.test)) }
    }

    @Test func shuffledFoldsPartitionAndRepeat() {
        let a = KFold(folds: 4, shuffle: true, seed: 7).splits(count: 10)
        let b = KFold(folds: 4, shuffle: true, seed: 7).splits(count: 10)
        #expect(a.map(\.test) == b.map(\.test))
        #expect(a.flatMap(\.test).sorted() == Array(0..<10))
        #expect(a.map(\.test) != KFold(folds: 4).splits(count: 10).map(\.test))
    }

    @Test func meanAndSpread() throws {
        // The "metric" is the mean test index of each fold, so the answer is known: folds of 12 are
        // [0..<3], [3..<6], [6..<9], [9..<12] -> means 1, 4, 7, 10; mean 5.5, population std sqrt(11.25).
        let x = Tensor((0..<12).map { Float($0) }, shape: [12, 1]), y = Tensor((0..<12).map { Int64($0) })
        let cv = try crossValidate(inputs: x, targets: y, folds: KFold(folds: 4)) { trainX, _, testX, testY in
            #expect(trainX.shape == [9, 1] && testY.shape == [3])
            return ["mean_index": testX.scalars.map(Double.init).reduce(0, +) / 3, "const": 1]
        }
        #expect(cv.values("mean_index") == [1, 4, 7, 10])
        #expect(cv.mean("mean_index") == 5.5)
        #expect(Swift.abs(cv.std("mean_index") - 11.25.squareRoot()) < 1e-12)
        #expect(cv.std("const") == 0 && cv.metrics == ["const", "mean_index"])
        #expect(cv.description.contains("mean_index: 5.5000 ± 3.3541 (4 folds)"))
    }
}
