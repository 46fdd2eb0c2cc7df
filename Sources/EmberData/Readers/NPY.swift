import EmberCore

/// A NumPy array read from a `.npy` file (or a member of a `.npz` archive): its type, shape and raw data.
///
/// ```swift
/// let a = try NPYArray(path: "weights.npy")
/// print(a.descr, a.shape)          // "<f4" [2, 3]
/// let t = try a.tensor()           // float32 tensor [2, 3] (Fortran-ordered data is reordered)
/// ```
/// Supported element types: `f2 f4 f8` (as float32, float32, float64), `i1 i2 i4 u1 u2` (int32), `i8 u4 u8`
/// (int64), `b1` (bool), in either byte order. Object, string, complex and structured arrays throw
/// `DataError(.unsupported)`; a bad magic number, header or data size throws naming the file and what was expected.
public struct NPYArray: Sendable {
    /// The dtype string as written in the header, e.g. `<f4`.
    public let descr: String
    /// Dimensions (`[]` for a 0-d array).
    public let shape: [Int]
    /// Whether the data is column-major.
    public let fortranOrder: Bool
    /// The raw element bytes, in the file's byte and element order.
    public let data: [UInt8]
    /// Where the array was read from (a path, or `archive.npz/member.npy`), for error messages.
    public let source: String

    /// Reads a `.npy` file (plain or gzipped).
    public init(path: String) throws {
        let bytes = try ByteReader(path: path).readAll()
        try self.init(bytes: bytes, file: path)
    }

    /// Parses the bytes of a `.npy` file; `file` names it in errors.
    public init(bytes: [UInt8], file: String) throws {
        let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]   // \x93NUMPY
        guard bytes.count >= 10 else {
            throw DataError(.truncated, file: file, at: .header, expected: "at least 10 bytes of .npy preamble", found: "\(bytes.count)")
        }
        guard Array(bytes[0..<6]) == magic else {
            throw DataError(.badMagic, file: file, at: .header, expected: "the .npy magic \\x93NUMPY",
                            found: bytes[0..<6].map { hex($0) }.joined(separator: " "))
        }
        let major = bytes[6]
        let headerLength: Int, headerStart: Int
        switch major {
        case 1:
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
            headerStart = 10
        case 2, 3:
            guard bytes.count >= 12 else {
                throw DataError(.truncated, file: file, at: .header, expected: "a 4-byte header length", found: "end of file")
            }
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24
            headerStart = 12
        default:
            throw DataError(.unsupported, file: file, at: .header, expected: ".npy format version 1.0, 2.0 or 3.0",
                            found: "\(major).\(bytes[7])")
        }
        guard headerStart + headerLength <= bytes.count else {
            throw DataError(.truncated, file: file, at: .header, expected: "a \(headerLength)-byte header",
                            found: "\(bytes.count - headerStart) bytes left in the file")
        }
        let text = String(decoding: bytes[headerStart..<(headerStart + headerLength)], as: UTF8.self)
        let dict: [(String, PyLiteral)]
        do {
            var parser = PyLiteralParser(text)
            guard case .dict(let d) = try parser.parseTop() else { throw PyLiteralParser.Failure(message: "a dict") }
            dict = d
        } catch let f as PyLiteralParser.Failure {
            throw DataError(.badHeader, file: file, at: .header, expected: "a header dict such as {'descr': '<f4', "
                            + "'fortran_order': False, 'shape': (2, 3), } (\(f.message))", found: excerpt(text, limit: 80))
        }
        func value(_ key: String) throws -> PyLiteral {
            guard let v = dict.first(where: { $0.0 == key })?.1 else {
                throw DataError(.badHeader, file: file, at: .header, expected: "the key '\(key)' in the header dict",
                                found: excerpt(text, limit: 80))
            }
            return v
        }
        guard case .string(let descr) = try value("descr") else {
            throw DataError(.unsupported, file: file, at: .header, expected: "a simple dtype string for 'descr'",
                            found: "a structured dtype")
        }
        guard case .bool(let fortran) = try value("fortran_order") else {
            throw DataError(.badHeader, file: file, at: .header, expected: "True or False for 'fortran_order'")
        }
        guard case .tuple(let dims) = try value("shape") else {
            throw DataError(.badHeader, file: file, at: .header, expected: "a tuple of integers for 'shape'")
        }
        var shape: [Int] = []
        var count = 1
        for d in dims {
            guard case .int(let n) = d, n >= 0 else {
                throw DataError(.badHeader, file: file, at: .header, expected: "non-negative integers in 'shape'",
                                found: excerpt(text, limit: 80))
            }
            let (c, o) = count.multipliedReportingOverflow(by: n)
            guard !o, c < 1 << 48 else {
                throw DataError(.badHeader, file: file, at: .header, expected: "a shape of plausible size", found: "\(dims)")
            }
            count = c
            shape.append(n)
        }
        let type = try NPYScalar(descr: descr, file: file)
        let start = headerStart + headerLength
        let expected = count * type.size
        if bytes.count - start != expected {
            throw DataError(bytes.count - start < expected ? .truncated : .sizeMismatch, file: file,
                            at: .record(type.size == 0 ? 0 : (bytes.count - start) / type.size),
                            expected: "\(expected) bytes of data for shape \(shape) of \(descr)", found: "\(bytes.count - start)")
        }
        self.descr = descr
        self.shape = shape
        self.fortranOrder = fortran
        self.data = Array(bytes[start...])
        self.source = file
    }

    /// The Ember dtype this array converts to.
    public var dtype: DType { (try? NPYScalar(descr: descr, file: "")).map(\.dtype) ?? .float32 }

    /// The array as a tensor (C order) of `dtype`.
    /// - Throws: `DataError(.badValue)` when a uint64 value does not fit int64.
    public func tensor() throws -> Tensor {
        let type = try NPYScalar(descr: descr, file: "")
        let n = shape.reduce(1, *)
        let storedShape = fortranOrder ? Array(shape.reversed()) : shape
        let t: Tensor = try data.withUnsafeBufferPointer { b in
            switch type.dtype {
            case .float32: return Tensor((0..<n).map { Float(type.double(b, $0)) }, shape: storedShape)
            case .float64: return Tensor((0..<n).map { type.double(b, $0) }, shape: storedShape)
            case .int32: return Tensor((0..<n).map { Int32(type.integer(b, $0)) }, shape: storedShape)
            case .bool: return Tensor((0..<n).map { b[$0] != 0 }, shape: storedShape)
            // (No .npy type maps to these today: f2 reads as float32, u1 as int32.)
            case .uint8, .float16, .bfloat16:
                return Tensor((0..<n).map { type.double(b, $0) }, shape: storedShape, dtype: type.dtype)
            case .int64:
                if type.kind == "u" && type.size == 8 {
                    for i in 0..<n where type.unsigned(b, i) > UInt64(Int64.max) {
                        throw DataError(.badValue, file: source, at: .record(i), expected: "a uint64 value that fits int64",
                                        found: "\(type.unsigned(b, i))")
                    }
                }
                return Tensor((0..<n).map { Int64(truncatingIfNeeded: type.integer(b, $0)) }, shape: storedShape)
            }
        }
        if fortranOrder && shape.count > 1 {
            return t.permuted(Array((0..<shape.count).reversed())).contiguous()
        }
        return t
    }
}

