import Foundation
import Testing
@testable import EmberData

/// scikit-learn 1.9.1 results from scripts/golden/make_data_golden.py (NaN written as null).
struct PrepGolden: Decodable {
    struct Imputed: Decodable { let statistics: [Double?]; let test: [[Double?]] }
    struct Standard: Decodable { let mean: [Double?]; let scale: [Double?]; let test: [[Double?]] }
    struct MinMax: Decodable { let min: [Double?]; let max: [Double?]; let scale: [Double?]; let test: [[Double?]] }
    struct Robust: Decodable { let center: [Double?]; let scale: [Double?]; let test: [[Double?]] }
    struct OneHot: Decodable { let categories: [[String?]]; let names: [String]; let test: [[Double]] }
    struct Ordinal: Decodable { let categories: [[String]]; let test: [[Double?]] }
    struct Size: Decodable { let n: Int; let test_fraction: Double; let train: Int; let test: Int }
    struct Strat: Decodable { let name: String; let labels: [Int]; let test_fraction: Double; let train_counts: [Int]; let test_counts: [Int] }

    let train: [[Double?]], test: [[Double?]]
    let imputer_train: [[Double?]], imputer_test: [[Double?]]
    let imputer_mean: Imputed, imputer_median: Imputed, imputer_most_frequent: Imputed, imputer_constant: Imputed
    let standard: Standard
    let minmax: MinMax
    let robust: Robust, robust_10_90: Robust
    let cat_train: [[String?]], cat_test: [[String?]]
    let onehot: OneHot
    let ordinal: Ordinal
    let kfold_23_5: [[Int]]
    let skfold_labels: [Int], skfold_4: [[Int]]
    let wine_labels: [Int], skfold_wine_3: [[Int]]
    let split_sizes: [Size]
    let stratified_counts: [Strat]

    static let shared: PrepGolden = {
        let data = try! Data(contentsOf: URL(fileURLWithPath: fixture("prep/golden.json")))
        return try! JSONDecoder().decode(PrepGolden.self, from: data)
    }()
}

func table(_ rows: [[Double?]]) -> Tensor {
    Tensor(rows.flatMap { $0.map { $0 ?? .nan } }, shape: [rows.count, rows.first?.count ?? 0])
}

/// Element-wise closeness with NaN matching NaN.
func expectClose(_ got: [Double], _ want: [Double?], tol: Double = 1e-12, _ what: String,
                 sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(got.count == want.count, "\(what): \(got.count) values, expected \(want.count)", sourceLocation: sourceLocation)
    for (i, (g, w)) in zip(got, want).enumerated() {
        guard let w else {
            #expect(g.isNaN, "\(what)[\(i)]: \(g), expected NaN", sourceLocation: sourceLocation)
            continue
        }
        #expect(abs(g - w) <= tol * Swift.max(1, abs(w)), "\(what)[\(i)]: \(g), expected \(w)", sourceLocation: sourceLocation)
    }
}

@Suite struct PreparationGoldenTests {
    let g = PrepGolden.shared

    @Test func imputersMatchScikitLearn() throws {
        let cases: [(SimpleImputer.Strategy, PrepGolden.Imputed)] = [
            (.mean, g.imputer_mean), (.median, g.imputer_median), (.mostFrequent, g.imputer_most_frequent),
            (.constant(-1.5), g.imputer_constant),
        ]
        for (strategy, want) in cases {
            var imp = SimpleImputer(strategy: strategy)
            try imp.fit(table(g.imputer_train))
            expectClose(imp.statistics!, want.statistics, "\(strategy) statistics")
            expectClose(try imp.transform(table(g.imputer_test)).toArray(Double.self), want.test.flatMap { $0 }, "\(strategy) test")
        }
    }

