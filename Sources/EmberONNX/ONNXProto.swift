import EmberCore
import Foundation
import SwiftProtobuf

// Conversions between Ember's tensors and dtypes and ONNX's protobuf messages, shared by export and import.

extension DType {
    /// ONNX's `TensorProto.DataType` number for this dtype.
    var onnxType: Onnx_TensorProto.DataType {
        switch self {
        case .float32: return .float
        case .float64: return .double
        case .int32: return .int32
        case .int64: return .int64
        case .bool: return .bool
        case .uint8: return .uint8
        case .float16: return .float16
        case .bfloat16: return .bfloat16
        }
    }

    /// The dtype for an ONNX data type number, nil where Ember has none (int8, strings, complex, float8, ...).
    init?(onnx raw: Int32) {
        switch Onnx_TensorProto.DataType(rawValue: Int(raw)) {
        case .float?: self = .float32
        case .double?: self = .float64
        case .int32?: self = .int32
        case .int64?: self = .int64
        case .bool?: self = .bool
        case .uint8?: self = .uint8
        case .float16?: self = .float16
        case .bfloat16?: self = .bfloat16
        default: return nil
        }
    }
}

extension Onnx_TensorProto {
    /// A tensor's values as an initializer (little-endian raw data, row-major).
    init(_ t: Tensor, name: String) {
        self.init()
        self.name = name
        dims = t.shape.map(Int64.init)
        dataType = Int32(t.dtype.onnxType.rawValue)
        let c = t.contiguous()
        rawData = c.withHostBytes { Data(bytes: $0, count: c.count * c.dtype.byteSize) }
    }
}

extension Onnx_AttributeProto {
    static func int(_ name: String, _ v: Int) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto(); a.name = name; a.type = .int; a.i = Int64(v); return a
    }
    static func ints(_ name: String, _ v: [Int]) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto(); a.name = name; a.type = .ints; a.ints = v.map(Int64.init); return a
    }
    static func float(_ name: String, _ v: Double) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto(); a.name = name; a.type = .float; a.f = Float(v); return a
    }
    static func string(_ name: String, _ v: String) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto(); a.name = name; a.type = .string; a.s = Data(v.utf8); return a
    }
}

extension Onnx_ValueInfoProto {
    /// A tensor value's name, element type and shape; dimension `batchAxis` is the symbolic "batch".
    init(name: String, dtype: DType, shape: [Int], batchAxis: Int?) {
        self.init()
        self.name = name
        var tt = Onnx_TypeProto.Tensor()
        tt.elemType = Int32(dtype.onnxType.rawValue)
        var s = Onnx_TensorShapeProto()
        for (i, d) in shape.enumerated() {
            var dim = Onnx_TensorShapeProto.Dimension()
            if i == batchAxis { dim.dimParam = "batch" } else { dim.dimValue = Int64(d) }
            s.dim.append(dim)
        }
        tt.shape = s
        type.tensorType = tt
    }
}

/// Facts about an ONNX file without running it.
public enum ONNXFile {
    /// The `producer_name` of a serialized ONNX model, nil when `data` is not one.
    public static func producer(of data: Data) -> String? {
        guard let m = try? Onnx_ModelProto(serializedBytes: data), m.hasGraph else { return nil }
        return m.producerName
    }
}
