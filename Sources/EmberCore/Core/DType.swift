/// The element type of a tensor.
///
/// `float32` is the working type; `float64` serves gradient checks and metrics; `int32`/`int64` hold labels and
/// indices; `bool` holds masks. Mixed-type arithmetic promotes along bool < int32 < int64 < float32 < float64.
public enum DType: String, Sendable, CaseIterable, CustomStringConvertible {
    case float32, float64, int32, int64, bool

    /// Bytes per element.
    public var byteSize: Int {
        switch self {
        case .float32, .int32: return 4
        case .float64, .int64: return 8
        case .bool: return 1
        }
    }

    /// Whether the type is a floating-point type (and so can carry gradients).
    public var isFloatingPoint: Bool { self == .float32 || self == .float64 }

    var rank: Int {
        switch self {
        case .bool: return 0
        case .int32: return 1
        case .int64: return 2
        case .float32: return 3
        case .float64: return 4
        }
    }

    /// The type both operands of a binary op are converted to.
    public static func promote(_ a: DType, _ b: DType) -> DType { a.rank >= b.rank ? a : b }

    public var description: String { rawValue }
}

/// Swift scalar types that can be stored in a tensor.
public protocol TensorScalar: Sendable {
    /// The tensor dtype of this Swift type.
    static var dtype: DType { get }
    /// Converts from a Double (used for fills and literals).
    init(fromDouble v: Double)
    /// Converts to a Double.
    var asDouble: Double { get }
}

extension Float: TensorScalar {
    public static var dtype: DType { .float32 }
    public init(fromDouble v: Double) { self = Float(v) }
    public var asDouble: Double { Double(self) }
}
extension Double: TensorScalar {
    public static var dtype: DType { .float64 }
    public init(fromDouble v: Double) { self = v }
    public var asDouble: Double { self }
}
extension Int32: TensorScalar {
    public static var dtype: DType { .int32 }
    public init(fromDouble v: Double) { self = Int32(v) }
    public var asDouble: Double { Double(self) }
}
extension Int64: TensorScalar {
    public static var dtype: DType { .int64 }
    public init(fromDouble v: Double) { self = Int64(v) }
    public var asDouble: Double { Double(self) }
}
extension Bool: TensorScalar {
    public static var dtype: DType { .bool }
    public init(fromDouble v: Double) { self = v != 0 }
    public var asDouble: Double { self ? 1 : 0 }
}
