import EmberCore

/// An in-memory dataset of paired tensors: example `i` is `(inputs[i], targets[i])`, like PyTorch's
/// `TensorDataset(x, y)`.
///
/// ```swift
/// let data = TensorDataset(inputs: x, targets: y)       // x: [N, features], y: [N] int64 labels
/// for (xb, yb) in DataLoader(data, batchSize: 32, shuffle: true) { ... }
/// ```
/// Batches are gathered with one `indexSelect` per tensor, without per-example tensors.
public struct TensorDataset: Dataset {
    /// One example: an input and its target.
    public typealias Element = (input: Tensor, target: Tensor)

    /// All inputs, examples along the first axis.
    public let inputs: Tensor
    /// All targets, examples along the first axis.
    public let targets: Tensor
    /// Names of the input features (columns of a 2-D `inputs`), when known.
    public var featureNames: [String]
    /// Names of the classes (target values 0, 1, ...), when the targets are class indices.
    public var classNames: [String]

    /// Pairs `inputs` and `targets`, which must have the same first dimension.
    public init(inputs: Tensor, targets: Tensor, featureNames: [String] = [], classNames: [String] = []) {
        precondition(inputs.rank >= 1 && targets.rank >= 1 && inputs.shape[0] == targets.shape[0],
                     "TensorDataset: inputs \(inputs.shape) and targets \(targets.shape) must have the same first dimension")
        self.inputs = inputs
        self.targets = targets
        self.featureNames = featureNames
        self.classNames = classNames
    }

    /// Number of examples.
    public var count: Int { inputs.shape[0] }

    /// Example `index` (views into the stored tensors).
    public subscript(index: Int) -> Element { (inputs[index], targets[index]) }

    /// The examples at `indices`, stacked.
    public func batch(at indices: [Int]) -> Element? {
        let idx = Tensor(indices.map { Int64($0) })
        return withoutGrad { (inputs.indexSelect(axis: 0, index: idx), targets.indexSelect(axis: 0, index: idx)) }
    }

    /// The targets as Swift integers (for samplers and stratified splits). Targets must be 1-D class indices.
    public var labels: [Int] {
        precondition(targets.rank == 1, "TensorDataset.labels: targets must be 1-D class indices, got shape \(targets.shape)")
        return targets.toArray(Int64.self).map { Int($0) }
    }
}
