/// The element type of a tensor.
///
/// `float32` is the working type; `float64` serves gradient checks and metrics; `int32`/`int64` hold labels and
/// indices; `bool` holds masks; `uint8` holds image bytes until the first float op; `float16` and `bfloat16` hold
/// checkpoints (most Hugging Face weights are stored in one of them).
///
/// **Promotion.** Mixed-type elementwise ops convert both operands to `DType.promote(a, b)`, PyTorch's rule for
/// tensors: along bool < uint8 < int32 < int64 < (float16 | bfloat16) < float32 < float64, except that float16 with
/// bfloat16 gives float32. So uint8 + float32 is float32, uint8 + int64 is int64 and uint8 op uint8 stays uint8
/// (wrapping around modulo 256, as PyTorch's); true division of integers gives float32.
///
/// **Conversions** (`Tensor.cast`, `assign`, creation with a dtype) follow PyTorch on x86-64:
/// - to float16 / bfloat16: round to nearest, ties to even, from float32 (IEEE binary16 with subnormals, overflow
///   to ±inf; bfloat16 is the upper 16 bits of the float32 rounded). A float64 source is rounded to float32 first,
///   as PyTorch does (so a value just above a float16 halfway point may round down). NaN stays NaN, quieted, with its
///   sign and the upper bits of its payload (what x86 F16C, AVX512-BF16 and Arm converters do).
/// - from float16 / bfloat16 to float32 or float64: exact.
/// - float to integers (uint8 included): truncation toward zero. To uint8 through int64 and then the low byte
///   (PyTorch's rule): 300.7 gives 44, -1 gives 255; NaN, ±inf and values beyond int64 give 0. Integers to uint8 keep
///   the low byte.
///
/// **Compute on half types.** float16 and bfloat16 tensors are stored as 2 bytes per element; copies, casts, views,
/// `where`, concatenation, gathers and fills work on them natively. Arithmetic is done in float32 on the CPU: the
/// elementwise ops, reductions, softmax, cumulative sums and matrix products convert their operands to float32,
/// compute, and round the result back once per op (as PyTorch's CPU kernels do); average pooling, scatter/index adds
/// and optimizer updates compute in Double and round once. A composite op (mean = sum then divide) rounds at each step.
/// A Double scalar (`x * 0.1`) is first rounded to the tensor's type, where PyTorch keeps it in float32, so such
/// products can differ from PyTorch's by one unit in the last place. Convolution and max pooling refuse half tensors
/// with a message naming the kernel: cast to float32 first (`x.cast(.float32)`), the usual way to run a model whose
/// checkpoint is stored in half precision (see `SafeTensors.read(from:convertingTo:)`).
public enum DType: String, Sendable, CaseIterable, CustomStringConvertible {
    case float32, float64, int32, int64, bool, uint8, float16, bfloat16

    /// Bytes per element.
    public var byteSize: Int {
        switch self {
        case .float32, .int32: return 4
        case .float64, .int64: return 8
        case .float16, .bfloat16: return 2
        case .bool, .uint8: return 1
        }
    }

    /// Whether the type is a floating-point type (and so can carry gradients).
    public var isFloatingPoint: Bool {
        switch self {
        case .float32, .float64, .float16, .bfloat16: return true
        case .int32, .int64, .bool, .uint8: return false
        }
    }

    /// Whether the type is one of the 16-bit float storage types (float16, bfloat16), computed in float32.
    public var isHalf: Bool { self == .float16 || self == .bfloat16 }

    var rank: Int {
        switch self {
        case .bool: return 0
        case .uint8: return 1
        case .int32: return 2
        case .int64: return 3
        case .float16, .bfloat16: return 4
        case .float32: return 5
        case .float64: return 6
        }
    }

    /// The type both operands of a binary op are converted to (PyTorch's `promote_types`).
    public static func promote(_ a: DType, _ b: DType) -> DType {
        if a.isHalf && b.isHalf && a != b { return .float32 }
        return a.rank >= b.rank ? a : b
    }

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
extension UInt8: TensorScalar {
    public static var dtype: DType { .uint8 }
    /// PyTorch's float-to-uint8 rule: truncate to int64 (NaN, ±inf and out-of-range values give int64's minimum),
    /// then keep the low byte, so 300 gives 44 and -1 gives 255.
    public init(fromDouble v: Double) { self = uint8Wrapping(v) }
    public var asDouble: Double { Double(self) }
}
