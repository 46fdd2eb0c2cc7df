import EmberCore

/// A finite, indexable collection of examples: what PyTorch's map-style `Dataset` is (`__len__` and
/// `__getitem__`).
///
/// Conform a type by giving `count` and `subscript(index:)`; `DataLoader` does the batching, shuffling and
/// prefetching. Most datasets produce `(input: Tensor, target: Tensor)` pairs, which the loader stacks into batches
/// without further code:
///
/// ```swift
/// struct Squares: Dataset {
///     var count: Int { 100 }
///     subscript(index: Int) -> (input: Tensor, target: Tensor) {
///         (Tensor([Float(index)]), Tensor(Float(index * index)))
///     }
/// }
/// for (x, y) in DataLoader(Squares(), batchSize: 10, shuffle: true) { ... }   // x: [10, 1], y: [10]
/// ```
///
/// Datasets are read from background threads, so they are `Sendable` and element access must not mutate shared
/// state. Randomness (augmentation) does not belong here but in the loader's `transform`, which receives a
/// reproducible per-example `RandomState`.
public protocol Dataset<Element>: Sendable {
    /// The type of one example.
    associatedtype Element: Sendable

    /// Number of examples.
    var count: Int { get }

    /// The example at `index` (0 ..< count).
    subscript(index: Int) -> Element { get }

    /// Optional fast path, like PyTorch's `__getitems__`: the examples at `indices` already collated (stacked along
    /// a new leading axis), or nil to let the loader fetch them one by one and collate. The default is nil.
    func batch(at indices: [Int]) -> Element?
}

extension Dataset {
    /// Default: no fast path.
    public func batch(at indices: [Int]) -> Element? { nil }

    /// The valid indices, `0 ..< count`.
    public var indices: Range<Int> { 0..<count }

    /// The examples in order, lazily.
    public var examples: LazyMapSequence<Range<Int>, Element> { indices.lazy.map { self[$0] } }

    /// A lazily transformed view: `transform` runs on each example when it is read (on loader threads).
    public func map<T: Sendable>(_ transform: @escaping @Sendable (Element) -> T) -> MappedDataset<Self, T> {
        MappedDataset(base: self, transform: transform)
    }

    /// The examples at `indices`, in that order (no copy of the data).
    public func subset(_ indices: [Int]) -> Subset<Self> { Subset(self, indices: indices) }

    /// This dataset behind a type-erased wrapper.
    public func eraseToAnyDataset() -> AnyDataset<Element> { AnyDataset(self) }

    /// A seeded random split into training and validation subsets; `validation` is the fraction held out
    /// (rounded to the nearest count).
    public func split(validation fraction: Double, rng: inout RandomState) -> (train: Subset<Self>, validation: Subset<Self>) {
        precondition(fraction >= 0 && fraction <= 1, "split(validation:): fraction must be in [0, 1], got \(fraction)")
        let perm = rng.permutation(count)
        let nVal = Int((Double(count) * fraction).rounded())
        return (Subset(self, indices: Array(perm[nVal...])), Subset(self, indices: Array(perm[..<nVal])))
    }
}

/// Elements that know how to join a list of themselves into one batch, so `DataLoader` can collate them.
///
/// `Tensor` stacks along a new leading axis. Conform your own example structs by collating each field.
public protocol Collatable: Sendable {
    /// Joins `items` (at least one) into a batch.
    static func collate(_ items: [Self]) -> Self
}

extension Tensor: Collatable {
    /// Stacks the tensors along a new leading axis (`[B] + shape`).
    public static func collate(_ items: [Tensor]) -> Tensor { stack(items) }
}

/// Collates `(input, target)` pairs by stacking each component.
@inline(__always)
func collatePairs(_ items: [(input: Tensor, target: Tensor)]) -> (input: Tensor, target: Tensor) {
    (stack(items.map(\.input)), stack(items.map(\.target)))
}
