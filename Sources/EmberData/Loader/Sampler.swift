import EmberCore

/// Decides which examples form each batch of an epoch (PyTorch's `batch_sampler`).
///
/// A sampler is a pure function of the dataset size and the epoch's random stream, so an epoch can be replayed
/// exactly from the loader's seed and the epoch number.
public protocol BatchSampler: Sendable {
    /// Index batches for one epoch (none empty), drawn from `rng`, a stream private to that epoch.
    func batches(datasetCount: Int, rng: inout RandomState) -> [[Int]]
    /// How many batches an epoch has.
    func batchCount(datasetCount: Int) -> Int
}

/// Consecutive batches of `batchSize` examples, in order or in a fresh random order each epoch.
public struct DefaultBatchSampler: BatchSampler {
    /// Examples per batch.
    public var batchSize: Int
    /// Whether each epoch visits the examples in a new random order.
    public var shuffle: Bool
    /// Whether to drop a last batch smaller than `batchSize`.
    public var dropLast: Bool

    /// A sampler of `batchSize` batches.
    public init(batchSize: Int, shuffle: Bool = false, dropLast: Bool = false) {
        precondition(batchSize >= 1, "DefaultBatchSampler: batchSize must be at least 1, got \(batchSize)")
        self.batchSize = batchSize
        self.shuffle = shuffle
        self.dropLast = dropLast
    }

    /// How many batches an epoch has.
    public func batchCount(datasetCount n: Int) -> Int {
        dropLast ? n / batchSize : (n + batchSize - 1) / batchSize
    }

    /// Index batches for one epoch, drawn from `rng`.
    public func batches(datasetCount n: Int, rng: inout RandomState) -> [[Int]] {
        let order = shuffle ? rng.permutation(n) : Array(0..<n)
        return (0..<batchCount(datasetCount: n)).map { b in
            Array(order[(b * batchSize)..<Swift.min(n, (b + 1) * batchSize)])
        }
    }
}

/// Class-balanced batches: every batch holds (nearly) the same number of examples of each class, whatever the
/// class frequencies in the data.
///
/// With `k` classes, each batch takes `batchSize / k` examples of every class; when `batchSize` is not a multiple
/// of `k`, the `batchSize % k` extra places rotate over the classes from batch to batch, so class counts within a
/// batch differ by at most one and even out over the epoch. (With `batchSize < k`, each batch holds distinct
/// classes, rotating.) Within a class, examples are drawn without replacement from a shuffled order that is
/// reshuffled when used up, so rare classes are oversampled and common ones subsampled. Positions within each
/// batch are shuffled. An epoch has `batchesPerEpoch` batches (by default, as many as cover the dataset once).
///
/// ```swift
/// let sampler = ClassBalancedBatchSampler(labels: train.labelIndices, batchSize: 60)
/// let loader = DataLoader(train, sampler: sampler)
/// ```
public struct ClassBalancedBatchSampler: BatchSampler {
    /// The class of each example of the dataset.
    public let labels: [Int]
    /// Examples per batch.
    public let batchSize: Int
    /// Batches per epoch (nil: `ceil(count / batchSize)`).
    public let batchesPerEpoch: Int?
    /// The distinct classes, sorted.
    public let classes: [Int]
    private let members: [[Int]]

    /// A balanced sampler for a dataset whose examples have `labels`.
    public init(labels: [Int], batchSize: Int, batchesPerEpoch: Int? = nil) {
        precondition(batchSize >= 1, "ClassBalancedBatchSampler: batchSize must be at least 1, got \(batchSize)")
        precondition(!labels.isEmpty, "ClassBalancedBatchSampler: needs at least one labelled example")
        precondition(batchesPerEpoch.map { $0 >= 0 } ?? true, "ClassBalancedBatchSampler: batchesPerEpoch must be non-negative")
        self.labels = labels
        self.batchSize = batchSize
        self.batchesPerEpoch = batchesPerEpoch
        classes = Array(Set(labels)).sorted()
        let position = Dictionary(uniqueKeysWithValues: classes.enumerated().map { ($1, $0) })
        var m = [[Int]](repeating: [], count: classes.count)
        for (i, l) in labels.enumerated() { m[position[l]!].append(i) }
        members = m
    }

    /// How many batches an epoch has.
    public func batchCount(datasetCount n: Int) -> Int {
        batchesPerEpoch ?? (labels.count + batchSize - 1) / batchSize
    }

    /// Index batches for one epoch, drawn from `rng`.
    public func batches(datasetCount n: Int, rng: inout RandomState) -> [[Int]] {
        precondition(n == labels.count, "ClassBalancedBatchSampler: built for \(labels.count) labels, dataset has \(n) examples")
        let k = classes.count
        var order = members.map { m in rng.permutation(m.count).map { m[$0] } }
        var next = [Int](repeating: 0, count: k)
        let base = batchSize / k, extra = batchSize % k
        var out: [[Int]] = []
        let total = batchCount(datasetCount: n)
        out.reserveCapacity(total)
        for b in 0..<total {
            var batch: [Int] = []
            batch.reserveCapacity(batchSize)
            for c in 0..<k {
                // Class c gets an extra place when it falls in this batch's rotating window of `extra` classes.
                let offset = (c - (b * extra) % k + k) % k
                let take = base + (offset < extra ? 1 : 0)
                for _ in 0..<take {
                    if next[c] == order[c].count {
                        order[c] = rng.permutation(members[c].count).map { members[c][$0] }
                        next[c] = 0
                    }
                    batch.append(order[c][next[c]])
                    next[c] += 1
                }
            }
            out.append(rng.permutation(batch.count).map { batch[$0] })
        }
        return out
    }
}
