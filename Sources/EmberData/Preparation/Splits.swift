import EmberCore

/// Seeded index splits for model selection: train/test and train/validation/test (optionally stratified by class),
/// k-fold and stratified k-fold cross-validation. They return indices; `Dataset.subset(_:)` turns them into
/// datasets.
///
/// Sizes and class allocations follow scikit-learn (`train_test_split`, `StratifiedShuffleSplit`, `KFold`,
/// `StratifiedKFold`): the test part has `ceil(fraction * n)` samples; k-fold gives the first `n % k` folds one
/// extra sample; stratified k-fold deals each class's samples over the folds in the same way, so unshuffled folds
/// are identical to scikit-learn's. The random choices come from Ember's `RandomState`, not NumPy's, so shuffled
/// orders differ from scikit-learn's while sizes and class counts agree.
///
/// ```swift
/// var rng = RandomState(seed: 0)
/// let (train, test) = try Splits.trainTest(count: data.count, testFraction: 0.2, stratifyBy: data.labels, rng: &rng)
/// for fold in try Splits.stratifiedKFold(labels: data.labels, k: 5) { ... fold.train, fold.validation ... }
/// ```
public enum Splits {
    /// One cross-validation fold: training indices and held-out indices, each sorted.
    public struct Fold: Sendable, Equatable {
        /// Indices to train on.
        public var train: [Int]
        /// Indices to validate on.
        public var validation: [Int]
    }

    /// A random split into train and test indices (test gets `ceil(testFraction * count)`), stratified by
    /// `labels` when given so each class keeps its proportion.
    /// - Throws: `PreparationError.tooFewSamples` when a part would be empty or (stratified) smaller than the
    ///   number of classes.
    public static func trainTest(count: Int, testFraction: Double, stratifyBy labels: [Int]? = nil,
                                 rng: inout RandomState) throws -> (train: [Int], test: [Int]) {
        precondition(testFraction > 0 && testFraction < 1, "Splits.trainTest: testFraction must be in (0, 1), got \(testFraction)")
        let nTest = Int((testFraction * Double(count)).rounded(.up))
        let nTrain = count - nTest
        guard nTrain > 0, nTest > 0 else {
            throw PreparationError.tooFewSamples("Splits.trainTest: \(count) samples cannot give a test fraction of \(testFraction) with both parts non-empty")
        }
        guard let labels else {
            let perm = rng.permutation(count)
            return (Array(perm[nTest...]), Array(perm[..<nTest]))
        }
        precondition(labels.count == count, "Splits.trainTest: \(labels.count) labels for \(count) samples")
        let (classes, members) = groups(labels)
        guard members.allSatisfy({ $0.count >= 2 }) else {
            throw PreparationError.tooFewSamples("Splits.trainTest: every class needs at least 2 samples to stratify")
        }
        guard nTrain >= classes.count, nTest >= classes.count else {
            throw PreparationError.tooFewSamples("Splits.trainTest: both parts need at least one sample of each of \(classes.count) classes")
        }
        let counts = members.map(\.count)
        let trainCounts = approximateMode(counts, draws: nTrain, rng: &rng)
        let testCounts = approximateMode(zip(counts, trainCounts).map { $0 - $1 }, draws: nTest, rng: &rng)
        var train: [Int] = [], test: [Int] = []
        for (c, m) in members.enumerated() {
            let perm = rng.permutation(m.count).map { m[$0] }
            train += perm[..<trainCounts[c]]
            test += perm[trainCounts[c]..<(trainCounts[c] + testCounts[c])]
        }
        return (rng.permutation(train.count).map { train[$0] }, rng.permutation(test.count).map { test[$0] })
    }

    /// A random three-way split: `validationFraction` and `testFraction` of the samples are held out (stratified
    /// by `labels` when given). The test part is taken first, then validation from the rest.
    public static func trainValidationTest(count: Int, validationFraction: Double, testFraction: Double,
                                           stratifyBy labels: [Int]? = nil, rng: inout RandomState) throws
        -> (train: [Int], validation: [Int], test: [Int]) {
        precondition(validationFraction > 0 && testFraction > 0 && validationFraction + testFraction < 1,
                     "Splits.trainValidationTest: fractions must be positive and sum below 1")
        let (rest, test) = try trainTest(count: count, testFraction: testFraction, stratifyBy: labels, rng: &rng)
        let inner = validationFraction / (1 - testFraction)
        let (train, validation) = try trainTest(count: rest.count, testFraction: inner,
                                                stratifyBy: labels.map { l in rest.map { l[$0] } }, rng: &rng)
        return (train.map { rest[$0] }, validation.map { rest[$0] }, test)
    }

