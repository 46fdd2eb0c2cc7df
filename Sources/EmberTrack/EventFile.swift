import Foundation

/// CRC-32C (Castagnoli), the checksum of TFRecord framing: reflected polynomial 0x82F63B78, initial value and
/// final xor 0xFFFFFFFF. `CRC32C.checksum(Array("123456789".utf8)) == 0xE3069283`.
public enum CRC32C {
    static let table: [UInt32] = (0..<256).map { i -> UInt32 in
        var c = UInt32(i)
        for _ in 0..<8 { c = c & 1 != 0 ? (c >> 1) ^ 0x82F6_3B78 : c >> 1 }
        return c
    }

    /// The CRC-32C of `data`.
    public static func checksum<C: Collection>(_ data: C) -> UInt32 where C.Element == UInt8 {
        var c: UInt32 = 0xFFFF_FFFF
        table.withUnsafeBufferPointer { t in
            for b in data { c = t[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
        }
        return c ^ 0xFFFF_FFFF
    }

    /// The masked form stored in TFRecord files: rotate right by 15 bits and add 0xA282EAD8.
    public static func masked(_ crc: UInt32) -> UInt32 {
        ((crc >> 15) | (crc << 17)) &+ 0xA282_EAD8
    }
}

/// TFRecord framing: `u64 LE length | u32 LE masked crc32c(length) | data | u32 LE masked crc32c(data)`.
public enum TFRecord {
    /// One framed record holding `data`.
    public static func frame(_ data: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(data.count + 16)
        var len = UInt64(data.count).littleEndian
        let lenBytes = withUnsafeBytes(of: &len) { Array($0) }
        out += lenBytes
        append32(&out, CRC32C.masked(CRC32C.checksum(lenBytes)))
        out += data
        append32(&out, CRC32C.masked(CRC32C.checksum(data)))
        return out
    }

    /// Splits framed bytes back into records, checking both checksums; `nil` if the bytes are malformed.
    public static func unframe(_ bytes: [UInt8]) -> [[UInt8]]? {
        var records: [[UInt8]] = [], i = 0
        func u32(_ at: Int) -> UInt32 { (0..<4).reduce(0) { $0 | UInt32(bytes[at + $1]) << (8 * UInt32($1)) } }
        while i < bytes.count {
            guard i + 16 <= bytes.count else { return nil }
            let len = (0..<8).reduce(UInt64(0)) { $0 | UInt64(bytes[i + $1]) << (8 * UInt64($1)) }
            guard CRC32C.masked(CRC32C.checksum(bytes[i..<i + 8])) == u32(i + 8),
                  len <= UInt64(bytes.count - i - 16) else { return nil }
            let start = i + 12, end = start + Int(len)
            guard CRC32C.masked(CRC32C.checksum(bytes[start..<end])) == u32(end) else { return nil }
            records.append(Array(bytes[start..<end]))
            i = end + 4
        }
        return records
    }

    static func append32(_ out: inout [UInt8], _ v: UInt32) {
        withUnsafeBytes(of: v.littleEndian) { out += $0 }
    }
}

/// Errors from the tracking writers and clients; each names the file, URL or field concerned.
public enum TrackingError: Error, CustomStringConvertible, Equatable {
    /// A file or folder could not be created or written.
    case io(path: String, reason: String)
    /// A value cannot be represented (e.g. an image whose pixel count does not match its size).
    case invalidArgument(String)
    /// The tracking server answered with an error or could not be reached.
    case server(url: String, status: Int, message: String)
    /// A tracking URI or artifact URI this client does not handle.
    case unsupportedURI(String)

    /// A one-line message naming the file, URL or value.
    public var description: String {
        switch self {
        case .io(let p, let r): return "\(p): \(r)"
        case .invalidArgument(let m): return m
        case .server(let u, let s, let m): return s == 0 ? "\(u): \(m)" : "\(u): HTTP \(s): \(m)"
        case .unsupportedURI(let u): return "unsupported URI: \(u)"
        }
    }
}

/// Appends framed records to one TensorBoard event file, buffering in memory until `flush()`.
final class EventFile {
    let url: URL
    private let handle: FileHandle
    private var buffer: [UInt8] = []
    private var closed = false

    init(url: URL) throws {
        self.url = url
        let fm = FileManager.default
        do {
            try fm.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        } catch {
            throw TrackingError.io(path: url.deletingLastPathComponent().path, reason: "cannot create folder: \(error.localizedDescription)")
        }
        guard fm.createFile(atPath: url.path, contents: nil), let h = FileHandle(forWritingAtPath: url.path) else {
            throw TrackingError.io(path: url.path, reason: "cannot create event file")
        }
        handle = h
    }

    func append(_ record: [UInt8]) throws {
        precondition(!closed, "EventFile: append after close (\(url.path))")
        buffer += TFRecord.frame(record)
        if buffer.count >= 1 << 20 { try flush() }
    }

    func flush() throws {
        guard !buffer.isEmpty, !closed else { return }
        do {
            try handle.write(contentsOf: buffer)
            try handle.synchronize()
        } catch {
            throw TrackingError.io(path: url.path, reason: "write failed: \(error.localizedDescription)")
        }
        buffer.removeAll(keepingCapacity: true)
    }

    func close() throws {
        guard !closed else { return }
        defer { closed = true; try? handle.close() }
        try flush()
    }

    deinit { try? close() }
}
