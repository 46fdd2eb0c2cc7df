import Foundation

/// Plain words for a failed file-system operation on `path`, instead of Foundation's error dump
/// (`The operation could not be completed. (NSCocoaErrorDomain error 512.)`): the POSIX reason when there is one,
/// and for a path that cannot be created, which part of it is in the way.
public func fileSystemReason(_ error: Error, path: String) -> String {
    let ns = error as NSError
    if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
        return posixReason(Int32(underlying.code), path: path)
    }
    if ns.domain == NSPOSIXErrorDomain { return posixReason(Int32(ns.code), path: path) }
    if ns.domain == NSCocoaErrorDomain {
        switch CocoaError.Code(rawValue: ns.code) {
        case .fileNoSuchFile, .fileReadNoSuchFile: return blockingAncestor(of: path) ?? "no such file or directory"
        case .fileWriteNoPermission, .fileReadNoPermission: return "permission denied"
        case .fileWriteOutOfSpace: return "no space left on device"
        case .fileWriteVolumeReadOnly: return "the file system is read-only"
        case .fileWriteFileExists: return "a file of that name already exists"
        default: break
        }
    }
    return blockingAncestor(of: path) ?? ns.localizedDescription
}

private func posixReason(_ code: Int32, path: String) -> String {
    if code == ENOTDIR || code == ENOENT, let b = blockingAncestor(of: path) { return b }
    return String(cString: strerror(code)).lowercased()
}

/// The first existing part of `path` that stops it from being created as a directory: a file where a folder is
/// needed, or a folder that cannot be written; nil when none is found.
private func blockingAncestor(of path: String) -> String? {
    var url = URL(fileURLWithPath: path).standardizedFileURL
    var isDir: ObjCBool = false
    let fm = FileManager.default
    while url.path != "/" && !fm.fileExists(atPath: url.path, isDirectory: &isDir) { url.deleteLastPathComponent() }
    guard fm.fileExists(atPath: url.path, isDirectory: &isDir) else { return nil }
    if !isDir.boolValue { return "\(url.path) is a file, not a directory" }
    if url.path != URL(fileURLWithPath: path).standardizedFileURL.path && access(url.path, W_OK) != 0 {
        return "\(url.path) cannot be written (\(String(cString: strerror(errno)).lowercased()))"
    }
    return nil
}