    /// `k` folds of consecutive samples (shuffled first when `shuffle`), scikit-learn's `KFold`.
    /// - Throws: `PreparationError.tooFewSamples` when `k > count`.
    public static func kFold(count: Int, k: Int, shuffle: Bool = false, rng: inout RandomState) throws -> [Fold] {
        precondition(k >= 2, "Splits.kFold: k must be at least 2, got \(k)")
        guard k <= count else { throw PreparationError.tooFewSamples("Splits.kFold: cannot make \(k) folds of \(count) samples") }
        let order = shuffle ? rng.permutation(count) : Array(0..<count)
        var start = 0
        return (0..<k).map { f in
            let size = count / k + (f < count % k ? 1 : 0)
            defer { start += size }
            return fold(validation: Array(order[start..<(start + size)]), count: count)
        }
    }

    /// `k` unshuffled folds (deterministic, no random state needed).
    public static func kFold(count: Int, k: Int) throws -> [Fold] {
        var rng = RandomState(seed: 0)
        return try kFold(count: count, k: k, shuffle: false, rng: &rng)
    }

    /// `k` folds that keep each class's proportion, scikit-learn's `StratifiedKFold`: the samples of each class
    /// (in data order, or shuffled within the class when `shuffle`) are dealt over the folds.
    /// - Throws: `PreparationError.tooFewSamples` when every class has fewer than `k` members.
    public static func stratifiedKFold(labels: [Int], k: Int, shuffle: Bool = false, rng: inout RandomState) throws -> [Fold] {
        precondition(k >= 2, "Splits.stratifiedKFold: k must be at least 2, got \(k)")
        guard k <= labels.count else {
            throw PreparationError.tooFewSamples("Splits.stratifiedKFold: cannot make \(k) folds of \(labels.count) samples")
        }
        // Classes numbered by first appearance, as scikit-learn does.
        var code: [Int: Int] = [:]
        let encoded = labels.map { l -> Int in
            if let c = code[l] { return c }
            code[l] = code.count
            return code.count - 1
        }
        let nClasses = code.count
        var counts = [Int](repeating: 0, count: nClasses)
        for e in encoded { counts[e] += 1 }
        guard counts.contains(where: { $0 >= k }) else {
            throw PreparationError.tooFewSamples("Splits.stratifiedKFold: k=\(k) is more than the members of every class (\(counts.max() ?? 0) at most)")
        }
        // Deal the label-sorted samples round robin: fold f gets positions f, f+k, ... of the sorted order.
        let sortedCodes = encoded.sorted()
        var allocation = [[Int]](repeating: [Int](repeating: 0, count: nClasses), count: k)
        for (p, c) in sortedCodes.enumerated() { allocation[p % k][c] += 1 }
        var testFold = [Int](repeating: 0, count: labels.count)
        for c in 0..<nClasses {
            var folds: [Int] = (0..<k).flatMap { f in [Int](repeating: f, count: allocation[f][c]) }
            if shuffle { folds = rng.permutation(folds.count).map { folds[$0] } }
            var next = 0
            for (i, e) in encoded.enumerated() where e == c {
                testFold[i] = folds[next]
                next += 1
            }
        }
        return (0..<k).map { f in fold(validation: (0..<labels.count).filter { testFold[$0] == f }, count: labels.count) }
    }

    /// Unshuffled stratified folds (deterministic).
    public static func stratifiedKFold(labels: [Int], k: Int) throws -> [Fold] {
        var rng = RandomState(seed: 0)
        return try stratifiedKFold(labels: labels, k: k, shuffle: false, rng: &rng)
    }

    // MARK: helpers

    private static func fold(validation: [Int], count: Int) -> Fold {
        let held = Set(validation)
        return Fold(train: (0..<count).filter { !held.contains($0) }, validation: validation.sorted())
    }

    /// Sorted distinct labels and the indices of each.
    static func groups(_ labels: [Int]) -> (classes: [Int], members: [[Int]]) {
        let classes = Array(Set(labels)).sorted()
        let position = Dictionary(uniqueKeysWithValues: classes.enumerated().map { ($1, $0) })
        var members = [[Int]](repeating: [], count: classes.count)
        for (i, l) in labels.enumerated() { members[position[l]!].append(i) }
        return (classes, members)
    }

    /// How many of `draws` samples to take from each class so that proportions are kept: the floor of each exact
    /// share, then one more for the classes with the largest remainders (ties broken at random), as
    /// scikit-learn's `_approximate_mode`.
    static func approximateMode(_ counts: [Int], draws: Int, rng: inout RandomState) -> [Int] {
        let total = Double(counts.reduce(0, +))
        let exact = counts.map { Double($0) / total * Double(draws) }   // NumPy's order of operations
        var taken = exact.map { Int($0.rounded(.down)) }
        var need = draws - taken.reduce(0, +)
        let remainders = zip(exact, taken).map { $0 - Double($1) }
        for value in Set(remainders).sorted(by: >) where need > 0 {
            let tied = remainders.indices.filter { remainders[$0] == value }
            let chosen = rng.permutation(tied.count).prefix(Swift.min(need, tied.count)).map { tied[$0] }
            for c in chosen { taken[c] += 1 }
            need -= chosen.count
        }
        return taken
    }
}
