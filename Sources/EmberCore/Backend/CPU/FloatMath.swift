import Foundation

/// Float types the CPU kernels compute with (Float and Double), with the libm functions the kernels need.
protocol KernelFloat: BinaryFloatingPoint, TensorScalar {
    static func exp(_ x: Self) -> Self
    static func log(_ x: Self) -> Self
    static func log1p(_ x: Self) -> Self
    static func expm1(_ x: Self) -> Self
    static func sin(_ x: Self) -> Self
    static func cos(_ x: Self) -> Self
    static func tanh(_ x: Self) -> Self
    static func erf(_ x: Self) -> Self
    static func pow(_ x: Self, _ y: Self) -> Self
}

extension Float: KernelFloat {
    static func exp(_ x: Float) -> Float { Foundation.exp(x) }
    static func log(_ x: Float) -> Float { Foundation.log(x) }
    static func log1p(_ x: Float) -> Float { Foundation.log1p(x) }
    static func expm1(_ x: Float) -> Float { Foundation.expm1(x) }
    static func sin(_ x: Float) -> Float { Foundation.sin(x) }
    static func cos(_ x: Float) -> Float { Foundation.cos(x) }
    static func tanh(_ x: Float) -> Float { Foundation.tanh(x) }
    static func erf(_ x: Float) -> Float { Foundation.erf(x) }
    static func pow(_ x: Float, _ y: Float) -> Float { Foundation.pow(x, y) }
}

extension Double: KernelFloat {
    static func exp(_ x: Double) -> Double { Foundation.exp(x) }
    static func log(_ x: Double) -> Double { Foundation.log(x) }
    static func log1p(_ x: Double) -> Double { Foundation.log1p(x) }
    static func expm1(_ x: Double) -> Double { Foundation.expm1(x) }
    static func sin(_ x: Double) -> Double { Foundation.sin(x) }
    static func cos(_ x: Double) -> Double { Foundation.cos(x) }
    static func tanh(_ x: Double) -> Double { Foundation.tanh(x) }
    static func erf(_ x: Double) -> Double { Foundation.erf(x) }
    static func pow(_ x: Double, _ y: Double) -> Double { Foundation.pow(x, y) }
}

/// Numeric element types (everything but bool) for arithmetic kernels.
protocol KernelNumeric: TensorScalar, Comparable {
    static func + (a: Self, b: Self) -> Self
    static func - (a: Self, b: Self) -> Self
    static func * (a: Self, b: Self) -> Self
    static var zero: Self { get }
    static var one: Self { get }
    static var lowest: Self { get }
    static var highest: Self { get }
}

extension Float: KernelNumeric {
    static var one: Float { 1 }
    static var lowest: Float { -.infinity }
    static var highest: Float { .infinity }
}
extension Double: KernelNumeric {
    static var one: Double { 1 }
    static var lowest: Double { -.infinity }
    static var highest: Double { .infinity }
}
extension Int32: KernelNumeric {
    static var one: Int32 { 1 }
    static var lowest: Int32 { .min }
    static var highest: Int32 { .max }
}
extension Int64: KernelNumeric {
    static var one: Int64 { 1 }
    static var lowest: Int64 { .min }
    static var highest: Int64 { .max }
}

@inline(__always) func loadDouble(_ p: UnsafeMutableRawPointer, _ i: Int, _ dtype: DType) -> Double {
    switch dtype {
    case .float32: return Double(p.assumingMemoryBound(to: Float.self)[i])
    case .float64: return p.assumingMemoryBound(to: Double.self)[i]
    case .int32: return Double(p.assumingMemoryBound(to: Int32.self)[i])
    case .int64: return Double(p.assumingMemoryBound(to: Int64.self)[i])
    case .bool: return p.assumingMemoryBound(to: Bool.self)[i] ? 1 : 0
    }
}

@inline(__always) func storeDouble(_ p: UnsafeMutableRawPointer, _ i: Int, _ dtype: DType, _ v: Double) {
    switch dtype {
    case .float32: p.assumingMemoryBound(to: Float.self)[i] = Float(v)
    case .float64: p.assumingMemoryBound(to: Double.self)[i] = v
    // Out of range, NaN and ±Inf give the type's minimum, as PyTorch and NumPy on x86-64 (never a trap).
    case .int32: p.assumingMemoryBound(to: Int32.self)[i] = v > -2_147_483_649 && v < 2_147_483_648 ? Int32(v) : .min
    case .int64: p.assumingMemoryBound(to: Int64.self)[i] = v >= -9.223372036854775808e18 && v < 9.223372036854775808e18 ? Int64(v) : .min
    case .bool: p.assumingMemoryBound(to: Bool.self)[i] = v != 0
    }
}
