import Foundation

/// Why a model could not be exported to ONNX or an ONNX file could not be imported. Each case names the op, node,
/// file or field and what was expected.
public enum ONNXError: Error, CustomStringConvertible, Equatable {
    /// A traced primitive with no ONNX translation (`op` is Ember's registry name).
    case unsupportedPrimitive(op: String, reason: String)
    /// The graph uses the batch dimension in a way a dynamic batch cannot express.
    case dynamicBatch(op: String, reason: String)
    /// An ONNX node whose operator Ember does not run (at the model's default-domain opset).
    case unsupportedOperator(node: String, opType: String, opset: Int)
    /// An ONNX node, attribute or tensor that is malformed or outside what Ember supports.
    case invalidModel(path: String, reason: String)
    /// Inputs given to an imported model that do not fit its graph.
    case badInput(name: String, reason: String)

    public var description: String {
        switch self {
        case .unsupportedPrimitive(let op, let reason): return "ONNX export: '\(op)' cannot be exported: \(reason)"
        case .dynamicBatch(let op, let reason):
            return "ONNX export: '\(op)' \(reason); export with dynamicBatch: false for a fixed batch size"
        case .unsupportedOperator(let node, let opType, let opset):
            return "ONNX: node '\(node)': operator \(opType) (opset \(opset)) is not supported"
        case .invalidModel(let path, let reason): return "\(path): \(reason)"
        case .badInput(let name, let reason): return "ONNX input '\(name)': \(reason)"
        }
    }
}
