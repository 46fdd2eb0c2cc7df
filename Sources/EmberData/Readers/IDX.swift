import EmberCore

/// The element types of the IDX format (the third byte of its magic number).
public enum IDXElementType: UInt8, Sendable, CaseIterable {
    /// Unsigned byte (MNIST and Fashion-MNIST images and labels).
    case uint8 = 0x08
    /// Signed byte.
    case int8 = 0x09
    /// Big-endian 16-bit integer.
    case int16 = 0x0B
    /// Big-endian 32-bit integer.
    case int32 = 0x0C
    /// Big-endian IEEE float.
    case float32 = 0x0D
    /// Big-endian IEEE double.
    case float64 = 0x0E

    /// Bytes per element.
    public var byteSize: Int {
        switch self {
        case .uint8, .int8: return 1
        case .int16: return 2
        case .int32, .float32: return 4
        case .float64: return 8
        }
    }
}

/// The header of an IDX file: element type and dimensions. The first dimension counts records (images, labels).
public struct IDXHeader: Sendable, Equatable {
    /// Type of every element.
    public var elementType: IDXElementType
    /// All dimensions, records first (e.g. `[60000, 28, 28]`).
    public var shape: [Int]

    /// Number of records (the first dimension).
    public var recordCount: Int { shape[0] }
    /// Shape of one record (e.g. `[28, 28]`; `[]` for labels).
    public var recordShape: [Int] { Array(shape.dropFirst()) }
    /// Bytes in one record.
    public var recordByteCount: Int { recordShape.reduce(1, *) * elementType.byteSize }
    /// Bytes taken by the header itself.
    public var byteCount: Int { 4 + 4 * shape.count }
    /// Bytes of data the header promises.
    public var dataByteCount: Int { recordCount * recordByteCount }
}

/// Reads IDX files (the format of MNIST and Fashion-MNIST), plain or gzipped, one record at a time.
///
/// ```swift
/// let reader = try IDXReader(path: "train-images-idx3-ubyte.gz")
/// print(reader.header.shape)                 // [60000, 28, 28]
/// while let image = try reader.nextRecord() { ... }   // 784 raw bytes each, big-endian for wider types
/// ```
/// `IDXReader.read(path:)` loads the whole file. Bad magic numbers, impossible shapes and files whose size does
/// not match their header throw `DataError` naming the file and the record.
public final class IDXReader {
    /// The file's header.
    public let header: IDXHeader
    /// Index of the next record `nextRecord()` returns.
    public private(set) var recordIndex = 0
    private let input: ByteReader

    /// The path being read.
    public var path: String { input.path }

    /// Opens `path` and reads its header.
    /// - Throws: `DataError` for a missing file, a bad magic number, a bad header, or (for uncompressed files) a size
    ///   that does not match the header.
    public init(path: String) throws {
        input = try ByteReader(path: path)
        let magic = try input.read(exactly: 4, what: "IDX magic number", at: .header)
        guard magic[0] == 0, magic[1] == 0, let type = IDXElementType(rawValue: magic[2]) else {
            throw DataError(.badMagic, file: path, at: .header,
                            expected: "an IDX magic number 00 00 <type 08/09/0B/0C/0D/0E> <dims>",
                            found: magic.map { hex($0) }.joined(separator: " "))
        }
        let dims = Int(magic[3])
        guard dims >= 1 else {
            throw DataError(.badHeader, file: path, at: .header, expected: "at least one dimension", found: "0")
        }
        let raw = try input.read(exactly: 4 * dims, what: "\(dims) IDX dimensions", at: .header)
        var shape: [Int] = []
        var total = type.byteSize
        for d in 0..<dims {
            let v = Int(raw[4 * d]) << 24 | Int(raw[4 * d + 1]) << 16 | Int(raw[4 * d + 2]) << 8 | Int(raw[4 * d + 3])
            let (t, overflow) = total.multipliedReportingOverflow(by: v)
            guard !overflow, t < 1 << 48 else {
                throw DataError(.badHeader, file: path, at: .header, expected: "dimensions of a plausible size",
                                found: "\(shape + [v])...")
            }
            total = t
            shape.append(v)
        }
        header = IDXHeader(elementType: type, shape: shape)
        if !input.isGzip, let size = input.fileSize, size != header.byteCount + header.dataByteCount {
            let have = size - header.byteCount
            throw DataError(have < header.dataByteCount ? .truncated : .sizeMismatch, file: path,
                            at: have < header.dataByteCount ? .record(Swift.max(0, have) / Swift.max(1, header.recordByteCount)) : nil,
                            expected: "\(header.dataByteCount) bytes of data for shape \(shape) of \(type)",
                            found: "\(have)")
        }
    }

