import Foundation
import Testing
@testable import EmberData

/// scikit-learn 1.9.1 / NumPy 2.4 results from scripts/golden/make_cleaning_golden.py (non-finite numbers as the
/// strings "NaN", "Infinity", "-Infinity", read by `PreparationJSON.decoder()`).
struct CleaningGolden: Decodable {
    struct Poly: Decodable {
        let degree: Int, interaction_only: Bool, include_bias: Bool
        let names: [String], names_abc: [String], test: [[Double]]
    }
    struct PolyOne: Decodable { let names: [String]; let test: [[Double]] }
    struct KBins: Decodable {
        let strategy: String, n_bins: Int, method: String, encode: String
        let edges: [[Double]], n_bins_: [Int], test: [[Double]]
    }
    struct Outlier: Decodable {
        let kind: String, param: Double, lower: [Double], upper: [Double]
        let kept: [Int], removed: [Int], rows_per_column: [Int], clipped_test: [[Double]], clipped_per_column: [Int]
    }
    struct Missing: Decodable {
        let fractions: [Double], dropped: [String: [Int]], complete_rows: [Int], complete_rows_0_to_3: [Int]
    }

    let poly_train: [[Double]], poly_test: [[Double]], poly: [Poly], poly_one: PolyOne
    let kbins_default_method: String, kbins_default_strategy: String
    let kbins_train: [[Double]], kbins_test: [[Double]], kbins: [KBins]
    let outlier_train: [[Double]], outlier_test: [[Double]], outliers: [Outlier]
    let missing_train: [[Double]], missing: Missing

    static let shared: CleaningGolden = {
        let data = try! Data(contentsOf: URL(fileURLWithPath: fixture("prep/cleaning_golden.json")))
        return try! PreparationJSON.decoder().decode(CleaningGolden.self, from: data)
    }()
}

/// A [rows, cols] float64 tensor.
func matrix(_ rows: [[Double]]) -> Tensor {
    Tensor(rows.flatMap { $0 }, shape: [rows.count, rows.first?.count ?? 0])
}

/// Element-wise comparison: NaN must meet NaN, infinities must be equal, finite values within `tol` relative
/// (absolute below 1). `tol: 0` demands identical values.
func expectValues(_ got: [Double], _ want: [Double], tol: Double = 0, _ what: String,
                  sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(got.count == want.count, "\(what): \(got.count) values, expected \(want.count)", sourceLocation: sourceLocation)
    for (i, (g, w)) in zip(got, want).enumerated() {
        let ok = w.isNaN ? g.isNaN : (w.isInfinite ? g == w : abs(g - w) <= tol * Swift.max(1, abs(w)))
        #expect(ok, "\(what)[\(i)]: \(g), expected \(w)", sourceLocation: sourceLocation)
    }
}

@Suite struct CleaningGoldenTests {
    let g = CleaningGolden.shared

    // Exact equality: each product is formed with the same float64 multiplications in the same order as
    // scikit-learn's dense PolynomialFeatures.transform, and IEEE-754 multiplication is correctly rounded.
    @Test func polynomialFeaturesMatchScikitLearn() throws {
        let train = matrix(g.poly_train), test = matrix(g.poly_test)
        for c in g.poly {
            var p = PolynomialFeatures(degree: c.degree, interactionOnly: c.interaction_only, includeBias: c.include_bias)
            try p.fit(train)
            let what = "degree \(c.degree) interactionOnly \(c.interaction_only) bias \(c.include_bias)"
            #expect(p.featureNames() == c.names, "\(what) names")
            #expect(p.featureNames(inputNames: ["a", "b", "c"]) == c.names_abc, "\(what) names abc")
            let out = try p.transform(test)
            #expect(out.shape == [c.test.count, c.names.count], "\(what) shape")
            expectValues(out.toArray(Double.self), c.test.flatMap { $0 }, what)
        }
        var one = PolynomialFeatures(degree: 3)
        try one.fit(matrix(g.poly_train.map { [$0[0]] }))
        #expect(one.featureNames() == g.poly_one.names)
        expectValues(try one.transform(matrix(g.poly_test.map { [$0[0]] })).toArray(Double.self), g.poly_one.test.flatMap { $0 }, "one feature")
    }

