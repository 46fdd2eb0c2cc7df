import EmberCore

/// The examples of a base dataset at chosen indices (a split, a fold, a filtered view). Nothing is copied.
public struct Subset<Base: Dataset>: Dataset {
    /// The dataset the examples come from.
    public let base: Base
    /// Indices into `base`, in this subset's order.
    public let indices: [Int]

    /// The examples of `base` at `indices`.
    public init(_ base: Base, indices: [Int]) {
        for i in indices { precondition(i >= 0 && i < base.count, "Subset: index \(i) is out of range for a dataset of \(base.count)") }
        self.base = base
        self.indices = indices
    }

    /// Number of examples.
    public var count: Int { indices.count }
    /// The example at `index`.
    public subscript(index: Int) -> Base.Element { base[indices[index]] }
    /// The base dataset's fast path, when it has one.
    public func batch(at positions: [Int]) -> Base.Element? { base.batch(at: positions.map { indices[$0] }) }
}

/// A dataset whose examples are those of `base` passed through `transform` (applied lazily, on read).
public struct MappedDataset<Base: Dataset, Element: Sendable>: Dataset {
    /// The source dataset.
    public let base: Base
    /// The function applied to each example.
    public let transform: @Sendable (Base.Element) -> Element

    /// Number of examples.
    public var count: Int { base.count }
    /// The transformed example at `index`.
    public subscript(index: Int) -> Element { transform(base[index]) }
}

/// A type-erased dataset: hides the concrete type behind the element type, e.g. to return different built-in
/// datasets from one function.
public struct AnyDataset<Element: Sendable>: Dataset {
    private let countValue: Int
    private let fetch: @Sendable (Int) -> Element
    private let getBatch: @Sendable ([Int]) -> Element?

    /// Wraps `base`.
    public init<D: Dataset>(_ base: D) where D.Element == Element {
        countValue = base.count
        fetch = { base[$0] }
        getBatch = { base.batch(at: $0) }
    }

    /// Number of examples.
    public var count: Int { countValue }
    /// The example at `index`.
    public subscript(index: Int) -> Element { fetch(index) }
    /// The wrapped dataset's fast path.
    public func batch(at indices: [Int]) -> Element? { getBatch(indices) }
}
