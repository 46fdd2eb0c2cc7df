import Foundation
import Testing
@testable import EmberData

/// Constructed tables with known answers for the cleaning operations and the feature steps.
@Suite struct CleaningTests {
    let nan = Double.nan

    @Test func dropRowsWithMissingKeepsCompleteRowsAndTheirTargets() throws {
        let x = matrix([[1, 2, 3], [nan, 5, 6], [7, 8, 9], [10, 11, nan], [13, 14, 15]])
        let y = Tensor([0.5, 1.5, 2.5, 3.5, nan], shape: [5])
        let all = try Cleaning.dropRowsWithMissing(x, targets: y)
        #expect(all.kept == [0, 2])
        #expect(all.inputs.toArray(Double.self) == [1, 2, 3, 7, 8, 9])
        #expect(all.targets!.toArray(Double.self) == [0.5, 2.5])
        #expect(all.report == CleaningReport(rowsBefore: 5, rowsAfter: 2, columnsBefore: 3, columnsAfter: 3, changes: [
            .droppedRowsWithMissing(rows: [1, 3, 4], missingPerColumn: [1, 0, 1], missingTargets: 1),
        ]))
        #expect(try Cleaning.dropRowsWithMissing(x, targets: y, checkTargets: false).kept == [0, 2, 4])
        let firstColumn = try Cleaning.dropRowsWithMissing(x, targets: y, columns: [0], checkTargets: false)
        #expect(firstColumn.kept == [0, 2, 3, 4])
        #expect(firstColumn.report.changes == [.droppedRowsWithMissing(rows: [1], missingPerColumn: [1, 0, 0], missingTargets: 0)])

        // dtypes are kept: float32 inputs, int64 labels, 2-D targets.
        let x32 = Tensor([1, .nan, 3, 4] as [Float], shape: [2, 2])
        let labels = Tensor([7, 9] as [Int64], shape: [2])
        let r = try Cleaning.dropRowsWithMissing(x32, targets: labels)
        #expect(r.inputs.dtype == .float32 && r.inputs.scalars == [3, 4] && r.targets!.toArray(Int64.self) == [9])
        let y2 = Tensor([1, 2, nan, 4, 5, 6], shape: [3, 2])
        #expect(try Cleaning.dropRowsWithMissing(matrix([[1], [2], [3]]), targets: y2).kept == [0, 2])
    }

    @Test func removeDuplicatesKeepsFirstOccurrences() throws {
        let x = matrix([[1, 2], [3, 4], [1, 2], [nan, 5], [nan, 5], [-0.0, 1], [0, 1], [3, 4]])
        let y = Tensor([0, 1, 0, 1, 1, 0, 0, 2] as [Int64], shape: [8])
        let withTargets = try Cleaning.removeDuplicates(x, targets: y)
        #expect(withTargets.kept == [0, 1, 3, 5, 7])           // row 7 repeats row 1's inputs with another target
        #expect(withTargets.targets!.toArray(Int64.self) == [0, 1, 1, 0, 2])
        #expect(withTargets.report.changes == [.removedDuplicates(rows: [2, 4, 6], duplicateOf: [0, 3, 5], consideringTargets: true)])
        let inputsOnly = try Cleaning.removeDuplicates(x, targets: y, consideringTargets: false)
        #expect(inputsOnly.kept == [0, 1, 3, 5])
        #expect(inputsOnly.report.changes == [.removedDuplicates(rows: [2, 4, 6, 7], duplicateOf: [0, 3, 5, 1], consideringTargets: false)])
        // Without targets, rows are compared on inputs only whatever the flag says.
        #expect(try Cleaning.removeDuplicates(x).kept == [0, 1, 3, 5])
        #expect(try Cleaning.removeDuplicates(matrix([[1, 2], [2, 1]])).kept == [0, 1])
    }

    @Test func removeOutliersByIQRAndZScoreWithKnownBounds() throws {
        // Column 0: 1...9 and 100. np.percentile: Q1 = 1 + 0.25 * 9 = 3.25, Q3 = 7 + 0.75 * 1 = 7.75, IQR = 4.5,
        // fences 3.25 - 6.75 = -3.5 and 7.75 + 6.75 = 14.5. Column 1 has no outlier.
        let x = matrix((1...10).map { [$0 == 10 ? 100 : Double($0), Double($0 % 3)] })
        let y = Tensor((0..<10).map { Double($0) }, shape: [10, 1])
        let iqr = try Cleaning.removeOutliers(x, targets: y)
        #expect(iqr.kept == Array(0..<9))
        #expect(iqr.targets!.shape == [9, 1] && iqr.targets!.toArray(Double.self) == (0..<9).map(Double.init))
        guard case .removedOutliers(let m, let rows, let perColumn, let lo, let hi) = iqr.report.changes[0] else {
            Issue.record("expected removedOutliers"); return
        }
        #expect(m == .iqr(k: 1.5) && rows == [9] && perColumn == [1, 0])
        #expect(lo[0] == -3.5 && hi[0] == 14.5)
        // Column 1 holds 1,2,0,1,2,0,1,2,0,1, sorted 0,0,0,1,1,1,1,2,2,2: Q1 at position 2.25 is 0.25, Q3 at 6.75 is
        // 1.75, IQR = 1.5, fences 0.25 - 2.25 = -2 and 1.75 + 2.25 = 4.
        #expect(lo[1] == -2 && hi[1] == 4)
        // z-score: nine zeros and a 10 have mean 1 and population std 3 (variance (9 + 81) / 10 = 9).
        let z = matrix((0..<10).map { [$0 == 9 ? 10 : 0] })
        let z2 = try Cleaning.removeOutliers(z, method: .zScore(threshold: 2))
        #expect(z2.kept == Array(0..<9))
        guard case .removedOutliers(_, _, _, let zlo, let zhi) = z2.report.changes[0] else { Issue.record("no change"); return }
        #expect(zlo == [-5] && zhi == [7])
        // Threshold 3 puts the upper bound exactly on 10: values on a bound are kept.
        #expect(try Cleaning.removeOutliers(z, method: .zScore(threshold: 3)).kept == Array(0..<10))
        // Only the chosen columns are checked; NaN is never an outlier.
        #expect(try Cleaning.removeOutliers(x, columns: [1]).kept == Array(0..<10))
        #expect(try Cleaning.removeOutliers(matrix([[1], [2], [nan], [3], [4], [50]])).kept == [0, 1, 2, 3, 4])
    }

    @Test func outlierClipperLearnsOnTrainAndClipsAnySplit() throws {
        let train = matrix((1...10).map { [$0 == 10 ? 100 : Double($0), Double($0)] })
        var clipper = OutlierClipper(method: .iqr(), columns: [0])
        try clipper.fit(train)
        #expect(clipper.lower! == [-3.5, -.infinity] && clipper.upper! == [14.5, .infinity])
        let test = Tensor([-10, -10, 20, 1000, .nan, 5, 14.5, .nan] as [Float], shape: [4, 2])
        let (out, report) = try clipper.clip(test)
        #expect(out.dtype == .float32)
        let v = out.toArray(Double.self)
        #expect(v[0] == -3.5 && v[1] == -10 && v[2] == 14.5 && v[3] == 1000 && v[4].isNaN && v[5] == 5 && v[6] == 14.5 && v[7].isNaN)
        #expect(report.changes == [.clippedOutliers(method: .iqr(k: 1.5), valuesPerColumn: [2, 0], lower: clipper.lower!, upper: clipper.upper!)])
        expectValues(try clipper.transform(test).toArray(Double.self), v, "transform equals clip")
        #expect(throws: PreparationError.notFitted(step: "OutlierClipper")) { _ = try OutlierClipper().transform(test) }
    }

    @Test func missingColumnDropperRemembersColumns() throws {
        let train = matrix([[1, nan, nan, 4], [2, 3, nan, 5], [3, nan, nan, 6], [4, 5, 1, nan]])
        var d = MissingColumnDropper(threshold: 0.5)      // fractions 0, 0.5, 0.75, 0.25: drop column 2 only
        let a = try d.fitTransform(train)
        #expect(d.missingFractions! == [0, 0.5, 0.75, 0.25] && d.dropped! == [2] && d.kept! == [0, 1, 3])
        #expect(a.shape == [4, 3])
        let b = try d.transform(matrix([[9, 8, 7, 6]]))
        #expect(b.toArray(Double.self) == [9, 8, 6])
        #expect(d.featureNames(inputNames: ["a", "b", "c", "d"]) == ["a", "b", "d"])
        #expect(d.report!.text() == """
            Cleaning: 4 rows x 4 columns -> 4 rows x 3 columns
            - dropped 1 column with more than 50% missing: x2 (75% missing)
            """)
        var strict = MissingColumnDropper(threshold: 0)
        try strict.fit(train)
        #expect(try strict.dropped! == [1, 2, 3] && strict.transform(train).shape == [4, 1])
        #expect(throws: PreparationError.featureCountMismatch(step: "MissingColumnDropper", expected: 4, found: 3)) {
            _ = try d.transform(matrix([[1, 2, 3]]))
        }
    }

    @Test func chainedCleaningNumbersRowsAsInTheOriginalTable() throws {
        // Row 1 has a missing value; row 3 repeats row 0; row 5 is an outlier in column 0.
        let x = matrix([[1, 10], [nan, 11], [2, 12], [1, 10], [3, 13], [90, 14], [4, 15], [5, 16], [2.5, 17]])
        let y = Tensor((0..<9).map { Int64($0) }, shape: [9])
        let clean = try Cleaning.dropRowsWithMissing(x, targets: y)
            .then { try Cleaning.removeDuplicates($0, targets: $1, consideringTargets: false) }
            .then { try Cleaning.removeOutliers($0, targets: $1, method: .iqr(k: 1.5)) }
        #expect(clean.kept == [0, 2, 4, 6, 7, 8])
        #expect(clean.targets!.toArray(Int64.self) == [0, 2, 4, 6, 7, 8])
        #expect(clean.inputs.toArray(Double.self) == [1, 10, 2, 12, 3, 13, 4, 15, 5, 16, 2.5, 17])
        #expect(clean.report.rowsBefore == 9 && clean.report.rowsAfter == 6 && clean.report.rowsRemoved == 3)
        // Column 0 after the first two steps: 1, 2, 3, 90, 4, 5, 2.5 -> sorted 1, 2, 2.5, 3, 4, 5, 90:
        // Q1 (position 1.5) = 2.25, Q3 (position 4.5) = 4.5, IQR = 2.25, fences -1.125 and 7.875.
        // Column 1: 10, 12, 13, 14, 15, 16, 17: Q1 = 12.5, Q3 = 15.5, fences 8 and 20.
        #expect(clean.report.text() == """
            Cleaning: 9 rows x 2 columns -> 6 rows x 2 columns
            - dropped 1 row with missing values: row 1 (missing per column: x0: 1)
            - removed 1 duplicate row (inputs only): row 3 (duplicate of row 0)
            - removed 1 row with outliers (IQR, k = 1.5): row 5; x0: 1 row outside [-1.125, 7.875]
            """)
        #expect(clean.report.text(columnNames: ["size", "age"]).contains("size: 1 row outside [-1.125, 7.875]"))
        guard case .removedOutliers(_, _, _, let lo, let hi) = clean.report.changes[2] else { Issue.record("no change"); return }
        #expect(lo == [-1.125, 8] && hi == [7.875, 20])
        // The report survives JSON (bounds may be infinite, hence PreparationJSON).
        let data = try PreparationJSON.encoder().encode(clean.report)
        #expect(try PreparationJSON.decoder().decode(CleaningReport.self, from: data) == clean.report)
    }

    @Test func reportTextElidesLongListsAndNamesClipping() throws {
        let x = matrix(Array(repeating: [1], count: 30))
        let d = try Cleaning.removeDuplicates(x)
        #expect(d.report.text() == """
            Cleaning: 30 rows x 1 column -> 1 row x 1 column
            - removed 29 duplicate rows (inputs only): rows 1 (duplicate of row 0), 2 (duplicate of row 0), \
            3 (duplicate of row 0), 4 (duplicate of row 0), 5 (duplicate of row 0), 6 (duplicate of row 0), \
            7 (duplicate of row 0), 8 (duplicate of row 0), 9 (duplicate of row 0), 10 (duplicate of row 0), ... (19 more)
            """)
        var c = OutlierClipper(method: .zScore(threshold: 2))
        try c.fit(matrix((0..<10).map { [$0 == 9 ? 10 : 0, 1] }))     // bounds [-5, 7] and [1, 1]
        let (_, report) = try c.clip(matrix([[8, 1], [-6, 2], [0, 0.5]]))
        #expect(report.description == """
            Cleaning: 3 rows x 2 columns -> 3 rows x 2 columns
            - clipped 4 values (z-score, threshold = 2): x0: 2 values to [-5, 7]; x1: 2 values to [1, 1]
            """)
        #expect(CleaningReport(rowsBefore: 2, rowsAfter: 2, columnsBefore: 1, columnsAfter: 1, changes: []).text()
                == "Cleaning: 2 rows x 1 column -> 2 rows x 1 column\n- no changes")
    }

    @Test func cleaningErrors() throws {
        #expect(throws: PreparationError.sampleCountMismatch(step: "Cleaning.removeDuplicates", inputs: 3, targets: 2)) {
            _ = try Cleaning.removeDuplicates(Tensor.zeros([3, 2]), targets: Tensor.zeros([2]))
        }
        #expect(throws: PreparationError.notATable(step: "Cleaning.dropRowsWithMissing", shape: [4])) {
            _ = try Cleaning.dropRowsWithMissing(Tensor.zeros([4]))
        }
        #expect(throws: PreparationError.emptyInput(step: "OutlierClipper")) { _ = try Cleaning.removeOutliers(Tensor.zeros([0, 2])) }
        let empty = try Cleaning.dropRowsWithMissing(Tensor.zeros([0, 2]), targets: Tensor.zeros([0]))
        #expect(empty.kept.isEmpty && empty.inputs.shape == [0, 2] && empty.targets!.shape == [0])
        // Everything removed still gives well-formed tensors.
        let gone = try Cleaning.dropRowsWithMissing(matrix([[nan], [nan]]), targets: Tensor([1, 2] as [Int64], shape: [2]))
        #expect(gone.inputs.shape == [0, 1] && gone.targets!.shape == [0])
    }
}

@Suite struct FeatureStepTests {
    @Test func polynomialFeaturesKnownValues() throws {
        var p = PolynomialFeatures(degree: 3, interactionOnly: true, includeBias: false)
        let out = try p.fitTransform(Tensor([2, 3, 5] as [Float], shape: [1, 3]))
        #expect(p.featureNames() == ["x0", "x1", "x2", "x0 x1", "x0 x2", "x1 x2", "x0 x1 x2"])
        #expect(out.dtype == .float32 && out.scalars == [2, 3, 5, 6, 10, 15, 30])
        var q = PolynomialFeatures(degree: 2)
        #expect(try q.fitTransform(matrix([[2, .nan]])).toArray(Double.self).map { $0.isNaN ? -1 : $0 } == [1, 2, -1, 4, -1, -1])
        #expect(combinations(3, 2, repeating: true) == [[0, 0], [0, 1], [0, 2], [1, 1], [1, 2], [2, 2]])
        #expect(combinations(2, 3, repeating: false).isEmpty)
        #expect(throws: PreparationError.featureCountMismatch(step: "PolynomialFeatures", expected: 2, found: 1)) {
            _ = try q.transform(matrix([[1]]))
        }
    }

    @Test func kBinsKeepsNaNAndClampsOutOfRange() throws {
        var k = KBinsDiscretizer(nBins: 4, strategy: .uniform)
        try k.fit(matrix([[0], [.nan], [4], [8]]))
        #expect(k.binEdges! == [[0, 2, 4, 6, 8]])
        let codes = try k.transform(matrix([[-1], [1.99], [2], [5.5], [6], [100], [.nan]])).toArray(Double.self)
        #expect(Array(codes.prefix(6)) == [0, 0, 1, 2, 3, 3] && codes[6].isNaN)
        var oh = KBinsDiscretizer(nBins: 2, strategy: .uniform, encoding: .oneHot)
        try oh.fit(matrix([[0, 5], [2, 5]]))              // second feature constant: one bin
        let v = try oh.transform(matrix([[0.5, 9], [.nan, 5]])).toArray(Double.self)
        #expect(Array(v.prefix(3)) == [1, 0, 1] && v[3].isNaN && v[4].isNaN && v[5] == 1)
    }

    @Test func logTransformAndItsDomainError() throws {
        var log = LogTransform()
        let x = Tensor([0, 1, 9, .nan] as [Double], shape: [2, 2])
        let y = try log.fitTransform(x).toArray(Double.self)
        #expect(y[0] == 0 && y[1] == Foundation.log1p(1.0) && y[2] == Foundation.log1p(9.0) && y[3].isNaN)
        let back = try log.inverseTransform(log.transform(x)).toArray(Double.self)
        #expect(abs(back[2] - 9) < 1e-14 && back[3].isNaN)
        let bad = Tensor([0, 1, 2, -1] as [Double], shape: [2, 2])
        #expect(throws: PreparationError.invalidValue(step: "LogTransform", column: 1, row: 1, value: -1,
                                                      expected: "a value > -1 (log1p is undefined at or below -1)")) {
            _ = try log.transform(bad)
        }
        let error = PreparationError.invalidValue(step: "LogTransform", column: 1, row: 1, value: -1, expected: "a value > -1")
        #expect(error.description == "LogTransform: value -1.0 in column 1, row 1; expected a value > -1")
        var fresh = LogTransform()
        #expect(throws: PreparationError.self) { try fresh.fit(bad) }
    }

    @Test func newStepsRoundTripThroughPipelineJSON() throws {
        let train = Tensor([1, .nan, 3, .nan, 5, 8, 7, .nan, 100, 4, 0, .nan, 6, 1, 2, 9] as [Float], shape: [4, 4])
        let test = Tensor([2, 3, 4, 5, 0, .nan, 50, 9] as [Float], shape: [2, 4])
        var prep = PreparationPipeline([
            .missingColumnDropper(MissingColumnDropper(threshold: 0.5)),   // column 3 is 75% missing
            .imputer(SimpleImputer(strategy: .median)),
            .outlierClipper(OutlierClipper(method: .zScore(threshold: 1), columns: [0])),
            .logTransform(LogTransform()),
            .kBinsDiscretizer(KBinsDiscretizer(nBins: 3, strategy: .quantile)),
            .polynomialFeatures(PolynomialFeatures(degree: 2, interactionOnly: true)),
        ])
        let a = try prep.fitTransform(train)
        #expect(a.shape == [4, 7] && a.dtype == .float32)        // 3 columns -> 1 + 3 + 3
        let json = try prep.jsonData()
        let text = String(decoding: json, as: UTF8.self)
        for name in ["MissingColumnDropper", "OutlierClipper", "LogTransform", "KBinsDiscretizer", "PolynomialFeatures"] {
            #expect(text.contains("\"type\":\"\(name)\""), "\(name) in JSON")
        }
        #expect(text.contains("Infinity"))                        // the clipper's unbounded columns
        let restored = try PreparationPipeline(jsonData: json)
        #expect(restored == prep)
        #expect(try restored.transform(test).scalars == prep.transform(test).scalars)
    }
}