    // Exact equality: edges use np.linspace's formula and NumPy's percentile arithmetic (virtual index, lerp), and
    // bin numbers are counts.
    @Test func kBinsDiscretizerMatchesScikitLearn() throws {
        #expect(g.kbins_default_method == "averaged_inverted_cdf", "scikit-learn's default quantile method changed")
        #expect(KBinsDiscretizer().quantileMethod == .averagedInvertedCDF && g.kbins_default_strategy == "quantile"
                && KBinsDiscretizer().strategy == .quantile)
        let train = matrix(g.kbins_train), test = matrix(g.kbins_test)
        for c in g.kbins {
            var k = KBinsDiscretizer(nBins: c.n_bins, strategy: c.strategy == "uniform" ? .uniform : .quantile,
                                     quantileMethod: c.method == "linear" ? .linear : .averagedInvertedCDF,
                                     encoding: c.encode == "ordinal" ? .ordinal : .oneHot)
            try k.fit(train)
            let what = "\(c.strategy) \(c.n_bins) \(c.method) \(c.encode)"
            #expect(k.binCounts! == c.n_bins_, "\(what) bin counts")
            for (j, edges) in c.edges.enumerated() { expectValues(k.binEdges![j], edges, "\(what) edges of feature \(j)") }
            let out = try k.transform(test)
            #expect(out.shape == [c.test.count, c.test[0].count], "\(what) shape")
            expectValues(out.toArray(Double.self), c.test.flatMap { $0 }, "\(what) test")
        }
        // The two quantile methods really differ on this data, so the default is checked, not assumed.
        let aic = g.kbins.first { $0.strategy == "quantile" && $0.n_bins == 4 && $0.method != "linear" }!
        let lin = g.kbins.first { $0.strategy == "quantile" && $0.n_bins == 4 && $0.method == "linear" }!
        #expect(aic.edges != lin.edges)
    }

    // IQR: exact (the same linear percentile and the same q1 - k*iqr arithmetic as NumPy). z-score: 1e-12
    // relative, as np.nanmean/np.nanstd sum pairwise while Ember sums in order (an ulp-level difference for 50 values).
    @Test func outlierBoundsRemovalAndClippingMatchNumPyFormulas() throws {
        let train = matrix(g.outlier_train), test = matrix(g.outlier_test)
        for c in g.outliers {
            let method: OutlierMethod = c.kind == "iqr" ? .iqr(k: c.param) : .zScore(threshold: c.param)
            let tol = c.kind == "iqr" ? 0 : 1e-12
            var clipper = OutlierClipper(method: method)
            try clipper.fit(train)
            expectValues(clipper.lower!, c.lower, tol: tol, "\(method) lower")
            expectValues(clipper.upper!, c.upper, tol: tol, "\(method) upper")

            let (clipped, report) = try clipper.clip(test)
            expectValues(clipped.toArray(Double.self), c.clipped_test.flatMap { $0 }, tol: tol, "\(method) clipped test")
            guard case .clippedOutliers(_, let counts, _, _) = report.changes.first else { Issue.record("no clip change"); continue }
            #expect(counts == c.clipped_per_column, "\(method) clip counts")

            let labels = Tensor((0..<g.outlier_train.count).map { Int64($0 * 10) }, shape: [g.outlier_train.count])
            let cleaned = try Cleaning.removeOutliers(train, targets: labels, method: method)
            #expect(cleaned.kept == c.kept, "\(method) kept rows")
            #expect(cleaned.targets!.toArray(Int64.self) == c.kept.map { Int64($0 * 10) })
            #expect(cleaned.inputs.shape == [c.kept.count, 4])
            #expect(cleaned.report.rowsBefore == g.outlier_train.count && cleaned.report.rowsAfter == c.kept.count)
            guard case .removedOutliers(_, let rows, let perColumn, _, _) = cleaned.report.changes.first else {
                Issue.record("no removal change"); continue
            }
            #expect(rows == c.removed && perColumn == c.rows_per_column, "\(method) removal report")
        }
    }

    @Test func missingFractionsDroppedColumnsAndCompleteRowsMatchNumPy() throws {
        let x = matrix(g.missing_train)
        for (key, want) in g.missing.dropped {
            var d = MissingColumnDropper(threshold: Double(key)!)
            let out = try d.fitTransform(x)
            expectValues(d.missingFractions!, g.missing.fractions, "fractions")
            #expect(d.dropped! == want, "threshold \(key)")
            #expect(out.shape == [g.missing_train.count, 5 - want.count])
        }
        #expect(try Cleaning.dropRowsWithMissing(x).kept == g.missing.complete_rows)
        #expect(try Cleaning.dropRowsWithMissing(x, columns: [0, 1, 2, 3]).kept == g.missing.complete_rows_0_to_3)
    }
}
