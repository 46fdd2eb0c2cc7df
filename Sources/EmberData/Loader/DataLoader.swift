import EmberCore
import Synchronization

/// Batches a dataset for training: seeded shuffling, drop-last, collation into tensors, and prefetching on
/// background threads so the model never waits for data. Iterate it like PyTorch's `DataLoader`:
///
/// ```swift
/// let loader = DataLoader(train, batchSize: 64, shuffle: true, rng: RandomState(seed: 42))
/// for epoch in 0..<10 {
///     for (x, y) in loader { ... }        // each `for` is the next epoch, with a fresh order
/// }
/// ```
///
/// **Reproducibility.** Everything random is derived from `rng` with `RandomState.split`, never from shared state:
/// epoch `e` uses the stream `rng.split(e)`; its sampler draws from `.split(0)` of that, and the example at
/// position `p` of the epoch gets `transform` randomness from `.split(1).split(p)`. Batches and their augmentations
/// are therefore bit-identical for every number of workers and every run with the same seed, and any epoch can be
/// replayed alone with `epoch(_:)`.
///
/// **Threads.** With `workers >= 1` (the default is 1) batches are produced on that many background threads, up
/// to `prefetch` batches ahead, and handed out in order. `workers: 0` produces them on the caller's thread. Leaving
/// a loop early stops the workers.
///
/// **Collation.** `(input: Tensor, target: Tensor)` examples and `Collatable` examples (such as `Tensor`) are
/// stacked along a new leading axis; other types take a `collate` function. Datasets with a fast batch path
/// (`Dataset.batch(at:)`, e.g. `TensorDataset`, `ImageDataset`) are gathered in one step when there is no
/// `transform`.
public final class DataLoader<Source: Dataset, Batch: Sendable>: Sequence, Sendable {
    /// A per-example function applied on the worker threads, with a random stream private to that example.
    public typealias Transform = @Sendable (Source.Element, inout RandomState) -> Source.Element

    /// The dataset being batched.
    public let dataset: Source
    /// Which examples form each batch.
    public let sampler: any BatchSampler
    /// The root of every random stream this loader uses.
    public let rng: RandomState
    /// Background threads producing batches (0: the caller's thread).
    public let workers: Int
    /// How many batches may be prepared ahead of the consumer.
    public let prefetch: Int
    private let transform: Transform?
    private let collate: @Sendable ([Source.Element]) -> Batch
    private let fastBatch: (@Sendable ([Int]) -> Batch?)?
    private let epochCounter = Mutex(0)

    init(dataset: Source, sampler: any BatchSampler, rng: RandomState, workers: Int, prefetch: Int?,
         transform: Transform?, collate: @escaping @Sendable ([Source.Element]) -> Batch,
         fastBatch: (@Sendable ([Int]) -> Batch?)?) {
        precondition(workers >= 0, "DataLoader: workers must be non-negative, got \(workers)")
        precondition(prefetch.map { $0 >= 1 } ?? true, "DataLoader: prefetch must be at least 1")
        self.dataset = dataset
        self.sampler = sampler
        self.rng = rng
        self.workers = workers
        self.prefetch = prefetch ?? Swift.max(2, 2 * workers)
        self.transform = transform
        self.collate = collate
        self.fastBatch = fastBatch
    }

    /// Batches per epoch.
    public var count: Int { sampler.batchCount(datasetCount: dataset.count) }
    /// Batches per epoch (for `Sequence`).
    public var underestimatedCount: Int { count }

    /// The epoch the next `for` loop (`makeIterator()`) runs. Starts at 0; set it to resume training.
    public var nextEpoch: Int {
        get { epochCounter.withLock { $0 } }
        set { epochCounter.withLock { $0 = newValue } }
    }

    /// The batches of the next epoch (and advances `nextEpoch`).
    public func makeIterator() -> Iterator {
        let e = epochCounter.withLock { e -> Int in defer { e += 1 }; return e }
        return epoch(e).makeIterator()
    }

