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
///
/// What the destination may be:
/// - **Absent or a regular file**: written atomically. The temporary file is `.NAME.tmp-PID-RANDOM` beside it; it
///   takes over the old file's permission bits; after the rename the folder is synced too. Readers see the old
///   content or the new, never a mix. (A hard link to the old file keeps the old content, as with any rename.)
/// - **A symbolic link**: followed, deliberately. The file it points to (through any chain of links) is written
///   atomically in *its* folder and the link stays a link. A link to nothing is refused.
/// - **A character device or a FIFO** (`/dev/null`, `/dev/stdout`, a named pipe): written through, in place - such a
///   file cannot be replaced atomically and must never be turned into a regular file. A full device (`/dev/full`)
///   is an error.
/// - **A directory, a block device or a socket**: refused with `FileFormatError.io` naming the path.
///
/// A process killed during a write leaves its temporary file behind; `removeStaleTemporaries(in:)` deletes those
/// whose process is gone.
public enum AtomicFile {
    /// Writes `data` to `url` as described above.
    /// - Throws: `FileFormatError.io` naming the destination and the reason.
    public static func write(_ data: Data, to url: URL) throws {
        try write(data, path: url.path, depth: 0)
    }

    private static func write(_ data: Data, path: String, depth: Int) throws {
        var st = stat()
        if lstat(path, &st) == 0 {
            switch st.st_mode & S_IFMT {
            case S_IFLNK:
                guard depth < 40, let target = realpath(path, nil) else {
                    throw FileFormatError.io(path: path, reason: "is a symbolic link to \(linkTarget(path).map { "'\($0)'" } ?? "nothing"), which does not exist (not written)")
                }
                defer { free(target) }
                return try write(data, path: String(cString: target), depth: depth + 1)
            case S_IFREG:
                return try replace(path, with: data, mode: st.st_mode & 0o7777)
            case S_IFCHR, S_IFIFO:
                return try writeThrough(data, path: path)
            case S_IFDIR:
                throw FileFormatError.io(path: path, reason: "is a directory (not written)")
            default:
                throw FileFormatError.io(path: path, reason: "is a special file that is neither a character device nor a FIFO (not written)")
            }
        }
        try replace(path, with: data, mode: nil)
    }

    /// The temporary file's name prefix for `name`: `.NAME.tmp-`.
    static func temporaryPrefix(_ name: String) -> String { ".\(name).tmp-" }

    private static func replace(_ path: String, with data: Data, mode: mode_t?) throws {
        let url = URL(fileURLWithPath: path)
        let dir = url.deletingLastPathComponent()
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let tmp = dir.appendingPathComponent(temporaryPrefix(url.lastPathComponent) + "\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        let fd = open(tmp.path, O_WRONLY | O_CREAT | O_EXCL, mode ?? 0o644)
        guard fd >= 0 else { throw FileFormatError.io(path: path, reason: "cannot create \(tmp.path): \(String(cString: strerror(errno)))") }
        if let mode { _ = fchmod(fd, mode) }   // keep the old file's permissions (open applies the umask)
        var failure = writeAll(fd, data)
        if failure == nil, fsync(fd) != 0 { failure = errno }
        close(fd)
        if failure == nil, rename(tmp.path, path) != 0 { failure = errno }
        if let failure {
            unlink(tmp.path)
            throw FileFormatError.io(path: path, reason: "write failed: \(String(cString: strerror(failure)))")
        }
        // Make the rename itself durable.
        let dfd = open(dir.path, O_RDONLY)
        if dfd >= 0 { fsync(dfd); close(dfd) }
    }

    private static func writeThrough(_ data: Data, path: String) throws {
        let fd = open(path, O_WRONLY)
        guard fd >= 0 else { throw FileFormatError.io(path: path, reason: "cannot open for writing: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        if let failure = writeAll(fd, data) {
            throw FileFormatError.io(path: path, reason: "write failed: \(String(cString: strerror(failure)))")
        }
    }

    /// Writes every byte; the errno of a failure, or nil.
    private static func writeAll(_ fd: Int32, _ data: Data) -> Int32? {
        data.withUnsafeBytes { raw -> Int32? in
            var off = 0
            while off < raw.count {
                let n = Foundation.write(fd, raw.baseAddress! + off, raw.count - off)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { return n < 0 ? errno : EIO }
                off += n
            }
            return nil
        }
    }

    private static func linkTarget(_ path: String) -> String? {
        var buf = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlink(path, &buf, buf.count - 1)
        guard n >= 0 else { return nil }
        buf[n] = 0
        return String(cString: buf)
    }

    /// Deletes the temporary files (`.NAME.tmp-PID-RANDOM`) that writes in `directory` left behind when their process
    /// was killed: those whose process no longer exists. Files of running processes (this one included) are kept.
    /// - Returns: the names of the files removed.
    @discardableResult
    public static func removeStaleTemporaries(in directory: URL) -> [String] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory.path) else { return [] }
        var removed: [String] = []
        for name in names.sorted() {
            guard let pid = temporaryOwner(name), pid > 0, kill(pid, 0) != 0, errno == ESRCH else { continue }
            let path = directory.appendingPathComponent(name).path
            var st = stat()
            guard lstat(path, &st) == 0, st.st_mode & S_IFMT == S_IFREG else { continue }
            if unlink(path) == 0 { removed.append(name) }
        }
        return removed
    }

    /// The process id in a temporary file's name `.NAME.tmp-PID-RANDOM`, or nil for any other name.
    static func temporaryOwner(_ name: String) -> pid_t? {
        guard name.hasPrefix("."), let r = name.range(of: ".tmp-", options: .backwards), r.lowerBound > name.index(after: name.startIndex) else {
            return nil
        }
        let parts = name[r.upperBound...].split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2, parts.allSatisfy({ !$0.isEmpty && $0.allSatisfy(\.isASCII) && $0.allSatisfy(\.isNumber) }),
              let pid = pid_t(parts[0]), UInt32(parts[1]) != nil else { return nil }
        return pid
    }
}