/// A NumPy scalar type: byte order, kind (f, i, u, b) and size.
struct NPYScalar {
    let bigEndian: Bool
    let kind: Character
    let size: Int

    init(descr: String, file: String) throws {
        let chars = Array(descr)
        let ok: Bool
        if chars.count >= 3, "<>|=".contains(chars[0]), let s = Int(String(chars[2...])) {
            bigEndian = chars[0] == ">"
            kind = chars[1]
            size = s
            switch kind {
            case "f": ok = [2, 4, 8].contains(size)
            case "i", "u": ok = [1, 2, 4, 8].contains(size)
            case "b": ok = size == 1
            default: ok = false
            }
        } else {
            bigEndian = false; kind = "?"; size = 0; ok = false
        }
        guard ok else {
            throw DataError(.unsupported, file: file, at: .header,
                            expected: "a numeric dtype (f2 f4 f8 i1 i2 i4 i8 u1 u2 u4 u8 b1)", found: excerpt(descr))
        }
    }

    var dtype: DType {
        switch (kind, size) {
        case ("f", 8): return .float64
        case ("f", _): return .float32
        case ("b", _): return .bool
        case ("i", 8), ("u", 4), ("u", 8): return .int64
        default: return .int32
        }
    }

    @inline(__always)
    func unsigned(_ b: UnsafeBufferPointer<UInt8>, _ i: Int) -> UInt64 {
        var v: UInt64 = 0
        let base = i * size
        for k in 0..<size {
            let byte = UInt64(b[base + (bigEndian ? k : size - 1 - k)])
            v = v << 8 | byte
        }
        return v
    }

    @inline(__always)
    func integer(_ b: UnsafeBufferPointer<UInt8>, _ i: Int) -> Int64 {
        let u = unsigned(b, i)
        if kind == "u" || kind == "b" { return Int64(truncatingIfNeeded: u) }
        let shift = UInt64(64 - 8 * size)
        return Int64(bitPattern: u << shift) >> Int64(shift)   // sign-extend
    }

    @inline(__always)
    func double(_ b: UnsafeBufferPointer<UInt8>, _ i: Int) -> Double {
        switch kind {
        case "f":
            let u = unsigned(b, i)
            switch size {
            case 2: return halfToDouble(UInt16(u))
            case 4: return Double(Float(bitPattern: UInt32(u)))
            default: return Double(bitPattern: u)
            }
        case "u", "b": return Double(unsigned(b, i))
        default: return Double(integer(b, i))
        }
    }
}

/// IEEE half-precision bits to Double (subnormals, infinities and NaN included).
func halfToDouble(_ h: UInt16) -> Double {
    let sign: Double = h & 0x8000 != 0 ? -1 : 1
    let exp = Int((h >> 10) & 0x1F), frac = Double(h & 0x3FF)
    if exp == 0 { return sign * frac * 0x1p-24 }
    if exp == 31 { return frac == 0 ? sign * .infinity : .nan }
    return sign * (1 + frac / 1024) * Double(sign: .plus, exponent: exp - 15, significand: 1)
}