    /// The batches of epoch `number`, exactly as the `number`-th `for` loop sees them (does not change
    /// `nextEpoch`).
    public func epoch(_ number: Int) -> Epoch {
        precondition(number >= 0, "DataLoader.epoch: epoch must be non-negative, got \(number)")
        return Epoch(loader: self, number: number)
    }

    /// The index batches of epoch `number` (which examples, in which order).
    public func plan(epoch number: Int) -> [[Int]] {
        var samplerRNG = rng.split(UInt64(number)).split(0)
        return sampler.batches(datasetCount: dataset.count, rng: &samplerRNG)
    }

    /// The batches of one epoch.
    public struct Epoch: Sequence, Sendable {
        /// The loader.
        public let loader: DataLoader
        /// The epoch number.
        public let number: Int

        /// Starts producing this epoch's batches.
        public func makeIterator() -> Iterator { loader.start(epoch: number) }
        /// Batches in the epoch.
        public var underestimatedCount: Int { loader.count }
    }

    /// Hands out one epoch's batches in order.
    public struct Iterator: IteratorProtocol {
        fileprivate let run: EpochRun<Batch>
        /// The next batch, or nil at the end of the epoch.
        public mutating func next() -> Batch? { run.next() }
    }

    fileprivate func start(epoch number: Int) -> Iterator {
        let batches = plan(epoch: number)
        var firstPositions = [Int](repeating: 0, count: batches.count)
        var p = 0
        for (b, batch) in batches.enumerated() { firstPositions[b] = p; p += batch.count }
        let starts = firstPositions
        let augmentRoot = rng.split(UInt64(number)).split(1)
        let produce: @Sendable (Int) -> Batch = { [self] b in
            withoutGrad { self.makeBatch(batches[b], firstPosition: starts[b], augmentRoot: augmentRoot) }
        }
        return Iterator(run: EpochRun(total: batches.count, workers: workers, depth: prefetch, produce: produce))
    }

    private func makeBatch(_ indices: [Int], firstPosition: Int, augmentRoot: RandomState) -> Batch {
        if transform == nil, let fastBatch, let batch = fastBatch(indices) { return batch }
        var items: [Source.Element] = []
        items.reserveCapacity(indices.count)
        for (j, i) in indices.enumerated() {
            var example = dataset[i]
            if let transform {
                var r = augmentRoot.split(UInt64(firstPosition + j))
                example = transform(example, &r)
            }
            items.append(example)
        }
        return collate(items)
    }
}

// MARK: - Initializers

extension DataLoader {
    /// A loader with a custom `collate` function (for example types the loader cannot stack on its own).
    ///
    /// - Parameters:
    ///   - batchSize: examples per batch.
    ///   - shuffle: a new random order each epoch.
    ///   - dropLast: drop a last batch smaller than `batchSize`.
    ///   - rng: root of the shuffling and `transform` streams.
    ///   - workers: background threads (0: produce batches on the caller's thread).
    ///   - prefetch: batches prepared ahead (default `max(2, 2 * workers)`).
    ///   - transform: per-example function (augmentation) with its own random stream.
    ///   - collate: joins examples into a batch.
    public convenience init(_ dataset: Source, batchSize: Int = 1, shuffle: Bool = false, dropLast: Bool = false,
                            rng: RandomState = RandomState(seed: 0), workers: Int = 1, prefetch: Int? = nil,
                            transform: Transform? = nil, collate: @escaping @Sendable ([Source.Element]) -> Batch) {
        self.init(dataset: dataset, sampler: DefaultBatchSampler(batchSize: batchSize, shuffle: shuffle, dropLast: dropLast),
                  rng: rng, workers: workers, prefetch: prefetch, transform: transform, collate: collate, fastBatch: nil)
    }

