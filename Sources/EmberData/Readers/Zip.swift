import Foundation

/// A read-only zip archive (what `.npz` files are): the central directory is read on open, and each member is read,
/// inflated (stored and deflate methods) and CRC-checked on demand, so only the members asked for enter memory.
/// Zip64 sizes and offsets are understood. Every bound is checked against the file size: damaged archives throw
/// `DataError`, never crash.
final class ZipArchive {
    struct Entry {
        let name: String
        let method: UInt16
        let flags: UInt16
        let crc: UInt32
        let compressedSize: Int
        let size: Int
        let localHeaderOffset: Int
    }

    let path: String
    let entries: [Entry]
    private let fd: Int32
    private let fileSize: Int

    init(path: String) throws {
        self.path = path
        fd = open(path, O_RDONLY)
        if fd < 0 {
            let e = errno
            throw DataError(e == ENOENT ? .fileNotFound : .io, file: path, expected: "a readable file", found: String(cString: strerror(e)))
        }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            close(fd)
            throw DataError(.io, file: path, expected: "a file whose size can be read")
        }
        fileSize = Int(st.st_size)
        do {
            entries = try Self.readDirectory(fd: fd, fileSize: fileSize, path: path)
        } catch {
            close(fd)
            throw error
        }
    }

    deinit { close(fd) }

    /// Reads `count` bytes at `offset`, or throws naming `what`.
    private static func read(_ fd: Int32, _ offset: Int, _ count: Int, fileSize: Int, path: String, what: String,
                             at location: DataError.Location? = nil) throws -> [UInt8] {
        guard offset >= 0, count >= 0, offset <= fileSize, count <= fileSize - offset else {
            throw DataError(.truncated, file: path, at: location ?? .byte(Swift.max(0, offset)),
                            expected: "\(count) bytes of \(what) at offset \(offset)", found: "a \(fileSize)-byte file")
        }
        var out = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let n = out.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + done, count - done, off_t(offset + done)) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 {
                throw DataError(.io, file: path, at: location ?? .byte(offset + done), expected: "\(what) to be readable",
                                found: n < 0 ? String(cString: strerror(errno)) : "the end of the file")
            }
            done += n
        }
        return out
    }

    private static func readDirectory(fd: Int32, fileSize: Int, path: String) throws -> [Entry] {
        // The end-of-central-directory record is in the last 22 + 65535 bytes.
        let tailLength = Swift.min(fileSize, 22 + 65535)
        let tail = try read(fd, fileSize - tailLength, tailLength, fileSize: fileSize, path: path, what: "the zip directory")
        var eocd = -1
        if tail.count >= 22 {
            for i in stride(from: tail.count - 22, through: 0, by: -1)
            where tail[i] == 0x50 && tail[i + 1] == 0x4B && tail[i + 2] == 0x05 && tail[i + 3] == 0x06 {
                eocd = i
                break
            }
        }
        guard eocd >= 0 else {
            throw DataError(.badMagic, file: path, expected: "a zip archive (end-of-central-directory signature PK\\5\\6)",
                            found: fileSize < 22 ? "a \(fileSize)-byte file" : "no zip directory")
        }
        var count = Int(le16(tail, eocd + 10))
        var dirSize = Int(le32(tail, eocd + 12))
        var dirOffset = Int(le32(tail, eocd + 16))
        if count == 0xFFFF || dirSize == 0xFFFF_FFFF || dirOffset == 0xFFFF_FFFF {
            // Zip64: a locator just before the record points at the zip64 end-of-central-directory record.
            let locatorAt = fileSize - tailLength + eocd - 20
            let loc = try read(fd, locatorAt, 20, fileSize: fileSize, path: path, what: "the zip64 locator")
            guard le32(loc, 0) == 0x0706_4B50 else {
                throw DataError(.corrupt, file: path, at: .byte(locatorAt), expected: "a zip64 end-of-directory locator")
            }
            let recAt = try checkedInt(le64(loc, 8), path)
            let rec = try read(fd, recAt, 56, fileSize: fileSize, path: path, what: "the zip64 directory record")
            guard le32(rec, 0) == 0x0606_4B50 else {
                throw DataError(.corrupt, file: path, at: .byte(recAt), expected: "a zip64 end-of-directory record")
            }
            count = try checkedInt(le64(rec, 32), path)
            dirSize = try checkedInt(le64(rec, 40), path)
            dirOffset = try checkedInt(le64(rec, 48), path)
        }
        let dir = try read(fd, dirOffset, dirSize, fileSize: fileSize, path: path, what: "the zip central directory")
        var entries: [Entry] = []
        var p = 0
        for k in 0..<count {
            guard p + 46 <= dir.count, le32(dir, p) == 0x0201_4B50 else {
                throw DataError(.corrupt, file: path, at: .byte(dirOffset + p),
                                expected: "central directory entry \(k) of \(count)", found: "bad or missing signature")
            }
            let nameLen = Int(le16(dir, p + 28)), extraLen = Int(le16(dir, p + 30)), commentLen = Int(le16(dir, p + 32))
            guard p + 46 + nameLen + extraLen + commentLen <= dir.count else {
                throw DataError(.truncated, file: path, at: .byte(dirOffset + p), expected: "central directory entry \(k) of \(count)")
            }
            let name = String(decoding: dir[(p + 46)..<(p + 46 + nameLen)], as: UTF8.self)
            var compressed = UInt64(le32(dir, p + 20)), size = UInt64(le32(dir, p + 24)), offset = UInt64(le32(dir, p + 42))
            // Zip64 extra field (id 1): the 64-bit values of those fields that are 0xFFFFFFFF, in this order.
            var e = p + 46 + nameLen
            let extraEnd = e + extraLen
            while e + 4 <= extraEnd {
                let id = le16(dir, e), len = Int(le16(dir, e + 2))
                guard e + 4 + len <= extraEnd else { break }
                if id == 1 {
                    var q = e + 4
                    func next() -> UInt64? {
                        guard q + 8 <= e + 4 + len else { return nil }
                        defer { q += 8 }
                        return le64(dir, q)
                    }
                    if size == 0xFFFF_FFFF, let v = next() { size = v }
                    if compressed == 0xFFFF_FFFF, let v = next() { compressed = v }
                    if offset == 0xFFFF_FFFF, let v = next() { offset = v }
                }
                e += 4 + len
            }
            entries.append(Entry(name: name, method: le16(dir, p + 10), flags: le16(dir, p + 8), crc: le32(dir, p + 16),
                                 compressedSize: try checkedInt(compressed, path), size: try checkedInt(size, path),
                                 localHeaderOffset: try checkedInt(offset, path)))
            p += 46 + nameLen + extraLen + commentLen
        }
        return entries
    }

    /// The uncompressed bytes of `entry`.
    func contents(of entry: Entry) throws -> [UInt8] {
        let at = DataError.Location.member(entry.name)
        if entry.flags & 1 != 0 {
            throw DataError(.unsupported, file: path, at: at, expected: "an unencrypted member", found: "an encrypted one")
        }
        let header = try Self.read(fd, entry.localHeaderOffset, 30, fileSize: fileSize, path: path, what: "a local header", at: at)
        guard le32(header, 0) == 0x0403_4B50 else {
            throw DataError(.corrupt, file: path, at: at, expected: "a local file header (PK\\3\\4) at offset \(entry.localHeaderOffset)")
        }
        let dataAt = entry.localHeaderOffset + 30 + Int(le16(header, 26)) + Int(le16(header, 28))
        // Refuse sizes the file cannot hold before allocating anything.
        let raw = try Self.read(fd, dataAt, entry.compressedSize, fileSize: fileSize, path: path, what: "member data", at: at)
        let bytes: [UInt8]
        switch entry.method {
        case 0:
            guard entry.compressedSize == entry.size else {
                throw DataError(.sizeMismatch, file: path, at: at, expected: "\(entry.size) stored bytes", found: "\(entry.compressedSize)")
            }
            bytes = raw
        case 8:
            // Deflate expands at most ~1032:1; anything claiming more is corrupt.
            guard entry.size <= entry.compressedSize * 1040 + 1024 else {
                throw DataError(.corrupt, file: path, at: at, expected: "a plausible uncompressed size",
                                found: "\(entry.size) bytes from \(entry.compressedSize)")
            }
            bytes = try Zlib.inflateRaw(raw, expectedSize: entry.size, file: path, member: entry.name)
        default:
            throw DataError(.unsupported, file: path, at: at, expected: "compression method 0 (stored) or 8 (deflate)",
                            found: "method \(entry.method)")
        }
        let crc = Zlib.crc32(bytes)
        guard crc == entry.crc else {
            throw DataError(.corrupt, file: path, at: at, expected: "CRC-32 \(String(entry.crc, radix: 16))",
                            found: String(crc, radix: 16))
        }
        return bytes
    }

    private static func checkedInt(_ v: UInt64, _ path: String) throws -> Int {
        guard v < 1 << 48 else { throw DataError(.corrupt, file: path, expected: "sizes and offsets of plausible size", found: "\(v)") }
        return Int(v)
    }
}

@inline(__always) func le16(_ b: [UInt8], _ i: Int) -> UInt16 { UInt16(b[i]) | UInt16(b[i + 1]) << 8 }
@inline(__always) func le32(_ b: [UInt8], _ i: Int) -> UInt32 {
    UInt32(b[i]) | UInt32(b[i + 1]) << 8 | UInt32(b[i + 2]) << 16 | UInt32(b[i + 3]) << 24
}
@inline(__always) func le64(_ b: [UInt8], _ i: Int) -> UInt64 { UInt64(le32(b, i)) | UInt64(le32(b, i + 4)) << 32 }
