import Foundation
import Testing
@testable import EmberData

/// A dataset that counts reads, to check the loader never touches examples it should not.
struct Numbers: Dataset {
    let n: Int
    var count: Int { n }
    subscript(index: Int) -> (input: Tensor, target: Tensor) {
        (Tensor([Float(index), Float(index) * 10], shape: [2]), Tensor([Int64(index % 3)], shape: []))
    }
}

@Suite struct DataLoaderTests {
    static func data(_ n: Int) -> TensorDataset {
        TensorDataset(inputs: Tensor.arange(0, Double(n * 2)).reshaped([n, 2]), targets: Tensor((0..<n).map { Int64($0 % 3) }))
    }

    @Test func batchesInOrderWithRemainderOrDropLast() throws {
        let loader = DataLoader(Self.data(10), batchSize: 4, workers: 0)
        #expect(loader.count == 3)
        let batches = Array(loader)
        #expect(batches.map(\.input.shape) == [[4, 2], [4, 2], [2, 2]])
        #expect(batches.map(\.target.shape) == [[4], [4], [2]])
        #expect(batches[2].input.scalars == [16, 17, 18, 19])
        #expect(batches[0].target.toArray(Int64.self) == [0, 1, 2, 0])
        let dropped = DataLoader(Self.data(10), batchSize: 4, dropLast: true)
        #expect(dropped.count == 2 && Array(dropped).count == 2)
        #expect(Array(DataLoader(Self.data(0), batchSize: 4)).isEmpty)
    }

    @Test func fastAndPerExamplePathsAgree() throws {
        // TensorDataset gathers with indexSelect; the Numbers dataset goes example by example and stacks.
        let a = DataLoader(Self.data(7), batchSize: 3, shuffle: true, rng: RandomState(seed: 5))
        let c = DataLoader(Numbers(n: 7), batchSize: 3, shuffle: true, rng: RandomState(seed: 5))
        for (x, y) in zip(Array(a), Array(c)) {
            #expect(x.target.toArray(Int64.self) == y.target.toArray(Int64.self))
            #expect(x.input.shape == y.input.shape)
            // Both datasets put index i at input[0] == 2i (data) and i (Numbers).
            #expect(x.input[.all, 0].scalars == y.input[.all, 0].scalars.map { $0 * 2 })
        }
    }

    @Test func shuffleIsSeededAndDiffersPerEpoch() throws {
        let loader = DataLoader(Self.data(50), batchSize: 50, shuffle: true, rng: RandomState(seed: 42))
        let e0 = Array(loader)[0].target, e1 = Array(loader)[0].target
        #expect(loader.nextEpoch == 2)
        let order0 = loader.plan(epoch: 0)[0], order1 = loader.plan(epoch: 1)[0]
        #expect(order0 != order1)
        #expect(Set(order0) == Set(0..<50))
        #expect(e0.toArray(Int64.self) == order0.map { Int64($0 % 3) })
        #expect(e1.toArray(Int64.self) == order1.map { Int64($0 % 3) })
        // Same seed, same epochs; replaying epoch 1 alone gives the same batches.
        let again = DataLoader(Self.data(50), batchSize: 50, shuffle: true, rng: RandomState(seed: 42))
        #expect(again.plan(epoch: 1)[0] == order1)
        #expect(Array(again.epoch(1))[0].input.scalars == Array(loader.epoch(1))[0].input.scalars)
        let other = DataLoader(Self.data(50), batchSize: 50, shuffle: true, rng: RandomState(seed: 43))
        #expect(other.plan(epoch: 0)[0] != order0)
    }

