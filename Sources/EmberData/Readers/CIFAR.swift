/// Reads CIFAR-10 binary batches (`data_batch_1.bin` ... `data_batch_5.bin`, `test_batch.bin`), plain or gzipped,
/// one record at a time.
///
/// Each record is 1 label byte (0...9) followed by 3072 pixel bytes: the 1024 red, then 1024 green, then 1024 blue
/// values of a 32x32 image, row-major (CHW). A file that ends inside a record, or a label outside the class range,
/// throws `DataError` naming the file and the record.
public final class CIFARReader {
    /// Channels, height and width of every image.
    public static let imageShape = [3, 32, 32]
    /// Bytes of pixels per record.
    public static let pixelCount = 3072
    /// Bytes per record (label + pixels).
    public static let recordByteCount = 3073

    /// Labels must lie in `0..<classCount`.
    public let classCount: Int
    /// Index of the next record `nextRecord()` returns.
    public private(set) var recordIndex = 0
    private let input: ByteReader

    /// The path being read.
    public var path: String { input.path }

    /// Opens a CIFAR-10 binary batch.
    /// - Throws: `DataError` for a missing file, or (for uncompressed files) a size that is not a whole number of
    ///   3073-byte records.
    public init(path: String, classCount: Int = 10) throws {
        precondition(classCount > 0 && classCount <= 256, "CIFARReader: classCount must be in 1...256, got \(classCount)")
        self.classCount = classCount
        input = try ByteReader(path: path)
        if !input.isGzip, let size = input.fileSize, size % Self.recordByteCount != 0 {
            throw DataError(.truncated, file: path, at: .record(size / Self.recordByteCount),
                            expected: "a whole number of \(Self.recordByteCount)-byte records (1 label byte + 3072 pixels)",
                            found: "\(size) bytes, \(size % Self.recordByteCount) left over")
        }
    }

    /// The next record's label and its 3072 CHW pixel bytes, or nil at the end of the file.
    public func nextRecord() throws -> (label: Int, pixels: [UInt8])? {
        let rec = try input.read(upTo: Self.recordByteCount)
        if rec.isEmpty { return nil }
        try check(rec, recordIndex)
        recordIndex += 1
        return (Int(rec[0]), Array(rec[1...]))
    }

    /// All remaining records: labels and pixels (each image 3072 bytes, CHW, concatenated).
    public func readRemaining() throws -> (labels: [Int32], pixels: [UInt8]) {
        var labels: [Int32] = []
        var pixels: [UInt8] = []
        if !input.isGzip, let size = input.fileSize {
            labels.reserveCapacity(size / Self.recordByteCount)
            pixels.reserveCapacity(size / Self.recordByteCount * Self.pixelCount)
        }
        let perChunk = 256
        var chunk = [UInt8](repeating: 0, count: perChunk * Self.recordByteCount)
        while true {
            let n = try chunk.withUnsafeMutableBytes { try input.read(into: $0) }
            let whole = n / Self.recordByteCount
            for r in 0..<whole {
                let base = r * Self.recordByteCount
                try check(chunk[base..<(base + Self.recordByteCount)], recordIndex)
                labels.append(Int32(chunk[base]))
                pixels.append(contentsOf: chunk[(base + 1)..<(base + Self.recordByteCount)])
                recordIndex += 1
            }
            if n < chunk.count {
                if n % Self.recordByteCount != 0 {
                    try check(chunk[(whole * Self.recordByteCount)..<n], recordIndex)
                }
                return (labels, pixels)
            }
        }
    }

    /// Reads a whole CIFAR-10 binary batch.
    public static func read(path: String, classCount: Int = 10) throws -> (labels: [Int32], pixels: [UInt8]) {
        try CIFARReader(path: path, classCount: classCount).readRemaining()
    }

    private func check(_ rec: ArraySlice<UInt8>, _ index: Int) throws {
        if rec.count < Self.recordByteCount {
            throw DataError(.truncated, file: path, at: .record(index),
                            expected: "\(Self.recordByteCount) bytes (1 label byte + 3072 pixels)",
                            found: "\(rec.count) before the end of the data")
        }
        let label = Int(rec[rec.startIndex])
        if label >= classCount {
            throw DataError(.badValue, file: path, at: .record(index), expected: "a label in 0...\(classCount - 1)",
                            found: "\(label)")
        }
    }

    private func check(_ rec: [UInt8], _ index: Int) throws { try check(rec[...], index) }
}