    @Test func scalersMatchScikitLearn() throws {
        let train = table(g.train), test = table(g.test)
        var s = StandardScaler()
        try s.fit(train)
        expectClose(s.mean!, g.standard.mean, "standard mean")
        expectClose(s.scale!, g.standard.scale, "standard scale")
        expectClose(try s.transform(test).toArray(Double.self), g.standard.test.flatMap { $0 }, tol: 1e-11, "standard test")
        expectClose(try s.inverseTransform(s.transform(test)).toArray(Double.self), g.test.flatMap { $0 }, tol: 1e-12, "standard inverse")

        var m = MinMaxScaler(range: -1...2)
        try m.fit(train)
        expectClose(m.dataMin!, g.minmax.min, "minmax min")
        expectClose(m.dataMax!, g.minmax.max, "minmax max")
        expectClose(m.scale!, g.minmax.scale, "minmax scale")
        expectClose(try m.transform(test).toArray(Double.self), g.minmax.test.flatMap { $0 }, tol: 1e-12, "minmax test")

        for (range, want) in [(25.0...75.0, g.robust), (10.0...90.0, g.robust_10_90)] {
            var r = RobustScaler(quantileRange: range)
            try r.fit(train)
            expectClose(r.center!, want.center, "robust center \(range)")
            expectClose(r.scale!, want.scale, "robust scale \(range)")
            expectClose(try r.transform(test).toArray(Double.self), want.test.flatMap { $0 }, tol: 1e-12, "robust test \(range)")
        }
    }

    @Test func encodersMatchScikitLearn() throws {
        var oh = OneHotEncoder(handleUnknown: .ignore)
        try oh.fit(g.cat_train)
        #expect(oh.categories! == g.onehot.categories)
        #expect(oh.featureNames() == g.onehot.names)
        #expect(try oh.transform(g.cat_test, dtype: .float64).toArray(Double.self) == g.onehot.test.flatMap { $0 })

        var od = OrdinalEncoder(handleUnknown: .useEncodedValue(-1))
        try od.fit(g.cat_train)
        #expect(od.categories! == g.ordinal.categories)
        expectClose(try od.transform(g.cat_test, dtype: .float64).toArray(Double.self), g.ordinal.test.flatMap { $0 }, "ordinal")
    }

    @Test func foldsMatchScikitLearn() throws {
        #expect(try Splits.kFold(count: 23, k: 5).map(\.validation) == g.kfold_23_5)
        #expect(try Splits.stratifiedKFold(labels: g.skfold_labels, k: 4).map(\.validation) == g.skfold_4)
        #expect(try Splits.stratifiedKFold(labels: g.wine_labels, k: 3).map(\.validation) == g.skfold_wine_3)
    }

    @Test func splitSizesAndStratifiedCountsMatchScikitLearn() throws {
        var rng = RandomState(seed: 0)
        for s in g.split_sizes {
            let (train, test) = try Splits.trainTest(count: s.n, testFraction: s.test_fraction, rng: &rng)
            #expect(train.count == s.train && test.count == s.test, "n=\(s.n) fraction=\(s.test_fraction)")
            #expect(Set(train + test) == Set(0..<s.n))
        }
        for s in g.stratified_counts {
            let (train, test) = try Splits.trainTest(count: s.labels.count, testFraction: s.test_fraction, stratifyBy: s.labels, rng: &rng)
            let k = s.train_counts.count
            #expect((0..<k).map { c in train.filter { s.labels[$0] == c }.count } == s.train_counts, "\(s.name)")
            #expect((0..<k).map { c in test.filter { s.labels[$0] == c }.count } == s.test_counts, "\(s.name)")
            #expect(Set(train).isDisjoint(with: test))
        }
    }
}

@Suite struct PreparationBehaviourTests {
    @Test func fittedOnTrainAppliedToAnySplitAndJSONRoundTrip() throws {
        let train = Tensor([1, .nan, 3, 4, 5, 8] as [Float], shape: [3, 2])
        let test = Tensor([.nan, 2, 10, .nan] as [Float], shape: [2, 2])
        var prep = PreparationPipeline([.imputer(SimpleImputer(strategy: .median)), .standardScaler(StandardScaler()),
                                        .minMaxScaler(MinMaxScaler()), .robustScaler(RobustScaler())])
        let a = try prep.fitTransform(train)
        #expect(a.dtype == .float32 && a.shape == [3, 2])
        let json = try prep.jsonData()
        let text = String(decoding: json, as: UTF8.self)
        #expect(text.contains("\"type\":\"SimpleImputer\"") && text.contains("\"type\":\"RobustScaler\""))
        let restored = try PreparationPipeline(jsonData: json)
        #expect(restored == prep)
        #expect(try restored.transform(test).scalars == prep.transform(test).scalars)
        // Test statistics never leak into the fit: refitting on train gives the same result.
        var again = prep
        try again.fit(train)
        #expect(again == prep)
    }

