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
    case .uint8: return Double(p.assumingMemoryBound(to: UInt8.self)[i])
    case .float16: return Double(floatFromFloat16Bits(p.assumingMemoryBound(to: UInt16.self)[i]))
    case .bfloat16: return Double(floatFromBFloat16Bits(p.assumingMemoryBound(to: UInt16.self)[i]))
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
    case .uint8: p.assumingMemoryBound(to: UInt8.self)[i] = uint8Wrapping(v)
    // Through float32 first, as PyTorch converts a double to c10::Half / c10::BFloat16.
    case .float16: p.assumingMemoryBound(to: UInt16.self)[i] = float16Bits(Float(v))
    case .bfloat16: p.assumingMemoryBound(to: UInt16.self)[i] = bfloat16Bits(Float(v))
    }
}

// MARK: - uint8, float16 and bfloat16 conversions (the definitions `DType` documents)

/// PyTorch's conversion of a float to uint8: truncate toward zero to int64 (NaN, ±inf and values beyond int64 give
/// int64's minimum, as x86-64's cvttsd2si), then keep the low byte. 300.7 -> 44, -1 -> 255, NaN -> 0.
@inline(__always) func uint8Wrapping(_ v: Double) -> UInt8 {
    let i: Int64 = v >= -9.223372036854775808e18 && v < 9.223372036854775808e18 ? Int64(v) : .min
    return UInt8(truncatingIfNeeded: i)
}

/// The IEEE binary16 bit pattern nearest to `f` (round to nearest, ties to even), with subnormals and overflow to
/// ±inf. NaN keeps its sign and the upper 10 bits of its payload and is made quiet (what x86 F16C does).
@inline(__always) func float16Bits(_ f: Float) -> UInt16 {
    let x = f.bitPattern
    let sign = UInt16(truncatingIfNeeded: (x >> 16) & 0x8000)
    let a = x & 0x7FFF_FFFF
    if a >= 0x7F80_0000 {
        if a == 0x7F80_0000 { return sign | 0x7C00 }
        return sign | 0x7E00 | UInt16(truncatingIfNeeded: (a >> 13) & 0x3FF)
    }
    // 65520 is halfway between float16's largest finite value 65504 (odd mantissa) and 65536: it and above overflow.
    if a >= 0x477F_F000 { return sign | 0x7C00 }
    if a >= 0x3880_0000 {
        // A normal float16: rebias the exponent (127 -> 15) and round the 13 dropped mantissa bits. A carry out of
        // the mantissa correctly steps the exponent up.
        var h = (a >> 13) &- (112 << 10)
        let rest = a & 0x1FFF
        if rest > 0x1000 || (rest == 0x1000 && h & 1 == 1) { h += 1 }
        return sign | UInt16(truncatingIfNeeded: h)
    }
    // Below 2^-25 (and 2^-25 itself, a tie with 0): zero.
    if a <= 0x3300_0000 { return sign }
    // A float16 subnormal m * 2^-24: m = (1.mantissa * 2^(e-127)) * 2^24 = full >> (126 - e), rounded to even.
    // m can round up to 1024, the encoding of the smallest normal.
    let e = a >> 23, full = (a & 0x7F_FFFF) | 0x80_0000, shift = 126 - e
    var m = full >> shift
    let rest = full & ((1 << shift) - 1), halfway: UInt32 = 1 << (shift - 1)
    if rest > halfway || (rest == halfway && m & 1 == 1) { m += 1 }
    return sign | UInt16(truncatingIfNeeded: m)
}

/// The float32 value of a binary16 bit pattern (exact). A NaN keeps its sign and payload and is made quiet (as x86
/// F16C's vcvtph2ps).
@inline(__always) func floatFromFloat16Bits(_ h: UInt16) -> Float {
    let sign = UInt32(h & 0x8000) << 16
    let e = UInt32(h >> 10) & 0x1F, m = UInt32(h & 0x3FF)
    if e == 0x1F { return Float(bitPattern: sign | 0x7F80_0000 | (m << 13) | (m != 0 ? 0x40_0000 : 0)) }
    if e == 0 {
        let v = Float(m) * 0x1p-24
        return sign != 0 ? -v : v
    }
    return Float(bitPattern: sign | ((e + 112) << 23) | (m << 13))
}

/// The bfloat16 bit pattern of `f`: its upper 16 bits, rounded to nearest with ties to even (overflow gives ±inf).
/// NaN keeps its sign and upper payload and is made quiet (as AVX512-BF16's and Arm's converters).
@inline(__always) func bfloat16Bits(_ f: Float) -> UInt16 {
    let x = f.bitPattern
    if x & 0x7FFF_FFFF > 0x7F80_0000 { return UInt16(truncatingIfNeeded: x >> 16) | 0x0040 }
    return UInt16(truncatingIfNeeded: (x &+ 0x7FFF &+ ((x >> 16) & 1)) >> 16)
}

/// The float32 value of a bfloat16 bit pattern (exact: the pattern is the upper half of the float32).
@inline(__always) func floatFromBFloat16Bits(_ b: UInt16) -> Float { Float(bitPattern: UInt32(b) << 16) }

extension DType {
    /// The 16-bit pattern that stores `value` in this half type (float16 or bfloat16), rounded to nearest even.
    public func halfBits(_ value: Float) -> UInt16 {
        precondition(isHalf, "DType.halfBits: \(self) is not float16 or bfloat16")
        return self == .float16 ? float16Bits(value) : bfloat16Bits(value)
    }

    /// The float32 value a 16-bit pattern of this half type (float16 or bfloat16) stands for (exact).
    public func float(fromHalfBits bits: UInt16) -> Float {
        precondition(isHalf, "DType.float(fromHalfBits:): \(self) is not float16 or bfloat16")
        return self == .float16 ? floatFromFloat16Bits(bits) : floatFromBFloat16Bits(bits)
    }
}
