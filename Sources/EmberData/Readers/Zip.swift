import Foundation
import ZIPFoundation

/// A read-only zip archive (what `.npz` files are), read through ZIPFoundation: the central directory is read on
/// open, and each member is inflated and CRC-checked on demand, so only the members asked for enter memory.
///
/// ZIPFoundation parses the format; the checks that make an archive from outside safe to read sit here and throw
/// `DataError` naming the file and member:
/// - **Member names** that could escape a folder if extracted (absolute, `..` components, backslashes, NUL) refuse
///   the whole archive on open — an `.npz` never needs them.
/// - **Zip bombs**: a member's declared size must be plausible for its compressed size (deflate expands at most
///   ~1032:1) and within `memberLimit`; while inflating, producing more bytes than declared stops at once.
/// - Symbolic links and directories are not arrays and are refused.
final class ZipArchive {
    struct Entry {
        let name: String
        let size: Int
        let compressedSize: Int
        fileprivate let entry: ZIPFoundation.Entry
    }

    /// The most bytes one member may inflate to (16 GiB unless a caller lowers it).
    static let defaultMemberLimit = 1 << 34

    let path: String
    let entries: [Entry]
    let memberLimit: Int
    private let archive: Archive

    init(path: String, memberLimit: Int = ZipArchive.defaultMemberLimit) throws {
        self.path = path
        self.memberLimit = memberLimit
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw DataError(.fileNotFound, file: path, expected: "a readable file", found: "no such file")
        }
        guard !isDir.boolValue, FileManager.default.isReadableFile(atPath: path) else {
            throw DataError(.io, file: path, expected: "a readable file", found: isDir.boolValue ? "a directory" : "no read permission")
        }
        do {
            archive = try Archive(url: URL(fileURLWithPath: path), accessMode: .read)
        } catch {
            let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
            throw DataError(.badMagic, file: path, expected: "a zip archive (end-of-central-directory signature PK\\5\\6)",
                            found: size < 22 ? "a \(size)-byte file" : "no readable zip directory")
        }
        var entries: [Entry] = []
        for e in archive {
            let name = e.path
            if let why = Self.unsafeName(name) {
                throw DataError(.badHeader, file: path, at: .member(String(name.prefix(80))),
                                expected: "member names inside the archive", found: why)
            }
            guard e.uncompressedSize < 1 << 48, e.compressedSize < 1 << 48 else {
                throw DataError(.corrupt, file: path, at: .member(name), expected: "sizes of plausible size",
                                found: "\(e.uncompressedSize) bytes from \(e.compressedSize)")
            }
            entries.append(Entry(name: name, size: Int(e.uncompressedSize), compressedSize: Int(e.compressedSize), entry: e))
        }
        self.entries = entries
    }

    /// Why `name` could reach outside a folder it is extracted into, or nil when it cannot.
    static func unsafeName(_ name: String) -> String? {
        if name.isEmpty { return "an empty name" }
        if name.hasPrefix("/") { return "an absolute path '\(name.prefix(60))'" }
        if name.contains("\\") { return "a backslash in '\(name.prefix(60))'" }
        if name.unicodeScalars.contains(where: { $0.value == 0 }) { return "a NUL byte in a name" }
        if name.split(separator: "/", omittingEmptySubsequences: false).contains("..") {
            return "a '..' component in '\(name.prefix(60))' (path traversal)"
        }
        if name.count >= 2, name.dropFirst().first == ":" { return "a drive letter in '\(name.prefix(60))'" }
        return nil
    }

    /// The uncompressed bytes of `entry`.
    func contents(of entry: Entry) throws -> [UInt8] {
        let at = DataError.Location.member(entry.name)
        guard entry.entry.type == .file else {
            throw DataError(.unsupported, file: path, at: at, expected: "a file member", found: entry.entry.type == .symlink ? "a symbolic link" : "a directory")
        }
        guard entry.size <= memberLimit else {
            throw DataError(.unsupported, file: path, at: at, expected: "a member of at most \(memberLimit) bytes", found: "\(entry.size) bytes")
        }
        if entry.entry.isCompressed {
            guard entry.size <= entry.compressedSize * 1040 + 1024 else {
                throw DataError(.corrupt, file: path, at: at, expected: "a plausible uncompressed size (deflate expands at most ~1032:1)",
                                found: "\(entry.size) bytes from \(entry.compressedSize) (a zip bomb?)")
            }
        } else if entry.size != entry.compressedSize {
            throw DataError(.sizeMismatch, file: path, at: at, expected: "\(entry.size) stored bytes", found: "\(entry.compressedSize)")
        }
        let fileSize = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
        guard entry.compressedSize <= fileSize else {
            throw DataError(.truncated, file: path, at: at, expected: "\(entry.compressedSize) bytes of member data", found: "a \(fileSize)-byte file")
        }
        var out: [UInt8] = []
        out.reserveCapacity(entry.size)
        let declared = entry.size
        do {
            _ = try archive.extract(entry.entry, bufferSize: 1 << 16) { chunk in
                guard out.count + chunk.count <= declared else { throw ZipBomb() }
                out.append(contentsOf: chunk)
            }
        } catch is ZipBomb {
            throw DataError(.corrupt, file: path, at: at, expected: "at most the declared \(declared) bytes", found: "more (a zip bomb?)")
        } catch Archive.ArchiveError.invalidCRC32 {
            throw DataError(.corrupt, file: path, at: at, expected: "data matching its CRC-32", found: "a mismatch")
        } catch Archive.ArchiveError.invalidCompressionMethod {
            throw DataError(.unsupported, file: path, at: at, expected: "compression method 0 (stored) or 8 (deflate)")
        } catch {
            throw DataError(.corrupt, file: path, at: at, expected: "a readable member", found: "\(error)")
        }
        guard out.count == declared else {
            throw DataError(.truncated, file: path, at: at, expected: "\(declared) bytes", found: "\(out.count)")
        }
        return out
    }
}

private struct ZipBomb: Error {}
