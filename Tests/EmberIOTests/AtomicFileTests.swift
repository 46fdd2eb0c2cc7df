import Foundation
import Testing
@testable import EmberIO

/// What `AtomicFile.write` does with each kind of destination, and the clean-up of killed writes.
@Suite struct AtomicFileTests {
    func tempDir() -> URL {
        let u = FileManager.default.temporaryDirectory.appendingPathComponent("ember-atomic-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: u, withIntermediateDirectories: true)
        return u
    }

    func kind(_ path: String) -> mode_t {
        var st = stat()
        return lstat(path, &st) == 0 ? st.st_mode & S_IFMT : 0
    }

    @Test func regularFilesAreReplacedAndKeepTheirPermissions() throws {
        let dir = tempDir()
        let f = dir.appendingPathComponent("a.txt")
        try AtomicFile.write(Data("one".utf8), to: f)
        #expect(try String(contentsOf: f, encoding: .utf8) == "one")
        chmod(f.path, 0o600)
        try AtomicFile.write(Data("two".utf8), to: f)
        #expect(try String(contentsOf: f, encoding: .utf8) == "two")
        var st = stat()
        lstat(f.path, &st)
        #expect(st.st_mode & 0o777 == 0o600)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["a.txt"])   // no temporary left
    }

    @Test func characterDevicesAreWrittenThroughNotReplaced() throws {
        // /dev/null takes the bytes and stays a device.
        try AtomicFile.write(Data("x".utf8), to: URL(fileURLWithPath: "/dev/null"))
        #expect(kind("/dev/null") == S_IFCHR)
        // /dev/full is full: an error, and the device is still a device (it used to become a regular file).
        if kind("/dev/full") == S_IFCHR {
            #expect(throws: FileFormatError.io(path: "/dev/full", reason: "write failed: No space left on device")) {
                try AtomicFile.write(Data("x".utf8), to: URL(fileURLWithPath: "/dev/full"))
            }
            #expect(kind("/dev/full") == S_IFCHR)
        }
    }

    @Test func fifosAreWrittenThrough() throws {
        let dir = tempDir()
        let fifo = dir.appendingPathComponent("pipe").path
        #expect(mkfifo(fifo, 0o644) == 0)
        // A reader on the other end (O_RDWR opens without waiting for a writer), so the write does not block.
        let r = open(fifo, O_RDWR | O_NONBLOCK)
        defer { close(r) }
        try AtomicFile.write(Data("hello".utf8), to: URL(fileURLWithPath: fifo))
        var buf = [UInt8](repeating: 0, count: 16)
        let n = read(r, &buf, 16)
        #expect(n == 5 && String(decoding: buf.prefix(5), as: UTF8.self) == "hello")
        #expect(kind(fifo) == S_IFIFO)
    }

    @Test func symbolicLinksAreFollowedAndTheTargetWrittenAtomically() throws {
        let dir = tempDir(), other = tempDir()
        let target = other.appendingPathComponent("real.json")
        try AtomicFile.write(Data("old".utf8), to: target)
        let link = dir.appendingPathComponent("link.json")
        try FileManager.default.createSymbolicLink(atPath: link.path, withDestinationPath: target.path)
        try AtomicFile.write(Data("new".utf8), to: link)
        #expect(kind(link.path) == S_IFLNK)   // still a link
        #expect(try String(contentsOf: target, encoding: .utf8) == "new")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["link.json"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: other.path) == ["real.json"])
        // A link to nothing is refused.
        let dangling = dir.appendingPathComponent("dangling")
        try FileManager.default.createSymbolicLink(atPath: dangling.path, withDestinationPath: other.appendingPathComponent("nothing").path)
        #expect(throws: FileFormatError.self) { try AtomicFile.write(Data("x".utf8), to: dangling) }
        #expect(kind(dangling.path) == S_IFLNK)
    }

    @Test func directoriesAreRefused() throws {
        let dir = tempDir()
        let sub = dir.appendingPathComponent("model.safetensors")
        try FileManager.default.createDirectory(at: sub, withIntermediateDirectories: true)
        try Data("mine".utf8).write(to: sub.appendingPathComponent("keep.txt"))
        #expect(throws: FileFormatError.io(path: sub.path, reason: "is a directory (not written)")) {
            try AtomicFile.write(Data("x".utf8), to: sub)
        }
        #expect(FileManager.default.fileExists(atPath: sub.appendingPathComponent("keep.txt").path))
    }

    @Test func staleTemporariesOfDeadProcessesAreRemoved() throws {
        let dir = tempDir()
        // A process id that is not running: a child that has exited and been reaped.
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/true")
        try p.run()
        p.waitUntilExit()
        let dead = p.processIdentifier
        let names = [".model.safetensors.tmp-\(dead)-12345", ".model.json.tmp-\(getpid())-7", "user.tmp-\(dead)-1", ".notes.tmp-x-1"]
        for n in names { try Data().write(to: dir.appendingPathComponent(n)) }
        let removed = AtomicFile.removeStaleTemporaries(in: dir)
        #expect(removed == [".model.safetensors.tmp-\(dead)-12345"])
        #expect(Set(try FileManager.default.contentsOfDirectory(atPath: dir.path)) == Set(names.dropFirst()))
        #expect(AtomicFile.temporaryOwner(".a.tmp-12-34") == 12 && AtomicFile.temporaryOwner("a.tmp-12-34") == nil)
    }
}