    /// A loader whose batches come from `sampler` (e.g. `ClassBalancedBatchSampler`), with a custom `collate`.
    public convenience init(_ dataset: Source, sampler: any BatchSampler, rng: RandomState = RandomState(seed: 0),
                            workers: Int = 1, prefetch: Int? = nil, transform: Transform? = nil,
                            collate: @escaping @Sendable ([Source.Element]) -> Batch) {
        self.init(dataset: dataset, sampler: sampler, rng: rng, workers: workers, prefetch: prefetch,
                  transform: transform, collate: collate, fastBatch: nil)
    }
}

extension DataLoader where Source.Element == (input: Tensor, target: Tensor), Batch == (input: Tensor, target: Tensor) {
    /// A loader of `(input, target)` batches: inputs and targets are each stacked along a new leading axis.
    ///
    /// - Parameters:
    ///   - batchSize: examples per batch.
    ///   - shuffle: a new random order each epoch.
    ///   - dropLast: drop a last batch smaller than `batchSize`.
    ///   - rng: root of the shuffling and `transform` streams.
    ///   - workers: background threads (0: produce batches on the caller's thread).
    ///   - prefetch: batches prepared ahead (default `max(2, 2 * workers)`).
    ///   - transform: per-example function (augmentation) with its own random stream.
    public convenience init(_ dataset: Source, batchSize: Int = 1, shuffle: Bool = false, dropLast: Bool = false,
                            rng: RandomState = RandomState(seed: 0), workers: Int = 1, prefetch: Int? = nil,
                            transform: Transform? = nil) {
        self.init(dataset: dataset, sampler: DefaultBatchSampler(batchSize: batchSize, shuffle: shuffle, dropLast: dropLast),
                  rng: rng, workers: workers, prefetch: prefetch, transform: transform, collate: collatePairs,
                  fastBatch: { dataset.batch(at: $0) })
    }

    /// A loader of `(input, target)` batches drawn by `sampler` (e.g. `ClassBalancedBatchSampler`).
    public convenience init(_ dataset: Source, sampler: any BatchSampler, rng: RandomState = RandomState(seed: 0),
                            workers: Int = 1, prefetch: Int? = nil, transform: Transform? = nil) {
        self.init(dataset: dataset, sampler: sampler, rng: rng, workers: workers, prefetch: prefetch,
                  transform: transform, collate: collatePairs, fastBatch: { dataset.batch(at: $0) })
    }
}

extension DataLoader where Source.Element: Collatable, Batch == Source.Element {
    /// A loader of `Collatable` examples (such as single tensors), joined with `Element.collate`.
    ///
    /// - Parameters:
    ///   - batchSize: examples per batch.
    ///   - shuffle: a new random order each epoch.
    ///   - dropLast: drop a last batch smaller than `batchSize`.
    ///   - rng: root of the shuffling and `transform` streams.
    ///   - workers: background threads (0: produce batches on the caller's thread).
    ///   - prefetch: batches prepared ahead (default `max(2, 2 * workers)`).
    ///   - transform: per-example function (augmentation) with its own random stream.
    public convenience init(_ dataset: Source, batchSize: Int = 1, shuffle: Bool = false, dropLast: Bool = false,
                            rng: RandomState = RandomState(seed: 0), workers: Int = 1, prefetch: Int? = nil,
                            transform: Transform? = nil) {
        self.init(dataset: dataset, sampler: DefaultBatchSampler(batchSize: batchSize, shuffle: shuffle, dropLast: dropLast),
                  rng: rng, workers: workers, prefetch: prefetch, transform: transform,
                  collate: { Source.Element.collate($0) }, fastBatch: { dataset.batch(at: $0) })
    }

    /// A loader of `Collatable` examples drawn by `sampler`.
    public convenience init(_ dataset: Source, sampler: any BatchSampler, rng: RandomState = RandomState(seed: 0),
                            workers: Int = 1, prefetch: Int? = nil, transform: Transform? = nil) {
        self.init(dataset: dataset, sampler: sampler, rng: rng, workers: workers, prefetch: prefetch,
                  transform: transform, collate: { Source.Element.collate($0) }, fastBatch: { dataset.batch(at: $0) })
    }
}
