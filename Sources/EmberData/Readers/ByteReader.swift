import CEmberZlib
import Foundation

/// Reads a file from front to back in fixed-size chunks, inflating gzip transparently.
///
/// Compression is recognised by content (the gzip signature `1f 8b`), not by the file name, so `train.idx` and
/// `train.idx.gz` read the same. Concatenated gzip members are read as one stream, as `gunzip` does. Memory use is
/// bounded by the chunk size, whatever the file size. Errors name the file and the (decompressed) byte offset.
///
/// A reader belongs to one thread at a time.
public final class ByteReader {
    /// The path this reader reads.
    public let path: String
    /// Whether the file is gzip-compressed.
    public private(set) var isGzip = false
    /// Bytes delivered so far (decompressed bytes for gzip files).
    public private(set) var offset = 0

    private var fd: Int32
    private let raw: UnsafeMutableRawBufferPointer
    private var rawStart = 0, rawEnd = 0
    private var rawEOF = false
    private var zs: UnsafeMutablePointer<z_stream>?
    private var memberEnded = false
    private static let chunk = 1 << 16

    /// Opens `path` for reading.
    /// - Throws: `DataError` (`.fileNotFound`, `.io`, `.corrupt` when a gzip header is bad).
    public init(path: String) throws {
        self.path = path
        fd = open(path, O_RDONLY)
        if fd < 0 {
            let e = errno
            throw DataError(e == ENOENT ? .fileNotFound : .io, file: path, expected: "a readable file",
                            found: String(cString: strerror(e)))
        }
        raw = .allocate(byteCount: Self.chunk, alignment: 16)
        while rawEnd < 2 && !rawEOF { try refill() }
        if rawEnd >= 2 && raw[0] == 0x1F && raw[1] == 0x8B {
            isGzip = true
            try startInflate()
        }
    }

    deinit {
        if let zs {
            inflateEnd(zs)
            zs.deallocate()
        }
        if fd >= 0 { close(fd) }
        raw.deallocate()
    }

    /// The size of the file on disk in bytes (compressed size for gzip files), or nil if unknown.
    public var fileSize: Int? {
        var st = stat()
        return fstat(fd, &st) == 0 ? Int(st.st_size) : nil
    }

