/// A class-index target that a classification loss cannot use.
public enum ClassTargetError: Error, CustomStringConvertible, Equatable {
    /// The targets are not an integer tensor.
    case notIntegers(op: String, dtype: DType)
    /// A target outside [0, classes) that is not the ignore index; `row` is its position along axis 0 (the batch).
    case outOfRange(op: String, target: Int, classes: Int, row: Int)

    public var description: String {
        switch self {
        case .notIntegers(let op, let d): return "\(op): class targets must be int32 or int64, got \(d)"
        case .outOfRange(let op, let t, let c, let row): return "\(op): target \(t) is out of range for \(c) classes (batch row \(row))"
        }
    }
}

/// Checks class-index targets from outside (a dataset, a file) before a loss reads them: every target must be an
/// integer in [0, classes) or equal `ignoreIndex`. Throws for the first one that is not, naming `op`, the value, the
/// number of classes and the batch row, e.g. `cross-entropy: target 12 is out of range for 10 classes (batch row 5)`.
///
/// The losses (`crossEntropy`, `nllLoss`) make the same check and stop with a precondition failure: a bad target
/// reaching them is a programmer error, one from a file is a thrown error here.
public func validateClassTargets(_ targets: Tensor, classes: Int, ignoreIndex: Int?, op: String) throws {
    if let error = classTargetError(targets, classes: classes, ignoreIndex: ignoreIndex, op: op) { throw error }
}

/// The first problem with `targets` as class indices, or nil.
func classTargetError(_ targets: Tensor, classes: Int, ignoreIndex: Int?, op: String) -> ClassTargetError? {
    guard targets.dtype == .int64 || targets.dtype == .int32 else { return .notIntegers(op: op, dtype: targets.dtype) }
    let values = targets.toArray(Int64.self)
    let perRow = targets.rank == 0 ? 1 : Swift.max(values.count / Swift.max(targets.shape[0], 1), 1)
    for (i, v) in values.enumerated() where v < 0 || v >= Int64(classes) {
        if let ignoreIndex, v == Int64(ignoreIndex) { continue }
        return .outOfRange(op: op, target: Int(v), classes: classes, row: i / perRow)
    }
    return nil
}