    @Test func encodersRoundTripThroughJSONWithNaN() throws {
        var od = OrdinalEncoder(handleUnknown: .useEncodedValue(.nan))
        try od.fit([["a"], ["b"], [nil]])
        let data = try PreparationJSON.encoder().encode(od)
        let back = try PreparationJSON.decoder().decode(OrdinalEncoder.self, from: data)
        #expect(back.categories! == [["a", "b"]])
        let codes = try back.transform([["b"], ["zz"], [nil]]).scalars
        #expect(codes[0] == 1 && codes[1].isNaN && codes[2].isNaN)
        #expect(try back.inverseTransform(Tensor([1, 0, -1] as [Float], shape: [3, 1])) == [["b"], ["a"], [nil]])
        var oh = OneHotEncoder()
        try oh.fit([["x", "1"], ["y", "2"]])
        let restored = try JSONDecoder().decode(OneHotEncoder.self, from: JSONEncoder().encode(oh))
        #expect(restored == oh)
    }

    @Test func errorsAreTyped() throws {
        #expect(throws: PreparationError.notFitted(step: "StandardScaler")) { _ = try StandardScaler().transform(Tensor.zeros([2, 2])) }
        var s = MinMaxScaler()
        try s.fit(Tensor.zeros([3, 2]))
        #expect(throws: PreparationError.featureCountMismatch(step: "MinMaxScaler", expected: 2, found: 3)) {
            _ = try s.transform(Tensor.zeros([1, 3]))
        }
        #expect(throws: PreparationError.notATable(step: "RobustScaler", shape: [4])) { var r = RobustScaler(); try r.fit(Tensor.zeros([4])) }
        var oh = OneHotEncoder()
        try oh.fit([["a"], ["b"]])
        #expect(throws: PreparationError.unknownCategory(step: "OneHotEncoder", column: 0, value: "c", row: 1)) {
            _ = try oh.transform([["a"], ["c"]])
        }
        var rng = RandomState(seed: 0)
        #expect(throws: PreparationError.self) { _ = try Splits.kFold(count: 3, k: 4) }
        #expect(throws: PreparationError.self) { _ = try Splits.stratifiedKFold(labels: [0, 0, 1, 1], k: 3) }
        #expect(throws: PreparationError.self) { _ = try Splits.trainTest(count: 5, testFraction: 0.5, stratifyBy: [0, 0, 0, 0, 1], rng: &rng) }
    }

    @Test func seededSplitsAreReproducibleAndPartitionTheData() throws {
        let labels = (0..<60).map { $0 % 3 == 0 ? 1 : 0 }
        var r1 = RandomState(seed: 7), r2 = RandomState(seed: 7)
        let a = try Splits.trainValidationTest(count: 60, validationFraction: 0.2, testFraction: 0.2, stratifyBy: labels, rng: &r1)
        let b = try Splits.trainValidationTest(count: 60, validationFraction: 0.2, testFraction: 0.2, stratifyBy: labels, rng: &r2)
        #expect(a.train == b.train && a.validation == b.validation && a.test == b.test)
        #expect(a.test.count == 12 && a.validation.count == 12 && a.train.count == 36)
        #expect(Set(a.train + a.validation + a.test) == Set(0..<60))
        for part in [a.train, a.validation, a.test] {
            #expect(part.filter { labels[$0] == 1 }.count * 3 == part.count)   // one third of each part
        }
        var r3 = RandomState(seed: 1)
        let folds = try Splits.stratifiedKFold(labels: labels, k: 5, shuffle: true, rng: &r3)
        #expect(Set(folds.flatMap(\.validation)).count == 60)
        for f in folds {
            #expect(f.validation.count == 12 && f.validation.filter { labels[$0] == 1 }.count == 4)
            #expect(Set(f.train).isDisjoint(with: f.validation) && f.train.count == 48)
        }
        var r4 = RandomState(seed: 1)
        let shuffled = try Splits.kFold(count: 10, k: 3, shuffle: true, rng: &r4)
        #expect(shuffled.map(\.validation.count) == [4, 3, 3])
        #expect(shuffled.map(\.validation) != (try Splits.kFold(count: 10, k: 3)).map(\.validation))
    }

    @Test func csvColumnsFeedTheEncoders() throws {
        let dir = TempDir()
        let t = try CSVTable(path: dir.write("c.csv", text: "size,colour\n1,red\n2,\n1,blue\n"))
        let rows = try t.categoricalRows(columns: ["size", "colour"])
        #expect(rows == [["1", "red"], ["2", nil], ["1", "blue"]])
        var oh = OneHotEncoder()
        #expect(try oh.fitTransform(rows).shape == [3, 5])
    }
}