    /// The raw bytes of the next record (big-endian for multi-byte types), or nil after the last one.
    /// - Throws: `DataError(.truncated)` naming the record when the data ends inside it.
    public func nextRecord() throws -> [UInt8]? {
        guard recordIndex < header.recordCount else { return nil }
        let r = try input.read(exactly: header.recordByteCount, what: "record \(recordIndex) (shape \(header.recordShape))",
                               at: .record(recordIndex))
        recordIndex += 1
        if recordIndex == header.recordCount { try checkEnd() }
        return r
    }

    /// All remaining records.
    /// - Throws: `DataError` when the data is shorter or longer than the header says.
    public func readRemaining() throws -> IDXArray {
        let start = recordIndex
        let left = (header.recordCount - start) * header.recordByteCount
        var bytes: [UInt8] = []
        // Grow with the data actually present, so a lying header cannot force a huge allocation.
        bytes.reserveCapacity(input.isGzip ? Swift.min(left, 1 << 26) : left)
        var chunk = [UInt8](repeating: 0, count: Swift.min(Swift.max(left, 1), 1 << 22))
        while bytes.count < left {
            let want = Swift.min(chunk.count, left - bytes.count)
            let n = try chunk.withUnsafeMutableBytes { try input.read(into: UnsafeMutableRawBufferPointer(rebasing: $0[0..<want])) }
            bytes.append(contentsOf: chunk[0..<n])
            if n < want {
                let rec = recordIndex + bytes.count / Swift.max(1, header.recordByteCount)
                throw DataError(.truncated, file: path, at: .record(rec),
                                expected: "\(header.dataByteCount) bytes of data for shape \(header.shape)",
                                found: "\(header.dataByteCount - left + bytes.count) before the end of the data")
            }
        }
        recordIndex = header.recordCount
        try checkEnd()
        var h = header
        h.shape[0] = header.recordCount - start
        return IDXArray(header: h, bytes: bytes)
    }

    /// Reads a whole IDX file (plain or gzipped).
    public static func read(path: String) throws -> IDXArray {
        try IDXReader(path: path).readRemaining()
    }

    private func checkEnd() throws {
        if try !input.atEnd() {
            throw DataError(.sizeMismatch, file: path, at: .byte(input.offset),
                            expected: "the data to end after \(header.recordCount) records of shape \(header.recordShape)",
                            found: "extra bytes")
        }
    }
}

/// A whole IDX file in memory: its header and the raw (big-endian) element bytes.
public struct IDXArray: Sendable {
    /// Element type and shape.
    public let header: IDXHeader
    /// The element bytes, row-major, big-endian for multi-byte types.
    public let bytes: [UInt8]

    /// Shape of the array.
    public var shape: [Int] { header.shape }

    /// The elements as a tensor of `dtype` (float32 by default; int64 suits labels).
    public func tensor(dtype: DType = .float32) -> Tensor {
        if header.elementType == .uint8 {
            switch dtype {
            case .float32: return Tensor(bytes.map { Float($0) }, shape: shape)
            case .int64: return Tensor(bytes.map { Int64($0) }, shape: shape)
            case .uint8: return Tensor(bytes, shape: shape)
            default: break
            }
        }
        switch dtype {
        case .float32: return Tensor(doubles().map { Float($0) }, shape: shape)
        case .float64: return Tensor(doubles(), shape: shape)
        case .int32: return Tensor(doubles().map { Int32($0) }, shape: shape)
        case .int64: return Tensor(doubles().map { Int64($0) }, shape: shape)
        case .bool: return Tensor(doubles().map { $0 != 0 }, shape: shape)
        case .uint8, .float16, .bfloat16: return Tensor(doubles(), shape: shape, dtype: dtype)
        }
    }

    /// The elements converted to Double, row-major.
    public func doubles() -> [Double] {
        let n = shape.reduce(1, *)
        return bytes.withUnsafeBufferPointer { b -> [Double] in
            switch header.elementType {
            case .uint8: return b.map { Double($0) }
            case .int8: return b.map { Double(Int8(bitPattern: $0)) }
            case .int16: return (0..<n).map { Double(Int16(bitPattern: UInt16(b[2 * $0]) << 8 | UInt16(b[2 * $0 + 1]))) }
            case .int32: return (0..<n).map { Double(Int32(bitPattern: bigEndian32(b, 4 * $0))) }
            case .float32: return (0..<n).map { Double(Float(bitPattern: bigEndian32(b, 4 * $0))) }
            case .float64:
                return (0..<n).map { i in
                    Double(bitPattern: UInt64(bigEndian32(b, 8 * i)) << 32 | UInt64(bigEndian32(b, 8 * i + 4)))
                }
            }
        }
    }
}

@inline(__always)
func bigEndian32(_ b: UnsafeBufferPointer<UInt8>, _ i: Int) -> UInt32 {
    UInt32(b[i]) << 24 | UInt32(b[i + 1]) << 16 | UInt32(b[i + 2]) << 8 | UInt32(b[i + 3])
}

@inline(__always)
func hex(_ b: UInt8) -> String {
    let digits = Array("0123456789ABCDEF")
    return String([digits[Int(b >> 4)], digits[Int(b & 15)]])
}