    @Test func augmentationIsReproducibleForAnyWorkerCount() throws {
        // Each example gets noise from its own stream: results must not depend on threads or prefetch depth.
        let noisy: DataLoader<TensorDataset, (input: Tensor, target: Tensor)>.Transform = { example, rng in
            (example.input + Tensor.normal([2], rng: &rng), example.target)
        }
        func run(_ workers: Int, _ prefetch: Int?) -> [[Float]] {
            let loader = DataLoader(Self.data(37), batchSize: 5, shuffle: true, rng: RandomState(seed: 9),
                                    workers: workers, prefetch: prefetch, transform: noisy)
            return (0..<2).flatMap { _ in loader.map(\.input.scalars) }
        }
        let reference = run(0, nil)
        #expect(reference.count == 16)
        for (w, p) in [(1, 1), (2, 2), (4, 8), (3, nil)] as [(Int, Int?)] {
            #expect(run(w, p) == reference, "workers \(w), prefetch \(String(describing: p))")
        }
        // Streams differ between examples and epochs.
        #expect(reference[0] != reference[8])
        // The same transform written inline, as users will.
        let inline = DataLoader(Self.data(37), batchSize: 5, shuffle: true, rng: RandomState(seed: 9), workers: 2,
                                transform: { example, rng in
                                    let noise = Tensor.normal([2], rng: &rng)
                                    return (example.input + noise, example.target)
                                })
        #expect(inline.map(\.input.scalars) == Array(reference[0..<8]))
    }

    @Test func workersPrefetchAheadOnBackgroundThreads() throws {
        final class Log: @unchecked Sendable {
            let lock = NSLock()
            var threads = Set<UInt>()
            var produced = 0
            func note() {
                lock.lock(); defer { lock.unlock() }
                threads.insert(UInt(pthread_self()))
                produced += 1
            }
            var count: Int { lock.lock(); defer { lock.unlock() }; return produced }
        }
        let log = Log()
        let loader = DataLoader(Self.data(40), batchSize: 4, workers: 2, prefetch: 3,
                                transform: { e, _ in log.note(); return e })
        var it = loader.makeIterator()
        #expect(it.next() != nil)
        // Without further requests, workers fill the prefetch window: batches 1...3 (4 examples each). Wait for that
        // condition (the deadline only stops a broken loader from hanging the suite), then give any worker that would
        // wrongly run past the window a moment to show it.
        let deadline = Date().addingTimeInterval(300)
        while log.count < 16 && Date() < deadline { Thread.sleep(forTimeInterval: 0.005) }
        Thread.sleep(forTimeInterval: 0.05)
        #expect(log.count == 16)
        #expect(!log.threads.contains(UInt(pthread_self())) && log.threads.count <= 2)
        var rest = 0
        while it.next() != nil { rest += 1 }
        #expect(rest == 9 && log.count == 40)
    }

    @Test func leavingALoopEarlyStopsTheWorkers() throws {
        let loader = DataLoader(Numbers(n: 1000), batchSize: 10, workers: 2, prefetch: 4)
        var seen = 0
        for (x, _) in loader {
            #expect(x.shape == [10, 2])
            seen += 1
            if seen == 3 { break }
        }
        #expect(seen == 3)
        // The loader is still usable afterwards.
        #expect(Array(loader.epoch(0)).count == 100)
    }

    @Test func collatableAndCustomCollate() throws {
        let tensors = Numbers(n: 6).map { $0.input }
        let loader = DataLoader(tensors, batchSize: 4)
        #expect(Array(loader).map(\.shape) == [[4, 2], [2, 2]])
        let sums = DataLoader(Numbers(n: 6), batchSize: 3, collate: { items in items.map { $0.input.sum().item() }.reduce(0, +) })
        #expect(Array(sums) == [33, 132])
        let sub = Self.data(10).subset([9, 3, 5])
        let batch = Array(DataLoader(sub, batchSize: 3))[0]
        #expect(batch.target.toArray(Int64.self) == [0, 0, 2])
        #expect(sub.eraseToAnyDataset()[1].input.scalars == [6, 7])
    }