    /// Fills `buffer` with the next bytes. Returns the number of bytes written: fewer than `buffer.count` only at
    /// the end of the data.
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        guard buffer.count > 0, let base = buffer.baseAddress else { return 0 }
        let n = isGzip ? try inflateInto(base, buffer.count) : try copyInto(base, buffer.count)
        offset += n
        return n
    }

    /// The next `count` bytes, or fewer at the end of the data.
    public func read(upTo count: Int) throws -> [UInt8] {
        precondition(count >= 0, "ByteReader.read(upTo:): count must be non-negative, got \(count)")
        var n = 0
        let out = try [UInt8](unsafeUninitializedCapacity: count) { buf, initialized in
            n = try read(into: UnsafeMutableRawBufferPointer(buf))
            initialized = n
        }
        return out
    }

    /// Exactly the next `count` bytes.
    /// - Throws: `DataError(.truncated)` at `location` naming `what` when the data ends first.
    public func read(exactly count: Int, what: @autoclosure () -> String, at location: DataError.Location? = nil) throws -> [UInt8] {
        let start = offset
        let out = try read(upTo: count)
        if out.count < count {
            throw DataError(.truncated, file: path, at: location ?? .byte(start),
                            expected: "\(count) bytes of \(what())", found: "\(out.count) before the end of the data")
        }
        return out
    }

    /// Whether the data has ended (reads one byte ahead when needed; never loses it).
    public func atEnd() throws -> Bool {
        if isGzip {
            // Peek by inflating one byte into a one-byte pushback slot.
            if pushback != nil { return false }
            var b: UInt8 = 0
            let n = try withUnsafeMutableBytes(of: &b) { try inflateInto($0.baseAddress!, 1) }
            if n == 0 { return true }
            pushback = b
            return false
        }
        if rawStart < rawEnd { return false }
        if rawEOF { return true }
        try refill()
        return rawStart >= rawEnd
    }

    /// All remaining bytes.
    public func readAll() throws -> [UInt8] {
        var out: [UInt8] = []
        if !isGzip, let size = fileSize { out.reserveCapacity(Swift.max(0, size - offset)) }
        var chunk = [UInt8](repeating: 0, count: Self.chunk * 4)
        while true {
            let n = try chunk.withUnsafeMutableBytes { try read(into: $0) }
            out.append(contentsOf: chunk[0..<n])
            if n < chunk.count { return out }
        }
    }

    // MARK: plain files

    private var pushback: UInt8?

    private func refill() throws {
        if rawStart < rawEnd && rawStart > 0 {
            (raw.baseAddress! + 0).copyMemory(from: raw.baseAddress! + rawStart, byteCount: rawEnd - rawStart)
        }
        rawEnd -= rawStart
        rawStart = 0
        let n = try sysRead(raw.baseAddress! + rawEnd, raw.count - rawEnd)
        if n == 0 { rawEOF = true }
        rawEnd += n
    }

    private func sysRead(_ p: UnsafeMutableRawPointer, _ count: Int) throws -> Int {
        while true {
            let n = Foundation.read(fd, p, count)
            if n >= 0 { return n }
            if errno == EINTR { continue }
            let e = errno
            throw DataError(.io, file: path, at: .byte(offset), expected: "readable data", found: String(cString: strerror(e)))
        }
    }

    private func copyInto(_ dst: UnsafeMutableRawPointer, _ count: Int) throws -> Int {
        var done = 0
        let buffered = Swift.min(count, rawEnd - rawStart)
        if buffered > 0 {
            dst.copyMemory(from: raw.baseAddress! + rawStart, byteCount: buffered)
            rawStart += buffered
            done = buffered
        }
        while done < count && !rawEOF {
            if count - done >= Self.chunk {
                let n = try sysRead(dst + done, count - done)   // large reads go straight to the caller
                if n == 0 { rawEOF = true }
                done += n
            } else {
                try refill()
                let m = Swift.min(count - done, rawEnd - rawStart)
                (dst + done).copyMemory(from: raw.baseAddress! + rawStart, byteCount: m)
                rawStart += m
                done += m
            }
        }
        return done
    }

    // MARK: gzip

    private func startInflate() throws {
        let z = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
        z.initialize(to: z_stream())
        // 15 + 16: a gzip wrapper with the largest window.
        let rc = inflateInit2_(z, 15 + 16, zlibVersion(), Int32(MemoryLayout<z_stream>.size))
        if rc != Z_OK {
            z.deallocate()
            throw DataError(.io, file: path, expected: "zlib to initialise", found: "zlib error \(rc)")
        }
        zs = z
    }

    private func inflateInto(_ dst: UnsafeMutableRawPointer, _ count: Int) throws -> Int {
        guard let zs else { return 0 }
        var done = 0
        if let b = pushback, count > 0 {
            dst.storeBytes(of: b, as: UInt8.self)
            pushback = nil
            done = 1
        }
        while done < count {
            if memberEnded {
                // Another gzip member may follow (as `cat a.gz b.gz` makes); anything else is trailing padding.
                while rawEnd - rawStart < 2 && !rawEOF { try refill() }
                guard rawEnd - rawStart >= 2, raw[rawStart] == 0x1F, raw[rawStart + 1] == 0x8B else { return done }
                inflateReset(zs)
                memberEnded = false
            }
            if rawStart >= rawEnd && !rawEOF { try refill() }
            zs.pointee.next_in = (raw.baseAddress! + rawStart).assumingMemoryBound(to: Bytef.self)
            zs.pointee.avail_in = uInt(rawEnd - rawStart)
            zs.pointee.next_out = (dst + done).assumingMemoryBound(to: Bytef.self)
            zs.pointee.avail_out = uInt(count - done)
            let rc = inflate(zs, Z_NO_FLUSH)
            let produced = (count - done) - Int(zs.pointee.avail_out)
            rawStart = rawEnd - Int(zs.pointee.avail_in)
            done += produced
            switch rc {
            case Z_OK:
                continue
            case Z_STREAM_END:
                memberEnded = true
            case Z_BUF_ERROR:
                if rawEOF && rawStart >= rawEnd {
                    throw DataError(.truncated, file: path, at: .byte(offset + done),
                                    expected: "the rest of the gzip stream", found: "the end of the file")
                }
            default:
                let msg = zs.pointee.msg.map { String(cString: $0) } ?? "zlib error \(rc)"
                throw DataError(.corrupt, file: path, at: .byte(offset + done), expected: "valid gzip data", found: msg)
            }
            if produced == 0 && rc == Z_OK && rawEOF && rawStart >= rawEnd {
                throw DataError(.truncated, file: path, at: .byte(offset + done),
                                expected: "the rest of the gzip stream", found: "the end of the file")
            }
        }
        return done
    }
}
