@_exported import EmberData
@_exported import EmberIO
@_exported import EmberNN

/// Anything that yields the (input, target) batches of a numbered epoch, the same ones every time it is asked:
/// what `Trainer.fit` consumes. `DataLoader` conforms; `TensorBatches` is a minimal in-memory source.
public protocol BatchSource {
    /// Batches in one epoch.
    var batchesPerEpoch: Int { get }
    /// The batches of epoch `epoch` (0-based), reproducible from the source's seed.
    func batches(epoch: Int) -> AnySequence<(input: Tensor, target: Tensor)>
}

extension DataLoader: BatchSource where Batch == (input: Tensor, target: Tensor) {
    public var batchesPerEpoch: Int { count }
    public func batches(epoch: Int) -> AnySequence<(input: Tensor, target: Tensor)> { AnySequence(self.epoch(epoch)) }
}

/// Mini-batches of in-memory tensors (examples along axis 0), reshuffled each epoch from a seed.
public struct TensorBatches: BatchSource {
    public let inputs: Tensor, targets: Tensor
    public let batchSize: Int, shuffle: Bool, seed: UInt64

    public init(inputs: Tensor, targets: Tensor, batchSize: Int, shuffle: Bool = true, seed: UInt64 = 0) {
        precondition(inputs.shape.first == targets.shape.first, "TensorBatches: inputs \(inputs.shape) and targets \(targets.shape) differ in length")
        precondition(batchSize > 0, "TensorBatches: batch size must be positive")
        self.inputs = inputs; self.targets = targets; self.batchSize = batchSize; self.shuffle = shuffle; self.seed = seed
    }

    public var batchesPerEpoch: Int { (inputs.shape[0] + batchSize - 1) / batchSize }

    public func batches(epoch: Int) -> AnySequence<(input: Tensor, target: Tensor)> {
        let n = inputs.shape[0]
        var order = Array(0..<n)
        if shuffle {
            var rng = RandomState(seed: seed).split(UInt64(epoch))
            order = rng.permutation(n)
        }
        let (x, y, bs) = (inputs, targets, batchSize)
        return AnySequence(stride(from: 0, to: n, by: bs).lazy.map { start -> (input: Tensor, target: Tensor) in
            let idx = Tensor(order[start..<Swift.min(start + bs, n)].map { Int64($0) })
            return withoutGrad { (x.indexSelect(axis: 0, index: idx), y.indexSelect(axis: 0, index: idx)) }
        })
    }
}
