import Foundation

/// Errors reading or writing Ember's files. Each names the file and what was wrong.
public enum FileFormatError: Error, CustomStringConvertible, Equatable {
    /// The file could not be opened, read or written.
    case io(path: String, reason: String)
    /// The file's contents are not what the format requires.
    case invalid(path: String, reason: String)

    public var description: String {
        switch self {
        case .io(let p, let r): return "\(p): \(r)"
        case .invalid(let p, let r): return "\(p): \(r)"
        }
    }
}

/// Writes data so that a crash never leaves a half-written file: a temporary file in the same folder, flushed to
/// disk, then renamed over the destination.
public enum AtomicFile {
    /// Writes `data` to `url` atomically.
    public static func write(_ data: Data, to url: URL) throws {
        let dir = url.deletingLastPathComponent()
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let tmp = dir.appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        let fd = open(tmp.path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw FileFormatError.io(path: url.path, reason: "cannot create \(tmp.path): \(String(cString: strerror(errno)))") }
        var ok = true
        data.withUnsafeBytes { raw in
            var off = 0
            while off < raw.count {
                let n = Foundation.write(fd, raw.baseAddress! + off, raw.count - off)
                if n <= 0 { ok = false; return }
                off += n
            }
        }
        if ok { ok = fsync(fd) == 0 }
        close(fd)
        guard ok, rename(tmp.path, url.path) == 0 else {
            unlink(tmp.path)
            throw FileFormatError.io(path: url.path, reason: "write failed: \(String(cString: strerror(errno)))")
        }
        // Make the rename itself durable.
        let dfd = open(dir.path, O_RDONLY)
        if dfd >= 0 { fsync(dfd); close(dfd) }
    }
}
