import EmberCore
import Foundation

/// K-fold splits of `count` samples: each sample is in exactly one test fold.
///
/// Without shuffling the folds are consecutive and the first `count % folds` folds get one extra sample, exactly as
/// scikit-learn's `KFold(n_splits=folds, shuffle=False)`. With shuffling, the order comes from Ember's seeded
/// `RandomState` (so the folds differ from scikit-learn's NumPy-seeded ones, but are reproducible).
public struct KFold: Sendable, Hashable {
    /// Number of folds (at least 2).
    public let folds: Int
    /// Whether to shuffle the samples before splitting.
    public let shuffle: Bool
    /// Seed of the shuffle.
    public let seed: UInt64

    /// A splitter with `folds` folds.
    public init(folds: Int = 5, shuffle: Bool = false, seed: UInt64 = 0) {
        precondition(folds >= 2, "KFold: need at least 2 folds, got \(folds)")
        self.folds = folds
        self.shuffle = shuffle
        self.seed = seed
    }

    /// (train indices, test indices) of each fold, in fold order; indices ascending within each.
    public func splits(count: Int) -> [(train: [Int], test: [Int])] {
        precondition(count >= folds, "KFold: cannot split \(count) samples into \(folds) folds")
        var order = Array(0..<count)
        if shuffle {
            var rng = RandomState(seed: seed)
            order = rng.permutation(count)
        }
        var out: [(train: [Int], test: [Int])] = []
        var start = 0
        for f in 0..<folds {
            let size = count / folds + (f < count % folds ? 1 : 0)
            let test = Array(order[start..<(start + size)]).sorted()
            let testSet = Set(test)
            out.append((Array(0..<count).filter { !testSet.contains($0) }, test))
            start += size
        }
        return out
    }
}

/// Metric values of every fold with their mean and spread.
public struct CrossValidationResult: Sendable, Hashable, CustomStringConvertible {
    /// The metrics each fold returned.
    public let folds: [[String: Double]]

    /// Metric names (those every fold reported), sorted.
    public var metrics: [String] {
        guard let first = folds.first else { return [] }
        return first.keys.filter { k in folds.allSatisfy { $0[k] != nil } }.sorted()
    }

    /// The values of one metric, fold by fold.
    public func values(_ metric: String) -> [Double] { folds.compactMap { $0[metric] } }

    /// The mean of a metric over folds.
    public func mean(_ metric: String) -> Double {
        let v = values(metric)
        return v.reduce(0, +) / Double(v.count)
    }

    /// The population standard deviation of a metric over folds (NumPy's default `std`, ddof = 0, the figure
    /// scikit-learn's examples report as `scores.std()`).
    public func std(_ metric: String) -> Double {
        let v = values(metric), m = mean(metric)
        return (v.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(v.count)).squareRoot()
    }

    public var description: String {
        metrics.map { "\($0): " + String(format: "%.4f ± %.4f (%d folds)", mean($0), std($0), folds.count) }
            .joined(separator: "\n")
    }
}

/// K-fold cross-validation: calls `trainAndEvaluate` once per fold with the train and test indices and collects the
/// metrics it returns. The closure trains a fresh model on the train indices and evaluates it on the test ones, so
/// this works with any model and any metric.
///
/// ```swift
/// let cv = try crossValidate(count: x.shape[0], folds: KFold(folds: 5, shuffle: true, seed: 1)) { train, test in
///     let model = makeModel()
///     try Trainer(model, optimizer: Adam(model.parameters), loss: .crossEntropy).fit(batches(train), epochs: 5)
///     var acc = ClassificationAccumulator(classes: 3, scores: .logits)
///     try acc.update(outputs: model(x[test]), targets: y[test])
///     return ["accuracy": acc.finalize().accuracy]
/// }
/// print(cv)   // accuracy: 0.9133 ± 0.0210 (5 folds)
/// ```
public func crossValidate(count: Int, folds: KFold = KFold(),
                          _ trainAndEvaluate: (_ train: [Int], _ test: [Int]) throws -> [String: Double]) rethrows -> CrossValidationResult {
    var results: [[String: Double]] = []
    for split in folds.splits(count: count) { results.append(try trainAndEvaluate(split.train, split.test)) }
    return CrossValidationResult(folds: results)
}

/// K-fold cross-validation over in-memory tensors (samples along axis 0): the closure gets the train inputs and
/// targets, then the test inputs and targets, of each fold.
public func crossValidate(inputs: Tensor, targets: Tensor, folds: KFold = KFold(),
                          _ trainAndEvaluate: (_ trainX: Tensor, _ trainY: Tensor, _ testX: Tensor, _ testY: Tensor) throws -> [String: Double]) rethrows -> CrossValidationResult {
    precondition(inputs.shape.first == targets.shape.first, "crossValidate: inputs \(inputs.shape) and targets \(targets.shape) differ in length")
    return try crossValidate(count: inputs.shape[0], folds: folds) { train, test in
        let tr = Tensor(train.map { Int64($0) }), te = Tensor(test.map { Int64($0) })
        let (a, b, c, d) = withoutGrad {
            (inputs.indexSelect(axis: 0, index: tr), targets.indexSelect(axis: 0, index: tr),
             inputs.indexSelect(axis: 0, index: te), targets.indexSelect(axis: 0, index: te))
        }
        return try trainAndEvaluate(a, b, c, d)
    }
}
