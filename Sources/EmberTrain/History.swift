/// Metric values per epoch, as Keras' `History`: `history["val_loss"]` is the validation loss of every epoch.
public struct History: Sendable, Codable, Equatable {
    /// Metric name -> one value per epoch.
    public var metrics: [String: [Double]] = [:]
    /// Number of epochs recorded.
    public var epochs: Int = 0

    public init() {}

    /// The values of one metric.
    public subscript(_ name: String) -> [Double]? { metrics[name] }

    mutating func append(_ logs: [String: Double]) {
        for (k, v) in logs { metrics[k, default: Array(repeating: .nan, count: epochs)].append(v) }
        epochs += 1
        for k in metrics.keys where metrics[k]!.count < epochs { metrics[k]!.append(.nan) }
    }
}

/// Per-batch and per-epoch metrics computed during training and evaluation.
public enum TrainingMetric: String, Sendable, Codable, CaseIterable {
    /// Fraction of rows whose argmax over the last axis equals the integer target.
    case accuracy

    /// (sum of per-example values, number of examples) for one batch.
    func batchTotals(_ output: Tensor, _ target: Tensor) -> (Double, Int) {
        switch self {
        case .accuracy:
            let pred = output.argmax(axis: -1)
            let correct = (pred .== target.cast(.int64).reshaped(pred.shape)).sum().item()
            return (correct, pred.count)
        }
    }
}

/// Built-in losses `Trainer` can apply by name.
public enum LossFunction: Sendable {
    case crossEntropy(labelSmoothing: Double = 0)
    case binaryCrossEntropyWithLogits
    case mse
    case l1
    case custom(@Sendable (Tensor, Tensor) -> Tensor)

    /// The mean loss of a batch.
    public func callAsFunction(_ output: Tensor, _ target: Tensor) -> Tensor {
        switch self {
        case .crossEntropy(let s): return EmberNN.crossEntropy(output, target, labelSmoothing: s)
        case .binaryCrossEntropyWithLogits: return EmberNN.binaryCrossEntropyWithLogits(output, target.cast(output.dtype).reshaped(output.shape))
        case .mse: return mseLoss(output, target.cast(output.dtype).reshaped(output.shape))
        case .l1: return l1Loss(output, target.cast(output.dtype).reshaped(output.shape))
        case .custom(let f): return f(output, target)
        }
    }

    /// The crossEntropy loss without label smoothing.
    public static var crossEntropy: LossFunction { .crossEntropy(labelSmoothing: 0) }
}