    @Test func validationSplitIsSeededAndDisjoint() {
        var rng = RandomState(seed: 1)
        let (train, val) = Self.data(20).split(validation: 0.25, rng: &rng)
        #expect(train.count == 15 && val.count == 5)
        #expect(Set(train.indices).isDisjoint(with: val.indices))
        var rng2 = RandomState(seed: 1)
        #expect(Self.data(20).split(validation: 0.25, rng: &rng2).validation.indices == val.indices)
    }
}

@Suite struct SamplerTests {
    @Test func classBalancedBatchesAreBalanced() {
        // 3 classes with 80/15/5 examples.
        let labels = (0..<100).map { $0 < 80 ? 0 : ($0 < 95 ? 1 : 2) }
        let sampler = ClassBalancedBatchSampler(labels: labels, batchSize: 12)
        var rng = RandomState(seed: 3)
        let batches = sampler.batches(datasetCount: 100, rng: &rng)
        #expect(batches.count == 9)
        for b in batches {
            #expect(b.count == 12)
            let counts = (0..<3).map { c in b.filter { labels[$0] == c }.count }
            #expect(counts == [4, 4, 4])
        }
        // Rare classes cycle through all their members before repeating.
        let class2 = batches.prefix(1).flatMap { $0 }.filter { labels[$0] == 2 }
        #expect(Set(class2).count == 4)
        var rngAgain = RandomState(seed: 3)
        #expect(sampler.batches(datasetCount: 100, rng: &rngAgain) == batches)
    }

    @Test func unevenBatchSizeRotatesTheExtraPlaces() {
        let labels = (0..<40).map { $0 % 4 }
        let sampler = ClassBalancedBatchSampler(labels: labels, batchSize: 6, batchesPerEpoch: 4)
        var rng = RandomState(seed: 0)
        let batches = sampler.batches(datasetCount: 40, rng: &rng)
        var totals = [0, 0, 0, 0]
        for b in batches {
            let counts = (0..<4).map { c in b.filter { labels[$0] == c }.count }
            #expect(counts.max()! - counts.min()! <= 1)
            for c in 0..<4 { totals[c] += counts[c] }
        }
        #expect(totals == [6, 6, 6, 6])
    }

    @Test func loaderWithBalancedSampler() throws {
        let data = DataLoaderTests.data(30)
        let loader = DataLoader(data, sampler: ClassBalancedBatchSampler(labels: data.labels, batchSize: 9), workers: 2)
        for (_, y) in loader {
            let t = y.toArray(Int64.self)
            #expect((0..<3).map { c in t.filter { $0 == c }.count } == [3, 3, 3])
        }
    }
}

@Suite struct SlidingWindowTests {
    @Test func windowsOverAUnivariateSeries() {
        let s = Tensor.arange(0, 10)
        let w = SlidingWindows(series: s, inputLength: 3, horizon: 2, stride: 2)
        #expect(w.count == 3)                           // starts 0, 2, 4 (4 + 3 + 2 = 9 <= 10)
        #expect(w[0].input.scalars == [0, 1, 2] && w[0].target.scalars == [3, 4])
        #expect(w[2].input.scalars == [4, 5, 6] && w[2].target.scalars == [7, 8])
        let batch = Array(DataLoader(w, batchSize: 3))[0]
        #expect(batch.input.shape == [3, 3] && batch.target.shape == [3, 2])
        #expect(SlidingWindows(series: s, inputLength: 9, horizon: 2).count == 0)
        #expect(SlidingWindows(series: s, inputLength: 9, horizon: 1).count == 1)
    }

    @Test func multivariateWithTargetColumns() {
        let s = Tensor.arange(0, 12).reshaped([6, 2])      // t: [2t, 2t+1]
        let w = SlidingWindows(series: s, inputLength: 2, horizon: 1, targetFeatures: [1])
        #expect(w.count == 4)
        #expect(w[1].input.shape == [2, 2] && w[1].input.scalars == [2, 3, 4, 5])
        #expect(w[1].target.shape == [1, 1] && w[1].target.scalars == [7])
    }
}
